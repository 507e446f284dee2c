import type { LoadedConfig } from '../adapters/config-file.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { DecideConfig, EvalCandidate } from '../contracts/config.ts';
import { contentHash } from '../core/content-hash.ts';
import {
  classifyJsonFailure,
  classifyLabelFailure,
  decideVerdict,
  promptingFails,
  retrievalDoesNotFix,
  summarizeFailures,
  type ClassifiedFailure,
  type ConditionOutcome,
  type FailureBreakdown,
  type PromptingEvidence,
  type RetrievalTrial,
  type VerdictResult,
} from '../core/decide-rules.ts';
import { InvalidInputError } from '../core/errors.ts';
import { validateJsonSchema } from '../core/json-schema-validate.ts';
import { seedFrom, shuffle } from '../core/random.ts';
import { buildEconomics, checkEconomicsConfig, ECONOMICS_CANDIDATES, economicsCandidates, type EconomicsOverrides, type EconomicsReport } from './economics-run.ts';
import { runEvaluation, type EvalRunOptions, type EvalRunResult } from './eval-run.ts';
import { selectTeacher, type TeacherModel } from './teacher-provider.ts';

/** The sharper instruction `decide` tries on top of the task's own baseline prompt. */
export function strictInstruction(loaded: LoadedConfig): string {
  const output = loaded.config.task.output;
  const rules =
    output.type === 'labels'
      ? 'Rules: answer with exactly one label from the list above, copied character for character. Never explain, never add words, never invent a label. When several could fit, pick the single most specific one.'
      : `Rules: answer with one JSON object and nothing else, valid under this JSON schema: ${JSON.stringify(output.schema)}. Copy values from the input exactly as written; leave out anything the input does not state.`;
  return `${loaded.config.task.baselinePrompt}\n\n${rules}`;
}

export interface DecideOptions extends Pick<EvalRunOptions, 'data' | 'concurrency' | 'threads' | 'signal' | 'onMessage' | 'onProgress'> {
  economics?: EconomicsOverrides;
  /** Overrides `decide.bar`. */
  bar?: number;
}

export interface DecideResult extends VerdictResult {
  bar: number;
  metric: string;
  prompting: PromptingEvidence;
  failures: FailureBreakdown;
  retrieval: RetrievalTrial | null;
  economics: EconomicsReport;
  evaluation: EvalRunResult;
  /** The retrieval round's evaluation, when a knowledge file was tried. */
  retrievalEvaluation: EvalRunResult | null;
}

/** The prompt variants decide runs, for the model the team prompts today (`decide.prompted`). */
export function promptVariants(loaded: LoadedConfig, settings: DecideConfig): EvalCandidate[] {
  const strict = strictInstruction(loaded);
  const shots = settings.shots;
  const make = (name: string, variantShots: number, prompt: string | undefined): EvalCandidate => {
    if (settings.prompted === 'base') return { kind: 'prompted-base', name, shots: variantShots, ...(prompt === undefined ? {} : { prompt }) };
    if (loaded.config.providers[settings.prompted] === undefined) {
      throw new InvalidInputError(`decide.prompted ${JSON.stringify(settings.prompted)} is neither "base" nor a name under providers`, { file: loaded.file, field: 'decide.prompted' });
    }
    return { kind: 'provider', name, provider: settings.prompted, shots: variantShots, ...(prompt === undefined ? {} : { prompt }) };
  };
  return [
    make(ECONOMICS_CANDIDATES.prompted, 0, undefined),
    make(`prompted-${shots}-shot`, shots, undefined),
    make('prompted-strict', 0, strict),
    make(`prompted-strict-${shots}-shot`, shots, strict),
  ];
}

/** A copy of the config that evaluates exactly `candidates`, with no gate, scorers or pairwise judge (decide decides). */
function withCandidates(loaded: LoadedConfig, candidates: EvalCandidate[]): LoadedConfig {
  const { gate: _gate, pairwiseJudge: _pairwise, ...evaluation } = loaded.config.evaluation;
  return { ...loaded, config: { ...loaded.config, evaluation: { ...evaluation, candidates, scorers: [] } } };
}

/**
 * `understudy decide`: run the prompt variants (zero- and few-shot, plain and strict instruction), classify the
 * best one's failures, try retrieved context where a knowledge file is given, price both paths, and give one verdict.
 */
export async function runDecide(loaded: LoadedConfig, store: Store, options: DecideOptions = {}): Promise<DecideResult> {
  const settings = loaded.config.decide;
  if (settings === undefined) {
    throw new InvalidInputError('the config has no decide section', { file: loaded.file, field: 'decide', hint: 'add `decide: { bar: 0.9 }`: the quality the product needs on the primary metric' });
  }
  const bar = options.bar ?? settings.bar;
  checkEconomicsConfig(loaded);
  const variants = promptVariants(loaded, settings);
  const measuring = economicsCandidates(loaded, store).filter((spec) => !variants.some((variant) => variant.name === spec.name));
  const evalOptions: EvalRunOptions = {
    ...(options.data === undefined ? {} : { data: options.data }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onMessage === undefined ? {} : { onMessage: options.onMessage }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  };
  const evaluation = await runEvaluation(withCandidates(loaded, [...variants, ...measuring]), store, { ...evalOptions, baseline: ECONOMICS_CANDIDATES.prompted });
  const metric = evaluation.primaryMetric;

  // 1. Does prompting fail consistently?
  const scores = variants.map((variant) => {
    const result = evaluation.candidates.find((candidate) => candidate.name === variant.name)!;
    const estimate = result.metrics[metric]!;
    return { name: variant.name, describe: result.describe, value: estimate.value, low: estimate.low, high: estimate.high };
  });
  const best = scores.reduce((top, score) => (score.value > top.value ? score : top), scores[0]!);
  const comparison = evaluation.comparisons.find((entry) => entry.candidate === best.name);
  const difference = comparison?.metrics[metric];
  const prompting: PromptingEvidence = {
    metric,
    bar,
    variants: scores,
    best: best.name,
    gain: difference === undefined ? null : { from: ECONOMICS_CANDIDATES.prompted, to: best.name, difference: difference.difference, low: difference.low, high: difference.high, pValue: difference.pValue },
  };
  const promptingOutcome = promptingFails(prompting);

  // 2. Wrong behaviour or missing knowledge?
  const failures = await classifyFailures(loaded, store, evaluation, best.name, settings, options.onMessage);
  let retrieval: RetrievalTrial | null = null;
  let retrievalEvaluation: EvalRunResult | null = null;
  if (settings.knowledgeFile !== undefined) {
    const bestSpec = variants.find((variant) => variant.name === best.name)!;
    if (bestSpec.kind === 'adapter') throw new Error('unreachable: prompt variants are never adapters');
    const withContext: EvalCandidate = { ...bestSpec, name: `${best.name}+retrieval`, knowledgeFile: settings.knowledgeFile };
    retrievalEvaluation = await runEvaluation(withCandidates(loaded, [bestSpec, withContext]), store, { ...evalOptions, baseline: best.name });
    const trial = retrievalEvaluation.comparisons[0]!.metrics[metric]!;
    const valueOf = (name: string): number => retrievalEvaluation!.candidates.find((candidate) => candidate.name === name)!.metrics[metric]!.value;
    retrieval = { without: best.name, with: withContext.name, valueWithout: valueOf(best.name), valueWith: valueOf(withContext.name), difference: trial.difference, low: trial.low, high: trial.high, pValue: trial.pValue };
  }
  const retrievalOutcome = retrievalDoesNotFix(failures, retrieval, bar);

  // 3. Does the volume pay back?
  const economics = buildEconomics(loaded, store, evaluation, options.economics ?? {});
  const volumeOutcome = volumePaysBack(economics);
  return { ...decideVerdict(promptingOutcome, retrievalOutcome, volumeOutcome), bar, metric, prompting, failures, retrieval, economics, evaluation, retrievalEvaluation };
}

export function volumePaysBack(economics: EconomicsReport): ConditionOutcome {
  const { result, input } = economics;
  const money = (value: number): string => `$${value.toLocaleString('en-US', { maximumFractionDigits: value < 10 ? 4 : 0 })}`;
  const volume = `${input.tasksPerMonth.toLocaleString('en-US')} tasks/month over ${input.horizonMonths} months`;
  if (result.crossoverTasks === null) {
    return { holds: false, reason: `the tuned model costs ${money(result.per1000.tunedServingUsd)} per 1,000 tasks against ${money(result.per1000.hostedUsd)} hosted at ${volume}, so it never pays back` };
  }
  const crossover = `crossover at ${Math.round(result.crossoverTasks).toLocaleString('en-US')} tasks`;
  if (!result.paysBack) {
    return { holds: false, reason: `${volume} is ${result.lifetime.tasks.toLocaleString('en-US')} tasks, short of the ${crossover}; the one-off ${money(result.oneOff.totalUsd)} is not paid back (payback ${result.paybackMonths === null ? 'never' : `${result.paybackMonths.toFixed(1)} months`})` };
  }
  return { holds: true, reason: `${volume} passes the ${crossover}: payback in ${result.paybackMonths!.toFixed(1)} months, ${money(result.lifetime.savingUsd)} saved over the horizon` };
}

/** Judge verdicts on one failure: does a right answer need knowledge the input does not carry? */
interface KnowledgeVerdict {
  needsKnowledge: boolean;
  reason: string;
}

const KNOWLEDGE_SCHEMA = {
  type: 'object',
  properties: { needsKnowledge: { type: 'boolean' }, reason: { type: 'string' } },
  required: ['needsKnowledge', 'reason'],
  additionalProperties: false,
};

async function classifyFailures(loaded: LoadedConfig, store: Store, evaluation: EvalRunResult, candidate: string, settings: DecideConfig, onMessage?: (message: string) => void): Promise<FailureBreakdown> {
  const output = loaded.config.task.output;
  const rows = evaluation.outputs.get(candidate)!.filter((row) => !row.correct);
  const classified: ClassifiedFailure[] = rows.map((row) => {
    let schemaValid = true;
    if (output.type === 'json-schema') {
      try {
        schemaValid = validateJsonSchema(output.schema, JSON.parse(row.output)).length === 0;
      } catch {
        schemaValid = false;
      }
    }
    const { kind, why } = output.type === 'labels' ? classifyLabelFailure(row.output, loaded.labels) : classifyJsonFailure(row.output, row.gold, row.input, schemaValid);
    return { input: row.input, expected: row.gold, output: row.output, kind, by: 'rule', why };
  });
  if (settings.judge === undefined || classified.length === 0) return summarizeFailures(rows.length, classified, false);

  // The judge looks at a seeded sample of the behaviour failures the rules could not call missing knowledge.
  const sample = shuffle(classified, seedFrom('decide-judge', candidate)).slice(0, settings.judgeSample);
  const fingerprint = contentHash({ judge: settings.judge, provider: loaded.config.providers[settings.judge] ?? settings.judge, purpose: 'decide-missing-knowledge', schema: KNOWLEDGE_SCHEMA });
  let judge: TeacherModel | undefined;
  try {
    for (const failure of sample) {
      if (failure.kind === 'format' || failure.kind === 'missing-knowledge') continue;
      const key = contentHash({ input: failure.input, expected: failure.expected, output: failure.output });
      const cached = store.cachedEvalOutput(fingerprint, key);
      let verdict: KnowledgeVerdict;
      if (cached !== undefined) verdict = JSON.parse(cached.output) as KnowledgeVerdict;
      else {
        judge ??= await selectTeacher(loaded, settings.judge, onMessage === undefined ? {} : { onMessage: (message) => onMessage(`decide judge: ${message}`) });
        const result = await judge.provider.complete({
          ...(judge.requestModel === undefined ? {} : { model: judge.requestModel }),
          messages: [
            {
              role: 'system',
              content:
                'You review failures of a model on a narrow task. Decide whether producing the expected answer needs knowledge that is NOT in the input or the instruction ' +
                '(facts about the world, a product catalogue, account data, policies), or whether the input holds everything needed and the model simply behaved wrongly ' +
                '(picked the wrong label, misread the input, broke the format). Answer with JSON {"needsKnowledge": true|false, "reason": "<one sentence>"}.',
            },
            { role: 'user', content: `Instruction: ${loaded.config.task.baselinePrompt.slice(0, 2000)}\n\nInput: ${failure.input}\n\nExpected answer: ${failure.expected}\n\nModel's answer: ${failure.output}` },
          ],
          temperature: 0,
          maxTokens: 200,
          constraint: { kind: 'json-schema', schema: KNOWLEDGE_SCHEMA },
        });
        try {
          const parsed = JSON.parse(result.text) as Partial<KnowledgeVerdict>;
          verdict = { needsKnowledge: parsed.needsKnowledge === true, reason: typeof parsed.reason === 'string' ? parsed.reason : '' };
        } catch {
          verdict = { needsKnowledge: false, reason: `the judge's answer was not JSON: ${result.text.slice(0, 80)}` };
        }
        store.cacheEvalOutput({ fingerprint, inputHash: key, output: JSON.stringify(verdict), usage: result.usage, cost: result.cost, latencyMs: result.latency.totalMs });
      }
      if (verdict.needsKnowledge) {
        failure.kind = 'missing-knowledge';
        failure.by = 'judge';
        failure.why = verdict.reason;
      }
    }
  } finally {
    await judge?.close();
  }
  return summarizeFailures(rows.length, sample, true);
}
