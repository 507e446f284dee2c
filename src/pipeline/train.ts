import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TrainingConfig } from '../contracts/config.ts';
import { PromptCompletionRecordSchema, TrainSftSpecSchema, type BaseModelRef, type PromptCompletionRecord, type TrainSftSpec, type WorkerEvent } from '../contracts/worker.ts';
import { resolveSftSettings, type ResolvedSft } from '../core/sft-defaults.ts';
import { stratifiedSplit } from '../core/stratified-split.ts';
import { shuffle } from '../core/random.ts';
import { contentHash } from '../core/content-hash.ts';
import type { ResolvedBaseModel } from '../adapters/models/acquire.ts';
import { sha256Directory, sha256File } from '../adapters/file-hash.ts';
import type { ResolvedChatTemplate } from '../adapters/models/chat-template-source.ts';
import type { AdapterRecord, RunRecord, Store, StoredExample } from '../adapters/store/sqlite-store.ts';
import { runWorker } from '../adapters/worker/worker-process.ts';
import { InvalidInputError, WorkerError } from '../core/errors.ts';

export interface TrainResult {
  run: RunRecord;
  adapter: AdapterRecord;
  seconds: number;
  trainLoss: number | null;
  trainTokens: number | null;
  tokensPerSecond: number | null;
  steps: number | null;
  truncatedExamples: number | null;
  /** (step, loss) points from the progress events. */
  lossCurve: { step: number; loss: number }[];
  /** (step, validation loss, accuracy) from the eval events. */
  validationCurve: { step: number; evalLoss: number | null; accuracy: number | null }[];
  bestStep: number | null;
  bestEvalLoss: number | null;
  stoppedEarly: boolean;
  resumedFromStep: number | null;
  /** The settings the run used, and why each has its value. */
  settings: ResolvedSft['settings'];
  reasons: Record<string, string>;
}

/** Turn stored chat examples into TRL conversational prompt-completion records. */
export function toPromptCompletion(examples: readonly StoredExample[]): PromptCompletionRecord[] {
  return examples.map((example) => {
    const last = example.messages.at(-1);
    if (last?.role !== 'assistant') {
      throw new InvalidInputError('a training example must end with the assistant answer', { field: `examples[${example.position}].messages` });
    }
    return { prompt: example.messages.slice(0, -1), completion: [last] };
  });
}

export function baseModelRef(base: ResolvedBaseModel): BaseModelRef {
  return base.hfDir === undefined ? { kind: 'gguf', path: base.ggufPath } : { kind: 'hf-dir', path: base.hfDir };
}

/** How the worker is launched: directly, or under `accelerate launch` (DDP/FSDP on a multi-GPU host). */
export interface WorkerLaunch {
  /** Arguments before `-m understudy_worker` (see `runWorker`'s `launcher`). */
  launcher: string[];
  description: string;
}

/** Split stored examples into training and validation records, stratified by label where there are labels. */
export function splitValidation(examples: readonly StoredExample[], count: number, seed: number): { train: StoredExample[]; validation: StoredExample[] } {
  if (count <= 0) return { train: [...examples], validation: [] };
  const labelled = examples.every((example) => example.label !== null);
  if (labelled) {
    const split = stratifiedSplit(examples, (example) => example.label!, { testFraction: count / examples.length, seed: `validation-${seed}` });
    if (split.test.length > 0 && split.train.length > 0) return { train: split.train, validation: split.test };
  }
  const order = shuffle(examples.map((_, index) => index), `validation-${seed}`);
  const picked = new Set(order.slice(0, count));
  return { train: examples.filter((_, index) => !picked.has(index)), validation: examples.filter((_, index) => picked.has(index)) };
}

/** A stored dataset's examples as SFT records: the settings resolved for its size, then the validation split. */
export interface SftExamples {
  resolved: ResolvedSft;
  train: PromptCompletionRecord[];
  validation: PromptCompletionRecord[];
}

/**
 * Resolve the SFT settings for a stored dataset and split its validation examples off, as prompt-completion records.
 * Local and hosted runs both start here, so they train on the same split.
 */
export function splitSftExamples(store: Pick<Store, 'listExamples'>, datasetId: string, training: TrainingConfig): SftExamples {
  const examples = store.listExamples(datasetId);
  if (examples.length === 0) throw new InvalidInputError(`dataset ${datasetId} holds no examples`, { field: 'datasetId' });
  const labelCount = examples.every((example) => example.label !== null) ? new Set(examples.map((example) => example.label)).size : 0;
  const resolved = resolveSftSettings(training, { examples: examples.length, labelCount });
  const split = splitValidation(examples, resolved.validationExamples, resolved.settings.seed);
  return { resolved, train: toPromptCompletion(split.train), validation: toPromptCompletion(split.validation) };
}

export interface RunFiles {
  runDir: string;
  stagingDir: string;
  checkpointDir: string;
  specFile: string;
  lockFile: string;
}

export function runFiles(runsDir: string, runId: string): RunFiles {
  const runDir = path.join(runsDir, runId);
  return {
    runDir,
    stagingDir: path.join(runDir, 'staging'),
    checkpointDir: path.join(runDir, 'checkpoints'),
    specFile: path.join(runDir, 'worker-spec.json'),
    lockFile: path.join(runDir, 'run.lock'),
  };
}

/** Write a file whole or not at all (temporary file, then rename). */
export function writeAtomic(file: string, text: string, mode?: number): void {
  const temporary = `${file}.tmp-${process.pid}`;
  writeFileSync(temporary, text, mode === undefined ? undefined : { mode });
  renameSync(temporary, file);
}

/** A JSONL file of prompt-completion records (a run's train.jsonl or validation.jsonl), checked line by line. */
export function readPromptCompletionFile(file: string): PromptCompletionRecord[] {
  return readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '').map((line, index) => {
    const parsed = PromptCompletionRecordSchema.safeParse(JSON.parse(line));
    if (!parsed.success) throw new InvalidInputError(`not a prompt-completion record: ${parsed.error.issues[0]?.message ?? ''}`, { file, line: index + 1 });
    return parsed.data;
  });
}

/**
 * Move a finished worker's adapter from staging into the run folder. The worker reports each artifact's sha256 (the
 * PEFT one covers the whole directory); both are hashed again here, so a file changed, cut short or corrupted in
 * transfer after the worker (a remote host's) is caught. A retrained adapter always gets a new file name: llama.cpp engines cache
 * adapters by path.
 */
export async function collectAdapter(events: readonly WorkerEvent[], stagingDir: string, runDir: string): Promise<{ ggufPath: string; ggufSha256: string; peftPath: string; peftSha256: string }> {
  const peftStaged = path.join(stagingDir, 'peft');
  const ggufStaged = path.join(stagingDir, 'adapter.gguf');
  if (!existsSync(path.join(peftStaged, 'adapter_model.safetensors')) || !existsSync(ggufStaged)) {
    throw new WorkerError('the worker finished but its adapter files are missing', { file: stagingDir });
  }
  const reported = (kind: 'peft-adapter' | 'gguf-lora'): string => {
    const artifact = events.find((event) => event.event === 'artifact' && event.kind === kind);
    if (artifact?.event !== 'artifact') throw new WorkerError(`the worker reported no ${kind} artifact`, { file: stagingDir });
    return artifact.sha256;
  };
  const ggufSha256 = await sha256File(ggufStaged);
  if (ggufSha256 !== reported('gguf-lora')) {
    throw new WorkerError(`adapter.gguf hashes to ${ggufSha256}, not the ${reported('gguf-lora')} the worker reported`, { file: ggufStaged });
  }
  const peftSha256 = await sha256Directory(peftStaged);
  if (peftSha256 !== reported('peft-adapter')) {
    throw new WorkerError(`the PEFT adapter folder hashes to ${peftSha256}, not the ${reported('peft-adapter')} the worker reported`, { file: peftStaged });
  }
  const ggufPath = path.join(runDir, `adapter-${ggufSha256.slice(0, 12)}.gguf`);
  const peftPath = path.join(runDir, 'peft');
  renameSync(ggufStaged, ggufPath);
  rmSync(peftPath, { recursive: true, force: true });
  renameSync(peftStaged, peftPath);
  rmSync(stagingDir, { recursive: true, force: true });
  return { ggufPath, ggufSha256, peftPath, peftSha256: reported('peft-adapter') };
}

/** Whether a process still runs: a zombie (exited, not yet reaped by its new parent) counts as gone. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces and parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Who holds a run's lock: the process that trains it (the CLI) and its worker; undefined without a readable lock. */
export function readRunLock(lockFile: string): { pid?: number; workerPid?: number } | undefined {
  if (!existsSync(lockFile)) return undefined;
  try {
    return JSON.parse(readFileSync(lockFile, 'utf8')) as { pid?: number; workerPid?: number };
  } catch {
    // An unreadable lock was cut short by a crash: stale.
    return undefined;
  }
}

/** Refuse to run a run twice at once: the lock names the CLI and worker pids; a lock whose processes are gone is stale. */
export function takeRunLock(files: RunFiles, runId: string): { setWorker: (pid: number) => void; release: () => void } {
  const holder = readRunLock(files.lockFile);
  if (holder !== undefined) {
    const alive = [holder.pid, holder.workerPid].filter((pid): pid is number => typeof pid === 'number' && pid !== process.pid && processAlive(pid));
    if (alive.length > 0) {
      throw new InvalidInputError(`run ${runId} is still going (process ${alive.join(', ')})`, { file: files.lockFile, hint: 'wait for it, or stop it first' });
    }
  }
  const write = (workerPid?: number): void => writeAtomic(files.lockFile, JSON.stringify({ pid: process.pid, workerPid, since: new Date().toISOString() }));
  write();
  return { setWorker: (pid) => write(pid), release: () => rmSync(files.lockFile, { force: true }) };
}

export interface TrainSftInput {
  store: Store;
  python: string;
  base: ResolvedBaseModel;
  /** The template to train with (`resolveChatTemplate`); serving must render the same one. */
  chatTemplate: ResolvedChatTemplate;
  datasetId: string;
  training: TrainingConfig;
  /** Runs live in `<runsDir>/<run id>/`. */
  runsDir: string;
  threads?: number;
  launch?: WorkerLaunch;
  signal?: AbortSignal;
  onEvent?: (event: WorkerEvent) => void;
  onStderr?: (line: string) => void;
  /** Called once the run is registered (before any training). */
  onRun?: (run: RunRecord, resolved: ResolvedSft) => void;
}

/** A registered SFT run with its data files and worker spec written, ready for a worker here or on another host. */
export interface PreparedSftRun {
  run: RunRecord;
  files: RunFiles;
  spec: TrainSftSpec;
  resolved: ResolvedSft;
  records: number;
}

/** Register an SFT run: resolve its settings, split validation, write train.jsonl, validation.jsonl and the worker spec. */
export function prepareSftRun(input: Omit<TrainSftInput, 'python'>): PreparedSftRun {
  const { store } = input;
  const { resolved, train: records, validation } = splitSftExamples(store, input.datasetId, input.training);
  const { settings } = resolved;
  store.registerBaseModel({ sha256: input.base.sha256, name: input.base.name, path: input.base.ggufPath, metadata: input.base.catalog === undefined ? {} : { ...input.base.catalog } });

  const { lora, validationFraction: _validationFraction, ...schedule } = settings;
  const specWithoutPaths = {
    base: baseModelRef(input.base),
    lora,
    training: { ...schedule, loggingSteps: Math.max(1, Math.min(5, Math.round(resolved.totalSteps / 20))), threads: input.threads ?? 0 },
    chatTemplate: input.chatTemplate.source,
  };
  const trainText = records.map((record) => JSON.stringify(record)).join('\n') + '\n';
  const validationText = validation.length > 0 ? validation.map((record) => JSON.stringify(record)).join('\n') + '\n' : '';
  // The stored spec holds the template itself, its hash and origin, and the hashes of the exact files trained on.
  const run = store.startRun({
    datasetId: input.datasetId,
    baseSha256: input.base.sha256,
    method: 'sft',
    spec: {
      ...specWithoutPaths,
      baseSha256: input.base.sha256,
      chatTemplateSha256: input.chatTemplate.sha256,
      chatTemplateOrigin: input.chatTemplate.origin,
      data: { trainExamples: records.length, validationExamples: validation.length, trainSha256: contentHash(trainText), validationSha256: contentHash(validationText) },
      reasons: resolved.reasons,
      launch: input.launch?.description ?? 'python',
    },
  });
  input.onRun?.(run, resolved);
  const files = runFiles(input.runsDir, run.id);
  mkdirSync(files.stagingDir, { recursive: true });
  const trainPath = path.join(files.runDir, 'train.jsonl');
  writeAtomic(trainPath, trainText);
  let evalPath: string | undefined;
  if (validation.length > 0) {
    evalPath = path.join(files.runDir, 'validation.jsonl');
    writeAtomic(evalPath, validationText);
  }
  const validating = settings.evalSteps > 0 && evalPath !== undefined;
  const spec: TrainSftSpec = TrainSftSpecSchema.parse({
    command: 'train-sft',
    ...specWithoutPaths,
    training: {
      ...specWithoutPaths.training,
      evalSteps: validating ? settings.evalSteps : 0,
      earlyStoppingPatience: validating ? settings.earlyStoppingPatience : 0,
      accuracySample: validating ? Math.min(settings.accuracySample, validation.length) : 0,
    },
    trainPath,
    ...(evalPath === undefined ? {} : { evalPath }),
    checkpointDir: files.checkpointDir,
    outputDir: files.stagingDir,
  });
  writeAtomic(files.specFile, JSON.stringify(spec, null, 2));
  return { run, files, spec, resolved, records: records.length };
}

/**
 * Run LoRA SFT in the worker on a stored training dataset. Settings the config leaves out are chosen from the
 * dataset size (`core/sft-defaults.ts`); a validation split is held out of the training sample (never the eval
 * set). Progress and every event are stored with the run; checkpoints outlive a killed run (`resumeSft`); the
 * adapter is registered only when the worker finishes and both artifacts exist.
 */
export async function trainSft(input: TrainSftInput): Promise<TrainResult> {
  const prepared = prepareSftRun(input);
  return executeSft({ ...input, ...prepared });
}

/**
 * Continue a run that was killed (SIGKILL included), interrupted or failed, from its newest sealed checkpoint,
 * with exactly the spec and data files it started with. Without `runId`: the newest unfinished run.
 */
export async function resumeSft(input: {
  store: Store;
  python: string;
  runsDir: string;
  runId?: string;
  launch?: WorkerLaunch;
  signal?: AbortSignal;
  onEvent?: (event: WorkerEvent) => void;
  onStderr?: (line: string) => void;
  onRun?: (run: RunRecord, resolved: ResolvedSft) => void;
}): Promise<TrainResult> {
  const { store } = input;
  const run = input.runId === undefined
    ? store.listRuns().find((candidate) => candidate.method === 'sft' && candidate.status !== 'succeeded')
    : store.getRun(input.runId);
  if (run === undefined) {
    throw new InvalidInputError(input.runId === undefined ? 'no unfinished SFT run to resume' : `unknown run ${input.runId}`, { field: '--resume', hint: 'see the runs with: understudy runs list' });
  }
  if (run.status === 'succeeded') throw new InvalidInputError(`run ${run.id} already succeeded: nothing to resume`, { field: '--resume' });
  if (run.method !== 'sft') throw new InvalidInputError(`run ${run.id} is a ${run.method} run; --resume continues SFT runs`, { field: '--resume' });
  const files = runFiles(input.runsDir, run.id);
  if (!existsSync(files.specFile)) throw new InvalidInputError(`run ${run.id} has no worker spec to resume from`, { file: files.specFile });
  const spec = TrainSftSpecSchema.parse(JSON.parse(readFileSync(files.specFile, 'utf8')));
  const stored = store.getRunSpec(run.id) as { data?: { trainSha256?: string; validationSha256?: string }; reasons?: Record<string, string> } | undefined;
  // The data must be byte for byte what the run started with, or the resumed half trains on something else.
  const check = (file: string | undefined, expected: string | undefined, what: string): void => {
    if (expected === undefined) return;
    const actual = file === undefined ? contentHash('') : contentHash(readFileSync(file, 'utf8'));
    if (actual !== expected) throw new InvalidInputError(`the run's ${what} file changed since the run started`, { file: file ?? files.runDir });
  };
  check(spec.trainPath, stored?.data?.trainSha256, 'training');
  check(spec.evalPath, stored?.data?.validationSha256, 'validation');
  const settings = { ...spec.training, lora: spec.lora } as unknown as ResolvedSft['settings'];
  const resolved: ResolvedSft = { settings, reasons: stored?.reasons ?? {}, totalSteps: spec.training.maxSteps, validationExamples: 0, trainExamples: 0, warnings: [] };
  store.reopenRun(run.id);
  input.onRun?.(store.getRun(run.id)!, resolved);
  mkdirSync(files.stagingDir, { recursive: true });
  const records = readFileSync(spec.trainPath, 'utf8').split('\n').filter((line) => line.trim() !== '').length;
  return executeSft({ ...input, run: store.getRun(run.id)!, files, spec: { ...spec, resume: true }, resolved, records });
}

async function executeSft(input: {
  store: Store;
  python: string;
  run: RunRecord;
  files: RunFiles;
  spec: TrainSftSpec;
  resolved: ResolvedSft;
  records: number;
  launch?: WorkerLaunch;
  signal?: AbortSignal;
  onEvent?: (event: WorkerEvent) => void;
  onStderr?: (line: string) => void;
}): Promise<TrainResult> {
  const { store, run, files, spec } = input;
  const lossCurve: TrainResult['lossCurve'] = [];
  const validationCurve: TrainResult['validationCurve'] = [];
  const lock = takeRunLock(files, run.id);
  try {
    const outcome = await runWorker({
      python: input.python,
      spec,
      signal: input.signal,
      onStderr: input.onStderr,
      ...(input.launch === undefined ? {} : { launcher: input.launch.launcher }),
      onSpawn: (pid) => lock.setWorker(pid),
      onEvent: (event) => {
        store.appendRunEvent(run.id, event);
        if (event.event === 'progress' && event.loss !== null) lossCurve.push({ step: event.step, loss: event.loss });
        if (event.event === 'eval') validationCurve.push({ step: event.step, evalLoss: event.evalLoss, accuracy: event.accuracy ?? null });
        input.onEvent?.(event);
      },
    });
    const adapterFiles = await collectAdapter(outcome.events, files.stagingDir, files.runDir);
    return completeSftRun({ store, run, done: outcome.done, adapterFiles, resolved: input.resolved, records: input.records, lossCurve, validationCurve });
  } catch (error) {
    store.failRun(run.id, input.signal?.aborted === true ? 'interrupted' : 'failed', error instanceof Error ? error.message : String(error));
    // Staged outputs go; checkpoints stay, so `train --resume` can continue.
    rmSync(files.stagingDir, { recursive: true, force: true });
    throw error;
  } finally {
    lock.release();
  }
}

/** The loss and validation curves in a run's worker events. */
export function curvesFromEvents(events: readonly WorkerEvent[]): { lossCurve: TrainResult['lossCurve']; validationCurve: TrainResult['validationCurve'] } {
  const lossCurve: TrainResult['lossCurve'] = [];
  const validationCurve: TrainResult['validationCurve'] = [];
  for (const event of events) {
    if (event.event === 'progress' && event.loss !== null) lossCurve.push({ step: event.step, loss: event.loss });
    if (event.event === 'eval') validationCurve.push({ step: event.step, evalLoss: event.evalLoss, accuracy: event.accuracy ?? null });
  }
  return { lossCurve, validationCurve };
}

/** Mark a run succeeded with its verified adapter files (one transaction), and describe it. */
export function completeSftRun(input: {
  store: Store;
  run: RunRecord;
  done: Extract<WorkerEvent, { event: 'done' }>;
  adapterFiles: { ggufPath: string; ggufSha256: string; peftPath: string; peftSha256: string };
  resolved: ResolvedSft;
  records: number;
  lossCurve: TrainResult['lossCurve'];
  validationCurve: TrainResult['validationCurve'];
}): TrainResult {
  const { store, run, done } = input;
  const summary = {
    seconds: done.seconds,
    trainLoss: done.trainLoss ?? null,
    trainTokens: done.trainTokens ?? null,
    tokensPerSecond: done.tokensPerSecond ?? null,
    steps: done.steps ?? null,
    truncatedExamples: done.truncatedExamples ?? null,
    examples: input.records,
    bestStep: done.bestStep ?? null,
    bestEvalLoss: done.bestEvalLoss ?? null,
    stoppedEarly: done.stoppedEarly ?? false,
    resumedFromStep: done.resumedFromStep ?? null,
  };
  const adapter = store.completeRun(run.id, { ...summary, device: done.device ?? null, precision: done.precision ?? null }, input.adapterFiles);
  return { run: store.getRun(run.id)!, adapter, lossCurve: input.lossCurve, validationCurve: input.validationCurve, settings: input.resolved.settings, reasons: input.resolved.reasons, ...summary };
}
