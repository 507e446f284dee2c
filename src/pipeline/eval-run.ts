import type { LoadedConfig } from '../adapters/config-file.ts';
import type { Store, StoredExample } from '../adapters/store/sqlite-store.ts';
import type { EvalCandidate, GateConfig } from '../contracts/config.ts';
import { confusionMatrix } from '../core/classification-metrics.ts';
import { InvalidInputError } from '../core/errors.ts';
import { holmAdjust, mean, pairedSampleSize, sampleSizeSentence } from '../core/statistics.ts';
import { DEFAULT_EVAL_CANDIDATES, resolveEvalCandidates, runEvalCandidates, type EvalOutput, type ResolvedEvalCandidate } from './eval-candidates.ts';
import { compareCandidates, summarizeCandidate, type CandidateSummary, type Comparison } from './evaluate.ts';
import { prepareClassificationData, prepareCuratedData, type PreparedData } from './prepare-data.ts';
import { resolveBaseChatTemplate, resolveBaseModel } from './run-slice.ts';

/** A candidate's summary plus what it costs to run. */
export interface EvalCandidateResult extends CandidateSummary {
  describe: string;
  fingerprint: string;
  /** Mean priced cost per task × 1,000; null when some answers have no known price. */
  costPer1000Usd: number | null;
  /** Answers reused from the eval cache. */
  cachedAnswers: number;
}

/** One candidate against the baseline, with the p-value adjusted (Holm) for how many candidates were compared. */
export interface EvalComparison extends Comparison {
  holmPValue: number;
  /** How many examples a paired comparison would need to detect this difference (or 3 points) at 80% power. */
  sampleSize: { examples: number; difference: number; sentence: string } | null;
}

/** The go/no-go decision, in words a person can act on. */
export interface GateDecision {
  pass: boolean;
  candidate: string;
  baseline: string;
  metric: GateConfig['metric'];
  minDifference: number;
  difference: number;
  low: number;
  high: number;
  reason: string;
}

export interface EvalRunResult {
  data: { source: 'config' | 'curated'; evalDatasetId: string; evalHash: string; examples: number };
  base: { name: string; sha256: string };
  baseline: string;
  candidates: EvalCandidateResult[];
  comparisons: EvalComparison[];
  gate: GateDecision | null;
  /** Confusion matrices (label tasks): gold rows, predicted columns, per candidate. */
  confusion: Record<string, { labels: string[]; counts: number[][] }>;
  outputs: Map<string, EvalOutput[]>;
  evalId: string;
  evalHash: string;
  seconds: number;
}

export interface EvalRunOptions {
  /** `config`: the held-out sample of the config's eval file; `curated`: the pool's frozen held-out set. */
  data?: 'config' | 'curated';
  /** Candidate names to run (a subset of the configured ones). */
  only?: readonly string[];
  /** The baseline all others are compared with; default: the gate's baseline, else the first candidate. */
  baseline?: string;
  gate?: GateConfig;
  concurrency?: number;
  threads?: number;
  signal?: AbortSignal;
  onMessage?: (message: string) => void;
  onProgress?: (candidate: string, done: number, total: number) => void;
}

/**
 * `understudy eval`: every candidate answers the held-out set (cached by candidate and input), each is summarized
 * with Wilson intervals, cost per 1,000 tasks and latency, each is compared with the baseline (paired bootstrap on
 * accuracy and macro-F1, exact McNemar, Holm-adjusted over the comparisons), and the gate decides.
 */
export async function runEvaluation(loaded: LoadedConfig, store: Store, options: EvalRunOptions = {}): Promise<EvalRunResult> {
  const started = performance.now();
  const { config, labels } = loaded;
  if (config.task.output.type !== 'labels') throw new InvalidInputError('`understudy eval` scores label-set tasks for now', { file: loaded.file, field: 'task.output.type' });
  const specs = selectSpecs(config.evaluation.candidates ?? DEFAULT_EVAL_CANDIDATES, options.only);
  const gate = options.gate ?? config.evaluation.gate;
  const baseline = options.baseline ?? gate?.baseline ?? specs[0]!.name;
  for (const [field, name] of [['baseline', baseline], ['gate.candidate', gate?.candidate], ['gate.baseline', gate?.baseline]] as const) {
    if (name !== undefined && !specs.some((spec) => spec.name === name)) {
      throw new InvalidInputError(`${field} ${JSON.stringify(name)} is not one of the candidates (${specs.map((spec) => spec.name).join(', ')})`, { file: loaded.file, field: `evaluation.${field}` });
    }
  }

  const base = await resolveBaseModel(loaded, options.onMessage);
  const chatTemplate = await resolveBaseChatTemplate(loaded, base);
  const data: PreparedData = options.data === 'curated' ? prepareCuratedData(loaded, store) : prepareClassificationData(loaded, store);
  const examples: StoredExample[] = data.eval.examples;
  const candidates: ResolvedEvalCandidate[] = resolveEvalCandidates({ loaded, store, base, chatTemplate, trainExamples: data.train.examples }, specs);
  for (const candidate of candidates) options.onMessage?.(`candidate ${candidate.name}: ${candidate.describe}`);

  const outputs = await runEvalCandidates({
    loaded,
    store,
    base,
    chatTemplate,
    trainExamples: data.train.examples,
    candidates,
    examples,
    concurrency: options.concurrency ?? config.evaluation.concurrency,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });

  const results: EvalCandidateResult[] = candidates.map((candidate) => {
    const rows = outputs.get(candidate.name)!;
    const costs = rows.map((row) => row.costUsd);
    return {
      ...summarizeCandidate(candidate.name, rows, labels),
      describe: candidate.describe,
      fingerprint: candidate.fingerprint,
      costPer1000Usd: costs.every((cost) => cost !== null) ? mean(costs as number[]) * 1000 : null,
      cachedAnswers: rows.filter((row) => row.cached).length,
    };
  });
  const baselineRows = outputs.get(baseline)!;
  const others = candidates.filter((candidate) => candidate.name !== baseline);
  const raw = others.map((candidate) => compareCandidates(baselineRows, outputs.get(candidate.name)!, { iterations: config.evaluation.bootstrapIterations, seed: config.evaluation.seed }));
  const adjusted = holmAdjust(raw.map((comparison) => comparison.mcnemar.pValue));
  const baselineAccuracy = results.find((result) => result.name === baseline)!.accuracy;
  const comparisons: EvalComparison[] = raw.map((comparison, index) => ({
    ...comparison,
    holmPValue: adjusted[index]!,
    sampleSize: sampleSizeFor(baselineAccuracy, comparison, examples.length, gate?.minDifference),
  }));

  let decision: GateDecision | null = null;
  if (gate !== undefined) {
    const gateRows = outputs.get(gate.baseline)!;
    const comparison = gate.baseline === baseline
      ? comparisons.find((entry) => entry.candidate === gate.candidate)!
      : compareCandidates(gateRows, outputs.get(gate.candidate)!, { iterations: config.evaluation.bootstrapIterations, seed: config.evaluation.seed });
    decision = decideGate(gate, comparison);
  }

  const confusion: EvalRunResult['confusion'] = {};
  for (const candidate of candidates) {
    const rows = outputs.get(candidate.name)!;
    const matrix = confusionMatrix(rows.map((row) => row.gold), rows.map((row) => row.output), { labels });
    confusion[candidate.name] = { labels: [...matrix.labels], counts: matrix.counts.map((row) => [...row]) };
  }

  const allRows = candidates.flatMap((candidate) => outputs.get(candidate.name)!);
  const saved = store.saveEval({
    datasetId: data.eval.dataset.id,
    config: { candidates: candidates.map((candidate) => ({ name: candidate.name, describe: candidate.describe, fingerprint: candidate.fingerprint })), baseline, gate: gate ?? null, decoding: 'greedy' },
    summary: { candidates: results, comparisons, gate: decision },
    results: allRows.map(({ candidate, exampleId, output, correct, promptTokens, completionTokens, latencyMs }) => ({ candidate, exampleId, output, correct, promptTokens, completionTokens, latencyMs })),
  });
  return {
    data: { source: options.data ?? 'config', evalDatasetId: data.eval.dataset.id, evalHash: data.eval.dataset.contentHash, examples: examples.length },
    base: { name: base.name, sha256: base.sha256 },
    baseline,
    candidates: results,
    comparisons,
    gate: decision,
    confusion,
    outputs,
    evalId: saved.id,
    evalHash: saved.contentHash,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The paired sample size to detect the observed difference (at least the gate's margin, else 3 points) at 80%
 * power, with the discordant rate this evaluation observed; null when it cannot be estimated (accuracy at 0 or 1).
 */
function sampleSizeFor(baselineAccuracy: number, comparison: Comparison, n: number, margin: number | undefined): EvalComparison['sampleSize'] {
  const observed = Math.abs(comparison.accuracyDifference.difference);
  const magnitude = Math.max(observed, margin ?? 0, observed === 0 ? 0.03 : 0);
  const sign = comparison.accuracyDifference.difference < 0 ? -1 : 1;
  const difference = sign * magnitude;
  if (baselineAccuracy + difference < 0 || baselineAccuracy + difference > 1) return null;
  const discordant = (comparison.mcnemar.b01 + comparison.mcnemar.b10) / Math.max(1, n);
  try {
    const estimate = pairedSampleSize({ baselineAccuracy, difference, ...(discordant >= magnitude ? { discordantRate: discordant } : {}) });
    return { examples: estimate.examples, difference, sentence: sampleSizeSentence(estimate) };
  } catch {
    return null;
  }
}

function selectSpecs(specs: readonly EvalCandidate[], only: readonly string[] | undefined): EvalCandidate[] {
  if (only === undefined || only.length === 0) return [...specs];
  const missing = only.filter((name) => !specs.some((spec) => spec.name === name));
  if (missing.length > 0) throw new InvalidInputError(`unknown candidate ${missing.map((name) => JSON.stringify(name)).join(', ')}; configured: ${specs.map((spec) => spec.name).join(', ')}`, { field: '--candidates' });
  return specs.filter((spec) => only.includes(spec.name));
}

const points = (value: number): string => `${(value * 100).toFixed(1)} points`;

/**
 * Go only when the whole interval of the difference lies above the required margin: a candidate that is better on
 * this sample but whose interval reaches the margin may be no better at all.
 */
export function decideGate(gate: GateConfig, comparison: Comparison): GateDecision {
  const interval = gate.metric === 'accuracy' ? comparison.accuracyDifference : comparison.macroF1Difference;
  const metricName = gate.metric === 'accuracy' ? 'accuracy' : 'macro-F1';
  const range = `95% interval ${points(interval.low)} to ${points(interval.high)}`;
  const required = gate.minDifference > 0 ? `the required ${points(gate.minDifference)}` : 'zero';
  const pass = interval.low > gate.minDifference;
  let reason: string;
  if (pass) reason = `GO: ${gate.candidate} beats ${gate.baseline} on ${metricName} by ${points(interval.difference)} (${range}); the whole interval is above ${required}.`;
  else if (interval.high <= gate.minDifference) reason = `NO-GO: ${gate.candidate} is not better than ${gate.baseline} by ${required} on ${metricName}: the difference is ${points(interval.difference)} (${range}).`;
  else reason = `NO-GO: ${gate.candidate} vs ${gate.baseline} on ${metricName} is ${points(interval.difference)}, but the ${range} reaches down to ${required}: on this many examples the gain may be noise. Evaluate more examples or keep the baseline.`;
  return { pass, candidate: gate.candidate, baseline: gate.baseline, metric: gate.metric, minDifference: gate.minDifference, difference: interval.difference, low: interval.low, high: interval.high, reason };
}
