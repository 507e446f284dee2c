/**
 * The extra scorers of `understudy eval` (regex, contains, a custom JavaScript module, an LLM rubric judge) and the
 * pairwise LLM judge, run over every candidate's answers. Judge verdicts are cached like answers (by the judge's
 * fingerprint and the judged text), so re-running a report makes no judge call twice.
 */
import path from 'node:path';
import type { LoadedConfig } from '../adapters/config-file.ts';
import { loadCustomScorer } from '../adapters/custom-scorer.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { EvalScorer, PairwiseJudgeConfig } from '../contracts/config.ts';
import type { ChatResult } from '../contracts/provider.ts';
import { contentHash } from '../core/content-hash.ts';
import type { MetricInfo } from '../core/eval-metrics.ts';
import { mapConcurrently } from '../core/map-concurrently.ts';
import { containsScorer, judgeAgreement, regexScorer, summarizePairwise, type AsyncScorer, type JudgeAgreement, type PairwiseSummary, type PairwiseWinner, type ScoreResult } from '../core/scorers.ts';
import { mcnemarExact, pairedBootstrapOverIndices } from '../core/statistics.ts';
import type { EvalOutput } from './eval-candidates.ts';
import { pairwiseJudge, rubricJudge } from './judge-scorers.ts';
import { selectTeacher, type TeacherModel } from './teacher-provider.ts';

/** One scorer's verdicts on every candidate's answers. */
export interface ScorerRun {
  name: string;
  kind: EvalScorer['kind'];
  info: MetricInfo;
  /** Per candidate, one verdict per example, in the order of the answers. */
  results: Map<string, ScoreResult[]>;
  /** Judge calls made now (not from the cache), and their priced cost (null when some call has no known price). */
  calls: number;
  costUsd: number | null;
  /**
   * LLM judges only: how often the judge's pass agrees with the human reference (the held-out set's gold answer, by
   * the task's exact check), over every candidate's answers, with Cohen's kappa.
   */
  agreementWithReference?: JudgeAgreement;
}

/** A pairwise judge's verdicts: a candidate against the baseline. */
export interface PairwiseResult extends PairwiseSummary {
  baseline: string;
  candidate: string;
  /** The candidate's win rate (ties count half) with its paired bootstrap 95% interval. */
  winRate: { value: number; low: number; high: number };
  /** Exact two-sided sign test on wins vs losses (ties left out): the McNemar test on the discordant verdicts. */
  pValue: number;
  calls: number;
  costUsd: number | null;
}

export const scorerMetricId = (name: string): string => `scorer:${name}`;

interface RunInput {
  loaded: LoadedConfig;
  store: Store;
  outputs: ReadonlyMap<string, readonly EvalOutput[]>;
  concurrency: number;
  iterations: number;
  seed: number;
  onMessage?: (message: string) => void;
  onProgress?: (label: string, done: number, total: number) => void;
}

/** Run every configured scorer over every candidate's answers. */
export async function runScorers(input: RunInput & { scorers: readonly EvalScorer[] }): Promise<ScorerRun[]> {
  const runs: ScorerRun[] = [];
  for (const [index, spec] of input.scorers.entries()) {
    const field = `evaluation.scorers.${index}`;
    if (input.scorers.findIndex((other) => other.name === spec.name) !== index) {
      throw new Error(`two scorers are named ${JSON.stringify(spec.name)} (${field}.name)`);
    }
    runs.push(await runScorer(input, spec, field));
  }
  return runs;
}

function describeScorer(spec: EvalScorer): string {
  switch (spec.kind) {
    case 'regex':
      return `answer matches /${spec.pattern}/${spec.flags ?? ''}`;
    case 'contains':
      return spec.value === undefined ? 'answer contains the reference answer' : `answer contains ${JSON.stringify(spec.value)}`;
    case 'custom':
      return `custom scorer ${spec.module} passes (score ≥ ${spec.passThreshold})`;
    case 'judge':
      return `LLM judge (${spec.provider}) rates ≥ ${spec.passRating}/5 on: ${spec.rubric.length > 80 ? `${spec.rubric.slice(0, 79)}…` : spec.rubric}`;
  }
}

async function runScorer(input: RunInput, spec: EvalScorer, field: string): Promise<ScorerRun> {
  const { loaded } = input;
  const info: MetricInfo = { id: scorerMetricId(spec.name), label: `${spec.name} pass`, kind: 'rate', description: describeScorer(spec) };
  const results = new Map<string, ScoreResult[]>();
  if (spec.kind === 'regex' || spec.kind === 'contains') {
    const scorer = spec.kind === 'regex'
      ? regexScorer({ pattern: spec.pattern, ...(spec.flags === undefined ? {} : { flags: spec.flags }), file: loaded.file, field })
      : containsScorer({ ...(spec.value === undefined ? {} : { value: spec.value }), caseSensitive: spec.caseSensitive, file: loaded.file, field });
    for (const [candidate, rows] of input.outputs) results.set(candidate, rows.map((row) => scorer(row.output, row.gold, { id: row.exampleId, input: row.input })));
    return { name: spec.name, kind: spec.kind, info, results, calls: 0, costUsd: 0 };
  }
  if (spec.kind === 'custom') {
    const scorer: AsyncScorer = await loadCustomScorer(path.resolve(loaded.directory, spec.module), { passThreshold: spec.passThreshold, field: `${field}.module` });
    for (const [candidate, rows] of input.outputs) {
      results.set(candidate, await mapConcurrently(rows, input.concurrency, (row) => scorer(row.output, row.gold, { id: row.exampleId, input: row.input })));
    }
    return { name: spec.name, kind: spec.kind, info, results, calls: 0, costUsd: 0 };
  }

  // An LLM rubric judge: verdicts cached by the judge's fingerprint and the judged (input, reference, answer).
  const fingerprint = judgeFingerprint(loaded, spec.provider, { kind: 'rubric', rubric: spec.rubric, passRating: spec.passRating, explain: spec.explain, maxTokens: spec.maxTokens });
  const keyOf = (row: EvalOutput): string => contentHash({ input: row.input, gold: row.gold, output: row.output });
  let judge: TeacherModel | undefined;
  let calls = 0;
  const costs: (number | null)[] = [];
  try {
    for (const [candidate, rows] of input.outputs) {
      let done = 0;
      const verdicts = await mapConcurrently(rows, input.concurrency, async (row): Promise<ScoreResult> => {
        const cached = input.store.cachedEvalOutput(fingerprint, keyOf(row));
        let verdict: ScoreResult;
        if (cached !== undefined) verdict = JSON.parse(cached.output) as ScoreResult;
        else {
          judge ??= await selectTeacher(loaded, spec.provider, { onMessage: (message) => input.onMessage?.(`judge ${spec.name}: ${message}`) });
          const rate = rubricJudge({ provider: judge.provider, ...(judge.requestModel === undefined ? {} : { model: judge.requestModel }), rubric: spec.rubric, passRating: spec.passRating as 1 | 2 | 3 | 4 | 5, explain: spec.explain, maxTokens: spec.maxTokens });
          const judgement = await rate(row.output, row.gold, { id: row.exampleId, input: row.input });
          verdict = { score: judgement.score, pass: judgement.pass, detail: judgement.reasoning === '' ? judgement.detail ?? '' : `${judgement.detail ?? ''}: ${judgement.reasoning}` };
          calls += 1;
          costs.push(priced(judgement.call));
          input.store.cacheEvalOutput({ fingerprint, inputHash: keyOf(row), output: JSON.stringify(verdict), usage: judgement.call.usage, cost: judgement.call.cost, latencyMs: judgement.call.latency.totalMs });
        }
        done += 1;
        input.onProgress?.(`judge ${spec.name} on ${candidate}`, done, rows.length);
        return verdict;
      });
      results.set(candidate, verdicts);
    }
  } finally {
    await judge?.close();
  }
  const judged = [...input.outputs].flatMap(([candidate, rows]) => rows.map((row, index) => ({ row, verdict: results.get(candidate)![index]! }))).filter(({ row }) => row.gold !== '');
  return {
    name: spec.name,
    kind: spec.kind,
    info,
    results,
    calls,
    costUsd: sumCosts(costs),
    ...(judged.length === 0 ? {} : { agreementWithReference: judgeAgreement(judged.map(({ verdict }) => verdict.pass), judged.map(({ row }) => row.correct)) }),
  };
}

/** Every candidate but the baseline against the baseline, by the pairwise judge in both orders. */
export async function runPairwiseJudge(input: RunInput & { judge: PairwiseJudgeConfig; baseline: string }): Promise<PairwiseResult[]> {
  const { loaded } = input;
  const fingerprint = judgeFingerprint(loaded, input.judge.provider, { kind: 'pairwise', criteria: input.judge.criteria, explain: input.judge.explain, maxTokens: input.judge.maxTokens });
  const baselineRows = input.outputs.get(input.baseline)!;
  let judge: TeacherModel | undefined;
  const results: PairwiseResult[] = [];
  try {
    for (const [candidate, rows] of input.outputs) {
      if (candidate === input.baseline) continue;
      let calls = 0;
      const costs: (number | null)[] = [];
      let done = 0;
      const verdicts = await mapConcurrently(rows, input.concurrency, async (row, index): Promise<{ winner: PairwiseWinner; consistent: boolean }> => {
        const a = baselineRows[index]!;
        let verdict: { winner: PairwiseWinner; consistent: boolean };
        if (a.output === row.output) verdict = { winner: 'tie', consistent: true };
        else {
          const key = contentHash({ input: row.input, gold: row.gold, a: a.output, b: row.output });
          const cached = input.store.cachedEvalOutput(fingerprint, key);
          if (cached !== undefined) verdict = JSON.parse(cached.output) as typeof verdict;
          else {
            judge ??= await selectTeacher(loaded, input.judge.provider, { onMessage: (message) => input.onMessage?.(`pairwise judge: ${message}`) });
            const compare = pairwiseJudge({ provider: judge.provider, ...(judge.requestModel === undefined ? {} : { model: judge.requestModel }), criteria: input.judge.criteria, explain: input.judge.explain, maxTokens: input.judge.maxTokens });
            const judgement = await compare({ input: row.input, a: a.output, b: row.output, ...(row.gold === '' ? {} : { reference: row.gold }) });
            verdict = { winner: judgement.winner, consistent: judgement.consistent };
            calls += 2;
            for (const call of judgement.calls) costs.push(priced(call));
            const latencyMs = judgement.calls[0].latency.totalMs + judgement.calls[1].latency.totalMs;
            input.store.cacheEvalOutput({ fingerprint, inputHash: key, output: JSON.stringify(verdict), usage: null, cost: null, latencyMs });
          }
        }
        done += 1;
        input.onProgress?.(`pairwise ${candidate} vs ${input.baseline}`, done, rows.length);
        return verdict;
      });
      const summary = summarizePairwise(verdicts);
      const points = verdicts.map((verdict) => (verdict.winner === 'b' ? 1 : verdict.winner === 'tie' ? 0.5 : 0));
      const interval = pairedBootstrapOverIndices({
        n: points.length,
        metric: (indices) => indices.reduce((sum, index) => sum + points[index]!, 0) / indices.length,
        iterations: input.iterations,
        seed: input.seed,
      });
      // Sign test: a loss is "baseline right, candidate wrong", a win the reverse; ties carry no information.
      const decided = verdicts.filter((verdict) => verdict.winner !== 'tie');
      const test = mcnemarExact(decided.map((verdict) => verdict.winner === 'a'), decided.map((verdict) => verdict.winner === 'b'));
      results.push({ ...summary, baseline: input.baseline, candidate, winRate: { value: interval.difference, low: interval.low, high: interval.high }, pValue: test.pValue, calls, costUsd: sumCosts(costs) });
    }
  } finally {
    await judge?.close();
  }
  return results;
}

/** A judge's identity for the cache: its settings and the model behind its provider. */
function judgeFingerprint(loaded: LoadedConfig, provider: string, settings: Record<string, unknown>): string {
  const endpoint = loaded.config.providers[provider];
  return contentHash({ judge: settings, provider, ...(endpoint === undefined ? {} : { baseUrl: endpoint.baseUrl, model: endpoint.model }) });
}

function priced(call: ChatResult): number | null {
  return call.cost.kind === 'priced' ? call.cost.usd : null;
}

function sumCosts(costs: readonly (number | null)[]): number | null {
  return costs.some((cost) => cost === null) ? null : costs.reduce<number>((sum, cost) => sum + cost!, 0);
}
