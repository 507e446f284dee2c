import { createHash, randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { GatewayFeedbackSchema, type ExperimentState, type GatewayFeedback, type StoredFeedback } from '../../contracts/gateway.ts';
import type { ChatRequest, ChatResult, FinishReason } from '../../contracts/provider.ts';
import { ProviderError, UnderstudyError } from '../../core/errors.ts';
import type { GatewayLogQueue } from '../../pipeline/gateway-log-queue.ts';
import { gatewayErrorRecord, gatewayLogRecord } from '../../pipeline/gateway-log.ts';
import type { GatewayCallMeta } from '../../pipeline/gateway-log.ts';
import type { GatewayTarget, ResolvedGatewayRoute } from '../../pipeline/gateway-routes.ts';
import { assignmentPosition, weightAt } from '../../core/ab-assignment.ts';

/** The OpenAI chat completions request fields the gateway understands; anything else is ignored, as OpenAI does. */
const ContentPartSchema = z.object({ type: z.literal('text'), text: z.string() });
const RequestMessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(ContentPartSchema)]).nullable(),
});
const ChatCompletionBodySchema = z.object({
  model: z.string().min(1),
  messages: z.array(RequestMessageSchema).min(1),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  seed: z.number().int().min(0).nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  max_completion_tokens: z.number().int().positive().nullable().optional(),
  stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(16)]).nullable().optional(),
  n: z.number().int().positive().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  response_format: z
    .union([
      z.object({ type: z.literal('text') }),
      z.object({ type: z.literal('json_schema'), json_schema: z.object({ name: z.string().optional(), schema: z.record(z.string(), z.unknown()) }) }),
      z.object({ type: z.literal('json_object') }),
    ])
    .nullable()
    .optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  user: z.string().min(1).optional(),
});
type ChatCompletionBody = z.infer<typeof ChatCompletionBodySchema>;

export interface GatewayAppOptions {
  routes: readonly ResolvedGatewayRoute[];
  /** Keep messages and answers in the log, through `redact`. */
  storeBodies: boolean;
  redact: (text: string) => string;
  /** Stores feedback for a logged request id (the log is flushed first); throws InvalidInputError for an unknown id. */
  feedback: (feedback: GatewayFeedback) => StoredFeedback;
  /** The route for a model name no route has; absent: 404. */
  defaultRoute?: string;
  log: GatewayLogQueue;
  maxBodyBytes: number;
  /** With keys required: is this sha256 (hex) of a presented key an active key? Absent: no key needed. */
  keyIsValid?: (sha256: string) => boolean;
  /** The rollout state `understudy ab promote|rollback` set for an experiment; undefined: as configured. */
  experimentState?: (experiment: string) => ExperimentState | undefined;
  now?: () => number;
}

/** An error in OpenAI's shape. */
function openAiError(context: Context, status: 400 | 401 | 404 | 413 | 429 | 500 | 502 | 504, message: string, type: string, code: string | null, param: string | null = null): Response {
  return context.json({ error: { message, type, param, code } }, status);
}

function providerStatus(error: unknown): { status: 400 | 429 | 500 | 502 | 504; type: string; code: string } {
  if (ProviderError.isInstance(error)) {
    if (error.failure === 'invalid-request' || error.failure === 'unsupported-schema') return { status: 400, type: 'invalid_request_error', code: error.failure };
    if (error.failure === 'timeout') return { status: 504, type: 'api_error', code: 'upstream_timeout' };
    if (error.failure === 'http-status' && error.statusCode === 429) return { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' };
    return { status: 502, type: 'api_error', code: `upstream_${error.failure.replace(/-/g, '_')}` };
  }
  if (UnderstudyError.isInstance(error) && error.name === 'InvalidInputError') return { status: 400, type: 'invalid_request_error', code: 'invalid_request' };
  return { status: 500, type: 'api_error', code: 'internal_error' };
}

function finishReasonOf(reason: FinishReason): string {
  return reason === 'length' ? 'length' : reason === 'content-filter' ? 'content_filter' : 'stop';
}

function textOf(content: ChatCompletionBody['messages'][number]['content']): string {
  if (content === null) return '';
  return typeof content === 'string' ? content : content.map((part) => part.text).join('');
}

/** The provider request for an OpenAI body (`model` is the route's, not the client's). */
function toChatRequest(body: ChatCompletionBody, route: GatewayTarget): ChatRequest {
  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  const stop = body.stop === null || body.stop === undefined ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const messages = body.messages.map((message) => ({ role: message.role === 'developer' ? ('system' as const) : message.role, content: textOf(message.content) }));
  const format = route.format;
  return {
    ...(route.requestModel === undefined ? {} : { model: route.requestModel }),
    // With the task's format, the target's own system prompt replaces the client's.
    messages: format === undefined ? messages : [{ role: 'system' as const, content: format.system }, ...messages.filter((message) => message.role !== 'system')],
    ...(format?.constraint === undefined ? {} : { constraint: format.constraint }),
    ...(body.temperature === null || body.temperature === undefined ? {} : { temperature: body.temperature }),
    ...(body.top_p === null || body.top_p === undefined ? {} : { topP: body.top_p }),
    ...(body.seed === null || body.seed === undefined ? {} : { seed: body.seed }),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...(stop === undefined ? {} : { stop }),
    ...(body.response_format?.type === 'json_schema'
      ? { constraint: { kind: 'json-schema' as const, schema: body.response_format.json_schema.schema, ...(body.response_format.json_schema.name === undefined ? {} : { name: body.response_format.json_schema.name }) } }
      : {}),
  };
}

/**
 * The OpenAI-compatible gateway: `POST /v1/chat/completions` (streamed or not), `GET /v1/models`, `GET /health`.
 * A request goes to the route its task tag names (`x-understudy-task` header or `metadata.task`), else the route
 * of its model alias, else the default route. Every call is logged once, off the response path.
 */
export function createGatewayApp(options: GatewayAppOptions): Hono {
  const now = options.now ?? (() => Date.now());
  const byAlias = new Map(options.routes.map((route) => [route.alias, route]));
  const byTask = new Map(options.routes.flatMap((route) => route.tasks.map((task) => [task, route] as const)));
  const app = new Hono();

  app.onError((error, context) => {
    const mapped = providerStatus(error);
    return openAiError(context, mapped.status, error.message, mapped.type, mapped.code);
  });
  app.notFound((context) => openAiError(context, 404, `no route ${context.req.method} ${context.req.path}`, 'invalid_request_error', 'not_found'));

  if (options.keyIsValid !== undefined) {
    const valid = options.keyIsValid;
    app.use('/v1/*', async (context, next) => {
      const header = context.req.header('authorization') ?? '';
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (match === null || !valid(createHash('sha256').update(match[1]!).digest('hex'))) {
        return openAiError(context, 401, match === null ? 'this gateway needs an API key: send Authorization: Bearer <key>' : 'the API key is not valid (revoked or unknown)', 'invalid_request_error', 'invalid_api_key');
      }
      await next();
      return undefined;
    });
  }

  app.get('/health', (context) => context.json({ ok: true, routes: options.routes.length, log: options.log.stats() }));
  app.get('/v1/models', (context) =>
    context.json({ object: 'list', data: options.routes.map((route) => ({ id: route.alias, object: 'model', created: 0, owned_by: route.describe })) }),
  );

  app.post('/v1/feedback', async (context) => {
    let raw: unknown;
    try {
      raw = await context.req.json();
    } catch {
      return openAiError(context, 400, 'the request body is not valid JSON', 'invalid_request_error', 'invalid_json');
    }
    const parsed = GatewayFeedbackSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return openAiError(context, 400, `${issue.path.join('.') || 'body'}: ${issue.message}`, 'invalid_request_error', 'invalid_value', issue.path.join('.') || null);
    }
    try {
      const stored = options.feedback(parsed.data);
      return context.json({ ok: true, request_id: stored.requestId, created_at: stored.createdAt });
    } catch (error) {
      if (UnderstudyError.isInstance(error) && error.name === 'InvalidInputError') return openAiError(context, 404, error.message, 'invalid_request_error', 'request_not_found', 'request_id');
      throw error;
    }
  });

  app.post(
    '/v1/chat/completions',
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: (context) => openAiError(context, 413, `the request body is over ${options.maxBodyBytes} bytes`, 'invalid_request_error', 'request_too_large'),
    }),
    async (context) => {
      const requestId = randomUUID();
      const arrived = new Date(now());
      let raw: unknown;
      try {
        raw = await context.req.json();
      } catch {
        return openAiError(context, 400, 'the request body is not valid JSON', 'invalid_request_error', 'invalid_json');
      }
      const parsed = ChatCompletionBodySchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return openAiError(context, 400, `${issue.path.join('.') || 'body'}: ${issue.message}`, 'invalid_request_error', 'invalid_value', issue.path.join('.') || null);
      }
      const body = parsed.data;
      if ((body.n ?? 1) !== 1) return openAiError(context, 400, 'only n = 1 is supported', 'invalid_request_error', 'unsupported_value', 'n');
      if (body.response_format?.type === 'json_object') {
        return openAiError(context, 400, 'response_format json_object is not supported: send a json_schema', 'invalid_request_error', 'unsupported_value', 'response_format');
      }
      const task = context.req.header('x-understudy-task') ?? body.metadata?.task;
      const route = (task === undefined ? undefined : byTask.get(task)) ?? byAlias.get(body.model) ?? (options.defaultRoute === undefined ? undefined : byAlias.get(options.defaultRoute));
      if (route === undefined) {
        return openAiError(context, 404, `the model ${JSON.stringify(body.model)} does not exist: known models are ${[...byAlias.keys()].join(', ')}`, 'invalid_request_error', 'model_not_found', 'model');
      }
      context.header('x-request-id', requestId);
      context.header('x-understudy-route', route.alias);
      const completionId = `chatcmpl-${requestId}`;
      const created = Math.floor(arrived.getTime() / 1000);
      const experiment = route.experiment;

      // Which arm: the incumbent (the route's target), or the candidate for the units below its weight.
      let arm: 'incumbent' | 'candidate' | undefined;
      let shadow = false;
      let unit: string | undefined;
      if (experiment !== undefined) {
        const settings = experiment.settings;
        const key = context.req.header(settings.keyHeader) ?? body.user ?? requestId;
        // Logged for the sample ratio check by unit; a hash, so the user or session key itself is never stored.
        unit = createHash('sha256').update(`${settings.name}\u0000${key}`).digest('hex').slice(0, 16);
        const state = options.experimentState?.(settings.name);
        const weight = state === 'rolled-back' || (state !== 'promoted' && settings.killed) ? 0 : state === 'promoted' ? 1 : weightAt(settings.weight, settings.ramp, now());
        const inCandidate = assignmentPosition(settings.name, key) < weight;
        if (state !== undefined) context.header('x-understudy-experiment-state', state);
        if (settings.mode === 'shadow' && state !== 'promoted') {
          arm = 'incumbent';
          shadow = inCandidate && experiment.breaker.allow();
        } else if (inCandidate && experiment.breaker.allow()) arm = 'candidate';
        else {
          arm = 'incumbent';
          if (inCandidate) context.header('x-understudy-breaker', 'open');
        }
        context.header('x-understudy-experiment', settings.name);
      }
      const loggedMessages = options.storeBodies ? body.messages.map((message) => ({ role: message.role, content: options.redact(textOf(message.content)) })) : undefined;
      const metaFor = (target: GatewayTarget, armName: string | undefined, extra: Partial<GatewayCallMeta> = {}): GatewayCallMeta => ({
        route: route.alias,
        path: target.path,
        // The request id names the answer the client got; a shadow call or a failed candidate attempt gets its own.
        requestId: extra.shadow === true ? randomUUID() : requestId,
        createdAt: arrived,
        ...(experiment === undefined ? {} : { experiment: experiment.settings.name }),
        ...(unit === undefined ? {} : { unit }),
        ...(armName === undefined ? {} : { arm: armName }),
        ...(target.adapter === undefined ? {} : { adapter: target.adapter }),
        ...(loggedMessages === undefined ? {} : { messages: loggedMessages, redact: options.redact }),
        ...extra,
      });

      /** The candidate's answer within its deadline and validator, or why not (logged, counted by the breaker). */
      const tryCandidate = async (extra: Partial<GatewayCallMeta>): Promise<ChatResult | undefined> => {
        const candidate = experiment!.candidate;
        const started = now();
        const signal = AbortSignal.any([context.req.raw.signal, AbortSignal.timeout(experiment!.settings.timeoutMs)]);
        try {
          const result = await candidate.provider.complete(toChatRequest(body, candidate), { signal });
          const invalid = experiment!.validate?.(result.text);
          if (invalid !== undefined) throw new ProviderError(`the candidate's answer failed the task's validator: ${invalid}`, { failure: 'constraint-violated', provider: candidate.provider.id });
          experiment!.breaker.success();
          options.log.push(gatewayLogRecord(result, metaFor(candidate, 'candidate', extra)));
          return result;
        } catch (error) {
          experiment!.breaker.failure();
          const failedMeta = metaFor(candidate, 'candidate', extra);
          options.log.push(gatewayErrorRecord(error, now() - started, { ...failedMeta, ...(extra.shadow === true ? {} : { requestId: randomUUID() }), provider: candidate.provider.id, model: candidate.describe }));
          return undefined;
        }
      };
      if (shadow) void tryCandidate({ shadow: true });

      let answered: ChatResult | undefined;
      let fallback = false;
      if (arm === 'candidate') {
        answered = await tryCandidate({});
        if (answered === undefined) {
          fallback = true;
          context.header('x-understudy-fallback', 'candidate-failed');
        }
      }
      const servingArm = answered !== undefined ? 'candidate' : arm === undefined ? undefined : 'incumbent';
      if (servingArm !== undefined) context.header('x-understudy-arm', servingArm);
      const incumbentMeta = metaFor(route, servingArm, fallback ? { fallback: true } : {});
      const incumbentRequest = toChatRequest(body, route);

      if (body.stream !== true) {
        let result = answered;
        if (result === undefined) {
          const started = now();
          try {
            result = await route.provider.complete(incumbentRequest, { signal: context.req.raw.signal });
          } catch (error) {
            options.log.push(gatewayErrorRecord(error, now() - started, { ...incumbentMeta, provider: route.provider.id, model: route.describe }));
            throw error;
          }
          options.log.push(gatewayLogRecord(result, incumbentMeta));
        }
        return context.json({
          id: completionId,
          object: 'chat.completion',
          created,
          model: route.alias,
          choices: [{ index: 0, message: { role: 'assistant', content: result.text, refusal: null }, finish_reason: finishReasonOf(result.finishReason), logprobs: null }],
          usage: {
            prompt_tokens: result.usage?.promptTokens ?? 0,
            completion_tokens: result.usage?.completionTokens ?? 0,
            total_tokens: (result.usage?.promptTokens ?? 0) + (result.usage?.completionTokens ?? 0),
          },
        });
      }

      const includeUsage = body.stream_options?.include_usage === true;
      return streamSSE(context, async (stream) => {
        const chunk = (delta: Record<string, unknown>, finishReason: string | null, usage?: Record<string, number>): string =>
          JSON.stringify({ id: completionId, object: 'chat.completion.chunk', created, model: route.alias, choices: usage === undefined ? [{ index: 0, delta, finish_reason: finishReason, logprobs: null }] : [], ...(usage === undefined ? {} : { usage }) });
        const finish = async (result: ChatResult): Promise<void> => {
          await stream.writeSSE({ data: chunk({}, finishReasonOf(result.finishReason)) });
          if (includeUsage) {
            const prompt = result.usage?.promptTokens ?? 0;
            const completion = result.usage?.completionTokens ?? 0;
            await stream.writeSSE({ data: chunk({}, null, { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }) });
          }
        };
        await stream.writeSSE({ data: chunk({ role: 'assistant', content: '' }, null) });
        if (answered !== undefined) {
          // The candidate was checked whole (deadline, validator) before the client saw any of it: one delta.
          await stream.writeSSE({ data: chunk({ content: answered.text }, null) });
          await finish(answered);
        } else {
          const started = now();
          try {
            for await (const event of route.provider.stream(incumbentRequest, { signal: context.req.raw.signal })) {
              if (event.type === 'delta') {
                await stream.writeSSE({ data: chunk({ content: event.text }, null) });
                continue;
              }
              options.log.push(gatewayLogRecord(event.result, incumbentMeta));
              await finish(event.result);
            }
          } catch (error) {
            // Headers are gone: the error travels as an SSE event in OpenAI's error shape, then the stream ends.
            options.log.push(gatewayErrorRecord(error, now() - started, { ...incumbentMeta, provider: route.provider.id, model: route.describe }));
            const mapped = providerStatus(error);
            await stream.writeSSE({ data: JSON.stringify({ error: { message: error instanceof Error ? error.message : String(error), type: mapped.type, param: null, code: mapped.code } }) });
          }
        }
        await stream.writeSSE({ data: '[DONE]' });
      });
    },
  );
  return app;
}
