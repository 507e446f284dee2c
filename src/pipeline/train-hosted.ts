/**
 * Fine-tuning at a hosted service (OpenAI, Together) instead of the local worker, recorded as a run like any other.
 *
 * The data is prepared exactly as for a local SFT run (the same validation split and prompt-completion records),
 * checked example by example (an error names its line of the JSONL) and exported as chat JSONL. Before anything is
 * uploaded the job's cost is estimated (training tokens × epochs × the price per million) and a `confirm` callback may
 * refuse; the key is checked with a cheap authenticated call first, so an expired key fails before anything is
 * spent. Then the run is registered, the files uploaded, the job created and polled at growing intervals; every
 * service event is stored with the run as a worker-style event (`log`, `progress`, `eval`). The run is marked succeeded only once the service reported a
 * fine-tuned model, that model answered a call, and it was registered in the store (one transaction); a failed,
 * cancelled or timed-out job fails the run with the service's message, and an abort cancels the job at the service.
 */
import { mkdirSync } from 'node:fs';
import { setTimeout as sleepFor } from 'node:timers/promises';
import path from 'node:path';
import type { HostedFineTuneTarget, PricingConfig, TrainingConfig } from '../contracts/config.ts';
import { WorkerEventSchema, type ChatMessage, type PromptCompletionRecord, type WorkerEvent } from '../contracts/worker.ts';
import { sha256Hex, contentHash } from '../core/content-hash.ts';
import { describeError, FineTuningError } from '../core/errors.ts';
import { CHAT_TOKEN_ESTIMATE_METHOD, checkFineTuningExamples, estimateChatTokens } from '../core/fine-tuning-jsonl.ts';
import type { RandomSource } from '../core/random.ts';
import type { ResolvedSft } from '../core/sft-defaults.ts';
import { isAborted, type Sleep } from '../adapters/finetune/fine-tuning-http.ts';
import { isTerminal, type FineTuneEvent, type FineTuneJob, type FineTuneJobRequest, type FineTuningService } from '../adapters/finetune/fine-tuning-service.ts';
import { createFineTuningService } from '../adapters/finetune/fine-tuning-service-from-target.ts';
import { createHostedModelProvider } from '../adapters/finetune/hosted-model-provider.ts';
import { trainingPriceFor } from '../adapters/pricing/fine-tuning-prices.ts';
import type { HostedModelRecord, RunRecord, Store } from '../adapters/store/sqlite-store.ts';
import { openAiFineTuningJsonl } from './export-formats.ts';
import { splitSftExamples, writeAtomic } from './train.ts';

/** What a job will cost, shown before it starts. `usd` is null when the price is unknown (never a made-up 0). */
export interface HostedTrainingEstimate {
  service: HostedFineTuneTarget['kind'];
  model: string;
  trainExamples: number;
  validationExamples: number;
  /** Tokens of the training file, one pass. */
  tokensPerEpoch: number;
  epochs: number;
  /** What the service bills for: tokens per epoch × epochs. */
  billedTokens: number;
  tokenMethod: string;
  price: { usdPerMillionTokens: number; source: string } | null;
  usd: number | null;
  /** Why the cost is unknown, when it is. */
  unknownReason?: string;
  /** Things the user should know before saying yes (a setting that does not apply, a rounded value). */
  warnings: string[];
}

export interface TrainHostedInput {
  store: Store;
  /** The stored training dataset (as `prepareClassificationData` or `prepareCuratedData` registered it). */
  datasetId: string;
  training: TrainingConfig;
  /** The name under `targets` (recorded with the run and the model). */
  targetName: string;
  target: HostedFineTuneTarget;
  /** Prices the fine-tuned model's verification call; default: no overrides. */
  pricing?: PricingConfig;
  /** The uploaded files are kept in `<runsDir>/<run id>/`. */
  runsDir: string;
  /** Shown the estimate once the data and the key are checked; false stops before anything is uploaded. */
  confirm: (estimate: HostedTrainingEstimate) => boolean | Promise<boolean>;
  /** Call the fine-tuned model once before registering it (default true). */
  verifyAnswer?: boolean;
  /** Tokens of one example for the estimate; default `estimateChatTokens`. */
  countTokens?: (messages: readonly ChatMessage[]) => number;
  /** Read for the target's `apiKeyEnv`; default `process.env`. */
  environment?: NodeJS.ProcessEnv;
  fetch?: typeof globalThis.fetch;
  /** Waits between polls and retries (tests pass one that does not wait). */
  sleep?: Sleep;
  now?: () => number;
  random?: RandomSource;
  signal?: AbortSignal;
  /** Every event stored with the run; `hosted`: the service event it came from (its `type`: `message`, `metrics`, ...). */
  onEvent?: (event: WorkerEvent, hosted?: { service: string; id: string; type: string; level: string }) => void;
  /** The job as each poll read it. */
  onJob?: (job: FineTuneJob) => void;
  onRun?: (run: RunRecord) => void;
}

export interface HostedTrainResult {
  started: true;
  run: RunRecord;
  model: HostedModelRecord;
  jobId: string;
  estimate: HostedTrainingEstimate;
  /** Tokens the service says the job trained on; null when it did not say. */
  trainedTokens: number | null;
  /** Tokens the service documents as billed (OpenAI's `trained_tokens`); null when it does not say (Together). */
  billedTokens: number | null;
  /** Tokens the service says it billed (else the estimate's) × the price; null when the price is unknown. */
  costUsd: number | null;
  seconds: number;
  /** The hyperparameters the job was created with. */
  hyperparameters: Omit<FineTuneJobRequest, 'trainingFileId' | 'validationFileId'>;
  reasons: Record<string, string>;
  /** The fine-tuned model's answer to one training prompt (null when not verified). */
  verification: { prompt: string; answer: string } | null;
}

export type TrainHostedOutcome = HostedTrainResult | { started: false; estimate: HostedTrainingEstimate };

/** Consecutive failed polls (each already retried) before the run gives up. */
const MAX_FAILED_POLLS = 5;

interface PreparedHostedData {
  trainText: string;
  validationText: string;
  trainRecords: PromptCompletionRecord[];
  validationRecords: PromptCompletionRecord[];
  resolved: ResolvedSft;
  request: Omit<FineTuneJobRequest, 'trainingFileId' | 'validationFileId'>;
  reasons: Record<string, string>;
  estimate: HostedTrainingEstimate;
}

/** The same split and records as a local SFT run, the JSONL files, the job's hyperparameters and the cost estimate. */
export function prepareHostedData(input: Pick<TrainHostedInput, 'store' | 'datasetId' | 'training' | 'target' | 'targetName' | 'countTokens'>): PreparedHostedData {
  const { target } = input;
  const { resolved, train: trainRecords, validation: validationRecords } = splitSftExamples(input.store, input.datasetId, input.training);
  const { settings } = resolved;
  const together = target.kind === 'together-finetune';
  const warnings = [...resolved.warnings];

  checkFineTuningExamples(trainRecords, { file: 'train.jsonl', alternating: together });
  checkFineTuningExamples(validationRecords, { file: 'validation.jsonl', alternating: together });
  // Together's conversational format documents role and content only: a per-message weight is not part of it.
  if (together && [...trainRecords, ...validationRecords].some((record) => record.prompt.some((message) => message.role === 'assistant'))) {
    warnings.push('Together has no per-message weight: assistant turns inside prompts are trained on too');
  }
  const trainText = openAiFineTuningJsonl(trainRecords, { weights: !together });
  const validationText = openAiFineTuningJsonl(validationRecords, { weights: !together });

  // Hosted services train whole epochs; only what the config sets (or the epochs the estimate needs) is sent.
  const reasons: Record<string, string> = {};
  const epochs = Math.min(50, Math.max(1, Math.round(settings.epochs)));
  reasons.epochs = epochs === settings.epochs ? resolved.reasons.epochs ?? '' : `${settings.epochs} rounded: the service trains whole epochs (1 to 50)`;
  if (epochs !== settings.epochs) warnings.push(`epochs ${settings.epochs} rounded to ${epochs}: the service trains whole epochs`);
  if (settings.maxSteps > 0) warnings.push(`training.maxSteps ${settings.maxSteps} does not apply: the service trains by epochs`);
  const fromConfig = (field: string): boolean => resolved.reasons[field] === 'set in the config';
  const batchSize = fromConfig('batchSize') ? settings.batchSize * settings.gradientAccumulation : undefined;
  reasons.batchSize = batchSize === undefined ? 'chosen by the service (the local defaults are sized for local memory)' : 'set in the config (batch size × gradient accumulation)';
  let learningRate: number | undefined;
  if (together && fromConfig('learningRate')) {
    learningRate = settings.learningRate;
    reasons.learningRate = 'set in the config';
  } else {
    reasons.learningRate = together ? "Together's default for the model" : "OpenAI's own (it takes only a multiplier of its rate, which a LoRA rate does not translate to)";
  }
  reasons.seed = resolved.reasons.seed ?? '';
  const request: PreparedHostedData['request'] = {
    model: target.model,
    ...(target.suffix === undefined ? {} : { suffix: target.suffix }),
    seed: settings.seed,
    epochs,
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(learningRate === undefined ? {} : { learningRate }),
    ...(together
      ? {
          lora: { r: settings.lora.r, alpha: settings.lora.alpha, dropout: settings.lora.dropout, targetModules: settings.lora.targetModules },
          ...(validationRecords.length > 0 ? { evaluations: epochs } : {}),
          ...(fromConfig('maxLength') ? { maxSequenceLength: settings.maxLength } : {}),
        }
      : {}),
  };
  if (together) {
    reasons.lora = `rank ${settings.lora.r}: ${resolved.reasons['lora.r'] ?? ''}; alpha ${settings.lora.alpha}: ${resolved.reasons['lora.alpha'] ?? ''}`;
    if (validationRecords.length > 0) reasons.evaluations = 'one validation per epoch';
  }

  const count = input.countTokens ?? estimateChatTokens;
  const tokensPerEpoch = trainRecords.reduce((sum, record) => sum + count([...record.prompt, ...record.completion]), 0);
  const billedTokens = tokensPerEpoch * epochs;
  const listed = trainingPriceFor(target.kind, target.model);
  const price = target.trainingUsdPerMillionTokens !== undefined
    ? { usdPerMillionTokens: target.trainingUsdPerMillionTokens, source: `targets.${input.targetName}.trainingUsdPerMillionTokens` }
    : listed === undefined
      ? null
      : { usdPerMillionTokens: listed.usdPerMillionTokens, source: `${listed.source} (as of ${listed.asOf}${listed.note === undefined ? '' : `; ${listed.note}`})` };
  if (target.trainingUsdPerMillionTokens === undefined && listed !== undefined) {
    warnings.push(`the training price is the built-in table's (${listed.asOf}), not verified: check ${listed.source} and set targets.${input.targetName}.trainingUsdPerMillionTokens`);
  }
  const estimate: HostedTrainingEstimate = {
    service: target.kind,
    model: target.model,
    trainExamples: trainRecords.length,
    validationExamples: validationRecords.length,
    tokensPerEpoch,
    epochs,
    billedTokens,
    tokenMethod: input.countTokens === undefined ? CHAT_TOKEN_ESTIMATE_METHOD : 'counted by the given tokenizer',
    price,
    usd: price === null ? null : (billedTokens * price.usdPerMillionTokens) / 1e6,
    ...(price === null ? { unknownReason: `no training price for ${target.model} at ${target.kind}: set targets.${input.targetName}.trainingUsdPerMillionTokens` } : {}),
    warnings,
  };
  return { trainText, validationText, trainRecords, validationRecords, resolved, request, reasons, estimate };
}

/** The service's base model as a base-model row, so the run has a base like any other (keyed by service, URL and name). */
function registerHostedBase(store: Store, target: HostedFineTuneTarget): string {
  const sha256 = contentHash({ hosted: target.kind, baseUrl: target.baseUrl, model: target.model });
  store.registerBaseModel({ sha256, name: `${target.model} (${target.kind})`, path: target.baseUrl, metadata: { hosted: true, service: target.kind, baseUrl: target.baseUrl, model: target.model } });
  return sha256;
}

/**
 * Fine-tune `targets.<name>` on a stored training dataset. Returns `{started: false}` when `confirm` refuses (nothing
 * uploaded, no run registered); throws when the data, the key, the upload or the job fail, with the run (once
 * registered) marked failed, or interrupted when `signal` aborted (the job is then cancelled at the service).
 */
export async function trainHosted(input: TrainHostedInput): Promise<TrainHostedOutcome> {
  const { store, target, signal } = input;
  const now = input.now ?? Date.now;
  const prepared = prepareHostedData(input);
  const service = createFineTuningService(input.targetName, target, {
    ...(input.environment === undefined ? {} : { environment: input.environment }),
    ...(input.fetch === undefined ? {} : { fetch: input.fetch }),
    ...(input.sleep === undefined ? {} : { sleep: input.sleep }),
    ...(input.random === undefined ? {} : { random: input.random }),
    now,
  });
  await service.checkKey(signal);
  if (!(await input.confirm(prepared.estimate))) return { started: false, estimate: prepared.estimate };
  if (isAborted(signal)) throw new FineTuningError(`${target.kind}: interrupted before the job started`, { failure: 'aborted', service: target.kind });

  const { trainText, validationText, request, reasons, estimate } = prepared;
  const baseSha256 = registerHostedBase(store, target);
  const run = store.startRun({
    datasetId: input.datasetId,
    baseSha256,
    method: 'sft',
    spec: {
      base: { kind: 'hosted', service: target.kind, model: target.model },
      target: { name: input.targetName, kind: target.kind, baseUrl: target.baseUrl, apiKeyEnv: target.apiKeyEnv, model: target.model, ...(target.suffix === undefined ? {} : { suffix: target.suffix }) },
      training: { epochs: request.epochs, batchSize: request.batchSize ?? 'service default', learningRate: request.learningRate ?? 'service default', seed: request.seed },
      ...(request.lora === undefined ? {} : { lora: request.lora }),
      hyperparameters: request,
      data: {
        trainExamples: prepared.trainRecords.length,
        validationExamples: prepared.validationRecords.length,
        format: 'openai-chat-jsonl',
        trainSha256: sha256Hex(trainText),
        validationSha256: sha256Hex(validationText),
      },
      estimate: { billedTokens: estimate.billedTokens, usd: estimate.usd, price: estimate.price, tokenMethod: estimate.tokenMethod },
      reasons,
      launch: target.kind,
    },
  });
  input.onRun?.(run);
  const runDir = path.join(input.runsDir, run.id);
  const trainPath = path.join(runDir, 'train.jsonl');
  const validationPath = path.join(runDir, 'validation.jsonl');

  const record = (event: WorkerEvent & { hosted?: { service: string; id: string; type: string; level: string } } & Record<string, unknown>): void => {
    const checked = WorkerEventSchema.parse(event);
    // Stored whole: the extra `hosted` payload (the service event it came from) stays with the worker-style event.
    store.appendRunEvent(run.id, event);
    input.onEvent?.(checked, event.hosted);
  };
  // Our own steps (uploads, the job's state) carry their ids in `detail`; the service's events carry `hosted`.
  const log = (message: string, detail?: Record<string, unknown>): void => record({ event: 'log', message, ...(detail === undefined ? {} : { detail }) });

  let jobId: string | undefined;
  let job: FineTuneJob | undefined;
  try {
    // The files exactly as uploaded stay with the run.
    mkdirSync(runDir, { recursive: true });
    writeAtomic(trainPath, trainText);
    if (validationText !== '') writeAtomic(validationPath, validationText);
    const trainFile = await service.uploadFile({ fileName: 'train.jsonl', content: trainText, filePath: trainPath, signal });
    log(`uploaded train.jsonl (${prepared.trainRecords.length} examples) as ${trainFile.id}`, { fileId: trainFile.id, sha256: sha256Hex(trainText) });
    let validationFileId: string | undefined;
    if (validationText !== '') {
      const validationFile = await service.uploadFile({ fileName: 'validation.jsonl', content: validationText, filePath: validationPath, signal });
      validationFileId = validationFile.id;
      log(`uploaded validation.jsonl (${prepared.validationRecords.length} examples) as ${validationFile.id}`, { fileId: validationFile.id, sha256: sha256Hex(validationText) });
    }
    const startedAt = now();
    job = await service.createJob({ ...request, trainingFileId: trainFile.id, trainingFilePath: trainPath, ...(validationFileId === undefined ? {} : { validationFileId }) }, signal);
    jobId = job.id;
    log(`job ${job.id} created at ${target.kind}: ${job.serviceStatus}`, { jobId: job.id, status: job.serviceStatus });
    input.onJob?.(job);

    const progress = await pollJob({ service, job, input, now, record, log, epochs: request.epochs });
    job = progress.job;
    if (job.status !== 'succeeded') {
      const reason = job.error ?? progress.lastError ?? 'the service gave no reason';
      throw new FineTuningError(`${target.kind}: job ${job.id} ${job.status === 'cancelled' ? 'was cancelled' : 'failed'} (${job.serviceStatus}): ${reason}`, {
        failure: 'job-failed',
        service: target.kind,
        upstreamMessage: reason,
        hint: job.status === 'failed' ? 'fix what the service names (often the data file) and train again' : undefined,
      });
    }
    const fineTunedModel = job.fineTunedModel?.trim();
    if (fineTunedModel === undefined || fineTunedModel === '') {
      throw new FineTuningError(`${target.kind}: job ${job.id} reports success but names no fine-tuned model; the run is not registered`, { failure: 'bad-response', service: target.kind });
    }
    const seconds = (now() - startedAt) / 1000;
    const modelFields: Omit<HostedModelRecord, 'runId' | 'createdAt'> = {
      service: target.kind,
      target: input.targetName,
      baseUrl: target.baseUrl,
      apiKeyEnv: target.apiKeyEnv,
      baseModel: target.model,
      model: fineTunedModel,
      jobId: job.id,
      inputUsdPerMillion: target.inputUsdPerMillion ?? null,
      outputUsdPerMillion: target.outputUsdPerMillion ?? null,
    };
    const verification = input.verifyAnswer === false ? null : await verifyModel(modelFields, prepared.trainRecords[0]!, input);
    if (verification !== null) log(`the fine-tuned model ${fineTunedModel} answered: ${JSON.stringify(verification.answer.slice(0, 200))}`);
    const trainedTokens = job.trainedTokens;
    const costUsd = estimate.price === null ? null : ((job.billedTokens ?? estimate.billedTokens) * estimate.price.usdPerMillionTokens) / 1e6;
    record({ event: 'done', seconds, trainTokens: trainedTokens, steps: progress.lastStep, trainLoss: progress.lastLoss, device: `${target.kind} (hosted)` });
    const model = store.completeHostedRun(run.id, {
      seconds,
      trainTokens: trainedTokens,
      steps: progress.lastStep,
      trainLoss: progress.lastLoss,
      examples: prepared.trainRecords.length,
      hosted: { service: target.kind, jobId: job.id, baseModel: target.model, fineTunedModel },
      estimate: { billedTokens: estimate.billedTokens, usd: estimate.usd },
      costUsd,
      billedTokens: job.billedTokens,
      costBasis: job.billedTokens === null ? 'estimated tokens × the price' : 'tokens the service billed × the price',
    }, modelFields);
    return {
      started: true,
      run: store.getRun(run.id)!,
      model,
      jobId: job.id,
      estimate,
      trainedTokens,
      billedTokens: job.billedTokens,
      costUsd,
      seconds,
      hyperparameters: request,
      reasons,
      verification,
    };
  } catch (error) {
    const interrupted = isAborted(signal);
    let message = error instanceof Error ? error.message : String(error);
    if (interrupted && jobId !== undefined && (job === undefined || !isTerminal(job.status))) {
      // The abort signal is spent: the cancel call gets its own, short budget.
      try {
        const cancelled = await service.cancelJob(jobId, AbortSignal.timeout(30_000));
        log(`job ${jobId} cancelled at ${target.kind}: ${cancelled.serviceStatus}`, { jobId, status: cancelled.serviceStatus });
        message = `interrupted; job ${jobId} cancelled at ${target.kind}`;
      } catch (cancelError) {
        message = `interrupted; cancelling job ${jobId} at ${target.kind} failed: ${describeError(cancelError)}`;
        log(message);
      }
    }
    try {
      record({ event: 'error', errorType: error instanceof Error ? error.name : 'Error', message });
    } finally {
      store.failRun(run.id, interrupted || job?.status === 'cancelled' ? 'interrupted' : 'failed', message);
    }
    throw error;
  }
}

/** Poll until the job ends, at intervals growing from `pollIntervalMs` to `maxPollIntervalMs`, storing its events. */
async function pollJob(context: {
  service: FineTuningService;
  job: FineTuneJob;
  input: TrainHostedInput;
  now: () => number;
  record: (event: WorkerEvent & { hosted?: { service: string; id: string; type: string; level: string } } & Record<string, unknown>) => void;
  log: (message: string, detail?: Record<string, unknown>) => void;
  epochs: number;
}): Promise<{ job: FineTuneJob; lastStep: number | null; lastLoss: number | null; lastError: string | null }> {
  const { service, input, now, record, log } = context;
  const { target, signal } = input;
  let job = context.job;
  let cursor: string | undefined;
  let interval = target.pollIntervalMs;
  let failedPolls = 0;
  let lastStep: number | null = null;
  let lastLoss: number | null = null;
  let lastError: string | null = null;
  const deadline = now() + target.timeoutMinutes * 60_000;
  const sleep: Sleep = input.sleep ?? ((ms, abort) => sleepFor(ms, undefined, abort === undefined ? {} : { signal: abort }));
  const storeEvent = (event: FineTuneEvent): void => {
    const hosted = { service: target.kind, id: event.id, type: event.type, level: event.level, createdAt: event.createdAt };
    record({ event: 'log', message: `${target.kind} ${event.level}: ${event.message}`, hosted });
    if (event.level === 'error') lastError = event.message;
    const metrics = event.metrics;
    if (metrics === undefined) return;
    lastStep = metrics.step;
    if (metrics.trainLoss !== undefined) lastLoss = metrics.trainLoss;
    if (metrics.totalSteps !== undefined) {
      record({
        event: 'progress',
        step: metrics.step,
        totalSteps: metrics.totalSteps,
        epoch: (metrics.step / metrics.totalSteps) * context.epochs,
        loss: metrics.trainLoss ?? null,
        learningRate: null,
        tokensPerSecond: null,
        etaSeconds: null,
        hosted,
      });
    }
    if (metrics.validationLoss !== undefined) record({ event: 'eval', step: metrics.step, evalLoss: metrics.validationLoss, accuracy: null, hosted });
  };

  for (;;) {
    try {
      const events = await service.listEvents(job.id, cursor, signal);
      cursor = events.cursor;
      for (const event of events.events) storeEvent(event);
      const previous = job.serviceStatus;
      job = await service.getJob(job.id, signal);
      failedPolls = 0;
      if (job.serviceStatus !== previous) log(`job ${job.id}: ${previous} -> ${job.serviceStatus}`, { jobId: job.id, status: job.serviceStatus });
      input.onJob?.(job);
      if (isTerminal(job.status)) {
        // Events the service logged while finishing (the last metrics, the reason of a failure).
        const last = await service.listEvents(job.id, cursor, signal);
        for (const event of last.events) storeEvent(event);
        return { job, lastStep, lastLoss, lastError };
      }
    } catch (error) {
      if (!FineTuningError.isInstance(error) || !error.isRetryable || isAborted(signal)) throw error;
      failedPolls += 1;
      if (failedPolls >= MAX_FAILED_POLLS) throw error;
      log(`reading job ${job.id} failed (${failedPolls} of ${MAX_FAILED_POLLS} polls in a row): ${error.message}`);
    }
    if (now() >= deadline) {
      throw new FineTuningError(`${target.kind}: gave up waiting for job ${job.id} after ${target.timeoutMinutes} minutes (${job.serviceStatus}); the job goes on at the service`, {
        failure: 'timeout',
        service: target.kind,
        hint: `follow it at the service, or raise targets.${input.targetName}.timeoutMinutes`,
      });
    }
    try {
      await sleep(Math.min(interval, Math.max(0, deadline - now())), signal);
    } catch (error) {
      throw new FineTuningError(`${target.kind}: interrupted while job ${job.id} was ${job.serviceStatus}`, { failure: 'aborted', service: target.kind, cause: error });
    }
    interval = Math.min(target.maxPollIntervalMs, Math.round(interval * 1.5));
  }
}

/** One call to the fine-tuned model with a training prompt: a model the service names but cannot serve is not registered. */
async function verifyModel(model: Omit<HostedModelRecord, 'runId' | 'createdAt'>, example: PromptCompletionRecord, input: TrainHostedInput): Promise<{ prompt: string; answer: string }> {
  const provider = createHostedModelProvider(model, input.pricing ?? { overrides: [] }, {
    ...(input.environment === undefined ? {} : { environment: input.environment }),
    ...(input.fetch === undefined ? {} : { fetch: input.fetch }),
  });
  try {
    const result = await provider.complete({ messages: [...example.prompt], temperature: 0, maxTokens: 32 }, input.signal === undefined ? {} : { signal: input.signal });
    return { prompt: example.prompt.at(-1)?.content ?? '', answer: result.text };
  } catch (error) {
    throw new FineTuningError(`${input.target.kind}: the fine-tuned model ${model.model} did not answer a test call, so it is not registered: ${describeError(error)}`, {
      failure: 'bad-response',
      service: input.target.kind,
      cause: error,
      hint: 'the job succeeded at the service; once the model serves, train again or register it by hand',
    });
  } finally {
    await provider.close();
  }
}
