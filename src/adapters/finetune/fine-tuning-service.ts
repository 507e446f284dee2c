/**
 * One small interface over the hosted fine-tuning services Understudy drives by their documented HTTP APIs
 * (OpenAI fine-tuning, Together fine-tuning): upload a JSONL file, create a job, read the job back with a normalized
 * status, list its events since a cursor, cancel it. Each service's client (`openai-fine-tuning.ts`,
 * `together-fine-tuning.ts`) maps its own request and response shapes onto these types.
 */
import type { HostedFineTuneTarget } from '../../contracts/config.ts';

export type FineTuningServiceKind = HostedFineTuneTarget['kind'];

/** A job's state, the same for every service: `queued` covers file validation and waiting for a machine. */
export type FineTuneStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface FineTuneJob {
  id: string;
  status: FineTuneStatus;
  /** The service's own word for the state (`validating_files`, `compressing`, ...), for messages. */
  serviceStatus: string;
  /** The name to call the fine-tuned model by; set once the job succeeded. */
  fineTunedModel: string | null;
  /** Tokens the service says the job trained on; null until it says. */
  trainedTokens: number | null;
  /** Tokens the service documents as billed (tokens × epochs; OpenAI's `trained_tokens`); null when it does not say. */
  billedTokens: number | null;
  /** Why a failed job failed, in the service's words. */
  error: string | null;
}

/** One event of a job, as the service logged it, with the training metrics it carries when it carries any. */
export interface FineTuneEvent {
  /** The service's id, or one made from the event's position when the service gives none (Together). */
  id: string;
  /** ISO time. */
  createdAt: string;
  level: 'info' | 'warn' | 'error';
  message: string;
  /** The service's event type (`message`, `metrics`, `epoch_complete`, ...). */
  type: string;
  metrics?: {
    step: number;
    totalSteps?: number;
    trainLoss?: number;
    /** Loss over the whole validation file (not one validation batch). */
    validationLoss?: number;
  };
}

/** The job request in our terms; each client turns it into its service's body. */
export interface FineTuneJobRequest {
  /** The service's name of the model to fine-tune. */
  model: string;
  trainingFileId: string;
  validationFileId?: string;
  suffix?: string;
  seed: number;
  /** Whole passes over the training file. */
  epochs: number;
  /** Examples per optimizer step; absent: the service chooses. */
  batchSize?: number;
  /** An absolute learning rate (Together); OpenAI takes only a multiplier of its own rate and is left to choose. */
  learningRate?: number;
  /** LoRA settings (Together trains LoRA adapters; OpenAI does not say how it tunes). */
  lora?: { r: number; alpha: number; dropout: number; targetModules: 'all-linear' | readonly string[] };
  /** Validations over the run when there is a validation file (Together's `n_evals`). */
  evaluations?: number;
  /** Longest example in tokens (Together's `max_seq_length`); absent: the model's own. */
  maxSequenceLength?: number;
  /** The local training file, named when the service refuses the job (it refuses a bad file at this point too). */
  trainingFilePath?: string;
}

export interface FineTuningService {
  readonly kind: FineTuningServiceKind;
  readonly baseUrl: string;
  /** A cheap authenticated read (listing jobs): a refused key fails here, before anything is uploaded or spent. */
  checkKey(signal?: AbortSignal): Promise<void>;
  /** Upload JSONL text for fine-tuning; returns the service's file id. `filePath`: the local copy, named when the service refuses it. */
  uploadFile(input: { fileName: string; content: string; filePath?: string; signal?: AbortSignal }): Promise<{ id: string }>;
  createJob(request: FineTuneJobRequest, signal?: AbortSignal): Promise<FineTuneJob>;
  getJob(jobId: string, signal?: AbortSignal): Promise<FineTuneJob>;
  /** Events after `cursor` (absent: from the start), oldest first, and the cursor to pass next time. */
  listEvents(jobId: string, cursor: string | undefined, signal?: AbortSignal): Promise<{ events: FineTuneEvent[]; cursor: string | undefined }>;
  cancelJob(jobId: string, signal?: AbortSignal): Promise<FineTuneJob>;
}

/** A finished state: the job will not change any more. */
export function isTerminal(status: FineTuneStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

/** How a refused job request is named in the error: the job, its model and its training file (the local copy when known). */
export function refusedJob(request: FineTuneJobRequest): { subject: string; file?: string } {
  const file = request.trainingFilePath === undefined ? request.trainingFileId : `${request.trainingFilePath.split(/[\\/]/).at(-1)} (${request.trainingFileId})`;
  return { subject: `the job of ${request.model} on ${file}`, ...(request.trainingFilePath === undefined ? {} : { file: request.trainingFilePath }) };
}
