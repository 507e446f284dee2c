import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../adapters/config-file.ts';
import type { ResolvedBaseModel } from '../adapters/models/acquire.ts';
import type { ResolvedChatTemplate } from '../adapters/models/chat-template-source.ts';
import type { AdapterRecord, RunRecord, Store } from '../adapters/store/sqlite-store.ts';
import { runWorker } from '../adapters/worker/worker-process.ts';
import { DpoConfigSchema } from '../contracts/config.ts';
import { TrainDpoSpecSchema, type PreferencePair, type PromptCompletionRecord, type WorkerEvent } from '../contracts/worker.ts';
import { contentHash } from '../core/content-hash.ts';
import { InvalidInputError } from '../core/errors.ts';
import { createRandom, randomInt } from '../core/random.ts';
import { baseModelRef, collectAdapter, readPromptCompletionFile, writeAtomic, type WorkerLaunch } from './train.ts';

export interface DpoResult {
  run: RunRecord;
  adapter: AdapterRecord;
  sftRunId: string;
  trainPairs: number;
  evalPairs: number;
  steps: number | null;
  trainLoss: number | null;
  seconds: number;
  /** Held-out mean log p(chosen) - log p(rejected), before and after DPO. */
  marginBefore: number | null;
  marginAfter: number | null;
  /** Share of held-out pairs ordered right (margin > 0), before and after. */
  preferenceAccuracyBefore: number | null;
  preferenceAccuracyAfter: number | null;
}

const words = (label: string): Set<string> => new Set(label.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean));

/**
 * The wrong label most easily confused with `gold`: the one sharing the most words with it (card_arrival vs
 * card_delivery_estimate), ties broken by a seeded draw. Hard negatives teach more than random ones.
 */
export function confusableLabel(gold: string, labels: readonly string[], random: ReturnType<typeof createRandom>): string {
  const others = labels.filter((label) => label !== gold);
  if (others.length === 0) throw new InvalidInputError('preference pairs need at least two labels', { field: 'task.output.labels' });
  const goldWords = words(gold);
  const overlap = (label: string): number => {
    const labelWords = words(label);
    const shared = [...labelWords].filter((word) => goldWords.has(word)).length;
    return shared / (goldWords.size + labelWords.size - shared || 1);
  };
  const best = Math.max(...others.map(overlap));
  const candidates = best > 0 ? others.filter((label) => overlap(label) === best) : others;
  return candidates[randomInt(random, candidates.length)]!;
}

/** Preference pairs from labelled prompt-completion records: chosen = the gold label, rejected = a confusable one. */
export function labelPreferencePairs(records: readonly PromptCompletionRecord[], labels: readonly string[], seed: number): PreferencePair[] {
  const random = createRandom(`dpo-pairs-${seed}`);
  return records.map((record) => {
    const gold = record.completion[0]!.content;
    return { prompt: record.prompt, chosen: [{ role: 'assistant', content: gold }], rejected: [{ role: 'assistant', content: confusableLabel(gold, labels, random) }] };
  });
}

/**
 * DPO after SFT (`understudy train --method dpo`): pairs built from the SFT run's own training examples, held-out
 * pairs from its validation split (which SFT never trained on), the SFT adapter as both starting point and frozen
 * reference. Registered as a run of method `dpo` with its own adapter.
 */
export async function trainDpo(input: {
  store: Store;
  python: string;
  base: ResolvedBaseModel;
  chatTemplate: ResolvedChatTemplate;
  loaded: LoadedConfig;
  runsDir: string;
  fromRunId?: string;
  launch?: WorkerLaunch;
  threads?: number;
  signal?: AbortSignal;
  onEvent?: (event: WorkerEvent) => void;
  onStderr?: (line: string) => void;
  onRun?: (run: RunRecord, sftRunId: string) => void;
}): Promise<DpoResult> {
  const { store, loaded } = input;
  const sftRun = input.fromRunId === undefined
    ? store.listRuns().find((run) => run.method === 'sft' && run.status === 'succeeded' && store.getAdapterForRun(run.id) !== undefined)
    : store.getRun(input.fromRunId);
  if (sftRun === undefined) {
    throw new InvalidInputError(input.fromRunId === undefined ? 'no succeeded SFT run to start DPO from' : `unknown run ${input.fromRunId}`, { field: '--from-run', hint: 'train with `understudy train` first, or see the runs with `understudy runs list`' });
  }
  if (sftRun.method !== 'sft' || sftRun.status !== 'succeeded') throw new InvalidInputError(`run ${sftRun.id} is a ${sftRun.status} ${sftRun.method} run; DPO starts from a succeeded SFT run`, { field: '--from-run' });
  if (sftRun.baseSha256 !== input.base.sha256) {
    throw new InvalidInputError(`run ${sftRun.id} was trained on base ${sftRun.baseSha256.slice(0, 12)}, not the configured ${input.base.name} (${input.base.sha256.slice(0, 12)})`, { field: 'baseModel' });
  }
  const sftAdapter = store.getAdapterForRun(sftRun.id);
  if (sftAdapter === undefined) {
    throw new InvalidInputError(`run ${sftRun.id} has no local adapter (a hosted fine-tune's weights stay with the service); DPO here starts from a local LoRA adapter`, { field: '--from-run' });
  }
  const sftDir = path.join(input.runsDir, sftRun.id);
  const trainRecords = readPromptCompletionFile(path.join(sftDir, 'train.jsonl'));
  const validationFile = path.join(sftDir, 'validation.jsonl');
  if (!existsSync(validationFile)) throw new InvalidInputError(`run ${sftRun.id} has no validation split to hold DPO pairs out from`, { file: validationFile, hint: 'train SFT with training.validationFraction > 0' });
  const validationRecords = readPromptCompletionFile(validationFile);
  const dpo = DpoConfigSchema.parse(loaded.config.training.dpo ?? {});
  const seed = loaded.config.training.seed ?? 42;
  const trainPairs = labelPreferencePairs(trainRecords, loaded.labels, seed);
  const evalPairs = labelPreferencePairs(validationRecords, loaded.labels, seed + 1);

  const trainText = trainPairs.map((pair) => JSON.stringify(pair)).join('\n') + '\n';
  const evalText = evalPairs.map((pair) => JSON.stringify(pair)).join('\n') + '\n';
  const training = {
    beta: dpo.beta,
    lossType: dpo.lossType,
    epochs: dpo.epochs,
    maxSteps: loaded.config.training.maxSteps !== undefined && loaded.config.training.maxSteps > 0 && dpo.maxSteps <= 0 ? loaded.config.training.maxSteps : dpo.maxSteps,
    learningRate: dpo.learningRate,
    batchSize: dpo.batchSize,
    gradientAccumulation: dpo.gradientAccumulation,
    maxLength: dpo.maxLength,
    warmupRatio: dpo.warmupRatio,
    scheduler: dpo.scheduler,
    seed,
    loggingSteps: 1,
    threads: input.threads ?? 0,
  };
  const run = store.startRun({
    datasetId: sftRun.datasetId,
    baseSha256: input.base.sha256,
    method: 'dpo',
    spec: {
      base: baseModelRef(input.base),
      fromRun: sftRun.id,
      sftAdapterSha256: sftAdapter.peftSha256,
      training,
      pairs: { train: trainPairs.length, eval: evalPairs.length, rejected: 'the most word-similar wrong label', trainSha256: contentHash(trainText), evalSha256: contentHash(evalText) },
      chatTemplate: input.chatTemplate.source,
      chatTemplateSha256: input.chatTemplate.sha256,
      baseSha256: input.base.sha256,
      launch: input.launch?.description ?? 'python',
    },
  });
  input.onRun?.(run, sftRun.id);
  const runDir = path.join(input.runsDir, run.id);
  const stagingDir = path.join(runDir, 'staging');
  mkdirSync(stagingDir, { recursive: true });
  const trainPath = path.join(runDir, 'pairs-train.jsonl');
  const evalPath = path.join(runDir, 'pairs-heldout.jsonl');
  writeAtomic(trainPath, trainText);
  writeAtomic(evalPath, evalText);
  const spec = TrainDpoSpecSchema.parse({
    command: 'train-dpo',
    base: baseModelRef(input.base),
    sftAdapterDir: sftAdapter.peftPath,
    trainPath,
    evalPath,
    training,
    outputDir: stagingDir,
    chatTemplate: input.chatTemplate.source,
  });
  try {
    const outcome = await runWorker({
      python: input.python,
      spec,
      signal: input.signal,
      onStderr: input.onStderr,
      ...(input.launch === undefined ? {} : { launcher: input.launch.launcher }),
      onEvent: (event) => {
        store.appendRunEvent(run.id, event);
        input.onEvent?.(event);
      },
    });
    const adapterFiles = await collectAdapter(outcome.events, stagingDir, runDir);
    const done = outcome.done;
    const summary = {
      sftRunId: sftRun.id,
      trainPairs: trainPairs.length,
      evalPairs: evalPairs.length,
      steps: done.steps ?? null,
      trainLoss: done.trainLoss ?? null,
      seconds: done.seconds,
      marginBefore: done.marginBefore ?? null,
      marginAfter: done.marginAfter ?? null,
      preferenceAccuracyBefore: done.preferenceAccuracyBefore ?? null,
      preferenceAccuracyAfter: done.preferenceAccuracyAfter ?? null,
    };
    const adapter = store.completeRun(run.id, summary, adapterFiles);
    return { run: store.getRun(run.id)!, adapter, ...summary };
  } catch (error) {
    store.failRun(run.id, input.signal?.aborted === true ? 'interrupted' : 'failed', error instanceof Error ? error.message : String(error));
    rmSync(stagingDir, { recursive: true, force: true });
    throw error;
  }
}
