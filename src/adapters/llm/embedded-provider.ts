import { ChatRequestSchema, type CallOptions, type ChatProvider, type ChatRequest, type ChatResult, type ChatStreamEvent, type Cost } from '../../contracts/provider.ts';
import { ProviderError, UnderstudyError } from '../../core/errors.ts';
import { servingCost } from '../../core/serving-cost.ts';
import type { Generation, GenerateRequest, LlamaCppEngine } from './llama-cpp-engine.ts';

/** The serving machine's price; rates not given are taken from what the engine has measured so far. */
export interface ServingPrice {
  usdPerHour: number;
  prefillTokensPerSecond?: number;
  decodeTokensPerSecond?: number;
}

export interface EmbeddedProviderOptions {
  engine: LlamaCppEngine;
  /** Provider id in results and logs. */
  id?: string;
  /** Without it every result's cost is `unknown` (a local model is not free: its machine costs money). */
  serving?: ServingPrice;
  /** `maxTokens` when a request gives none. */
  defaultMaxTokens?: number;
  /** Dispose the engine on `close()`. */
  ownsEngine?: boolean;
}

/**
 * The embedded llama.cpp engine behind the provider interface: `model` names an adapter registered on the
 * engine (`base` for none; absent: the engine's default), constraints become grammars, cost comes from the
 * serving cost model.
 */
export function createEmbeddedProvider(options: EmbeddedProviderOptions): ChatProvider {
  const id = options.id ?? 'embedded';
  const engine = options.engine;
  let closed = false;

  const fail = (error: unknown): ProviderError => {
    if (ProviderError.isInstance(error)) return error;
    if (UnderstudyError.isInstance(error)) {
      const invalid = error.name === 'InvalidInputError';
      return new ProviderError(error.message, { failure: invalid ? 'invalid-request' : 'engine', provider: id, field: error.field, file: error.file, hint: error.hint, cause: error });
    }
    return new ProviderError(`the embedded engine failed: ${error instanceof Error ? error.message : String(error)}`, { failure: 'engine', provider: id, cause: error });
  };

  const toGenerateRequest = (request: ChatRequest, signal: AbortSignal | undefined, onText?: (text: string) => void): GenerateRequest => {
    if (closed) throw new ProviderError('the provider is closed', { failure: 'closed', provider: id });
    const parsed = ChatRequestSchema.safeParse(request);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ProviderError(`invalid request: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`, { failure: 'invalid-request', provider: id, field: issue?.path.join('.') });
    }
    const valid = parsed.data;
    return {
      messages: valid.messages,
      maxTokens: valid.maxTokens ?? options.defaultMaxTokens ?? 256,
      ...(valid.model === undefined ? {} : { adapter: valid.model }),
      ...(valid.temperature === undefined ? {} : { temperature: valid.temperature }),
      ...(valid.topP === undefined ? {} : { topP: valid.topP }),
      ...(valid.seed === undefined ? {} : { seed: valid.seed }),
      ...(valid.stop === undefined ? {} : { stop: valid.stop }),
      ...(valid.constraint?.kind === 'labels' ? { labels: valid.constraint.labels } : {}),
      ...(valid.constraint?.kind === 'json-schema' ? { jsonSchema: valid.constraint.schema } : {}),
      ...(signal === undefined ? {} : { signal }),
      ...(onText === undefined ? {} : { onText }),
    };
  };

  const costOf = (generation: Generation): Cost => {
    if (options.serving === undefined) {
      return { kind: 'unknown', reason: 'no serving cost model configured for the embedded engine (pricing.serving.usdPerHour)' };
    }
    const measured = engine.throughput();
    const prefill = options.serving.prefillTokensPerSecond ?? measured.prefillTokensPerSecond;
    const decode = options.serving.decodeTokensPerSecond ?? measured.decodeTokensPerSecond;
    if (prefill === undefined || decode === undefined) return { kind: 'unknown', reason: 'the engine has not measured its throughput yet' };
    const configured = options.serving.prefillTokensPerSecond !== undefined && options.serving.decodeTokensPerSecond !== undefined;
    return servingCost(
      {
        usdPerHour: options.serving.usdPerHour,
        prefillTokensPerSecond: prefill,
        decodeTokensPerSecond: decode,
        rateSource: configured ? 'configured rates' : `rates measured by this engine over ${measured.requests} requests`,
      },
      { promptTokens: generation.promptTokens, completionTokens: generation.completionTokens, cachedPromptTokens: generation.reusedPromptTokens },
    );
  };

  const toResult = (generation: Generation): ChatResult => ({
    text: generation.text,
    finishReason: generation.finishReason,
    usage: { promptTokens: generation.promptTokens, completionTokens: generation.completionTokens, cachedPromptTokens: generation.reusedPromptTokens },
    latency: { firstTokenMs: generation.timeToFirstTokenMs, totalMs: generation.latencyMs },
    cost: costOf(generation),
    provider: id,
    model: generation.adapter,
  });

  return {
    id,
    async complete(request, callOptions: CallOptions = {}) {
      try {
        return toResult(await engine.generate(toGenerateRequest(request, callOptions.signal)));
      } catch (error) {
        throw fail(error);
      }
    },
    async *stream(request, callOptions: CallOptions = {}): AsyncGenerator<ChatStreamEvent> {
      const pending: string[] = [];
      let wake: (() => void) | undefined;
      let finished: { result?: ChatResult; error?: unknown } | undefined;
      const notify = (): void => {
        wake?.();
        wake = undefined;
      };
      const inner = new AbortController();
      const forwardAbort = (): void => inner.abort(callOptions.signal?.reason);
      callOptions.signal?.addEventListener('abort', forwardAbort, { once: true });
      if (callOptions.signal?.aborted === true) inner.abort(callOptions.signal.reason);
      let generateRequest: GenerateRequest;
      try {
        generateRequest = toGenerateRequest(request, inner.signal, (text) => {
          pending.push(text);
          notify();
        });
      } catch (error) {
        callOptions.signal?.removeEventListener('abort', forwardAbort);
        throw fail(error);
      }
      engine.generate(generateRequest).then(
        (generation) => {
          finished = { result: toResult(generation) };
          notify();
        },
        (error: unknown) => {
          finished = { error };
          notify();
        },
      );
      try {
        for (;;) {
          while (pending.length > 0) yield { type: 'delta', text: pending.shift()! };
          if (finished !== undefined) {
            if (finished.error !== undefined) throw fail(finished.error);
            yield { type: 'done', result: finished.result! };
            return;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
      } finally {
        callOptions.signal?.removeEventListener('abort', forwardAbort);
        // A consumer that stops reading early frees the sequence.
        if (finished === undefined) inner.abort(new Error('the stream consumer stopped reading'));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (options.ownsEngine === true) await engine.dispose();
    },
  };
}
