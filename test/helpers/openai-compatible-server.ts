/**
 * A TEST DOUBLE for a hosted OpenAI-compatible API (OpenAI, Together, Fireworks, vLLM, Ollama's `/v1`):
 * a real `node:http` server on 127.0.0.1 (a free port) speaking the documented chat completions protocol,
 * `POST /v1/chat/completions` answered as JSON or as server-sent events.
 *
 * - `startOpenAiCompatibleServer(handler)`: tests script each answer (normal, status sequences, `Retry-After`,
 *   garbage, a hang after headers, a slow stream, a 400 on `response_format`) with the writers below.
 * - `serveProvider(provider)`: puts any `ChatProvider` behind the same protocol (later the embedded llama.cpp
 *   engine), mapping request fields to a `ChatRequest`.
 *
 * Every request is recorded with its headers and parsed body; `inFlight` and `maxInFlight` count requests
 * whose response has not finished.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { ChatProvider, ChatRequest, ChatResult, FinishReason, OutputConstraint } from '../../src/contracts/provider.ts';
import { ProviderError } from '../../src/core/errors.ts';

export interface RecordedRequest {
  method: string;
  /** The path with its query, e.g. `/v1/chat/completions`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
}

export interface HandlerContext {
  /** 0 for the first request this server received, 1 for the next, ... */
  index: number;
  /** Aborts when the client goes away before the response finished. */
  disconnected: AbortSignal;
}

/** Answers one chat completions request by writing to `response`. */
export type ScriptedHandler = (request: RecordedRequest, response: ServerResponse, context: HandlerContext) => void | Promise<void>;

export interface OpenAiCompatibleTestServer {
  /** `http://127.0.0.1:<port>/v1`, ready for a provider's `baseUrl`. */
  readonly baseUrl: string;
  readonly requests: RecordedRequest[];
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Stops listening and cuts every open connection (hung responses included). */
  close(): Promise<void>;
}

const CHAT_PATH = '/v1/chat/completions';

export async function startOpenAiCompatibleServer(handler: ScriptedHandler): Promise<OpenAiCompatibleTestServer> {
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;

  const server = createServer((incoming, response) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const disconnect = new AbortController();
    response.on('close', () => {
      inFlight -= 1;
      if (!response.writableFinished) disconnect.abort();
    });
    void (async () => {
      const recorded: RecordedRequest = { method: incoming.method ?? 'GET', path: incoming.url ?? '/', headers: incoming.headers, body: await readBody(incoming) };
      requests.push(recorded);
      if (recorded.method !== 'POST' || recorded.path !== CHAT_PATH) return sendError(response, 404, `no route for ${recorded.method} ${recorded.path}`);
      await handler(recorded, response, { index: requests.length - 1, disconnected: disconnect.signal });
    })().catch((error: unknown) => {
      if (!response.headersSent) sendError(response, 500, `test server handler failed: ${String(error)}`);
      else response.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}

/** Answers request n with handler n; the last handler answers every request after that. */
export function inSequence(...handlers: ScriptedHandler[]): ScriptedHandler {
  if (handlers.length === 0) throw new RangeError('inSequence needs at least one handler');
  return (request, response, context) => handlers[Math.min(context.index, handlers.length - 1)]!(request, response, context);
}

async function readBody(incoming: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export interface UsageFields {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens: number };
}

export interface CompletionReply {
  text: string;
  model?: string;
  /** OpenAI's spelling: `stop`, `length`, `content_filter`, ...; `null` is allowed. */
  finishReason?: string | null;
  /** `null`: omit usage, as some servers do. */
  usage?: UsageFields | null;
  headers?: Record<string, string>;
}

/** A `chat.completion` JSON body. */
export function sendCompletion(response: ServerResponse, reply: CompletionReply): void {
  const body: Record<string, unknown> = {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: reply.model ?? 'test-model',
    choices: [{ index: 0, message: { role: 'assistant', content: reply.text }, finish_reason: reply.finishReason === undefined ? 'stop' : reply.finishReason }],
  };
  const usage = reply.usage === undefined ? { prompt_tokens: 7, completion_tokens: countWords(reply.text) } : reply.usage;
  if (usage !== null) body.usage = { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
  sendJson(response, 200, body, reply.headers);
}

export interface StreamReply {
  deltas: string[];
  model?: string;
  finishReason?: string | null;
  /** Sent in a last chunk with empty `choices` when the request asked for it (`stream_options.include_usage`); `null`: never. */
  usage?: UsageFields | null;
  /** Pause before each delta (a slow upstream). */
  delayMs?: number;
  /** After this many deltas, stop writing and keep the connection open (a stall mid-stream). */
  hangAfter?: number;
  /** Leave out the closing `data: [DONE]`. */
  omitDone?: boolean;
  /** Stops the writer when the client goes away. */
  signal?: AbortSignal;
}

/** A `chat.completion.chunk` event stream, ending with `data: [DONE]`. */
export async function sendStream(response: ServerResponse, request: RecordedRequest, reply: StreamReply): Promise<void> {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const model = reply.model ?? 'test-model';
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices, ...extra })}\n\n`;
  response.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
  for (const [index, delta] of reply.deltas.entries()) {
    if (reply.hangAfter !== undefined && index >= reply.hangAfter) return;
    if (reply.delayMs !== undefined) await pause(reply.delayMs);
    if (reply.signal?.aborted === true || response.destroyed) return;
    response.write(chunk([{ index: 0, delta: { content: delta }, finish_reason: null }]));
  }
  if (reply.hangAfter !== undefined && reply.deltas.length >= reply.hangAfter) return;
  response.write(chunk([{ index: 0, delta: {}, finish_reason: reply.finishReason === undefined ? 'stop' : reply.finishReason }]));
  const usage = reply.usage === undefined ? { prompt_tokens: 7, completion_tokens: reply.deltas.length } : reply.usage;
  if (usage !== null && wantsStreamUsage(request.body)) {
    response.write(chunk([], { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } }));
  }
  if (reply.omitDone !== true) response.write('data: [DONE]\n\n');
  response.end();
}

/** An OpenAI-style error body `{"error": {"message", "type", "code"}}`. */
export function sendError(response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const type = status >= 500 ? 'server_error' : status === 429 ? 'rate_limit_exceeded' : 'invalid_request_error';
  sendJson(response, status, { error: { message, type, param: null, code: null } }, headers);
}

/** Any body with any content type: an HTML error page from a proxy, truncated JSON, ... */
export function sendRaw(response: ServerResponse, status: number, body: string, contentType = 'text/html', headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': contentType, ...headers });
  response.end(body);
}

/** Sends status and headers, then nothing, ever (until the client or `close()` cuts the connection). */
export function hangAfterHeaders(response: ServerResponse, contentType = 'application/json'): void {
  response.writeHead(200, { 'content-type': contentType });
  response.flushHeaders();
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

function wantsStreamUsage(body: unknown): boolean {
  return StreamOptionsSchema.safeParse(body).data?.stream_options?.include_usage === true;
}

const StreamOptionsSchema = z.object({ stream_options: z.object({ include_usage: z.boolean().optional() }).nullish() });

function countWords(text: string): number {
  return text.split(/\s+/).filter((word) => word !== '').length;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// The request fields `serveProvider` understands; everything else is ignored, as a tolerant server does.
const ContentSchema = z.union([z.string(), z.array(z.object({ type: z.literal('text'), text: z.string() })).transform((parts) => parts.map((part) => part.text).join(''))]);
const ChatCompletionsRequestSchema = z.object({
  model: z.string().min(1).optional(),
  messages: z
    .array(
      z.object({
        role: z.enum(['system', 'developer', 'user', 'assistant']).transform((role) => (role === 'developer' ? 'system' : role)),
        content: ContentSchema,
      }),
    )
    .min(1),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  seed: z.number().int().nullish(),
  max_tokens: z.number().int().nullish(),
  max_completion_tokens: z.number().int().nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  response_format: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('text') }),
      z.object({ type: z.literal('json_object') }),
      z.object({ type: z.literal('json_schema'), json_schema: z.object({ name: z.string().min(1), schema: z.record(z.string(), z.unknown()), strict: z.boolean().nullish() }) }),
    ])
    .nullish(),
  stream: z.boolean().nullish(),
});

/** Maps an OpenAI request body to a `ChatRequest`; throws a `ProviderError` (`invalid-request`) naming the bad field. */
export function chatRequestFromBody(body: unknown): ChatRequest {
  const parsed = ChatCompletionsRequestSchema.safeParse(body);
  if (!parsed.success) throw new ProviderError(`invalid request body: ${z.prettifyError(parsed.error)}`, { failure: 'invalid-request', provider: 'test-server' });
  const fields = parsed.data;
  const request: ChatRequest = { messages: fields.messages };
  if (fields.model !== undefined) request.model = fields.model;
  if (fields.temperature !== undefined && fields.temperature !== null) request.temperature = fields.temperature;
  if (fields.top_p !== undefined && fields.top_p !== null) request.topP = fields.top_p;
  if (fields.seed !== undefined && fields.seed !== null) request.seed = fields.seed;
  const maxTokens = fields.max_completion_tokens ?? fields.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) request.maxTokens = maxTokens;
  if (fields.stop !== undefined && fields.stop !== null) request.stop = typeof fields.stop === 'string' ? [fields.stop] : fields.stop;
  const constraint = constraintFrom(fields.response_format);
  if (constraint !== undefined) request.constraint = constraint;
  return request;
}

function constraintFrom(format: z.infer<typeof ChatCompletionsRequestSchema>['response_format']): OutputConstraint | undefined {
  if (format === undefined || format === null || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { kind: 'json-schema', schema: { type: 'object' } };
  return { kind: 'json-schema', schema: format.json_schema.schema, name: format.json_schema.name };
}

const FINISH_REASONS: Record<FinishReason, string | null> = { stop: 'stop', length: 'length', 'content-filter': 'content_filter', other: null };

function usageFields(result: ChatResult): UsageFields | undefined {
  if (result.usage === null) return undefined;
  const usage: UsageFields = { prompt_tokens: result.usage.promptTokens, completion_tokens: result.usage.completionTokens, total_tokens: result.usage.promptTokens + result.usage.completionTokens };
  if (result.usage.cachedPromptTokens !== undefined) usage.prompt_tokens_details = { cached_tokens: result.usage.cachedPromptTokens };
  return usage;
}

function statusFor(error: unknown): number {
  if (!ProviderError.isInstance(error)) return 500;
  if (error.failure === 'invalid-request' || error.failure === 'unsupported-schema') return 400;
  if (error.failure === 'unknown-model') return 404;
  if (error.failure === 'timeout') return 504;
  if (error.failure === 'http-status' && error.statusCode !== undefined) return error.statusCode;
  return 500;
}

/** Serves `provider` over the chat completions protocol (JSON and SSE); a client that goes away aborts the call. */
export function serveProvider(provider: ChatProvider): Promise<OpenAiCompatibleTestServer> {
  return startOpenAiCompatibleServer(async (recorded, response, { disconnected }) => {
    let request: ChatRequest;
    let streaming: boolean;
    try {
      request = chatRequestFromBody(recorded.body);
      streaming = (recorded.body as { stream?: unknown }).stream === true;
    } catch (error) {
      return sendError(response, statusFor(error), error instanceof Error ? error.message : String(error));
    }
    if (!streaming) {
      try {
        const result = await provider.complete(request, { signal: disconnected });
        const body = {
          id: 'chatcmpl-served',
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: result.model,
          choices: [{ index: 0, message: { role: 'assistant', content: result.text }, finish_reason: FINISH_REASONS[result.finishReason] }],
          usage: usageFields(result),
        };
        return sendJson(response, 200, body);
      } catch (error) {
        if (!disconnected.aborted) sendError(response, statusFor(error), error instanceof Error ? error.message : String(error));
        return;
      }
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let model = request.model ?? provider.id;
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({ id: 'chatcmpl-served', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices, ...extra })}\n\n`;
    try {
      response.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
      for await (const event of provider.stream(request, { signal: disconnected })) {
        if (event.type === 'delta') {
          response.write(chunk([{ index: 0, delta: { content: event.text }, finish_reason: null }]));
          continue;
        }
        model = event.result.model;
        response.write(chunk([{ index: 0, delta: {}, finish_reason: FINISH_REASONS[event.result.finishReason] }]));
        if (wantsStreamUsage(recorded.body)) {
          const usage = usageFields(event.result);
          if (usage !== undefined) response.write(chunk([], { usage }));
        }
      }
      response.write('data: [DONE]\n\n');
    } catch (error) {
      // Headers are gone: OpenAI-style servers report a late failure as an `error` event.
      if (!disconnected.aborted) response.write(`data: ${JSON.stringify({ error: { message: error instanceof Error ? error.message : String(error), type: 'server_error', code: statusFor(error) } })}\n\n`);
    }
    response.end();
  });
}
