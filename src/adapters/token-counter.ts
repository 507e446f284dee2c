import type { LlamaModel } from 'node-llama-cpp';
import type { ChatMessage } from '../contracts/worker.ts';
import type { ChatTemplate } from '../core/chat-template.ts';
import { InvalidInputError } from '../core/errors.ts';
import { createCpuLlama } from './llm/llama-cpp-engine.ts';

/** Counts the tokens of conversations as the model sees them: rendered with its chat template, then tokenized. */
export interface TokenCounter {
  /**
   * Tokens of the whole conversation rendered with the chat template. A conversation that ends with the
   * assistant is rendered as trained (no generation prompt); one that ends with the user as served (with one).
   * The template refusing the conversation (e.g. roles that do not alternate) throws an InvalidInputError.
   */
  countChat(messages: readonly ChatMessage[]): number;
  /** Release the vocabulary and the llama.cpp backend. */
  close(): Promise<void>;
}

/**
 * Open a token counter on a GGUF's vocabulary only (`vocabOnly`: no weights are loaded, so it opens in well under a
 * second even for large models). It tokenizes exactly as the embedded engine does: special tokens in the rendered
 * text (`<|im_start|>`) become single tokens and no BOS is added beyond what the template writes.
 */
export async function openTokenCounter(input: { ggufPath: string; chatTemplate: ChatTemplate }): Promise<TokenCounter> {
  const llama = await createCpuLlama();
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath: input.ggufPath, vocabOnly: true });
  } catch (error) {
    await llama.dispose();
    throw new InvalidInputError(`llama.cpp could not read the vocabulary of ${input.ggufPath}: ${error instanceof Error ? error.message : String(error)}`, {
      file: input.ggufPath,
      cause: error,
    });
  }
  let closed = false;
  return {
    countChat(messages) {
      if (closed) throw new Error('the token counter is closed');
      const text = input.chatTemplate.render(messages, { addGenerationPrompt: messages.at(-1)?.role !== 'assistant' });
      return model.tokenize(text, true).length;
    },
    async close() {
      if (closed) return;
      closed = true;
      await model.dispose();
      await llama.dispose();
    },
  };
}
