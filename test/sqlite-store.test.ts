import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openStore, type NewExample } from '../src/adapters/store/sqlite-store.ts';

const example = (input: string, label: string): NewExample => ({
  input,
  label,
  messages: [{ role: 'system', content: 'Classify.' }, { role: 'user', content: input }, { role: 'assistant', content: label }],
  provenance: { file: 'train.csv', line: 2 },
});

function freshStore() {
  return openStore(path.join(mkdtempSync(path.join(os.tmpdir(), 'understudy-store-')), 'understudy.db'));
}

test('the database is migrated with WAL and foreign keys on, and migrations are recorded once', () => {
  const store = freshStore();
  store.close();
  const reopened = openStore(store.file);
  reopened.close();
  const db = new Database(store.file);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.deepEqual(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), [{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }, { version: 5 }, { version: 6 }, { version: 7 }, { version: 8 }]);
  db.close();
});

test('datasets are content-addressed: the same examples reuse the record, a change makes a new hash', () => {
  const store = freshStore();
  const first = store.registerDataset({ name: 'banking', role: 'train', source: {}, examples: [example('lost card', 'lost_or_stolen_card')] });
  const again = store.registerDataset({ name: 'banking', role: 'train', source: {}, examples: [example('lost card', 'lost_or_stolen_card')] });
  const changed = store.registerDataset({ name: 'banking', role: 'train', source: {}, examples: [example('lost card', 'card_arrival')] });
  assert.equal(first.reused, false);
  assert.equal(again.reused, true);
  assert.equal(again.id, first.id);
  assert.notEqual(changed.contentHash, first.contentHash);
  const stored = store.listExamples(first.id);
  assert.equal(stored.length, 1);
  assert.deepEqual(stored[0]!.provenance, { file: 'train.csv', line: 2 });
  assert.match(stored[0]!.contentHash, /^[0-9a-f]{64}$/);
  store.close();
});

test('a failed run registers no adapter; a completed run registers exactly one in the same transaction', () => {
  const store = freshStore();
  const dataset = store.registerDataset({ name: 'banking', role: 'train', source: {}, examples: [example('lost card', 'lost_or_stolen_card')] });
  store.registerBaseModel({ sha256: 'b'.repeat(64), name: 'base', path: '/models/base.gguf', metadata: {} });
  const failed = store.startRun({ datasetId: dataset.id, baseSha256: 'b'.repeat(64), method: 'sft', spec: { r: 16 } });
  store.appendRunEvent(failed.id, { event: 'progress', step: 1 });
  store.failRun(failed.id, 'interrupted', 'SIGTERM');
  assert.equal(store.getRun(failed.id)!.status, 'interrupted');
  assert.equal(store.getAdapterForRun(failed.id), undefined);

  const run = store.startRun({ datasetId: dataset.id, baseSha256: 'b'.repeat(64), method: 'sft', spec: { r: 16 } });
  store.appendRunEvent(run.id, { event: 'progress', step: 1 });
  store.appendRunEvent(run.id, { event: 'progress', step: 2 });
  const adapter = store.completeRun(run.id, { trainLoss: 0.5 }, { ggufPath: '/runs/a.gguf', ggufSha256: 'a'.repeat(64), peftPath: '/runs/peft', peftSha256: 'c'.repeat(64) });
  assert.equal(store.getRun(run.id)!.status, 'succeeded');
  assert.deepEqual(store.getAdapterForRun(run.id), adapter);
  assert.deepEqual(store.runEvents(run.id), [{ event: 'progress', step: 1 }, { event: 'progress', step: 2 }]);
  // A second adapter for the same run violates the schema and leaves the run as it was.
  assert.throws(() => store.completeRun(run.id, {}, { ggufPath: '/x', ggufSha256: 'd'.repeat(64), peftPath: '/y', peftSha256: 'e'.repeat(64) }));
  assert.deepEqual(store.getRun(run.id)!.summary, { trainLoss: 0.5 });
  store.close();
});

test('a hosted run succeeds only together with its registered model; a failed run cannot register one', () => {
  const store = freshStore();
  const dataset = store.registerDataset({ name: 't', role: 'train', source: {}, examples: [example('a', 'x')] });
  store.registerBaseModel({ sha256: 'h'.repeat(64), name: 'gpt-4o-mini (openai-finetune)', path: 'https://api.openai.com/v1', metadata: { hosted: true } });
  const model = { service: 'openai-finetune' as const, target: 'openai', baseUrl: 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY', baseModel: 'gpt-4o-mini', model: 'ft:gpt-4o-mini:org::abc', jobId: 'ftjob-1', inputUsdPerMillion: 0.3, outputUsdPerMillion: null };
  const failed = store.startRun({ datasetId: dataset.id, baseSha256: 'h'.repeat(64), method: 'sft', spec: {} });
  store.failRun(failed.id, 'failed', 'job failed');
  assert.throws(() => store.completeHostedRun(failed.id, {}, model), /no longer running/);
  assert.equal(store.getRun(failed.id)!.status, 'failed');
  assert.equal(store.getHostedModelForRun(failed.id), undefined);

  const run = store.startRun({ datasetId: dataset.id, baseSha256: 'h'.repeat(64), method: 'sft', spec: {} });
  const registered = store.completeHostedRun(run.id, { trainTokens: 1200 }, model);
  assert.deepEqual({ ...registered, createdAt: '' }, { ...model, runId: run.id, createdAt: '' });
  assert.equal(store.getRun(run.id)!.status, 'succeeded');
  assert.deepEqual(store.getRun(run.id)!.summary, { trainTokens: 1200 });
  assert.deepEqual(store.getHostedModelForRun(run.id), registered);
  assert.deepEqual(store.listHostedModels(), [registered]);
  assert.equal(store.getAdapterForRun(run.id), undefined, 'a hosted run has no local adapter');
  store.close();
});

test('eval results are stored with a content hash and read back; a bad row rolls the whole eval back', () => {
  const store = freshStore();
  const dataset = store.registerDataset({ name: 'banking', role: 'eval', source: {}, examples: [example('lost card', 'lost_or_stolen_card')] });
  const [stored] = store.listExamples(dataset.id);
  const row = { candidate: 'tuned', exampleId: stored!.id, output: 'lost_or_stolen_card', correct: true, promptTokens: 30, completionTokens: 6, latencyMs: 12.5 };
  const saved = store.saveEval({ datasetId: dataset.id, config: {}, summary: {}, results: [row] });
  assert.match(saved.contentHash, /^[0-9a-f]{64}$/);
  assert.deepEqual(store.evalResults(saved.id), [row]);
  assert.throws(() => store.saveEval({ datasetId: dataset.id, config: {}, summary: {}, results: [row, { ...row, exampleId: 999999 }] }));
  const db = new Database(store.file);
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM eval_runs').get() as { n: number }).n, 1);
  db.close();
  store.close();
});

test('a killed or failed run can be reopened for resume, a succeeded one cannot; artifacts are recorded once per path', () => {
  const store = freshStore();
  const dataset = store.registerDataset({ name: 'task', role: 'train', source: {}, examples: [example('lost card', 'lost_card')] });
  store.registerBaseModel({ sha256: 'b'.repeat(64), name: 'base', path: '/base.gguf', metadata: {} });
  const killed = store.startRun({ datasetId: dataset.id, baseSha256: 'b'.repeat(64), method: 'sft', spec: {} });
  store.reopenRun(killed.id);
  assert.equal(store.getRun(killed.id)!.status, 'running');
  store.failRun(killed.id, 'interrupted', 'SIGINT');
  store.reopenRun(killed.id);
  assert.deepEqual([store.getRun(killed.id)!.status, store.getRun(killed.id)!.error, store.getRun(killed.id)!.finishedAt], ['running', null, null]);
  store.completeRun(killed.id, { steps: 2 }, { ggufPath: '/a.gguf', ggufSha256: 'c'.repeat(64), peftPath: '/peft', peftSha256: 'd'.repeat(64) });
  assert.throws(() => store.reopenRun(killed.id), /already succeeded/);

  store.recordArtifact({ runId: killed.id, kind: 'export:ollama', path: '/out/Modelfile', sha256: '1'.repeat(64) });
  store.recordArtifact({ runId: killed.id, kind: 'export:ollama', path: '/out/Modelfile', sha256: '2'.repeat(64), details: { next: 'ollama create' } });
  store.recordArtifact({ runId: killed.id, kind: 'export:gguf', path: '/out/a.gguf', sha256: '3'.repeat(64) });
  const artifacts = store.listArtifacts(killed.id);
  assert.deepEqual(artifacts.map((artifact) => [artifact.kind, artifact.sha256[0], artifact.details]), [['export:ollama', '2', { next: 'ollama create' }], ['export:gguf', '3', {}]]);
  store.close();
});

test('the curation pool: a batch is one transaction, edits keep the original, restore puts an example back exactly', () => {
  const store = openStore(':memory:');
  const messages = (answer: string) => [{ role: 'user' as const, content: 'where is my card?' }, { role: 'assistant' as const, content: answer }];
  const batch = store.curation.addBatch({
    task: 't',
    kind: 'import',
    source: { file: 'a.csv' },
    examples: [{ input: 'where is my card?', answer: 'card_arrival', messages: messages('card_arrival'), source: 'human', tags: ['seed'], provenance: { file: 'a.csv', line: 2 } }],
    problems: [{ file: 'a.csv', line: 3, field: 'category', reason: 'not a label' }],
  });
  assert.equal(batch.added, 1);
  assert.deepEqual(store.curation.listBatches('t')[0]!.problems, [{ file: 'a.csv', line: 3, field: 'category', reason: 'not a label' }]);
  // A batch with a bad row (a source the schema refuses) writes nothing at all.
  assert.throws(() => store.curation.addBatch({ task: 't', kind: 'import', source: {}, examples: [
    { input: 'ok', answer: 'a', messages: messages('a'), source: 'human', tags: [], provenance: {} },
    { input: 'bad', answer: 'a', messages: messages('a'), source: 'robot' as 'human', tags: [], provenance: {} },
  ] }));
  assert.equal(store.curation.listPool('t').length, 1);
  assert.equal(store.curation.listBatches('t').length, 1);

  const [example] = store.curation.listPool('t');
  const before = { ...example! };
  store.curation.updateAnswer(example!.id, { answer: 'lost_or_stolen_card', messages: messages('lost_or_stolen_card'), review: 'edited' });
  store.curation.updateAnswer(example!.id, { answer: 'card_linking', messages: messages('card_linking'), review: 'edited' });
  const edited = store.curation.getExample(example!.id)!;
  assert.equal(edited.answer, 'card_linking');
  assert.equal(edited.originalAnswer, 'card_arrival', 'the first original is kept through later edits');
  store.curation.restoreExample(before);
  const restored = store.curation.getExample(example!.id)!;
  assert.deepEqual({ ...restored }, before);

  store.curation.updateAnswers([{ id: example!.id, answer: 'card_arrival', messages: messages('card_arrival'), provenance: { relabeledBy: 'teacher' }, addTags: ['relabeled'] }]);
  const relabeled = store.curation.getExample(example!.id)!;
  assert.deepEqual(relabeled.tags, ['seed', 'relabeled']);
  assert.equal(relabeled.provenance.relabeledBy, 'teacher');
  assert.equal(relabeled.provenance.file, 'a.csv');
  store.close();
});

test('gateway calls are logged in one transaction, validated first, and listed by route and time', () => {
  const store = freshStore();
  const record = (id: string, createdAt: string, route = 'support-router') => ({
    requestId: id,
    createdAt,
    route,
    experiment: 'exp-1',
    arm: 'tuned',
    unit: '0123456789abcdef',
    path: 'tuned' as const,
    provider: 'embedded',
    model: 'smollm2',
    adapter: 'banking77',
    promptTokens: 40,
    completionTokens: 5,
    costUsd: 0.00001,
    latencyMs: 300,
    firstTokenMs: 250,
    status: 'ok' as const,
    fallback: false,
    shadow: false,
    error: null,
    messages: [{ role: 'user', content: 'where is my card' }],
    response: 'card_arrival',
  });
  store.logGatewayRequests([record('a', '2026-11-30T10:00:00Z'), record('b', '2026-11-30T10:30:00+01:00'), record('c', '2026-11-30T12:00:00Z', 'other')]);
  assert.deepEqual(store.listGatewayRequests().map((entry) => entry.requestId), ['b', 'a', 'c']);
  assert.deepEqual(store.listGatewayRequests({ route: 'support-router', since: '2026-11-30T09:45:00Z' }).map((entry) => entry.requestId), ['a']);
  assert.deepEqual(store.listGatewayRequests({ route: 'other' })[0], { ...record('c', '2026-11-30T12:00:00.000Z', 'other') });
  // A bad record refuses the whole batch: nothing of it is written.
  assert.throws(() => store.logGatewayRequests([record('d', '2026-11-30T13:00:00Z'), { ...record('e', '2026-11-30T13:00:00Z'), latencyMs: -1 }]), /gateway log record 1: latencyMs/);
  assert.equal(store.listGatewayRequests().length, 3);
  // A duplicate request id rolls back the batch too.
  assert.throws(() => store.logGatewayRequests([record('f', '2026-11-30T13:00:00Z'), record('a', '2026-11-30T13:00:00Z')]), /UNIQUE/);
  assert.equal(store.listGatewayRequests().length, 3);
  store.close();
});
