/**
 * OpenAI fine-tuning by its documented HTTP API (https://platform.openai.com/docs/api-reference/fine-tuning):
 * files are uploaded with purpose `fine-tune`, a supervised job is created with the run's hyperparameters, and the
 * job and its events are read back until it ends. Request bodies are built by small typed builders next to the link
 * of the page that documents them; answers are read with tolerant schemas that take only the fields used here.
 */
import { z } from 'zod';
import { createFineTuningHttp, parseAnswer, type FineTuningHttpOptions } from './fine-tuning-http.ts';
import { refusedJob, type FineTuneEvent, type FineTuneJob, type FineTuneJobRequest, type FineTuneStatus, type FineTuningService } from './fine-tuning-service.ts';

export type OpenAiFineTuningOptions = Omit<FineTuningHttpOptions, 'kind'>;

/**
 * `POST /v1/fine_tuning/jobs` (https://platform.openai.com/docs/api-reference/fine-tuning/create): `method` with
 * `type: supervised` carries the hyperparameters (the top-level `hyperparameters` field is deprecated). Each
 * hyperparameter is a number or `auto`. The learning rate is a multiplier of OpenAI's own rate, so a local LoRA rate
 * does not translate: it stays `auto`.
 */
export interface OpenAiCreateJobBody {
  model: string;
  training_file: string;
  validation_file?: string;
  suffix?: string;
  seed: number;
  method: {
    type: 'supervised';
    supervised: { hyperparameters: { n_epochs: number | 'auto'; batch_size: number | 'auto'; learning_rate_multiplier: number | 'auto' } };
  };
}

export function openAiCreateJobBody(request: FineTuneJobRequest): OpenAiCreateJobBody {
  return {
    model: request.model,
    training_file: request.trainingFileId,
    ...(request.validationFileId === undefined ? {} : { validation_file: request.validationFileId }),
    ...(request.suffix === undefined ? {} : { suffix: request.suffix }),
    seed: request.seed,
    method: {
      type: 'supervised',
      supervised: { hyperparameters: { n_epochs: request.epochs, batch_size: request.batchSize ?? 'auto', learning_rate_multiplier: 'auto' } },
    },
  };
}

/** `POST /v1/files` (https://platform.openai.com/docs/api-reference/files/create): multipart `file` and `purpose=fine-tune`. */
export function openAiUploadForm(fileName: string, content: string): FormData {
  const form = new FormData();
  form.append('purpose', 'fine-tune');
  form.append('file', new Blob([content], { type: 'application/jsonl' }), fileName);
  return form;
}

// The file object (https://platform.openai.com/docs/api-reference/files/object): only its id is used.
const FileSchema = z.object({ id: z.string().min(1) });

// The job object (https://platform.openai.com/docs/api-reference/fine-tuning/object).
const JobSchema = z.object({
  id: z.string().min(1),
  status: z.string().min(1),
  fine_tuned_model: z.string().nullish().catch(null),
  trained_tokens: z.number().int().nonnegative().nullish().catch(null),
  error: z
    .object({ code: z.string().nullish(), message: z.string().nullish(), param: z.string().nullish() })
    .nullish()
    .catch(null),
});

// `GET /v1/fine_tuning/jobs/{id}/events` (https://platform.openai.com/docs/api-reference/fine-tuning/list-events):
// newest first, `after` pages towards older events, `has_more` says whether there are any.
const EventListSchema = z.object({ data: z.array(z.unknown()), has_more: z.boolean().nullish().catch(false) });
const EventSchema = z.object({
  id: z.string().min(1),
  created_at: z.number(),
  level: z.string().nullish().catch(null),
  message: z.string().catch(''),
  type: z.string().nullish().catch(null),
  data: z.unknown().optional(),
});
// `type: metrics` events carry the step's numbers in `data`.
const MetricsSchema = z.object({
  step: z.number().int().nonnegative(),
  total_steps: z.number().int().positive().nullish().catch(null),
  train_loss: z.number().nullish().catch(null),
  full_valid_loss: z.number().nullish().catch(null),
});

const STATUS: Record<string, FineTuneStatus> = {
  validating_files: 'queued',
  queued: 'queued',
  paused: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
};

const EVENTS_PAGE = 100;
const MAX_EVENT_PAGES = 20;

export function createOpenAiFineTuning(options: OpenAiFineTuningOptions): FineTuningService {
  const kind = 'openai-finetune' as const;
  const http = createFineTuningHttp({ ...options, kind });
  const jobOf = (value: unknown, what: string): FineTuneJob => {
    const job = parseAnswer(kind, JobSchema, value, what);
    const error = job.error?.message === undefined || job.error.message === null
      ? null
      : `${job.error.message}${job.error.code === undefined || job.error.code === null ? '' : ` (${job.error.code}${job.error.param === undefined || job.error.param === null ? '' : `, ${job.error.param}`})`}`;
    return { id: job.id, status: STATUS[job.status] ?? 'running', serviceStatus: job.status, fineTunedModel: job.fine_tuned_model ?? null, trainedTokens: job.trained_tokens ?? null, billedTokens: job.trained_tokens ?? null, error };
  };

  return {
    kind,
    baseUrl: options.baseUrl,
    async checkKey(signal) {
      // https://platform.openai.com/docs/api-reference/fine-tuning/list: the cheapest call that needs fine-tuning rights.
      await http.call({ method: 'GET', path: '/fine_tuning/jobs', query: { limit: 1 }, action: 'list fine-tuning jobs', signal });
    },
    async uploadFile({ fileName, content, filePath, signal }) {
      const answer = await http.call({
        method: 'POST',
        path: '/files',
        form: () => openAiUploadForm(fileName, content),
        action: `upload ${fileName}`,
        rejects: { subject: fileName, file: filePath ?? fileName },
        signal,
      });
      return { id: parseAnswer(kind, FileSchema, answer, 'the uploaded file').id };
    },
    async createJob(request, signal) {
      const answer = await http.call({
        method: 'POST',
        path: '/fine_tuning/jobs',
        json: openAiCreateJobBody(request),
        action: `create a fine-tuning job of ${request.model}`,
        rejects: refusedJob(request),
        signal,
      });
      return jobOf(answer, 'the created job');
    },
    async getJob(jobId, signal) {
      // https://platform.openai.com/docs/api-reference/fine-tuning/retrieve
      const answer = await http.call({ method: 'GET', path: `/fine_tuning/jobs/${encodeURIComponent(jobId)}`, action: `read job ${jobId}`, signal });
      return jobOf(answer, `job ${jobId}`);
    },
    async listEvents(jobId, cursor, signal) {
      // Page from the newest back to the event last seen (`cursor`), then hand them over oldest first.
      const fresh: FineTuneEvent[] = [];
      let after: string | undefined;
      let newest: string | undefined;
      pages: for (let page = 0; page < MAX_EVENT_PAGES; page += 1) {
        const answer = await http.call({
          method: 'GET',
          path: `/fine_tuning/jobs/${encodeURIComponent(jobId)}/events`,
          query: { limit: EVENTS_PAGE, after },
          action: `read the events of job ${jobId}`,
          signal,
        });
        const list = parseAnswer(kind, EventListSchema, answer, `the events of job ${jobId}`);
        for (const item of list.data) {
          const event = EventSchema.safeParse(item);
          if (!event.success) continue;
          if (event.data.id === cursor) break pages;
          newest ??= event.data.id;
          fresh.push(eventOf(event.data));
        }
        const last = EventSchema.safeParse(list.data.at(-1));
        if (list.has_more !== true || !last.success) break;
        after = last.data.id;
      }
      return { events: fresh.reverse(), cursor: newest ?? cursor };
    },
    async cancelJob(jobId, signal) {
      // https://platform.openai.com/docs/api-reference/fine-tuning/cancel
      const answer = await http.call({ method: 'POST', path: `/fine_tuning/jobs/${encodeURIComponent(jobId)}/cancel`, action: `cancel job ${jobId}`, signal });
      return jobOf(answer, `cancelled job ${jobId}`);
    },
  };
}

function eventOf(event: z.infer<typeof EventSchema>): FineTuneEvent {
  const metrics = event.type === 'metrics' ? MetricsSchema.safeParse(event.data) : undefined;
  return {
    id: event.id,
    createdAt: new Date(event.created_at * 1000).toISOString(),
    level: event.level === 'error' ? 'error' : event.level === 'warn' ? 'warn' : 'info',
    message: event.message,
    type: event.type ?? 'message',
    ...(metrics?.success === true
      ? {
          metrics: {
            step: metrics.data.step,
            ...(metrics.data.total_steps === null || metrics.data.total_steps === undefined ? {} : { totalSteps: metrics.data.total_steps }),
            ...(metrics.data.train_loss === null || metrics.data.train_loss === undefined ? {} : { trainLoss: metrics.data.train_loss }),
            ...(metrics.data.full_valid_loss === null || metrics.data.full_valid_loss === undefined ? {} : { validationLoss: metrics.data.full_valid_loss }),
          },
        }
      : {}),
  };
}
