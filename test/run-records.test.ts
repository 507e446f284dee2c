import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { openStore, type NewExample, type Store } from '../src/adapters/store/sqlite-store.ts';
import { InvalidInputError, UnderstudyError } from '../src/core/errors.ts';
import { describeRun, listRunSummaries, matchRunId } from '../src/pipeline/run-records.ts';
import { LOSS_SERIES, renderRunReportHtml } from '../src/pipeline/run-report-html.ts';
import { runRunsList, runRunsShow } from '../src/surfaces/cli/commands/runs.ts';
import type { Output } from '../src/surfaces/cli/output.ts';

const BASE_SHA = 'b'.repeat(64);
const TEMPLATE = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}";

const example = (input: string, label: string): NewExample => ({
  input,
  label,
  messages: [{ role: 'system', content: 'Classify.' }, { role: 'user', content: input }, { role: 'assistant', content: label }],
  provenance: { file: 'train.csv', line: 2 },
});

/** A workspace as the training pipeline leaves it: database, dataset, base, and a run started with a train.ts-shaped spec. */
function freshWorkspace(datasetName = 'banking77-train'): { workspace: string; store: Store; datasetId: string; datasetHash: string } {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-runs-'));
  const store = openStore(path.join(workspace, 'understudy.db'));
  const dataset = store.registerDataset({
    name: datasetName,
    role: 'train',
    source: { file: 'train.csv' },
    examples: [example('I lost my card', 'lost_or_stolen_card'), example('Where is my card?', 'card_arrival'), example('PIN blocked', 'pin_blocked')],
  });
  store.registerBaseModel({ sha256: BASE_SHA, name: 'smollm2-135m-instruct', path: '/cache/models/SmolLM2-135M-Instruct-Q8_0.gguf', metadata: {} });
  return { workspace, store, datasetId: dataset.id, datasetHash: dataset.contentHash };
}

function startRun(store: Store, datasetId: string) {
  return store.startRun({
    datasetId,
    baseSha256: BASE_SHA,
    method: 'sft',
    spec: {
      base: { kind: 'gguf', path: '/cache/models/SmolLM2-135M-Instruct-Q8_0.gguf' },
      lora: { r: 16, alpha: 32, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] },
      training: { epochs: 2, maxSteps: 40, learningRate: 0.0002, batchSize: 8, gradientAccumulation: 1, maxLength: 256, warmupRatio: 0.05, scheduler: 'cosine', seed: 1, loggingSteps: 5, threads: 0, evalSteps: 10, saveSteps: 10 },
      evalPath: '/ws/runs/x/eval.jsonl',
      checkpointDir: '/ws/runs/x/checkpoints',
      chatTemplate: TEMPLATE,
      baseSha256: BASE_SHA,
      chatTemplateSha256: 'c'.repeat(64),
      chatTemplateOrigin: 'builtin',
    },
  });
}

const STEPS = [5, 10, 15, 20, 25, 30, 35, 40];
const lossAt = (step: number): number => Number((2.5 * Math.exp(-step / 15) + 0.1).toFixed(4));
const EVALS = [
  { step: 10, evalLoss: 1.9, accuracy: 0.5, best: true },
  { step: 20, evalLoss: 1.2, accuracy: 0.75, best: true },
  { step: 30, evalLoss: 0.95, accuracy: 0.8125, best: true },
  { step: 40, evalLoss: 1.01, accuracy: 0.8, best: false },
];

/** A complete run: progress every 5 steps, validation and a checkpoint every 10, artifacts, done and the adapter. */
function completedRun(store: Store, datasetId: string): string {
  const run = startRun(store, datasetId);
  store.appendRunEvent(run.id, { event: 'started', command: 'train-sft', pid: 4242, device: 'cpu', torchVersion: '2.5.1' });
  store.appendRunEvent(run.id, { event: 'log', message: 'loading base' });
  for (const step of STEPS) {
    store.appendRunEvent(run.id, { event: 'progress', step, totalSteps: 40, epoch: step / 20, loss: lossAt(step), learningRate: 2e-4, tokensPerSecond: 900, etaSeconds: (40 - step) * 0.5 });
    const validation = EVALS.find((entry) => entry.step === step);
    if (validation !== undefined) store.appendRunEvent(run.id, { event: 'eval', accuracySample: 16, ...validation });
    if (step % 10 === 0) store.appendRunEvent(run.id, { event: 'checkpoint', step, path: `/ws/runs/${run.id}/checkpoints/checkpoint-${step}` });
  }
  store.appendRunEvent(run.id, { event: 'artifact', kind: 'peft-adapter', path: '/ws/staging/peft', sha256: 'e'.repeat(64) });
  store.appendRunEvent(run.id, { event: 'artifact', kind: 'gguf-lora', path: '/ws/staging/adapter.gguf', sha256: 'a'.repeat(64) });
  store.appendRunEvent(run.id, { event: 'done', seconds: 21.5, trainLoss: 0.8123, trainTokens: 19000, tokensPerSecond: 883.7, steps: 40, truncatedExamples: 0, bestStep: 30, bestEvalLoss: 0.95, stoppedEarly: false, resumedFromStep: null, device: 'cpu', precision: 'fp32' });
  store.completeRun(run.id, { seconds: 21.5, trainLoss: 0.8123, trainTokens: 19000, tokensPerSecond: 883.7, steps: 40, truncatedExamples: 0, examples: 3 }, {
    ggufPath: `/ws/runs/${run.id}/adapter-aaaaaaaaaaaa.gguf`,
    ggufSha256: 'a'.repeat(64),
    peftPath: `/ws/runs/${run.id}/peft`,
    peftSha256: 'e'.repeat(64),
  });
  return run.id;
}

/** Records every message and result instead of printing them. */
function recordingOutput(json: boolean): { output: Output; lines: string[]; results: Record<string, unknown>[] } {
  const lines: string[] = [];
  const results: Record<string, unknown>[] = [];
  const output: Output = {
    json,
    info: (message) => void lines.push(message),
    task: () => ({ update: () => undefined, done: () => undefined }),
    result: (value) => void results.push(value),
  };
  return { output, lines, results };
}

/** The number of points in the loss plot's polyline for one series. */
function seriesPointCount(html: string, series: string): number | undefined {
  const match = new RegExp(`<polyline[^>]*data-series="${series}"[^>]*points="([^"]*)"`).exec(html);
  return match === null ? undefined : match[1]!.trim().split(/\s+/).length;
}

test('describeRun gathers the run, its data, base, spec, curves, checkpoints and adapter', () => {
  const { store, datasetId, datasetHash } = freshWorkspace();
  const runId = completedRun(store, datasetId);
  const run = describeRun(store, runId);
  store.close();

  assert.equal(run.id, runId);
  assert.equal(run.method, 'sft');
  assert.equal(run.status, 'succeeded');
  assert.ok(run.finishedAt !== null && run.durationSeconds !== null && run.durationSeconds >= 0);
  assert.deepEqual(run.dataset, { id: datasetId, name: 'banking77-train', role: 'train', contentHash: datasetHash, exampleCount: 3 });
  assert.deepEqual(run.base, { sha256: BASE_SHA, name: 'smollm2-135m-instruct', path: '/cache/models/SmolLM2-135M-Instruct-Q8_0.gguf', ref: { kind: 'gguf', path: '/cache/models/SmolLM2-135M-Instruct-Q8_0.gguf' } });
  assert.deepEqual(run.chatTemplate, { sha256: 'c'.repeat(64), origin: 'builtin', source: TEMPLATE });
  assert.match(run.spec.hash, /^[0-9a-f]{64}$/);
  assert.deepEqual(run.spec.lora, { r: 16, alpha: 32, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] });
  assert.equal(run.spec.training?.learningRate, 0.0002);
  assert.deepEqual(run.spec.extra, { evalPath: '/ws/runs/x/eval.jsonl', checkpointDir: '/ws/runs/x/checkpoints' });
  assert.deepEqual(run.worker, { device: 'cpu', torchVersion: '2.5.1', precision: 'fp32' });
  assert.equal(run.resumedFromStep, null);
  assert.deepEqual(run.steps, { completed: 40, total: 40 });
  assert.deepEqual(run.lossCurve, STEPS.map((step) => ({ step, loss: lossAt(step) })));
  assert.equal(run.finalLoss, lossAt(40));
  assert.equal(run.trainLoss, 0.8123);
  assert.equal(run.tokensPerSecond, 883.7);
  assert.deepEqual(run.validationCurve, EVALS.map((entry) => ({ ...entry, accuracySample: 16 })));
  assert.deepEqual(run.best, { step: 30, evalLoss: 0.95 });
  assert.equal(run.stoppedEarly, false);
  assert.deepEqual(run.checkpoints, [10, 20, 30, 40].map((step) => ({ step, path: `/ws/runs/${runId}/checkpoints/checkpoint-${step}`, best: step === 30 })));
  assert.equal(run.adapter?.ggufSha256, 'a'.repeat(64));
  assert.equal(run.adapter?.peftPath, `/ws/runs/${runId}/peft`);
  assert.deepEqual(run.reportedArtifacts.map((artifact) => artifact.kind), ['peft-adapter', 'gguf-lora']);
  assert.equal(run.hostedModel, null, 'a local run has no hosted model');
  assert.equal(run.error, null);
  // Plain data: it survives JSON unchanged.
  assert.deepEqual(JSON.parse(JSON.stringify(run)), run);
});

test('runs from an older worker (no eval, checkpoint or best fields) and malformed events still read', () => {
  const { store, datasetId } = freshWorkspace();
  const run = startRun(store, datasetId);
  store.appendRunEvent(run.id, { event: 'progress', step: 5, totalSteps: 10, epoch: 0.5, loss: 2.0, learningRate: 1e-3, tokensPerSecond: null, etaSeconds: null });
  store.appendRunEvent(run.id, { event: 'progress', step: 'six', loss: 1.9 });
  store.appendRunEvent(run.id, { event: 'progress', step: 8, totalSteps: 10, epoch: 0.8, loss: null, learningRate: null, tokensPerSecond: null, etaSeconds: null });
  store.appendRunEvent(run.id, { event: 'progress', step: 10, totalSteps: 10, epoch: 1, loss: 1.5 });
  store.appendRunEvent(run.id, { event: 'something-new', value: 1 });
  store.appendRunEvent(run.id, 'not an object');
  store.appendRunEvent(run.id, { event: 'done', seconds: 3, trainLoss: 1.7, steps: 10 });
  store.completeRun(run.id, { seconds: 3, trainLoss: 1.7, steps: 10 }, { ggufPath: '/a.gguf', ggufSha256: 'a'.repeat(64), peftPath: '/peft', peftSha256: 'e'.repeat(64) });
  const described = describeRun(store, run.id);
  store.close();
  assert.deepEqual(described.lossCurve, [{ step: 5, loss: 2 }, { step: 10, loss: 1.5 }]);
  assert.deepEqual(described.validationCurve, []);
  assert.deepEqual(described.checkpoints, []);
  assert.equal(described.best, null);
  assert.equal(described.stoppedEarly, null);
  assert.deepEqual(described.steps, { completed: 10, total: 10 });

  const html = renderRunReportHtml(described);
  assert.equal(seriesPointCount(html, LOSS_SERIES.train), 2);
  assert.equal(seriesPointCount(html, LOSS_SERIES.validation), undefined);
  assert.doesNotMatch(html, /id="plot-validation-accuracy"/);
});

test('a failed run keeps its error and the best validation the worker marked; a resumed run keeps the later value per step', () => {
  const { store, datasetId } = freshWorkspace();
  const run = startRun(store, datasetId);
  for (const [step, loss] of [[5, 2.0], [10, 1.8], [15, 1.7], [10, 1.75], [15, 1.65], [20, 1.6]] as const) {
    store.appendRunEvent(run.id, { event: 'progress', step, totalSteps: 40, epoch: step / 20, loss, learningRate: 2e-4, tokensPerSecond: 900, etaSeconds: 10 });
  }
  store.appendRunEvent(run.id, { event: 'eval', step: 10, evalLoss: 1.9, accuracy: null, accuracySample: 0, best: true });
  store.appendRunEvent(run.id, { event: 'eval', step: 20, evalLoss: 2.1, accuracy: null, accuracySample: 0, best: false });
  store.appendRunEvent(run.id, { event: 'error', errorType: 'OutOfMemoryError', message: 'CUDA out of memory' });
  store.failRun(run.id, 'failed', 'the worker failed: CUDA out of memory');
  const described = describeRun(store, run.id);
  store.close();
  assert.equal(described.status, 'failed');
  assert.deepEqual(described.error, { message: 'the worker failed: CUDA out of memory', errorType: 'OutOfMemoryError' });
  assert.equal(described.adapter, null);
  assert.deepEqual(described.best, { step: 10, evalLoss: 1.9 });
  assert.deepEqual(described.lossCurve, [{ step: 5, loss: 2 }, { step: 10, loss: 1.75 }, { step: 15, loss: 1.65 }, { step: 20, loss: 1.6 }]);
  assert.deepEqual(described.steps, { completed: 20, total: 40 });

  const html = renderRunReportHtml(described);
  assert.match(html, /id="error"[\s\S]*CUDA out of memory/);
  assert.equal(seriesPointCount(html, LOSS_SERIES.validation), 2);
  // Validations without accuracy draw no accuracy plot.
  assert.doesNotMatch(html, /id="plot-validation-accuracy"/);
});

test('the HTML report is self-contained, escapes stored text, and plots training and validation loss with a legend', () => {
  const { store, datasetId } = freshWorkspace('<script>alert("x")</script>');
  const runId = completedRun(store, datasetId);
  const run = describeRun(store, runId);
  store.close();
  const html = renderRunReportHtml(run, { createdAt: '2025-02-01T10:00:00.000Z' });

  assert.match(html, /^<!DOCTYPE html>/);
  assert.doesNotMatch(html, /<script/i);
  assert.match(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
  assert.doesNotMatch(html, /\b(?:src|href)=/);
  assert.match(html, /<span class="status status-succeeded">succeeded<\/span>/);
  for (const hash of [BASE_SHA, run.spec.hash, run.dataset.contentHash!, 'a'.repeat(64), 'c'.repeat(64)]) assert.ok(html.includes(hash), `the report shows ${hash}`);

  const lossSvg = /<svg[^>]*id="plot-loss"[\s\S]*?<\/svg>/.exec(html)?.[0];
  assert.ok(lossSvg !== undefined, 'the loss plot is an inline <svg>');
  assert.equal((lossSvg.match(/<polyline/g) ?? []).length, 2);
  assert.equal(seriesPointCount(lossSvg, LOSS_SERIES.train), run.lossCurve.length);
  assert.equal(seriesPointCount(lossSvg, LOSS_SERIES.validation), run.validationCurve.length);
  assert.match(lossSvg, /class="legend"[\s\S]*training loss[\s\S]*validation loss/);
  assert.match(lossSvg, /class="best"/);
  assert.equal(seriesPointCount(html, 'validation-accuracy'), EVALS.length);
  assert.match(html, /learningRate[\s\S]*0\.0002/);
  assert.match(html, /targetModules[\s\S]*q_proj, v_proj/);
  assert.ok(html.includes(`checkpoints/checkpoint-40`));
  assert.match(html, /matches the adapter/);
  assert.ok(html.includes('2025-02-01T10:00:00.000Z'));
});

test('runs list prints a table and returns one JSON-ready object; it never creates a database', async () => {
  const { workspace, store, datasetId, datasetHash } = freshWorkspace();
  const runId = completedRun(store, datasetId);
  const failed = startRun(store, datasetId);
  store.failRun(failed.id, 'interrupted', 'SIGTERM');
  assert.equal(listRunSummaries(store).length, 2);
  store.close();

  const json = recordingOutput(true);
  await runRunsList({ workspace, json: true }, json.output);
  assert.deepEqual(json.lines, []);
  assert.equal(json.results.length, 1);
  const result = JSON.parse(JSON.stringify(json.results[0])) as { ok: boolean; command: string; databaseFile: string; runs: { id: string; status: string; steps: number | null; finalLoss: number | null; bestEvalLoss: number | null; bestStep: number | null; datasetContentHash: string; baseSha256: string }[] };
  assert.equal(result.ok, true);
  assert.equal(result.command, 'runs list');
  assert.equal(result.databaseFile, path.join(workspace, 'understudy.db'));
  const completed = result.runs.find((run) => run.id === runId)!;
  assert.deepEqual(
    [completed.status, completed.steps, completed.finalLoss, completed.bestEvalLoss, completed.bestStep, completed.datasetContentHash, completed.baseSha256],
    ['succeeded', 40, lossAt(40), 0.95, 30, datasetHash, BASE_SHA],
  );
  assert.equal(result.runs.find((run) => run.id === failed.id)?.status, 'interrupted');

  const text = recordingOutput(false);
  await runRunsList({ workspace }, text.output);
  assert.match(text.lines[0]!, /^id\s+method\s+status\s+started \(UTC\)\s+steps\s+final loss\s+best eval loss\s+data hash\s+base sha256$/);
  const row = text.lines.find((line) => line.startsWith(runId))!;
  assert.ok(row.includes('40/40') && row.includes(lossAt(40).toFixed(4)) && row.includes('0.9500 @30') && row.includes(datasetHash.slice(0, 12)) && row.includes(BASE_SHA.slice(0, 12)), row);

  const empty = mkdtempSync(path.join(os.tmpdir(), 'understudy-runs-empty-'));
  await assert.rejects(runRunsList({ workspace: empty }, recordingOutput(false).output), (error: unknown) => {
    assert.ok(error instanceof InvalidInputError);
    assert.equal(error.file, path.join(empty, 'understudy.db'));
    assert.match(error.describe(), /understudy\.db: no Understudy database/);
    return true;
  });
  assert.equal(existsSync(path.join(empty, 'understudy.db')), false);
});

test('runs show accepts a unique id prefix, writes the report atomically next to the run and returns the description', async () => {
  const { workspace, store, datasetId } = freshWorkspace();
  const runId = completedRun(store, datasetId);
  store.close();

  const { output, results } = recordingOutput(true);
  await runRunsShow({ workspace, json: true }, output, [runId.slice(0, 12)]);
  assert.equal(results.length, 1);
  const result = JSON.parse(JSON.stringify(results[0])) as { ok: boolean; command: string; reportFile: string; run: { id: string; best: unknown; lossCurve: unknown[] } };
  const reportFile = path.join(workspace, 'runs', runId, 'report.html');
  assert.deepEqual([result.ok, result.command, result.reportFile, result.run.id], [true, 'runs show', reportFile, runId]);
  assert.deepEqual(result.run.best, { step: 30, evalLoss: 0.95 });
  assert.equal(result.run.lossCurve.length, STEPS.length);
  assert.match(readFileSync(reportFile, 'utf8'), /<svg[^>]*id="plot-loss"/);
  assert.deepEqual(readdirSync(path.dirname(reportFile)), ['report.html']);

  const text = recordingOutput(false);
  const elsewhere = path.join(workspace, 'elsewhere', 'run.html');
  await runRunsShow({ workspace, report: elsewhere }, text.output, [runId.replace(/^run_/, '').slice(0, 8)]);
  assert.ok(existsSync(elsewhere));
  assert.equal(text.lines[0], `${runId}  succeeded  sft`);
  assert.ok(text.lines.some((line) => /validation\s+4 validations, best 0\.9500 at step 30, accuracy 81\.3% at step 30 \(n = 16\)/.test(line)), text.lines.join('\n'));
  assert.ok(text.lines.some((line) => line.includes('checkpoint-40')));
  assert.ok(text.lines.at(-1)!.endsWith(elsewhere));
});

test('an unknown or ambiguous run id is an InvalidInputError that names it and says how to list the runs', async () => {
  const { workspace, store, datasetId } = freshWorkspace();
  completedRun(store, datasetId);
  startRun(store, datasetId);
  assert.deepEqual(matchRunId(store, 'run_'), { kind: 'ambiguous', ids: store.listRuns().map((run) => run.id) });
  assert.throws(() => describeRun(store, 'run_nope'), (error: unknown) => error instanceof InvalidInputError && error.message.includes('run_nope'));
  store.close();

  await assert.rejects(runRunsShow({ workspace }, recordingOutput(false).output, ['run_does_not_exist']), (error: unknown) => {
    assert.ok(UnderstudyError.isInstance(error) && error.name === 'InvalidInputError');
    assert.match(error.message, /no run with id run_does_not_exist in .*understudy\.db/);
    assert.match(error.hint ?? '', /understudy runs list --workspace /);
    return true;
  });
  await assert.rejects(runRunsShow({ workspace }, recordingOutput(false).output, ['run_']), /matches 2 runs/);
  await assert.rejects(runRunsShow({ workspace }, recordingOutput(false).output, []), /give a run id/);
  assert.equal(existsSync(path.join(workspace, 'runs')), false);
});
