import { z } from 'zod';
import { ChatMessageSchema } from './worker.ts';

/**
 * The one provider interface every model call goes through (docs/architecture.md): hosted frontier models,
 * teachers, judges, the prompted base and tuned adapters, vLLM and Ollama. Two implementations cover them:
 * the embedded llama.cpp engine and the OpenAI-compatible HTTP client.
 */

/** Constrain what the model may write. */
export const OutputConstraintSchema = z.discriminatedUnion('kind', [
  /** Exactly one of these labels, nothing else. */
  z.object({ kind: z.literal('labels'), labels: z.array(z.string().min(1)).min(1) }),
  /**
   * A JSON value valid against this JSON Schema. Hosted servers get it as `response_format: json_schema`;
   * the embedded engine compiles it to a llama.cpp grammar (see `core/json-schema-grammar.ts` for the subset).
   */
  z.object({ kind: z.literal('json-schema'), schema: z.record(z.string(), z.unknown()), name: z.string().min(1).optional() }),
]);
export type OutputConstraint = z.infer<typeof OutputConstraintSchema>;

export const ChatRequestSchema = z.object({
  /**
   * Which model the provider runs. HTTP: the upstream model name. Embedded engine: `base` or the name of a
   * registered adapter. Omitted: the provider's default model.
   */
  model: z.string().min(1).optional(),
  messages: z.array(ChatMessageSchema).min(1),
  /** 0 (default) is greedy decoding. */
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().gt(0).max(1).optional(),
  /** Sampling seed: the same seed, prompt and settings give the same text on the embedded engine. */
  seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  /** Most tokens to generate. */
  maxTokens: z.number().int().positive().optional(),
  /** Stop before any of these strings; the stop string is not part of the text. */
  stop: z.array(z.string().min(1)).max(16).optional(),
  constraint: OutputConstraintSchema.optional(),
});
export type ChatRequest = z.infer<typeof ChatRequestSchema>;

export const TokenUsageSchema = z.object({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  /** Prompt tokens served from a cache (the upstream's prompt cache, or the engine's reused prefix). */
  cachedPromptTokens: z.number().int().nonnegative().optional(),
});
export type TokenUsage = z.infer<typeof TokenUsageSchema>;

/**
 * What a call cost. Never a silent 0: a model without a price says `unknown` and why.
 * `source` says where the price came from.
 */
export const CostSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('priced'),
    usd: z.number().nonnegative(),
    inputUsd: z.number().nonnegative(),
    outputUsd: z.number().nonnegative(),
    /** `genai-prices`: the @pydantic/genai-prices catalog; `override`: the user's config; `serving-cost-model`: hardware $/hour ÷ throughput. */
    source: z.enum(['genai-prices', 'override', 'serving-cost-model']),
    /** What was priced, e.g. `openai gpt-4o-mini` or `$0.90/h at 42 decode tok/s`. */
    detail: z.string(),
  }),
  z.object({ kind: z.literal('unknown'), reason: z.string() }),
]);
export type Cost = z.infer<typeof CostSchema>;

export const FinishReasonSchema = z.enum(['stop', 'length', 'content-filter', 'other']);
export type FinishReason = z.infer<typeof FinishReasonSchema>;

export const ChatResultSchema = z.object({
  text: z.string(),
  finishReason: FinishReasonSchema,
  /** `null`: the upstream reported no token usage (some servers omit it when streaming); cost is then `unknown`. */
  usage: TokenUsageSchema.nullable(),
  /** Milliseconds from the call to the first generated token, and to the end (retries and queueing included). */
  latency: z.object({ firstTokenMs: z.number().nonnegative(), totalMs: z.number().nonnegative() }),
  cost: CostSchema,
  /** The provider id and the model that answered (as the upstream names it). */
  provider: z.string(),
  model: z.string(),
});
export type ChatResult = z.infer<typeof ChatResultSchema>;

/** A streamed answer: text pieces in order, then one `done` with the whole result. */
export type ChatStreamEvent = { type: 'delta'; text: string } | { type: 'done'; result: ChatResult };

/** Per-call options that are not part of the request body. */
export interface CallOptions {
  /** Cancels the call (and its retries); the provider frees what it holds. */
  signal?: AbortSignal;
}

export interface ChatProvider {
  /** A short id used in results, logs and pricing, e.g. `openai`, `vllm`, `embedded`. */
  readonly id: string;
  complete(request: ChatRequest, options?: CallOptions): Promise<ChatResult>;
  stream(request: ChatRequest, options?: CallOptions): AsyncIterable<ChatStreamEvent>;
  /** Frees connections, contexts and models. */
  close(): Promise<void>;
}
