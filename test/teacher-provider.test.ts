import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseConfigText, type LoadedConfig } from '../src/adapters/config-file.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import { generateData } from '../src/pipeline/generate-data.ts';
import { selectTeacher } from '../src/pipeline/teacher-provider.ts';
import { testModelPath } from './helpers/assets.ts';

const LABELS = ['card_lost', 'refund', 'balance'];

function config(extra: Record<string, unknown> = {}): LoadedConfig {
  const value = {
    version: 1,
    task: {
      name: 'support',
      systemPrompt: 'Classify the customer message. Answer with the label only.',
      baselinePrompt: 'Classify the customer message into one of these labels:\n{labels}\nAnswer with the label only.',
      output: { type: 'labels', labels: LABELS },
    },
    data: { format: 'csv', trainPath: 'train.csv', evalPath: 'test.csv', inputColumn: 'text', labelColumn: 'label' },
    baseModel: { catalog: 'smollm2-135m-instruct' },
    training: { examplesPerLabel: 2 },
    evaluation: { sampleSize: 10, seed: 1 },
    providers: {
      hosted: { kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1', model: 'big-model', maxConcurrency: 5 },
      other: { kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1', model: 'other-model' },
    },
    ...extra,
  };
  return parseConfigText(JSON.stringify(value), '/work/understudy.yaml', '/work');
}

test('no teacher in the config and no --provider is an error naming both', async () => {
  await assert.rejects(selectTeacher(config(), undefined), (error) => {
    assert.ok(error instanceof InvalidInputError);
    assert.equal(error.field, 'curation.teacher');
    assert.equal(error.file, '/work/understudy.yaml');
    assert.match(error.message, /curation\.teacher/);
    assert.match(error.message, /--provider/);
    assert.match(String(error.hint), /hosted, other/);
    return true;
  });
});

test('--provider wins over curation.teacher; an unknown name lists the configured providers', async () => {
  const loaded = config({ curation: { teacher: 'other' } });
  const fromConfig = await selectTeacher(loaded, undefined);
  assert.equal(fromConfig.name, 'other');
  assert.equal(fromConfig.model, 'other-model');
  assert.equal(fromConfig.maxConcurrency, 8, 'the provider default');
  await fromConfig.close();
  const fromOption = await selectTeacher(loaded, 'hosted');
  assert.equal(fromOption.name, 'hosted');
  assert.equal(fromOption.provider.id, 'hosted');
  assert.equal(fromOption.requestModel, 'big-model');
  assert.equal(fromOption.maxConcurrency, 5);
  await fromOption.close();
  await assert.rejects(selectTeacher(loaded, 'nope'), (error) => error instanceof InvalidInputError && error.field === '--provider' && /hosted, other/.test(String(error.hint)));
  await assert.rejects(selectTeacher(loaded, 'embedded:no-such-model'), (error) => error instanceof InvalidInputError && error.field === '--provider');
});

test('embedded:<catalog id> runs the teacher on the embedded llama.cpp engine: relabel and label-conditioned generation', async () => {
  testModelPath(); // fails loudly when the test model was not pulled
  const directory = mkdtempSync(path.join(tmpdir(), 'understudy-teacher-'));
  const store = openStore(path.join(directory, 'understudy.db'));
  const loaded = config({ pricing: { overrides: [], serving: { usdPerHour: 0.2, prefillTokensPerSecond: 500, decodeTokensPerSecond: 50 } } });
  const teacher = await selectTeacher(loaded, 'embedded:smollm2-135m-instruct');
  try {
    assert.equal(teacher.provider.id, 'embedded:smollm2-135m-instruct');
    assert.equal(teacher.model, 'smollm2-135m-instruct');
    const input = (text: string, answer: string | null) => ({ input: text, answer, messages: [{ role: 'user' as const, content: text }], source: 'human' as const, tags: [], provenance: {} });
    store.curation.addBatch({ task: 'support', kind: 'import', source: {}, examples: [input('I want a refund for my order', null), input('I lost my card', 'card_lost'), input('my card is gone', 'card_lost')] });
    const common = { store: store.curation, task: loaded.config.task, labels: loaded.labels, teacher };

    const relabel = await generateData({ ...common, mode: 'relabel' });
    assert.equal(relabel.requested, 1);
    assert.equal(relabel.relabeled, 1, 'the label grammar makes the answer a label');
    const answered = store.curation.listPool('support').find((example) => example.input === 'I want a refund for my order')!;
    assert.ok(LABELS.includes(answered.answer!));
    assert.equal(relabel.unknownCostCalls, 0, 'priced by pricing.serving');
    assert.ok(relabel.costUsd > 0);

    // One short, grammar-constrained list (the schema must compile to a llama.cpp grammar); the 135M model is weak,
    // so only the bookkeeping is asserted, not the quality.
    const generated = await generateData({ ...common, mode: 'labels', onlyLabels: ['card_lost'], perLabel: 1, maxReasks: 0, maxListTokens: 64 });
    assert.equal(generated.requested, 1);
    assert.equal(generated.calls, 1);
    assert.equal(generated.added + Object.values(generated.lost).reduce((sum, count) => sum + count, 0), 1, 'every requested example is added or counted as lost');
    for (const example of store.curation.listPool('support', { source: 'synthetic' })) {
      assert.equal(example.answer, 'card_lost');
      assert.notEqual(example.input.trim(), '');
    }
  } finally {
    await teacher.close();
    store.close();
    rmSync(directory, { recursive: true, force: true });
  }
});
