// `npm run bench:train [-- --quick] [-- --steps N]`: Understudy's training worker against a plain TRL SFTTrainer
// script with TRL's defaults, same base (SmolLM2-135M), same Banking77 examples, same LoRA config, same number of
// optimizer steps, run one after the other in one bench run. Both adapters are then scored on the same held-out
// Banking77 examples by the same function. Progress goes to stderr; stdout gets the table and, last, one JSON line.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cpuModel } from './bench-machine.ts';
import { defaultConfigText, parseConfigText } from '../src/adapters/config-file.ts';
import { readLabelledCsv } from '../src/adapters/csv-dataset.ts';
import { pullCatalogModel } from '../src/adapters/models/acquire.ts';
import { resolveChatTemplate } from '../src/adapters/models/chat-template-source.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT, WORKER_DIR } from '../src/adapters/paths.ts';
import { runWorker } from '../src/adapters/worker/worker-process.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { TrainSftSpecSchema, type PromptCompletionRecord } from '../src/contracts/worker.ts';
import { shuffle } from '../src/core/random.ts';
import { classificationMessages } from '../src/pipeline/prepare-data.ts';

const MODEL_ID = 'smollm2-135m-instruct';
/** TRL's SFTConfig default per-device batch size; both sides use it so a step sees the same number of examples. */
const BATCH = 8;
const LORA = { r: 16, alpha: 32, dropout: 0.05, targetModules: 'all-linear' as const };
const SEED = 42;
const TARGETS = { speedup: 1.8, peakShare: 0.6 } as const;

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, steps: { type: 'string' }, heldout: { type: 'string' }, precision: { type: 'string', default: 'auto' }, help: { type: 'boolean', default: false } },
});
if (values.help) {
  process.stdout.write('usage: npm run bench:train -- [--quick] [--steps N (default 40, quick 8)] [--heldout N (default 100, quick 40)] [--precision auto|fp32|bf16 (Understudy\'s side; default auto: bf16 where the CPU computes it natively)]\n');
  process.exit(0);
}
if (!['auto', 'fp32', 'bf16'].includes(values.precision)) {
  process.stderr.write(`bench:train: --precision must be auto, fp32 or bf16, got ${JSON.stringify(values.precision)}\n`);
  process.exit(2);
}
const precision = values.precision as 'auto' | 'fp32' | 'bf16';
const steps = Number(values.steps ?? (values.quick ? 8 : 40));
const heldoutCount = Number(values.heldout ?? (values.quick ? 40 : 100));
const log = (message: string): void => {
  process.stderr.write(`[bench:train] ${message}\n`);
};


function runPython(python: string, mode: string, spec: unknown, directory: string): Promise<Record<string, unknown>> {
  const specFile = path.join(directory, `${mode}-${Date.now()}.json`);
  writeFileSync(specFile, JSON.stringify(spec));
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-m', 'understudy_worker.bench_train', mode, '--spec', specFile], {
      cwd: WORKER_DIR,
      env: { ...process.env, PYTHONPATH: WORKER_DIR, HF_HUB_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench_train ${mode} exited with ${code}:\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>);
    });
  });
}

const machine = { cpu: cpuModel(), cores: os.availableParallelism(), memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-bench-train-'));
try {
  const environment = await ensureWorkerEnvironment();
  const base = await pullCatalogModel(MODEL_ID);
  const template = await resolveChatTemplate(base.ggufPath, { family: base.catalog?.chatTemplate });
  const loaded = parseConfigText(defaultConfigText(path.relative(PACKAGE_ROOT, EXAMPLES_BANKING77_DIR)), '<embedded defaults>', PACKAGE_ROOT);
  const columns = { inputColumn: 'text', labelColumn: 'category', labels: loaded.labels };
  const toRecord = (row: { input: string; label: string }): PromptCompletionRecord => {
    const messages = classificationMessages(loaded.config.task.systemPrompt, row.input, row.label);
    return { prompt: messages.slice(0, -1), completion: [messages.at(-1)!] };
  };
  const trainRows = shuffle(readLabelledCsv(path.join(EXAMPLES_BANKING77_DIR, 'train.csv'), columns), 'bench-train').slice(0, steps * BATCH);
  const heldoutRows = shuffle(readLabelledCsv(path.join(EXAMPLES_BANKING77_DIR, 'test.csv'), columns), 'bench-heldout').slice(0, heldoutCount);
  const trainPath = path.join(workspace, 'train.jsonl');
  const evalPath = path.join(workspace, 'heldout.jsonl');
  writeFileSync(trainPath, trainRows.map((row) => JSON.stringify(toRecord(row))).join('\n') + '\n');
  writeFileSync(evalPath, heldoutRows.map((row) => JSON.stringify(toRecord(row))).join('\n') + '\n');
  const baseRef = { kind: 'gguf' as const, path: base.ggufPath };
  log(`machine: ${machine.cpu}, ${machine.cores} cores; ${steps} steps of ${BATCH} Banking77 examples; LoRA r=${LORA.r} all-linear`);

  // Warm the dequantized-weights cache first, so neither side pays the one-time GGUF conversion.
  log('matmul peaks (fp32 and bf16 GEMM, same threads)');
  const peak = await runPython(environment.python, 'peak', { threads: 0 }, workspace);
  const peakBf16 = await runPython(environment.python, 'peak', { threads: 0, dtype: 'bfloat16' }, workspace);

  const shape = await runPython(environment.python, 'shape', { base: baseRef, chatTemplate: template.source, trainPath, rank: LORA.r }, workspace);

  log('TRL SFTTrainer with SFTConfig defaults (bf16=False), same LoRA');
  const trl = await runPython(environment.python, 'trl', { base: baseRef, chatTemplate: template.source, trainPath, outputDir: path.join(workspace, 'trl'), steps, seed: SEED, lora: LORA, threads: 0 }, workspace);

  log('Understudy worker (train-sft)');
  const spec = TrainSftSpecSchema.parse({
    command: 'train-sft',
    base: baseRef,
    trainPath,
    lora: LORA,
    training: {
      epochs: 1, maxSteps: steps, learningRate: 2e-4, batchSize: BATCH, gradientAccumulation: 1, maxLength: 1024, warmupRatio: 0.03,
      scheduler: 'cosine', seed: SEED, loggingSteps: Math.max(1, Math.floor(steps / 4)), threads: 0, precision,
    },
    outputDir: path.join(workspace, 'understudy'),
    chatTemplate: template.source,
  });
  const ours = await runWorker({ python: environment.python, spec });
  const done = ours.done;

  log('held-out loss of both adapters (same function, same examples)');
  const trlHeldout = await runPython(environment.python, 'heldout', { base: baseRef, chatTemplate: template.source, adapterDir: trl.adapterDir, evalPath }, workspace);
  const oursHeldout = await runPython(environment.python, 'heldout', { base: baseRef, chatTemplate: template.source, adapterDir: path.join(workspace, 'understudy', 'peft'), evalPath }, workspace);

  // Three FLOP counts per token, all stated in the output:
  // - 6N (Kaplan et al.): forward 2N + backward 4N, N = every matmul weight incl. the output layer. The usual
  //   training-FLOPs convention, and the one the orientation figure (~70% for a plain loop) implies.
  // - LoRA on a frozen base needs 4N + 6 x LoRA parameters: the frozen weights get no weight gradient.
  // - Understudy executes less still: it skips the output layer at prompt positions.
  // Attention adds ~8 x layers x hidden x mean length to each.
  const headParams = Number(shape.headParams);
  const architecture = { layers: Number(shape.layers), hidden: Number(shape.hidden), matmulParams: Number(shape.bodyMatmulParams) + headParams, loraParams: Number(shape.loraParams) };
  const meanLength = Number(shape.meanTokens);
  const attention = 8 * architecture.layers * architecture.hidden * meanLength;
  const kaplanPerToken = 6 * architecture.matmulParams + attention;
  const flopsPerToken = 4 * architecture.matmulParams + 6 * architecture.loraParams + attention;
  const completionShare = Number(shape.completionShare);
  const executedPerToken = flopsPerToken - 4 * headParams * (1 - completionShare);
  const oursTps = done.tokensPerSecond ?? 0;
  const trlTps = Number(trl.tokensPerSecond);
  // Each side against the peak of the precision it computed in: TRL's side is fp32 (bf16=False); ours is what the
  // worker reports (bf16 on a CPU with AVX-512 BF16 or AMX under precision auto).
  const fp32Flops = Number(peak.matmulFlops);
  const bf16Flops = Number(peakBf16.matmulFlops);
  const oursPrecision = typeof done.precision === 'string' ? done.precision : 'fp32';
  const matmulFlops = oursPrecision === 'bf16' ? bf16Flops : fp32Flops;
  const speedup = oursTps / trlTps;
  const kaplanShare = (oursTps * kaplanPerToken) / matmulFlops;
  const peakShare = (oursTps * flopsPerToken) / matmulFlops;
  const executedShare = (oursTps * executedPerToken) / matmulFlops;
  const trlShare = (trlTps * flopsPerToken) / fp32Flops;
  const trlKaplanShare = (trlTps * kaplanPerToken) / fp32Flops;
  const mib = (bytes: unknown): string => (typeof bytes === 'number' ? `${Math.round(bytes / 2 ** 20)} MiB` : '?');
  const row = (cells: string[]): string => cells.map((cell, index) => (index === 0 ? cell.padEnd(34) : cell.padStart(14))).join('');
  const lines = [
    '',
    `bench:train - ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}; base ${MODEL_ID} (GGUF dequantized to fp32)`,
    `data: ${steps} steps x batch ${BATCH} Banking77 train examples (mean ${meanLength.toFixed(1)} tokens), held-out loss on ${heldoutCount} test examples; LoRA r=${LORA.r} alpha=${LORA.alpha} dropout=${LORA.dropout} all-linear`,
    `TRL side: SFTConfig defaults (lr ${trl.learningRate}, gradient checkpointing ${trl.gradientCheckpointing ? 'on' : 'off'}, padding-free ${trl.paddingFree ? 'on' : 'off'}, max_length ${trl.maxLength}) + bf16=False`,
    `Understudy side: lr 2e-4 cosine, gradient checkpointing off, batches grouped by length, loss computed at completion positions only, precision ${oursPrecision} (--precision ${precision})`,
    '',
    row(['', 'TRL defaults', 'Understudy', 'ratio']),
    row(['real tokens/s', trlTps.toFixed(1), oursTps.toFixed(1), `${speedup.toFixed(2)}x`]),
    row(['peak memory (process RSS)', mib(trl.peakRssBytes), mib(done.peakRssBytes), typeof done.peakRssBytes === 'number' ? `${(done.peakRssBytes / Number(trl.peakRssBytes)).toFixed(2)}x` : '?']),
    row(['last logged train loss', typeof trl.lastLoggedLoss === 'number' ? trl.lastLoggedLoss.toFixed(4) : 'not logged', done.trainLoss?.toFixed(4) ?? '?', '']),
    row(['held-out loss (same function)', Number(trlHeldout.heldoutLoss).toFixed(4), Number(oursHeldout.heldoutLoss).toFixed(4), '']),
    row(['share of matmul peak, 6N count', `${(trlKaplanShare * 100).toFixed(1)}%`, `${(kaplanShare * 100).toFixed(1)}%`, '']),
    row(['share of matmul peak, LoRA count', `${(trlShare * 100).toFixed(1)}%`, `${(peakShare * 100).toFixed(1)}%`, '']),
    '',
    `matmul peaks (${peak.threads} threads): fp32 ${(fp32Flops / 1e9).toFixed(1)} GFLOP/s, bf16 ${(bf16Flops / 1e9).toFixed(1)} GFLOP/s; each side's share is of its own precision's peak (TRL fp32, Understudy ${oursPrecision}). FLOPs per token: 6N count ${(kaplanPerToken / 1e6).toFixed(0)} M = 6 x ${(architecture.matmulParams / 1e6).toFixed(1)} M matmul weights + ${(attention / 1e6).toFixed(1)} M attention (the usual training convention);`,
    `  LoRA count ${(flopsPerToken / 1e6).toFixed(0)} M = 4 x ${(architecture.matmulParams / 1e6).toFixed(1)} M (frozen weights: no weight gradient) + 6 x ${(architecture.loraParams / 1e6).toFixed(2)} M LoRA + attention`,
    `Understudy executes ~${(executedPerToken / 1e6).toFixed(0)} M per token (output layer at completion positions only, ${(completionShare * 100).toFixed(1)}% of tokens): ${(executedShare * 100).toFixed(1)}% of the peak in executed FLOPs`,
    `targets: >= ${TARGETS.speedup}x TRL's tokens/s at equal or lower held-out loss: ${speedup >= TARGETS.speedup && Number(oursHeldout.heldoutLoss) <= Number(trlHeldout.heldoutLoss) ? 'met' : 'NOT met'}; >= ${TARGETS.peakShare * 100}% of matmul peak: ${kaplanShare >= TARGETS.peakShare ? 'met' : 'NOT met'} by the 6N count, ${peakShare >= TARGETS.peakShare ? 'met' : 'NOT met'} by the LoRA count`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  process.stdout.write(`${JSON.stringify({
    bench: 'train',
    machine,
    model: MODEL_ID,
    steps,
    batchSize: BATCH,
    trl: { tokensPerSecond: trlTps, peakRssBytes: trl.peakRssBytes, lastLoggedLoss: trl.lastLoggedLoss, heldoutLoss: trlHeldout.heldoutLoss, gradientCheckpointing: trl.gradientCheckpointing, learningRate: trl.learningRate },
    understudy: { tokensPerSecond: oursTps, peakRssBytes: done.peakRssBytes ?? null, lastLoggedLoss: done.trainLoss ?? null, heldoutLoss: oursHeldout.heldoutLoss, precision: oursPrecision },
    matmulPeakFlops: matmulFlops,
    matmulPeakFlopsFp32: fp32Flops,
    matmulPeakFlopsBf16: bf16Flops,
    flopsPerToken6N: kaplanPerToken,
    flopsPerTokenLora: flopsPerToken,
    executedFlopsPerToken: executedPerToken,
    speedup,
    peakShare6N: kaplanShare,
    peakShareLora: peakShare,
    executedPeakShare: executedShare,
    trlPeakShare6N: trlKaplanShare,
    trlPeakShareLora: trlShare,
    targets: {
      speedup: TARGETS.speedup,
      peakShare: TARGETS.peakShare,
      speedupMet: speedup >= TARGETS.speedup && Number(oursHeldout.heldoutLoss) <= Number(trlHeldout.heldoutLoss),
      peakShareMet6N: kaplanShare >= TARGETS.peakShare,
      peakShareMetLora: peakShare >= TARGETS.peakShare,
    },
  })}\n`);
} finally {
  rmSync(workspace, { recursive: true, force: true });
}
