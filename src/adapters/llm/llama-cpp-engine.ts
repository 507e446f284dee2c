import { copyFileSync, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  getLlama,
  GgufInsights,
  LlamaGrammarEvaluationState,
  LlamaLogLevel,
  readGgufFileInfo,
  type GbnfJsonSchema,
  type GgufFileInfo,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaJsonSchemaGrammar,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import type { ChatMessage } from '../../contracts/worker.ts';
import { compileChatTemplate, type ChatTemplate } from '../../core/chat-template.ts';
import { InvalidInputError, ProviderError, UnderstudyError } from '../../core/errors.ts';
import { toGrammarSchema } from '../../core/json-schema-grammar.ts';
import { sha256File } from '../file-hash.ts';
import { labelSetGrammar } from './label-grammar.ts';

/** The chat template is pure logic and lives in core; re-exported for callers that build prompts next to the engine. */
export { renderChatMl, SMOLLM2_DEFAULT_SYSTEM } from '../../core/chat-template.ts';

/** Why a GGUF file could not be used. */
export type ModelLoadFailure =
  | 'not-found'
  | 'not-a-file'
  | 'not-gguf'
  | 'truncated'
  | 'wrong-kind'
  | 'incompatible-adapter'
  | 'load-failed';

/** A base model or LoRA adapter file that llama.cpp cannot use; the message names the file. */
export class ModelLoadError extends UnderstudyError {
  readonly failure: ModelLoadFailure;
  readonly role: 'model' | 'adapter';

  constructor(message: string, options: { file: string; role: 'model' | 'adapter'; failure: ModelLoadFailure; cause?: unknown; hint?: string }) {
    super('ModelLoadError', message, { file: options.file, cause: options.cause, hint: options.hint });
    this.failure = options.failure;
    this.role = options.role;
  }

  static override isInstance(value: unknown): value is ModelLoadError {
    return UnderstudyError.isInstance(value) && value.name === 'ModelLoadError';
  }
}

/** A LoRA adapter the engine can serve, chosen per request by `name`. */
export interface AdapterRegistration {
  name: string;
  /** A GGUF LoRA adapter (general.type=adapter) trained for this engine's base. */
  path: string;
  /** LoRA scale; 1 applies the adapter as trained. */
  scale?: number;
}

/** The reserved adapter name for the base model without any adapter. */
export const BASE_MODEL_NAME = 'base';

export interface LlamaCppEngineOptions {
  /** The base model, a GGUF file. */
  modelPath: string;
  /**
   * A GGUF LoRA adapter served by default: requests that name no adapter use it (registered as `default`).
   * Without it, requests that name no adapter run the base.
   */
  adapterPath?: string;
  /** LoRA scale of `adapterPath`. */
  adapterScale?: number;
  /** More adapters, chosen per request by name. */
  adapters?: readonly AdapterRegistration[];
  /** Tokens each sequence holds (prompt plus generated tokens). */
  contextSize?: number;
  /**
   * CPU threads for evaluation, shared by the `parallelContexts`. Default: one per core; on a machine of one or two
   * cores, one thread per context and one context per core (see `threadLayout`).
   */
  threads?: number;
  /**
   * Parallel sequences per loaded adapter: up to this many requests for the same adapter are decoded together,
   * batched in one llama.cpp evaluation per step; more wait for a free sequence.
   */
  sequences?: number;
  /**
   * llama.cpp contexts per loaded adapter, each with its share of `sequences` and of `threads` (at least one thread
   * each), decoding in parallel over the one shared copy of the weights. Default: `threadLayout` (one context, or on
   * a machine of at most two cores one one-thread context per core). On a small CPU, contexts of one
   * thread each avoid llama.cpp's per-operation thread barriers, where its spinning threads compete with Node's own
   * thread: on the 2-core EPYC one thread decoded one request faster than two, and two one-thread contexts decoded
   * a batch of 16 faster than one two-thread context (`npm run bench:eval`). A request goes to the context with the
   * fewest requests among the free sequences sharing the longest cached prefix.
   */
  parallelContexts?: number;
  /**
   * llama.cpp applies LoRA per context, so each adapter in use holds its own context (and KV cache) over the one
   * shared copy of the base weights. At most this many stay loaded; the least recently used idle one is freed.
   */
  maxLoadedAdapters?: number;
  /**
   * llama.cpp's flash attention. Off by default: on CPU its result depends on how the prompt is split into
   * batches by up to ~0.8 nats in log-probabilities. Off, a different split (a reused prefix) changes logits
   * only by float rounding, which can still flip a greedy near-tie: the same requests in the same order always
   * give the same answers; for answers independent of what ran before, set `reusePrefix: false`.
   */
  flashAttention?: boolean;
  /**
   * Keep each sequence's evaluated tokens and evaluate only the part of the next prompt that differs
   * (a long shared system prompt is then evaluated once). Off: every call starts from an empty state.
   */
  reusePrefix?: boolean;
  /**
   * The Jinja chat template for `messages` requests. Default: the one the GGUF carries (`tokenizer.chat_template`);
   * a base without one needs it here (see `builtInChatTemplate`).
   */
  chatTemplate?: string;
  /** Renders `messages` requests to prompt text instead of the chat template (tests, custom formats). */
  renderPrompt?: (messages: readonly ChatMessage[]) => string;
  /** A llama.cpp backend to share between engines; without one the engine starts a CPU backend and disposes it with itself. */
  llama?: Llama;
  /** Clock in milliseconds for latency figures. */
  now?: () => number;
}

/** A generation request: prompt text already rendered with the model's chat template, or messages. */
export type GenerateRequest = ({ prompt: string } | { messages: readonly ChatMessage[] }) & {
  /** Most tokens to generate. With `labels` it is raised when needed so that the longest label always fits. */
  maxTokens: number;
  /** A registered adapter's name, or `base`; default: the engine's default adapter (or the base). */
  adapter?: string;
  /** Constrain the answer to exactly one of these labels (a GBNF grammar over the label set). */
  labels?: readonly string[];
  /** Constrain the answer to JSON valid against this schema (the subset in `core/json-schema-grammar.ts`). */
  jsonSchema?: Record<string, unknown>;
  /** 0 or absent: greedy. Above 0: sampled, reproducibly for a given `seed`. */
  temperature?: number;
  topP?: number;
  /** Sampling seed (default 0, so sampled output is reproducible unless a seed is chosen). */
  seed?: number;
  /** Stop before the first of these strings; it is not part of the text. */
  stop?: readonly string[];
  /** Streaming: called with each new piece of text as soon as it is final (never a partial UTF-8 character or a possible stop-string prefix). */
  onText?: (delta: string) => void;
  /** Stops generation; the call rejects with an `aborted` ProviderError and the sequence is freed. */
  signal?: AbortSignal;
};

export interface Generation {
  text: string;
  /** The adapter that answered (`base` for none). */
  adapter: string;
  promptTokens: number;
  /** Tokens generated, the end-of-turn token excluded. */
  completionTokens: number;
  /** Their ids, in order. */
  completionTokenIds: number[];
  /** Prompt tokens served from the sequence's cached state instead of being evaluated. */
  reusedPromptTokens: number;
  latencyMs: number;
  /** From the call to the first sampled token (an immediate end of turn counts): queueing and prompt evaluation. */
  timeToFirstTokenMs: number;
  /** `stop`: end of turn, a stop string, or a complete constrained answer; `length`: `maxTokens` ran out. */
  finishReason: 'stop' | 'length';
}

export interface TokenLogprob {
  tokenId: number;
  /** Natural log of the softmax probability over the whole vocabulary. */
  logprob: number;
}

/** Throughput the engine has measured so far (for the serving cost model). */
export interface EngineThroughput {
  /** Wall-clock seconds during which at least one request was being served. */
  busySeconds: number;
  requests: number;
  promptTokensEvaluated: number;
  completionTokens: number;
  /** Prompt tokens per second of prompt evaluation (summed over requests' time to first token). */
  prefillTokensPerSecond?: number;
  /** Generated tokens per busy second, all sequences together. */
  decodeTokensPerSecond?: number;
}

export interface LlamaCppEngine {
  readonly modelPath: string;
  readonly adapterPath?: string;
  /** The context size llama.cpp actually allocated per sequence (it may round the requested size up). */
  readonly contextSize: number;
  /** The GGUF's `general.architecture`. */
  readonly architecture: string;
  /** Tokenize with special tokens parsed (`<|im_start|>` becomes one token); no BOS is added. */
  tokenize(text: string): number[];
  /** Text of the tokens, special tokens written out. */
  detokenize(tokens: readonly number[]): string;
  /** Render messages with the engine's chat template (with the generation prompt). */
  renderMessages(messages: readonly ChatMessage[]): string;
  /** Register (or replace) an adapter after checking it fits the base. */
  registerAdapter(adapter: AdapterRegistration): Promise<void>;
  /** Names of the registered adapters, `base` first. */
  adapterNames(): string[];
  /** Decode until the end of turn, a stop string, a complete constrained answer, or `maxTokens`. */
  generate(request: GenerateRequest): Promise<Generation>;
  /**
   * The `topK` most likely next tokens after evaluating exactly `tokenIds` from an empty state,
   * most likely first, as natural-log softmax probabilities of the raw logits (no sampling transforms).
   */
  nextTokenLogprobs(tokenIds: readonly number[], topK: number, options?: { adapter?: string }): Promise<TokenLogprob[]>;
  throughput(): EngineThroughput;
  /** Requests waiting for or holding a sequence, and loaded adapter contexts (for leak checks). */
  load(): { active: number; waiting: number; loadedContexts: number };
  dispose(): Promise<void>;
}

/** A CPU llama.cpp backend with llama.cpp's own logging limited to errors; share one between engines. */
export function createCpuLlama(): Promise<Llama> {
  return getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
}

const DEFAULT_ADAPTER_NAME = 'default';
const ADAPTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

/** Load a base GGUF and check every adapter against it; contexts are created per adapter on first use. */
export async function createLlamaCppEngine(options: LlamaCppEngineOptions): Promise<LlamaCppEngine> {
  const sequenceCount = options.sequences ?? 1;
  if (!Number.isInteger(sequenceCount) || sequenceCount < 1) {
    throw new InvalidInputError(`sequences must be a positive integer, got ${sequenceCount}`, { field: 'sequences' });
  }
  const parallelContexts = options.parallelContexts ?? threadLayout(options, sequenceCount).contexts;
  if (!Number.isInteger(parallelContexts) || parallelContexts < 1 || parallelContexts > sequenceCount) {
    throw new InvalidInputError(`parallelContexts must be an integer from 1 to sequences (${sequenceCount}), got ${parallelContexts}`, { field: 'parallelContexts' });
  }
  const ownsLlama = options.llama === undefined;
  const llama = options.llama ?? (await createCpuLlama());
  let model: LlamaModel | undefined;
  try {
    const modelInfo = await inspectGgufFile(llama, options.modelPath, 'model');
    const registrations: AdapterRegistration[] = [
      ...(options.adapterPath === undefined ? [] : [{ name: DEFAULT_ADAPTER_NAME, path: options.adapterPath, scale: options.adapterScale }]),
      ...(options.adapters ?? []),
    ];
    const checked = new Map<string, CheckedAdapter>();
    for (const registration of registrations) checked.set(registration.name, await checkAdapter(llama, modelInfo, options.modelPath, registration));
    try {
      model = await llama.loadModel({ modelPath: options.modelPath });
    } catch (error) {
      throw new ModelLoadError(`llama.cpp could not load the model ${options.modelPath}: ${errorText(error)}`, {
        file: options.modelPath,
        role: 'model',
        failure: 'load-failed',
        cause: error,
        hint: 'the llama.cpp log above says why; re-download or re-export the file',
      });
    }
    const engine = buildEngine({ options, llama, ownsLlama, model, modelInfo, adapters: checked, sequenceCount });
    // The default context is created now, so a base or adapter that llama.cpp rejects fails here, not on the first request.
    await engine.warm();
    return engine;
  } catch (error) {
    await model?.dispose();
    if (ownsLlama) await llama.dispose();
    throw error;
  }
}

interface CheckedAdapter extends AdapterRegistration {
  scale: number;
  path: string;
  /** Content hash when registered: node-llama-cpp caches an adapter by path for the model's lifetime. */
  sha256: string;
}

/**
 * Check a LoRA adapter against the base before llama.cpp sees it: a GGUF adapter for the same architecture
 * whose every tensor pair fits a base weight (`lora_a` [in, r], `lora_b` [r, out] against the weight's [in, out]).
 * An adapter trained for another base of the same architecture (another size) is refused with the first mismatch.
 */
async function checkAdapter(llama: Llama, modelInfo: GgufFileInfo, modelPath: string, registration: AdapterRegistration): Promise<CheckedAdapter> {
  if (!ADAPTER_NAME.test(registration.name) || registration.name === BASE_MODEL_NAME) {
    throw new InvalidInputError(`adapter name ${JSON.stringify(registration.name)} is not allowed: use letters, digits and . _ : / - (and not "${BASE_MODEL_NAME}")`, { field: 'adapters.name' });
  }
  const scale = registration.scale ?? 1;
  if (!Number.isFinite(scale)) throw new InvalidInputError(`adapter scale must be a finite number, got ${scale}`, { field: 'adapters.scale' });
  const file = registration.path;
  const adapterInfo = await inspectGgufFile(llama, file, 'adapter');
  const modelArchitecture = modelInfo.metadata.general.architecture;
  const adapterArchitecture = adapterInfo.metadata.general.architecture;
  if (adapterArchitecture !== modelArchitecture) {
    throw new ModelLoadError(`LoRA adapter ${file} is for architecture "${adapterArchitecture}", but the model ${modelPath} is "${modelArchitecture}"`, {
      file,
      role: 'adapter',
      failure: 'incompatible-adapter',
    });
  }
  const baseShapes = new Map((modelInfo.fullTensorInfo ?? modelInfo.tensorInfo ?? []).map((tensor) => [tensor.name, tensor.dimensions.map(Number)]));
  const adapterShapes = new Map((adapterInfo.fullTensorInfo ?? adapterInfo.tensorInfo ?? []).map((tensor) => [tensor.name, tensor.dimensions.map(Number)]));
  const mismatch = (detail: string): ModelLoadError =>
    new ModelLoadError(`LoRA adapter ${file} was not trained for the base ${modelPath}: ${detail}`, {
      file,
      role: 'adapter',
      failure: 'incompatible-adapter',
      hint: 'serve it with the base it was trained on (see its run record), or retrain it on this base',
    });
  for (const [name, aShape] of adapterShapes) {
    if (!name.endsWith('.lora_a')) continue;
    const weight = name.slice(0, -'.lora_a'.length);
    const bShape = adapterShapes.get(`${weight}.lora_b`);
    const baseShape = baseShapes.get(weight);
    if (bShape === undefined) throw mismatch(`${weight}.lora_a has no matching lora_b`);
    if (baseShape === undefined) throw mismatch(`the base has no tensor ${weight}`);
    if (aShape[0] !== baseShape[0] || bShape[1] !== baseShape[1] || aShape[1] !== bShape[0]) {
      throw mismatch(`${weight} is ${baseShape.join('×')} in the base, the adapter's LoRA pair is ${aShape.join('×')} and ${bShape.join('×')}`);
    }
  }
  return { name: registration.name, path: path.resolve(file), scale, sha256: await sha256File(file) };
}

/**
 * Check a GGUF file before llama.cpp sees it, so a missing, foreign, truncated or mismatched file
 * gets a message that says what is wrong instead of llama.cpp's "Failed to load model".
 */
async function inspectGgufFile(llama: Llama, file: string, role: 'model' | 'adapter'): Promise<GgufFileInfo> {
  const what = role === 'model' ? 'model file' : 'LoRA adapter file';
  let size: number;
  try {
    const stats = statSync(file);
    if (!stats.isFile()) throw new ModelLoadError(`${what} ${file} is not a regular file`, { file, role, failure: 'not-a-file' });
    size = stats.size;
  } catch (error) {
    if (ModelLoadError.isInstance(error)) throw error;
    throw new ModelLoadError(`${what} ${file} not found`, { file, role, failure: 'not-found', cause: error });
  }
  if (size < 4) throw new ModelLoadError(`${what} ${file} is not a GGUF file: it has only ${size} bytes`, { file, role, failure: 'not-gguf' });
  let info: GgufFileInfo;
  try {
    info = await readGgufFileInfo(file, { sourceType: 'filesystem', logWarnings: false, spliceSplitFiles: false });
  } catch (error) {
    throw new ModelLoadError(`${what} ${file} is not a readable GGUF file: ${errorText(error)}`, { file, role, failure: 'not-gguf', cause: error });
  }
  const kind = generalType(info);
  if (role === 'model' && kind === 'adapter') {
    throw new ModelLoadError(`${file} is a LoRA adapter, not a base model`, { file, role, failure: 'wrong-kind', hint: 'pass it as the adapter and the base GGUF as the model' });
  }
  if (role === 'adapter' && kind !== 'adapter') {
    throw new ModelLoadError(`${file} is not a LoRA adapter (general.type is ${JSON.stringify(kind ?? null)}, expected "adapter")`, { file, role, failure: 'wrong-kind' });
  }
  const insights = await GgufInsights.from(info, llama);
  const expectedSize = (info.infoEndOffset ?? 0) + insights.modelSize;
  if (expectedSize > size) {
    throw new ModelLoadError(`${what} ${file} is truncated: its tensors need ${expectedSize} bytes, the file has ${size}`, {
      file,
      role,
      failure: 'truncated',
      hint: 'the download or export was cut short; fetch or export it again',
    });
  }
  return info;
}

/** `general.type` ("model", "adapter", ...); node-llama-cpp's metadata type does not declare it. */
function generalType(info: GgufFileInfo): string | undefined {
  const general: unknown = info.metadata.general;
  if (typeof general !== 'object' || general === null || !('type' in general)) return undefined;
  return typeof general.type === 'string' ? general.type : undefined;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface EngineParts {
  options: LlamaCppEngineOptions;
  llama: Llama;
  ownsLlama: boolean;
  model: LlamaModel;
  modelInfo: GgufFileInfo;
  adapters: Map<string, CheckedAdapter>;
  sequenceCount: number;
}

/** One llama.cpp context: the base, or the base with one adapter applied, and its pool of sequences. */
interface ContextSlot {
  key: string;
  ready: Promise<{ contexts: LlamaContext[]; pool: SequencePool }>;
  users: number;
  lastUsed: number;
}

function aborted(signal: AbortSignal | undefined): ProviderError {
  return new ProviderError('the generation was aborted', { failure: 'aborted', provider: 'embedded', cause: signal?.reason });
}

function buildEngine({ options, llama, ownsLlama, model, modelInfo, adapters, sequenceCount }: EngineParts): LlamaCppEngine & { warm(): Promise<void> } {
  const now = options.now ?? (() => performance.now());
  const reusePrefix = options.reusePrefix ?? true;
  const maxLoaded = Math.max(1, options.maxLoadedAdapters ?? 4);
  const vocabularySize = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const defaultAdapter = options.adapterPath === undefined ? BASE_MODEL_NAME : DEFAULT_ADAPTER_NAME;
  const slots = new Map<string, ContextSlot>();
  /** Adapter files node-llama-cpp has loaded, by path, with the content they had (it never reloads a path). */
  const loadedFiles = new Map<string, string>();
  const grammars = new Map<string, Promise<LlamaGrammar>>();
  const stats = { busyMs: 0, busySince: undefined as number | undefined, active: 0, waiting: 0, requests: 0, promptTokens: 0, prefillMs: 0, completionTokens: 0 };
  let contextSize = options.contextSize ?? 2048;
  let disposed = false;
  let chatTemplate: ChatTemplate | undefined;

  const ensureOpen = (): void => {
    if (disposed) throw new ProviderError(`the llama.cpp engine for ${options.modelPath} was disposed`, { failure: 'closed', provider: 'embedded' });
  };
  // llama.cpp aborts the whole process on an out-of-range token id in detokenize, so check first.
  const checkTokens = (tokens: readonly number[], field: string): Token[] => {
    const bad = tokens.find((token) => !Number.isInteger(token) || token < 0 || token >= vocabularySize);
    if (bad !== undefined) throw new InvalidInputError(`token id ${bad} is outside the vocabulary (0..${vocabularySize - 1})`, { field });
    return tokens as Token[];
  };

  const cachedGrammar = (key: string, create: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> => {
    let grammar = grammars.get(key);
    if (grammar === undefined) {
      grammar = create();
      grammars.set(key, grammar);
      grammar.catch(() => grammars.delete(key));
      // Bounded: a client sending a new schema per request must not grow memory without end.
      if (grammars.size > 64) grammars.delete(grammars.keys().next().value!);
    } else {
      grammars.delete(key);
      grammars.set(key, grammar);
    }
    return grammar;
  };

  const templateFor = (): ChatTemplate => {
    if (chatTemplate !== undefined) return chatTemplate;
    const source = options.chatTemplate ?? modelInfo.metadata.tokenizer?.chat_template;
    if (source === undefined || source === '') {
      throw new InvalidInputError(`the model ${options.modelPath} has no chat template, so messages cannot be rendered`, {
        field: 'chatTemplate',
        hint: 'pass chatTemplate (e.g. builtInChatTemplate of its family from the catalog) or send rendered prompt text',
      });
    }
    chatTemplate = compileChatTemplate(source, { bosToken: model.tokens.bosString ?? undefined, eosToken: model.tokens.eosString ?? undefined });
    return chatTemplate;
  };
  const promptText = (request: GenerateRequest): string => {
    if ('prompt' in request) return request.prompt;
    return options.renderPrompt !== undefined ? options.renderPrompt(request.messages) : templateFor().render(request.messages, { addGenerationPrompt: true });
  };

  const resolveAdapter = (name: string | undefined): CheckedAdapter | undefined => {
    const wanted = name ?? defaultAdapter;
    if (wanted === BASE_MODEL_NAME) return undefined;
    const adapter = adapters.get(wanted);
    if (adapter === undefined) {
      throw new ProviderError(`no adapter named ${JSON.stringify(wanted)} is registered; known: ${[BASE_MODEL_NAME, ...adapters.keys()].join(', ')}`, {
        failure: 'unknown-model',
        provider: 'embedded',
        field: 'model',
      });
    }
    return adapter;
  };

  /** The file llama.cpp should load for an adapter: its own path, or a content-addressed copy when that path was loaded with other content. */
  const loadablePath = async (adapter: CheckedAdapter): Promise<string> => {
    const current = await sha256File(adapter.path);
    if (current !== adapter.sha256) {
      throw new ModelLoadError(`LoRA adapter ${adapter.path} changed on disk since it was registered as "${adapter.name}"`, {
        file: adapter.path,
        role: 'adapter',
        failure: 'load-failed',
        hint: 'register it again; a retrained adapter should get a new file name',
      });
    }
    const loaded = loadedFiles.get(adapter.path);
    if (loaded === undefined || loaded === current) {
      loadedFiles.set(adapter.path, current);
      return adapter.path;
    }
    const directory = path.join(os.tmpdir(), 'understudy-lora');
    mkdirSync(directory, { recursive: true });
    const copy = path.join(directory, `${current}.gguf`);
    if (!existsSync(copy)) {
      const partial = `${copy}.${process.pid}.partial`;
      copyFileSync(adapter.path, partial);
      renameSync(partial, copy);
    }
    return copy;
  };

  const evictIdle = async (): Promise<void> => {
    while (slots.size > maxLoaded) {
      const idle = [...slots.values()].filter((slot) => slot.users === 0).sort((left, right) => left.lastUsed - right.lastUsed)[0];
      if (idle === undefined) return;
      slots.delete(idle.key);
      await idle.ready.then(({ contexts }) => Promise.all(contexts.map((context) => context.dispose()))).catch(() => undefined);
    }
  };

  const slotFor = (adapter: CheckedAdapter | undefined): ContextSlot => {
    const key = adapter === undefined ? BASE_MODEL_NAME : `${adapter.path}\0${adapter.scale}\0${adapter.sha256}`;
    let slot = slots.get(key);
    if (slot === undefined) {
      const created: ContextSlot = {
        key,
        users: 0,
        lastUsed: now(),
        ready: (async () => {
          const lora = adapter === undefined ? undefined : { adapters: [{ filePath: await loadablePath(adapter), scale: adapter.scale }] };
          const { contexts: contextCount, threadsPerContext: threads } = threadLayout(options, sequenceCount);
          const contexts: LlamaContext[] = [];
          try {
            for (let index = 0; index < contextCount; index += 1) {
              // The sequences split as evenly as they go: 16 over 3 contexts are 6, 5 and 5.
              const sequences = Math.floor(sequenceCount / contextCount) + (index < sequenceCount % contextCount ? 1 : 0);
              contexts.push(await model.createContext({
                contextSize: options.contextSize ?? 2048,
                sequences,
                flashAttention: options.flashAttention ?? false,
                threads,
                ...(lora === undefined ? {} : { lora }),
              }));
            }
          } catch (error) {
            await Promise.all(contexts.map((context) => context.dispose())).catch(() => undefined);
            throw new ModelLoadError(
              adapter === undefined
                ? `llama.cpp could not create a context for ${options.modelPath}: ${errorText(error)}`
                : `llama.cpp could not apply the LoRA adapter ${adapter.path} to ${options.modelPath}: ${errorText(error)}`,
              { file: adapter?.path ?? options.modelPath, role: adapter === undefined ? 'model' : 'adapter', failure: 'load-failed', cause: error },
            );
          }
          contextSize = contexts[0]!.contextSize;
          const sequences: LlamaContextSequence[] = [];
          for (const context of contexts) {
            if (context.totalSequences > 1) serializeSampling(context);
            for (let index = 0; index < context.totalSequences; index += 1) sequences.push(context.getSequence());
          }
          return { contexts, pool: createSequencePool(sequences) };
        })(),
      };
      created.ready.catch(() => slots.delete(key));
      slots.set(key, created);
      slot = created;
      void evictIdle();
    }
    slot.lastUsed = now();
    return slot;
  };

  /** Hold a sequence of the adapter's context for `work`, with busy-time accounting and abort while waiting. */
  const withSequence = async <T>(adapter: CheckedAdapter | undefined, promptTokens: Token[] | undefined, signal: AbortSignal | undefined, work: (sequence: LlamaContextSequence) => Promise<T>): Promise<T> => {
    const slot = slotFor(adapter);
    slot.users += 1;
    stats.waiting += 1;
    let sequence: LlamaContextSequence | undefined;
    let pool: SequencePool | undefined;
    try {
      ({ pool } = await slot.ready);
      sequence = await pool.acquire(promptTokens, signal);
    } catch (error) {
      slot.users -= 1;
      throw error;
    } finally {
      stats.waiting -= 1;
    }
    if (stats.active === 0) stats.busySince = now();
    stats.active += 1;
    try {
      return await work(sequence);
    } finally {
      stats.active -= 1;
      if (stats.active === 0 && stats.busySince !== undefined) {
        stats.busyMs += now() - stats.busySince;
        stats.busySince = undefined;
      }
      pool.release(sequence);
      slot.users -= 1;
      slot.lastUsed = now();
      void evictIdle();
    }
  };

  const grammarFor = async (
    request: GenerateRequest,
  ): Promise<{ grammar?: LlamaGrammar; check?: (text: string) => void; complete?: (text: string) => boolean; stops?: string[] }> => {
    if (request.labels !== undefined && request.jsonSchema !== undefined) {
      throw new InvalidInputError('give either labels or a JSON schema, not both', { field: 'constraint' });
    }
    if (request.labels !== undefined) {
      if (request.labels.length === 0 || request.labels.some((label) => label === '')) {
        throw new InvalidInputError('labels must be a non-empty list of non-empty strings', { field: 'labels' });
      }
      const labels = request.labels;
      return { grammar: await cachedGrammar(`labels:${JSON.stringify([...new Set(labels)].sort())}`, () => llama.createGrammar({ grammar: labelSetGrammar(labels) })) };
    }
    if (request.jsonSchema !== undefined) {
      const { schema } = toGrammarSchema(request.jsonSchema);
      // The schema was checked against the generator's subset above; its precise generic type cannot be known statically.
      const createForSchema = llama.createGrammarForJsonSchema.bind(llama) as (value: unknown) => Promise<LlamaJsonSchemaGrammar<GbnfJsonSchema>>;
      const grammar = (await cachedGrammar(`json:${JSON.stringify(schema)}`, () => createForSchema(schema))) as LlamaJsonSchemaGrammar<GbnfJsonSchema>;
      return {
        grammar,
        // The JSON grammar allows trailing whitespace after the value; an object or array is complete when it parses.
        complete: (text) => /[}\]]\s*$/.test(text) && parses(text),
        stops: ['\n\n\n\n'],
        check: (text) => {
          try {
            grammar.parse(text);
          } catch (error) {
            throw new ProviderError(`the constrained output is not valid against the schema: ${errorText(error)}`, { failure: 'constraint-violated', provider: 'embedded', cause: error });
          }
        },
      };
    }
    return {};
  };

  const engine: LlamaCppEngine & { warm(): Promise<void> } = {
    modelPath: options.modelPath,
    adapterPath: options.adapterPath,
    get contextSize() {
      return contextSize;
    },
    architecture: modelInfo.metadata.general.architecture,
    async warm() {
      await slotFor(resolveAdapter(undefined)).ready;
    },
    tokenize(text) {
      ensureOpen();
      return model.tokenize(text, true).map(Number);
    },
    detokenize(tokens) {
      ensureOpen();
      return model.detokenize(checkTokens(tokens, 'tokens'), true);
    },
    renderMessages(messages) {
      return promptText({ messages, maxTokens: 1 });
    },
    async registerAdapter(registration) {
      ensureOpen();
      adapters.set(registration.name, await checkAdapter(llama, modelInfo, options.modelPath, registration));
    },
    adapterNames() {
      return [BASE_MODEL_NAME, ...adapters.keys()];
    },
    async generate(request) {
      ensureOpen();
      const started = now();
      if (request.signal?.aborted === true) throw aborted(request.signal);
      const adapter = resolveAdapter(request.adapter);
      const promptTokens = model.tokenize(promptText(request), true);
      if (promptTokens.length === 0) throw new InvalidInputError('the prompt is empty', { field: 'prompt' });
      if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) {
        throw new InvalidInputError(`maxTokens must be a positive integer, got ${request.maxTokens}`, { field: 'maxTokens' });
      }
      const temperature = request.temperature ?? 0;
      if (!Number.isFinite(temperature) || temperature < 0) throw new InvalidInputError(`temperature must be >= 0, got ${temperature}`, { field: 'temperature' });
      if ((request.stop ?? []).some((stop) => stop === '')) throw new InvalidInputError('stop strings must not be empty', { field: 'stop' });
      let tokenBudget = request.maxTokens;
      // Every token spells at least one byte, so this many tokens always finish any label plus the end of turn.
      if (request.labels !== undefined) tokenBudget = Math.max(tokenBudget, ...request.labels.map((label) => Buffer.byteLength(label, 'utf8') + 1));
      if (promptTokens.length + tokenBudget > contextSize) {
        throw new InvalidInputError(
          `the prompt (${promptTokens.length} tokens) plus ${tokenBudget} new tokens does not fit the context of ${contextSize} tokens`,
          { field: 'prompt', hint: 'raise contextSize or shorten the prompt' },
        );
      }
      const { grammar, check, complete, stops: grammarStops } = await grammarFor(request);
      const stops = [...new Set([...(request.stop ?? []), ...(grammarStops ?? [])])];
      const watchText = stops.length > 0 || request.onText !== undefined || complete !== undefined;
      const adapterName = adapter?.name ?? BASE_MODEL_NAME;
      const generation = await withSequence(adapter, promptTokens, request.signal, async (sequence) => {
        const reused = await alignToPrompt(sequence, promptTokens, reusePrefix);
        const generated: Token[] = [];
        const longestStop = Math.max(0, ...stops.map((stop) => stop.length));
        let text = '';
        let emitted = 0;
        let firstTokenAt: number | undefined;
        let finishReason: Generation['finishReason'] = 'length';
        const tokens = sequence.evaluate(promptTokens.slice(reused), {
          temperature,
          ...(temperature > 0 ? { seed: request.seed ?? 0, ...(request.topP === undefined ? {} : { topP: request.topP }) } : {}),
          yieldEogToken: true,
          grammarEvaluationState: grammar === undefined ? undefined : new LlamaGrammarEvaluationState({ model, grammar }),
        });
        for await (const token of tokens) {
          firstTokenAt ??= now();
          if (request.signal?.aborted === true) throw aborted(request.signal);
          if (model.isEogToken(token)) {
            finishReason = 'stop';
            break;
          }
          generated.push(token);
          if (watchText) {
            text = model.detokenize(generated, false);
            if (complete?.(text) === true) {
              text = text.trimEnd();
              finishReason = 'stop';
              break;
            }
            const searchFrom = Math.max(0, emitted - longestStop);
            const cut = stops.map((stop) => text.indexOf(stop, searchFrom)).filter((index) => index >= 0);
            if (cut.length > 0) {
              text = text.slice(0, Math.min(...cut));
              finishReason = 'stop';
              break;
            }
            if (request.onText !== undefined) {
              const safe = safeEmitEnd(text, stops);
              if (safe > emitted) {
                request.onText(text.slice(emitted, safe));
                emitted = safe;
              }
            }
          }
          if (generated.length >= tokenBudget) break;
        }
        if (!watchText) text = model.detokenize(generated, false);
        if (complete !== undefined) text = text.trimEnd();
        if (request.onText !== undefined && text.length > emitted) request.onText(text.slice(emitted));
        const finished = now();
        const firstToken = firstTokenAt ?? finished;
        stats.requests += 1;
        stats.promptTokens += promptTokens.length - reused;
        stats.prefillMs += firstToken - started;
        stats.completionTokens += generated.length;
        return {
          text,
          adapter: adapterName,
          promptTokens: promptTokens.length,
          completionTokens: generated.length,
          completionTokenIds: generated.map(Number),
          reusedPromptTokens: reused,
          latencyMs: finished - started,
          timeToFirstTokenMs: firstToken - started,
          finishReason,
        } satisfies Generation;
      });
      if (check !== undefined && generation.finishReason === 'stop') check(generation.text);
      return generation;
    },
    async nextTokenLogprobs(tokenIds, topK, logprobOptions = {}) {
      ensureOpen();
      if (tokenIds.length === 0) throw new InvalidInputError('nextTokenLogprobs needs at least one token', { field: 'tokenIds' });
      if (tokenIds.length > contextSize) {
        throw new InvalidInputError(`${tokenIds.length} tokens do not fit the context of ${contextSize}`, { field: 'tokenIds' });
      }
      if (!Number.isInteger(topK) || topK < 1) throw new InvalidInputError(`topK must be a positive integer, got ${topK}`, { field: 'topK' });
      const tokens = checkTokens(tokenIds, 'tokenIds');
      const adapter = resolveAdapter(logprobOptions.adapter);
      return withSequence(adapter, undefined, undefined, async (sequence) => {
        await sequence.clearHistory();
        const last = tokens.length - 1;
        // With temperature 0 (the default) the sampler chain is greedy only: the addon returns the softmax of
        // the raw logits over the whole vocabulary, with no top-k/top-p/penalties applied.
        const results = await sequence.controlledEvaluate(
          tokens.map((token, index) => (index === last ? [token, { generateNext: { probabilities: true } }] : token)),
        );
        const probabilities = results[last]?.next.probabilities;
        if (probabilities === undefined) throw new ProviderError('llama.cpp returned no next-token probabilities', { failure: 'engine', provider: 'embedded' });
        return topLogprobs(probabilities, topK);
      });
    },
    throughput() {
      const busyMs = stats.busyMs + (stats.busySince === undefined ? 0 : now() - stats.busySince);
      return {
        busySeconds: busyMs / 1000,
        requests: stats.requests,
        promptTokensEvaluated: stats.promptTokens,
        completionTokens: stats.completionTokens,
        ...(stats.prefillMs > 0 && stats.promptTokens > 0 ? { prefillTokensPerSecond: stats.promptTokens / (stats.prefillMs / 1000) } : {}),
        ...(busyMs > 0 && stats.completionTokens > 0 ? { decodeTokensPerSecond: stats.completionTokens / (busyMs / 1000) } : {}),
      };
    },
    load() {
      return { active: stats.active, waiting: stats.waiting, loadedContexts: slots.size };
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      for (const slot of slots.values()) {
        await slot.ready.then(({ contexts, pool }) => {
          pool.close(new ProviderError('the engine was disposed', { failure: 'closed', provider: 'embedded' }));
          return Promise.all(contexts.map((context) => context.dispose()));
        }).catch(() => undefined);
      }
      slots.clear();
      await model.dispose();
      if (ownsLlama) await llama.dispose();
    },
  };
  return engine;
}

/**
 * How many llama.cpp contexts an adapter gets and how many threads each. Threads are always explicit: left to the
 * backend's default, a short generation on the 2-core EPYC took 45 s instead of 0.2 s (node-llama-cpp 3.21.1).
 * Given `threads`, they are split over `parallelContexts` (default 1). Given neither, one thread per core in one
 * context, except on a machine of at most two cores: there llama.cpp's spinning threads compete with Node's own and
 * wait at a barrier after every operation, so each context gets one thread and there is one context per core (up to
 * `sequences`). Measured on the 2-core EPYC (bench:inference, bench:eval): one request decoded 177 tokens/s on one
 * thread against 60 on two, and 16 requests on two one-thread contexts beat one two-thread context.
 */
export function threadLayout(options: Pick<LlamaCppEngineOptions, 'threads' | 'parallelContexts'>, sequences: number, cores = os.availableParallelism()): { contexts: number; threadsPerContext: number } {
  if (options.threads === undefined && options.parallelContexts === undefined && cores <= 2) {
    return { contexts: Math.max(1, Math.min(cores, sequences)), threadsPerContext: 1 };
  }
  const contexts = options.parallelContexts ?? 1;
  return { contexts, threadsPerContext: Math.max(1, Math.floor((options.threads ?? cores) / contexts)) };
}

/**
 * Sample one sequence at a time after each batched decode. node-llama-cpp 3.21.1 samples every sequence
 * of a batch on its own worker thread, and those concurrent reads of the batch's logits swap rows between
 * sequences: greedy answers decoded together differed from the same prompts decoded alone (one prompt
 * continued with another's next token: "The sky is a beautiful shade mathmatical"). Serialised, they are
 * identical (test/llama-cpp-engine.test.ts). Sampling is a small part of a decode step, so the batch still
 * shares the expensive part, the forward pass.
 */
function serializeSampling(context: LlamaContext): void {
  const addon = (context as unknown as { _ctx?: Record<string, unknown> })._ctx;
  const sampleToken = addon?.sampleToken;
  if (addon === undefined || typeof sampleToken !== 'function') {
    throw new ProviderError('this node-llama-cpp build has no sampleToken to serialise; concurrent sequences would give wrong answers', {
      failure: 'engine',
      provider: 'embedded',
    });
  }
  let tail: Promise<unknown> = Promise.resolve();
  // The addon's methods are read-only properties of its prototype, so define an own property instead.
  Object.defineProperty(addon, 'sampleToken', {
    configurable: true,
    value: (...args: unknown[]): Promise<unknown> => {
      const result = tail.then(() => (sampleToken as (...callArgs: unknown[]) => Promise<unknown>).apply(addon, args));
      tail = result.then(
        () => undefined,
        () => undefined,
      );
      return result;
    },
  });
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * How much of `text` can be streamed now: not a trailing partial UTF-8 character (detokenized as U+FFFD),
 * and not a tail that could still grow into a stop string.
 */
function safeEmitEnd(text: string, stops: readonly string[]): number {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0xfffd) end -= 1;
  let held = 0;
  for (const stop of stops) {
    for (let length = Math.min(stop.length - 1, end); length > held; length--) {
      if (text.slice(end - length, end) === stop.slice(0, length)) {
        held = length;
        break;
      }
    }
  }
  return end - held;
}

/**
 * Natural-log probabilities of the `topK` most likely tokens. The addon normalises in float32, which
 * leaves the sum over 49k tokens off by up to ~3e-4, so the log-probabilities are renormalised here in
 * float64: log p_i − log Σ p_j.
 */
function topLogprobs(probabilities: ReadonlyMap<Token, number>, topK: number): TokenLogprob[] {
  let total = 0;
  for (const probability of probabilities.values()) total += probability;
  const logTotal = Math.log(total);
  const top: TokenLogprob[] = [];
  // The map is ordered most likely first.
  for (const [tokenId, probability] of probabilities) {
    if (top.length >= topK) break;
    top.push({ tokenId, logprob: Math.log(probability) - logTotal });
  }
  return top;
}

/**
 * Make the sequence hold the longest cached prefix of `promptTokens` (at most all but the last token,
 * since one token must be evaluated to get logits) and return its length; the rest is evaluated next.
 * This is how node-llama-cpp's own LlamaCompletion reuses state between calls.
 */
async function alignToPrompt(sequence: LlamaContextSequence, promptTokens: Token[], reusePrefix: boolean): Promise<number> {
  if (!reusePrefix) {
    await sequence.clearHistory();
    return 0;
  }
  await sequence.adaptStateToTokens(promptTokens.slice(0, -1), false);
  return sequence.nextTokenIndex;
}

interface SequencePool {
  /** A free sequence; given prompt tokens, the free one whose cached state shares the longest prefix with them. */
  acquire(promptTokens: Token[] | undefined, signal: AbortSignal | undefined): Promise<LlamaContextSequence>;
  release(sequence: LlamaContextSequence): void;
  /** Reject every waiting request. */
  close(reason: Error): void;
}

function createSequencePool(sequences: LlamaContextSequence[]): SequencePool {
  const free = [...sequences];
  // Requests holding a sequence of each context: ties go to the least busy context, so parallel contexts share the load.
  const busy = new Map<LlamaContext, number>(sequences.map((sequence) => [sequence.context, 0]));
  const take = (sequence: LlamaContextSequence): LlamaContextSequence => {
    busy.set(sequence.context, (busy.get(sequence.context) ?? 0) + 1);
    return sequence;
  };
  const waiting: { resolve: (sequence: LlamaContextSequence) => void; reject: (error: Error) => void }[] = [];
  return {
    acquire(promptTokens, signal) {
      if (signal?.aborted === true) return Promise.reject(aborted(signal));
      if (free.length === 0) {
        return new Promise((resolve, reject) => {
          const entry = {
            resolve: (sequence: LlamaContextSequence) => {
              signal?.removeEventListener('abort', onAbort);
              resolve(take(sequence));
            },
            reject,
          };
          const onAbort = (): void => {
            const index = waiting.indexOf(entry);
            if (index >= 0) waiting.splice(index, 1);
            reject(aborted(signal));
          };
          signal?.addEventListener('abort', onAbort, { once: true });
          waiting.push(entry);
        });
      }
      let best = 0;
      let bestShared = -1;
      let bestBusy = Number.POSITIVE_INFINITY;
      free.forEach((sequence, index) => {
        const shared = promptTokens === undefined ? 0 : sequence.compareContextTokens(promptTokens).firstDifferentIndex;
        const load = busy.get(sequence.context) ?? 0;
        if (shared > bestShared || (shared === bestShared && load < bestBusy)) {
          bestShared = shared;
          bestBusy = load;
          best = index;
        }
      });
      const [sequence] = free.splice(best, 1);
      if (sequence === undefined) throw new Error('sequence pool is inconsistent');
      return Promise.resolve(take(sequence));
    },
    release(sequence) {
      busy.set(sequence.context, Math.max(0, (busy.get(sequence.context) ?? 0) - 1));
      const next = waiting.shift();
      if (next !== undefined) next.resolve(sequence);
      else free.push(sequence);
    },
    close(reason) {
      for (const entry of waiting.splice(0)) entry.reject(reason);
    },
  };
}
