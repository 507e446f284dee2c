import type { LoadedConfig } from '../adapters/config-file.ts';
import type { Store, StoredExample } from '../adapters/store/sqlite-store.ts';
import type { EvalCandidate, GateConfig } from '../contracts/config.ts';
import { confusionMatrix } from '../core/classification-metrics.ts';
import { InvalidInputError } from '../core/errors.ts';
import {
  compareMetric,
  estimateMetric,
  extractionDetails,
  extractionFieldsOf,
  extractionMetricInfos,
  extractionMetricSeries,
  LABEL_METRICS,
  labelMetricSeries,
  type MetricDifference,
  type MetricEstimate,
  type MetricInfo,
  type MetricSeries,
} from '../core/eval-metrics.ts';
import { extractionMetrics, type KeyMetrics, type PrecisionRecallF1 } from '../core/scorers.ts';
import { holmAdjust, mcnemarExact, mean, pairedSampleSize, percentile, sampleSizeSentence } from '../core/statistics.ts';
import { DEFAULT_EVAL_CANDIDATES, resolveEvalCandidates, runEvalCandidates, type EvalOutput, type ResolvedEvalCandidate } from './eval-candidates.ts';
import { runPairwiseJudge, runScorers, scorerMetricId, type PairwiseResult, type ScorerRun } from './eval-scorers.ts';
import { prepareClassificationData, prepareCuratedData, type PreparedData } from './prepare-data.ts';
import { resolveBaseChatTemplate, resolveBaseModel } from './run-slice.ts';

/** A candidate's metrics (each with its 95% interval), what it costs to run, and how fast it answers. */
export interface EvalCandidateResult {
  name: string;
  describe: string;
  fingerprint: string;
  n: number;
  /** Every metric of `EvalRunResult.metrics`, by id. */
  metrics: Record<string, MetricEstimate>;
  /** The task's exact check (label equals the reference; JSON equals it in every scored field) and its Wilson interval. */
  accuracy: number;
  accuracyInterval: { low: number; high: number };
  /** Answers outside the label set (label tasks) or not valid under the schema (JSON tasks). */
  invalidAnswers: number;
  promptTokensMean: number;
  completionTokensMean: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  /** Every answer's latency, in example order (for the distribution plot). */
  latenciesMs: number[];
  /** Mean priced cost per task × 1,000; null when some answers have no known price. */
  costPer1000Usd: number | null;
  /** Answers reused from the eval cache. */
  cachedAnswers: number;
}

/** One candidate against the baseline on every metric, with the p-value of the primary metric adjusted (Holm) for how many candidates were compared. */
export interface EvalComparison {
  baseline: string;
  candidate: string;
  /** Candidate minus baseline per metric id: paired bootstrap interval, McNemar (rates) or permutation (aggregates) p-value. */
  metrics: Record<string, MetricDifference>;
  /** The exact check's difference (= `metrics.accuracy` or `metrics.exactMatch`). */
  accuracyDifference: { difference: number; low: number; high: number };
  /** Exact McNemar test on the exact check: b01 baseline wrong and candidate right, b10 the reverse. */
  mcnemar: { b01: number; b10: number; pValue: number };
  /** The primary metric's p-value, Holm-adjusted over all comparisons with the baseline. */
  holmPValue: number;
  /** How many examples a paired comparison would need to detect this difference (or 3 points) at 80% power. */
  sampleSize: { examples: number; difference: number; sentence: string } | null;
  bootstrapIterations: number;
}

/** The go/no-go decision, in words a person can act on. */
export interface GateDecision {
  pass: boolean;
  candidate: string;
  baseline: string;
  metric: string;
  minDifference: number;
  difference: number;
  low: number;
  high: number;
  pValue: number;
  reason: string;
}

/** Per candidate, field-level extraction scores (JSON tasks with list or map fields). */
export interface ExtractionBreakdown {
  byField: Record<string, PrecisionRecallF1>;
  /** Per intent value and slot name. */
  perKey: KeyMetrics[];
  malformed: number;
}

export interface EvalRunResult {
  task: { name: string; kind: 'labels' | 'json-schema' };
  data: { source: 'config' | 'curated'; evalDatasetId: string; evalHash: string; examples: number };
  base: { name: string; sha256: string };
  baseline: string;
  /** The metrics reported, in table order: the task's, then each scorer's pass rate. */
  metrics: MetricInfo[];
  /** The metric Holm's correction and the plots lead with: the gate's metric, else accuracy (labels) or field F1 (JSON). */
  primaryMetric: string;
  candidates: EvalCandidateResult[];
  comparisons: EvalComparison[];
  gate: GateDecision | null;
  /** Confusion matrices (label tasks): gold rows, predicted columns, per candidate. */
  confusion: Record<string, { labels: string[]; counts: number[][] }>;
  /** JSON tasks: per candidate. */
  extraction: Record<string, ExtractionBreakdown>;
  scorers: Omit<ScorerRun, 'results' | 'info'>[];
  pairwise: PairwiseResult[];
  outputs: Map<string, EvalOutput[]>;
  /** Per candidate, per example (answer order): why the answer fell short (empty when it passed the exact check). */
  details: Map<string, string[]>;
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
  /** llama.cpp contexts of the embedded engine; default `evaluation.engineContexts`. */
  contexts?: number;
  threads?: number;
  signal?: AbortSignal;
  onMessage?: (message: string) => void;
  onProgress?: (candidate: string, done: number, total: number) => void;
}

/** The metrics a task reports before any scorer: label tasks accuracy and macro-F1; JSON tasks exact match, field F1s, schema validity. */
export function taskMetricInfos(loaded: LoadedConfig): MetricInfo[] {
  const output = loaded.config.task.output;
  return output.type === 'labels' ? [...LABEL_METRICS] : extractionMetricInfos(extractionFieldsOf(output.schema));
}

/**
 * `understudy eval`: every candidate answers the held-out set (cached by candidate and input), each is scored on the
 * task's metrics and every configured scorer, summarized with intervals (Wilson for rates, bootstrap for aggregates),
 * cost per 1,000 tasks and latency, and compared with the baseline on every metric (paired bootstrap interval; exact
 * McNemar for pass/fail, a paired permutation test for F1s; Holm over the comparisons); the gate decides.
 */
export async function runEvaluation(loaded: LoadedConfig, store: Store, options: EvalRunOptions = {}): Promise<EvalRunResult> {
  const started = performance.now();
  const { config, labels } = loaded;
  const output = config.task.output;
  const specs = selectSpecs(config.evaluation.candidates ?? DEFAULT_EVAL_CANDIDATES, options.only);
  const gate = options.gate ?? config.evaluation.gate;
  const baseline = options.baseline ?? gate?.baseline ?? specs[0]!.name;
  for (const [field, name] of [['baseline', baseline], ['gate.candidate', gate?.candidate], ['gate.baseline', gate?.baseline]] as const) {
    if (name !== undefined && !specs.some((spec) => spec.name === name)) {
      throw new InvalidInputError(`${field} ${JSON.stringify(name)} is not one of the candidates (${specs.map((spec) => spec.name).join(', ')})`, { file: loaded.file, field: `evaluation.${field}` });
    }
  }
  const metrics: MetricInfo[] = [...taskMetricInfos(loaded), ...config.evaluation.scorers.map((scorer): MetricInfo => ({ id: scorerMetricId(scorer.name), label: `${scorer.name} pass`, kind: 'rate', description: '' }))];
  if (gate !== undefined && !metrics.some((metric) => metric.id === gate.metric)) {
    throw new InvalidInputError(`the gate's metric ${JSON.stringify(gate.metric)} is not reported for this task`, { file: loaded.file, field: 'evaluation.gate.metric', hint: `choose one of: ${metrics.map((metric) => metric.id).join(', ')}` });
  }
  const exactId = output.type === 'labels' ? 'accuracy' : 'exactMatch';
  const primaryMetric = gate?.metric ?? (metrics.some((metric) => metric.id === 'fieldF1') ? 'fieldF1' : exactId);

  const base = await resolveBaseModel(loaded, options.onMessage);
  const chatTemplate = await resolveBaseChatTemplate(loaded, base);
  const data: PreparedData = options.data === 'curated' ? prepareCuratedData(loaded, store) : prepareClassificationData(loaded, store);
  const examples: StoredExample[] = data.eval.examples;
  const concurrency = options.concurrency ?? config.evaluation.concurrency;
  const contexts = options.contexts ?? config.evaluation.engineContexts;
  const layout = { ...(contexts === undefined ? {} : { contexts }), ...(options.threads === undefined ? {} : { threads: options.threads }) };
  const candidates: ResolvedEvalCandidate[] = resolveEvalCandidates({ loaded, store, base, chatTemplate, trainExamples: data.train.examples, sequences: concurrency, ...layout }, specs);
  for (const candidate of candidates) options.onMessage?.(`candidate ${candidate.name}: ${candidate.describe}`);

  const outputs = await runEvalCandidates({
    loaded,
    store,
    base,
    chatTemplate,
    trainExamples: data.train.examples,
    sequences: concurrency,
    ...layout,
    candidates,
    examples,
    concurrency,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });

  // The task's metrics per candidate; a JSON task's exact check is its exact match on the scored fields.
  const statistics = { iterations: config.evaluation.bootstrapIterations, seed: config.evaluation.seed };
  const series = new Map<string, MetricSeries[]>();
  const details = new Map<string, string[]>();
  const extraction: Record<string, ExtractionBreakdown> = {};
  for (const candidate of candidates) {
    const rows = outputs.get(candidate.name)!;
    const gold = rows.map((row) => row.gold);
    const predicted = rows.map((row) => row.output);
    if (output.type === 'labels') {
      series.set(candidate.name, labelMetricSeries(gold, predicted));
      details.set(candidate.name, rows.map((row) => (row.correct ? '' : `expected ${row.gold}`)));
    } else {
      const candidateSeries = extractionMetricSeries(output.schema, gold, predicted);
      const exact = candidateSeries.find((entry) => entry.info.id === 'exactMatch') as { passes: readonly boolean[] };
      rows.forEach((row, index) => (row.correct = exact.passes[index]!));
      series.set(candidate.name, candidateSeries);
      details.set(candidate.name, extractionDetails(output.schema, gold, predicted).map((verdict) => (verdict.pass ? '' : verdict.detail ?? 'differs from the reference')));
      const fields = extractionFieldsOf(output.schema);
      if (fields.listFields.length + fields.mapFields.length > 0) {
        const breakdown = extractionMetrics(gold.map((answer, index) => ({ gold: answer, predicted: predicted[index]! })), fields);
        extraction[candidate.name] = { byField: breakdown.byField, perKey: breakdown.perKey, malformed: breakdown.malformed };
      }
    }
  }

  // Extra scorers and the pairwise judge, over every candidate's answers.
  const scorerInput = { loaded, store, outputs, concurrency, ...statistics, ...(options.onMessage === undefined ? {} : { onMessage: options.onMessage }), ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }) };
  const scorerRuns = await runScorers({ ...scorerInput, scorers: config.evaluation.scorers });
  for (const run of scorerRuns) {
    metrics[metrics.findIndex((metric) => metric.id === run.info.id)] = run.info;
    for (const candidate of candidates) series.get(candidate.name)!.push({ info: run.info, passes: run.results.get(candidate.name)!.map((verdict) => verdict.pass) });
  }
  const pairwise = config.evaluation.pairwiseJudge === undefined ? [] : await runPairwiseJudge({ ...scorerInput, judge: config.evaluation.pairwiseJudge, baseline });

  const results: EvalCandidateResult[] = candidates.map((candidate) => {
    const rows = outputs.get(candidate.name)!;
    const costs = rows.map((row) => row.costUsd);
    const estimates = Object.fromEntries(series.get(candidate.name)!.map((entry) => [entry.info.id, estimateMetric(entry, statistics)]));
    const latencies = rows.map((row) => row.latencyMs);
    const labelSet = new Set(labels);
    return {
      name: candidate.name,
      describe: candidate.describe,
      fingerprint: candidate.fingerprint,
      n: rows.length,
      metrics: estimates,
      accuracy: estimates[exactId]!.value,
      accuracyInterval: { low: estimates[exactId]!.low, high: estimates[exactId]!.high },
      invalidAnswers: output.type === 'labels' ? rows.filter((row) => !labelSet.has(row.output)).length : rows.length - Math.round(estimates.schemaValid!.value * rows.length),
      promptTokensMean: mean(rows.map((row) => row.promptTokens)),
      completionTokensMean: mean(rows.map((row) => row.completionTokens)),
      latencyP50Ms: percentile(latencies, 50),
      latencyP95Ms: percentile(latencies, 95),
      latenciesMs: latencies,
      costPer1000Usd: costs.every((cost) => cost !== null) ? mean(costs as number[]) * 1000 : null,
      cachedAnswers: rows.filter((row) => row.cached).length,
    };
  });

  const compare = (baselineName: string, candidateName: string): Omit<EvalComparison, 'holmPValue' | 'sampleSize'> => {
    const a = series.get(baselineName)!;
    const b = series.get(candidateName)!;
    const byMetric = Object.fromEntries(a.map((entry, index) => [entry.info.id, compareMetric(entry, b[index]!, statistics)]));
    const exact = byMetric[exactId]!;
    const test = mcnemarExact(outputs.get(baselineName)!.map((row) => row.correct), outputs.get(candidateName)!.map((row) => row.correct));
    return {
      baseline: baselineName,
      candidate: candidateName,
      metrics: byMetric,
      accuracyDifference: { difference: exact.difference, low: exact.low, high: exact.high },
      mcnemar: { b01: test.b01, b10: test.b10, pValue: test.pValue },
      bootstrapIterations: statistics.iterations,
    };
  };
  const others = candidates.filter((candidate) => candidate.name !== baseline);
  const raw = others.map((candidate) => compare(baseline, candidate.name));
  const adjusted = holmAdjust(raw.map((comparison) => comparison.metrics[primaryMetric]!.pValue));
  const baselineAccuracy = results.find((result) => result.name === baseline)!.accuracy;
  const comparisons: EvalComparison[] = raw.map((comparison, index) => ({
    ...comparison,
    holmPValue: adjusted[index]!,
    sampleSize: sampleSizeFor(baselineAccuracy, comparison, examples.length, gate?.metric === exactId ? gate.minDifference : undefined),
  }));

  let decision: GateDecision | null = null;
  if (gate !== undefined) {
    const comparison = gate.baseline === baseline ? comparisons.find((entry) => entry.candidate === gate.candidate)! : compare(gate.baseline, gate.candidate);
    decision = decideGate(gate, comparison, metrics.find((metric) => metric.id === gate.metric)?.label);
  }

  const confusion: EvalRunResult['confusion'] = {};
  if (output.type === 'labels') {
    for (const candidate of candidates) {
      const rows = outputs.get(candidate.name)!;
      const matrix = confusionMatrix(rows.map((row) => row.gold), rows.map((row) => row.output), { labels });
      confusion[candidate.name] = { labels: [...matrix.labels], counts: matrix.counts.map((row) => [...row]) };
    }
  }

  const scorers = scorerRuns.map(({ results: _results, info: _info, ...rest }) => rest);
  const allRows = candidates.flatMap((candidate) => outputs.get(candidate.name)!);
  const saved = store.saveEval({
    datasetId: data.eval.dataset.id,
    config: { candidates: candidates.map((candidate) => ({ name: candidate.name, describe: candidate.describe, fingerprint: candidate.fingerprint })), baseline, gate: gate ?? null, decoding: 'greedy', scorers: config.evaluation.scorers, pairwiseJudge: config.evaluation.pairwiseJudge ?? null },
    summary: { metrics, primaryMetric, candidates: results.map(({ latenciesMs: _latencies, ...rest }) => rest), comparisons, gate: decision, scorers, pairwise },
    results: allRows.map(({ candidate, exampleId, output: answer, correct, promptTokens, completionTokens, latencyMs }) => ({ candidate, exampleId, output: answer, correct, promptTokens, completionTokens, latencyMs })),
  });
  return {
    task: { name: config.task.name, kind: output.type },
    data: { source: options.data ?? 'config', evalDatasetId: data.eval.dataset.id, evalHash: data.eval.dataset.contentHash, examples: examples.length },
    base: { name: base.name, sha256: base.sha256 },
    baseline,
    metrics,
    primaryMetric,
    candidates: results,
    comparisons,
    gate: decision,
    confusion,
    extraction,
    scorers,
    pairwise,
    outputs,
    details,
    evalId: saved.id,
    evalHash: saved.contentHash,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The paired sample size to detect the observed difference (at least the gate's margin, else 3 points) at 80%
 * power, with the discordant rate this evaluation observed; null when it cannot be estimated (accuracy at 0 or 1).
 */
function sampleSizeFor(baselineAccuracy: number, comparison: Pick<EvalComparison, 'accuracyDifference' | 'mcnemar'>, n: number, margin: number | undefined): EvalComparison['sampleSize'] {
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
export function decideGate(gate: GateConfig, comparison: Pick<EvalComparison, 'metrics'>, metricName: string = gate.metric): GateDecision {
  const interval = comparison.metrics[gate.metric];
  if (interval === undefined) throw new InvalidInputError(`the gate's metric ${JSON.stringify(gate.metric)} is not one of the compared metrics (${Object.keys(comparison.metrics).join(', ')})`, { field: 'evaluation.gate.metric' });
  const range = `95% interval ${points(interval.low)} to ${points(interval.high)}`;
  const required = gate.minDifference > 0 ? `the required ${points(gate.minDifference)}` : 'zero';
  const test = `${interval.test === 'mcnemar' ? 'McNemar' : 'permutation test'} p = ${interval.pValue.toPrecision(2)}`;
  const pass = interval.low > gate.minDifference;
  let reason: string;
  if (pass) reason = `GO: ${gate.candidate} beats ${gate.baseline} on ${metricName} by ${points(interval.difference)} (${range}; ${test}); the whole interval is above ${required}.`;
  else if (interval.high <= gate.minDifference) reason = `NO-GO: ${gate.candidate} is not better than ${gate.baseline} by ${required} on ${metricName}: the difference is ${points(interval.difference)} (${range}; ${test}).`;
  else if (interval.difference <= gate.minDifference) reason = `NO-GO: ${gate.candidate} shows no gain over ${gate.baseline} on ${metricName}: the difference is ${points(interval.difference)} (${range}; ${test}), not above ${required}.`;
  else reason = `NO-GO: ${gate.candidate} vs ${gate.baseline} on ${metricName} is ${points(interval.difference)}, but the ${range} reaches down to ${required} (${test}): on this many examples the gain may be noise. Evaluate more examples or keep the baseline.`;
  return { pass, candidate: gate.candidate, baseline: gate.baseline, metric: gate.metric, minDifference: gate.minDifference, difference: interval.difference, low: interval.low, high: interval.high, pValue: interval.pValue, reason };
}
