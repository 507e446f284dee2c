/**
 * The metrics an evaluation reports, for any task: each is either a rate (a per-example pass/fail: accuracy, exact
 * match, schema validity, a scorer's pass rate) or an aggregate that is not a mean of per-example values (macro-F1,
 * field-level micro-F1). A rate gets a Wilson interval and, against a baseline, a paired bootstrap interval on the
 * difference and an exact McNemar test; an aggregate gets a bootstrap interval and, against a baseline, a paired
 * bootstrap interval on the difference and a paired permutation test. Pure: no I/O.
 */
import { macroF1 } from './classification-metrics.ts';
import { extractionScorer, extractionScores, type ExtractionCounts, type ExtractionOptions, extractionMetrics, jsonSchemaScorer } from './scorers.ts';
import { mcnemarExact, pairedBootstrap, pairedBootstrapOverIndices, pairedPermutationTest, wilsonInterval } from './statistics.ts';

/** What a metric is, for tables and plots. */
export interface MetricInfo {
  id: string;
  /** Short name for a column header: `accuracy`, `field F1`, `regex:iban pass`. */
  label: string;
  kind: 'rate' | 'aggregate';
  /** One sentence: what it measures. */
  description: string;
}

/** One candidate's value of one metric with its 95% interval. */
export interface MetricEstimate {
  value: number;
  low: number;
  high: number;
  /** `wilson` for rates, `bootstrap` (percentile) for aggregates. */
  interval: 'wilson' | 'bootstrap';
}

/** Candidate minus baseline on one metric, paired over the same examples. */
export interface MetricDifference {
  difference: number;
  low: number;
  high: number;
  /** Two-sided p-value of "no difference". */
  pValue: number;
  /** `mcnemar` (exact, on paired pass/fail) for rates; `permutation` (paired, approximate randomization) for aggregates. */
  test: 'mcnemar' | 'permutation';
}

/**
 * A metric's per-example material for one candidate. A rate holds each example's pass; an aggregate computes its value
 * over example indices (with repeats, as a bootstrap draws them) and, for the permutation test, with some examples'
 * outputs taken from another candidate.
 */
export type MetricSeries =
  | { info: MetricInfo; passes: readonly boolean[] }
  | { info: MetricInfo; aggregate: AggregateSeries };

/** An aggregate metric's per-example parts for one candidate. */
export interface AggregateSeries {
  /** Number of examples. */
  n: number;
  /** The metric over `indices` (all examples when undefined). */
  over(indices?: readonly number[]): number;
  /** The metric over all examples when example i's part comes from `other` where `swapped[i]`. */
  mixed(other: AggregateSeries, swapped: readonly boolean[]): number;
}

export interface StatisticsOptions {
  iterations: number;
  seed: number;
}

/** One candidate's estimate of a metric. */
export function estimateMetric(series: MetricSeries, options: StatisticsOptions): MetricEstimate {
  if ('passes' in series) {
    const successes = series.passes.filter(Boolean).length;
    const interval = wilsonInterval(successes, series.passes.length);
    return { value: series.passes.length === 0 ? 0 : successes / series.passes.length, low: interval.low, high: interval.high, interval: 'wilson' };
  }
  const n = exampleCount(series);
  const result = pairedBootstrapOverIndices({ n, metric: (indices) => series.aggregate.over(indices), iterations: options.iterations, seed: options.seed });
  return { value: result.difference, low: result.low, high: result.high, interval: 'bootstrap' };
}

/** Candidate minus baseline on one metric: paired bootstrap interval, and McNemar (rates) or a permutation test (aggregates). */
export function compareMetric(baseline: MetricSeries, candidate: MetricSeries, options: StatisticsOptions): MetricDifference {
  if ('passes' in baseline && 'passes' in candidate) {
    if (baseline.passes.length !== candidate.passes.length) throw new RangeError('paired metrics need the same examples');
    const interval = pairedBootstrap({ a: baseline.passes.map(Number), b: candidate.passes.map(Number), iterations: options.iterations, seed: options.seed });
    const test = mcnemarExact(baseline.passes, candidate.passes);
    return { difference: interval.difference, low: interval.low, high: interval.high, pValue: test.pValue, test: 'mcnemar' };
  }
  if (!('aggregate' in baseline) || !('aggregate' in candidate)) throw new RangeError(`metric ${baseline.info.id} is a rate for one candidate and an aggregate for the other`);
  const a = baseline.aggregate;
  const b = candidate.aggregate;
  const n = exampleCount(baseline);
  const interval = pairedBootstrapOverIndices({ n, metric: (indices) => b.over(indices) - a.over(indices), iterations: options.iterations, seed: options.seed });
  const permutation = pairedPermutationTest({ n, statistic: (swapped) => b.mixed(a, swapped) - a.mixed(b, swapped), iterations: options.iterations, seed: options.seed });
  return { difference: interval.difference, low: interval.low, high: interval.high, pValue: permutation.pValue, test: 'permutation' };
}

function exampleCount(series: MetricSeries): number {
  return 'passes' in series ? series.passes.length : series.aggregate.n;
}

/** Macro-F1 over the label set (labels outside it count as wrong). */
export function macroF1Series(gold: readonly string[], predicted: readonly string[]): AggregateSeries {
  const parts = { gold, predicted };
  const self: AggregateSeries & { parts: typeof parts } = {
    n: gold.length,
    parts,
    over: (indices) => (indices === undefined ? macroF1(gold, predicted) : macroF1(indices.map((index) => gold[index]!), indices.map((index) => predicted[index]!))),
    mixed: (other, swapped) => {
      const otherPredicted = (other as typeof self).parts.predicted;
      return macroF1(gold, predicted.map((value, index) => (swapped[index] ? otherPredicted[index]! : value)));
    },
  };
  return self;
}

/** Micro-F1 from per-example true/false positive and negative counts (field-level extraction F1). */
export function microF1Series(counts: readonly ExtractionCounts[]): AggregateSeries {
  const self: AggregateSeries & { counts: readonly ExtractionCounts[] } = {
    n: counts.length,
    counts,
    over: (indices) => extractionScores(counts, indices).f1,
    mixed: (other, swapped) => {
      const otherCounts = (other as typeof self).counts;
      return extractionScores(counts.map((entry, index) => (swapped[index] ? otherCounts[index]! : entry))).f1;
    },
  };
  return self;
}

/** The metrics of a label-set task: accuracy (exact label) and macro-F1. */
export function labelMetricSeries(gold: readonly string[], predicted: readonly string[]): MetricSeries[] {
  return [
    { info: LABEL_METRICS[0]!, passes: predicted.map((value, index) => value === gold[index]) },
    { info: LABEL_METRICS[1]!, aggregate: macroF1Series(gold, predicted) },
  ];
}

export const LABEL_METRICS: readonly MetricInfo[] = [
  { id: 'accuracy', label: 'accuracy', kind: 'rate', description: 'share of answers equal to the reference label' },
  { id: 'macroF1', label: 'macro-F1', kind: 'aggregate', description: 'F1 per label, averaged over labels with equal weight' },
];

/** The fields of an extraction answer that are scored: arrays are list fields, objects are map fields (from the task's JSON schema). */
export function extractionFieldsOf(schema: Record<string, unknown>): Required<ExtractionOptions> {
  const properties = (schema.properties ?? {}) as Record<string, { type?: unknown }>;
  const listFields = Object.entries(properties).filter(([, value]) => value?.type === 'array').map(([name]) => name);
  const mapFields = Object.entries(properties).filter(([, value]) => value?.type === 'object').map(([name]) => name);
  return { listFields, mapFields };
}

/** Metric infos of a JSON task, in report order. */
export function extractionMetricInfos(fields: Required<ExtractionOptions>): MetricInfo[] {
  const all = [...fields.listFields, ...fields.mapFields];
  return [
    { id: 'exactMatch', label: 'exact match', kind: 'rate', description: 'share of answers whose every scored field equals the reference' },
    ...(all.length > 0 ? [{ id: 'fieldF1', label: 'field F1', kind: 'aggregate' as const, description: `micro-F1 over every item of ${all.join(' and ')} (list values; name=value pairs)` }] : []),
    ...(all.length > 1 ? all.map((field) => ({ id: `${field}F1`, label: `${field} F1`, kind: 'aggregate' as const, description: `micro-F1 over the items of ${field}` })) : []),
    { id: 'schemaValid', label: 'schema-valid', kind: 'rate', description: 'share of answers that are JSON valid under the task\'s schema' },
  ];
}

/**
 * The metrics of a JSON task: exact match of the scored fields, field-level micro-F1 (all fields, and per field
 * when there are several), and schema validity. Without list or map fields, exact match is JSON equality.
 */
export function extractionMetricSeries(schema: Record<string, unknown>, gold: readonly string[], predicted: readonly string[]): MetricSeries[] {
  const fields = extractionFieldsOf(schema);
  const infos = extractionMetricInfos(fields);
  const info = (id: string): MetricInfo => infos.find((entry) => entry.id === id)!;
  const validity = jsonSchemaScorer(schema);
  const schemaValid = predicted.map((output) => validity(output, '', { input: '' }).pass);
  const all = [...fields.listFields, ...fields.mapFields];
  if (all.length === 0) {
    const equal = predicted.map((output, index) => jsonEqual(output, gold[index]!));
    return [{ info: info('exactMatch'), passes: equal }, { info: info('schemaValid'), passes: schemaValid }];
  }
  const metrics = extractionMetrics(gold.map((answer, index) => ({ gold: answer, predicted: predicted[index]! })), fields);
  const series: MetricSeries[] = [
    { info: info('exactMatch'), passes: metrics.perExample.map((entry) => entry.exactMatch) },
    { info: info('fieldF1'), aggregate: microF1Series(metrics.perExample.map((entry) => entry.total)) },
  ];
  if (all.length > 1) for (const field of all) series.push({ info: info(`${field}F1`), aggregate: microF1Series(metrics.perExample.map((entry) => entry.byField[field]!)) });
  series.push({ info: info('schemaValid'), passes: schemaValid });
  return series;
}

/** Per-example extraction verdicts (for the disagreement view): F1 and what is wrong. */
export function extractionDetails(schema: Record<string, unknown>, gold: readonly string[], predicted: readonly string[]): { score: number; pass: boolean; detail?: string }[] {
  const fields = extractionFieldsOf(schema);
  if (fields.listFields.length + fields.mapFields.length === 0) return predicted.map((output, index) => ({ score: jsonEqual(output, gold[index]!) ? 1 : 0, pass: jsonEqual(output, gold[index]!) }));
  const scorer = extractionScorer(fields);
  return predicted.map((output, index) => scorer(output, gold[index]!, { input: '' }));
}

function jsonEqual(left: string, right: string): boolean {
  try {
    return canonicalJson(JSON.parse(left)) === canonicalJson(JSON.parse(right));
  } catch {
    return false;
  }
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
