import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { TrainingConfig } from '../contracts/config.ts';
import type { BaseModelRef, PromptCompletionRecord, TrainSftSpec, WorkerEvent } from '../contracts/worker.ts';
import type { ResolvedBaseModel } from '../adapters/models/acquire.ts';
import { sha256File } from '../adapters/file-hash.ts';
import type { ResolvedChatTemplate } from '../adapters/models/chat-template-source.ts';
import type { AdapterRecord, RunRecord, Store, StoredExample } from '../adapters/store/sqlite-store.ts';
import { runWorker } from '../adapters/worker/worker-process.ts';
import { InvalidInputError, WorkerError } from '../core/errors.ts';

export interface TrainResult {
  run: RunRecord;
  adapter: AdapterRecord;
  seconds: number;
  trainLoss: number | null;
  trainTokens: number | null;
  tokensPerSecond: number | null;
  steps: number | null;
  truncatedExamples: number | null;
  /** (step, loss) points from the progress events. */
  lossCurve: { step: number; loss: number }[];
}

/** Turn stored chat examples into TRL conversational prompt-completion records. */
export function toPromptCompletion(examples: readonly StoredExample[]): PromptCompletionRecord[] {
  return examples.map((example) => {
    const last = example.messages.at(-1);
    if (last?.role !== 'assistant') {
      throw new InvalidInputError('a training example must end with the assistant answer', { field: `examples[${example.position}].messages` });
    }
    return { prompt: example.messages.slice(0, -1), completion: [last] };
  });
}

export function baseModelRef(base: ResolvedBaseModel): BaseModelRef {
  return base.hfDir === undefined ? { kind: 'gguf', path: base.ggufPath } : { kind: 'hf-dir', path: base.hfDir };
}

/**
 * Run LoRA SFT in the worker on a stored training dataset. Progress and every event are stored
 * with the run; the adapter is registered only when the worker finishes and both artifacts exist.
 * A failed or interrupted run registers no adapter.
 */
export async function trainSft(input: {
  store: Store;
  python: string;
  base: ResolvedBaseModel;
  /** The template to train with (`resolveChatTemplate`); serving must render the same one. */
  chatTemplate: ResolvedChatTemplate;
  datasetId: string;
  training: TrainingConfig;
  /** Runs live in `<runsDir>/<run id>/`. */
  runsDir: string;
  threads?: number;
  signal?: AbortSignal;
  onEvent?: (event: WorkerEvent) => void;
  onStderr?: (line: string) => void;
}): Promise<TrainResult> {
  const { store, training } = input;
  const examples = store.listExamples(input.datasetId);
  const records = toPromptCompletion(examples);
  store.registerBaseModel({ sha256: input.base.sha256, name: input.base.name, path: input.base.ggufPath, metadata: input.base.catalog === undefined ? {} : { ...input.base.catalog } });

  const specWithoutPaths = {
    base: baseModelRef(input.base),
    lora: training.lora,
    training: {
      epochs: training.epochs,
      maxSteps: training.maxSteps,
      learningRate: training.learningRate,
      batchSize: training.batchSize,
      gradientAccumulation: training.gradientAccumulation,
      maxLength: training.maxLength,
      warmupRatio: training.warmupRatio,
      scheduler: training.scheduler,
      seed: training.seed,
      loggingSteps: 5,
      threads: input.threads ?? 0,
    },
    chatTemplate: input.chatTemplate.source,
  };
  // The stored spec holds the template itself, and its hash and origin so runs can be compared at a glance.
  const run = store.startRun({
    datasetId: input.datasetId,
    baseSha256: input.base.sha256,
    method: 'sft',
    spec: { ...specWithoutPaths, baseSha256: input.base.sha256, chatTemplateSha256: input.chatTemplate.sha256, chatTemplateOrigin: input.chatTemplate.origin },
  });
  const runDir = path.join(input.runsDir, run.id);
  const stagingDir = path.join(runDir, 'staging');
  mkdirSync(stagingDir, { recursive: true });
  const trainPath = path.join(runDir, 'train.jsonl');
  writeFileSync(trainPath, records.map((record) => JSON.stringify(record)).join('\n') + '\n');
  const spec: TrainSftSpec = { command: 'train-sft', ...specWithoutPaths, trainPath, outputDir: stagingDir };
  const lossCurve: { step: number; loss: number }[] = [];

  try {
    const outcome = await runWorker({
      python: input.python,
      spec,
      signal: input.signal,
      onStderr: input.onStderr,
      onEvent: (event) => {
        store.appendRunEvent(run.id, event);
        if (event.event === 'progress' && event.loss !== null) lossCurve.push({ step: event.step, loss: event.loss });
        input.onEvent?.(event);
      },
    });
    const peftStaged = path.join(stagingDir, 'peft');
    const ggufStaged = path.join(stagingDir, 'adapter.gguf');
    if (!existsSync(path.join(peftStaged, 'adapter_model.safetensors')) || !existsSync(ggufStaged)) {
      throw new WorkerError('the worker finished but its adapter files are missing', { file: stagingDir });
    }
    // The worker reports each artifact's sha256 (the PEFT one covers the whole directory); the GGUF that
    // llama.cpp will serve is hashed again here, so a file changed or cut short after the worker is caught.
    const reported = (kind: 'peft-adapter' | 'gguf-lora'): string => {
      const artifact = outcome.events.find((event) => event.event === 'artifact' && event.kind === kind);
      if (artifact?.event !== 'artifact') throw new WorkerError(`the worker reported no ${kind} artifact`, { file: stagingDir });
      return artifact.sha256;
    };
    const ggufSha256 = await sha256File(ggufStaged);
    if (ggufSha256 !== reported('gguf-lora')) {
      throw new WorkerError(`adapter.gguf hashes to ${ggufSha256}, not the ${reported('gguf-lora')} the worker reported`, { file: ggufStaged });
    }
    const peftSha256 = reported('peft-adapter');
    // A retrained adapter always gets a new file name: llama.cpp engines cache adapters by path.
    const ggufPath = path.join(runDir, `adapter-${ggufSha256.slice(0, 12)}.gguf`);
    const peftPath = path.join(runDir, 'peft');
    renameSync(ggufStaged, ggufPath);
    renameSync(peftStaged, peftPath);
    rmSync(stagingDir, { recursive: true, force: true });
    const done = outcome.done;
    const summary = {
      seconds: done.seconds,
      trainLoss: done.trainLoss ?? null,
      trainTokens: done.trainTokens ?? null,
      tokensPerSecond: done.tokensPerSecond ?? null,
      steps: done.steps ?? null,
      truncatedExamples: done.truncatedExamples ?? null,
      examples: records.length,
    };
    const adapter = store.completeRun(run.id, summary, { ggufPath, ggufSha256, peftPath, peftSha256 });
    return { run: store.getRun(run.id)!, adapter, lossCurve, ...summary };
  } catch (error) {
    store.failRun(run.id, input.signal?.aborted === true ? 'interrupted' : 'failed', error instanceof Error ? error.message : String(error));
    rmSync(stagingDir, { recursive: true, force: true });
    throw error;
  }
}
