/**
 * A `ChatProvider` for any server that speaks OpenAI's chat completions protocol: OpenAI, Together,
 * Fireworks, vLLM, Ollama (`http://localhost:11434/v1`) and llama.cpp's `llama-server` (`http://host:8080/v1`).
 * Only the base URL and the key differ. It sends `POST {baseUrl}/chat/completions`, JSON or server-sent
 * events, with timeouts, retries, a concurrency limit and cancellation.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import { z } from 'zod';
import {
  ChatRequestSchema,
  type CallOptions,
  type ChatProvider,
  type ChatRequest,
  type ChatResult,
  type ChatStreamEvent,
  type Cost,
  type FinishReason,
  type OutputConstraint,
  type TokenUsage,
} from '../../contracts/provider.ts';
import { describeError, InvalidInputError, ProviderError, type ProviderFailure, type UnderstudyErrorOptions } from '../../core/errors.ts';
import type { RandomSource } from '../../core/random.ts';
import { DEFAULT_BACKOFF, isRetryableStatus, retryAfterFromHeaders, retryDelayMs, type BackoffSettings } from '../../core/retry-policy.ts';
import { excerpt, secretRedactor, upstreamMessage } from '../../core/upstream-errors.ts';
import { createServerSentEventParser, isStreamDone, type ServerSentEvent } from '../../core/server-sent-events.ts';
import { createConcurrencyLimit, type ReleaseSlot } from './concurrency-limit.ts';
import { createNodeHttpTransport, fetchTransport, type HttpTransport, type UpstreamResponse } from './http-transport.ts';

/** Prices one call from its usage and the model that answered (e.g. the genai-prices catalog in `adapters/pricing/`). */
export type PriceFunction = (usage: TokenUsage, model: string) => Cost;

/** Waits `ms` milliseconds; must reject promptly when `signal` aborts. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export interface OpenAiCompatibleProviderOptions {
  /** The provider id in results, errors and pricing, e.g. `openai`, `together`, `vllm`. */
  id: string;
  /** The API root, up to and including `/v1` (e.g. `https://api.openai.com/v1`); `/chat/completions` is appended. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`; no header at all without one (local servers). Never logged. */
  apiKey?: string;
  /** The model used when a request names none. */
  model: string;
  /** Extra headers on every request (e.g. `OpenAI-Organization`). Values of auth-like headers are redacted too. */
  headers?: Record<string, string>;
  /** The whole call, queueing and retries included. Default 60 s. */
  timeoutMs?: number;
  /**
   * Longest wait for the first byte of a response body, per attempt; a timed-out attempt may be retried.
   * Default: none (only `timeoutMs`), since a non-streamed answer sends nothing until it is complete.
   */
  firstByteTimeoutMs?: number;
  /** Longest silence between body chunks once a body has started, per attempt. Default 30 s. */
  idleTimeoutMs?: number;
  /** Retries after the first attempt. Default 4. */
  maxRetries?: number;
  /** Calls in flight at once through this provider; more wait in order. Default 8. */
  maxConcurrency?: number;
  /** Backoff bounds; see `core/retry-policy.ts`. */
  backoff?: Partial<BackoffSettings>;
  /**
   * The request field for `maxTokens`. `max_tokens` (default) is accepted by every server listed above;
   * OpenAI's reasoning models (o-series, gpt-5) accept only `max_completion_tokens`.
   */
  maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  /**
   * How a `labels` constraint reaches the server. `json-schema` (default): `response_format` json_schema with
   * an object root `{"label": <one of the labels>}` (OpenAI's strict mode needs an object root), and the
   * answer is unwrapped to the bare label. `validate`: no `response_format`; the model's text must be a label
   * (surrounding whitespace ignored). Either way an answer that is not a label fails with `constraint-violated`.
   */
  labelConstraint?: 'json-schema' | 'validate';
  /** Ask for usage in streams (`stream_options.include_usage`); turn off for servers that reject the field. Default true. */
  includeStreamUsage?: boolean;
  /** Send requests through this `fetch` instead of Node's `http` with keep-alive (the faster default). */
  fetch?: typeof globalThis.fetch;
  /** Wall clock in milliseconds (latency and `Retry-After` dates). Default `Date.now`. */
  now?: () => number;
  /** Uniform in [0, 1) for backoff jitter. Default `Math.random`. */
  random?: RandomSource;
  sleep?: Sleep;
  /** Without it every result's cost is `unknown`. */
  price?: PriceFunction;
}

/**
 * Stands in for usage the upstream did not report (some servers omit it from streams). The contract has no
 * way to say "unknown" yet; the cost of such a call is `unknown` with a reason that says so.
 */

// Upstream bodies: only the fields we read, each tolerant of null and of extra fields.
const UsageSchema = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  prompt_tokens_details: z.object({ cached_tokens: z.number().int().nonnegative().nullish() }).nullish(),
});
const ModelNameSchema = z.string().min(1).nullish().catch(undefined);
const CompletionSchema = z.object({
  model: ModelNameSchema,
  choices: z
    .array(
      z.object({
        index: z.number().nullish(),
        message: z.object({ content: z.string().nullish(), refusal: z.string().nullish() }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: UsageSchema.nullish().catch(undefined),
});
const StreamChunkSchema = z.object({
  model: ModelNameSchema,
  choices: z
    .array(
      z.object({
        index: z.number().nullish(),
        delta: z.object({ content: z.string().nullish(), refusal: z.string().nullish() }).nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: UsageSchema.nullish().catch(undefined),
  error: z.unknown().optional(),
});
const MAX_ERROR_BODY_CHARS = 65_536;
const MAX_TIMER_MS = 2_147_483_647;
const LABEL_FIELD = 'label';

interface Settings {
  id: string;
  baseUrl: string;
  apiKey?: string;
  model: string;
  headers: Record<string, string>;
  timeoutMs: number;
  firstByteTimeoutMs?: number;
  idleTimeoutMs: number;
  maxRetries: number;
  maxConcurrency: number;
  backoff: BackoffSettings;
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  labelConstraint: 'json-schema' | 'validate';
  includeStreamUsage: boolean;
  fetch: typeof globalThis.fetch | undefined;
  now: () => number;
  random: RandomSource;
  sleep: Sleep;
  price?: PriceFunction;
}

/** Why a call ended early, from outside its attempts. */
type CallEnding = 'timeout' | 'aborted' | 'closed';

/** What a stream has done so far, shared across its attempts. */
interface CallProgress {
  /** A delta reached the caller: from here on nothing is retried. */
  emitted: boolean;
  /** When the first generated text arrived (`now()` clock). */
  firstTokenAt?: number;
}

/** What an attempt has read, ready to become a `ChatResult`. */
interface RawAnswer {
  text: string;
  finishReason?: string | null;
  refused: boolean;
  usage?: TokenUsage;
  model?: string | null;
}

export function createOpenAiCompatibleProvider(options: OpenAiCompatibleProviderOptions): ChatProvider {
  const settings = resolveSettings(options);
  const { id } = settings;
  const limit = createConcurrencyLimit(settings.maxConcurrency);
  const endings = new Set<(why: CallEnding) => void>();
  const redact = secretRedactor([settings.apiKey, ...Object.entries(settings.headers).filter(([name]) => SENSITIVE_HEADER.test(name)).map(([, value]) => value)]);
  const endpoint = `${settings.baseUrl}/chat/completions`;
  const transport: HttpTransport = settings.fetch === undefined ? createNodeHttpTransport({ maxSockets: settings.maxConcurrency }) : fetchTransport(settings.fetch);
  let closed = false;

  const fail = (failure: ProviderFailure, message: string, extra: UnderstudyErrorOptions & { statusCode?: number; upstreamMessage?: string; attempts?: number } = {}): ProviderError =>
    new ProviderError(`${id}: ${message}`, { failure, provider: id, ...extra });
  const closedError = (attempts: number): ProviderError => fail('closed', 'the provider was closed', { attempts });

  async function* run(request: ChatRequest, callOptions: CallOptions, streaming: boolean): AsyncGenerator<ChatStreamEvent, void, undefined> {
    if (closed) throw closedError(0);
    const checked = ChatRequestSchema.safeParse(request);
    if (!checked.success) throw fail('invalid-request', `invalid request: ${z.prettifyError(checked.error)}`, { attempts: 0 });
    const chat = checked.data;
    const callerSignal = callOptions.signal;
    if (callerSignal?.aborted === true) throw fail('aborted', 'the call was aborted', { attempts: 0, cause: callerSignal.reason });

    const model = chat.model ?? settings.model;
    const requestBody = buildRequestBody(chat, model, streaming, settings);
    const body = JSON.stringify(requestBody);
    const headers = buildHeaders(settings, streaming);
    const startedAt = settings.now();
    const progress: CallProgress = { emitted: false };
    let attempts = 0;

    const call = new AbortController();
    let ending: CallEnding | undefined;
    const end = (why: CallEnding): void => {
      ending ??= why;
      call.abort(why);
    };
    const onCallerAbort = (): void => end('aborted');
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    const deadline = setTimeout(() => end('timeout'), settings.timeoutMs);
    endings.add(end);

    const endedError = (): ProviderError => {
      if (ending === 'closed') return closedError(attempts);
      if (ending === 'timeout') return fail('timeout', `no complete answer within ${settings.timeoutMs} ms`, { isRetryable: true, attempts });
      return fail('aborted', 'the call was aborted', { attempts, cause: callerSignal?.reason });
    };

    const classify = (cause: unknown, watch: AttemptWatch): ProviderError => {
      if (ending !== undefined) return endedError();
      if (watch.expired === 'first-byte') return fail('timeout', `no response within ${settings.firstByteTimeoutMs} ms (first-byte timeout)`, { isRetryable: true, attempts });
      if (watch.expired === 'idle') return fail('timeout', `the response stalled for ${settings.idleTimeoutMs} ms (idle timeout)`, { isRetryable: true, attempts });
      if (ProviderError.isInstance(cause)) return cause;
      return fail('network', `request failed: ${redact(describeCause(cause))}`, { isRetryable: true, attempts, cause });
    };

    const finish = (raw: RawAnswer): ChatResult => {
      const mapped = raw.refused && raw.text === '' ? 'content-filter' : mapFinishReason(raw.finishReason);
      const text = mapped === 'stop' ? enforceConstraint(raw.text, chat.constraint) : raw.text;
      const totalMs = Math.max(0, settings.now() - startedAt);
      const firstTokenMs = progress.firstTokenAt === undefined ? totalMs : Math.min(totalMs, Math.max(0, progress.firstTokenAt - startedAt));
      const answeredBy = raw.model ?? model;
      return {
        text,
        finishReason: mapped,
        usage: raw.usage ?? null,
        latency: { firstTokenMs, totalMs },
        cost: priceOf(raw.usage, answeredBy),
        provider: id,
        model: answeredBy,
      };
    };

    const enforceConstraint = (text: string, constraint: OutputConstraint | undefined): string => {
      if (constraint === undefined) return text;
      if (constraint.kind === 'labels') {
        const label = labelIn(text, constraint.labels);
        if (label === undefined) throw fail('constraint-violated', `the answer is not one of the ${constraint.labels.length} labels: ${excerpt(redact(text))}`, { attempts });
        return label;
      }
      try {
        JSON.parse(text);
      } catch {
        throw fail('constraint-violated', `the answer is not JSON although response_format json_schema was sent: ${excerpt(redact(text))}`, {
          attempts,
          hint: 'this server may ignore response_format; use one that supports json_schema (vLLM, llama.cpp, Ollama ≥ 0.5, OpenAI)',
        });
      }
      return text;
    };

    const priceOf = (usage: TokenUsage | undefined, answeredBy: string): Cost => {
      if (usage === undefined) return { kind: 'unknown', reason: `${id} reported no token usage for this call` };
      if (settings.price === undefined) return { kind: 'unknown', reason: `no price function was given to provider ${id}` };
      try {
        return settings.price(usage, answeredBy);
      } catch (cause) {
        return { kind: 'unknown', reason: `pricing ${answeredBy} failed: ${describeError(cause)}` };
      }
    };

    const badResponse = (what: string, text: string): ProviderError => fail('bad-response', `${what}: ${excerpt(redact(text))}`, { attempts });

    const statusError = async (response: UpstreamResponse, watch: AttemptWatch): Promise<ProviderError> => {
      let text = '';
      try {
        text = await readAll(response, watch, MAX_ERROR_BODY_CHARS);
      } catch {
        // The status alone says enough; a timeout or abort here is classified by the caller.
      }
      const upstream = redact(upstreamMessage(text));
      const statusCode = response.status;
      const status = `HTTP ${statusCode}${response.statusText === '' ? '' : ` ${response.statusText}`}`;
      if (requestBody.response_format !== undefined && (statusCode === 400 || statusCode === 422) && CONSTRAINT_WORDS.test(upstream)) {
        return fail('unsupported-schema', `the upstream rejected the output constraint (${status}): ${upstream}`, {
          statusCode,
          upstreamMessage: upstream,
          attempts,
          hint: 'this server or model does not accept response_format json_schema (or not this schema); use another server, or labelConstraint: "validate" for labels',
        });
      }
      return fail('http-status', `${status}: ${upstream}`, { statusCode, upstreamMessage: upstream, isRetryable: isRetryableStatus(statusCode), attempts, hint: hintForStatus(statusCode) });
    };

    const parseJson = (text: string, what: string): unknown => {
      try {
        return JSON.parse(text);
      } catch {
        throw badResponse(`${what} is not JSON`, text);
      }
    };

    const readCompletion = async (response: UpstreamResponse, watch: AttemptWatch): Promise<RawAnswer> => {
      const text = await readAll(response, watch);
      const parsed = CompletionSchema.safeParse(parseJson(text, 'the answer'));
      if (!parsed.success) throw badResponse('the answer has no choices[0].message', text);
      const choice = parsed.data.choices.find((candidate) => (candidate.index ?? 0) === 0) ?? parsed.data.choices[0]!;
      return {
        text: choice.message.content ?? '',
        finishReason: choice.finish_reason,
        refused: typeof choice.message.refusal === 'string' && choice.message.refusal !== '',
        usage: toUsage(parsed.data.usage),
        model: parsed.data.model,
      };
    };

    async function* readEventStream(response: UpstreamResponse, watch: AttemptWatch): AsyncGenerator<ChatStreamEvent, void, undefined> {
      if (response.body === null) throw badResponse('the stream has no body', '');
      // A label is only known once the whole answer is in (it may arrive wrapped in JSON): send it as one delta.
      const buffered = chat.constraint?.kind === 'labels';
      const parser = createServerSentEventParser();
      const raw: RawAnswer = { text: '', refused: false };
      let sawDone = false;

      /** Reads one event into `raw`; returns its text piece ('' for none). */
      const absorb = (event: ServerSentEvent): string => {
        if (isStreamDone(event)) {
          sawDone = true;
          return '';
        }
        const chunk = StreamChunkSchema.safeParse(parseJson(event.data, 'a stream event'));
        if (!chunk.success) throw badResponse('a stream event is not a chat.completion.chunk', event.data);
        if (chunk.data.error !== undefined && chunk.data.error !== null) {
          const message = redact(upstreamMessage(JSON.stringify({ error: chunk.data.error })));
          throw fail('bad-response', `the upstream reported an error mid-stream: ${message}`, { upstreamMessage: message, attempts });
        }
        raw.model = chunk.data.model ?? raw.model;
        raw.usage = toUsage(chunk.data.usage) ?? raw.usage;
        const choice = chunk.data.choices?.find((candidate) => (candidate.index ?? 0) === 0);
        if (choice === undefined) return '';
        if (typeof choice.finish_reason === 'string') raw.finishReason = choice.finish_reason;
        if (typeof choice.delta?.refusal === 'string' && choice.delta.refusal !== '') raw.refused = true;
        return choice.delta?.content ?? '';
      };

      // Event by event, so a delta reaches the caller before a later event in the same chunk can fail.
      function* emit(events: ServerSentEvent[]): Generator<ChatStreamEvent, void, undefined> {
        for (const event of events) {
          if (sawDone) return;
          const piece = absorb(event);
          if (piece === '') continue;
          progress.firstTokenAt ??= settings.now();
          raw.text += piece;
          if (buffered) continue;
          progress.emitted = true;
          yield { type: 'delta', text: piece };
        }
      }

      for await (const text of readText(response, watch)) {
        yield* emit(parser.push(text));
        if (sawDone) break;
      }
      if (!sawDone) yield* emit(parser.end());
      if (!sawDone && raw.finishReason === undefined) throw fail('network', 'the stream ended before its end marker', { isRetryable: true, attempts });
      const result = finish(raw);
      if (buffered && result.text !== '') {
        progress.emitted = true;
        yield { type: 'delta', text: result.text };
      }
      yield { type: 'done', result };
    }

    let release: ReleaseSlot | undefined;
    try {
      try {
        release = await limit.acquire(call.signal);
      } catch (cause) {
        throw ending === undefined ? cause : endedError();
      }
      for (;;) {
        attempts += 1;
        const watch = watchAttempt(call.signal, settings.firstByteTimeoutMs, settings.idleTimeoutMs);
        let retryAfterMs: number | undefined;
        try {
          const response = await transport.post(endpoint, { headers, body, signal: watch.signal });
          if (!response.ok) {
            retryAfterMs = retryAfterFromHeaders(response.header, settings.now());
            throw await statusError(response, watch);
          }
          if (streaming && isEventStream(response)) {
            yield* readEventStream(response, watch);
          } else {
            // Non-streamed, or a server that ignored `stream: true` and answered with one JSON body.
            const result = finish(await readCompletion(response, watch));
            if (streaming && result.text !== '') {
              progress.emitted = true;
              yield { type: 'delta', text: result.text };
            }
            yield { type: 'done', result };
          }
          return;
        } catch (cause) {
          const failure = classify(cause, watch);
          if (!failure.isRetryable || ending !== undefined || progress.emitted || attempts > settings.maxRetries) throw failure;
          const wait = retryDelayMs({ retry: attempts, retryAfterMs, random: settings.random, settings: settings.backoff });
          // Sleeping past the deadline would only turn this error into a vaguer timeout.
          if (settings.now() - startedAt + wait >= settings.timeoutMs) throw failure;
          // Nothing reached the caller; the answer's first token is the next attempt's.
          progress.firstTokenAt = undefined;
          try {
            await settings.sleep(wait, call.signal);
          } catch (sleepCause) {
            throw ending === undefined ? sleepCause : endedError();
          }
          if (ending !== undefined) throw endedError();
        } finally {
          watch.dispose();
        }
      }
    } finally {
      clearTimeout(deadline);
      callerSignal?.removeEventListener('abort', onCallerAbort);
      endings.delete(end);
      release?.();
      // Frees the connection when the caller stopped reading a stream early.
      if (!call.signal.aborted) call.abort('finished');
    }
  }

  return {
    id,
    async complete(request, callOptions = {}) {
      for await (const event of run(request, callOptions, false)) if (event.type === 'done') return event.result;
      throw fail('bad-response', 'the call ended without a result');
    },
    stream(request, callOptions = {}) {
      return run(request, callOptions, true);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const end of [...endings]) end('closed');
      limit.close(closedError(0));
      transport.close();
    },
  };
}

function resolveSettings(options: OpenAiCompatibleProviderOptions): Settings {
  const check = (ok: boolean, field: string, message: string): void => {
    if (!ok) throw new InvalidInputError(message, { field });
  };
  const positive = (value: number | undefined, field: string): void =>
    check(value === undefined || (Number.isInteger(value) && value > 0 && value <= MAX_TIMER_MS), field, `${field} must be a positive integer (milliseconds or a count), got ${value}`);

  check(options.id.trim() !== '', 'id', 'a provider needs a non-empty id');
  check(options.model.trim() !== '', 'model', 'a provider needs a default model');
  let url: URL | undefined;
  try {
    url = new URL(options.baseUrl);
  } catch {
    url = undefined;
  }
  check(url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:'), 'baseUrl', `baseUrl must be an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
  check(url?.username === '' && url.password === '', 'baseUrl', 'baseUrl must not carry credentials; pass apiKey instead');
  positive(options.timeoutMs, 'timeoutMs');
  positive(options.firstByteTimeoutMs, 'firstByteTimeoutMs');
  positive(options.idleTimeoutMs, 'idleTimeoutMs');
  positive(options.maxConcurrency, 'maxConcurrency');
  check(options.maxRetries === undefined || (Number.isInteger(options.maxRetries) && options.maxRetries >= 0), 'maxRetries', `maxRetries must be a non-negative integer, got ${options.maxRetries}`);

  return {
    id: options.id,
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    apiKey: options.apiKey === '' ? undefined : options.apiKey,
    model: options.model,
    headers: options.headers ?? {},
    timeoutMs: options.timeoutMs ?? 60_000,
    firstByteTimeoutMs: options.firstByteTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    maxRetries: options.maxRetries ?? 4,
    maxConcurrency: options.maxConcurrency ?? 8,
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    maxTokensField: options.maxTokensField ?? 'max_tokens',
    labelConstraint: options.labelConstraint ?? 'json-schema',
    includeStreamUsage: options.includeStreamUsage ?? true,
    fetch: options.fetch,
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
    sleep: options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal })),
    price: options.price,
  };
}

/** Header names lowercased (as `Headers` would), the configured ones first, ours over them. */
function buildHeaders(settings: Settings, streaming: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(settings.headers)) headers[name.toLowerCase()] = value;
  headers['content-type'] = 'application/json';
  headers.accept = streaming ? 'text/event-stream' : 'application/json';
  if (settings.apiKey !== undefined) headers.authorization = `Bearer ${settings.apiKey}`;
  return headers;
}

/** The upstream request body. `temperature` is always sent: the contract's default is 0 (greedy), the servers' is not. */
function buildRequestBody(chat: ChatRequest, model: string, streaming: boolean, settings: Settings): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model,
    messages: chat.messages.map((message) => ({ role: message.role, content: message.content })),
    temperature: chat.temperature ?? 0,
  };
  if (chat.topP !== undefined) body.top_p = chat.topP;
  if (chat.seed !== undefined) body.seed = chat.seed;
  if (chat.maxTokens !== undefined) body[settings.maxTokensField] = chat.maxTokens;
  if (chat.stop !== undefined) body.stop = chat.stop;
  const responseFormat = responseFormatFor(chat.constraint, settings.labelConstraint);
  if (responseFormat !== undefined) body.response_format = responseFormat;
  if (streaming) {
    body.stream = true;
    if (settings.includeStreamUsage) body.stream_options = { include_usage: true };
  }
  return body;
}

function responseFormatFor(constraint: OutputConstraint | undefined, labelConstraint: Settings['labelConstraint']): Record<string, unknown> | undefined {
  if (constraint === undefined) return undefined;
  if (constraint.kind === 'json-schema') {
    return { type: 'json_schema', json_schema: { name: schemaName(constraint.name ?? 'response'), schema: constraint.schema, strict: true } };
  }
  if (labelConstraint === 'validate') return undefined;
  const schema = {
    type: 'object',
    properties: { [LABEL_FIELD]: { type: 'string', enum: [...new Set(constraint.labels)] } },
    required: [LABEL_FIELD],
    additionalProperties: false,
  };
  return { type: 'json_schema', json_schema: { name: 'label', schema, strict: true } };
}

/** OpenAI accepts schema names of [A-Za-z0-9_-], at most 64. */
function schemaName(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return clean === '' ? 'response' : clean;
}

/** The label in an answer: bare (whitespace ignored) or wrapped as `{"label": ...}`; `undefined` when neither. */
function labelIn(text: string, labels: readonly string[]): string | undefined {
  const trimmed = text.trim();
  if (labels.includes(trimmed)) return trimmed;
  try {
    const value: unknown = JSON.parse(trimmed);
    if (typeof value === 'object' && value !== null && LABEL_FIELD in value) {
      const label: unknown = (value as Record<string, unknown>)[LABEL_FIELD];
      if (typeof label === 'string' && labels.includes(label)) return label;
    }
  } catch {
    // Not JSON: not a label either.
  }
  return undefined;
}

function mapFinishReason(reason: string | null | undefined): FinishReason {
  if (reason === 'stop' || reason === 'length') return reason;
  if (reason === 'content_filter') return 'content-filter';
  return 'other';
}

function toUsage(usage: z.infer<typeof UsageSchema> | null | undefined): TokenUsage | undefined {
  if (usage === null || usage === undefined) return undefined;
  const cached = usage.prompt_tokens_details?.cached_tokens;
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    ...(cached === null || cached === undefined ? {} : { cachedPromptTokens: cached }),
  };
}

function isEventStream(response: UpstreamResponse): boolean {
  return (response.header('content-type') ?? '').toLowerCase().includes('text/event-stream');
}

const CONSTRAINT_WORDS = /response_format|json_schema|schema|grammar|structured/i;

function hintForStatus(status: number): string | undefined {
  if (status === 401 || status === 403) return 'check the API key and that it may use this model';
  if (status === 404) return 'check baseUrl (most servers want it to end in /v1) and the model name';
  if (status === 429) return 'rate limited: lower maxConcurrency, or raise the account limit';
  return undefined;
}

const SENSITIVE_HEADER = /auth|key|token|secret|cookie/i;

/** `fetch failed: connect ECONNREFUSED 127.0.0.1:9` rather than the bare `fetch failed`. */
function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : '';
  return `${cause.message}${inner}`;
}

/** Per-attempt abort with a first-byte and an idle timer; the idle timer runs only while we wait on the upstream. */
interface AttemptWatch {
  readonly signal: AbortSignal;
  readonly expired: 'first-byte' | 'idle' | undefined;
  /** Before each body read: from the second read on, the upstream has `idleTimeoutMs` to send something. */
  awaitBytes(): void;
  /** After each body read. */
  gotBytes(): void;
  dispose(): void;
}

function watchAttempt(parent: AbortSignal, firstByteTimeoutMs: number | undefined, idleTimeoutMs: number): AttemptWatch {
  const controller = new AbortController();
  const onParentAbort = (): void => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', onParentAbort, { once: true });
  let expired: 'first-byte' | 'idle' | undefined;
  let timer: NodeJS.Timeout | undefined;
  let sawBytes = false;
  const arm = (ms: number | undefined, kind: 'first-byte' | 'idle'): void => {
    clearTimeout(timer);
    timer =
      ms === undefined
        ? undefined
        : setTimeout(() => {
            expired = kind;
            controller.abort(new Error(`${kind} timeout`));
          }, ms);
  };
  arm(firstByteTimeoutMs, 'first-byte');
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    awaitBytes() {
      if (sawBytes) arm(idleTimeoutMs, 'idle');
    },
    gotBytes() {
      sawBytes = true;
      clearTimeout(timer);
      timer = undefined;
    },
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener('abort', onParentAbort);
    },
  };
}

/** The decoded body, chunk by chunk, under the attempt's timers; stopping early cancels the body. */
async function* readText(response: UpstreamResponse, watch: AttemptWatch): AsyncGenerator<string, void, undefined> {
  if (response.body === null) return;
  const chunks = response.body[Symbol.asyncIterator]();
  const decoder = new TextDecoder();
  let finished = false;
  try {
    for (;;) {
      watch.awaitBytes();
      const { done, value } = await chunks.next();
      watch.gotBytes();
      if (done === true) break;
      const text = decoder.decode(value, { stream: true });
      if (text !== '') yield text;
    }
    finished = true;
    const tail = decoder.decode();
    if (tail !== '') yield tail;
  } finally {
    // Early: the iterator's return cancels the web stream, or destroys the node response and its socket.
    if (!finished) await chunks.return?.();
  }
}

async function readAll(response: UpstreamResponse, watch: AttemptWatch, maxChars = Number.POSITIVE_INFINITY): Promise<string> {
  if (response.body === null) return '';
  let text = '';
  for await (const piece of readText(response, watch)) {
    text += piece;
    if (text.length >= maxChars) break;
  }
  return text;
}
