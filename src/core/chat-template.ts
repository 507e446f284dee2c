import type { ChatMessage } from '../contracts/worker.ts';

/** The chat-template families the catalog knows; each renders exactly like its Hugging Face template. */
export type ChatTemplateFamily = 'chatml';

/** SmolLM2's template inserts this system turn when a conversation has none. */
export const SMOLLM2_DEFAULT_SYSTEM = 'You are a helpful AI assistant named SmolLM, trained by Hugging Face';

/**
 * Render a conversation as ChatML, the way SmolLM2-Instruct's Hugging Face template does:
 * `<|im_start|>{role}\n{content}<|im_end|>\n` per message, a default system turn when the first
 * message is not a system one, and `<|im_start|>assistant\n` when a generation prompt is asked for.
 * A parity test checks this against the training tokenizer's own template, token for token.
 */
export function renderChatMl(messages: readonly ChatMessage[], options: { addGenerationPrompt: boolean; defaultSystem?: string }): string {
  let text = '';
  if (messages.length > 0 && messages[0]!.role !== 'system') text += `<|im_start|>system\n${options.defaultSystem ?? SMOLLM2_DEFAULT_SYSTEM}<|im_end|>\n`;
  for (const message of messages) text += `<|im_start|>${message.role}\n${message.content}<|im_end|>\n`;
  if (options.addGenerationPrompt) text += '<|im_start|>assistant\n';
  return text;
}

/** Render with the named family. */
export function renderChatTemplate(family: ChatTemplateFamily, messages: readonly ChatMessage[], options: { addGenerationPrompt: boolean }): string {
  switch (family) {
    case 'chatml':
      return renderChatMl(messages, options);
  }
}
