/**
 * A training job as one file, for the job runners a team already has (Modal, Anyscale, Kubernetes, Slurm): the run
 * is registered here as for a local run, and `<bundle>.tar.gz` holds its worker spec (relative paths), the data,
 * the base GGUF, the worker code and a one-line launch script. The job writes `out/`; `understudy runs import`
 * takes that folder (or a tar of it) back, checks each artifact against the sha256 the worker reported, stores the
 * events and registers the adapter. Nothing is registered from files that fail their check.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TrainSftSpecSchema, parseWorkerEventLine, type WorkerEvent } from '../contracts/worker.ts';
import { InvalidInputError, WorkerError } from '../core/errors.ts';
import type { ResolvedSft } from '../core/sft-defaults.ts';
import { sha256File } from '../adapters/file-hash.ts';
import { WORKER_DIR } from '../adapters/paths.ts';
import { workerFiles } from '../adapters/remote/remote-host.ts';
import { TORCH_VERSION } from '../adapters/worker/python-env.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import { collectAdapter, completeSftRun, curvesFromEvents, prepareSftRun, runFiles, takeRunLock, type TrainResult, type TrainSftInput } from './train.ts';

const MANIFEST = 'bundle.json';
/** `sha256sum -c` input: run.sh checks every bundled file against it before it trains. */
const CHECKSUMS = 'SHA256SUMS';

export interface BundleManifest {
  version: 1;
  runId: string;
  createdAt: string;
  /** Relative path -> sha256 of every file in the bundle but this one. */
  files: Record<string, string>;
  launch: string;
}

export interface BundleResult {
  runId: string;
  bundle: string;
  bytes: number;
  manifest: BundleManifest;
}

function tar(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.on('error', (error) => reject(new WorkerError(`tar could not start: ${error.message}`, { cause: error })));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new InvalidInputError(`tar ${args[0]} failed: ${stderr.trim()}`))));
  });
}

const LAUNCH = 'sh run.sh';

/** Register an SFT run and write it as a self-contained job bundle (`.tar.gz`), atomically. */
export async function writeTrainBundle(input: Omit<TrainSftInput, 'python' | 'launch'> & { bundle: string }): Promise<BundleResult> {
  const bundle = path.resolve(input.bundle);
  if (!/\.(tar\.gz|tgz)$/.test(bundle)) throw new InvalidInputError('the bundle is a gzipped tar: name it *.tar.gz', { field: '--bundle' });
  if (input.base.hfDir !== undefined) throw new InvalidInputError('a bundle carries a GGUF base; this base is a transformers folder', { field: 'baseModel' });
  mkdirSync(path.dirname(bundle), { recursive: true });
  const prepared = prepareSftRun({ ...input, threads: 0, launch: { launcher: [], description: `bundle:${path.basename(bundle)}` } });
  const { run, spec } = prepared;
  const staging = mkdtempSync(path.join(os.tmpdir(), 'understudy-bundle-'));
  try {
    const root = path.join(staging, 'understudy-job');
    mkdirSync(path.join(root, 'data'), { recursive: true });
    mkdirSync(path.join(root, 'base'), { recursive: true });
    const baseName = path.basename(input.base.ggufPath);
    copyFileSync(input.base.ggufPath, path.join(root, 'base', baseName));
    copyFileSync(spec.trainPath, path.join(root, 'data', 'train.jsonl'));
    if (spec.evalPath !== undefined) copyFileSync(spec.evalPath, path.join(root, 'data', 'validation.jsonl'));
    const { files: workerList } = workerFiles();
    for (const file of workerList) {
      mkdirSync(path.dirname(path.join(root, 'worker', file)), { recursive: true });
      copyFileSync(path.join(WORKER_DIR, file), path.join(root, 'worker', file));
    }
    const bundleSpec = TrainSftSpecSchema.parse({
      ...spec,
      base: { kind: 'gguf', path: `base/${baseName}` },
      training: { ...spec.training, threads: 0 },
      trainPath: 'data/train.jsonl',
      ...(spec.evalPath === undefined ? {} : { evalPath: 'data/validation.jsonl' }),
      checkpointDir: 'out/checkpoints',
      outputDir: 'out/adapter',
    });
    writeFileSync(path.join(root, 'spec.json'), JSON.stringify(bundleSpec, null, 2));
    writeFileSync(path.join(root, 'run.sh'), [
      '#!/bin/sh',
      `# Understudy job for run ${run.id}. Needs Python 3.10+ with: pip install torch==${TORCH_VERSION} -r worker/requirements.txt`,
      '# Writes out/: the adapter, checkpoints, the worker\'s JSON-line events and its log. Bring out/ back with:',
      `#   understudy runs import <out folder or out.tar.gz> --workspace <workspace>`,
      'set -e',
      'cd "$(dirname "$0")"',
      '# Every file as it was bundled, or no training: a file cut short or changed on the way fails here.',
      `sha256sum -c --quiet ${CHECKSUMS} >&2 || { echo "understudy job: the bundle's files do not match ${CHECKSUMS}; not training" >&2; exit 3; }`,
      'mkdir -p out',
      `cp ${MANIFEST} out/${MANIFEST}`,
      'PYTHONPATH="$PWD/worker" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "${PYTHON:-python3}" -m understudy_worker train-sft --spec spec.json > out/events.jsonl 2> out/worker.log',
      '',
    ].join('\n'), { mode: 0o755 });
    const listed: Record<string, string> = {};
    for (const file of ['spec.json', 'run.sh', `base/${baseName}`, 'data/train.jsonl', ...(spec.evalPath === undefined ? [] : ['data/validation.jsonl']), ...workerList.map((file) => `worker/${file}`)]) {
      listed[file] = await sha256File(path.join(root, file));
    }
    writeFileSync(path.join(root, CHECKSUMS), Object.entries(listed).map(([file, sha256]) => `${sha256}  ${file}\n`).join(''));
    listed[CHECKSUMS] = await sha256File(path.join(root, CHECKSUMS));
    const manifest: BundleManifest = { version: 1, runId: run.id, createdAt: new Date().toISOString(), files: listed, launch: LAUNCH };
    writeFileSync(path.join(root, MANIFEST), JSON.stringify(manifest, null, 2));
    const temporary = `${bundle}.part-${process.pid}`;
    await tar(['-czf', temporary, 'understudy-job'], staging);
    renameSync(temporary, bundle);
    return { runId: run.id, bundle, bytes: statSync(bundle).size, manifest };
  } catch (error) {
    input.store.failRun(run.id, 'failed', `writing the bundle failed: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * `understudy runs import`: a bundle job's `out/` (a folder, or a .tar.gz of it) back into its run. The artifacts
 * must hash to what the worker reported; a mismatch leaves the run as it was (still waiting for good files). A job
 * whose events report an error failed: its events are stored and the run is marked failed.
 */
export async function importBundleResults(input: { store: Store; runsDir: string; from: string }): Promise<TrainResult> {
  const from = path.resolve(input.from);
  if (!existsSync(from)) throw new InvalidInputError('no such file or folder', { file: from });
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'understudy-import-'));
  try {
    let folder = from;
    if (statSync(from).isFile()) {
      await tar(['-xzf', from, '-C', scratch], process.cwd());
      const candidates = [scratch, path.join(scratch, 'out'), path.join(scratch, 'understudy-job', 'out')];
      folder = candidates.find((candidate) => existsSync(path.join(candidate, MANIFEST))) ?? scratch;
    }
    const manifestFile = path.join(folder, MANIFEST);
    if (!existsSync(manifestFile)) throw new InvalidInputError(`no ${MANIFEST}: not the out/ folder of an Understudy bundle job`, { file: manifestFile });
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as BundleManifest;
    const run = input.store.getRun(manifest.runId);
    if (run === undefined) throw new InvalidInputError(`run ${manifest.runId} is not in this workspace`, { file: manifestFile, hint: 'import into the workspace that wrote the bundle' });
    if (run.status !== 'running') throw new InvalidInputError(`run ${run.id} is ${run.status}: only a run waiting for its bundle job imports`, { file: manifestFile });
    const eventsFile = path.join(folder, 'events.jsonl');
    if (!existsSync(eventsFile)) throw new InvalidInputError('the job left no events.jsonl', { file: eventsFile });
    const events: WorkerEvent[] = [];
    readFileSync(eventsFile, 'utf8').split('\n').forEach((line, index) => {
      const parsed = parseWorkerEventLine(line);
      if (parsed.kind === 'unknown') throw new InvalidInputError(`not a worker event: ${parsed.problem}`, { file: eventsFile, line: index + 1 });
      if (parsed.kind === 'event') events.push(parsed.event);
    });
    const errorEvent = events.find((event) => event.event === 'error');
    if (errorEvent?.event === 'error') {
      const message = `the job failed: ${errorEvent.errorType}: ${errorEvent.message}`;
      for (const event of events) input.store.appendRunEvent(run.id, event);
      input.store.failRun(run.id, 'failed', message);
      throw new WorkerError(message, { file: eventsFile });
    }
    const done = events.find((event): event is Extract<WorkerEvent, { event: 'done' }> => event.event === 'done');
    if (done === undefined) throw new InvalidInputError('the job did not finish: events.jsonl has no done event', { file: eventsFile, hint: 'see out/worker.log' });
    const files = runFiles(input.runsDir, run.id);
    const lock = takeRunLock(files, run.id);
    try {
      rmSync(files.stagingDir, { recursive: true, force: true });
      mkdirSync(files.stagingDir, { recursive: true });
      const adapterDir = path.join(folder, 'adapter');
      if (!existsSync(path.join(adapterDir, 'adapter.gguf')) || !existsSync(path.join(adapterDir, 'peft'))) {
        throw new InvalidInputError('the job left no adapter (adapter/peft and adapter/adapter.gguf)', { file: adapterDir, hint: 'see out/worker.log' });
      }
      cpSync(path.join(adapterDir, 'peft'), path.join(files.stagingDir, 'peft'), { recursive: true });
      copyFileSync(path.join(adapterDir, 'adapter.gguf'), path.join(files.stagingDir, 'adapter.gguf'));
      let adapterFiles: Awaited<ReturnType<typeof collectAdapter>>;
      try {
        adapterFiles = await collectAdapter(events, files.stagingDir, files.runDir);
      } catch (error) {
        rmSync(files.stagingDir, { recursive: true, force: true });
        throw new InvalidInputError(`the job's adapter failed its checksum: ${error instanceof Error ? error.message : String(error)}`, { file: adapterDir, cause: error });
      }
      for (const event of events) input.store.appendRunEvent(run.id, event);
      const spec = TrainSftSpecSchema.parse(JSON.parse(readFileSync(files.specFile, 'utf8')));
      const stored = input.store.getRunSpec(run.id) as { reasons?: Record<string, string> } | undefined;
      const resolved: ResolvedSft = { settings: { ...spec.training, lora: spec.lora } as unknown as ResolvedSft['settings'], reasons: stored?.reasons ?? {}, totalSteps: spec.training.maxSteps, validationExamples: 0, trainExamples: 0, warnings: [] };
      const records = readFileSync(spec.trainPath, 'utf8').split('\n').filter((line) => line.trim() !== '').length;
      return completeSftRun({ store: input.store, run, done, adapterFiles, resolved, records, ...curvesFromEvents(events) });
    } finally {
      lock.release();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
