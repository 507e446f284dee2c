import type { LoadedConfig } from '../adapters/config-file.ts';
import { createEmbeddedProvider } from '../adapters/llm/embedded-provider.ts';
import { createLlamaCppEngine } from '../adapters/llm/llama-cpp-engine.ts';
import { createProviderFromConfig } from '../adapters/llm/provider-from-config.ts';
import { pullCatalogModel } from '../adapters/models/acquire.ts';
import { requireCatalogModel } from '../adapters/models/catalog.ts';
import type { ChatProvider } from '../contracts/provider.ts';
import { builtInChatTemplate } from '../core/chat-template.ts';
import { InvalidInputError } from '../core/errors.ts';

/** The prefix of a teacher choice that runs a catalog model on the embedded llama.cpp engine. */
export const EMBEDDED_TEACHER_PREFIX = 'embedded:';

/** The model that writes and labels synthetic data, with what a generator needs to know about it. */
export interface TeacherModel {
  provider: ChatProvider;
  /** How the teacher was chosen: a name in `providers`, or `embedded:<catalog id>`. */
  name: string;
  /** The model for provenance and the generation cache key: the upstream model name or the catalog id. */
  model: string;
  /** Sent as `ChatRequest.model`; absent: the provider's default (the embedded engine's base). */
  requestModel?: string;
  /** Calls in flight at once that the teacher is configured for (`providers.<name>.maxConcurrency`; 1 embedded). */
  maxConcurrency: number;
  /** Frees the provider (and the embedded engine). */
  close(): Promise<void>;
}

export interface SelectTeacherOptions {
  /** Read for `apiKeyEnv`; default `process.env`. */
  environment?: NodeJS.ProcessEnv;
  fetch?: typeof globalThis.fetch;
  /** Progress of pulling and loading an embedded model. */
  onMessage?: (message: string) => void;
  /** CPU threads of the embedded engine. */
  threads?: number;
}

/**
 * The teacher for `understudy data generate`: `choice` (the `--provider` option) wins over `curation.teacher`.
 * A name in the config's `providers` is built with its pricing; `embedded:<catalog id>` pulls the catalog model
 * and runs it on the embedded llama.cpp engine, priced by `pricing.serving` (offline, the biggest models are
 * gemma-3-270m and smollm2-135m-instruct: weak teachers, but they need no network). Neither given, or an
 * unknown name, is an InvalidInputError naming `curation.teacher` and `--provider`.
 */
export async function selectTeacher(loaded: LoadedConfig, choice: string | undefined, options: SelectTeacherOptions = {}): Promise<TeacherModel> {
  const { config } = loaded;
  const fromOption = choice !== undefined && choice.trim() !== '';
  const name = fromOption ? choice.trim() : config.curation.teacher;
  const field = fromOption ? '--provider' : 'curation.teacher';
  const known = Object.keys(config.providers);
  const available = `providers in the config: ${known.length === 0 ? '(none)' : known.join(', ')}; or embedded:<catalog id>, e.g. embedded:gemma-3-270m`;
  if (name === undefined) {
    throw new InvalidInputError('no teacher model: set `curation.teacher` in the config to a name under `providers`, or pass --provider <name|embedded:catalog-id>', {
      file: loaded.file,
      field: 'curation.teacher',
      hint: available,
    });
  }

  if (name.startsWith(EMBEDDED_TEACHER_PREFIX)) {
    const catalogId = name.slice(EMBEDDED_TEACHER_PREFIX.length);
    const catalog = requireCatalogModel(catalogId, { field });
    const pulled = await pullCatalogModel(catalog.id, { ...(options.environment === undefined ? {} : { environment: options.environment }), onProgress: (progress) => options.onMessage?.(progress.message) });
    options.onMessage?.(`loading ${catalog.id} on the embedded llama.cpp engine`);
    const chatTemplate = catalog.offline?.ggufHasChatTemplate === false ? builtInChatTemplate(catalog.chatTemplate) : undefined;
    const engine = await createLlamaCppEngine({
      modelPath: pulled.ggufPath,
      ...(chatTemplate === undefined ? {} : { chatTemplate }),
      ...(options.threads === undefined ? {} : { threads: options.threads }),
    });
    const serving = config.pricing.serving;
    const provider = createEmbeddedProvider({ engine, id: name, ownsEngine: true, ...(serving === undefined ? {} : { serving }) });
    return { provider, name, model: catalog.id, maxConcurrency: 1, close: () => provider.close() };
  }

  const providerConfig = config.providers[name];
  if (providerConfig === undefined) {
    throw new InvalidInputError(`no provider named ${JSON.stringify(name)}`, { file: loaded.file, field, hint: available });
  }
  const provider = createProviderFromConfig(name, providerConfig, config.pricing, {
    ...(options.environment === undefined ? {} : { environment: options.environment }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  return { provider, name, model: providerConfig.model, requestModel: providerConfig.model, maxConcurrency: providerConfig.maxConcurrency, close: () => provider.close() };
}
