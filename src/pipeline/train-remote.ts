/**
 * LoRA SFT on a GPU host over SSH. The run is prepared and registered here exactly as a local one (same spec, same
 * data files, same store), then the data, base and worker go to the host by content hash, the worker runs there
 * under `setsid nohup` with its own event log, and the events stream back into the store. A dropped connection does
 * not stop the run: this side reconnects, or leaves it to `understudy runs attach`, which catches up from the events
 * already stored. The adapter comes back through tar and is registered only after both sha256 checks pass.
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { SshTarget } from '../contracts/config.ts';
import { TrainSftSpecSchema, WorkerEventSchema, parseWorkerEventLine, type TrainSftSpec, type WorkerEvent } from '../contracts/worker.ts';
import { InvalidInputError, RemoteError, WorkerError } from '../core/errors.ts';
import type { ResolvedSft } from '../core/sft-defaults.ts';
import { sha256File } from '../adapters/file-hash.ts';
import { blobPath, checkHost, ensureRemoteEnvironment, syncBlobs, syncWorker, type BlobFile, type HostReport, type SyncSummary } from '../adapters/remote/remote-host.ts';
import { classifySshFailure, createSshConnection, shQuote, type SshConnection } from '../adapters/remote/ssh-connection.ts';
import type { RunRecord, Store } from '../adapters/store/sqlite-store.ts';
import { collectAdapter, completeSftRun, curvesFromEvents, prepareSftRun, runFiles, takeRunLock, writeAtomic, type RunFiles, type TrainResult, type TrainSftInput } from './train.ts';

/** What `runs attach` needs to find a remote run again: kept next to the run as `remote.json`. */
export interface RemoteRunState {
  version: 1;
  targetLabel: string;
  target: SshTarget;
  address: string;
  host: HostReport;
  /** The run's folder on the host. */
  remoteRunDir: string;
  /** The worker's process group on the host (setsid makes it the leader). */
  pid: number;
  python: string;
  launchedAt: string;
  sync: SyncSummary & { workerSent: boolean; workerHash: string };
}

const STATE_FILE = 'remote.json';
const EXIT_MARKER = '@@understudy-exit ';

export interface RemoteTrainResult extends TrainResult {
  remote: RemoteRunState;
}

export interface RemoteHooks {
  /** A line about what happens now (checking the host, sending, reconnecting). */
  onStage?: (message: string) => void;
  onEvent?: (event: WorkerEvent) => void;
  /** The pid of the local `ssh` that streams the events (a test cuts it to drop the connection). */
  onStream?: (pid: number) => void;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
}

export type TrainSftRemoteInput = Omit<TrainSftInput, 'python' | 'launch' | 'onEvent' | 'onStderr' | 'signal'> & RemoteHooks & {
  target: SshTarget;
  /** The target's name in the config, or its ssh:// address. */
  targetLabel: string;
  /** Stand-in for ssh in tests is never needed: tests start a real sshd. This only picks another client binary. */
  sshExecutable?: string;
};

/** Run SFT on the target host; resolves when the adapter is back here and registered. */
export async function trainSftRemote(input: TrainSftRemoteInput): Promise<RemoteTrainResult> {
  const { store, target } = input;
  const stage = input.onStage ?? (() => undefined);
  if (input.base.hfDir !== undefined) {
    throw new InvalidInputError('remote training sends a GGUF base; this base is a local transformers folder', { field: 'baseModel', hint: 'point baseModel at the GGUF' });
  }
  const connection = createSshConnection(target, input.sshExecutable === undefined ? {} : { sshExecutable: input.sshExecutable });
  stage(`checking ${connection.address}`);
  const host = await checkHost(connection, target, { bytes: statSync(input.base.ggufPath).size });
  stage(`${connection.address}: Python ${host.pythonVersion}, ${host.gpus.length === 0 ? 'no GPU' : host.gpus.map((gpu) => `${gpu.name}${gpu.memoryMiB === null ? '' : ` ${Math.round(gpu.memoryMiB / 1024)} GiB`}`).join(', ')}, ${(host.freeBytes / 1024 ** 3).toFixed(0)} GiB free in ${host.dir}`);

  const prepared = prepareSftRun({ ...input, threads: 0, launch: { launcher: [], description: `ssh://${connection.address}` } });
  const { run, files, spec } = prepared;
  let state: RemoteRunState;
  try {
    state = await launchRemote({ connection, target, targetLabel: input.targetLabel, host, run, files, spec, basePath: input.base.ggufPath, stage, signal: input.signal });
  } catch (error) {
    store.failRun(run.id, input.signal?.aborted === true ? 'interrupted' : 'failed', error instanceof Error ? error.message : String(error));
    throw error;
  }
  const result = await followRemoteRun({ store, connection, state, run, files, resolved: prepared.resolved, records: prepared.records, hooks: input });
  return result;
}

async function launchRemote(input: {
  connection: SshConnection;
  target: SshTarget;
  targetLabel: string;
  host: HostReport;
  run: RunRecord;
  files: RunFiles;
  spec: TrainSftSpec;
  /** The GGUF base (`trainSftRemote` refuses any other); its sha256 is the run's `baseSha256`, known already. */
  basePath: string;
  stage: (message: string) => void;
  signal?: AbortSignal;
}): Promise<RemoteRunState> {
  const { connection, host, spec, files, stage } = input;
  const baseBlob: BlobFile = { local: input.basePath, sha256: input.run.baseSha256, name: path.basename(input.basePath) };
  const trainBlob: BlobFile = { local: spec.trainPath, sha256: await sha256File(spec.trainPath), name: 'train.jsonl' };
  const evalBlob: BlobFile | undefined = spec.evalPath === undefined ? undefined : { local: spec.evalPath, sha256: await sha256File(spec.evalPath), name: 'validation.jsonl' };
  const blobs: BlobFile[] = [baseBlob, trainBlob, ...(evalBlob === undefined ? [] : [evalBlob])];

  stage(`sending the base, data and worker to ${connection.address} (by content hash: what is there already is not sent)`);
  const sync = await syncBlobs(connection, host.dir, blobs, input.signal);
  const worker = await syncWorker(connection, host.dir, input.signal);
  stage(`sent ${sync.sent.length === 0 ? 'no files' : sync.sent.join(', ')} (${(sync.bytesSent / 1024 ** 2).toFixed(1)} MiB)${sync.reused.length === 0 ? '' : `; already there: ${sync.reused.join(', ')}`}; worker ${worker.sent ? 'sent' : 'already there'} (${worker.hash})`);
  const environment = await ensureRemoteEnvironment(connection, input.target, host, worker.path, stage, input.signal);
  stage(`worker environment on ${connection.address}: torch ${environment.versions.torch ?? '?'}, transformers ${environment.versions.transformers ?? '?'}, peft ${environment.versions.peft ?? '?'}, trl ${environment.versions.trl ?? '?'}${environment.created ? ' (made now)' : ''}`);

  const remoteRunDir = `${host.dir}/runs/${input.run.id}`;
  const remoteSpec = TrainSftSpecSchema.parse({
    ...spec,
    base: { kind: 'gguf', path: blobPath(host.dir, baseBlob) },
    training: { ...spec.training, threads: 0 },
    trainPath: `${remoteRunDir}/train.jsonl`,
    ...(evalBlob === undefined ? {} : { evalPath: `${remoteRunDir}/validation.jsonl` }),
    checkpointDir: `${remoteRunDir}/checkpoints`,
    outputDir: `${remoteRunDir}/staging`,
  });
  const environmentVariables = [
    `PYTHONPATH=${shQuote(worker.path)}`,
    'PYTHONUNBUFFERED=1',
    'TOKENIZERS_PARALLELISM=false',
    'HF_HUB_OFFLINE=1',
    'TRANSFORMERS_OFFLINE=1',
  ].join(' ');
  // The worker gets its own session (setsid) and ignores the hang-up (nohup): the run outlives this connection.
  // Its exit code lands in a file written by rename, so "finished" is never half-read.
  const launch = [
    'set -e',
    `mkdir -p ${shQuote(remoteRunDir)}/staging && cd ${shQuote(remoteRunDir)}`,
    `[ ! -f pid ] || { echo "this run was launched here already" >&2; exit 4; }`,
    `cp -f ${shQuote(blobPath(host.dir, trainBlob))} train.jsonl`,
    ...(evalBlob === undefined ? [] : [`cp -f ${shQuote(blobPath(host.dir, evalBlob))} validation.jsonl`]),
    'cat > spec.json',
    ': > events.jsonl',
    `${environmentVariables} setsid nohup sh -c '"$0" -m understudy_worker train-sft --spec spec.json > events.jsonl 2> worker.log; echo $? > exit-code.tmp; mv exit-code.tmp exit-code' ${shQuote(environment.python)} < /dev/null > /dev/null 2>&1 &`,
    'echo $! > pid',
    'cat pid',
  ].join('\n');
  const pid = Number((await connection.run(launch, 'launching the worker', { input: JSON.stringify(remoteSpec, null, 2), signal: input.signal })).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new RemoteError(`the worker on ${connection.address} reported no process id`, { failure: 'command' });
  const state: RemoteRunState = {
    version: 1,
    targetLabel: input.targetLabel,
    target: input.target,
    address: connection.address,
    host,
    remoteRunDir,
    pid,
    python: environment.python,
    launchedAt: new Date().toISOString(),
    sync: { ...sync, workerSent: worker.sent, workerHash: worker.hash },
  };
  writeAtomic(path.join(files.runDir, STATE_FILE), JSON.stringify(state, null, 2));
  stage(`run ${input.run.id} started on ${connection.address} (process ${pid}, folder ${remoteRunDir})`);
  return state;
}

/** The worker events stored for a run so far: a reattached stream skips this many. */
function storedEvents(store: Store, runId: string): WorkerEvent[] {
  return store.runEvents(runId).flatMap((value) => {
    const parsed = WorkerEventSchema.safeParse(value);
    return parsed.success ? [parsed.data] : [];
  });
}

/**
 * Stream the run's event log once (`tail -f` until the worker's process ends). Lines already stored are skipped,
 * so a second stream after a drop stores each event exactly once. `ended: false` is a drop to reconnect after (the
 * link went, or the host is unreachable for now); a login the host refuses (key, host key) rejects: retrying cannot
 * fix it.
 */
function streamOnce(connection: SshConnection, state: RemoteRunState, store: Store, runId: string, hooks: RemoteHooks): Promise<{ ended: boolean; exitCode: number | null }> {
  const skip = storedEvents(store, runId).length;
  const script = `cd ${shQuote(state.remoteRunDir)} || exit 5\ntail -n +1 -f --pid="$(cat pid)" events.jsonl\necho "${EXIT_MARKER}$(cat exit-code 2>/dev/null || echo none)"`;
  return new Promise((resolve, reject) => {
    const child = connection.spawn(script);
    if (child.pid !== undefined) hooks.onStream?.(child.pid);
    let buffer = '';
    let seen = 0;
    let exit: { exitCode: number | null } | undefined;
    let failure: unknown;
    const onAbort = (): void => { child.kill('SIGTERM'); };
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    const handle = (line: string): void => {
      if (line.startsWith(EXIT_MARKER)) {
        const code = Number(line.slice(EXIT_MARKER.length));
        exit = { exitCode: Number.isInteger(code) ? code : null };
        return;
      }
      const parsed = parseWorkerEventLine(line);
      if (parsed.kind !== 'event') return;
      seen += 1;
      if (seen <= skip) return;
      try {
        store.appendRunEvent(runId, parsed.event);
        hooks.onEvent?.(parsed.event);
      } catch (error) {
        failure ??= error;
        child.kill('SIGTERM');
      }
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      lines.forEach(handle);
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-4000); });
    child.on('error', (error) => { failure ??= error; });
    child.on('close', (code) => {
      hooks.signal?.removeEventListener('abort', onAbort);
      if (buffer !== '') handle(buffer);
      if (failure !== undefined) return reject(failure);
      if (code === 5) return reject(new RemoteError(`the run folder ${state.remoteRunDir} is gone from ${connection.address}`, { failure: 'command' }));
      if (exit === undefined && code === 255) {
        const sshFailure = classifySshFailure(stderr, connection.address);
        if (sshFailure.failure === 'auth' || sshFailure.failure === 'host-key') {
          return reject(new RemoteError(`${sshFailure.message}; run ${runId} goes on there`, {
            failure: sshFailure.failure,
            cause: sshFailure,
            hint: `${sshFailure.hint ?? 'fix the login'}; then follow the run with: understudy runs attach ${runId} --workspace <workspace>`,
          }));
        }
      }
      resolve(exit === undefined ? { ended: false, exitCode: null } : { ended: true, exitCode: exit.exitCode });
    });
  });
}

/** Follow a launched remote run to its end, reconnecting after drops, then fetch, verify and register the adapter. */
async function followRemoteRun(input: {
  store: Store;
  connection: SshConnection;
  state: RemoteRunState;
  run: RunRecord;
  files: RunFiles;
  resolved: ResolvedSft;
  records: number;
  hooks: RemoteHooks;
}): Promise<RemoteTrainResult> {
  const { store, connection, state, run, files, hooks } = input;
  const stage = hooks.onStage ?? (() => undefined);
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const lock = takeRunLock(files, run.id);
  try {
    let drops = 0;
    let exitCode: number | null = null;
    for (;;) {
      const outcome = await streamOnce(connection, state, store, run.id, hooks);
      if (hooks.signal?.aborted === true) {
        stage(`stopping the worker on ${connection.address}`);
        await connection.exec(`kill -TERM -- -${state.pid} 2>/dev/null; true`, { timeoutMs: 30_000 }).catch(() => undefined);
        store.failRun(run.id, 'interrupted', `interrupted; the worker on ${connection.address} was stopped`);
        throw new WorkerError('train-sft interrupted');
      }
      if (outcome.ended) {
        exitCode = outcome.exitCode;
        break;
      }
      drops += 1;
      if (drops > state.target.reconnectAttempts) {
        throw new RemoteError(`the connection to ${connection.address} was lost; run ${run.id} goes on there`, {
          failure: 'dropped',
          hint: `reattach with: understudy runs attach ${run.id} --workspace <workspace>`,
        });
      }
      const wait = Math.min(30_000, 1000 * 2 ** (drops - 1));
      stage(`the connection to ${connection.address} dropped; reconnecting in ${wait / 1000} s (${drops} of ${state.target.reconnectAttempts})`);
      await sleep(wait);
    }

    // `tail --pid` may stop a moment before the last lines: read the whole log once more (stored lines are skipped).
    await catchUp(connection, state, store, run.id, hooks);
    const events = storedEvents(store, run.id);
    const errorEvent = events.find((event) => event.event === 'error');
    const done = events.find((event): event is Extract<WorkerEvent, { event: 'done' }> => event.event === 'done');
    if (errorEvent?.event === 'error' || done === undefined || exitCode !== 0) {
      const log = (await connection.exec(`tail -n 12 ${shQuote(`${state.remoteRunDir}/worker.log`)}`).catch(() => ({ stdout: '' }))).stdout.trim();
      const message = errorEvent?.event === 'error' ? `train-sft: ${errorEvent.errorType}: ${errorEvent.message}` : `train-sft on ${connection.address} exited with ${exitCode ?? 'no code'} without finishing${log === '' ? '' : `:\n    ${log.split('\n').join('\n    ')}`}`;
      store.failRun(run.id, 'failed', message);
      throw new WorkerError(message);
    }

    stage(`fetching the adapter from ${connection.address}`);
    rmSync(files.stagingDir, { recursive: true, force: true });
    await connection.downloadTree(`${state.remoteRunDir}/staging`, ['peft', 'adapter.gguf'], files.stagingDir, hooks.signal);
    let adapterFiles: Awaited<ReturnType<typeof collectAdapter>>;
    try {
      adapterFiles = await collectAdapter(events, files.stagingDir, files.runDir);
    } catch (error) {
      rmSync(files.stagingDir, { recursive: true, force: true });
      const message = `the adapter fetched from ${connection.address} failed its checksum: ${error instanceof Error ? error.message : String(error)}`;
      store.failRun(run.id, 'failed', message);
      throw new RemoteError(message, { failure: 'checksum', cause: error, hint: 'the file changed on the host or in transfer; the run is marked failed and no adapter was registered' });
    }
    const result = completeSftRun({ store, run, done, adapterFiles, resolved: input.resolved, records: input.records, ...curvesFromEvents(events) });
    stage(`adapter verified (sha256 ${adapterFiles.ggufSha256.slice(0, 12)}) and registered; checkpoints stay on ${connection.address} in ${state.remoteRunDir}/checkpoints`);
    return { ...result, remote: state };
  } catch (error) {
    // A drop, or a login the host now refuses, leaves the run going on the host (still `running` here, for
    // `runs attach`); any other failure was recorded above or now.
    const leftOnHost = isDetached(error) || (RemoteError.isInstance(error) && (error.failure === 'auth' || error.failure === 'host-key'));
    if (!leftOnHost && store.getRun(run.id)?.status === 'running') {
      store.failRun(run.id, 'failed', error instanceof Error ? error.message : String(error));
    }
    throw error;
  } finally {
    lock.release();
  }
}

async function catchUp(connection: SshConnection, state: RemoteRunState, store: Store, runId: string, hooks: RemoteHooks): Promise<void> {
  const text = await connection.run(`cat ${shQuote(`${state.remoteRunDir}/events.jsonl`)}`, 'reading the event log');
  const skip = storedEvents(store, runId).length;
  let seen = 0;
  for (const line of text.split('\n')) {
    const parsed = parseWorkerEventLine(line);
    if (parsed.kind !== 'event') continue;
    seen += 1;
    if (seen <= skip) continue;
    store.appendRunEvent(runId, parsed.event);
    hooks.onEvent?.(parsed.event);
  }
}

/** `understudy runs attach`: reconnect to a remote run, store the events it missed, and finish it as `train` would. */
export async function attachRemoteRun(input: { store: Store; runsDir: string; runId: string; sshExecutable?: string } & RemoteHooks): Promise<RemoteTrainResult> {
  const { store } = input;
  const run = store.getRun(input.runId);
  if (run === undefined) throw new InvalidInputError(`unknown run ${input.runId}`, { field: '<id>' });
  const files = runFiles(input.runsDir, run.id);
  const stateFile = path.join(files.runDir, STATE_FILE);
  if (!existsSync(stateFile)) throw new InvalidInputError(`run ${run.id} was not trained on a remote host: nothing to attach to`, { file: stateFile });
  if (run.status !== 'running') throw new InvalidInputError(`run ${run.id} is ${run.status}; attach follows a run still going on its host`, { field: '<id>', hint: `see it with: understudy runs show ${run.id}` });
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as RemoteRunState;
  if (state.version !== 1) throw new InvalidInputError(`unknown remote state version ${String(state.version)}`, { file: stateFile });
  const spec = TrainSftSpecSchema.parse(JSON.parse(readFileSync(files.specFile, 'utf8')));
  const stored = store.getRunSpec(run.id) as { reasons?: Record<string, string> } | undefined;
  const resolved: ResolvedSft = { settings: { ...spec.training, lora: spec.lora } as unknown as ResolvedSft['settings'], reasons: stored?.reasons ?? {}, totalSteps: spec.training.maxSteps, validationExamples: 0, trainExamples: 0, warnings: [] };
  const records = readFileSync(spec.trainPath, 'utf8').split('\n').filter((line) => line.trim() !== '').length;
  const connection = createSshConnection(state.target, input.sshExecutable === undefined ? {} : { sshExecutable: input.sshExecutable });
  input.onStage?.(`attaching to run ${run.id} on ${connection.address} (${storedEvents(store, run.id).length} events stored so far)`);
  return followRemoteRun({ store, connection, state, run, files, resolved, records, hooks: input });
}

/** Whether an error means "the run goes on at the host" rather than "the run failed". */
export function isDetached(error: unknown): boolean {
  return RemoteError.isInstance(error) && error.failure === 'dropped';
}
