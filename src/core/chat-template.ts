import { Template } from '@huggingface/jinja';
import type { ChatMessage } from '../contracts/worker.ts';
import { InvalidInputError } from './errors.ts';

/**
 * Chat templates are Jinja strings, as on the Hugging Face hub: the same string is rendered by transformers'
 * `apply_chat_template` in the training worker and by @huggingface/jinja here for serving, and a parity test
 * checks that both give the same token ids for every catalog model. A GGUF usually carries its model's template
 * (`tokenizer.chat_template`); for a base without one, the catalog names a family whose template is below.
 */
export type ChatTemplateFamily = 'chatml' | 'gemma' | 'llama3' | 'qwen2.5' | 'qwen3' | 'mistral' | 'phi3' | 'phi4';

/** SmolLM2's template inserts this system turn when a conversation has none. */
export const SMOLLM2_DEFAULT_SYSTEM = 'You are a helpful AI assistant named SmolLM, trained by Hugging Face';

/**
 * Gemma's turn format (`<start_of_turn>user … <end_of_turn>`, the assistant's role written `model`), as the
 * Gemma 3 instruction-tuned models use it: Gemma has no system role, so a leading system message becomes a
 * paragraph at the top of the first user turn; roles must alternate; message text is trimmed.
 * Written here for pretrained Gemma bases whose GGUF has no template.
 */
export const GEMMA_CHAT_TEMPLATE = [
  '{{ bos_token }}',
  "{% if messages[0]['role'] == 'system' %}{% set first_user_prefix = messages[0]['content'] + '\\n\\n' %}{% set loop_messages = messages[1:] %}",
  "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}",
  '{% for message in loop_messages %}',
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}",
  "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}",
  "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + (message['content'] | trim) + '<end_of_turn>\\n' }}",
  '{% endfor %}',
  "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}",
].join('');

/** Plain ChatML (`<|im_start|>role\n…<|im_end|>\n`) with no default system turn. */
export const CHATML_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** The template Understudy supplies for a family when the model file has none; undefined: the model must bring its own. */
export function builtInChatTemplate(family: ChatTemplateFamily): string | undefined {
  switch (family) {
    case 'gemma':
      return GEMMA_CHAT_TEMPLATE;
    case 'chatml':
      return CHATML_CHAT_TEMPLATE;
    default:
      return undefined;
  }
}

export interface ChatTemplate {
  /** The Jinja source, as passed to the training worker. */
  readonly source: string;
  render(messages: readonly ChatMessage[], options: { addGenerationPrompt: boolean }): string;
}

/**
 * Compile a Jinja chat template. `bosToken`/`eosToken` are the token texts the template may write
 * (`{{ bos_token }}`). A template that does not parse, or `raise_exception` while rendering, is an InvalidInputError.
 */
export function compileChatTemplate(source: string, tokens: { bosToken?: string; eosToken?: string } = {}): ChatTemplate {
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new InvalidInputError(`the chat template does not parse: ${error instanceof Error ? error.message : String(error)}`, { field: 'chatTemplate' });
  }
  return {
    source,
    render(messages, options) {
      try {
        return template.render({
          messages: messages.map((message) => ({ role: message.role, content: message.content })),
          add_generation_prompt: options.addGenerationPrompt,
          bos_token: tokens.bosToken ?? '',
          eos_token: tokens.eosToken ?? '',
        });
      } catch (error) {
        // `raise_exception(...)` in a template (e.g. roles that do not alternate) arrives here too.
        throw new InvalidInputError(`the chat template refused the conversation: ${error instanceof Error ? error.message : String(error)}`, { field: 'messages' });
      }
    },
  };
}

/**
 * Render a conversation as ChatML, the way SmolLM2-Instruct's Hugging Face template does:
 * `<|im_start|>{role}\n{content}<|im_end|>\n` per message, a default system turn when the first
 * message is not a system one, and `<|im_start|>assistant\n` when a generation prompt is asked for.
 */
export function renderChatMl(messages: readonly ChatMessage[], options: { addGenerationPrompt: boolean; defaultSystem?: string }): string {
  let text = '';
  if (messages.length > 0 && messages[0]!.role !== 'system') text += `<|im_start|>system\n${options.defaultSystem ?? SMOLLM2_DEFAULT_SYSTEM}<|im_end|>\n`;
  for (const message of messages) text += `<|im_start|>${message.role}\n${message.content}<|im_end|>\n`;
  if (options.addGenerationPrompt) text += '<|im_start|>assistant\n';
  return text;
}
