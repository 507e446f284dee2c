import path from 'node:path';
import { defaultConfigText, loadConfigFile, parseConfigText, type LoadedConfig } from '../../../adapters/config-file.ts';
import { requireCatalogModel } from '../../../adapters/models/catalog.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../../../adapters/paths.ts';
import { runSlice, type SliceResult } from '../../../pipeline/run-slice.ts';
import type { Output, ProgressTask } from '../output.ts';

export interface DemoOptions {
  workspace: string;
  config?: string;
  quick?: boolean;
  /** A catalog model id to use as the base instead of the config's (the embedded default is SmolLM2-135M-Instruct). */
  base?: string;
  threads?: number;
  json?: boolean;
}

/** The embedded defaults, with data paths pointing at the bundled Banking77 copy. */
export function embeddedDemoConfig(quick: boolean): LoadedConfig {
  const text = defaultConfigText(path.relative(PACKAGE_ROOT, EXAMPLES_BANKING77_DIR));
  const loaded = parseConfigText(text, '<embedded defaults>', PACKAGE_ROOT);
  return quick ? applyQuick(loaded) : loaded;
}

/** A smoke-test sized run: a few real training steps and a small eval sample. */
export function applyQuick(loaded: LoadedConfig): LoadedConfig {
  const { config } = loaded;
  return {
    ...loaded,
    config: {
      ...config,
      training: { ...config.training, examplesPerLabel: 2, epochs: 1, maxSteps: 6, batchSize: 8, evalSteps: 3, saveSteps: 3, accuracySample: 8 },
      evaluation: { ...config.evaluation, sampleSize: 24, bootstrapIterations: 1000 },
    },
  };
}

/** The same run on another catalog base; checked before any setup, so a typo fails at once. */
export function withCatalogBase(loaded: LoadedConfig, id: string): LoadedConfig {
  requireCatalogModel(id, { field: '--base' });
  return { ...loaded, config: { ...loaded.config, baseModel: { catalog: id } } };
}

export async function runDemo(options: DemoOptions, output: Output): Promise<void> {
  const configured = options.config === undefined ? embeddedDemoConfig(options.quick === true) : (options.quick === true ? applyQuick(loadConfigFile(options.config)) : loadConfigFile(options.config));
  const loaded = options.base === undefined ? configured : withCatalogBase(configured, options.base);
  const workspace = path.resolve(options.workspace);
  const baseModel = loaded.config.baseModel;
  const baseName = 'catalog' in baseModel ? baseModel.catalog : baseModel.ggufPath;
  output.info(`understudy demo: task ${loaded.config.task.name}, base ${baseName}, workspace ${workspace}${options.quick === true ? ' (quick)' : ''}`);

  const controller = new AbortController();
  const interrupt = (): void => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  const setupTask = output.task('setup', 5, 'steps');
  let trainTask: ProgressTask | undefined;
  const evalTasks = new Map<string, ProgressTask>();
  let result: SliceResult;
  try {
    result = await runSlice(loaded, workspace, {
      threads: options.threads,
      signal: controller.signal,
      onSetup: (progress) => {
        setupTask.update(progress.step, { phase: progress.message }, progress.totalSteps);
        if (progress.phase === 'ready') setupTask.done(progress.message);
      },
      onModel: (message) => output.info(`base model: ${message}`),
      onTrainEvent: (event) => {
        if (event.event === 'started') output.info(`training on ${event.device} (torch ${event.torchVersion})`);
        if (event.event === 'progress') {
          trainTask ??= output.task('train', event.totalSteps, 'steps');
          trainTask.update(event.step, { loss: event.loss, 'tok/s': event.tokensPerSecond === null ? null : Math.round(event.tokensPerSecond) }, event.totalSteps);
        }
        if (event.event === 'done') trainTask?.done(`${event.steps ?? '?'} steps in ${Math.round(event.seconds)} s, final loss ${event.trainLoss?.toFixed(3) ?? '?'}`);
      },
      onEvalProgress: (candidate, done, total) => {
        let task = evalTasks.get(candidate);
        if (task === undefined) {
          task = output.task(`eval ${candidate}`, total, 'ex');
          evalTasks.set(candidate, task);
        }
        task.update(done);
        if (done === total) task.done(`${total} examples`);
      },
    });
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }

  if (!output.json) printSummary(result, output);
  output.result({ ok: true, command: 'demo', quick: options.quick === true, ...result });
}

function printSummary(result: SliceResult, output: Output): void {
  const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;
  const lines = [
    '',
    `${'candidate'.padEnd(16)} ${'accuracy'.padStart(8)} ${'95% CI'.padStart(15)} ${'macro-F1'.padStart(8)} ${'prompt tok'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)}`,
    ...result.candidates.map((candidate) => [
      candidate.name.padEnd(16),
      percent(candidate.accuracy).padStart(8),
      `${percent(candidate.accuracyInterval.low)}-${percent(candidate.accuracyInterval.high)}`.padStart(15),
      candidate.macroF1.toFixed(3).padStart(8),
      candidate.promptTokensMean.toFixed(0).padStart(10),
      candidate.latencyP50Ms.toFixed(0).padStart(8),
      candidate.latencyP95Ms.toFixed(0).padStart(8),
    ].join(' ')),
    '',
    `accuracy difference (tuned - base): ${percent(result.comparison.accuracyDifference.difference)}, paired bootstrap 95% CI [${percent(result.comparison.accuracyDifference.low)}, ${percent(result.comparison.accuracyDifference.high)}]`,
    `macro-F1 difference: ${result.comparison.macroF1Difference.difference.toFixed(3)} [${result.comparison.macroF1Difference.low.toFixed(3)}, ${result.comparison.macroF1Difference.high.toFixed(3)}]`,
    `exact McNemar: only base right ${result.comparison.mcnemar.b10}, only tuned right ${result.comparison.mcnemar.b01}, p = ${result.comparison.mcnemar.pValue.toPrecision(3)}`,
    `training: ${result.data.trainExamples} examples, ${result.training.steps ?? '?'} steps, ${Math.round(result.training.seconds)} s, ${Math.round(result.training.tokensPerSecond ?? 0)} tokens/s, final loss ${result.training.trainLoss?.toFixed(3) ?? '?'}`,
    `held-out: ${result.data.evalExamples} examples (dataset ${result.data.evalHash.slice(0, 12)}), ${result.data.droppedForOverlap} training rows dropped for overlapping it`,
    `adapter ${result.training.adapterId} (sha256 ${result.training.adapterSha256.slice(0, 16)}…), base ${result.base.name} (sha256 ${result.base.sha256.slice(0, 16)}…)`,
    `chat template: ${result.chatTemplate.origin === 'gguf' ? "the GGUF's own" : `built-in ${result.chatTemplate.family ?? ''}`} (sha256 ${result.chatTemplate.sha256.slice(0, 16)}…)`,
    `report: ${result.reportFile}`,
    `total: ${Math.round(result.totalSeconds)} s (setup ${Math.round(result.setupSeconds)} s)`,
  ];
  for (const line of lines) output.info(line);
}
