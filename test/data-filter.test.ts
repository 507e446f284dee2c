import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LoadedConfig } from '../src/adapters/config-file.ts';
import { openStore, type Store } from '../src/adapters/store/sqlite-store.ts';
import type { CandidateExample } from '../src/contracts/curation.ts';
import { parseCsv } from '../src/core/csv.ts';
import { filterPool } from '../src/pipeline/filter-data.ts';
import { splitPool } from '../src/pipeline/split-data.ts';
import { selectTeacher, type TeacherModel } from '../src/pipeline/teacher-provider.ts';
import { embeddedDemoConfig } from '../src/surfaces/cli/commands/demo.ts';
import { sendCompletion, startOpenAiCompatibleServer, type OpenAiCompatibleTestServer } from './helpers/openai-compatible-server.ts';

// Real Banking77 queries (CC BY 4.0, examples/banking77) for three intents.
const LABELS = ['card_arrival', 'lost_or_stolen_card', 'exchange_rate'];
const rows = parseCsv(readFileSync(new URL('../examples/banking77/train.csv', import.meta.url), 'utf8')).slice(1)
  .map((record) => ({ text: record.fields[0]!, label: record.fields[1]! }))
  .filter((row) => LABELS.includes(row.label));
const byLabel = (label: string) => rows.filter((row) => row.label === label).slice(0, 30);

function example(input: string, answer: string | null, source: CandidateExample['source'], loaded: LoadedConfig): CandidateExample {
  const messages: CandidateExample['messages'] = [{ role: 'system', content: loaded.config.task.systemPrompt }, { role: 'user', content: input }];
  if (answer !== null) messages.push({ role: 'assistant', content: answer });
  return { input, answer, messages, source, tags: [], provenance: { generator: source === 'synthetic' ? 'test' : undefined } };
}

describe('split and filter the pool', () => {
  let server: OpenAiCompatibleTestServer;
  let store: Store;
  let loaded: LoadedConfig;
  let model: TeacherModel;

  before(async () => {
    // The judge and the round-trip model: a test double of a hosted API on 127.0.0.1. It scores inputs with "asdf"
    // as 1 and answers every classification with the label its keywords suggest.
    server = await startOpenAiCompatibleServer((request, response) => {
      const body = request.body as { messages: { role: string; content: string }[] };
      const last = body.messages.at(-1)!.content;
      if (body.messages[0]!.content.startsWith('You review training examples')) {
        sendCompletion(response, { text: JSON.stringify(last.includes('asdf') ? { score: 1, reason: 'gibberish' } : { score: 5, reason: 'fine' }) });
        return;
      }
      const known = rows.find((row) => last.includes(row.text));
      const label = known?.label ?? (/exchange|rate|currency/i.test(last) ? 'exchange_rate' : /lost|stolen|missing|theft/i.test(last) ? 'lost_or_stolen_card' : 'card_arrival');
      sendCompletion(response, { text: label });
    });
    const base = embeddedDemoConfig(false);
    loaded = {
      ...base,
      labels: LABELS,
      config: {
        ...base.config,
        task: { ...base.config.task, output: { type: 'labels', labels: LABELS } },
        providers: { teacher: { kind: 'openai-compatible', baseUrl: server.baseUrl, model: 'judge-model', maxConcurrency: 2, timeoutMs: 5000, maxRetries: 0 } },
        pricing: { overrides: [{ model: 'test-model', inputUsdPerMillion: 1, outputUsdPerMillion: 2 }] },
        curation: { ...base.config.curation, split: { evalFraction: 0.2, evalMin: 10, evalMax: 1000, salt: 'test' } },
      },
    };
    model = await selectTeacher(loaded, 'teacher');
    store = openStore(path.join(mkdtempSync(path.join(os.tmpdir(), 'understudy-filter-')), 'understudy.db'));
    const task = loaded.config.task.name;
    store.curation.addBatch({ task, kind: 'import', source: { file: 'seed' }, examples: LABELS.flatMap((label) => byLabel(label).map((row) => example(row.text, row.label, 'human', loaded))) });
  });
  after(async () => {
    await model.close();
    store.close();
    await server.close();
  });

  it('freezes a stratified held-out set, then filters planted problems step by step', async () => {
    const task = loaded.config.task.name;
    const first = splitPool(loaded, store);
    assert.equal(first.heldout?.version, 1);
    assert.equal(first.evalCount, 18, 'six of thirty per label');
    for (const label of LABELS) assert.equal(first.evalByLabel[label], 6);

    const heldOut = store.curation.listPool(task, { split: 'eval' });
    const trainSide = store.curation.listPool(task, { split: 'train' });
    const planted = [
      // An exact copy (up to case and punctuation) of a held-out input: the split keeps it off the train side.
      example(`${heldOut[0]!.input.toUpperCase()}!!`, heldOut[0]!.answer, 'synthetic', loaded),
      // A held-out input with a greeting around it: decontamination must catch it on the train side.
      ...heldOut.slice(1, 9).map((row) => example(`Hello there, ${row.input} Thank you so much`, row.answer, 'synthetic', loaded)),
      // A train input again, and a near copy of one.
      example(trainSide[0]!.input, trainSide[0]!.answer, 'synthetic', loaded),
      example(`${trainSide[1]!.input} please`, trainSide[1]!.answer, 'synthetic', loaded),
      example('Warum ist meine Karte noch nicht angekommen und was kann ich tun?', 'card_arrival', 'synthetic', loaded),
      example('asdf asdf card thing qwerty', 'card_arrival', 'synthetic', loaded),
      example('What is the exchange rate you use for euros to dollars?', 'card_arrival', 'synthetic', loaded),
      example('My new card has not come in the mail yet', 'not_a_label', 'synthetic', loaded),
      example('ok', 'card_arrival', 'synthetic', loaded),
    ];
    store.curation.addBatch({ task, kind: 'generate', source: { mode: 'test' }, examples: planted });

    const result = await filterPool(loaded, store, { judge: model, roundTrip: model, concurrency: 3 });
    assert.ok(result.split !== null, 'the new examples were split first');
    assert.equal(result.split.copiesOfHeldOut, 1, 'the exact copy went to the eval side without joining the held-out set');
    assert.equal(store.curation.latestHeldout(task)?.exampleIds.length, 18 + result.split.addedToEval);

    assert.deepEqual(result.report.steps.map((entry) => entry.step), ['validity', 'length-format', 'exact-dedup', 'near-dedup', 'language', 'decontamination', 'judge', 'round-trip']);
    // Each planted example that the hash put on the train side is dropped by the step meant to catch it.
    const pool = store.curation.listPool(task);
    const dropOf = new Map(result.run.drops.map((drop) => [drop.exampleId, drop]));
    const expected: [string, string, string][] = [
      ['Hello there,', 'decontamination', 'ngram-overlap'],
      [trainSide[0]!.input, 'exact-dedup', 'duplicate'],
      [`${trainSide[1]!.input} please`, 'near-dedup', 'near-duplicate'],
      ['Warum ist meine Karte', 'language', 'language-de'],
      ['asdf asdf', 'judge', 'low-score'],
      ['What is the exchange rate you use', 'round-trip', 'disagrees'],
      ['My new card has not come', 'validity', 'invalid-answer'],
      ['ok', 'length-format', 'too-short'],
    ];
    let checked = 0;
    for (const [prefix, stepName, reason] of expected) {
      const planted = pool.filter((row) => row.source === 'synthetic' && row.input.startsWith(prefix) && (prefix !== 'ok' || row.input === 'ok'));
      assert.ok(planted.length > 0, prefix);
      for (const row of planted) {
        if (row.split !== 'train') continue;
        checked += 1;
        assert.equal(dropOf.get(row.id)?.step, stepName, `${row.input} -> ${JSON.stringify(dropOf.get(row.id))}`);
        assert.equal(dropOf.get(row.id)?.reason, reason, row.input);
      }
    }
    assert.ok(checked >= 8, `${checked} planted examples on the train side`);
    const contaminated = result.run.drops.filter((drop) => drop.step === 'decontamination');
    assert.ok(contaminated.every((drop) => heldOut.some((row) => row.id === drop.detail?.evalId)), JSON.stringify(contaminated));
    // Real data the model agrees with is kept: only planted examples are dropped.
    assert.ok(result.run.drops.every((drop) => pool.find((row) => row.id === drop.exampleId)?.source === 'synthetic'), JSON.stringify(result.run.drops.filter((drop) => pool.find((row) => row.id === drop.exampleId)?.source !== 'synthetic')));
    for (const entry of result.report.steps) assert.equal(entry.after, entry.before - entry.dropped);
    assert.equal(result.report.after, store.curation.listPool(task, { split: 'train', keptByFilters: true }).length);
    assert.ok(result.modelCalls.calls > 0 && result.modelCalls.costUsd > 0, JSON.stringify(result.modelCalls));

    // A second run asks the model nothing new: every judgement and answer comes from the cache.
    const requestsBefore = server.requests.length;
    const again = await filterPool(loaded, store, { judge: model, roundTrip: model });
    assert.equal(server.requests.length, requestsBefore);
    assert.equal(again.modelCalls.calls, 0);
    assert.deepEqual(again.report.steps.map((entry) => entry.dropped), result.report.steps.map((entry) => entry.dropped));
  });

  it('says why the model steps were skipped', async () => {
    const result = await filterPool(loaded, store, { skip: ['near-dedup'] });
    const skipped = Object.fromEntries(result.report.steps.map((entry) => [entry.step, entry.skipped]));
    assert.match(skipped.judge ?? '', /no judge/);
    assert.match(skipped['round-trip'] ?? '', /no model/);
    assert.match(skipped['near-dedup'] ?? '', /--skip/);
  });
});

