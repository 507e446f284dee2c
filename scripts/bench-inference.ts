// `npm run bench:inference [-- --quick] [-- --adapter-dir DIR]`: transformers + PEFT `generate` against the embedded
// llama.cpp engine, same base, same LoRA adapter, same prompt token ids, measured side by side in one run.
// Progress goes to stderr; stdout gets the table, the targets and, as its last line, one JSON object.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { baseOption, cpuModel, optionParsers } from './bench-machine.ts';
import { mapConcurrently } from '../src/core/map-concurrently.ts';
import { z } from 'zod';
import { defaultConfigText, parseConfigText, type LoadedConfig } from '../src/adapters/config-file.ts';
import { createLlamaCppEngine, type Generation, type LlamaCppEngine } from '../src/adapters/llm/llama-cpp-engine.ts';
import { pullCatalogModel, type ResolvedBaseModel } from '../src/adapters/models/acquire.ts';
import { requireCatalogModel } from '../src/adapters/models/catalog.ts';
import { resolveChatTemplate } from '../src/adapters/models/chat-template-source.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { requantizedBase } from '../src/adapters/models/requantize.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { runWorker } from '../src/adapters/worker/worker-process.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { InvalidInputError, UnderstudyError } from '../src/core/errors.ts';
import { classificationMessages, prepareClassificationData } from '../src/pipeline/prepare-data.ts';
import { trainSft } from '../src/pipeline/train.ts';

const MODEL_ID = 'smollm2-135m-instruct';
const ADAPTER_NAME = 'bench';
/**
 * The classification chat format (system instruction + the customer's message, rendered with the model's chat
 * template) with an open-ended instruction and the assistant turn started with "1.", so that both systems decode a
 * few dozen tokens: the tuned adapter answers a bare instruction with a label and the end of turn after ~10 tokens,
 * and the engine cannot be told to ignore the end of turn. Neither side ignores it; both stop at it or at `maxTokens`.
 */
const OPEN_ENDED_INSTRUCTION = 'Reply to the online-banking customer in detail, with numbered steps.';
const ASSISTANT_PREFIX = '1.';
/** The issue's targets, as ratios to transformers + PEFT single-stream decode. */
const TARGETS = { singleStreamDecode: 4, aggregateDecodeAt16: 15 } as const;
const CONCURRENCY_LEVELS = [1, 4, 16] as const;

const USAGE = `usage: npm run bench:inference -- [options]
  --quick               10 prompts instead of 50 (fast checks)
  --prompts N           number of Banking77 test queries (default 50, --quick 10)
  --max-tokens N        most new tokens per prompt, both systems (default 32)
  --adapter-dir DIR     an existing run: DIR/peft (PEFT adapter) and DIR/adapter.gguf or DIR/adapter-*.gguf;
                        without it a LoRA adapter is trained first with trainSft (--train-steps, default 30)
  --keep-adapter        keep the trained adapter's temporary workspace (its path is printed) for --adapter-dir
  --threads N           torch threads, and llama.cpp's unless --engine-threads (default: one per core)
  --engine-threads N    llama.cpp threads only (on a small shared machine fewer threads than cores can be faster)
  --context-size N      engine tokens per sequence (default 256)
  --flash-attention on|off   llama.cpp flash attention (default on here; the engine's own default is off)
  --contexts N          llama.cpp contexts the 16 sequences and the engine threads are split over (default: one per
                        core, so one thread each; 1 = one context with every thread)
  --base q4_0|q4_1      the base both systems run: the packaged Q4_1 GGUF, or its Q4_0 copy (default q4_0,
                        \`understudy models requantize\`), which llama.cpp repacks for batched kernels on AVX2/ARM
The engine runs with prefix reuse off, so every request evaluates its whole prompt, as transformers does
(the same prompts run in several phases: with reuse on, later phases would find them cached).`;

interface BenchOptions {
  prompts: number;
  maxTokens: number;
  adapterDir?: string;
  keepAdapter: boolean;
  trainSteps: number;
  threads: number;
  engineThreads: number;
  contextSize: number;
  flashAttention: boolean;
  base: 'q4_0' | 'q4_1';
  contexts: number;
  quick: boolean;
}

function readOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      prompts: { type: 'string' },
      'max-tokens': { type: 'string', default: '32' },
      'adapter-dir': { type: 'string' },
      'keep-adapter': { type: 'boolean', default: false },
      'train-steps': { type: 'string', default: '30' },
      threads: { type: 'string', default: String(os.availableParallelism()) },
      'engine-threads': { type: 'string' },
      'context-size': { type: 'string', default: '256' },
      'flash-attention': { type: 'string', default: 'on' },
      base: { type: 'string', default: 'q4_0' },
      contexts: { type: 'string', default: String(os.availableParallelism()) },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const { positive, onOff } = optionParsers(USAGE);
  return {
    quick: values.quick,
    prompts: positive('prompts', values.prompts ?? (values.quick ? '10' : '50')),
    maxTokens: positive('max-tokens', values['max-tokens']),
    adapterDir: values['adapter-dir'],
    keepAdapter: values['keep-adapter'],
    trainSteps: positive('train-steps', values['train-steps']),
    threads: positive('threads', values.threads),
    engineThreads: positive('engine-threads', values['engine-threads'] ?? values.threads),
    contextSize: positive('context-size', values['context-size']),
    flashAttention: onOff('flash-attention', values['flash-attention']),
    base: baseOption(values.base, USAGE),
    contexts: positive('contexts', values.contexts),
  };
}

const log = (message: string): void => {
  process.stderr.write(`[bench] ${message}\n`);
};

/** The demo's embedded config (Banking77, its system prompt and LoRA settings), sized for a quick adapter. */
function benchConfig(options: BenchOptions): LoadedConfig {
  const loaded = parseConfigText(defaultConfigText(path.relative(PACKAGE_ROOT, EXAMPLES_BANKING77_DIR)), '<embedded defaults>', PACKAGE_ROOT);
  const { config } = loaded;
  return {
    ...loaded,
    config: {
      ...config,
      training: { ...config.training, examplesPerLabel: 2, maxSteps: options.trainSteps },
      evaluation: { ...config.evaluation, sampleSize: options.prompts },
    },
  };
}

interface AdapterFiles {
  peftDir: string;
  ggufPath: string;
  /** Where it came from, for the report. */
  origin: string;
}

function existingAdapter(directory: string): AdapterFiles {
  const peftDir = path.join(directory, 'peft');
  if (!existsSync(path.join(peftDir, 'adapter_config.json'))) {
    throw new InvalidInputError(`--adapter-dir ${directory} has no peft/adapter_config.json`, { file: directory, hint: 'pass a training run directory: peft/ and adapter.gguf (or adapter-<sha>.gguf)' });
  }
  const ggufs = existsSync(path.join(directory, 'adapter.gguf'))
    ? ['adapter.gguf']
    : readdirSync(directory).filter((name) => /^adapter-[0-9a-f]+\.gguf$/.test(name));
  if (ggufs.length !== 1) throw new InvalidInputError(`--adapter-dir ${directory} must hold one adapter.gguf (or one adapter-<sha>.gguf), found ${ggufs.length}`, { file: directory });
  return { peftDir, ggufPath: path.join(directory, ggufs[0]!), origin: `--adapter-dir ${directory}` };
}

/** Draw the prompts (stratified, seeded, from test.csv) and, without `--adapter-dir`, train a LoRA adapter on train.csv. */
async function preparePromptsAndAdapter(
  options: BenchOptions,
  python: string,
  base: ResolvedBaseModel,
): Promise<{ inputs: string[]; adapter: AdapterFiles; workspace?: string; training?: { steps: number | null; seconds: number; trainLoss: number | null } }> {
  const loaded = benchConfig(options);
  const workspace = options.adapterDir === undefined ? mkdtempSync(path.join(os.tmpdir(), 'understudy-bench-')) : undefined;
  const store = openStore(workspace === undefined ? ':memory:' : path.join(workspace, 'understudy.db'));
  try {
    const data = prepareClassificationData(loaded, store);
    const inputs = data.eval.examples.map((example) => example.input);
    if (options.adapterDir !== undefined) return { inputs, adapter: existingAdapter(path.resolve(options.adapterDir)) };
    log(`training a LoRA adapter (${data.train.examples.length} examples, ${options.trainSteps} steps) in ${workspace}`);
    const chatTemplate = await resolveChatTemplate(base.ggufPath, { family: base.catalog?.chatTemplate });
    const result = await trainSft({
      store,
      python,
      base,
      chatTemplate,
      datasetId: data.train.dataset.id,
      training: loaded.config.training,
      runsDir: path.join(workspace!, 'runs'),
      threads: options.threads,
      onEvent: (event) => {
        if (event.event === 'progress') log(`  train step ${event.step}/${event.totalSteps} loss ${event.loss?.toFixed(3) ?? '-'}`);
      },
    });
    const runDir = path.dirname(result.adapter.ggufPath);
    return {
      inputs,
      adapter: { peftDir: result.adapter.peftPath, ggufPath: result.adapter.ggufPath, origin: `trained here (${result.steps ?? '?'} steps)${options.keepAdapter ? `, kept: --adapter-dir ${runDir}` : ''}` },
      workspace,
      training: { steps: result.steps, seconds: result.seconds, trainLoss: result.trainLoss },
    };
  } finally {
    store.close();
  }
}

const TransformersResultSchema = z.object({
  threads: z.number(),
  dtype: z.string(),
  loadSeconds: z.number(),
  results: z.array(z.object({
    promptTokens: z.number(),
    completionTokens: z.number(),
    completionTokenIds: z.array(z.number()),
    prefillMs: z.number(),
    decodeMs: z.number(),
  })),
});
type TransformersResult = z.infer<typeof TransformersResultSchema>;

/** One prompt's timing, from either system. */
interface Timing {
  promptTokens: number;
  completionTokens: number;
  completionTokenIds: number[];
  prefillMs: number;
  decodeMs: number;
}

async function transformersGenerate(python: string, base: ResolvedBaseModel, adapter: AdapterFiles, sequences: number[][], options: BenchOptions): Promise<TransformersResult> {
  const outcome = await runWorker({
    python,
    spec: { command: 'bench-generate', base: { kind: 'gguf', path: base.ggufPath }, adapterDir: adapter.peftDir, sequences, maxNewTokens: options.maxTokens, warmup: 3, threads: options.threads },
  });
  return TransformersResultSchema.parse(outcome.result);
}

const timingOf = (generation: Generation): Timing => ({
  promptTokens: generation.promptTokens,
  completionTokens: generation.completionTokens,
  completionTokenIds: generation.completionTokenIds,
  prefillMs: generation.timeToFirstTokenMs,
  decodeMs: generation.latencyMs - generation.timeToFirstTokenMs,
});

interface StreamFigures {
  prompts: number;
  /** Prompt tokens per second of time to first token. */
  prefillTokensPerSecond: number;
  /** (completion tokens − 1) per second after the first token, summed over prompts. */
  decodeTokensPerSecond: number;
  meanPromptTokens: number;
  meanCompletionTokens: number;
  medianTimeToFirstTokenMs: number;
}

function streamFigures(timings: readonly Timing[]): StreamFigures {
  const sum = (select: (timing: Timing) => number): number => timings.reduce((total, timing) => total + select(timing), 0);
  const ttfts = timings.map((timing) => timing.prefillMs).sort((left, right) => left - right);
  return {
    prompts: timings.length,
    prefillTokensPerSecond: sum((timing) => timing.promptTokens) / (sum((timing) => timing.prefillMs) / 1000),
    decodeTokensPerSecond: sum((timing) => Math.max(0, timing.completionTokens - 1)) / (sum((timing) => timing.decodeMs) / 1000),
    meanPromptTokens: sum((timing) => timing.promptTokens) / timings.length,
    meanCompletionTokens: sum((timing) => timing.completionTokens) / timings.length,
    medianTimeToFirstTokenMs: ttfts[Math.floor((ttfts.length - 1) / 2)] ?? 0,
  };
}

interface PhaseRecord {
  phase: string;
  seconds: number;
  /** 1-minute load average when the phase ended: well above the threads in use means other processes competed. */
  loadAverage: number;
}

interface AggregateFigures {
  concurrency: number;
  wallSeconds: number;
  completionTokens: number;
  /** All generated tokens / wall time, prefill included. */
  decodeTokensPerSecond: number;
}

async function engineAggregate(engine: LlamaCppEngine, prompts: readonly string[], concurrency: number, maxTokens: number): Promise<{ figures: AggregateFigures; timings: Timing[] }> {
  const started = performance.now();
  const generations = await mapConcurrently(prompts, concurrency, (prompt) => engine.generate({ prompt, adapter: ADAPTER_NAME, maxTokens }));
  const wallSeconds = (performance.now() - started) / 1000;
  const completionTokens = generations.reduce((total, generation) => total + generation.completionTokens, 0);
  return { figures: { concurrency, wallSeconds, completionTokens, decodeTokensPerSecond: completionTokens / wallSeconds }, timings: generations.map(timingOf) };
}

/** Batched prefill: every prompt with one new token at `concurrency`, prompt tokens / wall time. */
async function enginePrefillAggregate(engine: LlamaCppEngine, prompts: readonly string[], concurrency: number): Promise<number> {
  const started = performance.now();
  const generations = await mapConcurrently(prompts, concurrency, (prompt) => engine.generate({ prompt, adapter: ADAPTER_NAME, maxTokens: 1 }));
  return generations.reduce((total, generation) => total + generation.promptTokens, 0) / ((performance.now() - started) / 1000);
}


const format = (value: number, digits = 1): string => value.toFixed(digits);
const pad = (cells: readonly string[], widths: readonly number[]): string => cells.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ');

async function main(): Promise<void> {
  const options = readOptions(process.argv.slice(2));
  const machine = { cpu: cpuModel(), cores: os.availableParallelism(), memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  log(`machine: ${machine.cpu}, ${machine.cores} cores; ${options.prompts} prompts, up to ${options.maxTokens} new tokens; threads: torch ${options.threads}, llama.cpp ${options.engineThreads}`);
  const environment = await ensureWorkerEnvironment();
  const pulled = await pullCatalogModel(MODEL_ID);
  const base = options.base === 'q4_0' ? await requantizedBase(pulled, log) : pulled;
  const quantization = options.base === 'q4_0' ? 'Q4_0 (requantized from the packaged Q4_1)' : 'Q4_1';
  const catalog = requireCatalogModel(MODEL_ID);
  const prepared = await preparePromptsAndAdapter(options, environment.python, base);
  const { adapter } = prepared;

  let engine: LlamaCppEngine | undefined;
  try {
    engine = await createLlamaCppEngine({
      modelPath: base.ggufPath,
      adapters: [{ name: ADAPTER_NAME, path: adapter.ggufPath }],
      sequences: Math.max(...CONCURRENCY_LEVELS),
      parallelContexts: Math.min(options.contexts, Math.max(...CONCURRENCY_LEVELS)),
      threads: options.engineThreads,
      contextSize: options.contextSize,
      flashAttention: options.flashAttention,
      reusePrefix: false,
    });
    const activeEngine = engine;
    const prompts = prepared.inputs.map((input) => activeEngine.renderMessages(classificationMessages(OPEN_ENDED_INSTRUCTION, input)) + ASSISTANT_PREFIX);
    // Both systems get exactly the same prompt token ids: the engine's own rendering and tokenization.
    const sequences = prompts.map((prompt) => activeEngine.tokenize(prompt));
    const half = Math.ceil(sequences.length / 2);

    // Alternation: transformers on the first half, the engine on everything, transformers on the second half.
    const phases: PhaseRecord[] = [];
    const timed = async <T>(phase: string, work: () => Promise<T>): Promise<T> => {
      log(phase);
      const started = performance.now();
      const result = await work();
      phases.push({ phase, seconds: (performance.now() - started) / 1000, loadAverage: os.loadavg()[0] ?? 0 });
      return result;
    };
    const generateAll = (items: readonly string[], concurrency: number, maxTokens: number): Promise<Generation[]> =>
      mapConcurrently(items, concurrency, (prompt) => activeEngine.generate({ prompt, adapter: ADAPTER_NAME, maxTokens }));
    await timed('engine warm-up (3 single-stream requests, then a 16-way burst)', async () => {
      await generateAll(prompts.slice(0, 3), 1, options.maxTokens);
      await generateAll(Array.from({ length: 16 }, (_, index) => prompts[index % prompts.length]!), 16, 8);
    });
    const firstHalf = await timed(`transformers + PEFT, prompts 1-${half} (loads the dequantized base, 3 warm-up generations)`, () =>
      transformersGenerate(environment.python, base, adapter, sequences.slice(0, half), options));
    const single = await timed('engine, single stream (= aggregate at 1)', () => engineAggregate(activeEngine, prompts, 1, options.maxTokens));
    const aggregates: AggregateFigures[] = [single.figures];
    for (const concurrency of CONCURRENCY_LEVELS.filter((level) => level > 1)) {
      aggregates.push((await timed(`engine, aggregate at ${concurrency} concurrent`, () => engineAggregate(activeEngine, prompts, concurrency, options.maxTokens))).figures);
    }
    const prefillAt16 = await timed('engine, batched prefill at 16 concurrent (1 new token each)', () => enginePrefillAggregate(activeEngine, prompts, 16));
    const secondHalf = sequences.length > half
      ? await timed(`transformers + PEFT, prompts ${half + 1}-${sequences.length}`, () => transformersGenerate(environment.python, base, adapter, sequences.slice(half), options))
      : undefined;

    const transformersTimings: Timing[] = [...firstHalf.results, ...(secondHalf?.results ?? [])];
    const transformers = streamFigures(transformersTimings);
    const engineSingle = streamFigures(single.timings);
    const at16 = aggregates.find((figures) => figures.concurrency === 16)!;
    const sameTokens = transformersTimings.filter((timing, index) => JSON.stringify(timing.completionTokenIds) === JSON.stringify(single.timings[index]?.completionTokenIds)).length;
    const ratios = {
      singleStreamDecode: engineSingle.decodeTokensPerSecond / transformers.decodeTokensPerSecond,
      aggregateDecodeAt16: at16.decodeTokensPerSecond / transformers.decodeTokensPerSecond,
      singleStreamPrefill: engineSingle.prefillTokensPerSecond / transformers.prefillTokensPerSecond,
      aggregatePrefillAt16: prefillAt16 / transformers.prefillTokensPerSecond,
    };
    const targets = {
      singleStreamDecode: { target: TARGETS.singleStreamDecode, ratio: ratios.singleStreamDecode, pass: ratios.singleStreamDecode >= TARGETS.singleStreamDecode },
      aggregateDecodeAt16: { target: TARGETS.aggregateDecodeAt16, ratio: ratios.aggregateDecodeAt16, pass: ratios.aggregateDecodeAt16 >= TARGETS.aggregateDecodeAt16 },
    };

    const lines: string[] = [];
    lines.push(`Inference benchmark: ${catalog.displayName} (${quantization} GGUF; transformers runs it dequantized to ${firstHalf.dtype}) + LoRA adapter (${adapter.origin})`);
    lines.push(`Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; threads: llama.cpp ${options.engineThreads}, torch ${firstHalf.threads}; Node ${machine.node}`);
    lines.push(`Prompts: ${prompts.length} Banking77 test queries in the classification chat format with an open-ended instruction and the answer started ("${ASSISTANT_PREFIX}"); greedy; up to ${options.maxTokens} new tokens, end of turn honoured on both sides`);
    lines.push(`Engine: sequences 16 over ${Math.min(options.contexts, 16)} llama.cpp context(s) of ${Math.max(1, Math.floor(options.engineThreads / Math.min(options.contexts, 16)))} thread(s) each, context ${activeEngine.contextSize}/sequence, flash attention ${options.flashAttention ? 'on' : 'off'}, prefix reuse off; transformers: batch 1, KV cache, unmerged LoRA`);
    lines.push(`Order and 1-min load average after each phase (${machine.cores} cores; above ~${Math.max(options.threads, options.engineThreads) + 0.5} means other work competed): ` +
      phases.map((record) => `${record.phase.split(' (')[0]} ${format(record.seconds)} s @ ${format(record.loadAverage, 2)}`).join('; '));
    lines.push('');
    const widths = [38, 14, 14, 14, 12, 12];
    lines.push(pad(['system', 'prefill tok/s', 'decode tok/s', 'TTFT p50 ms', 'prompt tok', 'new tok'], widths));
    const row = (name: string, figures: StreamFigures): string =>
      pad([name, format(figures.prefillTokensPerSecond), format(figures.decodeTokensPerSecond), format(figures.medianTimeToFirstTokenMs), format(figures.meanPromptTokens), format(figures.meanCompletionTokens)], widths);
    lines.push(row('transformers + PEFT generate, batch 1', transformers));
    lines.push(row('engine + GGUF adapter, single stream', engineSingle));
    lines.push('');
    lines.push(pad(['engine aggregate', 'decode tok/s', 'wall s', 'new tokens', '', ''], widths));
    for (const figures of aggregates) {
      lines.push(pad([`  ${figures.concurrency} concurrent`, format(figures.decodeTokensPerSecond), format(figures.wallSeconds, 2), String(figures.completionTokens)], widths));
    }
    lines.push(pad(['  16 concurrent, prefill only', `${format(prefillAt16)} (prefill tok/s)`], widths));
    lines.push('');
    lines.push(`Ratios: single-stream decode ${format(ratios.singleStreamDecode, 2)}x, aggregate decode at 16 ${format(ratios.aggregateDecodeAt16, 2)}x, ` +
      `single-stream prefill ${format(ratios.singleStreamPrefill, 2)}x, aggregate prefill at 16 ${format(ratios.aggregatePrefillAt16, 2)}x (engine / transformers single stream)`);
    lines.push(`Target single-stream decode >= ${TARGETS.singleStreamDecode}x: ${targets.singleStreamDecode.pass ? 'PASS' : 'FAIL'} (${format(ratios.singleStreamDecode, 2)}x)`);
    lines.push(`Target aggregate decode at 16 >= ${TARGETS.aggregateDecodeAt16}x: ${targets.aggregateDecodeAt16.pass ? 'PASS' : 'FAIL'} (${format(ratios.aggregateDecodeAt16, 2)}x)`);
    lines.push(`Same greedy tokens on both sides: ${sameTokens}/${prompts.length} prompts`);
    console.log(lines.join('\n'));
    console.log(JSON.stringify({
      bench: 'inference',
      quick: options.quick,
      machine: { ...machine, torchThreads: firstHalf.threads },
      model: { id: MODEL_ID, quantization, baseFile: path.basename(base.ggufPath), transformersDtype: firstHalf.dtype },
      adapter: { origin: adapter.origin, training: prepared.training ?? null },
      prompts: prompts.length,
      maxTokens: options.maxTokens,
      engineOptions: { sequences: 16, contexts: Math.min(options.contexts, 16), contextSize: activeEngine.contextSize, threads: options.engineThreads, flashAttention: options.flashAttention, reusePrefix: false },
      phases,
      transformers,
      engineSingleStream: engineSingle,
      engineAggregate: Object.fromEntries(aggregates.map((figures) => [`c${figures.concurrency}`, figures])),
      enginePrefillAt16TokensPerSecond: prefillAt16,
      sameGreedyTokens: sameTokens,
      ratios,
      targets,
    }));
  } finally {
    await engine?.dispose();
    if (prepared.workspace !== undefined && !options.keepAdapter) rmSync(prepared.workspace, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  if (!UnderstudyError.isInstance(error)) throw error;
  process.stderr.write(`bench:inference: ${error.message}${error.hint === undefined ? '' : `\n${error.hint}`}\n`);
  process.exitCode = 1;
}
