/**
 * Stored evaluations as the dashboard shows them: the list, one report (candidates side by side with their
 * intervals, the comparisons with the baseline, the gate, confusion matrices) and the examples the candidates
 * disagree on. Everything is read from what `understudy eval` saved (`eval_runs`, `eval_results`); nothing is re-run.
 */
import { z } from 'zod';
import type { LoadedConfig } from '../adapters/config-file.ts';
import type { BrowsedEvalRun } from '../adapters/store/browse-queries.ts';
import type { EvalResultRow, Store } from '../adapters/store/sqlite-store.ts';
import type { EvalDisagreementView, EvalRowView, EvalView, Page, PageQuery } from '../contracts/dashboard.ts';
import type { EvalRunResult } from './eval-run.ts';
import { confusionMatrix } from '../core/classification-metrics.ts';
import { UnderstudyError } from '../core/errors.ts';

const interval = { value: z.number(), low: z.number(), high: z.number() };

/** Only the fields of the stored summary the dashboard reads (see `runEvaluation`). */
const StoredSummarySchema = z.object({
  metrics: z.array(z.object({ id: z.string(), label: z.string(), kind: z.enum(['rate', 'aggregate']), description: z.string() })),
  primaryMetric: z.string(),
  candidates: z.array(
    z.object({
      name: z.string(),
      describe: z.string(),
      n: z.number(),
      metrics: z.record(z.string(), z.object(interval)),
      invalidAnswers: z.number(),
      costPer1000Usd: z.number().nullable(),
      latencyP50Ms: z.number(),
      latencyP95Ms: z.number(),
    }),
  ),
  comparisons: z.array(
    z.object({
      baseline: z.string(),
      candidate: z.string(),
      metrics: z.record(z.string(), z.object({ difference: z.number(), low: z.number(), high: z.number(), pValue: z.number() })),
      holmPValue: z.number(),
    }),
  ),
  gate: z.object({ pass: z.boolean(), candidate: z.string(), reason: z.string() }).nullable(),
});
type StoredSummary = z.infer<typeof StoredSummarySchema>;

const StoredConfigSchema = z.object({ baseline: z.string() });

function readStored(run: BrowsedEvalRun): { summary: StoredSummary; baseline: string } {
  const summary = StoredSummarySchema.safeParse(run.summary);
  const config = StoredConfigSchema.safeParse(run.config);
  if (!summary.success || !config.success) {
    const issue = (summary.error ?? config.error)?.issues[0];
    throw new UnderstudyError('StoredDataError', `the stored evaluation ${run.id} is not readable: ${issue === undefined ? 'unknown shape' : `${issue.path.join('.')}: ${issue.message}`}`);
  }
  return { summary: summary.data, baseline: config.data.baseline };
}

function rowView(run: BrowsedEvalRun): EvalRowView {
  const { summary, baseline } = readStored(run);
  const primary = summary.metrics.find((metric) => metric.id === summary.primaryMetric);
  let best: EvalRowView['best'] = null;
  for (const candidate of summary.candidates) {
    const value = candidate.metrics[summary.primaryMetric]?.value;
    if (value !== undefined && (best === null || value > best.value)) best = { candidate: candidate.name, value };
  }
  return {
    id: run.id,
    createdAt: run.createdAt,
    contentHash: run.contentHash,
    dataset: { id: run.datasetId, name: run.datasetName },
    examples: summary.candidates[0]?.n ?? 0,
    candidates: summary.candidates.map((candidate) => candidate.name),
    baseline,
    primaryMetric: primary?.label ?? summary.primaryMetric,
    best,
    gate: summary.gate === null ? null : { pass: summary.gate.pass, candidate: summary.gate.candidate, reason: summary.gate.reason },
  };
}

export function evalsPage(store: Store, query: PageQuery): Page<EvalRowView> {
  const { items, total } = store.browse.evalRunsPage(query);
  return { items: items.map(rowView), total, offset: query.offset, limit: query.limit };
}

/** Each example's answers, in the eval set's order, with the example's input and reference. */
function answersByExample(store: Store, run: BrowsedEvalRun): { exampleId: number; input: string; reference: string | null; answers: EvalResultRow[] }[] {
  const byExample = new Map<number, EvalResultRow[]>();
  for (const row of store.evalResults(run.id)) {
    const list = byExample.get(row.exampleId);
    if (list === undefined) byExample.set(row.exampleId, [row]);
    else list.push(row);
  }
  return store.listExamples(run.datasetId).flatMap((example) => {
    const answers = byExample.get(example.id);
    return answers === undefined ? [] : [{ exampleId: example.id, input: example.input, reference: example.label, answers }];
  });
}

const disagrees = (answers: readonly EvalResultRow[]): boolean => new Set(answers.map((answer) => answer.output.trim())).size > 1;

export function evalView(loaded: LoadedConfig, store: Store, id: string): EvalView | undefined {
  const run = store.browse.evalRun(id);
  if (run === undefined) return undefined;
  const { summary } = readStored(run);
  const examples = answersByExample(store, run);
  const labelTask = loaded.config.task.output.type === 'labels';
  let confusion: EvalView['confusion'] = null;
  if (labelTask) {
    const occurring = new Set<string>();
    for (const example of examples) {
      if (example.reference !== null) occurring.add(example.reference);
      for (const answer of example.answers) occurring.add(answer.output.trim());
    }
    const labels = [...occurring].sort();
    const byCandidate: Record<string, number[][]> = {};
    for (const candidate of summary.candidates) {
      const pairs = examples.flatMap((example) => {
        const answer = example.answers.find((row) => row.candidate === candidate.name);
        return answer === undefined || example.reference === null ? [] : [{ gold: example.reference, predicted: answer.output.trim() }];
      });
      byCandidate[candidate.name] = confusionMatrix(pairs.map((pair) => pair.gold), pairs.map((pair) => pair.predicted), { labels }).counts.map((row) => [...row]);
    }
    confusion = { labels, byCandidate };
  }
  return {
    ...rowView(run),
    taskKind: labelTask ? 'labels' : 'json-schema',
    primaryMetricId: summary.primaryMetric,
    metrics: summary.metrics,
    candidateResults: summary.candidates,
    comparisons: summary.comparisons,
    confusion,
    disagreements: examples.filter((example) => disagrees(example.answers)).length,
  };
}

/** The examples the candidates answered differently, in the eval set's order, a page at a time; undefined for an unknown eval. */
export function evalDisagreementsPage(store: Store, id: string, query: PageQuery): Page<EvalDisagreementView> | undefined {
  const run = store.browse.evalRun(id);
  if (run === undefined) return undefined;
  const { summary } = readStored(run);
  const order = summary.candidates.map((candidate) => candidate.name);
  const all = answersByExample(store, run).filter((example) => disagrees(example.answers));
  return {
    items: all.slice(query.offset, query.offset + query.limit).map((example) => ({
      exampleId: example.exampleId,
      input: example.input,
      reference: example.reference,
      answers: [...example.answers].sort((a, b) => order.indexOf(a.candidate) - order.indexOf(b.candidate)).map((answer) => ({ candidate: answer.candidate, output: answer.output, correct: answer.correct })),
    })),
    total: all.length,
    offset: query.offset,
    limit: query.limit,
  };
}

/** The fields of a stored candidate and gate that `EvalRunResult` needs beyond what the pages show. */
const StoredResultSchema = z.object({
  candidates: z.array(
    StoredSummarySchema.shape.candidates.element.extend({
      fingerprint: z.string(),
      metrics: z.record(z.string(), z.object({ ...interval, interval: z.enum(['wilson', 'bootstrap']) })),
      accuracy: z.number(),
      accuracyInterval: z.object({ low: z.number(), high: z.number() }),
      promptTokensMean: z.number(),
      completionTokensMean: z.number(),
      cachedAnswers: z.number(),
    }),
  ),
  gate: z
    .object({ pass: z.boolean(), candidate: z.string(), baseline: z.string(), metric: z.string(), minDifference: z.number(), difference: z.number(), low: z.number(), high: z.number(), pValue: z.number(), reason: z.string() })
    .nullable(),
});

/**
 * What the economics read of a stored evaluation (`buildEconomics`): its candidates, with their latencies from the
 * stored answers, and the gate.
 */
export function storedEvaluation(store: Store, run: BrowsedEvalRun): Pick<EvalRunResult, 'candidates' | 'gate'> {
  const parsed = StoredResultSchema.safeParse(run.summary);
  if (!parsed.success) throw new UnderstudyError('StoredDataError', `the stored evaluation ${run.id} is not readable: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
  const latencies = new Map<string, number[]>();
  for (const row of store.evalResults(run.id)) {
    const list = latencies.get(row.candidate);
    if (list === undefined) latencies.set(row.candidate, [row.latencyMs]);
    else list.push(row.latencyMs);
  }
  return {
    candidates: parsed.data.candidates.map((candidate) => ({ ...candidate, latenciesMs: latencies.get(candidate.name) ?? [] })),
    gate: parsed.data.gate,
  };
}
