import type { LoadedConfig } from '../adapters/config-file.ts';
import { compileResolvedChatTemplate } from '../adapters/models/chat-template-source.ts';
import type { PoolExample } from '../adapters/store/curation-store.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import { openTokenCounter } from '../adapters/token-counter.ts';
import type { ExampleSource, ReviewState, Split } from '../contracts/curation.ts';
import type { ChatMessage } from '../contracts/worker.ts';
import { describeError } from '../core/errors.ts';
import { percentile } from '../core/statistics.ts';
import { messagesWithAnswer } from './review-queue.ts';
import { resolveBaseChatTemplate, resolveBaseModel } from './run-slice.ts';

/**
 * `understudy data stats`: what the pool of a task holds — counts by label × source × split, review states, what
 * the newest filter run dropped at each step, the held-out set, and how long the conversations are in tokens of the
 * model's chat template.
 */

/** The answer an example is counted under: its label, `(json)` for a schema task, `(unlabeled)` without one. */
export const UNLABELED = '(unlabeled)';
export const JSON_ANSWER = '(json)';

export interface CountCell {
  label: string;
  source: ExampleSource;
  split: Split | 'none';
  count: number;
}

export interface FilterStepStats {
  step: string;
  before: number;
  dropped: number;
  after: number;
  skipped: string | null;
  seconds: number;
  /** The most frequent drop reasons, most first. */
  topReasons: { reason: string; count: number }[];
}

export interface LengthSummary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LengthStats {
  /** `tokens`: rendered with the base's chat template and tokenized by llama.cpp; `words`: whitespace-separated words of all turns. */
  unit: 'tokens' | 'words';
  /** How they were counted, or why tokens could not be. */
  how: string;
  curatedTrain: LengthSummary | null;
  heldout: LengthSummary | null;
}

export interface DataStats {
  task: string;
  total: number;
  /** Non-empty label × source × split cells, sorted by label, split, source. */
  counts: CountCell[];
  bySplit: Record<Split | 'none', number>;
  bySource: Record<ExampleSource, number>;
  reviews: Record<ReviewState, number>;
  reviewsBySplit: Record<Split | 'none', Record<ReviewState, number>>;
  /** Split train, kept by the newest filter run, not rejected, not held out: what export and training take. */
  curatedTrain: number;
  filterRun: {
    id: string;
    createdAt: string;
    before: number;
    after: number;
    steps: FilterStepStats[];
    /** Drops recorded for this run, by step (from the drop rows, which export and review go by). */
    droppedByStep: Record<string, number>;
  } | null;
  heldout: { version: number; size: number; contentHash: string; createdAt: string; versions: number } | null;
  lengths: LengthStats | null;
}

const zeroReviews = (): Record<ReviewState, number> => ({ pending: 0, accepted: 0, rejected: 0, edited: 0 });

/** The label an example is counted under. */
export function labelOf(example: Pick<PoolExample, 'answer'>, labelTask: boolean): string {
  if (example.answer === null) return UNLABELED;
  return labelTask ? example.answer : JSON_ANSWER;
}

/** The curated train set: split train, kept by the newest filter run, not rejected, outside the newest held-out version. */
export function curatedTrainSet(store: Pick<Store, 'curation'>, task: string): PoolExample[] {
  const heldout = new Set(store.curation.latestHeldout(task)?.exampleIds ?? []);
  return store.curation.listPool(task, { split: 'train', keptByFilters: true, review: ['pending', 'accepted', 'edited'] }).filter((example) => !heldout.has(example.id));
}

/** The newest held-out version's examples that are not rejected. */
export function heldoutSet(store: Pick<Store, 'curation'>, task: string): PoolExample[] {
  const ids = store.curation.latestHeldout(task)?.exampleIds ?? [];
  return ids.map((id) => store.curation.getExample(id)).filter((example): example is PoolExample => example !== undefined && example.review !== 'rejected');
}

/** Everything but the lengths (they need the model; see `measureLengths`). */
export function collectDataStats(store: Pick<Store, 'curation'>, task: string, options: { labelTask: boolean }): DataStats {
  const pool = store.curation.listPool(task);
  const cells = new Map<string, CountCell>();
  const bySplit: DataStats['bySplit'] = { train: 0, eval: 0, none: 0 };
  const bySource: DataStats['bySource'] = { human: 0, synthetic: 0, log: 0 };
  const reviews = zeroReviews();
  const reviewsBySplit: DataStats['reviewsBySplit'] = { train: zeroReviews(), eval: zeroReviews(), none: zeroReviews() };
  for (const example of pool) {
    const split = example.split ?? 'none';
    const label = labelOf(example, options.labelTask);
    const key = JSON.stringify([label, example.source, split]);
    const cell = cells.get(key) ?? { label, source: example.source, split, count: 0 };
    cell.count += 1;
    cells.set(key, cell);
    bySplit[split] += 1;
    bySource[example.source] += 1;
    reviews[example.review] += 1;
    reviewsBySplit[split][example.review] += 1;
  }
  const counts = [...cells.values()].sort((a, b) => a.label.localeCompare(b.label) || a.split.localeCompare(b.split) || a.source.localeCompare(b.source));

  const run = store.curation.latestFilterRun(task);
  const droppedByStep: Record<string, number> = {};
  for (const drop of run?.drops ?? []) droppedByStep[drop.step] = (droppedByStep[drop.step] ?? 0) + 1;
  const filterRun = run === undefined ? null : {
    id: run.id,
    createdAt: run.createdAt,
    before: run.report.before,
    after: run.report.after,
    steps: run.report.steps.map((step): FilterStepStats => ({
      step: step.step,
      before: step.before,
      dropped: step.dropped,
      after: step.after,
      skipped: step.skipped ?? null,
      seconds: step.seconds,
      topReasons: Object.entries(step.reasons).sort(([a, countA], [b, countB]) => countB - countA || a.localeCompare(b)).slice(0, 3).map(([reason, count]) => ({ reason, count })),
    })),
    droppedByStep,
  };

  const latest = store.curation.latestHeldout(task);
  const heldout = latest === undefined ? null : {
    version: latest.version,
    size: latest.exampleIds.length,
    contentHash: latest.contentHash,
    createdAt: latest.createdAt,
    versions: store.curation.listHeldoutVersions(task).length,
  };
  return { task, total: pool.length, counts, bySplit, bySource, reviews, reviewsBySplit, curatedTrain: curatedTrainSet(store, task).length, filterRun, heldout, lengths: null };
}

/** min, p50, p90, p99 (numpy's linear percentiles) and max; null for no values. */
export function summarizeLengths(values: readonly number[]): LengthSummary | null {
  if (values.length === 0) return null;
  const round = (value: number): number => Math.round(value * 10) / 10;
  return { count: values.length, min: Math.min(...values), p50: round(percentile(values, 50)), p90: round(percentile(values, 90)), p99: round(percentile(values, 99)), max: Math.max(...values) };
}

/** Whitespace-separated words over all turns: the fallback when no token counter can be opened. */
export function wordCount(messages: readonly ChatMessage[]): number {
  return messages.reduce((total, message) => total + message.content.split(/\s+/).filter(Boolean).length, 0);
}

/**
 * Lengths of the curated train set's and the held-out set's conversations (answer included), in tokens of the base
 * model's chat template when `tokens` is true and the base resolves, else in words (`how` says why).
 */
export async function measureLengths(input: { store: Pick<Store, 'curation'>; task: string; loaded: LoadedConfig; tokens: boolean; onMessage?: (message: string) => void }): Promise<LengthStats> {
  const conversation = (example: PoolExample): ChatMessage[] => (example.answer === null ? example.messages : messagesWithAnswer(example, example.answer, input.loaded.config.task.systemPrompt));
  const train = curatedTrainSet(input.store, input.task).map(conversation);
  const heldout = heldoutSet(input.store, input.task).map(conversation);
  const inWords = (how: string): LengthStats => ({ unit: 'words', how, curatedTrain: summarizeLengths(train.map(wordCount)), heldout: summarizeLengths(heldout.map(wordCount)) });
  if (!input.tokens) return inWords('words (--no-tokens)');
  let counter: Awaited<ReturnType<typeof openTokenCounter>>;
  let how: string;
  try {
    const base = await resolveBaseModel(input.loaded, input.onMessage);
    const template = await resolveBaseChatTemplate(input.loaded, base);
    counter = await openTokenCounter({ ggufPath: base.ggufPath, chatTemplate: compileResolvedChatTemplate(template) });
    how = `tokens of ${base.name} with its ${template.origin === 'gguf' ? 'GGUF' : `built-in ${template.family ?? ''}`} chat template`;
  } catch (error) {
    return inWords(`words: the base model's tokenizer could not be opened (${describeError(error)})`);
  }
  try {
    let refused = 0;
    const count = (conversations: ChatMessage[][]): number[] => conversations.flatMap((messages) => {
      try {
        return [counter.countChat(messages)];
      } catch {
        refused += 1;
        return [];
      }
    });
    const curatedTrain = summarizeLengths(count(train));
    const heldoutLengths = summarizeLengths(count(heldout));
    return { unit: 'tokens', how: refused === 0 ? how : `${how}; ${refused} conversation(s) the template refused are left out`, curatedTrain, heldout: heldoutLengths };
  } finally {
    await counter.close();
  }
}
