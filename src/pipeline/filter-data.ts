import type { LoadedConfig } from '../adapters/config-file.ts';
import type { FilterRunRecord, PoolExample } from '../adapters/store/curation-store.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { FilterDrop, FilterReport, FilterStepReport } from '../contracts/curation.ts';
import type { ChatRequest } from '../contracts/provider.ts';
import { contentHash } from '../core/content-hash.ts';
import { UnderstudyError } from '../core/errors.ts';
import {
  contaminationDrops,
  exactDuplicateDrops,
  languageDrops,
  lengthAndFormatDrops,
  nearDuplicateDrops,
  type FilterItem,
} from '../core/curation-filters.ts';
import { validateExample } from '../core/example-validation.ts';
import { fillTemplate } from '../core/templates.ts';
import { mapConcurrently } from '../core/map-concurrently.ts';
import { splitPool, type SplitResult } from './split-data.ts';
import type { TeacherModel } from './teacher-provider.ts';

/** The filter steps in the order they run: cheap ones first, so the model-based ones see the fewest examples. */
export const FILTER_STEPS = ['validity', 'length-format', 'exact-dedup', 'near-dedup', 'language', 'decontamination', 'judge', 'round-trip'] as const;
export type FilterStepName = (typeof FILTER_STEPS)[number];

export interface FilterOptions {
  /** Scores quality 1-5 (`curation.judge`); absent: the judge step is skipped and says so. */
  judge?: TeacherModel;
  /** Answers each input again; disagreeing with the stored answer drops it (`curation.teacher`); absent: skipped. */
  roundTrip?: TeacherModel;
  /** Steps to leave out (`--skip judge,round-trip`). */
  skip?: readonly FilterStepName[];
  /** Model calls at once for the judge and round-trip steps. */
  concurrency?: number;
  onStep?: (step: FilterStepName, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface FilterResult {
  run: FilterRunRecord;
  /** The split run first, when some examples had no side yet. */
  split: SplitResult | null;
  report: FilterReport;
  /** Held-out examples that fail validity: reported, never dropped (the held-out set is frozen). */
  heldOutProblems: { exampleId: number; reason: string }[];
  /** `failedCalls`: calls that ended in an error (after the provider's retries); such an example is kept. */
  modelCalls: { calls: number; cachedCalls: number; failedCalls: number; costUsd: number; unknownCostCalls: number; firstError?: string };
}

const JUDGE_SYSTEM = [
  'You review training examples for a small model that does one narrow task.',
  'Task instruction: {instruction}',
  'Score the example from 1 to 5: 5 = a realistic input with exactly the right answer; 3 = usable but odd or ambiguous;',
  '1 = nonsense, not a realistic input for this task, or a wrong answer. Reply with JSON {"score": n, "reason": "a few words"}.',
].join('\n');

/**
 * Run every filter step over the train side of the pool and store the report. Steps see only what earlier steps
 * kept; each records what it dropped and why. The held-out set is never filtered (it is frozen), only checked:
 * decontamination removes train examples too close to it. Examples without a side are split first.
 */
export async function filterPool(loaded: LoadedConfig, store: Store, options: FilterOptions = {}): Promise<FilterResult> {
  const { config, labels } = loaded;
  const task = config.task.name;
  const settings = config.curation.filters;
  const skip = new Set(options.skip ?? []);
  const split = store.curation.listPool(task, { split: 'none' }).length > 0 ? splitPool(loaded, store) : null;

  const train = store.curation.listPool(task, { split: 'train' }).filter((example) => example.review !== 'rejected');
  // The frozen held-out set (eval-side copies of its inputs are not part of it).
  const heldOutIds = new Set(store.curation.latestHeldout(task)?.exampleIds ?? []);
  const heldOut = store.curation.listPool(task, { split: 'eval' }).filter((example) => heldOutIds.has(example.id));
  const taskShape = { output: config.task.output, labels };
  const heldOutProblems = heldOut.flatMap((example) => validateExample(candidateOf(example), taskShape).map((problem) => ({ exampleId: example.id, reason: `${problem.field}: ${problem.reason}` })));

  let remaining: PoolExample[] = train;
  const drops: FilterDrop[] = [];
  const steps: FilterStepReport[] = [];
  const modelCalls: FilterResult['modelCalls'] = { calls: 0, cachedCalls: 0, failedCalls: 0, costUsd: 0, unknownCostCalls: 0 };
  const item = (example: PoolExample): FilterItem => ({ id: example.id, input: example.input, answer: example.answer, source: example.source, inputKey: example.inputKey });

  const runStep = async (step: FilterStepName, stepSettings: Record<string, unknown>, decide: (examples: PoolExample[]) => Promise<FilterDrop[] | string> | FilterDrop[] | string): Promise<void> => {
    const started = performance.now();
    const before = remaining.length;
    const outcome = skip.has(step) ? 'skipped by --skip' : await decide(remaining);
    const stepDrops = typeof outcome === 'string' ? [] : outcome;
    const droppedIds = new Set(stepDrops.map((drop) => drop.exampleId));
    remaining = remaining.filter((example) => !droppedIds.has(example.id));
    drops.push(...stepDrops);
    const reasons: Record<string, number> = {};
    for (const drop of stepDrops) reasons[drop.reason] = (reasons[drop.reason] ?? 0) + 1;
    steps.push({
      step,
      settings: stepSettings,
      before,
      dropped: droppedIds.size,
      after: remaining.length,
      reasons,
      ...(typeof outcome === 'string' ? { skipped: outcome } : {}),
      seconds: Math.round((performance.now() - started) / 10) / 100,
    });
    options.onStep?.(step, FILTER_STEPS.indexOf(step) + 1, FILTER_STEPS.length);
  };

  await runStep('validity', { output: config.task.output.type, labels: labels.length }, (examples) =>
    examples.flatMap((example) => {
      const problems = validateExample(candidateOf(example), taskShape);
      return problems.length === 0 ? [] : [{ exampleId: example.id, step: 'validity', reason: problems[0]!.field === 'answer' ? 'invalid-answer' : `invalid-${problems[0]!.field.replace(/\[\d+\].*$/, '')}`, detail: { problems } }];
    }));
  await runStep('length-format', { ...settings.length }, (examples) => lengthAndFormatDrops(examples.map(item), settings.length));
  await runStep('exact-dedup', { normalization: 'NFKC, lowercase, punctuation and spacing removed' }, (examples) => exactDuplicateDrops(examples.map(item)));
  await runStep('near-dedup', { ...settings.nearDedup }, (examples) => nearDuplicateDrops(examples.map(item), settings.nearDedup));
  await runStep('language', { ...settings.language }, (examples) => languageDrops(examples.map(item), settings.language.expected));
  await runStep('decontamination', { ...settings.decontamination, heldOutExamples: heldOut.length }, (examples) =>
    contaminationDrops(examples.map(item), heldOut.map(item), {
      ...settings.decontamination,
      numPerm: settings.nearDedup.numPerm,
      shingleSize: settings.nearDedup.shingleSize,
      unit: settings.nearDedup.unit,
    }));

  const ask = async (model: TeacherModel, request: ChatRequest): Promise<string | undefined> => {
    const key = contentHash({ provider: model.name, model: model.model, request });
    const cached = store.curation.cachedGeneration(key);
    if (cached !== undefined) {
      modelCalls.cachedCalls += 1;
      return cached.text;
    }
    try {
      const result = await model.provider.complete({ ...request, ...(model.requestModel === undefined ? {} : { model: model.requestModel }) }, options.signal === undefined ? {} : { signal: options.signal });
      modelCalls.calls += 1;
      if (result.cost.kind === 'priced') modelCalls.costUsd += result.cost.usd;
      else modelCalls.unknownCostCalls += 1;
      store.curation.cacheGeneration({ promptHash: key, provider: model.name, model: model.model, text: result.text, usage: result.usage, cost: result.cost });
      return result.text;
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      // A request the model can never serve (a schema it cannot constrain to, a bad key) fails every example alike.
      if (UnderstudyError.isInstance(error) && !error.isRetryable && modelCalls.calls === 0 && modelCalls.failedCalls === 0) throw error;
      modelCalls.failedCalls += 1;
      modelCalls.firstError ??= error instanceof Error ? error.message : String(error);
      return undefined;
    }
  };
  const forEachConcurrently = async (examples: PoolExample[], step: FilterStepName, work: (example: PoolExample) => Promise<FilterDrop | undefined>): Promise<FilterDrop[]> => {
    let done = 0;
    const verdicts = await mapConcurrently(examples, Math.max(1, options.concurrency ?? 4), async (example) => {
      const drop = await work(example);
      done += 1;
      options.onStep?.(step, done, examples.length);
      return drop;
    });
    return verdicts.filter((drop): drop is FilterDrop => drop !== undefined);
  };

  const judge = options.judge;
  await runStep('judge', { minScore: settings.judge.minScore, sources: settings.judge.sources, model: judge?.model ?? null }, (examples) => {
    if (judge === undefined) return 'no judge: set `curation.judge` or pass --judge';
    const system = fillTemplate(JUDGE_SYSTEM, { instruction: config.task.systemPrompt });
    const judged = examples.filter((example) => settings.judge.sources.includes(example.source));
    return forEachConcurrently(judged, 'judge', async (example) => {
      const text = await ask(judge, {
        messages: [{ role: 'system', content: system }, { role: 'user', content: `Input: ${example.input}\nAnswer: ${example.answer ?? ''}` }],
        temperature: 0,
        maxTokens: 64,
        constraint: { kind: 'json-schema', name: 'judgement', schema: { type: 'object', properties: { score: { type: 'integer', enum: [1, 2, 3, 4, 5] }, reason: { type: 'string', maxLength: 120 } }, required: ['score', 'reason'], additionalProperties: false } },
      });
      if (text === undefined) return undefined; // a failed call is no evidence against the example
      const score = parseScore(text);
      if (score === undefined) return { exampleId: example.id, step: 'judge', reason: 'judge-unreadable', detail: { reply: text?.slice(0, 200) ?? null } };
      return score.score < settings.judge.minScore ? { exampleId: example.id, step: 'judge', reason: 'low-score', detail: { score: score.score, judgeReason: score.reason } } : undefined;
    });
  });

  const checker = options.roundTrip;
  await runStep('round-trip', { enabled: settings.roundTrip.enabled, sources: settings.roundTrip.sources, model: checker?.model ?? null }, (examples) => {
    if (!settings.roundTrip.enabled) return 'disabled by curation.filters.roundTrip.enabled';
    if (checker === undefined) return 'no model to answer again: set `curation.teacher` or pass --round-trip';
    const output = config.task.output;
    const checked = examples.filter((example) => settings.roundTrip.sources.includes(example.source));
    return forEachConcurrently(checked, 'round-trip', async (example) => {
      const text = await ask(checker, {
        messages: example.messages.filter((message, index) => !(index === example.messages.length - 1 && message.role === 'assistant')),
        temperature: 0,
        maxTokens: output.type === 'labels' ? 32 : 512,
        constraint: output.type === 'labels' ? { kind: 'labels', labels } : { kind: 'json-schema', schema: output.schema },
      });
      if (text === undefined) return undefined; // a failed call is no evidence against the example
      const agrees = output.type === 'labels' ? text.trim() === example.answer : sameJson(text, example.answer);
      return agrees ? undefined : { exampleId: example.id, step: 'round-trip', reason: 'disagrees', detail: { stored: example.answer, answeredAgain: text.trim().slice(0, 500) } };
    });
  });

  const report: FilterReport = { steps, before: train.length, after: remaining.length };
  const run = store.curation.saveFilterRun({ task, settings: { ...settings, skip: [...skip] }, report, drops });
  return { run, split, report, heldOutProblems, modelCalls };
}

function candidateOf(example: PoolExample) {
  return { input: example.input, answer: example.answer, messages: example.messages, source: example.source, tags: example.tags, provenance: example.provenance };
}

function parseScore(text: string | undefined): { score: number; reason: string } | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { score, reason } = value as Record<string, unknown>;
    return typeof score === 'number' && score >= 1 && score <= 5 ? { score, reason: typeof reason === 'string' ? reason : '' } : undefined;
  } catch {
    return undefined;
  }
}

function sameJson(a: string, b: string | null): boolean {
  if (b === null) return false;
  try {
    return contentHash(JSON.parse(a)) === contentHash(JSON.parse(b));
  } catch {
    return false;
  }
}
