import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '../../src/adapters/store/sqlite-store.ts';
import type { CandidateExample, ExampleSource } from '../../src/contracts/curation.ts';
import type { WorkerEvent } from '../../src/contracts/worker.ts';
import { mcnemarExact, wilsonInterval } from '../../src/core/statistics.ts';
import { classificationMessages } from '../../src/pipeline/prepare-data.ts';
import { demoConfig, SYSTEM_PROMPT, TASK } from './curated-pool.ts';

export { demoConfig, TASK };
export const LABELS = demoConfig.labels;

const SOURCES: readonly ExampleSource[] = ['synthetic', 'log', 'human'];
const PHRASES = ['my card has not arrived yet', 'how do I top up by bank transfer', 'I was charged twice for one purchase', 'why was my transfer declined', 'can I change my PIN at an ATM', 'the exchange rate I got looks wrong'];

/** The n-th seeded example: label, source and words cycle, so every filter has matches. */
export function seedExample(index: number): CandidateExample {
  const label = LABELS[index % LABELS.length]!;
  const input = `${PHRASES[index % PHRASES.length]} (case ${index})${index % 7 === 0 ? ' and I need it sorted out today, please, because rent is due tomorrow' : ''}`;
  return {
    input,
    answer: label,
    messages: classificationMessages(SYSTEM_PROMPT, input, label),
    source: SOURCES[index % SOURCES.length]!,
    tags: index % 10 === 0 ? ['seed'] : [],
    provenance: { file: 'seed.csv', line: index + 2 },
  };
}

/**
 * A temp workspace whose pool holds `count` examples (added in one transaction), the first `trainCount` ids split to
 * train, the next `eval` to eval, and a filter run that dropped a few train examples.
 */
export function seedDashboardWorkspace(count: number, options: { trainCount?: number; evalCount?: number } = {}): { workspace: string; store: Store; ids: number[] } {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-dashboard-'));
  const store = openStore(path.join(workspace, 'understudy.db'));
  store.curation.addBatch({ task: TASK, kind: 'import', source: { test: 'dashboard' }, examples: Array.from({ length: count }, (_, index) => seedExample(index)) });
  const ids = store.browse.poolPage(TASK, {}, { offset: 0, limit: 1 }).items.map((example) => example.id);
  const first = ids[0]!;
  const trainCount = Math.min(options.trainCount ?? Math.min(count, 200), count);
  const evalCount = Math.min(options.evalCount ?? Math.min(count - trainCount, 20), count - trainCount);
  const assignments = [
    ...Array.from({ length: trainCount }, (_, index) => ({ id: first + index, split: 'train' as const })),
    ...Array.from({ length: evalCount }, (_, index) => ({ id: first + trainCount + index, split: 'eval' as const })),
  ];
  store.curation.assignSplits(TASK, assignments, evalCount === 0 ? null : { exampleIds: assignments.filter((row) => row.split === 'eval').map((row) => row.id), rule: { test: true }, note: 'test' });
  // A filter run that dropped examples 3 and 4 of the train side (exact duplicates, say).
  const dropped = [first + 3, first + 4].filter((id) => id < first + trainCount);
  store.curation.saveFilterRun({
    task: TASK,
    settings: {},
    report: { before: trainCount, after: trainCount - dropped.length, steps: [{ step: 'exact-dedup', settings: {}, before: trainCount, dropped: dropped.length, after: trainCount - dropped.length, reasons: { 'same normalized input': dropped.length }, seconds: 0.01 }] },
    drops: dropped.map((exampleId) => ({ exampleId, step: 'exact-dedup', reason: 'same normalized input' })),
  });
  return { workspace, store, ids: Array.from({ length: count }, (_, index) => first + index) };
}

/** A registered dataset and base, and a run started on them, with a `started` event: events can be appended. */
export function startTestRun(store: Store): string {
  const dataset = store.registerDataset({ name: 'banking77-train', role: 'train', source: { test: true }, examples: [0, 1, 2].map((index) => { const example = seedExample(index); return { input: example.input, label: example.answer, messages: example.messages, provenance: example.provenance }; }) });
  store.registerBaseModel({ sha256: 'a'.repeat(64), name: 'smollm2-135m-instruct', path: '/models/smollm2.gguf', metadata: {} });
  const run = store.startRun({ datasetId: dataset.id, baseSha256: 'a'.repeat(64), method: 'sft', spec: { lora: { r: 8, alpha: 16, dropout: 0.1 }, training: { learningRate: 0.0002, epochs: 3, batchSize: 4 }, chatTemplateSha256: 'c'.repeat(64) } });
  const started: WorkerEvent = { event: 'started', command: 'train-sft', pid: 1234, device: 'cpu', torchVersion: '2.13.0' };
  store.appendRunEvent(run.id, started);
  return run.id;
}

/** A worker `progress` event at `step` (of 40), with a falling loss. */
export function progressEvent(step: number): WorkerEvent {
  return { event: 'progress', step, totalSteps: 40, epoch: step / 20, loss: 2.5 * Math.exp(-step / 12) + 0.3, learningRate: 0.0002, tokensPerSecond: 110, etaSeconds: (40 - step) * 2 };
}

/** A worker `eval` event at `step`. */
export function evalEvent(step: number, best: boolean): WorkerEvent {
  return { event: 'eval', step, evalLoss: 2.4 * Math.exp(-step / 14) + 0.45, accuracy: Math.min(0.9, step / 40), accuracySample: 32, best };
}

/** The candidates of `seedEvaluation`: the baseline answers 8 of 12 right, the tuned adapter 11. */
export const EVAL_CANDIDATES = [
  { name: 'prompted-zero-shot', describe: 'base model, zero-shot prompt', right: 8, costPer1000Usd: 0.42, latencyP50Ms: 310, latencyP95Ms: 520 },
  { name: 'tuned-adapter', describe: 'base model + LoRA adapter', right: 11, costPer1000Usd: 0.05, latencyP50Ms: 140, latencyP95Ms: 210 },
] as const;

/**
 * A stored evaluation saved through `store.saveEval` as `understudy eval` saves it: 12 eval examples, both candidates
 * right on the first 8, only the tuned adapter on 8-10, both giving the same wrong label on 11 (so 3 disagreements).
 */
export function seedEvaluation(store: Store): { evalId: string; datasetId: string; exampleIds: number[]; wrongLabel: (index: number) => string } {
  const examples = Array.from({ length: 12 }, (_, index) => seedExample(1000 + index));
  const dataset = store.registerDataset({ name: 'banking77-eval', role: 'eval', source: { test: true }, examples: examples.map((example) => ({ input: example.input, label: example.answer, messages: example.messages, provenance: example.provenance })) });
  const exampleIds = store.listExamples(dataset.id).map((example) => example.id);
  const wrongLabel = (index: number): string => LABELS[(LABELS.indexOf(examples[index]!.answer!) + 1) % LABELS.length]!;
  const correct = (candidate: (typeof EVAL_CANDIDATES)[number], index: number): boolean => index < candidate.right;
  const results = EVAL_CANDIDATES.flatMap((candidate) =>
    examples.map((example, index) => ({ candidate: candidate.name, exampleId: exampleIds[index]!, output: correct(candidate, index) ? example.answer! : wrongLabel(index), correct: correct(candidate, index), promptTokens: 120, completionTokens: 4, latencyMs: candidate.latencyP50Ms })),
  );
  const accuracy = (right: number) => {
    const { low, high } = wilsonInterval(right, examples.length);
    return { value: right / examples.length, low, high, interval: 'wilson' };
  };
  const test = mcnemarExact(examples.map((_, index) => correct(EVAL_CANDIDATES[0], index)), examples.map((_, index) => correct(EVAL_CANDIDATES[1], index)));
  const difference = (EVAL_CANDIDATES[1].right - EVAL_CANDIDATES[0].right) / examples.length;
  const saved = store.saveEval({
    datasetId: dataset.id,
    config: { candidates: EVAL_CANDIDATES.map((candidate) => ({ name: candidate.name, describe: candidate.describe, fingerprint: candidate.name })), baseline: EVAL_CANDIDATES[0].name, gate: null, decoding: 'greedy', scorers: [], pairwiseJudge: null },
    summary: {
      metrics: [{ id: 'accuracy', label: 'accuracy', kind: 'rate', description: 'the answer is the reference label' }],
      primaryMetric: 'accuracy',
      candidates: EVAL_CANDIDATES.map((candidate) => ({ name: candidate.name, describe: candidate.describe, fingerprint: candidate.name, n: examples.length, metrics: { accuracy: accuracy(candidate.right) }, accuracy: candidate.right / examples.length, accuracyInterval: accuracy(candidate.right), invalidAnswers: 0, promptTokensMean: 120, completionTokensMean: 4, latencyP50Ms: candidate.latencyP50Ms, latencyP95Ms: candidate.latencyP95Ms, costPer1000Usd: candidate.costPer1000Usd, cachedAnswers: 0 })),
      comparisons: [{ baseline: EVAL_CANDIDATES[0].name, candidate: EVAL_CANDIDATES[1].name, metrics: { accuracy: { difference, low: 0.02, high: 0.48, pValue: test.pValue, test: 'mcnemar' } }, holmPValue: test.pValue, accuracyDifference: { difference, low: 0.02, high: 0.48 }, mcnemar: test, sampleSize: null, bootstrapIterations: 1000 }],
      gate: { pass: true, candidate: EVAL_CANDIDATES[1].name, baseline: EVAL_CANDIDATES[0].name, metric: 'accuracy', minDifference: 0, difference, low: 0.02, high: 0.48, pValue: test.pValue, reason: 'the whole interval lies above 0 points' },
      scorers: [],
      pairwise: [],
    },
    results,
  });
  return { evalId: saved.id, datasetId: dataset.id, exampleIds, wrongLabel };
}
