import { readGgufFileInfo } from 'node-llama-cpp';
import type { z } from 'zod';
import { ChatTemplateFamilySchema } from '../../contracts/config.ts';
import { builtInChatTemplate, compileChatTemplate, type ChatTemplate, type ChatTemplateFamily } from '../../core/chat-template.ts';
import { sha256Hex } from '../../core/content-hash.ts';
import { InvalidInputError } from '../../core/errors.ts';

// The config's family list and core's must stay the same set (a compile error here when they drift apart).
type ConfigFamily = z.infer<typeof ChatTemplateFamilySchema>;
const sameFamilies: [ConfigFamily, ChatTemplateFamily] extends [ChatTemplateFamily, ConfigFamily] ? true : never = true;
void sameFamilies;

/**
 * The one chat template a base model is trained and served with. It is resolved here, once, and then passed as
 * a string: to the worker (`chatTemplate` in the train-sft and tokenize specs, which sets it on the tokenizer and
 * saves it with the adapter) and to llama.cpp serving (rendered with `compileChatTemplate`).
 */
export interface ResolvedChatTemplate {
  /** The Jinja source. */
  source: string;
  /** sha256 (hex) of `source`, recorded with each run as the template's identity. */
  sha256: string;
  /** `gguf`: the model file's own `tokenizer.chat_template`; `built-in`: Understudy's template for `family`. */
  origin: 'gguf' | 'built-in';
  family?: ChatTemplateFamily;
  /** The texts of the model's BOS and EOS tokens (from the GGUF vocabulary), which a template may write. */
  bosToken?: string;
  eosToken?: string;
  /** The GGUF it was resolved for. */
  file: string;
}

/**
 * Resolve a base GGUF's chat template: its `tokenizer.chat_template` metadata when it has one, else the built-in
 * template of `family` (the catalog entry's, or the one the config names). A model with neither is an
 * InvalidInputError naming the file and saying how to choose a family. The template must also compile.
 */
export async function resolveChatTemplate(ggufPath: string, options: { family?: ChatTemplateFamily } = {}): Promise<ResolvedChatTemplate> {
  let metadata: unknown;
  try {
    metadata = (await readGgufFileInfo(ggufPath, { sourceType: 'filesystem', logWarnings: false, readTensorInfo: false })).metadata;
  } catch (error) {
    throw new InvalidInputError(`cannot read the chat template of ${ggufPath}: ${error instanceof Error ? error.message : String(error)}`, { file: ggufPath, cause: error });
  }
  const tokenizer = field(metadata, 'tokenizer');
  const tokens = field(field(tokenizer, 'ggml'), 'tokens');
  const tokenText = (key: string): string | undefined => {
    const id = field(field(tokenizer, 'ggml'), key);
    return typeof id === 'number' && Array.isArray(tokens) && typeof tokens[id] === 'string' ? tokens[id] : undefined;
  };
  const bosToken = tokenText('bos_token_id');
  const eosToken = tokenText('eos_token_id');

  const embedded = field(tokenizer, 'chat_template');
  let resolved: Omit<ResolvedChatTemplate, 'sha256'>;
  if (typeof embedded === 'string' && embedded.trim() !== '') {
    resolved = { source: embedded, origin: 'gguf', family: options.family, bosToken, eosToken, file: ggufPath };
  } else {
    const builtIn = options.family === undefined ? undefined : builtInChatTemplate(options.family);
    if (builtIn === undefined) {
      const withBuiltIn = ChatTemplateFamilySchema.options.filter((family) => builtInChatTemplate(family) !== undefined);
      throw new InvalidInputError(
        options.family === undefined
          ? `the model has no chat template: ${ggufPath} carries no tokenizer.chat_template and no template family was chosen`
          : `the model has no chat template: ${ggufPath} carries no tokenizer.chat_template and Understudy has no built-in template for the family "${options.family}"`,
        {
          file: ggufPath,
          field: 'baseModel.chatTemplate',
          hint: `choose the family the model was trained with, e.g. \`chatTemplate: ${withBuiltIn[0] ?? 'chatml'}\` under baseModel in understudy.yaml (built-in templates: ${withBuiltIn.join(', ')}), or use a GGUF that carries its template`,
        },
      );
    }
    resolved = { source: builtIn, origin: 'built-in', family: options.family, bosToken, eosToken, file: ggufPath };
  }
  // Fails now, naming the template, rather than at the first prompt.
  compileChatTemplate(resolved.source, resolved);
  return { ...resolved, sha256: sha256Hex(resolved.source) };
}

/** The resolved template, compiled with the model's BOS/EOS texts, for rendering prompts on the serving side. */
export function compileResolvedChatTemplate(resolved: ResolvedChatTemplate): ChatTemplate {
  return compileChatTemplate(resolved.source, { bosToken: resolved.bosToken, eosToken: resolved.eosToken });
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && key in value ? (value as Record<string, unknown>)[key] : undefined;
}
