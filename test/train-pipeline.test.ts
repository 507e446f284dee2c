import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import Database from 'better-sqlite3';
import { requireCatalogModel } from '../src/adapters/models/catalog.ts';
import { resolveChatTemplate, type ResolvedChatTemplate } from '../src/adapters/models/chat-template-source.ts';
import { openStore, type Store } from '../src/adapters/store/sqlite-store.ts';
import { ensureWorkerEnvironment, findPython } from '../src/adapters/worker/python-env.ts';
import { EnvironmentError, UnderstudyError, WorkerError } from '../src/core/errors.ts';
import type { TrainingConfig } from '../src/contracts/config.ts';
import { classificationMessages } from '../src/pipeline/prepare-data.ts';
import { trainSft } from '../src/pipeline/train.ts';
import { testModelPath } from './helpers/assets.ts';

const training: TrainingConfig = {
  examplesPerLabel: 4, epochs: 1, maxSteps: 40, learningRate: 1e-3, batchSize: 2, gradientAccumulation: 1, maxLength: 128, warmupRatio: 0, scheduler: 'constant', seed: 1,
  lora: { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear' },
};

let python: string;
let chatTemplate: ResolvedChatTemplate;
before(async () => {
  python = (await ensureWorkerEnvironment()).python;
  chatTemplate = await resolveChatTemplate(testModelPath(), { family: requireCatalogModel('smollm2-135m-instruct').chatTemplate });
});

function workspaceWithData(): { store: Store; datasetId: string; runsDir: string; databaseFile: string } {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-train-'));
  const databaseFile = path.join(workspace, 'understudy.db');
  const store = openStore(databaseFile);
  const examples = ['I lost my card', 'Where is my card?', 'Card stolen', 'Card not here yet'].map((input, index) => ({
    input,
    label: index % 2 === 0 ? 'lost_or_stolen_card' : 'card_arrival',
    messages: classificationMessages('Classify.', input, index % 2 === 0 ? 'lost_or_stolen_card' : 'card_arrival'),
    provenance: { line: index + 2 },
  }));
  const dataset = store.registerDataset({ name: 'train-test', role: 'train', source: {}, examples });
  return { store, datasetId: dataset.id, runsDir: path.join(workspace, 'runs'), databaseFile };
}

test('a run whose worker fails is stored as failed, with its chat template, and registers no adapter', async () => {
  const { store, datasetId, runsDir, databaseFile } = workspaceWithData();
  const corrupt = path.join(runsDir, '..', 'not-a-model.gguf');
  await assert.rejects(
    trainSft({ store, python, base: { name: 'corrupt', ggufPath: corrupt, sha256: 'c'.repeat(64) }, chatTemplate, datasetId, training, runsDir }),
    (error: unknown) => error instanceof WorkerError,
  );
  const [run] = store.listRuns();
  assert.equal(run!.status, 'failed');
  assert.match(run!.error ?? '', /not-a-model\.gguf|No such file|not found/i);
  assert.equal(store.listAdapters().length, 0);
  store.close();
  // The run's stored spec holds the template it was trained with, its hash and where it came from.
  const db = new Database(databaseFile, { readonly: true });
  const { spec_json: specJson } = db.prepare('SELECT spec_json FROM training_runs').get() as { spec_json: string };
  db.close();
  const spec = JSON.parse(specJson) as { chatTemplate: string; chatTemplateSha256: string; chatTemplateOrigin: string };
  assert.deepEqual([spec.chatTemplate, spec.chatTemplateSha256, spec.chatTemplateOrigin], [chatTemplate.source, chatTemplate.sha256, 'gguf']);
});

test('a run interrupted mid-training is stored as interrupted, registers no adapter and leaves no adapter files', async () => {
  const { store, datasetId, runsDir } = workspaceWithData();
  const controller = new AbortController();
  let progressEvents = 0;
  await assert.rejects(
    trainSft({
      store, python, base: { name: 'smollm2', ggufPath: testModelPath(), sha256: 'd'.repeat(64) }, chatTemplate, datasetId, training: { ...training, maxSteps: 400 }, runsDir, signal: controller.signal,
      onEvent: (event) => {
        if (event.event === 'progress' && (progressEvents += 1) === 1) controller.abort();
      },
    }),
    (error: unknown) => UnderstudyError.isInstance(error),
  );
  const [run] = store.listRuns();
  assert.equal(run!.status, 'interrupted');
  assert.equal(store.listAdapters().length, 0);
  assert.ok(progressEvents >= 1);
  const runDir = path.join(runsDir, run!.id);
  assert.deepEqual(readdirSync(runDir).filter((name) => name.endsWith('.gguf') || name === 'peft' || name === 'staging'), []);
  assert.ok(existsSync(path.join(runDir, 'train.jsonl')));
  store.close();
});

test('without a usable Python, setup fails with a clear message and a hint', () => {
  assert.throws(() => findPython({ PATH: '/nonexistent', UNDERSTUDY_PYTHON: '/nonexistent/python3' }), (error: unknown) => {
    assert.ok(error instanceof EnvironmentError);
    assert.match(error.message, /no Python 3\.10\+ found \(tried \/nonexistent\/python3, python3, python\)/);
    assert.match(error.hint ?? '', /apt-get install python3/);
    return true;
  });
});
