import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { loadConfigFile, type LoadedConfig } from '../../../adapters/config-file.ts';
import type { Sleep } from '../../../adapters/finetune/fine-tuning-http.ts';
import { openStore } from '../../../adapters/store/sqlite-store.ts';
import type { HostedFineTuneTarget } from '../../../contracts/config.ts';
import type { WorkerEvent } from '../../../contracts/worker.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { prepareClassificationData, prepareCuratedData, type PreparedData } from '../../../pipeline/prepare-data.ts';
import { trainHosted, type HostedTrainingEstimate } from '../../../pipeline/train-hosted.ts';
import type { Output, ProgressTask } from '../output.ts';
import { embeddedDemoConfig } from './demo.ts';

export interface TrainHostedOptions {
  workspace: string;
  config?: string;
  /** A name under the config's `targets` of kind `openai-finetune` or `together-finetune`. */
  target: string;
  /** Start without asking to confirm the estimated cost. */
  yes?: boolean;
  json?: boolean;
  /** `config` (the CSV files the config names) or `curated` (the workspace pool). */
  data?: 'config' | 'curated';
  /** With --data curated: share of synthetic examples in the train set. */
  syntheticRatio?: string;
  /** Refused: hosted services train whole epochs. */
  maxSteps?: string;
}

/** What the command reads from its surroundings; tests replace them. */
export interface TrainHostedEnvironment {
  /** Asks the question on the terminal; default readline on stdin/stderr. */
  ask?: (question: string) => Promise<string>;
  /** Whether a person can be asked; default: stdin and stderr are terminals. */
  interactive?: boolean;
  environment?: NodeJS.ProcessEnv;
  fetch?: typeof globalThis.fetch;
  sleep?: Sleep;
}

/**
 * `understudy train --on <target>` for a hosted fine-tuning target: the data is prepared as for a local run, the
 * job's cost is estimated and confirmed (`--yes`, or a question on the terminal), the job runs at the service with
 * its events stored in the run, and the fine-tuned model is registered for `eval` and `serve` (`adapter:<run id>`).
 */
export async function runTrainHosted(options: TrainHostedOptions, output: Output, surroundings: TrainHostedEnvironment = {}): Promise<void> {
  if (options.maxSteps !== undefined) {
    throw new InvalidInputError('--max-steps does not apply to a hosted fine-tuning service: it trains whole epochs', { field: '--max-steps', hint: 'set training.epochs in the config instead' });
  }
  const loaded: LoadedConfig = options.config === undefined ? embeddedDemoConfig(false) : loadConfigFile(options.config);
  const target = hostedTarget(loaded, options.target);
  const ratio = options.syntheticRatio === undefined ? undefined : Number(options.syntheticRatio);
  if (ratio !== undefined && !(ratio >= 0 && ratio <= 1)) throw new InvalidInputError(`--synthetic-ratio must be between 0 and 1, got ${options.syntheticRatio}`, { field: '--synthetic-ratio' });
  if (ratio !== undefined && options.data !== 'curated') throw new InvalidInputError('--synthetic-ratio mixes the curated pool: use it with --data curated', { field: '--synthetic-ratio' });

  const workspace = path.resolve(options.workspace);
  mkdirSync(workspace, { recursive: true });
  const controller = new AbortController();
  const interrupt = (): void => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const store = openStore(path.join(workspace, 'understudy.db'));
  try {
    let data: PreparedData;
    let from = "the config's files";
    if (options.data === 'curated') {
      const curated = prepareCuratedData(loaded, store, ratio === undefined ? {} : { syntheticRatio: ratio });
      from = `the curated pool, held-out v${curated.heldoutVersion}; ${curated.mixing.taken.synthetic} synthetic`;
      data = curated;
    } else data = prepareClassificationData(loaded, store);
    output.info(`data: ${data.train.examples.length} training examples from ${from} (dataset ${data.train.dataset.contentHash.slice(0, 12)}), held-out eval set untouched`);

    let trainTask: ProgressTask | undefined;
    const onEvent = (event: WorkerEvent, hosted?: { type: string }): void => {
      // A metrics event's numbers go to the progress bar; its message would repeat them.
      if (event.event === 'log' && hosted?.type !== 'metrics') output.info(event.message);
      if (event.event === 'progress') {
        trainTask ??= output.task('train', event.totalSteps, 'steps');
        trainTask.update(event.step, { loss: event.loss }, event.totalSteps);
      }
      if (event.event === 'eval') output.info(`validation at step ${event.step}: loss ${event.evalLoss?.toFixed(4) ?? '?'}`);
      if (event.event === 'done') trainTask?.done(`${event.steps ?? '?'} steps in ${Math.round(event.seconds)} s${event.trainLoss === null || event.trainLoss === undefined ? '' : `, final loss ${event.trainLoss.toFixed(3)}`}`);
    };
    const confirm = async (estimate: HostedTrainingEstimate): Promise<boolean> => {
      printEstimate(output, options.target, estimate);
      if (options.yes === true) return true;
      const interactive = surroundings.interactive ?? (process.stdin.isTTY === true && process.stderr.isTTY === true);
      if (!interactive) {
        throw new InvalidInputError(`starting the job costs ${formatUsd(estimate)}, and there is no terminal to ask for confirmation`, { field: '--yes', hint: 'pass --yes to start it' });
      }
      const answer = await (surroundings.ask ?? askOnTerminal)('Start the job? [y/N] ');
      return /^\s*y(es)?\s*$/i.test(answer);
    };

    const outcome = await trainHosted({
      store,
      datasetId: data.train.dataset.id,
      training: loaded.config.training,
      targetName: options.target,
      target,
      pricing: loaded.config.pricing,
      runsDir: path.join(workspace, 'runs'),
      confirm,
      signal: controller.signal,
      ...(surroundings.environment === undefined ? {} : { environment: surroundings.environment }),
      ...(surroundings.fetch === undefined ? {} : { fetch: surroundings.fetch }),
      ...(surroundings.sleep === undefined ? {} : { sleep: surroundings.sleep }),
      onRun: (run) => output.info(`run ${run.id}: uploading to ${target.kind} (${target.baseUrl})`),
      // Status changes arrive as log events; the job itself only ends the progress bar.
      onEvent,
    });
    if (!outcome.started) {
      output.info('not started: nothing was uploaded');
      output.result({ ok: true, command: 'train', target: options.target, started: false, estimate: outcome.estimate });
      return;
    }
    if (!output.json) {
      output.info(`run ${outcome.run.id}: ${outcome.model.model} fine-tuned at ${target.kind} (job ${outcome.jobId}) in ${Math.round(outcome.seconds)} s`);
      const billed = outcome.billedTokens === null ? `billed tokens not reported by ${target.kind}` : `${outcome.billedTokens} billed`;
      const cost = outcome.costUsd === null ? 'unknown' : `$${outcome.costUsd.toFixed(2)} (${outcome.billedTokens === null ? 'estimated tokens' : 'billed tokens'} × the price)`;
      output.info(`tokens: ${outcome.trainedTokens ?? 'not reported'} trained, ${billed}; cost ${cost}`);
      if (outcome.verification !== null) output.info(`test call answered: ${JSON.stringify(outcome.verification.answer.slice(0, 80))}`);
      output.info(`evaluate it with a candidate { kind: adapter, run: ${outcome.run.id} } or serve it as adapter:${outcome.run.id}`);
      output.info(`see it with: understudy runs show ${outcome.run.id} --workspace ${options.workspace}`);
    }
    output.result({ ok: true, command: 'train', method: 'sft', target: options.target, workspace, ...outcome });
  } finally {
    store.close();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

function hostedTarget(loaded: LoadedConfig, name: string): HostedFineTuneTarget {
  const target = loaded.config.targets[name];
  const known = Object.keys(loaded.config.targets);
  if (target === undefined) {
    throw new InvalidInputError(`no target named ${JSON.stringify(name)}`, {
      file: loaded.file,
      field: `targets.${name}`,
      hint: known.length === 0 ? 'add one under `targets:`, e.g. { kind: openai-finetune, baseUrl: https://api.openai.com/v1, apiKeyEnv: OPENAI_API_KEY, model: gpt-4.1-mini-2025-04-14 }' : `targets in the config: ${known.join(', ')}`,
    });
  }
  if (target.kind === 'ssh') throw new InvalidInputError(`target ${name} is an SSH host, not a hosted fine-tuning service`, { file: loaded.file, field: `targets.${name}.kind` });
  return target;
}

function formatUsd(estimate: HostedTrainingEstimate): string {
  return estimate.usd === null ? 'an unknown amount' : `about $${estimate.usd.toFixed(2)}`;
}

function printEstimate(output: Output, name: string, estimate: HostedTrainingEstimate): void {
  output.info(`hosted fine-tune of ${estimate.model} at ${estimate.service} (target ${name}): ${estimate.trainExamples} training + ${estimate.validationExamples} validation examples`);
  output.info(`  tokens: ~${estimate.tokensPerEpoch.toLocaleString('en-US')} per epoch × ${estimate.epochs} epochs = ~${estimate.billedTokens.toLocaleString('en-US')} billed (${estimate.tokenMethod})`);
  if (estimate.price === null) output.info(`  cost: unknown: ${estimate.unknownReason ?? 'no price'}`);
  else {
    output.info(`  cost: ${formatUsd(estimate)} at $${estimate.price.usdPerMillionTokens} per million training tokens`);
    output.info(`  price from: ${estimate.price.source}`);
  }
  for (const warning of estimate.warnings) output.info(`  warning: ${warning}`);
}

/** One question on the terminal; Ctrl-C at the prompt answers no. */
async function askOnTerminal(question: string): Promise<string> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  const cancel = new AbortController();
  terminal.once('SIGINT', () => cancel.abort());
  try {
    return await terminal.question(question, { signal: cancel.signal });
  } catch {
    return '';
  } finally {
    terminal.close();
  }
}
