/**
 * Synthetic data from a teacher model (`understudy data generate`), through the one provider interface.
 *
 * - `labels`: label-conditioned inputs for a classifier. Per label, the teacher writes new user inputs that
 *   belong to it, shown up to k real examples of that label from the pool.
 * - `topics`: a topic tree for open tasks. The teacher splits the task into subtopics (breadth × depth), writes
 *   inputs per leaf topic, then answers each input under the task's own constraint (label set or JSON schema).
 * - `relabel`: the teacher answers pool inputs that have no answer (or, with `all`, every human train example);
 *   the store keeps the original answer.
 *
 * Every model call is cached by a hash of everything that decides its answer, so re-running the same command
 * costs nothing and sends nothing. One bad answer never ends a run: it is re-asked with another seed (a bounded
 * number of times) when the answer itself was wrong, else counted under `lost` with its reason.
 */
import { setMaxListeners } from 'node:events';
import type { Task } from '../contracts/config.ts';
import type { CandidateExample, Provenance } from '../contracts/curation.ts';
import { TokenUsageSchema, type ChatRequest, type OutputConstraint } from '../contracts/provider.ts';
import type { ChatMessage } from '../contracts/worker.ts';
import { contentHash } from '../core/content-hash.ts';
import { InvalidInputError, ProviderError } from '../core/errors.ts';
import { seedFrom, shuffle } from '../core/random.ts';
import { createConcurrencyLimit } from '../adapters/llm/concurrency-limit.ts';
import { inputKeyOf, type CurationStore, type PoolExample } from '../adapters/store/curation-store.ts';
import type { TeacherModel } from './teacher-provider.ts';
import { validateJsonSchema } from '../core/json-schema-validate.ts';

export type GenerationMode = 'labels' | 'topics' | 'relabel';

/**
 * Why a requested example was not obtained:
 * `invalid-json` the answer was not JSON; `schema` it was JSON of the wrong shape, or not one of the labels;
 * `refusal` the teacher declined, answered an empty list, or gave fewer inputs than asked; `timeout`,
 * `rate-limited` (429 after the provider's retries) and `server-error` (5xx, network, garbled body) are
 * transport failures; `duplicate` the input was already in the pool or in this run; `max-calls` the call
 * budget ran out before it was asked.
 */
export const LOST_REASONS = ['invalid-json', 'schema', 'refusal', 'timeout', 'rate-limited', 'server-error', 'duplicate', 'max-calls'] as const;
export type LostReason = (typeof LOST_REASONS)[number];

/** Answers that were wrong (rather than undelivered) are worth asking again with another seed. */
const REASKABLE: ReadonlySet<LostReason> = new Set(['invalid-json', 'schema', 'refusal']);

/** Progress counters passed to `onProgress` after each request finishes. */
export interface GenerationProgressFields extends Record<string, number> {
  added: number;
  lost: number;
  calls: number;
  cachedCalls: number;
  costUsd: number;
}

export interface GenerateDataOptions {
  store: CurationStore;
  task: Task;
  /** The task's labels (`LoadedConfig.labels`); empty for a JSON-schema task. */
  labels: readonly string[];
  teacher: TeacherModel;
  mode: GenerationMode;
  /** `labels` mode: only these labels (each must be one of the task's). Default: every label. */
  onlyLabels?: readonly string[];
  /** `labels` mode: new inputs asked for per label. Default 20. */
  perLabel?: number;
  /** `labels` mode: real examples of the label shown in each request. Default 5. */
  seedExamples?: number;
  /** Inputs asked for in one request; more are split over several requests with distinct variation hints. Default 10. */
  inputsPerRequest?: number;
  /** `topics` mode: subtopics per node. Default 3. */
  breadth?: number;
  /** `topics` mode: levels of subtopics below the task (1: the task's subtopics are the leaves). Default 2. */
  depth?: number;
  /** `topics` mode: inputs per leaf topic. Default 5. */
  perTopic?: number;
  /** `relabel` mode: every human train example, not only the unlabeled ones. */
  all?: boolean;
  /** Teacher calls in flight at once. Default: the teacher's `maxConcurrency`. */
  concurrency?: number;
  /** Sampling temperature for writing inputs and topics. Default 1. Answers are greedy (0). */
  temperature?: number;
  /** Extra asks, each with a new seed, for an answer that is not JSON, breaks the schema or is a refusal. Default 2. */
  maxReasks?: number;
  /** Most uncached teacher calls; work left when it runs out is counted as `max-calls`. Default: no limit. */
  maxCalls?: number;
  /** Base seed of every request; another seed asks for other data (and misses the cache). Default 0. */
  seed?: number;
  /** Most tokens of a list answer (inputs, topics). Default 1024. */
  maxListTokens?: number;
  /** Most tokens of a JSON-schema answer. Default 512. */
  maxAnswerTokens?: number;
  onProgress?: (done: number, total: number, fields: GenerationProgressFields) => void;
  signal?: AbortSignal;
}

export interface GenerateDataResult {
  mode: GenerationMode;
  /** The pool batch recorded for this run (it holds the settings, costs and losses). */
  batchId: string;
  /** New examples added to the pool. */
  added: number;
  /** `relabel`: examples whose answer the teacher set or changed. */
  relabeled: number;
  /** `relabel --all`: examples the teacher answered as they already were. */
  unchanged: number;
  /** Examples asked for: `added + relabeled + unchanged + Σ lost`. */
  requested: number;
  /** Requested examples not obtained, by reason. */
  lost: Record<LostReason, number>;
  /** Every failed teacher answer by reason, re-asked ones included. */
  failedAttempts: Record<LostReason, number>;
  /** Asks repeated with a new seed after a wrong answer. */
  reasks: number;
  /** Teacher calls made (not cached); a call's own HTTP retries count once. */
  calls: number;
  /** Answers served from the generation cache: no request, no cost. */
  cachedCalls: number;
  /** Tokens of the calls made. */
  tokens: { prompt: number; completion: number };
  /** Tokens the cached answers cost when they were first made (not spent again). */
  cachedTokens: { prompt: number; completion: number };
  /** Priced cost of the calls made; calls the provider could not price are counted in `unknownCostCalls`, not here. */
  costUsd: number;
  /**
   * Calls whose cost is not in `costUsd`: answers the provider could not price, and failed calls the upstream
   * probably billed (an answer that broke the constraint, a garbled body, a timeout); 429s and 5xx are not counted.
   */
  unknownCostCalls: number;
  seconds: number;
}

type Accounting = Pick<GenerateDataResult, 'lost' | 'failedAttempts' | 'reasks' | 'calls' | 'cachedCalls' | 'tokens' | 'cachedTokens' | 'costUsd' | 'unknownCostCalls'>;

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: LostReason; detail: string };
type Asked<T> = { ok: true; value: T; promptHash: string } | { ok: false; reason: LostReason };

/** Styles that push each request of the same label toward different inputs. */
const VARIATION_HINTS = [
  'short and informal, as typed on a phone',
  'long and detailed, with context about the situation',
  'polite and formal',
  'frustrated or in a hurry',
  'phrased as a direct question',
  'with small typos or missing punctuation',
  'from someone whose first language is not English',
  'mentioning concrete amounts, dates or places',
  'vague, where the intent must be inferred',
  'mixing the request with an unrelated remark',
];

const REFUSAL = /\b(?:I\s+(?:can(?:not|'t|’t)|won(?:'t|’t)|am\s+unable|'m\s+unable|am\s+not\s+able)|I(?:'m|’m|\s+am)\s+sorry|as\s+an\s+AI)\b/i;

const listSchema = (field: 'inputs' | 'topics', maxItems: number): Record<string, unknown> => ({
  type: 'object',
  properties: { [field]: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems } },
  required: [field],
  additionalProperties: false,
});

/**
 * Generate (or relabel) examples with a teacher and add them to the task's pool as one batch.
 *
 * Held-out examples (split `eval`) are never shown to the teacher: `labels` mode seeds its prompts with the
 * label's human train examples first, then unsplit ones, never eval ones; `relabel` skips eval examples.
 * (Unsplit seeds may later be assigned to eval; the decontamination filter catches overlap with them.)
 *
 * New examples are written in one transaction at the end, so an interrupted run adds nothing; the cache keeps
 * every answer it received, so running it again costs only what was not answered yet. Relabels are applied
 * together at the end in one transaction; each keeps the original answer, records the teacher in its provenance
 * and gets the tag `relabeled`. A teacher error that
 * no retry can fix (an unknown model, a rejected key or schema) stops the run and is thrown.
 */
export async function generateData(options: GenerateDataOptions): Promise<GenerateDataResult> {
  const started = performance.now();
  const { store, task, teacher } = options;
  const perRequest = positive(options.inputsPerRequest ?? 10, 'inputsPerRequest');
  const maxReasks = options.maxReasks ?? 2;
  const baseSeed = options.seed ?? 0;
  const temperature = options.temperature ?? 1;
  const concurrency = positive(options.concurrency ?? teacher.maxConcurrency, 'concurrency');
  const maxListTokens = options.maxListTokens ?? 1024;
  const maxAnswerTokens = options.maxAnswerTokens ?? 512;
  const limit = createConcurrencyLimit(concurrency);
  const stop = new AbortController();
  // Every queued and running call listens to it.
  setMaxListeners(0, stop.signal);
  const onOuterAbort = (): void => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let fatal: unknown;

  const zeros = (): Record<LostReason, number> => Object.fromEntries(LOST_REASONS.map((reason) => [reason, 0])) as Record<LostReason, number>;
  const account: Accounting = {
    lost: zeros(),
    failedAttempts: zeros(),
    reasks: 0,
    calls: 0,
    cachedCalls: 0,
    tokens: { prompt: 0, completion: 0 },
    cachedTokens: { prompt: 0, completion: 0 },
    costUsd: 0,
    unknownCostCalls: 0,
  };
  const pool = store.listPool(task.name);
  const seen = new Set(pool.map((example) => example.inputKey));
  const examples: CandidateExample[] = [];
  const relabels: { example: PoolExample; answer: string }[] = [];
  let unchanged = 0;
  let reserved = 0;
  let done = 0;
  let total = 0;

  const progress = (count: number): void => {
    done += count;
    const lost = Object.values(account.lost).reduce((sum, value) => sum + value, 0);
    options.onProgress?.(done, total, { added: examples.length + relabels.length, lost, calls: account.calls, cachedCalls: account.cachedCalls, costUsd: account.costUsd });
  };
  const lose = (reason: LostReason, count: number): void => {
    if (count > 0) account.lost[reason] += count;
  };

  /** One teacher call through the cache; a failure is a reason, or (for errors no retry fixes) stops the run. */
  const call = async (request: ChatRequest): Promise<{ ok: true; text: string; promptHash: string } | { ok: false; reason: LostReason; promptHash: string }> => {
    const promptHash = contentHash({ provider: teacher.provider.id, model: teacher.model, request });
    const cached = store.cachedGeneration(promptHash);
    if (cached !== undefined) {
      account.cachedCalls += 1;
      const usage = TokenUsageSchema.nullable().safeParse(cached.usage);
      if (usage.success && usage.data !== null) {
        account.cachedTokens.prompt += usage.data.promptTokens;
        account.cachedTokens.completion += usage.data.completionTokens;
      }
      return { ok: true, text: cached.text, promptHash };
    }
    if (stop.signal.aborted) return { ok: false, reason: 'max-calls', promptHash };
    // Counted before waiting for a slot, so concurrent asks cannot overrun the budget.
    if (options.maxCalls !== undefined && reserved >= options.maxCalls) return { ok: false, reason: 'max-calls', promptHash };
    reserved += 1;
    let release: (() => void) | undefined;
    try {
      release = await limit.acquire(stop.signal);
      account.calls += 1;
      const result = await teacher.provider.complete(request, { signal: stop.signal });
      if (result.usage !== null) {
        account.tokens.prompt += result.usage.promptTokens;
        account.tokens.completion += result.usage.completionTokens;
      }
      if (result.cost.kind === 'priced') account.costUsd += result.cost.usd;
      else account.unknownCostCalls += 1;
      store.cacheGeneration({ promptHash, provider: teacher.provider.id, model: result.model, text: result.text, usage: result.usage, cost: result.cost });
      return { ok: true, text: result.text, promptHash };
    } catch (error) {
      // The upstream answered (or may have, before the timeout) and billed for it, but no cost came back.
      if (ProviderError.isInstance(error) && ['constraint-violated', 'bad-response', 'timeout'].includes(error.failure)) account.unknownCostCalls += 1;
      const reason = stop.signal.aborted ? undefined : reasonOf(error, request.constraint);
      if (reason === undefined) {
        if (!stop.signal.aborted) {
          fatal = error;
          stop.abort(error);
        }
        return { ok: false, reason: 'max-calls', promptHash };
      }
      return { ok: false, reason, promptHash };
    } finally {
      release?.();
    }
  };

  /** Ask, parse, and ask again with a new seed while the answer was wrong (not merely undelivered). */
  const ask = async <T>(request: ChatRequest, seedParts: readonly (number | string)[], parse: (text: string) => Parsed<T>): Promise<Asked<T>> => {
    let reason: LostReason = 'refusal';
    for (let attempt = 0; attempt <= maxReasks; attempt += 1) {
      if (attempt > 0) account.reasks += 1;
      const seeded: ChatRequest = {
        ...request,
        seed: seedFrom(baseSeed, ...seedParts, attempt),
        // A greedy answer would come back the same: a re-ask samples.
        ...(attempt > 0 && (request.temperature ?? 0) === 0 ? { temperature: 0.7 } : {}),
      };
      const answer = await call(seeded);
      if (!answer.ok) {
        reason = answer.reason;
        if (reason !== 'max-calls') account.failedAttempts[reason] += 1;
        if (!REASKABLE.has(reason)) return { ok: false, reason };
        continue;
      }
      const parsed = parse(answer.text);
      if (parsed.ok) return { ok: true, value: parsed.value, promptHash: answer.promptHash };
      reason = parsed.reason;
      account.failedAttempts[reason] += 1;
    }
    return { ok: false, reason };
  };

  const withModel = (request: ChatRequest): ChatRequest => (teacher.requestModel === undefined ? request : { model: teacher.requestModel, ...request });

  /** Ask for `count` new inputs; keep the new ones (not seen in the pool or this run), count the rest as lost. */
  const askInputs = async (messages: ChatMessage[], count: number, seedParts: readonly (number | string)[]): Promise<{ inputs: string[]; promptHash: string } | undefined> => {
    const request = withModel({ messages, temperature, maxTokens: maxListTokens, constraint: { kind: 'json-schema', name: 'inputs', schema: listSchema('inputs', count) } });
    const answer = await ask(request, seedParts, (text) => parseList(text, 'inputs'));
    if (!answer.ok) {
      lose(answer.reason, count);
      return undefined;
    }
    const kept: string[] = [];
    let duplicates = 0;
    for (const input of answer.value) {
      if (kept.length >= count) break;
      const key = inputKeyOf(input);
      if (seen.has(key)) {
        duplicates += 1;
        continue;
      }
      seen.add(key);
      kept.push(input);
    }
    duplicates = Math.min(duplicates, count - kept.length);
    lose('duplicate', duplicates);
    lose('refusal', count - kept.length - duplicates);
    return { inputs: kept, promptHash: answer.promptHash };
  };

  const answerPrompt = teacherAnswerPrompt(task, options.labels);
  const answerConstraint: OutputConstraint =
    task.output.type === 'labels' ? { kind: 'labels', labels: [...options.labels] } : { kind: 'json-schema', name: 'answer', schema: task.output.schema };

  /** The teacher's answer to one input under the task's constraint: a label, or compact JSON valid under the schema. */
  const askAnswer = (input: string, seedParts: readonly (number | string)[]): Promise<Asked<string>> => {
    const request = withModel({
      messages: [
        { role: 'system', content: answerPrompt },
        { role: 'user', content: input },
      ],
      temperature: 0,
      ...(answerConstraint.kind === 'json-schema' ? { maxTokens: maxAnswerTokens } : {}),
      constraint: answerConstraint,
    });
    return ask(request, seedParts, (text) => parseAnswer(text, answerConstraint));
  };

  const exampleOf = (input: string, answer: string, mode: GenerationMode, provenance: Omit<Provenance, 'generator' | 'model'>): CandidateExample => ({
    input,
    answer,
    messages: [
      { role: 'system', content: task.systemPrompt },
      { role: 'user', content: input },
      { role: 'assistant', content: answer },
    ],
    source: 'synthetic',
    tags: ['synthetic', mode],
    provenance: { generator: mode, model: teacher.model, ...provenance },
  });

  const runLabels = async (): Promise<void> => {
    if (task.output.type !== 'labels') throw new InvalidInputError('labels mode needs a task whose output is a label set; use --mode topics for a JSON-schema task', { field: 'task.output' });
    const labels = options.onlyLabels ?? options.labels;
    const unknown = labels.filter((label) => !options.labels.includes(label));
    if (unknown.length > 0) throw new InvalidInputError(`not labels of task ${task.name}: ${unknown.join(', ')}`, { field: 'labels', hint: `its labels: ${options.labels.join(', ')}` });
    const perLabel = positive(options.perLabel ?? 20, 'perLabel');
    const seedCount = options.seedExamples ?? 5;
    const human = pool.filter((example) => example.source === 'human' && example.split !== 'eval');
    total = labels.length * perLabel;
    const jobs: Promise<void>[] = [];
    for (const label of labels) {
      const train = human.filter((example) => example.answer === label && example.split === 'train');
      const unsplit = human.filter((example) => example.answer === label && example.split === null);
      for (let request = 0, remaining = perLabel; remaining > 0; request += 1, remaining -= perRequest) {
        const count = Math.min(perRequest, remaining);
        const requestIndex = request;
        jobs.push(
          (async () => {
            const pick = [...shuffle(train, seedFrom(baseSeed, label, requestIndex)), ...shuffle(unsplit, seedFrom(baseSeed, label, requestIndex, 'unsplit'))].slice(0, seedCount);
            const hint = VARIATION_HINTS[requestIndex % VARIATION_HINTS.length]!;
            const messages = labelPrompt(task, label, count, pick.map((example) => example.input), `variation ${requestIndex + 1}: make them ${hint}`);
            const result = await askInputs(messages, count, ['labels', label, requestIndex]);
            for (const input of result?.inputs ?? []) {
              examples.push(exampleOf(input, label, 'labels', { promptHash: result!.promptHash, seedExampleIds: pick.map((example) => example.id) }));
            }
            progress(count);
          })(),
        );
      }
    }
    await Promise.all(jobs);
  };

  const runTopics = async (): Promise<void> => {
    const breadth = positive(options.breadth ?? 3, 'breadth');
    const depth = positive(options.depth ?? 2, 'depth');
    const perTopic = positive(options.perTopic ?? 5, 'perTopic');
    const leavesBelow = (level: number): number => breadth ** (depth - level);
    total = leavesBelow(0) * perTopic;

    const leaf = async (path: readonly string[]): Promise<void> => {
      const jobs: Promise<void>[] = [];
      for (let request = 0, remaining = perTopic; remaining > 0; request += 1, remaining -= perRequest) {
        const count = Math.min(perRequest, remaining);
        const requestIndex = request;
        jobs.push(
          (async () => {
            const hint = VARIATION_HINTS[requestIndex % VARIATION_HINTS.length]!;
            const result = await askInputs(topicInputsPrompt(task, path, count, `variation ${requestIndex + 1}: make them ${hint}`), count, ['topics', ...path, requestIndex]);
            await Promise.all(
              (result?.inputs ?? []).map(async (input) => {
                const answer = await askAnswer(input, ['answer', input]);
                if (answer.ok) examples.push(exampleOf(input, answer.value, 'topics', { promptHash: result!.promptHash, answerPromptHash: answer.promptHash, topicPath: [...path] }));
                else {
                  seen.delete(inputKeyOf(input));
                  lose(answer.reason, 1);
                }
              }),
            );
            progress(count);
          })(),
        );
      }
      await Promise.all(jobs);
    };

    const expand = async (path: readonly string[]): Promise<void> => {
      if (path.length === depth) return leaf(path);
      const request = withModel({ messages: subtopicPrompt(task, path, breadth), temperature, maxTokens: maxListTokens, constraint: { kind: 'json-schema', name: 'topics', schema: listSchema('topics', breadth) } });
      const answer = await ask(request, ['subtopics', ...path], (text) => parseList(text, 'topics'));
      const below = leavesBelow(path.length + 1) * perTopic;
      if (!answer.ok) {
        lose(answer.reason, breadth * below);
        progress(breadth * below);
        return;
      }
      const topics = answer.value.slice(0, breadth);
      const missing = breadth - topics.length;
      lose('refusal', missing * below);
      if (missing > 0) progress(missing * below);
      await Promise.all(topics.map((topic) => expand([...path, topic])));
    };
    await expand([]);
  };

  const runRelabel = async (): Promise<void> => {
    const targets = options.all === true
      ? pool.filter((example) => example.source === 'human' && example.split === 'train')
      : pool.filter((example) => example.answer === null && example.split !== 'eval');
    total = targets.length;
    await Promise.all(
      targets.map(async (example) => {
        const answer = await askAnswer(example.input, ['answer', example.input]);
        if (!answer.ok) lose(answer.reason, 1);
        else if (answer.value === example.answer) unchanged += 1;
        else relabels.push({ example, answer: answer.value });
        progress(1);
      }),
    );
  };

  try {
    if (options.mode === 'labels') await runLabels();
    else if (options.mode === 'topics') await runTopics();
    else await runRelabel();
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
  if (fatal !== undefined) throw fatal;
  if (options.signal?.aborted === true) throw new ProviderError('generation was interrupted; nothing was written (answers so far are cached)', { failure: 'aborted', provider: teacher.provider.id, cause: options.signal.reason });

  // Generated in completion order; stored in a stable order (by label/topic, then input).
  examples.sort((a, b) => compareText(a.answer ?? '', b.answer ?? '') || compareText(a.input, b.input));
  store.updateAnswers(relabels.map(({ example, answer }) => ({
    id: example.id,
    answer,
    messages: withAssistant(example.messages, answer),
    provenance: { relabeledBy: `${teacher.name} ${teacher.model}` },
    addTags: ['relabeled'],
  })));
  const settings = {
    seed: baseSeed,
    temperature,
    inputsPerRequest: perRequest,
    maxReasks,
    concurrency,
    ...(options.maxCalls === undefined ? {} : { maxCalls: options.maxCalls }),
    ...(options.mode === 'labels' ? { labels: options.onlyLabels ?? 'all', perLabel: options.perLabel ?? 20, seedExamples: options.seedExamples ?? 5 } : {}),
    ...(options.mode === 'topics' ? { breadth: options.breadth ?? 3, depth: options.depth ?? 2, perTopic: options.perTopic ?? 5 } : {}),
    ...(options.mode === 'relabel' ? { all: options.all === true, relabeledIds: relabels.map(({ example }) => example.id) } : {}),
  };
  const batch = store.addBatch({
    task: task.name,
    kind: options.mode === 'relabel' ? 'relabel' : 'generate',
    source: {
      mode: options.mode,
      provider: teacher.name,
      model: teacher.model,
      settings,
      costUsd: account.costUsd,
      unknownCostCalls: account.unknownCostCalls,
      tokens: account.tokens,
      calls: account.calls,
      cachedCalls: account.cachedCalls,
      lost: account.lost,
    },
    examples,
  });
  return {
    mode: options.mode,
    batchId: batch.id,
    added: examples.length,
    relabeled: relabels.length,
    unchanged,
    requested: total,
    ...account,
    seconds: (performance.now() - started) / 1000,
  };
}

function positive(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1) throw new InvalidInputError(`${field} must be a positive integer, got ${value}`, { field });
  return value;
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The reason a failed call lost its examples; `undefined` for errors no retry can fix (they stop the run). */
function reasonOf(error: unknown, constraint: OutputConstraint | undefined): LostReason | undefined {
  if (!ProviderError.isInstance(error)) return undefined;
  switch (error.failure) {
    case 'timeout':
      return 'timeout';
    case 'network':
    case 'bad-response':
    case 'engine':
      return 'server-error';
    case 'constraint-violated':
      if (REFUSAL.test(error.message)) return 'refusal';
      return constraint?.kind === 'labels' ? 'schema' : 'invalid-json';
    case 'http-status':
      if (error.statusCode === 429) return 'rate-limited';
      return error.isRetryable ? 'server-error' : undefined;
    default:
      return undefined;
  }
}

/** `{"<field>": [string, ...]}` → the non-empty, distinct strings; an empty list or a declining text is a refusal. */
function parseList(text: string, field: 'inputs' | 'topics'): Parsed<string[]> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    if (text.trim() === '' || REFUSAL.test(text)) return { ok: false, reason: 'refusal', detail: text.slice(0, 200) };
    return { ok: false, reason: 'invalid-json', detail: text.slice(0, 200) };
  }
  const list = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[field] : undefined;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) return { ok: false, reason: 'schema', detail: `expected {"${field}": [string, ...]}` };
  const keys = new Set<string>();
  const items: string[] = [];
  for (const item of list as string[]) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const key = inputKeyOf(trimmed);
    if (keys.has(key)) continue;
    keys.add(key);
    items.push(trimmed);
  }
  if (items.length === 0) return { ok: false, reason: 'refusal', detail: `no ${field} in the answer` };
  return { ok: true, value: items };
}

/** A label of the set, or compact JSON valid under the task's schema. */
function parseAnswer(text: string, constraint: OutputConstraint): Parsed<string> {
  if (constraint.kind === 'labels') {
    const label = text.trim();
    if (constraint.labels.includes(label)) return { ok: true, value: label };
    return { ok: false, reason: REFUSAL.test(text) ? 'refusal' : 'schema', detail: `not a label: ${text.slice(0, 200)}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: REFUSAL.test(text) ? 'refusal' : 'invalid-json', detail: text.slice(0, 200) };
  }
  const violations = validateJsonSchema(constraint.schema, value);
  if (violations.length > 0) return { ok: false, reason: 'schema', detail: violations.map((violation) => `${violation.path || '/'}: ${violation.message}`).join('; ') };
  return { ok: true, value: JSON.stringify(value) };
}

/** The conversation with the assistant turn set to `answer` (replaced, or appended when it has none). */
function withAssistant(messages: readonly ChatMessage[], answer: string): ChatMessage[] {
  const last = messages.at(-1);
  if (last?.role === 'assistant') return [...messages.slice(0, -1), { role: 'assistant', content: answer }];
  return [...messages, { role: 'assistant', content: answer }];
}

/** What the teacher is told when it answers an input: the task's baseline prompt, with the label list filled in. */
function teacherAnswerPrompt(task: Task, labels: readonly string[]): string {
  if (task.output.type === 'labels') return task.baselinePrompt.replaceAll('{labels}', labels.join('\n'));
  return `${task.baselinePrompt}\nAnswer with JSON only, valid under the given schema.`;
}

const writerSystem = (task: Task): string =>
  'You write realistic training data for a small model. The model will be given this instruction:\n' +
  `"${task.systemPrompt}"\n` +
  'You write the user inputs it will receive, as real users would type them. Reply with JSON only.';

function labelPrompt(task: Task, label: string, count: number, seeds: readonly string[], variation: string): ChatMessage[] {
  const shown = seeds.length === 0 ? '' : `\nReal inputs with this label, for reference (do not copy or lightly edit them):\n${seeds.map((seed) => `- ${JSON.stringify(seed)}`).join('\n')}\n`;
  return [
    { role: 'system', content: writerSystem(task) },
    {
      role: 'user',
      content:
        `Write ${count} new user inputs whose correct label is "${label}".\n${shown}` +
        `Make them varied in wording, length and detail, and different from each other; ${variation}.\n` +
        `Reply as {"inputs": [${count} strings]}.`,
    },
  ];
}

function subtopicPrompt(task: Task, path: readonly string[], breadth: number): ChatMessage[] {
  const scope = path.length === 0 ? 'the inputs this task receives' : `the topic "${path.join(' > ')}"`;
  return [
    { role: 'system', content: writerSystem(task) },
    { role: 'user', content: `List ${breadth} distinct subtopics of ${scope}, covering different situations users are in.\nReply as {"topics": [${breadth} short strings]}.` },
  ];
}

function topicInputsPrompt(task: Task, path: readonly string[], count: number, variation: string): ChatMessage[] {
  return [
    { role: 'system', content: writerSystem(task) },
    {
      role: 'user',
      content: `Write ${count} new user inputs for this task about "${path.join(' > ')}".\nMake them varied in wording, length and detail; ${variation}.\nReply as {"inputs": [${count} strings]}.`,
    },
  ];
}
