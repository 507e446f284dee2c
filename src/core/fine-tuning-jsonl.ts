/**
 * Checks a chat fine-tuning JSONL file (one `{"messages": [...]}` per line) before it is uploaded, so a file a
 * service would refuse is caught here, naming the line and field, before anything is spent. The rules are the
 * services' documented ones: roles system, user or assistant, non-empty text, a system message only first, an
 * assistant answer to learn last; Together also wants user and assistant turns to alternate
 * (https://docs.together.ai/docs/fine-tuning/data-preparation). It also gives a token estimate for pricing.
 */
import { InvalidInputError } from './errors.ts';

export interface FineTuningMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
  weight?: 0 | 1;
}

export interface CheckedFineTuningFile {
  records: { messages: FineTuningMessage[] }[];
}

const ROLES = new Set(['system', 'user', 'assistant']);
const UTF8 = new TextEncoder();

/** Parse and check every line; the first problem is an InvalidInputError with the file, 1-based line and field. */
export function checkFineTuningJsonl(text: string, options: { file: string; alternating?: boolean }): CheckedFineTuningFile {
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  if (text.trim() === '') throw new InvalidInputError('the fine-tuning file is empty', { file: options.file });
  const records = lines.map((line, index) => {
    const number = index + 1;
    const fail = (message: string, field?: string): never => {
      throw new InvalidInputError(message, { file: options.file, line: number, ...(field === undefined ? {} : { field }) });
    };
    if (line.trim() === '') return fail('a blank line (every line must be one JSON example)');
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      return fail(`not JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('not a JSON object');
    const list: unknown = (value as { messages?: unknown }).messages;
    if (!Array.isArray(list) || list.length === 0) return fail('needs a non-empty `messages` list', 'messages');
    const messages = (list as unknown[]).map((message, position): FineTuningMessage => {
      const field = `messages[${position}]`;
      if (typeof message !== 'object' || message === null) return fail('a message is not an object', field);
      const { role, content, weight } = message as { role?: unknown; content?: unknown; weight?: unknown };
      if (typeof role !== 'string' || !ROLES.has(role)) return fail(`role must be system, user or assistant, got ${JSON.stringify(role)}`, `${field}.role`);
      if (typeof content !== 'string' || content.trim() === '') return fail('content must be non-empty text', `${field}.content`);
      if (weight !== undefined && weight !== 0 && weight !== 1) return fail(`weight must be 0 or 1, got ${JSON.stringify(weight)}`, `${field}.weight`);
      if (weight !== undefined && role !== 'assistant') return fail('only assistant messages carry a weight', `${field}.weight`);
      if (role === 'system' && position !== 0) return fail('a system message may only come first', `${field}.role`);
      return { role: role as FineTuningMessage['role'], content, ...(weight === undefined ? {} : { weight }) };
    });
    const last = messages.at(-1)!;
    if (last.role !== 'assistant' || last.weight === 0) return fail('the last message must be the assistant answer to learn', `messages[${messages.length - 1}].role`);
    if (options.alternating === true) {
      const turns = messages[0]!.role === 'system' ? messages.slice(1) : messages;
      turns.forEach((message, position) => {
        const expected = position % 2 === 0 ? 'user' : 'assistant';
        const index = position + messages.length - turns.length;
        if (message.role !== expected) fail(`user and assistant turns must alternate after the system message: expected ${expected}, got ${message.role}`, `messages[${index}].role`);
      });
    }
    return { messages };
  });
  return { records };
}

/**
 * Tokens of one chat example, estimated without the service's tokenizer: about four bytes of text per token (the
 * usual figure for English under OpenAI's and Llama's tokenizers) plus four tokens of chat formatting per message and
 * three to start the answer. An estimate for the cost shown before a job starts; the service's own count is what it bills.
 */
export function estimateChatTokens(messages: readonly { content: string }[]): number {
  let tokens = 3;
  for (const message of messages) tokens += 4 + Math.ceil(UTF8.encode(message.content).length / 4);
  return tokens;
}

export const CHAT_TOKEN_ESTIMATE_METHOD = 'estimated at ~4 bytes of text per token + 4 per message; the service counts with its own tokenizer';
