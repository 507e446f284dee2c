import type { PoolExample } from '../adapters/store/curation-store.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { TaskOutput } from '../contracts/config.ts';
import type { ExampleSource } from '../contracts/curation.ts';
import type { ChatMessage, PreferencePair } from '../contracts/worker.ts';
import { InvalidInputError } from '../core/errors.ts';
import { validateJsonSchema } from '../core/json-schema-validate.ts';

/**
 * The review queue of a task's pool (`understudy data review`): pending examples one at a time, a decision for each
 * (accept, reject, or edit the answer), and the (original, edited) answers of edits as DPO preference pairs.
 */

/** Which side of the split to review; `all` includes examples not yet split. */
export type ReviewSplit = 'train' | 'eval' | 'all';

export interface ReviewQueueOptions {
  /** Default `train`. */
  split?: ReviewSplit;
  source?: ExampleSource;
  /** At most this many examples (the first of the queue order). */
  limit?: number;
}

/** What a reviewer decided about one example. */
export type ReviewDecision = { kind: 'accept' } | { kind: 'reject' } | { kind: 'edit'; answer: string };

/** The parts of the task an edit is checked against. */
export interface ReviewTask {
  systemPrompt: string;
  output: TaskOutput;
  /** The task's labels (`LoadedConfig.labels`); empty for a JSON-schema task. */
  labels: readonly string[];
}

/** Queue order: synthetic examples first (a teacher wrote them, so they need a person most), then gateway logs, then human ones; by id within each. */
const SOURCE_ORDER: Record<ExampleSource, number> = { synthetic: 0, log: 1, human: 2 };

/**
 * The pending examples to review, in a stable order: by source (synthetic, log, human), then by id. The train side
 * leaves out examples the newest filter run dropped (no point reviewing what will not be trained on); the eval side
 * is the held-out split as assigned.
 */
export function reviewQueue(store: Pick<Store, 'curation'>, task: string, options: ReviewQueueOptions = {}): PoolExample[] {
  const split = options.split ?? 'train';
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 0)) {
    throw new InvalidInputError(`the limit must be a non-negative integer, got ${options.limit}`, { field: '--limit' });
  }
  const pending = store.curation.listPool(task, {
    review: ['pending'],
    source: options.source,
    ...(split === 'all' ? {} : { split }),
    ...(split === 'train' ? { keptByFilters: true } : {}),
  });
  const ordered = [...pending].sort((a, b) => SOURCE_ORDER[a.source] - SOURCE_ORDER[b.source] || a.id - b.id);
  return options.limit === undefined ? ordered : ordered.slice(0, options.limit);
}

/** How a typed answer matched the task's labels. */
export type LabelMatch = { kind: 'match'; label: string } | { kind: 'ambiguous'; candidates: string[] } | { kind: 'none' };

/**
 * Resolve what a reviewer typed to one label: the exact label, else a case-insensitive match, else the only label
 * starting with it (case-insensitive). Several labels sharing the prefix come back as candidates.
 */
export function matchLabel(typed: string, labels: readonly string[]): LabelMatch {
  const text = typed.trim();
  if (text === '') return { kind: 'none' };
  if (labels.includes(text)) return { kind: 'match', label: text };
  const lower = text.toLowerCase();
  const caseless = labels.filter((label) => label.toLowerCase() === lower);
  if (caseless.length === 1) return { kind: 'match', label: caseless[0]! };
  const prefixed = labels.filter((label) => label.toLowerCase().startsWith(lower));
  if (prefixed.length === 1) return { kind: 'match', label: prefixed[0]! };
  if (prefixed.length > 1) return { kind: 'ambiguous', candidates: prefixed };
  return caseless.length > 1 ? { kind: 'ambiguous', candidates: caseless } : { kind: 'none' };
}

/**
 * Check an edited answer against the task: one of the labels exactly, or JSON valid under the task's schema.
 * Returns the answer as it will be stored; throws InvalidInputError naming the field otherwise.
 */
export function checkAnswer(answer: string, task: ReviewTask): string {
  if (task.output.type === 'labels') {
    if (!task.labels.includes(answer)) {
      const match = matchLabel(answer, task.labels);
      const hint = match.kind === 'match' ? `did you mean ${match.label}?` : match.kind === 'ambiguous' ? `candidates: ${match.candidates.slice(0, 10).join(', ')}` : undefined;
      throw new InvalidInputError(`"${answer}" is not one of the task's ${task.labels.length} labels`, { field: 'answer', hint });
    }
    return answer;
  }
  let value: unknown;
  try {
    value = JSON.parse(answer);
  } catch (error) {
    throw new InvalidInputError(`the answer is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, { field: 'answer' });
  }
  const violations = validateJsonSchema(task.output.schema, value);
  if (violations.length > 0) {
    const listed = violations.slice(0, 3).map((violation) => `${violation.path === '' ? '/' : violation.path}: ${violation.message}`).join('; ');
    throw new InvalidInputError(`the answer breaks the task's JSON schema: ${listed}${violations.length > 3 ? ` (and ${violations.length - 3} more)` : ''}`, { field: 'answer' });
  }
  return answer;
}

/** The conversation up to (not including) its final assistant turn: what the answer replies to. */
export function promptMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.at(-1)?.role === 'assistant' ? messages.slice(0, -1) : [...messages];
}

/** The example's conversation with `answer` as its final assistant turn (rebuilt from the task's prompt if it has no user turn). */
export function messagesWithAnswer(example: Pick<PoolExample, 'messages' | 'input'>, answer: string, systemPrompt: string): ChatMessage[] {
  const prompt = promptMessages(example.messages);
  const base = prompt.some((message) => message.role === 'user') ? prompt : [{ role: 'system' as const, content: systemPrompt }, { role: 'user' as const, content: example.input }];
  return [...base, { role: 'assistant', content: answer }];
}

/**
 * Record a decision on one pool example and return it as stored. An edit checks the new answer against the task,
 * rebuilds the conversation with it and keeps the original answer and messages (the store does on the first change).
 */
export function applyReview(store: Pick<Store, 'curation'>, id: number, decision: ReviewDecision, task: ReviewTask): PoolExample {
  const example = store.curation.getExample(id);
  if (example === undefined) throw new InvalidInputError(`no pool example ${id}`, { field: 'id' });
  if (decision.kind === 'edit') {
    const answer = checkAnswer(decision.answer, task);
    store.curation.updateAnswer(id, { answer, messages: messagesWithAnswer(example, answer, task.systemPrompt), review: 'edited' });
  } else {
    store.curation.setReview(id, decision.kind === 'accept' ? 'accepted' : 'rejected');
  }
  return store.curation.getExample(id)!;
}

/** What an example looked like before a decision, so the decision can be undone. */
export type ReviewSnapshot = Pick<PoolExample, 'id' | 'answer' | 'messages' | 'review' | 'originalAnswer' | 'originalMessages' | 'reviewedAt'>;

/** Take a snapshot of an example before deciding on it. */
export function reviewSnapshot(example: PoolExample): ReviewSnapshot {
  const { id, answer, messages, review, originalAnswer, originalMessages, reviewedAt } = example;
  return { id, answer, messages, review, originalAnswer, originalMessages, reviewedAt };
}

/** Put an example back exactly as a snapshot recorded it (undo): answer, messages, review state and originals. */
export function restoreSnapshot(store: Pick<Store, 'curation'>, snapshot: ReviewSnapshot): void {
  if (store.curation.getExample(snapshot.id) === undefined) throw new InvalidInputError(`no pool example ${snapshot.id}`, { field: 'id' });
  store.curation.restoreExample(snapshot);
}

/** One DPO preference pair from a review edit, in the record shape `train --method dpo` reads (PreferencePair), plus its example. */
export interface EditPreferencePair extends PreferencePair {
  exampleId: number;
}

/**
 * Preference pairs from review edits: chosen = the edited answer, rejected = the original one, prompt = the
 * conversation before the answer. Only train-side examples outside the newest held-out version (held-out data is
 * never trained on), and only edits that changed the answer (a pair that prefers nothing teaches nothing).
 * `JSON.stringify(PreferencePairSchema.parse(pair))` is a line of DPO training data.
 */
export function preferencePairsFromEdits(store: Pick<Store, 'curation'>, task: string): EditPreferencePair[] {
  const heldout = new Set(store.curation.latestHeldout(task)?.exampleIds ?? []);
  return store.curation.listPool(task, { review: ['edited'], split: 'train' })
    .filter((example) => !heldout.has(example.id) && example.answer !== null && example.originalAnswer !== null && example.originalAnswer !== example.answer)
    .map((example): EditPreferencePair => ({
      exampleId: example.id,
      prompt: promptMessages(example.messages),
      chosen: [{ role: 'assistant', content: example.answer! }],
      rejected: [{ role: 'assistant', content: example.originalAnswer! }],
    }))
    .filter((pair) => pair.prompt.length > 0);
}

/**
 * A decision made outside the terminal loop (the dashboard), with the terminal's rules: an edited label may be a
 * case-insensitive match or a unique prefix of one, and an edit to the answer the example already has is an accept
 * (a DPO pair of two equal answers would prefer nothing). Returns the example as stored and what was applied.
 */
export function decideReview(store: Pick<Store, 'curation'>, id: number, decision: ReviewDecision, task: ReviewTask): { example: PoolExample; applied: ReviewDecision['kind'] } {
  const example = store.curation.getExample(id);
  if (example === undefined) throw new InvalidInputError(`no pool example ${id}`, { field: 'id' });
  if (decision.kind !== 'edit') return { example: applyReview(store, id, decision, task), applied: decision.kind };
  let answer = decision.answer.trim();
  if (task.output.type === 'labels') {
    const match = matchLabel(answer, task.labels);
    if (match.kind === 'match') answer = match.label;
  }
  answer = checkAnswer(answer, task);
  if (answer === example.answer) return { example: applyReview(store, id, { kind: 'accept' }, task), applied: 'accept' };
  return { example: applyReview(store, id, { kind: 'edit', answer }, task), applied: 'edit' };
}
