/**
 * A PROTOCOL STAND-IN for the hosted fine-tuning services, OpenAI fine-tuning and Together fine-tuning, which
 * cannot be reached from the tests: a real `node:http` server on 127.0.0.1 (a free port) that implements the
 * documented endpoints and the job lifecycle, as their API references describe them:
 *
 * - OpenAI (https://platform.openai.com/docs/api-reference/fine-tuning, .../files/create): `POST /v1/files`
 *   (multipart `file`, `purpose=fine-tune`), `POST /v1/fine_tuning/jobs`, `GET /v1/fine_tuning/jobs` (list),
 *   `GET /v1/fine_tuning/jobs/{id}`, `GET /v1/fine_tuning/jobs/{id}/events` (newest first, `after`, `limit`,
 *   `has_more`), `POST /v1/fine_tuning/jobs/{id}/cancel`; a job goes validating_files → queued → running →
 *   succeeded (or failed), with `message` and `metrics` events, `fine_tuned_model` and `trained_tokens`.
 * - Together (https://docs.together.ai/reference/upload-file, .../post-fine-tunes, .../get-fine-tunes-id,
 *   .../get-fine-tunes-id-events, .../post-fine-tunes-id-cancel): `POST /v1/files/upload` (multipart `file`,
 *   `file_name`, `purpose`), `POST /v1/fine-tunes`, `GET /v1/fine-tunes`, `GET /v1/fine-tunes/{id}`,
 *   `GET /v1/fine-tunes/{id}/events` (oldest first, no ids), `POST /v1/fine-tunes/{id}/cancel`; a job goes pending →
 *   queued → running → uploading → completed (or error), with typed events and `model_output_name`.
 * - Both: `POST /v1/chat/completions` answering for the fine-tuned model names once their jobs succeeded.
 *
 * Request bodies are checked against the documented shapes (a violation is a 400, as the services answer), and every
 * request is recorded with its parsed body (JSON, or the multipart fields). Failures are configurable: a bearer key
 * other than `apiKey` gets 401 (echoing the key, so tests can check that it never leaks); `rateLimits` answer 429 with
 * `Retry-After` or 5xx (`failures`); a job on a training file with fewer than `minExamples` lines, or an upload over
 * `maxUploadBytes`, is refused with 400; a job can be made to end failed with the service's message.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

export type StandInService = 'openai' | 'together';

export interface StandInRequest {
  method: string;
  /** The path without the query, e.g. `/v1/fine_tuning/jobs`. */
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  /** Parsed JSON; the multipart fields (`file` as `{ name, content }`); or undefined. */
  body: unknown;
  /** The status the stand-in answered with. */
  status?: number;
}

/** Requests matching `match` answer `status` the first `times` times (then normally). */
export interface ScriptedFailure {
  match: (request: StandInRequest) => boolean;
  times: number;
  status: 429 | 500 | 503;
  /** Sent as `Retry-After` (seconds or an HTTP date). */
  retryAfter?: string;
}

export interface FineTuningStandInOptions {
  service: StandInService;
  /** The only bearer key accepted. */
  apiKey: string;
  /** GET polls of a job before it moves on to its next state (default 1). */
  pollsPerState?: number;
  /** Training metrics steps logged while the job runs (default 4). */
  steps?: number;
  failures?: ScriptedFailure[];
  /** A job whose training file has fewer examples is refused with 400 at creation (OpenAI documents a minimum of 10). */
  minExamples?: number;
  /** Uploads larger than this are refused with 400. */
  maxUploadBytes?: number;
  /** The job ends failed with this message (OpenAI: `error.message`; Together: a `job_error` event). */
  failJobWith?: string;
  /** The fine-tuned model's answer to a chat request; default: the first label of a label schema, else `ok`. */
  answer?: (body: ChatBody) => string;
}

export interface FineTuningStandIn {
  /** `http://127.0.0.1:<port>/v1`. */
  readonly baseUrl: string;
  readonly requests: StandInRequest[];
  /** Uploaded files by id, as received. */
  readonly files: Map<string, { name: string; purpose: string; content: string }>;
  /** Jobs by id, with the body that created them. */
  readonly jobs: Map<string, StandInJob>;
  close(): Promise<void>;
}

export interface StandInJob {
  id: string;
  body: Record<string, unknown>;
  /** Index into the service's lifecycle. */
  stage: number;
  polls: number;
  status: string;
  events: Record<string, unknown>[];
  fineTunedModel: string | null;
  cancelled: boolean;
}

const ChatBodySchema = z.object({
  model: z.string().min(1),
  messages: z.array(z.object({ role: z.string(), content: z.string() })).min(1),
  response_format: z.object({ type: z.string(), json_schema: z.object({ schema: z.record(z.string(), z.unknown()) }).optional() }).nullish(),
});
export type ChatBody = z.infer<typeof ChatBodySchema>;

// Documented request shapes, checked the way the services check them (unknown fields are tolerated).
const AutoOr = (number: z.ZodNumber): z.ZodType => z.union([z.literal('auto'), number]);
const OpenAiCreateSchema = z.object({
  model: z.string().min(1),
  training_file: z.string().min(1),
  validation_file: z.string().min(1).nullish(),
  suffix: z.string().min(1).max(64).nullish(),
  seed: z.number().int().nullish(),
  hyperparameters: z.unknown().optional(),
  method: z.object({
    type: z.literal('supervised'),
    supervised: z.object({
      hyperparameters: z.object({
        n_epochs: AutoOr(z.number().int().min(1).max(50)).optional(),
        batch_size: AutoOr(z.number().int().min(1).max(256)).optional(),
        learning_rate_multiplier: AutoOr(z.number().positive()).optional(),
      }),
    }),
  }).optional(),
});
const TogetherCreateSchema = z.object({
  training_file: z.string().min(1),
  validation_file: z.string().min(1).optional(),
  model: z.string().min(1),
  n_epochs: z.number().int().min(1).optional(),
  n_evals: z.number().int().min(0).optional(),
  n_checkpoints: z.number().int().min(1).optional(),
  batch_size: z.union([z.number().int().positive(), z.literal('max')]).optional(),
  learning_rate: z.number().positive().optional(),
  max_seq_length: z.number().int().positive().optional(),
  random_seed: z.number().int().nullish(),
  suffix: z.string().min(1).optional(),
  training_method: z.object({ method: z.literal('sft'), train_on_inputs: z.union([z.boolean(), z.literal('auto')]) }).optional(),
  training_type: z.union([
    z.object({ type: z.literal('Full') }),
    z.object({ type: z.literal('Lora'), lora_r: z.number().int().positive(), lora_alpha: z.number().int().positive(), lora_dropout: z.number().min(0).max(1).optional(), lora_trainable_modules: z.string().optional() }),
  ]).nullish(),
});

const OPENAI_STAGES = ['validating_files', 'queued', 'running', 'succeeded'] as const;
const TOGETHER_STAGES = ['pending', 'queued', 'running', 'uploading', 'completed'] as const;

export async function startFineTuningStandIn(options: FineTuningStandInOptions): Promise<FineTuningStandIn> {
  const requests: StandInRequest[] = [];
  const files = new Map<string, { name: string; purpose: string; content: string }>();
  const jobs = new Map<string, StandInJob>();
  const failures = (options.failures ?? []).map((failure) => ({ ...failure, left: failure.times }));
  const pollsPerState = options.pollsPerState ?? 1;
  const steps = options.steps ?? 4;
  const minExamples = options.minExamples ?? 10;
  let counter = 0;
  let clock = 1_700_000_000;
  const nextId = (prefix: string): string => `${prefix}-${(++counter).toString().padStart(6, '0')}`;

  const server = createServer((incoming, response) => {
    void (async () => {
      const url = new URL(incoming.url ?? '/', 'http://127.0.0.1');
      const raw = await readRaw(incoming);
      const request: StandInRequest = { method: incoming.method ?? 'GET', path: url.pathname, query: url.searchParams, authorization: incoming.headers.authorization, body: await parseBody(raw, incoming.headers['content-type']) };
      requests.push(request);
      const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
        request.status = status;
        response.writeHead(status, { 'content-type': 'application/json', ...headers });
        response.end(JSON.stringify(body));
      };
      const error = (status: number, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): void =>
        send(status, { error: { message, type: status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: null, ...extra } }, headers);

      const presented = request.authorization?.replace(/^Bearer\s+/i, '');
      if (presented !== options.apiKey) {
        return error(401, `Incorrect API key provided: ${presented ?? '(none)'}. You can find your API key at the service's dashboard.`, { code: 'invalid_api_key' });
      }
      const scripted = failures.find((failure) => failure.left > 0 && failure.match(request));
      if (scripted !== undefined) {
        scripted.left -= 1;
        return error(scripted.status, scripted.status === 429 ? 'Rate limit reached for requests' : 'The server had an error while processing your request', {}, scripted.retryAfter === undefined ? {} : { 'retry-after': scripted.retryAfter });
      }
      if (request.method === 'POST' && request.path === '/v1/chat/completions') return chat(request, send, error);
      return options.service === 'openai' ? openAi(request, send, error) : together(request, send, error);
    })().catch((failure: unknown) => {
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { message: `stand-in failed: ${String(failure)}` } }));
      }
    });
  });

  type Send = (status: number, body: unknown, headers?: Record<string, string>) => void;
  type Fail = (status: number, message: string, extra?: Record<string, unknown>, headers?: Record<string, string>) => void;

  const examplesIn = (content: string): number => content.split('\n').filter((line) => line.trim() !== '').length;
  /** Checks an uploaded fine-tuning file as the services do: JSON lines with messages, within the size limit. */
  const checkUpload = (content: string): string | undefined => {
    const bytes = Buffer.byteLength(content);
    if (options.maxUploadBytes !== undefined && bytes > options.maxUploadBytes) return `File is too large: ${bytes} bytes exceeds the limit of ${options.maxUploadBytes} bytes`;
    for (const [index, line] of content.split('\n').filter((text) => text.trim() !== '').entries()) {
      try {
        const value = JSON.parse(line) as { messages?: unknown };
        if (!Array.isArray(value.messages)) return `Invalid file format. Line ${index + 1}: missing 'messages'`;
      } catch {
        return `Invalid file format. Line ${index + 1} is not valid JSON`;
      }
    }
    return undefined;
  };
  /** A training file with too few examples is refused when the job is created, as OpenAI does. */
  const tooFew = (fileId: string): string | undefined => {
    const count = examplesIn(files.get(fileId)?.content ?? '');
    return count < minExamples ? `Training file has ${count} example(s), but must have at least ${minExamples} examples` : undefined;
  };

  const upload = (request: StandInRequest, send: Send, fail: Fail, shape: 'openai' | 'together'): void => {
    const fields = request.body as Record<string, unknown> | undefined;
    const file = fields?.file as { name: string; content: string } | undefined;
    if (fields === undefined || file === undefined) return fail(400, "Missing required parameter: 'file'");
    if (fields.purpose !== 'fine-tune') return fail(400, `Invalid purpose: ${String(fields.purpose)}`);
    if (shape === 'together' && typeof fields.file_name !== 'string') return fail(400, "Missing required parameter: 'file_name'");
    const problem = checkUpload(file.content);
    if (problem !== undefined) return fail(400, `${problem} (${file.name})`, { param: 'file' });
    const id = nextId('file');
    files.set(id, { name: file.name, purpose: 'fine-tune', content: file.content });
    send(200, { id, object: 'file', bytes: Buffer.byteLength(file.content), created_at: clock, filename: file.name, purpose: 'fine-tune', ...(shape === 'together' ? { FileType: 'jsonl', Processed: true } : { status: 'processed' }) });
  };

  const tokensOf = (fileId: string): number => Math.ceil((files.get(fileId)?.content.length ?? 0) / 4);

  // ---- OpenAI --------------------------------------------------------------------------------------------------
  const openAiJob = (job: StandInJob): Record<string, unknown> => {
    const epochs = ((job.body.method as { supervised?: { hyperparameters?: { n_epochs?: unknown } } } | undefined)?.supervised?.hyperparameters?.n_epochs);
    const done = job.status === 'succeeded';
    return {
      object: 'fine_tuning.job',
      id: job.id,
      model: job.body.model,
      created_at: clock,
      finished_at: done || job.status === 'failed' ? clock : null,
      fine_tuned_model: done ? job.fineTunedModel : null,
      organization_id: 'org-stand-in',
      result_files: [],
      status: job.status,
      validation_file: job.body.validation_file ?? null,
      training_file: job.body.training_file,
      hyperparameters: { n_epochs: epochs ?? 'auto', batch_size: 'auto', learning_rate_multiplier: 'auto' },
      trained_tokens: done ? tokensOf(String(job.body.training_file)) * (typeof epochs === 'number' ? epochs : 1) : null,
      error: job.status === 'failed' ? { code: 'invalid_training_file', message: options.failJobWith ?? 'failed', param: 'training_file' } : null,
      seed: job.body.seed ?? 0,
      method: job.body.method,
    };
  };
  const openAiEvent = (job: StandInJob, message: string, extra: { level?: string; type?: string; data?: unknown } = {}): void => {
    clock += 1;
    job.events.push({ object: 'fine_tuning.job.event', id: nextId('ftevent'), created_at: clock, level: extra.level ?? 'info', message, data: extra.data ?? null, type: extra.type ?? 'message' });
  };
  const advanceOpenAi = (job: StandInJob): void => {
    if (job.cancelled || job.status === 'succeeded' || job.status === 'failed') return;
    job.polls += 1;
    if (job.polls < pollsPerState) return;
    job.polls = 0;
    job.stage += 1;
    const next = OPENAI_STAGES[Math.min(job.stage, OPENAI_STAGES.length - 1)]!;
    if (next === 'queued') openAiEvent(job, 'Files validated, moving job to queued state');
    if (next === 'running') {
      openAiEvent(job, 'Fine-tuning job started');
      for (let step = 1; step <= steps; step += 1) {
        const data: Record<string, number> = { step, train_loss: 2 / step, total_steps: steps, train_mean_token_accuracy: 0.5 };
        if (step === steps) data.full_valid_loss = 1 / step;
        openAiEvent(job, `Step ${step}/${steps}: training loss=${(2 / step).toFixed(4)}`, { type: 'metrics', data });
      }
    }
    if (next === 'succeeded') {
      if (options.failJobWith !== undefined) {
        job.status = 'failed';
        openAiEvent(job, `Fine-tuning job failed: ${options.failJobWith}`, { level: 'error' });
        return;
      }
      job.fineTunedModel = `ft:${String(job.body.model)}:stand-in-org:${String(job.body.suffix ?? '')}:${job.id.slice(-6)}`;
      openAiEvent(job, `New fine-tuned model created: ${job.fineTunedModel}`);
      openAiEvent(job, 'The job has successfully completed');
    }
    job.status = next;
  };
  const openAi = (request: StandInRequest, send: Send, fail: Fail): void => {
    const { method, path } = request;
    if (method === 'POST' && path === '/v1/files') return upload(request, send, fail, 'openai');
    if (method === 'GET' && path === '/v1/fine_tuning/jobs') return send(200, { object: 'list', data: [...jobs.values()].slice(0, Number(request.query.get('limit') ?? 20)).map(openAiJob), has_more: false });
    if (method === 'POST' && path === '/v1/fine_tuning/jobs') {
      const parsed = OpenAiCreateSchema.safeParse(request.body);
      if (!parsed.success) return fail(400, `Invalid request: ${z.prettifyError(parsed.error)}`);
      for (const field of ['training_file', 'validation_file'] as const) {
        const id = parsed.data[field];
        if (id !== undefined && id !== null && !files.has(id)) return fail(400, `invalid ${field}: ${id}`, { param: field });
      }
      const few = tooFew(parsed.data.training_file);
      if (few !== undefined) return fail(400, few, { param: 'training_file', code: 'invalid_training_file' });
      const job: StandInJob = { id: nextId('ftjob'), body: request.body as Record<string, unknown>, stage: 0, polls: 0, status: 'validating_files', events: [], fineTunedModel: null, cancelled: false };
      jobs.set(job.id, job);
      openAiEvent(job, `Validating training file: ${parsed.data.training_file}`);
      return send(200, openAiJob(job));
    }
    const match = /^\/v1\/fine_tuning\/jobs\/([^/]+)(\/events|\/cancel)?$/.exec(path);
    const job = match === null ? undefined : jobs.get(decodeURIComponent(match[1]!));
    if (match === null) return fail(404, `Unknown request URL: ${method} ${path}`);
    if (job === undefined) return fail(404, `No such fine-tuning job: ${match[1]}`, { code: 'fine_tune_not_found' });
    if (method === 'GET' && match[2] === undefined) {
      advanceOpenAi(job);
      return send(200, openAiJob(job));
    }
    if (method === 'GET' && match[2] === '/events') {
      const newestFirst = [...job.events].reverse();
      const after = request.query.get('after');
      const start = after === null ? 0 : newestFirst.findIndex((event) => event.id === after) + 1;
      const limit = Number(request.query.get('limit') ?? 20);
      const page = newestFirst.slice(start, start + limit);
      return send(200, { object: 'list', data: page, has_more: start + limit < newestFirst.length });
    }
    if (method === 'POST' && match[2] === '/cancel') {
      if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return fail(400, `Job ${job.id} has already ${job.status}`);
      job.cancelled = true;
      job.status = 'cancelled';
      openAiEvent(job, 'Job cancelled by the user');
      return send(200, openAiJob(job));
    }
    return fail(404, `Unknown request URL: ${method} ${path}`);
  };

  // ---- Together ------------------------------------------------------------------------------------------------
  const togetherEvent = (job: StandInJob, type: string, message: string, extra: { level?: string | null; step?: number; totalSteps?: number } = {}): void => {
    clock += 1;
    job.events.push({
      object: 'fine-tune-event',
      created_at: new Date(clock * 1000).toISOString(),
      level: extra.level ?? 'info',
      message,
      type,
      param_count: 8_000_000_000,
      token_count: tokensOf(String(job.body.training_file)),
      total_steps: extra.totalSteps ?? 0,
      wandb_url: '',
      step: extra.step ?? 0,
      checkpoint_path: '',
      model_path: '',
      training_offset: 0,
      hash: '',
    });
  };
  const togetherJob = (job: StandInJob, truncated = false): Record<string, unknown> => ({
    id: job.id,
    status: job.status,
    created_at: new Date(1_700_000_000_000).toISOString(),
    updated_at: new Date(clock * 1000).toISOString(),
    model: job.body.model,
    model_output_name: job.status === 'completed' ? job.fineTunedModel : undefined,
    training_file: job.body.training_file,
    n_epochs: job.body.n_epochs,
    token_count: tokensOf(String(job.body.training_file)),
    events: truncated ? [] : job.events,
  });
  const advanceTogether = (job: StandInJob): void => {
    if (job.cancelled || job.status === 'completed' || job.status === 'error') return;
    job.polls += 1;
    if (job.polls < pollsPerState) return;
    job.polls = 0;
    job.stage += 1;
    const next = TOGETHER_STAGES[Math.min(job.stage, TOGETHER_STAGES.length - 1)]!;
    if (next === 'queued') togetherEvent(job, 'job_start', 'Job started');
    if (next === 'running') {
      togetherEvent(job, 'training_start', 'Training started');
      if (options.failJobWith !== undefined) {
        togetherEvent(job, 'job_error', options.failJobWith, { level: 'error' });
        job.status = 'error';
        return;
      }
      for (let step = 1; step <= steps; step += 1) togetherEvent(job, 'checkpoint_save', `Checkpoint saved at step ${step}`, { step, totalSteps: steps });
      togetherEvent(job, 'training_complete', 'Training completed');
    }
    if (next === 'uploading') togetherEvent(job, 'model_uploading', 'Uploading the model');
    if (next === 'completed') {
      job.fineTunedModel = `stand-in-user/${String(job.body.model).split('/').at(-1)}-${String(job.body.suffix ?? 'ft')}-${job.id.slice(-6)}`;
      togetherEvent(job, 'job_complete', `Job finished: ${job.fineTunedModel}`);
    }
    job.status = next;
  };
  const together = (request: StandInRequest, send: Send, fail: Fail): void => {
    const { method, path } = request;
    if (method === 'POST' && path === '/v1/files/upload') return upload(request, send, fail, 'together');
    if (method === 'GET' && path === '/v1/fine-tunes') return send(200, { data: [...jobs.values()].map((job) => togetherJob(job, true)) });
    if (method === 'POST' && path === '/v1/fine-tunes') {
      const parsed = TogetherCreateSchema.safeParse(request.body);
      if (!parsed.success) return fail(400, `Invalid request: ${z.prettifyError(parsed.error)}`);
      for (const field of ['training_file', 'validation_file'] as const) {
        const id = parsed.data[field];
        if (id !== undefined && !files.has(id)) return fail(400, `File ${id} not found`, { param: field });
      }
      const few = tooFew(parsed.data.training_file);
      if (few !== undefined) return fail(400, few, { param: 'training_file' });
      const job: StandInJob = { id: nextId('ft'), body: request.body as Record<string, unknown>, stage: 0, polls: 0, status: 'pending', events: [], fineTunedModel: null, cancelled: false };
      jobs.set(job.id, job);
      togetherEvent(job, 'job_pending', 'Fine tune request created');
      return send(200, togetherJob(job, true));
    }
    const match = /^\/v1\/fine-tunes\/([^/]+)(\/events|\/cancel)?$/.exec(path);
    const job = match === null ? undefined : jobs.get(decodeURIComponent(match[1]!));
    if (match === null) return fail(404, `Unknown request URL: ${method} ${path}`);
    if (job === undefined) return fail(404, `Fine-tune job ${match[1]} not found`);
    if (method === 'GET' && match[2] === undefined) {
      advanceTogether(job);
      return send(200, togetherJob(job));
    }
    if (method === 'GET' && match[2] === '/events') return send(200, { data: job.events });
    if (method === 'POST' && match[2] === '/cancel') {
      if (['completed', 'error', 'cancelled'].includes(job.status)) return fail(400, `Job ${job.id} is already ${job.status}`);
      job.cancelled = true;
      job.status = 'cancelled';
      togetherEvent(job, 'job_stopped', 'Job cancelled');
      return send(200, togetherJob(job, true));
    }
    return fail(404, `Unknown request URL: ${method} ${path}`);
  };

  // ---- Chat completions for fine-tuned models ------------------------------------------------------------------
  const chat = (request: StandInRequest, send: Send, fail: Fail): void => {
    const parsed = ChatBodySchema.safeParse(request.body);
    if (!parsed.success) return fail(400, `Invalid request: ${z.prettifyError(parsed.error)}`);
    const known = [...jobs.values()].some((job) => job.fineTunedModel === parsed.data.model && (job.status === 'succeeded' || job.status === 'completed'));
    if (!known) return fail(404, `The model \`${parsed.data.model}\` does not exist or you do not have access to it.`, { code: 'model_not_found' });
    const text = options.answer?.(parsed.data) ?? defaultAnswer(parsed.data);
    const promptTokens = parsed.data.messages.reduce((sum, message) => sum + Math.ceil(message.content.length / 4), 0);
    send(200, {
      id: nextId('chatcmpl'),
      object: 'chat.completion',
      created: clock,
      model: parsed.data.model,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage: { prompt_tokens: promptTokens, completion_tokens: 3, total_tokens: promptTokens + 3 },
    });
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    files,
    jobs,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}

/** A label schema's first label wrapped as the OpenAI-compatible provider asks (`{"label": ...}`), else `ok`. */
function defaultAnswer(body: ChatBody): string {
  const schema = body.response_format?.json_schema?.schema as { properties?: { label?: { enum?: unknown[] } } } | undefined;
  const first = schema?.properties?.label?.enum?.[0];
  return typeof first === 'string' ? JSON.stringify({ label: first }) : 'ok';
}

async function readRaw(incoming: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** JSON, or multipart form fields (a file as `{ name, content }`), as the services accept them. */
async function parseBody(raw: Buffer, contentType: string | undefined): Promise<unknown> {
  if (raw.length === 0) return undefined;
  if (contentType?.startsWith('multipart/form-data') === true) {
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData();
    const fields: Record<string, unknown> = {};
    for (const [name, value] of form.entries()) {
      fields[name] = typeof value === 'string' ? value : { name: value.name, content: await value.text() };
    }
    return fields;
  }
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return raw.toString('utf8');
  }
}

