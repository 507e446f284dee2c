import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfigFile, type LoadedConfig } from '../../../adapters/config-file.ts';
import { openStore } from '../../../adapters/store/sqlite-store.ts';
import { ensureWorkerEnvironment } from '../../../adapters/worker/python-env.ts';
import type { TrainTarget } from '../../../contracts/config.ts';
import type { WorkerEvent } from '../../../contracts/worker.ts';
import { parseSshUrl } from '../../../adapters/remote/ssh-connection.ts';
import type { RunRecord } from '../../../adapters/store/sqlite-store.ts';
import { isDetached, trainSftRemote } from '../../../pipeline/train-remote.ts';
import { writeTrainBundle } from '../../../pipeline/train-bundle.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import type { ResolvedSft } from '../../../core/sft-defaults.ts';
import { prepareAccelerateLaunch } from '../../../pipeline/accelerate-launch.ts';
import { prepareClassificationData, prepareCuratedData, type PreparedData } from '../../../pipeline/prepare-data.ts';
import { resolveBaseChatTemplate, resolveBaseModel } from '../../../pipeline/run-slice.ts';
import { resumeSft, trainSft, type TrainResult, type WorkerLaunch } from '../../../pipeline/train.ts';
import { trainDpo, type DpoResult } from '../../../pipeline/train-dpo.ts';
import type { Output, ProgressTask } from '../output.ts';
import { embeddedDemoConfig, withCatalogBase } from './demo.ts';

export interface TrainOptions {
  workspace: string;
  config?: string;
  base?: string;
  method: 'sft' | 'dpo';
  /** `true` (newest unfinished run) or a run id. */
  resume?: boolean | string;
  /** dpo: the SFT run to start from (default: the newest succeeded SFT run). */
  fromRun?: string;
  maxSteps?: string;
  threads?: number;
  accelerate?: boolean;
  numProcesses?: string;
  distributed?: 'ddp' | 'fsdp';
  cpu?: boolean;
  /** `config` (the CSV files the config names) or `curated` (the workspace pool, after `understudy data ...`). */
  data?: 'config' | 'curated';
  /** With --data curated: share of synthetic examples in the train set. */
  syntheticRatio?: string;
  /** `ssh://user@host[:port]` or a target name from the config's `targets` (an SSH host or a hosted fine-tuning service). */
  on?: string;
  /** Write the run as a job bundle (`.tar.gz`) for Modal, Anyscale, Kubernetes... instead of training. */
  bundle?: string;
  /** Start a hosted fine-tuning job without asking to confirm its estimated cost. */
  yes?: boolean;
  json?: boolean;
}

function positiveInteger(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidInputError(`--${field} must be a positive integer, got ${JSON.stringify(value)}`, { field: `--${field}` });
  return number;
}

function loadTrainingConfig(options: TrainOptions): LoadedConfig {
  const loaded = options.config === undefined ? embeddedDemoConfig(false) : loadConfigFile(options.config);
  const withBase = options.base === undefined ? loaded : withCatalogBase(loaded, options.base);
  const maxSteps = positiveInteger(options.maxSteps, 'max-steps');
  if (maxSteps === undefined) return withBase;
  return { ...withBase, config: { ...withBase.config, training: { ...withBase.config.training, maxSteps } } };
}

/**
 * `understudy train`: LoRA SFT on the config's task (settings left out of the config are chosen from the data
 * size and printed with the reason), `--resume` to continue a killed run from its newest sealed checkpoint,
 * `--method dpo` to run DPO from an SFT adapter, `--accelerate` to launch the worker under `accelerate launch`.
 */
export async function runTrain(options: TrainOptions, output: Output): Promise<void> {
  if (options.bundle !== undefined && (options.on !== undefined || options.resume !== undefined || options.method === 'dpo' || options.accelerate === true)) {
    throw new InvalidInputError('--bundle writes a new SFT run as a job file: leave out --on, --resume, --accelerate and --method dpo', { field: '--bundle' });
  }
  if (options.resume !== undefined && options.method === 'dpo') throw new InvalidInputError('--resume continues SFT runs; DPO runs are short and restart', { field: '--resume' });
  const workspace = path.resolve(options.workspace);
  mkdirSync(workspace, { recursive: true });
  const runsDir = path.join(workspace, 'runs');
  const loaded = options.resume === undefined ? loadTrainingConfig(options) : undefined;
  const target = options.on === undefined ? undefined : resolveTrainTarget(options, loaded);
  if (target !== undefined && target.kind !== 'ssh') {
    const { runTrainHosted } = await import('./train-hosted.ts');
    await runTrainHosted({ workspace: options.workspace, ...(options.config === undefined ? {} : { config: options.config }), target: options.on!, yes: options.yes === true, json: options.json === true, data: options.data, ...(options.syntheticRatio === undefined ? {} : { syntheticRatio: options.syntheticRatio }), ...(options.maxSteps === undefined ? {} : { maxSteps: options.maxSteps }) }, output);
    return;
  }
  let launch: WorkerLaunch | undefined;
  if (options.accelerate === true) {
    const numProcesses = positiveInteger(options.numProcesses, 'num-processes') ?? 1;
    // Not forced to the CPU, a one-process launch uses a GPU when torch sees one (accelerate's own choice).
    const prepared = prepareAccelerateLaunch(workspace, { numProcesses, strategy: options.distributed ?? 'ddp', cpu: options.cpu === true });
    output.info(`accelerate config: ${prepared.configFile} (${prepared.description})`);
    launch = prepared;
  }

  const controller = new AbortController();
  const interrupt = (): void => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const store = openStore(path.join(workspace, 'understudy.db'));
  const printer = createTrainEventPrinter(output);
  const onEvent = printer.onEvent;
  const printSettings = (resolved: ResolvedSft): void => {
    if (output.json) return;
    const { lora, ...rest } = resolved.settings;
    const rows = [...Object.entries(rest), ...Object.entries(lora).map(([key, value]) => [`lora.${key}`, value] as const)];
    for (const [key, value] of rows) {
      const reason = resolved.reasons[key];
      output.info(`  ${key.padEnd(24)} ${JSON.stringify(value).padEnd(14)} ${reason === undefined ? '' : reason}`);
    }
  };
  try {
    // A remote run needs the worker's environment on the host, not here.
    const environment = target === undefined && options.bundle === undefined ? await ensureWorkerEnvironment({ onProgress: (progress) => output.info(`setup: ${progress.message}`) }) : { python: '' };
    if (options.method === 'dpo') {
      const config = loaded!;
      const base = await resolveBaseModel(config, (message) => output.info(`base model: ${message}`));
      const chatTemplate = await resolveBaseChatTemplate(config, base);
      const result: DpoResult = await trainDpo({
        store,
        python: environment.python,
        base,
        chatTemplate,
        loaded: config,
        runsDir,
        fromRunId: options.fromRun,
        launch,
        threads: options.threads,
        signal: controller.signal,
        onEvent,
        onStderr: () => undefined,
        onRun: (run, sftRunId) => output.info(`run ${run.id}: DPO from SFT run ${sftRunId}`),
      });
      if (!output.json) {
        output.info(`held-out preference margin (log p chosen - log p rejected): ${result.marginBefore?.toFixed(3) ?? '?'} -> ${result.marginAfter?.toFixed(3) ?? '?'}`);
        output.info(`pairs preferred correctly: ${formatShare(result.preferenceAccuracyBefore)} -> ${formatShare(result.preferenceAccuracyAfter)} (${result.evalPairs} held-out pairs)`);
        output.info(`adapter ${result.adapter.id}: ${result.adapter.ggufPath}`);
      }
      output.result({ ok: true, command: 'train', method: 'dpo', workspace, ...result });
      return;
    }

    let result: TrainResult;
    if (options.resume !== undefined) {
      result = await resumeSft({
        store,
        python: environment.python,
        runsDir,
        runId: typeof options.resume === 'string' ? options.resume : undefined,
        launch,
        signal: controller.signal,
        onEvent,
        onStderr: () => undefined,
        onRun: (run) => output.info(`resuming run ${run.id}`),
      });
    } else {
      const config = loaded!;
      const base = await resolveBaseModel(config, (message) => output.info(`base model: ${message}`));
      const chatTemplate = await resolveBaseChatTemplate(config, base);
      const ratio = options.syntheticRatio === undefined ? undefined : Number(options.syntheticRatio);
      if (ratio !== undefined && !(ratio >= 0 && ratio <= 1)) throw new InvalidInputError(`--synthetic-ratio must be between 0 and 1, got ${options.syntheticRatio}`, { field: '--synthetic-ratio' });
      if (ratio !== undefined && options.data !== 'curated') throw new InvalidInputError('--synthetic-ratio mixes the curated pool: use it with --data curated', { field: '--synthetic-ratio' });
      let data: PreparedData;
      let from = 'the config\'s files';
      if (options.data === 'curated') {
        const curated = prepareCuratedData(config, store, ratio === undefined ? {} : { syntheticRatio: ratio });
        from = `the curated pool, held-out v${curated.heldoutVersion}; ${curated.mixing.taken.synthetic} synthetic`;
        data = curated;
      } else data = prepareClassificationData(config, store);
      output.info(`data: ${data.train.examples.length} training examples from ${from} (dataset ${data.train.dataset.contentHash.slice(0, 12)}), held-out eval set untouched`);
      const onRun = (run: RunRecord, resolved: ResolvedSft): void => {
        output.info(`run ${run.id}: ${resolved.trainExamples} training + ${resolved.validationExamples} validation examples, ${resolved.totalSteps} steps; settings:`);
        printSettings(resolved);
        for (const warning of resolved.warnings) output.info(`warning: ${warning}`);
      };
      if (options.bundle !== undefined) {
        const written = await writeTrainBundle({ store, base, chatTemplate, datasetId: data.train.dataset.id, training: config.config.training, runsDir, bundle: options.bundle, onRun });
        if (!output.json) {
          output.info(`bundle ${written.bundle} (${(written.bytes / 1024 ** 2).toFixed(1)} MiB, ${Object.keys(written.manifest.files).length} files) for run ${written.runId}`);
          output.info(`run it where the GPUs are: tar -xzf ${path.basename(written.bundle)} && sh understudy-job/run.sh   (PYTHON=<python with the worker packages>)`);
          output.info(`then bring its out/ back: understudy runs import <out folder or out.tar.gz> --workspace ${options.workspace}`);
        }
        output.result({ ok: true, command: 'train', method: 'sft', workspace, ...written });
        return;
      }
      if (target?.kind === 'ssh') {
        const remote = await trainSftRemote({
          store,
          base,
          chatTemplate,
          datasetId: data.train.dataset.id,
          training: config.config.training,
          runsDir,
          target,
          targetLabel: options.on!,
          signal: controller.signal,
          onEvent,
          onStage: (message) => output.info(message),
          onRun,
        }).catch((error: unknown) => {
          if (isDetached(error)) printer.done('detached: the run goes on at the host');
          throw error;
        });
        result = remote;
      } else result = await trainSft({
        store,
        python: environment.python,
        base,
        chatTemplate,
        datasetId: data.train.dataset.id,
        training: config.config.training,
        runsDir,
        threads: options.threads,
        launch,
        signal: controller.signal,
        onEvent,
        onStderr: () => undefined,
        onRun,
      });
    }
    if (!output.json) {
      const best = result.bestStep === null ? '' : `, best validation loss ${result.bestEvalLoss?.toFixed(4) ?? '?'} at step ${result.bestStep}${result.stoppedEarly ? ' (stopped early)' : ''}`;
      output.info(`run ${result.run.id}: ${result.steps ?? '?'} steps, final loss ${result.trainLoss?.toFixed(4) ?? '?'}${best}, ${Math.round(result.tokensPerSecond ?? 0)} tokens/s`);
      if (result.resumedFromStep !== null) output.info(`resumed from the checkpoint at step ${result.resumedFromStep}`);
      output.info(`adapter ${result.adapter.id}: ${result.adapter.ggufPath} (PEFT: ${result.adapter.peftPath})`);
      output.info(`see it with: understudy runs show ${result.run.id} --workspace ${options.workspace}`);
    }
    output.result({ ok: true, command: 'train', method: 'sft', workspace, ...result });
  } finally {
    store.close();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/** Worker events as a person follows them: a step bar with loss and tokens/s, validations, checkpoints. */
export function createTrainEventPrinter(output: Output): { onEvent: (event: WorkerEvent) => void; done: (message: string) => void } {
  let trainTask: ProgressTask | undefined;
  const onEvent = (event: WorkerEvent): void => {
    if (event.event === 'started') output.info(`training on ${event.device} (torch ${event.torchVersion})`);
    if (event.event === 'log') output.info(`worker: ${event.message}`);
    if (event.event === 'progress') {
      trainTask ??= output.task('train', event.totalSteps, 'steps');
      trainTask.update(event.step, { loss: event.loss, 'tok/s': event.tokensPerSecond === null ? null : Math.round(event.tokensPerSecond) }, event.totalSteps);
    }
    if (event.event === 'eval') {
      const accuracy = event.accuracy === null || event.accuracy === undefined ? '' : `, accuracy ${(event.accuracy * 100).toFixed(1)}% of ${event.accuracySample ?? '?'}`;
      const margin = event.margin === null || event.margin === undefined ? '' : `, margin ${event.margin.toFixed(3)}`;
      output.info(`validation at step ${event.step}: loss ${event.evalLoss?.toFixed(4) ?? '?'}${accuracy}${margin}${event.best === true ? ' (best)' : ''}`);
    }
    if (event.event === 'checkpoint') output.info(`checkpoint at step ${event.step}: ${event.path}`);
    if (event.event === 'done') trainTask?.done(`${event.steps ?? '?'} steps in ${Math.round(event.seconds)} s, final loss ${event.trainLoss?.toFixed(3) ?? '?'}`);
  };
  return { onEvent, done: (message) => trainTask?.done(message) };
}

/** `--on`: an ssh:// address, or a target named in the config. Checked before anything is prepared. */
function resolveTrainTarget(options: TrainOptions, loaded: LoadedConfig | undefined): TrainTarget {
  if (options.resume !== undefined) throw new InvalidInputError('--resume continues a local run; a remote run is followed again with `understudy runs attach <id>`', { field: '--on' });
  if (options.accelerate === true) throw new InvalidInputError('--accelerate launches here; on a remote host the worker picks its GPU itself', { field: '--on' });
  const wanted = options.on!;
  const target: TrainTarget | undefined = wanted.startsWith('ssh://') ? parseSshUrl(wanted) : loaded?.config.targets[wanted];
  if (target === undefined) {
    const names = Object.keys(loaded?.config.targets ?? {});
    throw new InvalidInputError(`no training target named ${wanted}`, { file: loaded?.file, field: 'targets', hint: names.length === 0 ? 'add one under targets: in the config, or pass --on ssh://user@host[:port]' : `the config names: ${names.join(', ')}` });
  }
  if (target.kind === 'ssh' && options.method === 'dpo') throw new InvalidInputError('remote training runs SFT for now; run DPO here after fetching the SFT adapter', { field: '--method' });
  if (target.kind !== 'ssh' && options.method === 'dpo') throw new InvalidInputError('hosted fine-tuning here runs supervised jobs', { field: '--method' });
  return target;
}

function formatShare(value: number | null): string {
  return value === null ? '?' : `${(value * 100).toFixed(1)}%`;
}
