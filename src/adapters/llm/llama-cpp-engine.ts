import os from 'node:os';
import {
  getLlama,
  LlamaGrammarEvaluationState,
  LlamaLogLevel,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import { UnderstudyError } from '../../core/errors.ts';
import { assertGgufFile } from '../models/acquire.ts';
import { labelSetGrammar } from './label-grammar.ts';

/** A model or adapter file llama.cpp could not load. */
export class ModelLoadError extends UnderstudyError {
  constructor(message: string, file: string, cause?: unknown) {
    super('ModelLoadError', message, { file, cause });
  }
}

export interface LlamaCppEngineOptions {
  modelPath: string;
  /** A GGUF LoRA adapter applied to every sequence of this engine (llama.cpp applies LoRA per context). */
  adapterPath?: string;
  contextSize?: number;
  /** CPU threads; default: all cores. */
  threads?: number;
  /** Parallel sequences: concurrent `generate` calls run in parallel up to this number. */
  sequences?: number;
}

export interface GenerateRequest {
  /** The prompt, already rendered with the model's chat template. */
  prompt: string;
  maxTokens: number;
  /** Constrain the answer to exactly one of these labels. */
  labels?: readonly string[];
}

export interface Generation {
  text: string;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from the sequence's cached prefix instead of being evaluated. */
  reusedPromptTokens: number;
  latencyMs: number;
  timeToFirstTokenMs: number | null;
  finishReason: 'stop' | 'length';
}

export interface LlamaCppEngine {
  readonly modelPath: string;
  readonly adapterPath?: string;
  tokenize(text: string): number[];
  detokenize(tokens: readonly number[]): string;
  /** Greedy decoding until end of turn or `maxTokens`. */
  generate(request: GenerateRequest): Promise<Generation>;
  /** Natural-log probabilities of the next token after exactly `tokenIds`, most likely first (plain softmax of the logits). */
  nextTokenLogprobs(tokenIds: readonly number[], topK: number): Promise<{ tokenId: number; logprob: number }[]>;
  dispose(): Promise<void>;
}

let sharedLlama: Promise<Llama> | undefined;
/** One llama.cpp backend per process (CPU only). */
function loadLlama(): Promise<Llama> {
  sharedLlama ??= getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
  return sharedLlama;
}

/** Load a base GGUF (and optionally one LoRA adapter) into a context with `sequences` parallel sequences. */
export async function createLlamaCppEngine(options: LlamaCppEngineOptions): Promise<LlamaCppEngine> {
  assertGgufFile(options.modelPath);
  if (options.adapterPath !== undefined) assertGgufFile(options.adapterPath);
  const llama = await loadLlama();
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath: options.modelPath });
  } catch (error) {
    throw new ModelLoadError(`llama.cpp could not load the model: ${error instanceof Error ? error.message : String(error)}`, options.modelPath, error);
  }
  const sequenceCount = options.sequences ?? 1;
  let context: LlamaContext;
  try {
    context = await model.createContext({
      contextSize: options.contextSize ?? 2048,
      sequences: sequenceCount,
      threads: options.threads ?? os.availableParallelism(),
      ...(options.adapterPath === undefined ? {} : { lora: { adapters: [{ filePath: options.adapterPath }] } }),
    });
  } catch (error) {
    await model.dispose();
    const file = options.adapterPath ?? options.modelPath;
    throw new ModelLoadError(`llama.cpp could not create a context${options.adapterPath === undefined ? '' : ' with the LoRA adapter'}: ${error instanceof Error ? error.message : String(error)}`, file, error);
  }

  const free: LlamaContextSequence[] = Array.from({ length: sequenceCount }, () => context.getSequence());
  const waiting: ((sequence: LlamaContextSequence) => void)[] = [];
  const acquire = (): Promise<LlamaContextSequence> => {
    const sequence = free.pop();
    return sequence !== undefined ? Promise.resolve(sequence) : new Promise((resolve) => waiting.push(resolve));
  };
  const release = (sequence: LlamaContextSequence): void => {
    const next = waiting.shift();
    if (next !== undefined) next(sequence);
    else free.push(sequence);
  };
  const grammars = new Map<string, Promise<LlamaGrammar>>();
  const grammarFor = (labels: readonly string[]): Promise<LlamaGrammar> => {
    const key = JSON.stringify(labels);
    let grammar = grammars.get(key);
    if (grammar === undefined) {
      grammar = llama.createGrammar({ grammar: labelSetGrammar(labels) });
      grammars.set(key, grammar);
    }
    return grammar;
  };

  return {
    modelPath: options.modelPath,
    adapterPath: options.adapterPath,
    tokenize: (text) => model.tokenize(text, true).map(Number),
    detokenize: (tokens) => model.detokenize(tokens as Token[], false),
    async generate(request) {
      const started = performance.now();
      const promptTokens = model.tokenize(request.prompt, true);
      if (promptTokens.length + request.maxTokens > context.contextSize) {
        throw new UnderstudyError('PromptTooLongError', `prompt of ${promptTokens.length} tokens plus ${request.maxTokens} new tokens exceeds the context of ${context.contextSize}`);
      }
      const grammar = request.labels === undefined ? undefined : await grammarFor(request.labels);
      const sequence = await acquire();
      try {
        // Keep the cached prefix shared with the previous prompt (e.g. a long system prompt); evaluate only the rest.
        await sequence.adaptStateToTokens(promptTokens, false);
        let reused = Math.min(sequence.nextTokenIndex, promptTokens.length - 1);
        if (sequence.nextTokenIndex > reused) {
          await sequence.eraseContextTokenRanges([{ start: reused, end: sequence.nextTokenIndex }]);
          reused = sequence.nextTokenIndex;
        }
        const generated: Token[] = [];
        let firstTokenAt: number | null = null;
        let finishReason: Generation['finishReason'] = 'length';
        const iterator = sequence.evaluate(promptTokens.slice(reused), {
          temperature: 0,
          grammarEvaluationState: grammar === undefined ? undefined : new LlamaGrammarEvaluationState({ model, grammar }),
        });
        for await (const token of iterator) {
          firstTokenAt ??= performance.now();
          if (model.isEogToken(token)) {
            finishReason = 'stop';
            break;
          }
          generated.push(token);
          if (generated.length >= request.maxTokens) break;
        }
        const finished = performance.now();
        return {
          text: model.detokenize(generated, false),
          promptTokens: promptTokens.length,
          completionTokens: generated.length,
          reusedPromptTokens: reused,
          latencyMs: finished - started,
          timeToFirstTokenMs: firstTokenAt === null ? null : firstTokenAt - started,
          finishReason,
        };
      } finally {
        release(sequence);
      }
    },
    async nextTokenLogprobs(tokenIds, topK) {
      if (tokenIds.length === 0) throw new RangeError('nextTokenLogprobs needs at least one token');
      const sequence = await acquire();
      try {
        await sequence.clearHistory();
        const last = tokenIds.length - 1;
        const results = await sequence.controlledEvaluate(
          tokenIds.map((token, index) => (index === last ? [token as Token, { generateNext: { probabilities: true } }] : (token as Token))),
        );
        const probabilities = results[last]?.next?.probabilities;
        if (probabilities === undefined) throw new Error('llama.cpp returned no probabilities');
        const top = [...probabilities.entries()].map(([tokenId, probability]) => ({ tokenId: Number(tokenId), logprob: Math.log(probability) }));
        top.sort((a, b) => b.logprob - a.logprob);
        await sequence.clearHistory();
        return top.slice(0, topK);
      } finally {
        release(sequence);
      }
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}
