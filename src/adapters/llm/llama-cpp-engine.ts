import os from 'node:os';
import { statSync } from 'node:fs';
import {
  getLlama,
  GgufInsights,
  LlamaGrammarEvaluationState,
  LlamaLogLevel,
  readGgufFileInfo,
  type GgufFileInfo,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import type { ChatMessage } from '../../contracts/worker.ts';
import { InvalidInputError, UnderstudyError } from '../../core/errors.ts';
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

export interface LlamaCppEngineOptions {
  /** The base model, a GGUF file. */
  modelPath: string;
  /** A GGUF LoRA adapter (general.type=adapter). llama.cpp applies LoRA per context, so one engine serves one adapter. */
  adapterPath?: string;
  /** LoRA scale; 1 applies the adapter as trained. */
  adapterScale?: number;
  /** Tokens the context holds (prompt plus generated tokens, per sequence). */
  contextSize?: number;
  /** CPU threads for evaluation; default: one per core. */
  threads?: number;
  /** Parallel sequences: up to this many `generate`/`nextTokenLogprobs` calls run at once; more wait. */
  sequences?: number;
  /**
   * llama.cpp's flash attention. Off by default: on CPU its result depends on how the prompt is split into
   * batches (up to ~0.8 nats in log-probabilities), so a reused prefix, the previous prompt or a parallel
   * request would change answers. Off, every split gives bit-identical logits.
   */
  flashAttention?: boolean;
  /**
   * Keep each sequence's evaluated tokens and evaluate only the part of the next prompt that differs
   * (a long shared system prompt is then evaluated once). Off: every call starts from an empty state.
   */
  reusePrefix?: boolean;
  /** Renders `messages` requests to prompt text; the chat template is the caller's choice (e.g. `renderChatMl`). */
  renderPrompt?: (messages: readonly ChatMessage[]) => string;
  /** A llama.cpp backend to share between engines; without one the engine starts a CPU backend and disposes it with itself. */
  llama?: Llama;
  /** Clock in milliseconds for latency figures. */
  now?: () => number;
}

/** A generation request: prompt text already rendered with the model's chat template, or messages plus an engine `renderPrompt`. */
export type GenerateRequest = ({ prompt: string } | { messages: readonly ChatMessage[] }) & {
  /** Most tokens to generate. With `labels` it is raised when needed so that the longest label always fits. */
  maxTokens: number;
  /** Constrain the answer to exactly one of these labels (a GBNF grammar over the label set). */
  labels?: readonly string[];
};

export interface Generation {
  text: string;
  promptTokens: number;
  /** Tokens generated, the end-of-turn token excluded. */
  completionTokens: number;
  /** Their ids, in order. */
  completionTokenIds: number[];
  /** Prompt tokens served from the sequence's cached state instead of being evaluated. */
  reusedPromptTokens: number;
  latencyMs: number;
  /** From the call to the first sampled token (an immediate end of turn counts): mostly prompt evaluation. */
  timeToFirstTokenMs: number;
  /** `stop`: the model ended its turn (or the label grammar was complete); `length`: `maxTokens` ran out. */
  finishReason: 'stop' | 'length';
}

export interface TokenLogprob {
  tokenId: number;
  /** Natural log of the softmax probability over the whole vocabulary. */
  logprob: number;
}

export interface LlamaCppEngine {
  readonly modelPath: string;
  readonly adapterPath?: string;
  /** The context size llama.cpp actually allocated (it may round the requested size up). */
  readonly contextSize: number;
  /** Tokenize with special tokens parsed (`<|im_start|>` becomes one token); no BOS is added. */
  tokenize(text: string): number[];
  /** Text of the tokens, special tokens written out. */
  detokenize(tokens: readonly number[]): string;
  /** Greedy decoding (temperature 0) until the end-of-turn/EOS token or `maxTokens`. */
  generate(request: GenerateRequest): Promise<Generation>;
  /**
   * The `topK` most likely next tokens after evaluating exactly `tokenIds` from an empty state,
   * most likely first, as natural-log softmax probabilities of the raw logits (no sampling transforms).
   */
  nextTokenLogprobs(tokenIds: readonly number[], topK: number): Promise<TokenLogprob[]>;
  dispose(): Promise<void>;
}

/** A CPU llama.cpp backend with llama.cpp's own logging limited to errors; share one between engines. */
export function createCpuLlama(): Promise<Llama> {
  return getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
}

/** Load a base GGUF (and optionally one LoRA adapter) into one context with `sequences` parallel sequences. */
export async function createLlamaCppEngine(options: LlamaCppEngineOptions): Promise<LlamaCppEngine> {
  const now = options.now ?? (() => performance.now());
  const sequenceCount = options.sequences ?? 1;
  if (!Number.isInteger(sequenceCount) || sequenceCount < 1) {
    throw new InvalidInputError(`sequences must be a positive integer, got ${sequenceCount}`, { field: 'sequences' });
  }
  const ownsLlama = options.llama === undefined;
  const llama = options.llama ?? (await createCpuLlama());
  let model: LlamaModel | undefined;
  try {
    const modelInfo = await inspectGgufFile(llama, options.modelPath, 'model');
    if (options.adapterPath !== undefined) {
      const adapterInfo = await inspectGgufFile(llama, options.adapterPath, 'adapter');
      const modelArchitecture = modelInfo.metadata.general.architecture;
      const adapterArchitecture = adapterInfo.metadata.general.architecture;
      if (adapterArchitecture !== modelArchitecture) {
        throw new ModelLoadError(`LoRA adapter ${options.adapterPath} is for architecture "${adapterArchitecture}", but the model ${options.modelPath} is "${modelArchitecture}"`, {
          file: options.adapterPath,
          role: 'adapter',
          failure: 'incompatible-adapter',
        });
      }
    }
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
    let context: LlamaContext;
    try {
      context = await model.createContext({
        contextSize: options.contextSize ?? 2048,
        sequences: sequenceCount,
        flashAttention: options.flashAttention ?? false,
        // Always explicit: left to the backend's default, a short generation on this 2-core machine took 45 s
        // instead of 0.2 s (measured with 3.21.1), so the default is one thread per core.
        threads: options.threads ?? os.availableParallelism(),
        ...(options.adapterPath === undefined ? {} : { lora: { adapters: [{ filePath: options.adapterPath, scale: options.adapterScale ?? 1 }] } }),
      });
    } catch (error) {
      const file = options.adapterPath ?? options.modelPath;
      throw new ModelLoadError(
        options.adapterPath === undefined
          ? `llama.cpp could not create a context for ${options.modelPath}: ${errorText(error)}`
          : `llama.cpp could not apply the LoRA adapter ${options.adapterPath} to ${options.modelPath}: ${errorText(error)}`,
        { file, role: options.adapterPath === undefined ? 'model' : 'adapter', failure: 'load-failed', cause: error },
      );
    }
    return buildEngine({ options, llama, ownsLlama, model, context, sequenceCount, now });
  } catch (error) {
    await model?.dispose();
    if (ownsLlama) await llama.dispose();
    throw error;
  }
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
  context: LlamaContext;
  sequenceCount: number;
  now: () => number;
}

function buildEngine({ options, llama, ownsLlama, model, context, sequenceCount, now }: EngineParts): LlamaCppEngine {
  const reusePrefix = options.reusePrefix ?? true;
  const vocabularySize = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const pool = createSequencePool(Array.from({ length: sequenceCount }, () => context.getSequence()));
  const grammars = new Map<string, Promise<LlamaGrammar>>();
  let disposed = false;

  const ensureOpen = (): void => {
    if (disposed) throw new UnderstudyError('EngineDisposedError', `the llama.cpp engine for ${options.modelPath} was disposed`);
  };
  // llama.cpp aborts the whole process on an out-of-range token id in detokenize, so check first.
  const checkTokens = (tokens: readonly number[], field: string): Token[] => {
    const bad = tokens.find((token) => !Number.isInteger(token) || token < 0 || token >= vocabularySize);
    if (bad !== undefined) throw new InvalidInputError(`token id ${bad} is outside the vocabulary (0..${vocabularySize - 1})`, { field });
    return tokens as Token[];
  };
  const grammarFor = (labels: readonly string[]): Promise<LlamaGrammar> => {
    const key = JSON.stringify([...new Set(labels)].sort());
    let grammar = grammars.get(key);
    if (grammar === undefined) {
      grammar = llama.createGrammar({ grammar: labelSetGrammar(labels) });
      grammars.set(key, grammar);
      grammar.catch(() => grammars.delete(key));
    }
    return grammar;
  };
  const promptText = (request: GenerateRequest): string => {
    if ('prompt' in request) return request.prompt;
    if (options.renderPrompt === undefined) {
      throw new InvalidInputError('a messages request needs a renderPrompt function in the engine options', { field: 'renderPrompt' });
    }
    return options.renderPrompt(request.messages);
  };

  return {
    modelPath: options.modelPath,
    adapterPath: options.adapterPath,
    contextSize: context.contextSize,
    tokenize(text) {
      ensureOpen();
      return model.tokenize(text, true).map(Number);
    },
    detokenize(tokens) {
      ensureOpen();
      return model.detokenize(checkTokens(tokens, 'tokens'), true);
    },
    async generate(request) {
      ensureOpen();
      const started = now();
      const promptTokens = model.tokenize(promptText(request), true);
      if (promptTokens.length === 0) throw new InvalidInputError('the prompt is empty', { field: 'prompt' });
      if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) {
        throw new InvalidInputError(`maxTokens must be a positive integer, got ${request.maxTokens}`, { field: 'maxTokens' });
      }
      let tokenBudget = request.maxTokens;
      if (request.labels !== undefined) {
        if (request.labels.length === 0 || request.labels.some((label) => label === '')) {
          throw new InvalidInputError('labels must be a non-empty list of non-empty strings', { field: 'labels' });
        }
        // Every token spells at least one byte, so this many tokens always finish any label plus the end of turn.
        tokenBudget = Math.max(tokenBudget, ...request.labels.map((label) => Buffer.byteLength(label, 'utf8') + 1));
      }
      if (promptTokens.length + tokenBudget > context.contextSize) {
        throw new InvalidInputError(
          `the prompt (${promptTokens.length} tokens) plus ${tokenBudget} new tokens does not fit the context of ${context.contextSize} tokens`,
          { field: 'prompt', hint: 'raise contextSize or shorten the prompt' },
        );
      }
      const grammar = request.labels === undefined ? undefined : await grammarFor(request.labels);
      const sequence = await pool.acquire(promptTokens);
      try {
        const reused = await alignToPrompt(sequence, promptTokens, reusePrefix);
        const generated: Token[] = [];
        let firstTokenAt: number | undefined;
        let finishReason: Generation['finishReason'] = 'length';
        const tokens = sequence.evaluate(promptTokens.slice(reused), {
          temperature: 0,
          yieldEogToken: true,
          grammarEvaluationState: grammar === undefined ? undefined : new LlamaGrammarEvaluationState({ model, grammar }),
        });
        for await (const token of tokens) {
          firstTokenAt ??= now();
          if (model.isEogToken(token)) {
            finishReason = 'stop';
            break;
          }
          generated.push(token);
          if (generated.length >= tokenBudget) break;
        }
        const finished = now();
        return {
          text: model.detokenize(generated, false),
          promptTokens: promptTokens.length,
          completionTokens: generated.length,
          completionTokenIds: generated.map(Number),
          reusedPromptTokens: reused,
          latencyMs: finished - started,
          timeToFirstTokenMs: (firstTokenAt ?? finished) - started,
          finishReason,
        };
      } finally {
        pool.release(sequence);
      }
    },
    async nextTokenLogprobs(tokenIds, topK) {
      ensureOpen();
      if (tokenIds.length === 0) throw new InvalidInputError('nextTokenLogprobs needs at least one token', { field: 'tokenIds' });
      if (tokenIds.length > context.contextSize) {
        throw new InvalidInputError(`${tokenIds.length} tokens do not fit the context of ${context.contextSize}`, { field: 'tokenIds' });
      }
      if (!Number.isInteger(topK) || topK < 1) throw new InvalidInputError(`topK must be a positive integer, got ${topK}`, { field: 'topK' });
      const tokens = checkTokens(tokenIds, 'tokenIds');
      const sequence = await pool.acquire();
      try {
        await sequence.clearHistory();
        const last = tokens.length - 1;
        // With temperature 0 (the default) the sampler chain is greedy only: the addon returns the softmax of
        // the raw logits over the whole vocabulary, with no top-k/top-p/penalties applied.
        const results = await sequence.controlledEvaluate(
          tokens.map((token, index) => (index === last ? [token, { generateNext: { probabilities: true } }] : token)),
        );
        const probabilities = results[last]?.next.probabilities;
        if (probabilities === undefined) throw new UnderstudyError('EngineError', 'llama.cpp returned no next-token probabilities');
        return topLogprobs(probabilities, topK);
      } finally {
        pool.release(sequence);
      }
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await context.dispose();
      await model.dispose();
      if (ownsLlama) await llama.dispose();
    },
  };
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
  acquire(promptTokens?: Token[]): Promise<LlamaContextSequence>;
  release(sequence: LlamaContextSequence): void;
}

function createSequencePool(sequences: LlamaContextSequence[]): SequencePool {
  const free = [...sequences];
  const waiting: ((sequence: LlamaContextSequence) => void)[] = [];
  return {
    acquire(promptTokens) {
      if (free.length === 0) return new Promise((resolve) => waiting.push(resolve));
      let best = 0;
      if (promptTokens !== undefined) {
        let bestShared = -1;
        free.forEach((sequence, index) => {
          const shared = sequence.compareContextTokens(promptTokens).firstDifferentIndex;
          if (shared > bestShared) {
            bestShared = shared;
            best = index;
          }
        });
      }
      const [sequence] = free.splice(best, 1);
      if (sequence === undefined) throw new Error('sequence pool is inconsistent');
      return Promise.resolve(sequence);
    },
    release(sequence) {
      const next = waiting.shift();
      if (next !== undefined) next(sequence);
      else free.push(sequence);
    },
  };
}
