/**
 * Checks the chat fine-tuning examples we are about to upload (one `{"messages": [...]}` per line), so a file a
 * service would refuse is caught here, naming the line and field, before anything is spent. Roles and the assistant
 * answer last are guaranteed by how the records are built (`openAiFineTuningJsonl`); what our data can still get
 * wrong is checked: non-empty text, a system message only first, and, for Together, user and assistant turns that
 * alternate (https://docs.together.ai/docs/fine-tuning/data-preparation). It also gives a token estimate for pricing.
 */
import { InvalidInputError } from './errors.ts';

/** One example as it becomes one line: the prompt's messages, then the completion's. */
export interface FineTuningExample {
  prompt: readonly { role: string; content: string }[];
  completion: readonly { role: string; content: string }[];
}

const UTF8 = new TextEncoder();

/**
 * Check every example of a file; the first problem is an InvalidInputError with the file, the 1-based line (the
 * example's index + 1) and the field (`messages[i]...`, counted over prompt then completion).
 */
export function checkFineTuningExamples(examples: readonly FineTuningExample[], options: { file: string; alternating?: boolean }): void {
  examples.forEach((example, index) => {
    const fail = (message: string, field: string): never => {
      throw new InvalidInputError(message, { file: options.file, line: index + 1, field });
    };
    const messages = [...example.prompt, ...example.completion];
    messages.forEach((message, position) => {
      if (message.content.trim() === '') fail('content must be non-empty text', `messages[${position}].content`);
      if (message.role === 'system' && position !== 0) fail('a system message may only come first', `messages[${position}].role`);
    });
    if (options.alternating !== true) return;
    const first = messages[0]?.role === 'system' ? 1 : 0;
    for (let position = first; position < messages.length; position += 1) {
      const expected = (position - first) % 2 === 0 ? 'user' : 'assistant';
      const role = messages[position]!.role;
      if (role !== expected) fail(`user and assistant turns must alternate after the system message: expected ${expected}, got ${role}`, `messages[${position}].role`);
    }
  });
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
