import { existsSync } from 'node:fs';
import path from 'node:path';
import { RequantizeResultSchema, type RequantizeResult } from '../../contracts/worker.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { sha256File } from '../file-hash.ts';
import { ensureWorkerEnvironment } from '../worker/python-env.ts';
import { runWorker } from '../worker/worker-process.ts';
import { assertGgufFile, type ResolvedBaseModel } from './acquire.ts';

/**
 * Where the Q4_0 copy of a model GGUF lives: beside it, named after it, so a catalog model's copy sits in its cache
 * folder and is found again (`SmolLM2-135M-Instruct.Q4_1.gguf` -> `SmolLM2-135M-Instruct.Q4_1.requant-Q4_0.gguf`).
 */
export function requantizedPath(ggufPath: string): string {
  return path.join(path.dirname(ggufPath), `${path.basename(ggufPath, '.gguf')}.requant-Q4_0.gguf`);
}

/**
 * Rewrite `inputPath`'s weight matrices as Q4_0 through the worker (gguf-py). llama.cpp's CPU backend repacks Q4_0
 * into its interleaved layout and multiplies it with batched kernels on AVX2 and ARM; Q4_1, Q5_x and Q8_0 get one dot
 * product at a time on x86. The output is written to a partial file and renamed, so it is whole or absent.
 */
export async function requantizeGguf(options: {
  python: string;
  inputPath: string;
  outputPath: string;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}): Promise<RequantizeResult> {
  assertGgufFile(options.inputPath);
  if (existsSync(options.outputPath)) {
    throw new InvalidInputError('the output file exists already', { file: options.outputPath, hint: 'choose another --out or delete it' });
  }
  const outcome = await runWorker({
    python: options.python,
    spec: { command: 'requantize', inputPath: path.resolve(options.inputPath), outputPath: path.resolve(options.outputPath), to: 'q4_0' },
    onEvent: (event) => {
      if (event.event === 'progress') options.onProgress?.(event.step, event.totalSteps);
    },
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return RequantizeResultSchema.parse(outcome.result);
}

/**
 * A pulled catalog base as its Q4_0 copy (config `baseModel.requantize: q4_0`): made on first use beside the pulled
 * file, then reused. Training dequantizes this copy, so the adapter fits exactly the weights the engine serves.
 */
export async function requantizedBase(pulled: ResolvedBaseModel, onMessage?: (message: string) => void): Promise<ResolvedBaseModel> {
  const target = requantizedPath(pulled.ggufPath);
  if (!existsSync(target)) {
    onMessage?.(`requantizing ${path.basename(pulled.ggufPath)} to Q4_0 (once): ${target}`);
    const { python } = await ensureWorkerEnvironment();
    try {
      await requantizeGguf({ python, inputPath: pulled.ggufPath, outputPath: target });
    } catch (error) {
      // Another process may have made the same copy meanwhile; its rename is atomic, so a present file is whole.
      if (!existsSync(target)) throw error;
    }
  }
  return { ...pulled, ggufPath: target, sha256: await sha256File(target) };
}
