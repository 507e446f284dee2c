// `npm run bench:eval [-- --size N] [-- --concurrency 4,8,16] [-- --adapter file.gguf]`: label-constrained greedy
// evaluation of Banking77 test examples on a tuned LoRA adapter through the embedded provider, one request at a time
// vs N requests in flight on an engine with N parallel sequences, side by side in one run. Every mode answers every
// example: the examples are cut into blocks and each block runs every mode, the order rotated from block to block, so
// load and thermal drift hit all modes alike, and the answers can be compared example by example.
// Progress goes to stderr; stdout gets the table, the target and, as its last line, one JSON object.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { baseOption, cpuModel, optionParsers } from './bench-machine.ts';
import { mapConcurrently } from '../src/core/map-concurrently.ts';
import type { LoadedConfig } from '../src/adapters/config-file.ts';
import { createEmbeddedProvider } from '../src/adapters/llm/embedded-provider.ts';
import { createCpuLlama, createLlamaCppEngine, type LlamaCppEngine } from '../src/adapters/llm/llama-cpp-engine.ts';
import type { ChatProvider } from '../src/contracts/provider.ts';
import { openStore, type StoredExample } from '../src/adapters/store/sqlite-store.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { contentHash } from '../src/core/content-hash.ts';
import { InvalidInputError, UnderstudyError } from '../src/core/errors.ts';
import { shuffle } from '../src/core/random.ts';
import { mean, p50p95 } from '../src/core/statistics.ts';
import { classificationMessages, prepareClassificationData } from '../src/pipeline/prepare-data.ts';
import { resolveBaseChatTemplate, resolveBaseModel } from '../src/pipeline/run-slice.ts';
import { trainSft, writeAtomic } from '../src/pipeline/train.ts';
import { embeddedDemoConfig } from '../src/surfaces/cli/commands/demo.ts';

/** The issue's target: examples/s with the engine's concurrency over one request at a time. */
const TARGET_SPEEDUP = 2;
/** The eval sample drawn from test.csv (stratified, seeded); `--size` takes a seeded prefix of it. */
const SAMPLE_SIZE = 1000;
const SAMPLE_SEED = 'bench-eval';

const USAGE = `usage: npm run bench:eval -- [options]
  --size N               examples evaluated by every mode (default 1000, at most 1000)
  --concurrency LIST     requests in flight = engine sequences, comma-separated (default 4,8,16)
  --blocks N             blocks the examples are cut into; each runs every mode, order rotated (default 4)
  --adapter FILE         a GGUF LoRA adapter for SmolLM2-135M-Instruct trained on this task (skips training)
  --workspace DIR        where the trained adapter is kept between runs (default: <tmp>/understudy-bench-eval)
  --train-steps N        optimizer steps when training (default 40)
  --examples-per-label N training examples per label (default 10)
  --threads N            llama.cpp threads (default: one per core)
  --contexts N           llama.cpp contexts for the concurrent modes, each with threads/N threads (at least one) and
                         its share of the sequences (default: two per core, one thread each: while one context's
                         thread waits on Node's, the other keeps the core busy)
  --context-size N       engine tokens per sequence (default 256)
  --flash-attention on|off   llama.cpp flash attention (default off, the engine's default)
  --reuse-prefix on|off  keep each sequence's evaluated prompt and evaluate only what differs (default on, the engine's default)
  --base q4_0|q4_1       the packaged Q4_1 GGUF or its Q4_0 copy (default q4_0: baseModel.requantize, which llama.cpp
                         repacks for batched kernels on AVX2/ARM); the adapter is trained on the same file`;

interface BenchOptions {
  size: number;
  concurrency: number[];
  blocks: number;
  adapter?: string;
  workspace: string;
  trainSteps: number;
  examplesPerLabel: number;
  threads: number;
  contextSize: number;
  flashAttention: boolean;
  reusePrefix: boolean;
  base: 'q4_0' | 'q4_1';
  contexts: number;
}

function readOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: String(SAMPLE_SIZE) },
      concurrency: { type: 'string', default: '4,8,16' },
      blocks: { type: 'string', default: '4' },
      adapter: { type: 'string' },
      workspace: { type: 'string', default: path.join(os.tmpdir(), 'understudy-bench-eval') },
      'train-steps': { type: 'string', default: '40' },
      'examples-per-label': { type: 'string', default: '10' },
      threads: { type: 'string', default: String(os.availableParallelism()) },
      'context-size': { type: 'string', default: '256' },
      'flash-attention': { type: 'string', default: 'off' },
      'reuse-prefix': { type: 'string', default: 'on' },
      base: { type: 'string', default: 'q4_0' },
      contexts: { type: 'string', default: String(2 * os.availableParallelism()) },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const { positive, onOff } = optionParsers(USAGE);
  const size = positive('size', values.size);
  if (size > SAMPLE_SIZE) throw new InvalidInputError(`--size must be at most ${SAMPLE_SIZE}, got ${size}`, { field: 'size', hint: USAGE });
  const concurrency = [...new Set(values.concurrency.split(',').map((part) => positive('concurrency', part.trim())))];
  if (concurrency.some((level) => level < 2)) throw new InvalidInputError('--concurrency levels must be at least 2 (one at a time always runs)', { field: 'concurrency', hint: USAGE });
  const adapter = values.adapter === undefined ? undefined : path.resolve(values.adapter);
  if (adapter !== undefined && !existsSync(adapter)) throw new InvalidInputError(`--adapter ${adapter} does not exist`, { file: adapter, field: 'adapter' });
  return {
    size,
    concurrency,
    blocks: Math.min(positive('blocks', values.blocks), size),
    adapter,
    workspace: path.resolve(values.workspace),
    trainSteps: positive('train-steps', values['train-steps']),
    examplesPerLabel: positive('examples-per-label', values['examples-per-label']),
    threads: positive('threads', values.threads),
    contextSize: positive('context-size', values['context-size']),
    flashAttention: onOff('flash-attention', values['flash-attention']),
    reusePrefix: onOff('reuse-prefix', values['reuse-prefix']),
    base: baseOption(values.base, USAGE),
    contexts: positive('contexts', values.contexts),
  };
}

const log = (message: string): void => {
  process.stderr.write(`[bench:eval] ${message}\n`);
};

/** The demo's embedded Banking77 config with a 1,000-example eval sample and a small, quick training run. */
function benchConfig(options: BenchOptions): LoadedConfig {
  const loaded = embeddedDemoConfig(false);
  const { config } = loaded;
  return {
    ...loaded,
    config: {
      ...config,
      training: { ...config.training, examplesPerLabel: options.examplesPerLabel, maxSteps: options.trainSteps, validationFraction: 0, evalSteps: 0, saveSteps: 0 },
      evaluation: { ...config.evaluation, sampleSize: SAMPLE_SIZE },
      ...(options.base === 'q4_0' && 'catalog' in config.baseModel ? { baseModel: { ...config.baseModel, requantize: 'q4_0' as const } } : {}),
    },
  };
}

interface AdapterInfo {
  ggufPath: string;
  /** Where it came from, for the report. */
  origin: string;
  training: { steps: number | null; seconds: number; trainLoss: number | null; examples: number } | null;
}

interface CachedAdapter {
  key: string;
  ggufPath: string;
  training: NonNullable<AdapterInfo['training']>;
}

/**
 * Draw the eval sample and get the adapter: `--adapter`, the one cached in the workspace for the same base, template,
 * training data and settings, or a new one trained with `trainSft` (then cached).
 */
async function prepareExamplesAndAdapter(options: BenchOptions): Promise<{ examples: StoredExample[]; labels: string[]; systemPrompt: string; modelPath: string; chatTemplate: string; adapter: AdapterInfo }> {
  const loaded = benchConfig(options);
  const base = await resolveBaseModel(loaded, log);
  const template = await resolveBaseChatTemplate(loaded, base);
  mkdirSync(options.workspace, { recursive: true });
  const store = openStore(options.adapter === undefined ? path.join(options.workspace, 'understudy.db') : ':memory:');
  try {
    const data = prepareClassificationData(loaded, store);
    // The stratified sample keeps test.csv's order (grouped by label): shuffled, so any prefix spreads over the labels.
    const examples = shuffle(data.eval.examples, SAMPLE_SEED).slice(0, options.size);
    const common = { examples, labels: loaded.labels, systemPrompt: loaded.config.task.systemPrompt, modelPath: base.ggufPath, chatTemplate: template.source };
    if (options.adapter !== undefined) return { ...common, adapter: { ggufPath: options.adapter, origin: `--adapter ${options.adapter}`, training: null } };

    const key = contentHash({ base: base.sha256, template: template.sha256, train: data.train.dataset.id, training: loaded.config.training });
    const cacheFile = path.join(options.workspace, 'adapter-cache.json');
    if (existsSync(cacheFile)) {
      const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as CachedAdapter;
      if (cached.key === key && existsSync(cached.ggufPath)) {
        log(`reusing the adapter trained earlier: ${cached.ggufPath}`);
        return { ...common, adapter: { ggufPath: cached.ggufPath, origin: `trained earlier (${cached.training.steps ?? '?'} steps on ${cached.training.examples} examples), cached in ${options.workspace}`, training: cached.training } };
      }
    }
    const environment = await ensureWorkerEnvironment({ onProgress: (progress) => log(progress.message) });
    log(`training a LoRA adapter (${data.train.examples.length} examples, ${options.trainSteps} steps) in ${options.workspace}`);
    const result = await trainSft({
      store,
      python: environment.python,
      base,
      chatTemplate: template,
      datasetId: data.train.dataset.id,
      training: loaded.config.training,
      runsDir: path.join(options.workspace, 'runs'),
      threads: options.threads,
      onEvent: (event) => {
        if (event.event === 'progress') log(`  train step ${event.step}/${event.totalSteps} loss ${event.loss?.toFixed(3) ?? '-'}`);
      },
    });
    const training = { steps: result.steps, seconds: result.seconds, trainLoss: result.trainLoss, examples: data.train.examples.length };
    writeAtomic(cacheFile, JSON.stringify({ key, ggufPath: result.adapter.ggufPath, training } satisfies CachedAdapter, null, 2));
    return { ...common, adapter: { ggufPath: result.adapter.ggufPath, origin: `trained here (${result.steps ?? '?'} steps on ${training.examples} examples)`, training } };
  } finally {
    store.close();
  }
}

/** One evaluation setting: requests in flight, on an engine with that many sequences. */
interface Mode {
  name: string;
  concurrency: number;
  threads: number;
  contexts: number;
  engine: LlamaCppEngine;
  provider: ChatProvider;
}

interface Answer {
  output: string;
  latencyMs: number;
  promptTokens: number;
  reusedPromptTokens: number;
  completionTokens: number;
}

interface ModeFigures {
  mode: string;
  concurrency: number;
  threads: number;
  contexts: number;
  examples: number;
  wallSeconds: number;
  examplesPerSecond: number;
  meanLatencyMs: number;
  p50LatencyMs: number;
  p95LatencyMs: number;
  meanPromptTokens: number;
  meanEvaluatedPromptTokens: number;
  meanCompletionTokens: number;
  accuracy: number;
  speedup: number;
  /** Examples whose answer differs from the one-at-a-time answer. */
  differentAnswers: number;
}

const format = (value: number, digits = 1): string => value.toFixed(digits);
const pad = (cells: readonly string[], widths: readonly number[]): string => cells.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ');

async function main(): Promise<void> {
  const options = readOptions(process.argv.slice(2));
  const machine = { cpu: cpuModel(), cores: os.availableParallelism(), memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  log(`machine: ${machine.cpu}, ${machine.cores} cores; ${options.size} examples; concurrency 1 vs ${options.concurrency.join(', ')}; ${options.threads} llama.cpp threads`);
  const prepared = await prepareExamplesAndAdapter(options);
  const { examples, labels } = prepared;
  const request = (input: string): Parameters<ChatProvider['complete']>[0] => ({
    messages: classificationMessages(prepared.systemPrompt, input),
    maxTokens: 24,
    constraint: { kind: 'labels', labels },
  });

  const llama = await createCpuLlama();
  const modes: Mode[] = [];
  try {
    // The baseline is the faster of two one-at-a-time settings, all threads on the one request or a single thread:
    // on a small machine llama.cpp's thread barriers can make one thread the faster way to serve one request.
    const settings = [
      { name: `one at a time, ${options.threads} thr`, concurrency: 1, threads: options.threads, contexts: 1 },
      ...(options.threads > 1 ? [{ name: 'one at a time, 1 thr', concurrency: 1, threads: 1, contexts: 1 }] : []),
      ...options.concurrency.map((concurrency) => {
        const contexts = Math.min(options.contexts, concurrency);
        return { name: `${concurrency} concurrent${contexts > 1 ? `, ${contexts} ctx` : ''}`, concurrency, threads: options.threads, contexts };
      }),
    ];
    for (const setting of settings) {
      const engine = await createLlamaCppEngine({
        llama,
        modelPath: prepared.modelPath,
        adapterPath: prepared.adapter.ggufPath,
        chatTemplate: prepared.chatTemplate,
        sequences: setting.concurrency,
        parallelContexts: setting.contexts,
        contextSize: options.contextSize,
        threads: setting.threads,
        flashAttention: options.flashAttention,
        reusePrefix: options.reusePrefix,
      });
      modes.push({ ...setting, engine, provider: createEmbeddedProvider({ engine }) });
    }
    // Warm-up, not measured: the label grammar is compiled per engine and every sequence gets the system prompt.
    const warmup = shuffle(examples, 'warmup').slice(0, 16).map((example) => example.input);
    for (const mode of modes) await mapConcurrently(warmup, mode.concurrency, (input) => mode.provider.complete(request(input)));

    const answers = new Map<string, Answer[]>(modes.map((mode) => [mode.name, new Array<Answer>(examples.length)]));
    const wallMs = new Map<string, number>(modes.map((mode) => [mode.name, 0]));
    const phases: { block: number; mode: string; examples: number; seconds: number; loadAverage: number }[] = [];
    const blockSize = Math.ceil(examples.length / options.blocks);
    for (let block = 0; block < options.blocks; block++) {
      const start = block * blockSize;
      const blockExamples = examples.slice(start, start + blockSize);
      if (blockExamples.length === 0) break;
      const order = modes.map((_, index) => modes[(index + block) % modes.length]!);
      for (const mode of order) {
        const started = performance.now();
        const results = await mapConcurrently(blockExamples, mode.concurrency, async (example) => {
          const result = await mode.provider.complete(request(example.input));
          return {
            output: result.text.trim(),
            latencyMs: result.latency.totalMs,
            promptTokens: result.usage?.promptTokens ?? 0,
            reusedPromptTokens: result.usage?.cachedPromptTokens ?? 0,
            completionTokens: result.usage?.completionTokens ?? 0,
          } satisfies Answer;
        });
        const elapsed = performance.now() - started;
        wallMs.set(mode.name, wallMs.get(mode.name)! + elapsed);
        results.forEach((answer, index) => (answers.get(mode.name)![start + index] = answer));
        phases.push({ block: block + 1, mode: mode.name, examples: blockExamples.length, seconds: elapsed / 1000, loadAverage: os.loadavg()[0]! });
        log(`block ${block + 1}/${options.blocks}, ${mode.name}: ${blockExamples.length} examples in ${format(elapsed / 1000)} s (${format(blockExamples.length / (elapsed / 1000), 2)} examples/s, load ${format(os.loadavg()[0]!, 2)})`);
      }
    }

    const sequential = answers.get(modes[0]!.name)!;
    const figures: ModeFigures[] = modes.map((mode) => {
      const rows = answers.get(mode.name)!;
      const latencies = rows.map((row) => row.latencyMs);
      const { p50, p95 } = p50p95(latencies);
      const seconds = wallMs.get(mode.name)! / 1000;
      return {
        mode: mode.name,
        concurrency: mode.concurrency,
        threads: mode.threads,
        contexts: mode.contexts,
        examples: rows.length,
        wallSeconds: seconds,
        examplesPerSecond: rows.length / seconds,
        meanLatencyMs: mean(latencies),
        p50LatencyMs: p50,
        p95LatencyMs: p95,
        meanPromptTokens: mean(rows.map((row) => row.promptTokens)),
        meanEvaluatedPromptTokens: mean(rows.map((row) => row.promptTokens - row.reusedPromptTokens)),
        meanCompletionTokens: mean(rows.map((row) => row.completionTokens)),
        accuracy: rows.filter((row, index) => row.output === examples[index]!.label).length / rows.length,
        speedup: 0,
        differentAnswers: rows.filter((row, index) => row.output !== sequential[index]!.output).length,
      };
    });
    const baseline = figures.filter((entry) => entry.concurrency === 1).reduce((left, right) => (right.examplesPerSecond > left.examplesPerSecond ? right : left));
    for (const entry of figures) entry.speedup = entry.examplesPerSecond / baseline.examplesPerSecond;
    const best = figures.filter((entry) => entry.concurrency > 1).reduce((left, right) => (right.speedup > left.speedup ? right : left));
    const pass = best.speedup >= TARGET_SPEEDUP;
    const disagreements = figures.slice(1).flatMap((entry) =>
      answers.get(entry.mode)!.flatMap((row, index) => (row.output === sequential[index]!.output ? [] : [{ mode: entry.mode, input: examples[index]!.input, oneAtATime: sequential[index]!.output, concurrent: row.output }])),
    );

    const lines: string[] = [];
    lines.push(`Eval benchmark: SmolLM2-135M-Instruct (${path.basename(prepared.modelPath)}) + LoRA adapter (${prepared.adapter.origin}), Banking77 test, label-constrained greedy decoding through the embedded provider`);
    lines.push(`Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; Node ${machine.node}`);
    lines.push(`Engine: ${options.threads} threads in all (a mode with N contexts gives each ${options.threads}/N), context ${modes[0]!.engine.contextSize}/sequence, flash attention ${options.flashAttention ? 'on' : 'off'}, prefix reuse ${options.reusePrefix ? 'on' : 'off'}; sequences = requests in flight`);
    lines.push(`Examples: ${examples.length} (seeded, label-stratified sample of test.csv), every mode on every example, in ${options.blocks} blocks with the mode order rotated per block`);
    lines.push('');
    const widths = [26, 12, 10, 12, 10, 10, 10, 10, 10];
    lines.push(pad(['mode', 'examples/s', 'speed-up', 'mean lat ms', 'p50 ms', 'p95 ms', 'wall s', 'accuracy', 'differ'], widths));
    for (const entry of figures) {
      lines.push(pad([entry.mode, format(entry.examplesPerSecond, 2), `${format(entry.speedup, 2)}x`, format(entry.meanLatencyMs), format(entry.p50LatencyMs), format(entry.p95LatencyMs), format(entry.wallSeconds), format(entry.accuracy, 3), String(entry.differentAnswers)], widths));
    }
    lines.push('');
    lines.push(`Tokens per example: ${format(figures[0]!.meanPromptTokens)} prompt (${format(figures[0]!.meanEvaluatedPromptTokens)} evaluated one at a time, the rest reused), ${format(figures[0]!.meanCompletionTokens)} generated`);
    lines.push(`Order and 1-min load average after each phase (${machine.cores} cores): ` + phases.map((phase) => `${phase.block}/${phase.mode} ${format(phase.seconds)} s @ ${format(phase.loadAverage, 2)}`).join('; '));
    lines.push(`Speed-ups are against the faster one-at-a-time setting (${baseline.mode}, ${format(baseline.examplesPerSecond, 2)} examples/s); "differ" counts answers unlike the first row's`);
    lines.push(`Target concurrency >= ${TARGET_SPEEDUP}x one at a time: ${pass ? 'PASS' : 'FAIL'} (best ${format(best.speedup, 2)}x: ${best.mode})`);
    lines.push(`Same answers as one at a time: ${figures.slice(1).map((entry) => `${entry.mode} ${entry.examples - entry.differentAnswers}/${entry.examples}`).join(', ')}`);
    for (const disagreement of disagreements.slice(0, 10)) {
      lines.push(`  ${disagreement.mode}: ${JSON.stringify(disagreement.input)}: ${disagreement.oneAtATime} (one at a time) vs ${disagreement.concurrent}`);
    }
    console.log(lines.join('\n'));
    console.log(JSON.stringify({
      bench: 'eval',
      machine,
      adapter: { origin: prepared.adapter.origin, training: prepared.adapter.training },
      examples: examples.length,
      blocks: options.blocks,
      base: path.basename(prepared.modelPath),
      engineOptions: { threads: options.threads, contextSize: modes[0]!.engine.contextSize, flashAttention: options.flashAttention, reusePrefix: options.reusePrefix },
      modes: figures,
      phases,
      baseline: { mode: baseline.mode, examplesPerSecond: baseline.examplesPerSecond },
      bestSpeedup: { mode: best.mode, concurrency: best.concurrency, contexts: best.contexts, ratio: best.speedup },
      target: { speedup: TARGET_SPEEDUP, pass },
      disagreements: disagreements.slice(0, 50),
    }));
  } finally {
    for (const mode of modes) {
      await mode.provider.close();
      await mode.engine.dispose();
    }
    await llama.dispose();
  }
}

try {
  await main();
} catch (error) {
  if (!UnderstudyError.isInstance(error)) throw error;
  process.stderr.write(`bench:eval: ${error.message}${error.hint === undefined ? '' : `\n${error.hint}`}\n`);
  process.exitCode = 1;
}
