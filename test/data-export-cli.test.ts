// `understudy data export`: the real CLI on a seeded SQLite pool, every format, the real Python worker for
// hf-datasets (read back with datasets.load_from_disk).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { WORKER_DIR } from '../src/adapters/paths.ts';
import type { PoolExample } from '../src/adapters/store/curation-store.ts';
import { mixTrainSet } from '../src/pipeline/export-data.ts';
import { applyReview } from '../src/pipeline/review-queue.ts';
import { demoConfig, runCli, seedPool, TASK, type SeedExample } from './helpers/curated-pool.ts';

const LABELS = ['card_arrival', 'exchange_rate'];
const seed: SeedExample[] = [
  ...Array.from({ length: 10 }, (_, index): SeedExample => ({ input: `human question number ${index} about my account`, label: LABELS[index % 2]!, source: 'human', side: 'train' })),
  ...Array.from({ length: 10 }, (_, index): SeedExample => ({ input: `synthetic question number ${index} about the bank`, label: LABELS[index % 2]!, source: 'synthetic', side: 'train' })),
  { input: 'rejected human question about fees', label: 'card_arrival', source: 'human', side: 'train' },
  { input: 'rejected synthetic question about fees', label: 'exchange_rate', source: 'synthetic', side: 'train' },
  ...Array.from({ length: 4 }, (_, index): SeedExample => ({ input: `held out question number ${index} for evaluation`, label: LABELS[index % 2]!, source: 'human', side: 'heldout' })),
  { input: 'an example that was never split', label: 'card_arrival', source: 'human', side: 'none' },
];
const REJECTED_INPUTS = ['rejected human question about fees', 'rejected synthetic question about fees', 'held out question number 3 for evaluation'];
const HELDOUT_INPUTS = ['held out question number 0 for evaluation', 'held out question number 1 for evaluation', 'held out question number 2 for evaluation'];

/** 8 human candidates (2 dropped by the filter run), 10 synthetic, 2 train + 1 held-out rejected. */
function seedExportPool(): { workspace: string; ids: number[] } {
  const { workspace, ids, store } = seedPool(seed);
  for (const index of [20, 21, 25]) store.curation.setReview(ids[index]!, 'rejected');
  store.curation.saveFilterRun({
    task: TASK,
    settings: { test: true },
    report: { before: 22, after: 20, steps: [{ step: 'exact-dedup', settings: {}, before: 22, dropped: 2, after: 20, reasons: { duplicate: 2 }, seconds: 0 }] },
    drops: [{ exampleId: ids[8]!, step: 'exact-dedup', reason: 'duplicate' }, { exampleId: ids[9]!, step: 'exact-dedup', reason: 'duplicate' }],
  });
  store.close();
  return { workspace, ids };
}

const readJsonl = (file: string): Record<string, unknown>[] => readFileSync(file, 'utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
type Message = { role: string; content: string };
const userOf = (messages: Message[]): string => messages.find((message) => message.role === 'user')!.content;
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

test('mixTrainSet: the ratio, the per-label cap, determinism', () => {
  const example = (id: number, source: PoolExample['source'], answer: string): PoolExample => ({
    id, task: 't', batchId: 'b', input: `input ${id}`, answer, messages: [], inputKey: `key-${id}`, source, tags: [], provenance: {}, split: 'train', review: 'pending', originalAnswer: null, originalMessages: null, reviewedAt: null, createdAt: '',
  });
  const pool = [...Array.from({ length: 9 }, (_, index) => example(index + 1, 'human', index % 3 === 0 ? 'a' : 'b')), ...Array.from({ length: 6 }, (_, index) => example(index + 20, 'synthetic', 'a'))];
  const label = (item: PoolExample): string => item.answer!;
  const table: [number | undefined, number, number][] = [[undefined, 9, 6], [0, 9, 0], [1, 0, 6], [0.25, 9, 3], [0.5, 6, 6], [0.4, 9, 6]];
  for (const [ratio, human, synthetic] of table) {
    const { taken, summary } = mixTrainSet(pool, { syntheticRatio: ratio, seed: 1 }, label);
    assert.deepEqual(summary.taken, { human, synthetic, log: 0 }, `ratio ${ratio}`);
    assert.equal(taken.length, human + synthetic);
    assert.deepEqual({ human: summary.droppedByRatio.human, synthetic: summary.droppedByRatio.synthetic }, { human: 9 - human, synthetic: 6 - synthetic });
  }
  const first = mixTrainSet(pool, { syntheticRatio: 0.25, seed: 7 }, label).taken.map((item) => item.id);
  assert.deepEqual(mixTrainSet([...pool].reverse(), { syntheticRatio: 0.25, seed: 7 }, label).taken.map((item) => item.id), first, 'the input order does not matter');
  const capped = mixTrainSet(pool, { maxPerLabel: 2, seed: 1 }, label);
  assert.equal(capped.taken.length, 4);
  assert.equal(capped.summary.droppedByLabelCap.human + capped.summary.droppedByLabelCap.synthetic, 11);
  assert.throws(() => mixTrainSet(pool, { syntheticRatio: 1.5, seed: 1 }, label), /between 0 and 1/);
});

test('data export --to all with --synthetic-ratio 0.25: exact counts, valid lines, no held-out or rejected example in train, manifest hashes, a loadable DatasetDict', async () => {
  const { workspace } = seedExportPool();
  const result = await runCli(['data', 'export', '--workspace', workspace, '--to', 'all', '--synthetic-ratio', '0.25', '--json']);
  assert.equal(result.status, 0, result.stderr);
  const summary = result.json as { ok: boolean; outDir: string; train: number; heldout: number; mixing: { taken: Record<string, number>; droppedByRatio: Record<string, number>; available: Record<string, number> }; excluded: Record<string, number>; files: { path: string; sha256: string; format: string }[] };
  assert.equal(summary.ok, true);
  // 8 human candidates allow floor(8 * 0.25 / 0.75) = 2 synthetic examples.
  assert.equal(summary.train, 10);
  assert.deepEqual(summary.mixing.taken, { human: 8, synthetic: 2, log: 0 });
  assert.deepEqual(summary.mixing.available, { human: 8, synthetic: 10, log: 0 });
  assert.deepEqual(summary.mixing.droppedByRatio, { human: 0, synthetic: 8, log: 0 });
  assert.deepEqual(summary.excluded, { rejected: 2, droppedByFilters: 2, unlabeled: 0, notReviewed: 0, overlapsHeldout: 0 });
  assert.equal(summary.heldout, 3, 'the rejected held-out example is left out');
  const outDir = summary.outDir;
  assert.ok(outDir.startsWith(path.join(workspace, 'data-export', `${TASK}-`)));
  assert.ok(!readdirSync(path.dirname(outDir)).some((name) => name.includes('.tmp-')), 'no temporary folder is left');

  const conversations: Record<string, { train: Message[][]; eval: Message[][] }> = {};
  for (const format of ['openai', 'trl-messages', 'axolotl'] as const) {
    const read = (name: string): Message[][] => readJsonl(path.join(outDir, format, name)).map((line) => {
      assert.deepEqual(Object.keys(line), ['messages']);
      const messages = line.messages as Message[];
      assert.deepEqual(messages.map((message) => message.role), ['system', 'user', 'assistant']);
      return messages;
    });
    conversations[format] = { train: read('train.jsonl'), eval: read('eval.jsonl') };
  }
  const promptCompletion = (name: string): Message[][] => readJsonl(path.join(outDir, 'trl-prompt-completion', name)).map((line) => {
    assert.deepEqual(Object.keys(line).sort(), ['completion', 'prompt']);
    const prompt = line.prompt as Message[];
    const completion = line.completion as Message[];
    assert.deepEqual(prompt.map((message) => message.role), ['system', 'user']);
    assert.deepEqual(completion.map((message) => message.role), ['assistant']);
    assert.ok(LABELS.includes(completion[0]!.content));
    return [...prompt, ...completion];
  });
  conversations['trl-prompt-completion'] = { train: promptCompletion('train.jsonl'), eval: promptCompletion('eval.jsonl') };
  for (const [format, sets] of Object.entries(conversations)) {
    assert.equal(sets.train.length, 10, format);
    assert.equal(sets.eval.length, 3, format);
    const trainInputs = sets.train.map(userOf);
    assert.equal(trainInputs.filter((input) => input.startsWith('synthetic')).length, 2, `${format}: the synthetic share`);
    assert.equal(new Set(trainInputs).size, 10);
    for (const input of [...HELDOUT_INPUTS, ...REJECTED_INPUTS]) assert.ok(!trainInputs.includes(input), `${format}: ${input} is not in the train file`);
    const evalInputs = sets.eval.map(userOf);
    assert.deepEqual([...evalInputs].sort(), [...HELDOUT_INPUTS].sort(), `${format}: the held-out set, minus the rejected one`);
    assert.ok(sets.train.every((messages) => messages[0]!.content === demoConfig.config.task.systemPrompt));
  }
  assert.deepEqual(conversations.openai!.train.map(userOf), conversations['trl-prompt-completion']!.train.map(userOf), 'every format holds the same examples in the same order');

  const axolotl = parseYaml(readFileSync(path.join(outDir, 'axolotl', 'axolotl-datasets.yaml'), 'utf8')) as { datasets: Record<string, unknown>[]; test_datasets: Record<string, unknown>[] };
  assert.equal(axolotl.datasets[0]!.path, path.join(outDir, 'axolotl', 'train.jsonl'));
  assert.equal(axolotl.test_datasets[0]!.path, path.join(outDir, 'axolotl', 'eval.jsonl'));
  assert.equal(axolotl.datasets[0]!.type, 'chat_template');
  assert.equal(axolotl.datasets[0]!.field_messages, 'messages');
  assert.deepEqual(axolotl.datasets[0]!.roles_to_train, ['assistant']);

  const manifest = JSON.parse(readFileSync(path.join(outDir, 'manifest.json'), 'utf8')) as { task: string; train: { total: number; bySource: Record<string, number>; byLabel: Record<string, number> }; heldout: { total: number; version: number; contentHash: string }; filterRunId: string | null; mixing: { syntheticRatio: number }; files: { path: string; sha256: string }[]; createdAt: string };
  assert.equal(manifest.task, TASK);
  assert.deepEqual(manifest.train.bySource, { human: 8, synthetic: 2, log: 0 });
  assert.equal(Object.values(manifest.train.byLabel).reduce((a, b) => a + b, 0), 10);
  assert.equal(manifest.heldout.version, 1);
  assert.match(manifest.heldout.contentHash, /^[0-9a-f]{64}$/);
  assert.match(String(manifest.filterRunId), /^filter_/);
  assert.equal(manifest.mixing.syntheticRatio, 0.25);
  assert.ok(!Number.isNaN(Date.parse(manifest.createdAt)));
  for (const file of manifest.files) assert.equal(sha256(path.join(outDir, file.path)), file.sha256, file.path);
  assert.ok(manifest.files.some((file) => file.path.startsWith('hf-datasets/')));
  const manifestEntry = summary.files.find((file) => file.path === 'manifest.json')!;
  assert.equal(sha256(path.join(outDir, 'manifest.json')), manifestEntry.sha256);
  assert.equal(summary.files.length, manifest.files.length + 1);

  const python = (await ensureWorkerEnvironment()).python;
  const load = spawnSync(python, ['-c', [
    'import datasets, json, sys',
    'd = datasets.load_from_disk(sys.argv[1])',
    'print(json.dumps({"splits": {k: len(v) for k, v in d.items()}, "columns": d["train"].column_names, "train": [r["prompt"][1]["content"] for r in d["train"]], "test": [r["prompt"][1]["content"] for r in d["test"]], "completion": d["train"][0]["completion"]}))',
  ].join('\n'), path.join(outDir, 'hf-datasets')], { encoding: 'utf8', cwd: WORKER_DIR });
  assert.equal(load.status, 0, load.stderr);
  const loaded = JSON.parse(load.stdout) as { splits: Record<string, number>; columns: string[]; train: string[]; test: string[]; completion: Message[] };
  assert.deepEqual(loaded.splits, { train: 10, test: 3 });
  assert.deepEqual(loaded.columns, ['prompt', 'completion']);
  assert.deepEqual(loaded.train, conversations.openai!.train.map(userOf));
  assert.deepEqual([...loaded.test].sort(), [...HELDOUT_INPUTS].sort());
  assert.equal(loaded.completion[0]!.role, 'assistant');

  // The same selection again: the same folder (named by the selection's hash) and the same bytes.
  const again = await runCli(['data', 'export', '--workspace', workspace, '--to', 'openai,trl-messages,trl-prompt-completion,axolotl,hf-datasets', '--synthetic-ratio', '0.25', '--json']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.json.outDir, outDir);
  const trainSha = (files: unknown): string => (files as { path: string; sha256: string }[]).find((file) => file.path === 'openai/train.jsonl')!.sha256;
  assert.equal(trainSha(again.json.files), trainSha(summary.files));
});

test('data export: a synthetic-heavy ratio downsamples human examples; --max-per-label caps; --reviewed-only takes accepted and edited only', async () => {
  const { workspace, ids } = seedExportPool();
  const heavy = await runCli(['data', 'export', '--workspace', workspace, '--to', 'trl-messages', '--synthetic-ratio', '0.8', '--out', path.join(workspace, 'heavy'), '--json']);
  assert.equal(heavy.status, 0, heavy.stderr);
  // All 10 synthetic, and floor(10 * 0.2 / 0.8) = 2 of the 8 human examples.
  assert.deepEqual((heavy.json.mixing as { taken: unknown }).taken, { human: 2, synthetic: 10, log: 0 });
  const heavyTrain = readJsonl(path.join(workspace, 'heavy', 'trl-messages', 'train.jsonl'));
  assert.equal(heavyTrain.length, 12);
  assert.equal(heavyTrain.filter((line) => userOf(line.messages as Message[]).startsWith('human')).length, 2);

  const capped = await runCli(['data', 'export', '--workspace', workspace, '--to', 'trl-messages', '--max-per-label', '3', '--out', path.join(workspace, 'capped'), '--json']);
  assert.equal(capped.status, 0, capped.stderr);
  const cappedTrain = readJsonl(path.join(workspace, 'capped', 'trl-messages', 'train.jsonl'));
  assert.equal(cappedTrain.length, 6);
  for (const label of LABELS) assert.equal(cappedTrain.filter((line) => (line.messages as Message[]).at(-1)!.content === label).length, 3);

  const { openStore } = await import('../src/adapters/store/sqlite-store.ts');
  const store = openStore(path.join(workspace, 'understudy.db'));
  const task = { systemPrompt: demoConfig.config.task.systemPrompt, output: demoConfig.config.task.output, labels: demoConfig.labels };
  applyReview(store, ids[0]!, { kind: 'accept' }, task);
  applyReview(store, ids[10]!, { kind: 'edit', answer: 'age_limit' }, task);
  applyReview(store, ids[8]!, { kind: 'accept' }, task);
  store.close();
  const reviewed = await runCli(['data', 'export', '--workspace', workspace, '--to', 'trl-prompt-completion', '--reviewed-only', '--out', path.join(workspace, 'reviewed'), '--json']);
  assert.equal(reviewed.status, 0, reviewed.stderr);
  const reviewedTrain = readJsonl(path.join(workspace, 'reviewed', 'trl-prompt-completion', 'train.jsonl'));
  assert.deepEqual(reviewedTrain.map((line) => [userOf(line.prompt as Message[]), (line.completion as Message[])[0]!.content]), [
    [seed[0]!.input, seed[0]!.label],
    [seed[10]!.input, 'age_limit'],
  ], 'accepted and edited (with the edited answer) only; the accepted example the filter dropped stays out');
  // 18 candidates kept by the filters and not rejected, 2 of them reviewed.
  assert.equal((reviewed.json.excluded as Record<string, number>).notReviewed, 16);

  const refused = await runCli(['data', 'export', '--workspace', workspace, '--to', 'csv', '--json']);
  assert.equal(refused.status, 2);
  assert.equal(refused.json.field, '--to');
  const notEmpty = await runCli(['data', 'export', '--workspace', workspace, '--to', 'openai', '--out', WORKER_DIR, '--json']);
  assert.equal(notEmpty.status, 2, 'a folder that is not an export is never replaced');
  assert.match(String(notEmpty.json.error), /not an Understudy data export/);
});
