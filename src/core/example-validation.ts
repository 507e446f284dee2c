import type { TaskOutput } from '../contracts/config.ts';
import type { CandidateExample } from '../contracts/curation.ts';
import type { ChatMessage } from '../contracts/worker.ts';
import { UnderstudyError } from './errors.ts';
import { validateJsonSchema } from './json-schema-validate.ts';

/** One reason an example cannot enter the pool: `field` is `messages`, `messages[2].role`, `input`, `answer` or `tokens`. */
export interface ExampleProblem {
  field: string;
  reason: string;
}

/** What a task asks of its examples: its output kind and, for a label task, the label set. */
export interface ExampleTask {
  output: TaskOutput;
  labels: readonly string[];
}

export interface ExampleValidationOptions {
  /** The longest conversation, in tokens with the chat template, that may enter the pool; absent: no length check. */
  maxTokens?: number;
  /** Tokens of the whole conversation rendered with the model's chat template (`openTokenCounter(...).countChat`). */
  countTokens?: (messages: readonly ChatMessage[]) => number;
  /** Accept an example with `answer: null` (an input awaiting a label); default false. */
  allowUnlabeled?: boolean;
}

/**
 * Everything that keeps `example` out of the task's pool (empty: it may go in):
 * - roles: an optional single leading system message, then user and assistant alternating from a user turn,
 *   ending with the assistant when there is an answer (with a user turn when there is none);
 * - `input` is the last user turn and not empty; `answer` is the final assistant turn and not empty;
 * - a label task's answer is exactly one of its labels (a near miss, e.g. in case or spacing, is named);
 *   a JSON-schema task's answer parses as JSON and is valid under the schema (each violation's path is named);
 * - the conversation fits `maxTokens` with the chat template.
 * An unsupported task schema throws (it is the config that is wrong, not the example).
 */
export function validateExample(example: CandidateExample, task: ExampleTask, options: ExampleValidationOptions = {}): ExampleProblem[] {
  const problems: ExampleProblem[] = [];
  const { messages } = example;
  const roleProblems = checkRoles(messages, example.answer !== null);
  problems.push(...roleProblems);

  const lastUser = [...messages].reverse().find((message) => message.role === 'user');
  if (example.input.trim() === '') problems.push({ field: 'input', reason: 'the input is empty' });
  else if (lastUser !== undefined && lastUser.content !== example.input) problems.push({ field: 'input', reason: 'the input is not the last user message' });

  if (example.answer === null) {
    if (options.allowUnlabeled !== true) problems.push({ field: 'answer', reason: 'no answer (unlabeled inputs are not accepted here)' });
  } else {
    const last = messages.at(-1);
    if (last?.role === 'assistant' && last.content !== example.answer) problems.push({ field: 'answer', reason: 'the answer is not the final assistant message' });
    problems.push(...checkAnswer(example.answer, task));
  }

  // The template may refuse a conversation whose roles are wrong; that is already reported above.
  if (roleProblems.length === 0 && options.maxTokens !== undefined && options.countTokens !== undefined) {
    let tokens: number | undefined;
    try {
      tokens = options.countTokens(messages);
    } catch (error) {
      if (!UnderstudyError.isInstance(error)) throw error;
      problems.push({ field: 'messages', reason: error.message });
    }
    if (tokens !== undefined && tokens > options.maxTokens) {
      problems.push({ field: 'tokens', reason: `${tokens} tokens with the chat template, over the limit of ${options.maxTokens}` });
    }
  }
  return problems;
}

function checkRoles(messages: readonly ChatMessage[], answered: boolean): ExampleProblem[] {
  if (messages.length === 0) return [{ field: 'messages', reason: 'the conversation is empty' }];
  const start = messages[0]!.role === 'system' ? 1 : 0;
  for (let index = start; index < messages.length; index += 1) {
    const expected = (index - start) % 2 === 0 ? 'user' : 'assistant';
    const role = messages[index]!.role;
    if (role !== expected) {
      const reason = role === 'system'
        ? 'a system message may only come first'
        : `expected a ${expected} message here (after an optional system message, user and assistant alternate, starting with user)`;
      return [{ field: `messages[${index}].role`, reason }];
    }
  }
  if (messages.length === start) return [{ field: 'messages', reason: 'the conversation has no user message' }];
  const lastRole = messages.at(-1)!.role;
  if (answered && lastRole !== 'assistant') return [{ field: 'messages', reason: 'the conversation must end with the assistant\'s answer' }];
  if (!answered && lastRole !== 'user') return [{ field: 'messages', reason: 'an unlabeled conversation must end with a user message' }];
  return [];
}

function checkAnswer(answer: string, task: ExampleTask): ExampleProblem[] {
  if (answer.trim() === '') return [{ field: 'answer', reason: 'the answer is empty' }];
  if (task.output.type === 'labels') {
    if (task.labels.includes(answer)) return [];
    const closest = closestLabel(answer, task.labels);
    const hint = closest === undefined ? ` (${task.labels.length} labels)` : `; closest: ${JSON.stringify(closest.label)}${closest.kind === 'spelling' ? '' : ' (differs only in case, spacing or separators)'}`;
    return [{ field: 'answer', reason: `${JSON.stringify(answer)} is not in the task's label set${hint}` }];
  }
  let value: unknown;
  try {
    value = JSON.parse(answer);
  } catch (error) {
    return [{ field: 'answer', reason: `the answer is not valid JSON: ${error instanceof Error ? error.message : String(error)}` }];
  }
  const violations = validateJsonSchema(task.output.schema, value);
  if (violations.length === 0) return [];
  const shown = violations.slice(0, 3).map((violation) => `${violation.path === '' ? '/' : violation.path}: ${violation.message}`);
  const more = violations.length > shown.length ? `; and ${violations.length - shown.length} more` : '';
  return [{ field: 'answer', reason: `the answer does not match the task's JSON schema: ${shown.join('; ')}${more}` }];
}

const normalizeLabel = (label: string): string => label.trim().toLowerCase().replace(/[\s_\-.]+/g, '_');

/** A label that `answer` nearly matches: equal after normalizing case/spacing/separators, else within a small edit distance. */
export function closestLabel(answer: string, labels: readonly string[]): { label: string; kind: 'normalized' | 'spelling' } | undefined {
  const normalized = normalizeLabel(answer);
  const same = labels.find((label) => normalizeLabel(label) === normalized);
  if (same !== undefined) return { label: same, kind: 'normalized' };
  const allowed = Math.max(1, Math.floor(normalized.length / 6));
  let best: { label: string; distance: number } | undefined;
  for (const label of labels) {
    const distance = editDistance(normalized, normalizeLabel(label), allowed);
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { label, distance };
  }
  return best === undefined ? undefined : { label: best.label, kind: 'spelling' };
}

/** Levenshtein distance, stopping early once every path exceeds `limit` (then returns limit + 1). */
function editDistance(left: string, right: string, limit: number): number {
  if (Math.abs(left.length - right.length) > limit) return limit + 1;
  let previous = Array.from({ length: right.length + 1 }, (_, index) => index);
  for (let row = 1; row <= left.length; row += 1) {
    const current = [row];
    let rowMinimum = row;
    for (let column = 1; column <= right.length; column += 1) {
      const cost = left[row - 1] === right[column - 1] ? 0 : 1;
      const value = Math.min(previous[column]! + 1, current[column - 1]! + 1, previous[column - 1]! + cost);
      current.push(value);
      rowMinimum = Math.min(rowMinimum, value);
    }
    if (rowMinimum > limit) return limit + 1;
    previous = current;
  }
  return previous[right.length]!;
}
