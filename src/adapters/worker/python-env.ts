import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sha256Hex } from '../../core/content-hash.ts';
import { EnvironmentError } from '../../core/errors.ts';
import { cacheDir, WORKER_DIR } from '../paths.ts';

/** Which torch build the worker environment gets. */
export type TorchVariant = 'cpu' | 'cuda';

export const TORCH_VERSION = '2.13.0';

export interface WorkerEnvironment {
  /** The venv's python executable. */
  python: string;
  venvDir: string;
  /** Package versions the environment reported when it was verified. */
  versions: Record<string, string>;
  /** True when this call created or repaired it. */
  created: boolean;
}

export interface SetupProgress {
  phase: 'check' | 'venv' | 'torch' | 'requirements' | 'verify' | 'ready';
  step: number;
  totalSteps: number;
  message: string;
}

export interface EnsureEnvironmentOptions {
  torch?: TorchVariant;
  /** An extra package index for torch (e.g. the PyTorch CPU or CUDA wheel index). */
  torchIndexUrl?: string;
  /** Rebuild even if a ready environment exists. */
  force?: boolean;
  onProgress?: (progress: SetupProgress) => void;
  /** Receives pip's output lines. */
  onLog?: (line: string) => void;
  environment?: NodeJS.ProcessEnv;
}

const READY_MARKER = 'understudy-ready.json';

/** Find a Python 3.10+ interpreter: `$UNDERSTUDY_PYTHON`, then python3, then python. */
export function findPython(environment: NodeJS.ProcessEnv = process.env): { executable: string; version: string } {
  const candidates = [environment.UNDERSTUDY_PYTHON, 'python3', 'python'].filter((name): name is string => typeof name === 'string' && name.length > 0);
  for (const executable of candidates) {
    const probe = spawnSync(executable, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], { encoding: 'utf8', env: environment });
    if (probe.status !== 0 || probe.error) continue;
    const version = probe.stdout.trim();
    const [major, minor] = version.split('.').map(Number);
    if (major === 3 && (minor ?? 0) >= 10) return { executable, version };
  }
  throw new EnvironmentError(`no Python 3.10+ found (tried ${candidates.join(', ')})`, {
    hint: 'install Python 3.10 or newer with venv and pip (Debian: apt-get install python3 python3-venv python3-pip), or set UNDERSTUDY_PYTHON',
  });
}

/** The pinned requirements, and a hash naming the environment they make. */
export function workerRequirements(torch: TorchVariant): { file: string; hash: string } {
  const file = path.join(WORKER_DIR, 'requirements.txt');
  const hash = sha256Hex(`${readFileSync(file, 'utf8')}\ntorch=${TORCH_VERSION}:${torch}`).slice(0, 12);
  return { file, hash };
}

/**
 * Create (or reuse) the worker's virtual environment in the cache and install the pinned
 * requirements. Idempotent: a ready environment with the same requirement hash is reused.
 */
export async function ensureWorkerEnvironment(options: EnsureEnvironmentOptions = {}): Promise<WorkerEnvironment> {
  const environment = options.environment ?? process.env;
  const torch = options.torch ?? 'cpu';
  const totalSteps = 5;
  const report = (phase: SetupProgress['phase'], step: number, message: string): void => options.onProgress?.({ phase, step, totalSteps, message });
  const requirements = workerRequirements(torch);
  const venvDir = path.join(cacheDir(environment), `venv-${torch}-${requirements.hash}`);
  const python = path.join(venvDir, 'bin', 'python');
  const markerFile = path.join(venvDir, READY_MARKER);

  if (options.force !== true && existsSync(markerFile) && existsSync(python)) {
    const marker = JSON.parse(readFileSync(markerFile, 'utf8')) as { versions: Record<string, string> };
    report('ready', totalSteps, `worker environment ready at ${venvDir}`);
    return { python, venvDir, versions: marker.versions, created: false };
  }

  report('check', 1, 'looking for Python 3.10+');
  const system = findPython(environment);

  report('venv', 2, `creating virtual environment with ${system.executable} ${system.version}`);
  rmSync(venvDir, { recursive: true, force: true });
  mkdirSync(path.dirname(venvDir), { recursive: true });
  await run(system.executable, ['-m', 'venv', venvDir], environment, options.onLog, {
    what: 'creating the virtual environment',
    hint: 'install the venv module (Debian: apt-get install python3-venv)',
  });

  const pip = [python, '-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off'];
  report('torch', 3, `installing torch ${TORCH_VERSION} (${torch})`);
  const torchIndex = options.torchIndexUrl ?? environment.UNDERSTUDY_TORCH_INDEX_URL;
  const torchArgs = [`torch==${TORCH_VERSION}`, ...(torchIndex ? ['--extra-index-url', torchIndex] : [])];
  await run(pip[0]!, [...pip.slice(1), ...torchArgs], environment, options.onLog, {
    what: `installing torch ${TORCH_VERSION}`,
    hint: torch === 'cpu'
      ? 'pip could not find torch; on a machine where PyPI serves a CUDA build, pass --torch-index-url https://download.pytorch.org/whl/cpu'
      : 'pass --torch-index-url with the PyTorch wheel index for your CUDA version',
  });

  report('requirements', 4, 'installing transformers, peft, trl, accelerate, datasets, gguf');
  await run(pip[0]!, [...pip.slice(1), '-r', requirements.file], environment, options.onLog, {
    what: `installing ${requirements.file}`,
    hint: 'check the network connection to the package index, then run `understudy setup` again',
  });

  report('verify', 5, 'importing the worker libraries');
  const verify = spawnSync(python, ['-c', 'import json, torch, transformers, peft, trl, accelerate, datasets, gguf; print(json.dumps({m.__name__: m.__version__ for m in (torch, transformers, peft, trl, accelerate, datasets)}))'], {
    encoding: 'utf8',
    env: { ...environment, PYTHONPATH: WORKER_DIR },
  });
  if (verify.status !== 0) {
    throw new EnvironmentError(`the worker environment does not import: ${lastLines(verify.stderr, 5)}`, { file: venvDir, hint: 'run `understudy setup --force`' });
  }
  const versions = JSON.parse(verify.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, string>;
  const temporary = `${markerFile}.tmp`;
  writeFileSync(temporary, JSON.stringify({ versions, torch, requirementsHash: requirements.hash, createdAt: new Date().toISOString() }, null, 2));
  renameSync(temporary, markerFile);
  report('ready', totalSteps, `worker environment ready at ${venvDir}`);
  return { python, venvDir, versions, created: true };
}

function run(
  executable: string,
  args: string[],
  environment: NodeJS.ProcessEnv,
  onLog: ((line: string) => void) | undefined,
  failure: { what: string; hint: string },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(executable, args, { env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const collect = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-4000);
      if (onLog) for (const line of text.split('\n')) if (line.trim() !== '') onLog(line);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (error) => reject(new EnvironmentError(`${failure.what} failed: ${error.message}`, { cause: error, hint: failure.hint })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new EnvironmentError(`${failure.what} failed (exit ${code}): ${lastLines(tail, 6)}`, { hint: failure.hint }));
    });
  });
}

function lastLines(text: string, count: number): string {
  return text.trim().split('\n').slice(-count).join('\n    ');
}
