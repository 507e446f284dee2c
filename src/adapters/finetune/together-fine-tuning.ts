/**
 * Together fine-tuning by its documented HTTP API (https://docs.together.ai/reference/post-fine-tunes and the pages
 * beside it): a JSONL file is uploaded with purpose `fine-tune`, a LoRA SFT job is created with the run's
 * hyperparameters, and the job and its events are read back until it ends. Request bodies are built by small typed
 * builders next to the link of the page that documents them; answers are read with tolerant schemas.
 */
import { z } from 'zod';
import { createFineTuningHttp, parseAnswer, type FineTuningHttpOptions } from './fine-tuning-http.ts';
import { refusedJob, type FineTuneEvent, type FineTuneJob, type FineTuneJobRequest, type FineTuneStatus, type FineTuningService } from './fine-tuning-service.ts';

export type TogetherFineTuningOptions = Omit<FineTuningHttpOptions, 'kind'>;

/**
 * `POST /v1/fine-tunes` (https://docs.together.ai/reference/post-fine-tunes). LoRA is `training_type: {type: Lora,
 * lora_r, lora_alpha, ...}` (the older boolean `lora` field is gone from the reference); SFT is `training_method:
 * {method: sft, train_on_inputs}`, with `train_on_inputs: false` so the loss is on the answers only, as in a local run.
 */
export interface TogetherCreateJobBody {
  training_file: string;
  validation_file?: string;
  model: string;
  n_epochs: number;
  n_evals?: number;
  batch_size?: number;
  learning_rate?: number;
  max_seq_length?: number;
  random_seed: number;
  suffix?: string;
  training_method: { method: 'sft'; train_on_inputs: boolean };
  training_type?: { type: 'Lora'; lora_r: number; lora_alpha: number; lora_dropout: number; lora_trainable_modules: string };
}

export function togetherCreateJobBody(request: FineTuneJobRequest): TogetherCreateJobBody {
  const { lora } = request;
  return {
    training_file: request.trainingFileId,
    ...(request.validationFileId === undefined ? {} : { validation_file: request.validationFileId, n_evals: request.evaluations ?? 1 }),
    model: request.model,
    n_epochs: request.epochs,
    ...(request.batchSize === undefined ? {} : { batch_size: request.batchSize }),
    ...(request.learningRate === undefined ? {} : { learning_rate: request.learningRate }),
    ...(request.maxSequenceLength === undefined ? {} : { max_seq_length: request.maxSequenceLength }),
    random_seed: request.seed,
    ...(request.suffix === undefined ? {} : { suffix: request.suffix }),
    training_method: { method: 'sft', train_on_inputs: false },
    ...(lora === undefined
      ? {}
      : {
          training_type: {
            type: 'Lora',
            lora_r: lora.r,
            // The reference types alpha as an integer.
            lora_alpha: Math.round(lora.alpha),
            lora_dropout: lora.dropout,
            lora_trainable_modules: lora.targetModules === 'all-linear' ? 'all-linear' : lora.targetModules.join(','),
          },
        }),
  };
}

/** `POST /v1/files/upload` (https://docs.together.ai/reference/upload-file): multipart `purpose`, `file_name`, `file_type`, `file`. */
export function togetherUploadForm(fileName: string, content: string): FormData {
  const form = new FormData();
  form.append('purpose', 'fine-tune');
  form.append('file_name', fileName);
  form.append('file_type', 'jsonl');
  form.append('file', new Blob([content], { type: 'application/jsonl' }), fileName);
  return form;
}

// FileResponse (https://docs.together.ai/reference/upload-file): only the id is used.
const FileSchema = z.object({ id: z.string().min(1) });

// FineTuneEvent (https://docs.together.ai/reference/get-fine-tunes-id-events): no id; step counts are on every event.
const EventSchema = z.object({
  created_at: z.union([z.string(), z.number()]).catch(''),
  level: z.string().nullish().catch(null),
  message: z.string().catch(''),
  type: z.string().nullish().catch(null),
  step: z.number().int().nullish().catch(null),
  total_steps: z.number().int().nullish().catch(null),
});

// FinetuneResponse (https://docs.together.ai/reference/get-fine-tunes-id): the name to call the tuned model by is
// `model_output_name` (`output_name` in older answers); failures are told in the job's error events.
const JobSchema = z.object({
  id: z.string().min(1),
  status: z.string().min(1),
  model_output_name: z.string().nullish().catch(null),
  output_name: z.string().nullish().catch(null),
  token_count: z.number().int().nonnegative().nullish().catch(null),
  events: z.array(z.unknown()).nullish().catch(null),
});
const EventListSchema = z.object({ data: z.array(z.unknown()) });

// FinetuneJobStatus: pending|queued|running|compressing|uploading|cancel_requested|cancelled|error|completed.
const STATUS: Record<string, FineTuneStatus> = {
  pending: 'queued',
  queued: 'queued',
  running: 'running',
  compressing: 'running',
  uploading: 'running',
  cancel_requested: 'running',
  cancelled: 'cancelled',
  error: 'failed',
  completed: 'succeeded',
};

export function createTogetherFineTuning(options: TogetherFineTuningOptions): FineTuningService {
  const kind = 'together-finetune' as const;
  const http = createFineTuningHttp({ ...options, kind });
  const jobOf = (value: unknown, what: string): FineTuneJob => {
    const job = parseAnswer(kind, JobSchema, value, what);
    const status = STATUS[job.status] ?? 'running';
    const events = (job.events ?? []).flatMap((item, index) => {
      const event = EventSchema.safeParse(item);
      return event.success ? [eventOf(event.data, `${job.id}#${index}`)] : [];
    });
    const failure = events.filter((event) => event.level === 'error' || event.type === 'job_error').at(-1);
    return {
      id: job.id,
      status,
      serviceStatus: job.status,
      fineTunedModel: job.model_output_name ?? job.output_name ?? null,
      trainedTokens: job.token_count ?? null,
      // The reference does not say whether `token_count` is what is billed (per epoch or in all): the estimate prices it.
      billedTokens: null,
      error: status === 'failed' ? failure?.message ?? null : null,
    };
  };

  return {
    kind,
    baseUrl: options.baseUrl,
    async checkKey(signal) {
      // https://docs.together.ai/reference/get-fine-tunes: listing jobs needs the same key and rights as creating one.
      await http.call({ method: 'GET', path: '/fine-tunes', action: 'list fine-tuning jobs', signal });
    },
    async uploadFile({ fileName, content, filePath, signal }) {
      const answer = await http.call({
        method: 'POST',
        path: '/files/upload',
        form: () => togetherUploadForm(fileName, content),
        action: `upload ${fileName}`,
        rejects: { subject: fileName, file: filePath ?? fileName },
        signal,
      });
      return { id: parseAnswer(kind, FileSchema, answer, 'the uploaded file').id };
    },
    async createJob(request, signal) {
      const answer = await http.call({
        method: 'POST',
        path: '/fine-tunes',
        json: togetherCreateJobBody(request),
        action: `create a fine-tuning job of ${request.model}`,
        rejects: refusedJob(request),
        signal,
      });
      return jobOf(answer, 'the created job');
    },
    async getJob(jobId, signal) {
      const answer = await http.call({ method: 'GET', path: `/fine-tunes/${encodeURIComponent(jobId)}`, action: `read job ${jobId}`, signal });
      return jobOf(answer, `job ${jobId}`);
    },
    async listEvents(jobId, cursor, signal) {
      // The whole list comes back oldest first and without ids: the cursor is how many were seen.
      const answer = await http.call({ method: 'GET', path: `/fine-tunes/${encodeURIComponent(jobId)}/events`, action: `read the events of job ${jobId}`, signal });
      const list = parseAnswer(kind, EventListSchema, answer, `the events of job ${jobId}`);
      const seen = cursor === undefined ? 0 : Number(cursor);
      const start = Number.isInteger(seen) && seen >= 0 && seen <= list.data.length ? seen : 0;
      const events = list.data.slice(start).flatMap((item, offset) => {
        const event = EventSchema.safeParse(item);
        return event.success ? [eventOf(event.data, `${jobId}#${start + offset}`)] : [];
      });
      return { events, cursor: String(list.data.length) };
    },
    async cancelJob(jobId, signal) {
      // https://docs.together.ai/reference/post-fine-tunes-id-cancel
      const answer = await http.call({ method: 'POST', path: `/fine-tunes/${encodeURIComponent(jobId)}/cancel`, action: `cancel job ${jobId}`, signal });
      return jobOf(answer, `cancelled job ${jobId}`);
    },
  };
}

function eventOf(event: z.infer<typeof EventSchema>, id: string): FineTuneEvent {
  const level = event.level ?? '';
  const time = typeof event.created_at === 'number' ? new Date(event.created_at * 1000) : new Date(event.created_at);
  const step = event.step ?? 0;
  const totalSteps = event.total_steps ?? 0;
  return {
    id,
    createdAt: Number.isNaN(time.getTime()) ? String(event.created_at) : time.toISOString(),
    level: level.includes('error') ? 'error' : level.includes('warn') ? 'warn' : 'info',
    message: event.message,
    type: event.type ?? 'message',
    ...(step > 0 && totalSteps > 0 ? { metrics: { step, totalSteps } } : {}),
  };
}
