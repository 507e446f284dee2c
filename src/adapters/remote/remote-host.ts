import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { SshTarget } from '../../contracts/config.ts';
import { sha256Hex } from '../../core/content-hash.ts';
import { RemoteError } from '../../core/errors.ts';
import { WORKER_DIR } from '../paths.ts';
import { TORCH_VERSION, workerRequirements } from '../worker/python-env.ts';
import { shQuote, type SshConnection } from './ssh-connection.ts';

/** What a host offers, read before anything is sent. */
export interface HostReport {
  /** `dir` as an absolute path on the host. */
  dir: string;
  /** The interpreter that makes or is the environment, and its version; null when none was found. */
  python: string | null;
  pythonVersion: string | null;
  gpus: { name: string; memoryMiB: number | null }[];
  freeBytes: number;
  kernel: string;
}

const GIB = 1024 ** 3;

/**
 * Read the host (Python, GPUs from `nvidia-smi`, free disk under `dir`) in one round trip, and refuse a host that
 * cannot take the run: no Python, no GPU when one is required, too little disk. Nothing is sent before this passes.
 */
export async function checkHost(connection: SshConnection, target: SshTarget, needs: { bytes: number }): Promise<HostReport> {
  const python = target.python ?? 'python3';
  const script = [
    `mkdir -p ${shQuote(target.dir)} && cd ${shQuote(target.dir)} || exit 3`,
    'echo "dir=$(pwd)"',
    'echo "kernel=$(uname -sm)"',
    `if command -v ${shQuote(python)} >/dev/null 2>&1; then echo "python=$(command -v ${shQuote(python)})"; echo "pythonVersion=$(${shQuote(python)} -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"; fi`,
    'if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits 2>/dev/null | sed "s/^/gpu=/"; fi',
    'echo "free=$(df -Pk . | tail -n 1 | awk \'{print $4}\')"',
    'for tool in setsid tail tar sha256sum; do command -v $tool >/dev/null 2>&1 || echo "missing=$tool"; done',
  ].join('\n');
  const result = await connection.exec(script, { timeoutMs: 60_000 });
  if (result.code === 3) throw new RemoteError(`cannot create ${target.dir} on ${connection.address}: ${result.stderr.trim()}`, { failure: 'host-unfit', field: 'dir' });
  if (result.code !== 0) throw new RemoteError(`checking ${connection.address} failed (exit ${result.code}): ${result.stderr.trim()}`, { failure: 'command' });
  const values = new Map<string, string[]>();
  for (const line of result.stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at <= 0) continue;
    const key = line.slice(0, at);
    values.set(key, [...(values.get(key) ?? []), line.slice(at + 1).trim()]);
  }
  const one = (key: string): string | null => values.get(key)?.[0] ?? null;
  const report: HostReport = {
    dir: one('dir') ?? target.dir,
    python: one('python'),
    pythonVersion: one('pythonVersion'),
    gpus: (values.get('gpu') ?? []).map((line) => {
      const [name, memory] = line.split(',').map((part) => part.trim());
      const memoryMiB = Number(memory);
      return { name: name ?? 'unknown GPU', memoryMiB: Number.isFinite(memoryMiB) ? memoryMiB : null };
    }),
    freeBytes: Number(one('free') ?? '0') * 1024,
    kernel: one('kernel') ?? 'unknown',
  };
  const missing = values.get('missing') ?? [];
  if (missing.length > 0) throw new RemoteError(`${connection.address} lacks ${missing.join(', ')}`, { failure: 'host-unfit', hint: 'the host needs GNU coreutils, util-linux (setsid) and tar' });
  if (report.python === null) {
    throw new RemoteError(`${connection.address} has no ${python}`, { failure: 'host-unfit', field: target.python === undefined ? undefined : 'python', hint: 'install Python 3.10+ with venv there, or set the target\'s python to one that has the worker packages' });
  }
  const [major, minor] = (report.pythonVersion ?? '0.0').split('.').map(Number);
  if (major !== 3 || (minor ?? 0) < 10) throw new RemoteError(`${report.python} on ${connection.address} is Python ${report.pythonVersion ?? '?'}; the worker needs 3.10+`, { failure: 'host-unfit' });
  if (target.requireGpu && report.gpus.length === 0) {
    throw new RemoteError(`${connection.address} shows no GPU (nvidia-smi is missing or lists none), and the target requires one`, { failure: 'host-unfit', field: 'requireGpu', hint: 'install the NVIDIA driver there, or set requireGpu: false to train on its CPU' });
  }
  const wanted = Math.max(target.minFreeGb * GIB, needs.bytes * 1.2);
  if (report.freeBytes < wanted) {
    throw new RemoteError(`${connection.address} has ${(report.freeBytes / GIB).toFixed(1)} GiB free under ${report.dir}; the run needs ${(wanted / GIB).toFixed(1)} GiB`, { failure: 'host-unfit', field: 'minFreeGb', hint: 'free disk space there, or point the target\'s dir at a larger disk' });
  }
  return report;
}

/** A file to have on the host under its content hash. */
export interface BlobFile {
  local: string;
  sha256: string;
  /** The name kept after the hash (an extension some loaders look at). */
  name: string;
}

export function blobPath(dir: string, blob: BlobFile): string {
  return `${dir}/blobs/${blob.sha256}-${blob.name}`;
}

export interface SyncSummary {
  sent: string[];
  reused: string[];
  bytesSent: number;
}

/**
 * Put files on the host by content: a blob already there (same sha256) is not sent again. A blob is hashed on the
 * host before it takes its content-hash name (`upload`), so a transfer cut short or corrupted never passes for the
 * file: one connection per blob, and a mismatch is a RemoteError 'checksum'.
 */
export async function syncBlobs(connection: SshConnection, dir: string, blobs: readonly BlobFile[], signal?: AbortSignal): Promise<SyncSummary> {
  const names = blobs.map((blob) => blobPath(dir, blob));
  const present = new Set((await connection.run(`for f in ${names.map(shQuote).join(' ')}; do [ -f "$f" ] && echo "$f"; done; true`, 'listing blobs', { signal })).split('\n').filter((line) => line !== ''));
  const summary: SyncSummary = { sent: [], reused: [], bytesSent: 0 };
  for (const [index, blob] of blobs.entries()) {
    const remote = names[index]!;
    if (present.has(remote)) {
      summary.reused.push(blob.name);
      continue;
    }
    await connection.upload(blob.local, remote, blob.sha256, signal);
    summary.sent.push(blob.name);
    summary.bytesSent += statSync(blob.local).size;
  }
  return summary;
}

/** The worker package's files (no caches), and a hash naming that exact code. */
export function workerFiles(): { files: string[]; hash: string } {
  const files: string[] = ['requirements.txt'];
  const walk = (relative: string): void => {
    for (const entry of readdirSync(path.join(WORKER_DIR, relative), { withFileTypes: true })) {
      if (entry.name === '__pycache__' || entry.name.startsWith('.')) continue;
      const child = path.posix.join(relative, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && !entry.name.endsWith('.pyc')) files.push(child);
    }
  };
  walk('understudy_worker');
  files.sort();
  const hash = sha256Hex(files.map((file) => `${file}\0${sha256Hex(readFileSync(path.join(WORKER_DIR, file)))}`).join('\n')).slice(0, 16);
  return { files, hash };
}

/** The worker's files as one tar, in memory; a tar that cannot start or fails is a RemoteError 'command'. */
function packWorker(files: readonly string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', WORKER_DIR, '-cf', '-', ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    tar.stdout.on('data', (chunk: Buffer) => { chunks.push(chunk); });
    tar.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    tar.on('error', (error) => reject(new RemoteError(`packing the worker failed: tar could not start: ${error.message}`, { failure: 'command', cause: error })));
    tar.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new RemoteError(`packing the worker failed (tar exit ${code ?? 'by a signal'}): ${stderr.trim()}`, { failure: 'command', file: WORKER_DIR }))));
  });
}

/** Put this version of the worker on the host once (`<dir>/worker/<hash>/`); returns that folder. */
export async function syncWorker(connection: SshConnection, dir: string, signal?: AbortSignal): Promise<{ path: string; sent: boolean; hash: string }> {
  const { files, hash } = workerFiles();
  const target = `${dir}/worker/${hash}`;
  const check = await connection.exec(`[ -f ${shQuote(`${target}/.complete`)} ]`, { signal });
  if (check.code === 0) return { path: target, sent: false, hash };
  const staging = `${target}.part-${process.pid}`;
  // The archive is made whole here first (the worker is small): a local tar that fails sends nothing, rather than a
  // cut-short stream the host would unpack and mark complete.
  const archive = await packWorker(files);
  const remote = connection.spawnWithInput(`set -e; rm -rf ${shQuote(staging)}; mkdir -p ${shQuote(staging)}; tar -C ${shQuote(staging)} -xf -; touch ${shQuote(`${staging}/.complete`)}; rm -rf ${shQuote(target)}; mv ${shQuote(staging)} ${shQuote(target)}`);
  remote.child.stdin!.end(archive);
  await remote.done(`sending the worker (${files.length} files)`, signal);
  return { path: target, sent: true, hash };
}

/**
 * The Python that runs the worker on the host: the target's own `python` after checking it imports the worker's
 * packages, or a virtual environment under `dir` named by the pinned requirements (made once, then reused).
 */
export async function ensureRemoteEnvironment(
  connection: SshConnection,
  target: SshTarget,
  host: HostReport,
  workerPath: string,
  onLog?: (line: string) => void,
  signal?: AbortSignal,
): Promise<{ python: string; created: boolean; versions: Record<string, string> }> {
  const probe = (python: string): string =>
    `PYTHONPATH=${shQuote(workerPath)} ${shQuote(python)} -c 'import json, torch, transformers, peft, trl, accelerate, datasets, gguf; print(json.dumps({m.__name__: m.__version__ for m in (torch, transformers, peft, trl, accelerate, datasets)}))'`;
  const versionsOf = (stdout: string): Record<string, string> => JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, string>;
  if (target.python !== undefined) {
    const result = await connection.exec(probe(target.python), { signal, timeoutMs: 300_000 });
    if (result.code !== 0) {
      throw new RemoteError(`${target.python} on ${connection.address} cannot import the worker's packages: ${result.stderr.trim().split('\n').at(-1) ?? ''}`, { failure: 'host-unfit', field: 'python', hint: 'leave python out of the target and Understudy makes its own environment there' });
    }
    return { python: target.python, created: false, versions: versionsOf(result.stdout) };
  }
  const requirements = workerRequirements(target.torch);
  const venv = `${host.dir}/venv-${target.torch}-${requirements.hash}`;
  const python = `${venv}/bin/python`;
  const marker = `${venv}/understudy-ready.json`;
  const ready = await connection.exec(`[ -f ${shQuote(marker)} ] && cat ${shQuote(marker)}`, { signal });
  if (ready.code === 0) return { python, created: false, versions: (JSON.parse(ready.stdout) as { versions?: Record<string, string> }).versions ?? {} };
  onLog?.(`making the worker environment on ${connection.address} (torch ${TORCH_VERSION}, ${target.torch}); this takes minutes once`);
  const torchIndex = target.torch === 'cpu' ? ' --extra-index-url https://download.pytorch.org/whl/cpu' : '';
  const script = [
    'set -e',
    `rm -rf ${shQuote(venv)}`,
    `${shQuote(host.python!)} -m venv ${shQuote(venv)}`,
    `${shQuote(python)} -m pip install --disable-pip-version-check --progress-bar off torch==${TORCH_VERSION}${torchIndex}`,
    `${shQuote(python)} -m pip install --disable-pip-version-check --progress-bar off -r ${shQuote(`${workerPath}/requirements.txt`)}`,
  ].join('\n');
  const made = await connection.exec(script, { signal, timeoutMs: 60 * 60_000 });
  if (made.code !== 0) {
    throw new RemoteError(`making the worker environment on ${connection.address} failed: ${made.stderr.trim().split('\n').slice(-4).join(' ')}`, { failure: 'host-unfit', hint: 'check the host reaches PyPI (and the PyTorch index), and has python3-venv' });
  }
  const verified = await connection.exec(probe(python), { signal, timeoutMs: 300_000 });
  if (verified.code !== 0) throw new RemoteError(`the new environment on ${connection.address} does not import: ${verified.stderr.trim().split('\n').at(-1) ?? ''}`, { failure: 'host-unfit' });
  const versions = versionsOf(verified.stdout);
  await connection.run(`cat > ${shQuote(`${marker}.tmp`)} && mv ${shQuote(`${marker}.tmp`)} ${shQuote(marker)}`, 'marking the environment ready', { input: JSON.stringify({ versions, torch: target.torch, requirementsHash: requirements.hash, createdAt: new Date().toISOString() }) });
  return { python, created: true, versions };
}
