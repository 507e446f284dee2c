// Hosted fine-tuning (OpenAI and Together) end to end, against a PROTOCOL STAND-IN: the services cannot be reached
// from the tests, so `helpers/fine-tuning-stand-in.ts` implements their documented endpoints and job lifecycle on
// 127.0.0.1 (with rate limits, server errors, refused keys and files, failing jobs). The store is a real SQLite file.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { defaultConfigText, parseConfigText, type LoadedConfig } from '../src/adapters/config-file.ts';
import type { ResolvedBaseModel } from '../src/adapters/models/acquire.ts';
import type { ResolvedChatTemplate } from '../src/adapters/models/chat-template-source.ts';
import { EXAMPLES_BANKING77_DIR } from '../src/adapters/paths.ts';
import { trainingPriceFor } from '../src/adapters/pricing/fine-tuning-prices.ts';
import { openStore, type NewExample, type Store } from '../src/adapters/store/sqlite-store.ts';
import { HostedFineTuneTargetSchema, TrainingConfigSchema, type HostedFineTuneTarget } from '../src/contracts/config.ts';
import { EnvironmentError, FineTuningError, InvalidInputError } from '../src/core/errors.ts';
import { resolveEvalCandidates, runEvalCandidates } from '../src/pipeline/eval-candidates.ts';
import { resolveGatewayRoutes } from '../src/pipeline/gateway-routes.ts';
import { describeRun } from '../src/pipeline/run-records.ts';
import { prepareHostedData, trainHosted, type HostedTrainResult, type HostedTrainingEstimate, type TrainHostedInput } from '../src/pipeline/train-hosted.ts';
import type { Output } from '../src/surfaces/cli/output.ts';
import { runTrainHosted } from '../src/surfaces/cli/commands/train-hosted.ts';
import { runExport } from '../src/surfaces/cli/commands/export.ts';
import { startFineTuningStandIn, type FineTuningStandIn, type FineTuningStandInOptions, type StandInRequest } from './helpers/fine-tuning-stand-in.ts';

const KEY = 'sk-stand-in-SECRET-0123456789abcdef';
const KEY_ENV = 'UNDERSTUDY_TEST_FINETUNE_KEY';
const LABELS = ['card_arrival', 'lost_or_stolen_card', 'exchange_rate'];
const SYSTEM = 'Classify the message into its intent label. Answer with the label only.';
const directories: string[] = [];
after(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

/** A workspace with a real SQLite store holding one stored training dataset (8 examples per label). */
function workspace(examples?: NewExample[]): { directory: string; store: Store; datasetId: string } {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-train-hosted-'));
  directories.push(directory);
  const store = openStore(path.join(directory, 'understudy.db'));
  const rows = examples ?? LABELS.flatMap((label) => Array.from({ length: 8 }, (_, index) => {
    const input = `message ${index} about ${label.replaceAll('_', ' ')}`;
    return { input, label, messages: [{ role: 'system' as const, content: SYSTEM }, { role: 'user' as const, content: input }, { role: 'assistant' as const, content: label }], provenance: { test: true } };
  }));
  const dataset = store.registerDataset({ name: 'intent', role: 'train', source: { test: true }, examples: rows });
  return { directory, store, datasetId: dataset.id };
}

function target(standIn: FineTuningStandIn, fields: Partial<HostedFineTuneTarget> & Pick<HostedFineTuneTarget, 'kind' | 'model'>): HostedFineTuneTarget {
  return HostedFineTuneTargetSchema.parse({ baseUrl: standIn.baseUrl, apiKeyEnv: KEY_ENV, suffix: 'understudy', pollIntervalMs: 1000, maxPollIntervalMs: 4000, ...fields });
}

/** A fake clock that only moves when something waits, and the record of every wait (polls and retries). */
function fakeTime(): { now: () => number; sleep: (ms: number, signal?: AbortSignal) => Promise<void>; waits: number[] } {
  let clock = 1_000_000;
  const waits: number[] = [];
  return {
    now: () => clock,
    waits,
    sleep: async (ms, signal) => {
      if (signal?.aborted === true) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      waits.push(ms);
      clock += ms;
    },
  };
}

async function withStandIn(options: FineTuningStandInOptions, body: (standIn: FineTuningStandIn) => Promise<void>): Promise<void> {
  const standIn = await startFineTuningStandIn(options);
  try {
    await body(standIn);
  } finally {
    await standIn.close();
  }
}

function input(space: { store: Store; directory: string; datasetId: string }, hosted: HostedFineTuneTarget, overrides: Partial<TrainHostedInput> = {}): TrainHostedInput & { time: ReturnType<typeof fakeTime>; estimates: HostedTrainingEstimate[] } {
  const time = fakeTime();
  const estimates: HostedTrainingEstimate[] = [];
  return {
    store: space.store,
    datasetId: space.datasetId,
    training: TrainingConfigSchema.parse({ examplesPerLabel: 8, epochs: 2 }),
    targetName: 'hosted-ft',
    target: hosted,
    runsDir: path.join(space.directory, 'runs'),
    confirm: (estimate) => {
      estimates.push(estimate);
      return true;
    },
    environment: { [KEY_ENV]: KEY },
    now: time.now,
    sleep: time.sleep,
    random: () => 0.5,
    time,
    estimates,
    ...overrides,
  };
}

async function succeeded(promise: ReturnType<typeof trainHosted>): Promise<HostedTrainResult> {
  const outcome = await promise;
  assert.equal(outcome.started, true, 'the job started');
  return outcome as HostedTrainResult;
}

async function fineTuningError(promise: Promise<unknown>): Promise<FineTuningError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(FineTuningError.isInstance(error), `expected a FineTuningError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

const isUpload = (request: StandInRequest): boolean => request.method === 'POST' && (request.path === '/v1/files' || request.path === '/v1/files/upload');
const isCreate = (request: StandInRequest): boolean => request.method === 'POST' && (request.path === '/v1/fine_tuning/jobs' || request.path === '/v1/fine-tunes');
const jsonLines = (content: string): { messages: { role: string; content: string; weight?: number }[] }[] => content.trim().split('\n').map((line) => JSON.parse(line) as { messages: { role: string; content: string; weight?: number }[] });

/** The workspace config with the stand-in's target, for the eval and gateway resolution. */
function loadedConfig(directory: string, hosted: HostedFineTuneTarget, gateway?: string): LoadedConfig {
  const defaults = defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR));
  const text = `${gateway === undefined ? defaults : defaults.replace(/\ngateway:\n(?: {2}.*\n|#.*\n)*/, `\n${gateway}\n`)}
targets:
  hosted-ft:
    kind: ${hosted.kind}
    baseUrl: "${hosted.baseUrl}"
    apiKeyEnv: ${hosted.apiKeyEnv}
    model: ${hosted.model}
    inputUsdPerMillion: 0.8
    outputUsdPerMillion: 3.2
    pollIntervalMs: 1
${hosted.trainingUsdPerMillionTokens === undefined ? '' : `    trainingUsdPerMillionTokens: ${hosted.trainingUsdPerMillionTokens}\n`}`;
  const file = path.join(directory, 'understudy.yaml');
  writeFileSync(file, text);
  return parseConfigText(text, file, directory);
}

test('protocol stand-in, OpenAI: upload, supervised job, polls with growing waits, events in the run, model registered and answering', async () => {
  await withStandIn({ service: 'openai', apiKey: KEY, steps: 4, pollsPerState: 2 }, async (standIn) => {
    const space = workspace();
    const hosted = target(standIn, { kind: 'openai-finetune', model: 'gpt-4.1-mini-2025-04-14', inputUsdPerMillion: 0.8, outputUsdPerMillion: 3.2, trainingUsdPerMillionTokens: 7 });
    const run = input(space, hosted);
    const result = await succeeded(trainHosted(run));

    // The estimate came before anything was uploaded, priced from the target's training price, with its source (never 0).
    assert.equal(run.estimates.length, 1);
    const estimate = run.estimates[0]!;
    assert.equal(estimate.epochs, 2);
    assert.equal(estimate.billedTokens, estimate.tokensPerEpoch * 2);
    assert.equal(estimate.price?.usdPerMillionTokens, 7);
    assert.equal(estimate.price?.source, 'targets.hosted-ft.trainingUsdPerMillionTokens');
    assert.ok(estimate.usd !== null && Math.abs(estimate.usd - (estimate.billedTokens * 7) / 1e6) < 1e-12);

    // Request shapes as documented: multipart upload with purpose fine-tune, a supervised job with the run's settings.
    for (const request of standIn.requests) assert.equal(request.authorization, `Bearer ${KEY}`);
    const uploads = standIn.requests.filter(isUpload);
    assert.deepEqual(uploads.map((request) => (request.body as { purpose: string }).purpose), ['fine-tune', 'fine-tune']);
    assert.deepEqual(uploads.map((request) => (request.body as { file: { name: string } }).file.name), ['train.jsonl', 'validation.jsonl']);
    const trainLines = jsonLines((uploads[0]!.body as { file: { content: string } }).file.content);
    assert.equal(trainLines.length, result.estimate.trainExamples);
    assert.equal(trainLines.length + result.estimate.validationExamples, 24);
    for (const line of trainLines) {
      assert.deepEqual(line.messages.map((message) => message.role), ['system', 'user', 'assistant']);
      assert.ok(LABELS.includes(line.messages[2]!.content));
    }
    const created = standIn.requests.filter(isCreate);
    assert.equal(created.length, 1);
    const [trainFileId, validationFileId] = [...standIn.files.keys()];
    assert.deepEqual(created[0]!.body, {
      model: 'gpt-4.1-mini-2025-04-14',
      training_file: trainFileId,
      validation_file: validationFileId,
      suffix: 'understudy',
      seed: 42,
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 2, batch_size: 'auto', learning_rate_multiplier: 'auto' } } },
    });
    assert.equal(standIn.files.get(trainFileId!)!.content, readFileSync(path.join(space.directory, 'runs', result.run.id, 'train.jsonl'), 'utf8'), 'the uploaded file is kept with the run');

    // Polls wait longer each time, from pollIntervalMs up to maxPollIntervalMs.
    assert.deepEqual(run.time.waits, [1000, 1500, 2250, 3375, 4000]);

    // The run succeeded only with its model registered; the service's events are in the run record.
    assert.equal(result.run.status, 'succeeded');
    const model = space.store.getHostedModelForRun(result.run.id)!;
    const job = [...standIn.jobs.values()][0]!;
    assert.equal(model.model, job.fineTunedModel);
    assert.match(model.model, /^ft:gpt-4\.1-mini-2025-04-14:stand-in-org:understudy:/);
    assert.deepEqual({ service: model.service, target: model.target, apiKeyEnv: model.apiKeyEnv, baseUrl: model.baseUrl, jobId: model.jobId, input: model.inputUsdPerMillion }, { service: 'openai-finetune', target: 'hosted-ft', apiKeyEnv: KEY_ENV, baseUrl: standIn.baseUrl, jobId: job.id, input: 0.8 });
    assert.equal(result.verification?.answer, 'ok');
    assert.ok(standIn.requests.some((request) => request.path === '/v1/chat/completions' && (request.body as { model: string }).model === model.model), 'the model answered a test call before it was registered');

    const described = describeRun(space.store, result.run.id);
    assert.equal(described.method, 'sft');
    assert.equal(described.status, 'succeeded');
    assert.deepEqual(described.lossCurve, [1, 2, 3, 4].map((step) => ({ step, loss: 2 / step })));
    assert.deepEqual(described.validationCurve.map((point) => [point.step, point.evalLoss]), [[4, 0.25]]);
    assert.equal(described.trainTokens, result.trainedTokens);
    assert.ok(result.trainedTokens !== null && result.trainedTokens > 0);
    assert.equal(result.billedTokens, result.trainedTokens, "OpenAI bills its trained_tokens");
    assert.equal(result.costUsd, (result.trainedTokens * 7) / 1e6, 'the cost is the billed tokens at the price');
    assert.equal(described.base.name, 'gpt-4.1-mini-2025-04-14 (openai-finetune)');
    assert.equal(described.worker?.device, 'openai-finetune (hosted)');
    assert.deepEqual(described.hostedModel, { service: 'openai-finetune', target: 'hosted-ft', baseModel: 'gpt-4.1-mini-2025-04-14', model: model.model, jobId: job.id });
    assert.equal(described.adapter, null);
    const events = space.store.runEvents(result.run.id) as { event: string; message?: string; hosted?: { type?: string } }[];
    assert.ok(events.some((event) => event.event === 'log' && event.message === 'openai-finetune info: Fine-tuning job started' && event.hosted?.type === 'message'));
    assert.ok(events.some((event) => event.event === 'log' && /New fine-tuned model created: ft:/.test(event.message ?? '')));
    assert.equal(events.at(-1)!.event, 'done');

    // The key is nowhere in the database.
    space.store.close();
    for (const file of [path.join(space.directory, 'understudy.db'), path.join(space.directory, 'understudy.db-wal')]) {
      if (existsSync(file)) assert.ok(!readFileSync(file).includes(KEY), `${path.basename(file)} does not hold the key`);
    }
  });
});

test('protocol stand-in, OpenAI: the hosted model is an eval candidate (latest and by id) and a gateway target, answering at the service and priced by the target', async () => {
  await withStandIn({ service: 'openai', apiKey: KEY }, async (standIn) => {
    const space = workspace();
    const hosted = target(standIn, { kind: 'openai-finetune', model: 'gpt-4o-mini-2024-07-18' });
    const result = await succeeded(trainHosted(input(space, hosted)));
    const loaded = loadedConfig(space.directory, hosted, `gateway:
  routes:
    tuned: { target: "adapter:${result.run.id}", taskFormat: true }
    newest: { target: adapter:latest }`);
    assert.deepEqual(Object.keys(loaded.config.gateway.routes), ['tuned', 'newest']);
    const base: ResolvedBaseModel = { name: 'unused', ggufPath: '/nonexistent.gguf', sha256: 'f'.repeat(64) };
    const chatTemplate: ResolvedChatTemplate = { source: '', sha256: '0'.repeat(64), origin: 'built-in', file: '/nonexistent.gguf' };
    const evalSet = space.store.registerDataset({
      name: 'intent',
      role: 'eval',
      source: {},
      examples: loaded.labels.slice(0, 3).map((label) => ({ input: `held out ${label}`, label, messages: [], provenance: {} })),
    });
    const context = { loaded, store: space.store, base, chatTemplate, trainExamples: [], sequences: 1 };
    const candidates = resolveEvalCandidates(context, [{ kind: 'adapter', name: 'hosted-latest', run: 'latest' }, { kind: 'adapter', name: 'hosted-by-id', run: result.run.id }]);
    for (const candidate of candidates) {
      assert.equal(candidate.hosted?.model, result.model.model);
      assert.equal(candidate.runId, result.run.id);
      assert.equal(candidate.adapterPath, undefined);
    }
    process.env[KEY_ENV] = KEY;
    try {
      const outputs = await runEvalCandidates({ ...context, candidates: candidates.slice(0, 1), examples: space.store.listExamples(evalSet.id), concurrency: 2 });
      const rows = outputs.get('hosted-latest')!;
      assert.equal(rows.length, 3);
      // The stand-in answers the first label of the constrained set; the provider unwraps {"label": ...}.
      assert.deepEqual(rows.map((row) => row.output), [loaded.labels[0], loaded.labels[0], loaded.labels[0]]);
      assert.deepEqual(rows.map((row) => row.correct), [true, false, false]);
      for (const row of rows) assert.ok(row.costUsd !== null && Math.abs(row.costUsd - (row.promptTokens * 0.8 + row.completionTokens * 3.2) / 1e6) < 1e-12, 'priced by the target');
      const chats = standIn.requests.filter((request) => request.path === '/v1/chat/completions').slice(1);
      assert.equal(chats.length, 3);
      for (const chat of chats) {
        const body = chat.body as { model: string; messages: { role: string; content: string }[] };
        assert.equal(body.model, result.model.model);
        assert.equal(body.messages[0]!.content, loaded.config.task.systemPrompt, 'the tuned model gets the system prompt it was trained with');
      }

      const routes = await resolveGatewayRoutes(loaded, space.store);
      try {
        for (const route of routes.routes) {
          assert.equal(route.path, 'tuned');
          assert.equal(route.adapter, result.run.id);
          const answer = await route.provider.complete({ ...(route.requestModel === undefined ? {} : { model: route.requestModel }), messages: [{ role: 'user', content: 'where is my card?' }] });
          assert.equal(answer.text, 'ok');
          assert.equal(answer.model, result.model.model);
          assert.equal(answer.cost.kind, 'priced');
        }
        assert.equal(routes.routes[0]!.format?.system, loaded.config.task.systemPrompt);
      } finally {
        await routes.close();
      }
    } finally {
      delete process.env[KEY_ENV];
    }
  });
});

test('protocol stand-in, Together: upload with file_name, LoRA SFT job, lifecycle to completed, model_output_name registered', async () => {
  await withStandIn({ service: 'together', apiKey: KEY, steps: 3 }, async (standIn) => {
    const space = workspace();
    const hosted = target(standIn, { kind: 'together-finetune', model: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference', trainingUsdPerMillionTokens: 0.48 });
    const run = input(space, hosted, { training: TrainingConfigSchema.parse({ examplesPerLabel: 8, epochs: 3, learningRate: 0.0001, lora: { r: 8, alpha: 16, dropout: 0.1 } }) });
    const result = await succeeded(trainHosted(run));

    assert.deepEqual(run.estimates[0]!.price, { usdPerMillionTokens: 0.48, source: 'targets.hosted-ft.trainingUsdPerMillionTokens' });
    const uploads = standIn.requests.filter(isUpload);
    assert.deepEqual(uploads.map((request) => request.path), ['/v1/files/upload', '/v1/files/upload']);
    for (const upload of uploads) {
      const fields = upload.body as { purpose: string; file_name: string; file_type: string; file: { name: string; content: string } };
      assert.equal(fields.purpose, 'fine-tune');
      assert.equal(fields.file_type, 'jsonl');
      assert.equal(fields.file_name, fields.file.name);
      for (const line of jsonLines(fields.file.content)) {
        assert.deepEqual(line.messages.map((message) => message.role), ['system', 'user', 'assistant']);
        for (const message of line.messages) assert.deepEqual(Object.keys(message), ['role', 'content'], 'no fields outside the documented format');
      }
    }
    const [trainFileId, validationFileId] = [...standIn.files.keys()];
    assert.deepEqual(standIn.requests.filter(isCreate).map((request) => request.body), [{
      training_file: trainFileId,
      validation_file: validationFileId,
      n_evals: 3,
      model: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference',
      n_epochs: 3,
      learning_rate: 0.0001,
      random_seed: 42,
      suffix: 'understudy',
      training_method: { method: 'sft', train_on_inputs: false },
      training_type: { type: 'Lora', lora_r: 8, lora_alpha: 16, lora_dropout: 0.1, lora_trainable_modules: 'all-linear' },
    }]);
    assert.ok(standIn.requests.some((request) => request.method === 'GET' && request.path === '/v1/fine-tunes'), 'the key was checked by listing jobs');

    const job = [...standIn.jobs.values()][0]!;
    assert.equal(job.status, 'completed');
    assert.equal(result.run.status, 'succeeded');
    assert.equal(result.model.model, job.fineTunedModel);
    assert.match(result.model.model, /^stand-in-user\/Meta-Llama-3\.1-8B-Instruct-Reference-understudy-/);
    assert.equal(result.model.service, 'together-finetune');
    assert.equal(result.costUsd, (result.estimate.billedTokens * 0.48) / 1e6, 'Together does not document its token count as billed: the estimate prices the job');
    assert.equal(result.trainedTokens, Math.ceil(standIn.files.get(trainFileId!)!.content.length / 4), "the job's token_count");
    assert.equal(result.billedTokens, null, 'Together does not say what it billed');
    const described = describeRun(space.store, result.run.id);
    assert.deepEqual(described.lossCurve, [], 'Together events carry steps, not losses');
    assert.deepEqual(described.steps, { completed: 3, total: 3 });
    const messages = (space.store.runEvents(result.run.id) as { event: string; message?: string }[]).filter((event) => event.event === 'log').map((event) => event.message);
    assert.ok(messages.includes('together-finetune info: Training started'));
    assert.ok(messages.some((message) => message?.startsWith('job ') && message.includes('running -> uploading')));
  });
});

test('protocol stand-in: rate limits (Retry-After) and a 500 are waited out and retried; one job is created', async () => {
  const failures: FineTuningStandInOptions['failures'] = [
    { match: isUpload, times: 2, status: 429, retryAfter: '7' },
    { match: isCreate, times: 1, status: 500 },
    { match: (request) => request.method === 'GET' && request.path.endsWith('/events'), times: 1, status: 429, retryAfter: '3' },
  ];
  await withStandIn({ service: 'openai', apiKey: KEY, failures }, async (standIn) => {
    const space = workspace();
    const run = input(space, target(standIn, { kind: 'openai-finetune', model: 'gpt-4o-mini-2024-07-18' }));
    const result = await succeeded(trainHosted(run));
    assert.equal(result.run.status, 'succeeded');
    assert.deepEqual(standIn.requests.filter(isUpload).map((request) => request.status), [429, 429, 200, 200]);
    assert.deepEqual(standIn.requests.filter(isCreate).map((request) => request.status), [500, 200]);
    assert.equal(standIn.jobs.size, 1);
    // Retry-After is honoured exactly; the 500 waits a jittered backoff (random 0.5 of the first 500 ms window).
    assert.deepEqual(run.time.waits.slice(0, 4), [7000, 7000, 250, 3000]);
  });
});

test('protocol stand-in: an expired key fails before anything is uploaded, names the variable, never shows the key, leaves no run', async () => {
  for (const service of ['openai', 'together'] as const) {
    await withStandIn({ service, apiKey: KEY }, async (standIn) => {
      const space = workspace();
      const run = input(space, target(standIn, { kind: service === 'openai' ? 'openai-finetune' : 'together-finetune', model: 'some-model' }), { environment: { [KEY_ENV]: 'sk-expired-0123456789abcdefXYZ' } });
      const error = await fineTuningError(trainHosted(run));
      assert.equal(error.failure, 'auth');
      assert.equal(error.statusCode, 401);
      assert.match(error.message, new RegExp(`the key in \\$${KEY_ENV} was refused \\(expired or wrong\\)`));
      assert.ok(!error.message.includes('sk-expired-0123456789abcdefXYZ') && !String(error.upstreamMessage).includes('sk-expired'), 'the key the service echoed is redacted');
      assert.match(error.hint ?? '', new RegExp(KEY_ENV));
      assert.equal(standIn.requests.length, 1, 'one authenticated read, nothing uploaded');
      assert.equal(standIn.requests.filter(isUpload).length, 0);
      assert.equal(run.estimates.length, 0, 'not asked to confirm a job that cannot start');
      assert.deepEqual(space.store.listRuns(), []);
    });
  }
});

test('a missing key variable, or a training file that breaks the format, fails before any request', async () => {
  await withStandIn({ service: 'openai', apiKey: KEY }, async (standIn) => {
    const space = workspace();
    const hosted = target(standIn, { kind: 'openai-finetune', model: 'gpt-4o-mini-2024-07-18' });
    await assert.rejects(trainHosted(input(space, hosted, { environment: {} })), (error: unknown) => {
      assert.ok(error instanceof EnvironmentError);
      assert.match(error.message, new RegExp(`${KEY_ENV} is not set`));
      assert.equal(error.field, 'targets.hosted-ft.apiKeyEnv');
      return true;
    });

    const broken = workspace([
      ...LABELS.map((label, index) => ({ input: `fine ${index}`, label, messages: [{ role: 'user' as const, content: `fine ${index}` }, { role: 'assistant' as const, content: label }], provenance: {} })),
      { input: 'empty answer', label: 'x', messages: [{ role: 'user' as const, content: 'empty answer' }, { role: 'assistant' as const, content: '  ' }], provenance: {} },
    ]);
    await assert.rejects(trainHosted(input(broken, hosted, { training: TrainingConfigSchema.parse({ examplesPerLabel: 1, validationFraction: 0 }) })), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.equal(error.file, 'train.jsonl');
      assert.equal(error.line, 4);
      assert.equal(error.field, 'messages[1].content');
      assert.match(error.message, /non-empty/);
      return true;
    });
    assert.deepEqual(standIn.requests, []);
    assert.deepEqual(broken.store.listRuns(), []);
  });
});

test('protocol stand-in: a file the service refuses (at upload or at job creation) fails the run with its message and the file named', async () => {
  // Refused when the job is created: OpenAI validates the training file then (here: too few examples).
  await withStandIn({ service: 'openai', apiKey: KEY, minExamples: 1000 }, async (standIn) => {
    const space = workspace();
    const error = await fineTuningError(trainHosted(input(space, target(standIn, { kind: 'openai-finetune', model: 'gpt-4o-mini-2024-07-18' }))));
    assert.equal(error.failure, 'rejected');
    assert.equal(error.statusCode, 400);
    const [run] = space.store.listRuns();
    const trainPath = path.join(space.directory, 'runs', run!.id, 'train.jsonl');
    assert.match(error.message, /refused the job of gpt-4o-mini-2024-07-18 on train\.jsonl \(file-\d+\) \(HTTP 400\): Training file has \d+ example\(s\), but must have at least 1000 examples/);
    assert.equal(error.file, trainPath);
    assert.equal(run!.status, 'failed');
    assert.match(run!.error ?? '', /at least 1000 examples/);
    assert.equal(space.store.getHostedModelForRun(run!.id), undefined);
    assert.equal(standIn.jobs.size, 0);
    assert.equal(standIn.requests.filter(isCreate).length, 1, 'a refusal is not retried');
  });
  // Refused at upload (too large).
  await withStandIn({ service: 'together', apiKey: KEY, maxUploadBytes: 100 }, async (standIn) => {
    const space = workspace();
    const error = await fineTuningError(trainHosted(input(space, target(standIn, { kind: 'together-finetune', model: 'Qwen/Qwen3-8B' }))));
    assert.equal(error.failure, 'rejected');
    assert.match(error.message, /^together-finetune: the service refused train\.jsonl \(HTTP 400\): File is too large: \d+ bytes exceeds the limit of 100 bytes/);
    const [run] = space.store.listRuns();
    assert.equal(error.file, path.join(space.directory, 'runs', run!.id, 'train.jsonl'));
    assert.equal(run!.status, 'failed');
    assert.equal(standIn.requests.filter(isUpload).length, 1);
    assert.equal(standIn.requests.filter(isCreate).length, 0);
  });
});

test('protocol stand-in: a job that fails at the service fails the run with its message (OpenAI error and Together error event)', async () => {
  for (const service of ['openai', 'together'] as const) {
    await withStandIn({ service, apiKey: KEY, failJobWith: 'The job failed due to an invalid training file: duplicate examples' }, async (standIn) => {
      const space = workspace();
      const error = await fineTuningError(trainHosted(input(space, target(standIn, { kind: service === 'openai' ? 'openai-finetune' : 'together-finetune', model: 'gpt-4o-mini-2024-07-18' }))));
      assert.equal(error.failure, 'job-failed');
      assert.match(error.message, /failed \((failed|error)\): The job failed due to an invalid training file: duplicate examples/);
      const [run] = space.store.listRuns();
      assert.equal(run!.status, 'failed');
      assert.match(run!.error ?? '', /duplicate examples/);
      assert.equal(space.store.getHostedModelForRun(run!.id), undefined);
      assert.equal(describeRun(space.store, run!.id).error?.errorType, 'FineTuningError');
      assert.equal(standIn.requests.filter((request) => request.path === '/v1/chat/completions').length, 0);
    });
  }
});

test('refusing the estimate uploads nothing and registers no run; an unknown price is unknown, not 0', async () => {
  await withStandIn({ service: 'together', apiKey: KEY }, async (standIn) => {
    const space = workspace();
    const run = input(space, target(standIn, { kind: 'together-finetune', model: 'Qwen/Qwen3-8B' }), { confirm: () => false });
    const outcome = await trainHosted(run);
    assert.equal(outcome.started, false);
    assert.equal(outcome.estimate.usd, null);
    assert.equal(outcome.estimate.price, null);
    assert.match(outcome.estimate.unknownReason ?? '', /set targets\.hosted-ft\.trainingUsdPerMillionTokens/);
    assert.deepEqual(standIn.requests.map((request) => `${request.method} ${request.path}`), ['GET /v1/fine-tunes']);
    assert.deepEqual(space.store.listRuns(), []);
  });
});

test('built-in training price table: found by snapshot name or alias, sourced and dated, and flagged as unverified when it prices an estimate', () => {
  const bySnapshot = trainingPriceFor('openai-finetune', 'gpt-4o-mini-2024-07-18');
  assert.ok(bySnapshot !== undefined);
  assert.equal(trainingPriceFor('openai-finetune', 'gpt-4o-mini'), bySnapshot, 'an alias finds the same row');
  assert.ok(bySnapshot.usdPerMillionTokens > 0);
  assert.match(bySnapshot.source, /^https:\/\//);
  assert.match(bySnapshot.asOf, /^\d{4}-\d{2}$/);
  assert.equal(trainingPriceFor('together-finetune', 'gpt-4o-mini'), undefined, 'a row is for one service');
  assert.equal(trainingPriceFor('openai-finetune', 'no-such-model'), undefined);

  const space = workspace();
  const { estimate } = prepareHostedData({
    store: space.store,
    datasetId: space.datasetId,
    training: TrainingConfigSchema.parse({ examplesPerLabel: 8, epochs: 2 }),
    targetName: 'hosted-ft',
    target: HostedFineTuneTargetSchema.parse({ kind: 'openai-finetune', baseUrl: 'http://127.0.0.1:1/v1', apiKeyEnv: KEY_ENV, model: 'gpt-4o-mini' }),
  });
  assert.equal(estimate.price?.usdPerMillionTokens, bySnapshot.usdPerMillionTokens);
  assert.ok(estimate.price?.source.startsWith(bySnapshot.source));
  assert.ok(estimate.warnings.some((warning) => /built-in table.*not verified.*set targets\.hosted-ft\.trainingUsdPerMillionTokens/.test(warning)), estimate.warnings.join('\n'));
  space.store.close();
});

test('Together: assistant turns inside prompts lose their weight marker, with one warning for the whole job', () => {
  const space = workspace(LABELS.flatMap((label) => Array.from({ length: 8 }, (_, index) => ({
    input: `message ${index} about ${label}`,
    label,
    messages: [{ role: 'user' as const, content: 'hello' }, { role: 'assistant' as const, content: 'hi, what is it?' }, { role: 'user' as const, content: `message ${index} about ${label}` }, { role: 'assistant' as const, content: label }],
    provenance: {},
  }))));
  const prepared = prepareHostedData({
    store: space.store,
    datasetId: space.datasetId,
    training: TrainingConfigSchema.parse({ examplesPerLabel: 8, epochs: 2 }),
    targetName: 'hosted-ft',
    target: HostedFineTuneTargetSchema.parse({ kind: 'together-finetune', baseUrl: 'http://127.0.0.1:1/v1', apiKeyEnv: KEY_ENV, model: 'Qwen/Qwen3-8B', trainingUsdPerMillionTokens: 1 }),
  });
  assert.ok(prepared.validationText !== '', 'both files hold examples with a prompt assistant turn');
  assert.equal(prepared.estimate.warnings.filter((warning) => /no per-message weight/.test(warning)).length, 1);
  for (const line of [...jsonLines(prepared.trainText), ...jsonLines(prepared.validationText)]) {
    assert.deepEqual(line.messages.map((message) => message.role), ['user', 'assistant', 'user', 'assistant']);
    for (const message of line.messages) assert.deepEqual(Object.keys(message), ['role', 'content']);
  }
  space.store.close();
});

test('protocol stand-in: an abort while the job runs cancels it at the service and marks the run interrupted', async () => {
  for (const service of ['openai', 'together'] as const) {
    await withStandIn({ service, apiKey: KEY, pollsPerState: 2 }, async (standIn) => {
      const space = workspace();
      const controller = new AbortController();
      const run = input(space, target(standIn, { kind: service === 'openai' ? 'openai-finetune' : 'together-finetune', model: 'gpt-4o-mini-2024-07-18' }), {
        signal: controller.signal,
        onJob: (job) => {
          if (job.status === 'running') controller.abort();
        },
      });
      const error = await fineTuningError(trainHosted(run));
      assert.equal(error.failure, 'aborted');
      const job = [...standIn.jobs.values()][0]!;
      assert.equal(job.status, 'cancelled');
      assert.ok(standIn.requests.some((request) => request.method === 'POST' && request.path.endsWith(`/${job.id}/cancel`)));
      const [stored] = space.store.listRuns();
      assert.equal(stored!.status, 'interrupted');
      assert.match(stored!.error ?? '', new RegExp(`interrupted; job ${job.id} cancelled`));
      assert.equal(space.store.getHostedModelForRun(stored!.id), undefined);
    });
  }
});

test('CLI: no terminal and no --yes is an error telling to pass --yes; --yes runs the job through the protocol stand-in', async () => {
  await withStandIn({ service: 'openai', apiKey: KEY }, async (standIn) => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-train-hosted-cli-'));
    directories.push(directory);
    const loaded = loadedConfig(directory, target(standIn, { kind: 'openai-finetune', model: 'gpt-4o-mini-2024-07-18', trainingUsdPerMillionTokens: 3 }));
    const lines: string[] = [];
    const results: Record<string, unknown>[] = [];
    const output: Output = {
      json: false,
      info: (message) => void lines.push(message),
      task: () => ({ update: () => undefined, done: (message) => void (message === undefined ? undefined : lines.push(message)) }),
      result: (value) => void results.push(value),
    };
    const options = { workspace: path.join(directory, 'ws'), config: loaded.file, target: 'hosted-ft' };
    const surroundings = { interactive: false, environment: { [KEY_ENV]: KEY } };

    await assert.rejects(runTrainHosted(options, output, surroundings), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.equal(error.field, '--yes');
      assert.match(error.hint ?? '', /pass --yes/);
      return true;
    });
    assert.equal(standIn.requests.filter(isUpload).length, 0);
    assert.ok(lines.some((line) => /cost: about \$\d+\.\d\d at \$3 per million training tokens/.test(line)), lines.join('\n'));

    await assert.rejects(runTrainHosted({ ...options, maxSteps: '5' }, output, surroundings), /--max-steps does not apply/);
    await assert.rejects(runTrainHosted({ ...options, target: 'nope' }, output, surroundings), /no target named "nope"/);

    await runTrainHosted({ ...options, yes: true }, output, surroundings);
    const result = results.at(-1) as { ok: boolean; started: boolean; run: { status: string }; model: { model: string } };
    assert.equal(result.ok, true);
    assert.equal(result.started, true);
    assert.equal(result.run.status, 'succeeded');
    assert.equal(result.model.model, [...standIn.jobs.values()][0]!.fineTunedModel);
    assert.ok(lines.some((line) => /^job ftjob-\d+: running -> succeeded$/.test(line)), lines.join('\n'));
    assert.ok(lines.some((line) => /^tokens: \d+ trained, \d+ billed; cost \$\d+\.\d\d \(billed tokens × the price\)$/.test(line)), lines.join('\n'));

    const answers = ['n'];
    await runTrainHosted(options, output, { ...surroundings, interactive: true, ask: () => Promise.resolve(answers.shift() ?? '') });
    assert.equal((results.at(-1) as { started: boolean }).started, false);
    assert.equal(standIn.jobs.size, 1, 'answering no starts nothing');

    // A hosted run has no weights here: export refuses it by name, and picks no hosted run by default.
    const runId = (result as unknown as { run: { id: string } }).run.id;
    await assert.rejects(runExport({ workspace: options.workspace, run: runId, to: 'peft' }, output), /is a hosted fine-tune \(ft:gpt-4o-mini.*no adapter to export/);
    await assert.rejects(runExport({ workspace: options.workspace, to: 'peft' }, output), /no finished run with a local adapter/);
  });
});
