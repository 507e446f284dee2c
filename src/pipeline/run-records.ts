/**
 * Training runs as records a person can read: what was trained on which data and base, with which
 * settings, how the losses went, where the checkpoints and the adapter are. Pure reads of the
 * workspace store; nothing here writes.
 *
 * Stored events and specs are parsed with small, tolerant schemas (only the fields used here, a bad
 * or missing field becomes null), so runs written by an older or newer worker still read.
 */
import { z } from 'zod';
import type { BrowsedRunRow } from '../adapters/store/browse-queries.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import { InvalidInputError } from '../core/errors.ts';

/** One training loss point from a `progress` event. */
export interface LossPoint {
  step: number;
  loss: number;
}

/** One validation from an `eval` event. */
export interface ValidationPoint {
  step: number;
  evalLoss: number | null;
  /** Task accuracy on `accuracySample` validation examples, 0–1; null when not measured. */
  accuracy: number | null;
  accuracySample: number | null;
  /** The worker's mark: the best validation so far when it was made. */
  best: boolean;
}

export interface CheckpointRecord {
  step: number;
  path: string;
  /** The checkpoint at the run's best step. */
  best: boolean;
}

/** Everything stored about one run, in one plain (JSON-ready) object. */
export interface RunDescription {
  id: string;
  method: string;
  status: 'running' | 'succeeded' | 'failed' | 'interrupted';
  startedAt: string;
  finishedAt: string | null;
  /** From start to finish by the database clock; null while running. */
  durationSeconds: number | null;
  dataset: { id: string; name: string | null; role: string | null; contentHash: string | null; exampleCount: number | null };
  base: {
    sha256: string;
    /** As registered in the workspace; null when the base was never registered there. */
    name: string | null;
    path: string | null;
    /** How the worker loaded it (`gguf`, `hf-dir` or `hub`, with its path or id). */
    ref: Record<string, unknown> | null;
  };
  chatTemplate: { sha256: string | null; origin: string | null; source: string | null };
  spec: {
    /** Content hash of the whole stored spec. */
    hash: string;
    lora: Record<string, unknown> | null;
    training: Record<string, unknown> | null;
    /** Other top-level spec fields (validation file, checkpoint folder, ...). */
    extra: Record<string, unknown>;
  };
  /** The device, torch version and precision the worker reported. */
  worker: { device: string | null; torchVersion: string | null; precision: string | null } | null;
  /** The summary stored when the run succeeded. */
  summary: Record<string, unknown> | null;
  steps: { completed: number | null; total: number | null };
  /** The last logged training loss. */
  finalLoss: number | null;
  /** The training loss the worker reported when it finished (its last logged loss, or the trainer's mean over the run). */
  trainLoss: number | null;
  workerSeconds: number | null;
  tokensPerSecond: number | null;
  trainTokens: number | null;
  truncatedExamples: number | null;
  lossCurve: LossPoint[];
  validationCurve: ValidationPoint[];
  /** The best validated step and its validation loss; null without validation. */
  best: { step: number; evalLoss: number | null } | null;
  stoppedEarly: boolean | null;
  /** The checkpoint step the run resumed from; null when it started fresh (or the worker did not say). */
  resumedFromStep: number | null;
  checkpoints: CheckpointRecord[];
  adapter: { id: string; ggufPath: string; ggufSha256: string; peftPath: string; peftSha256: string; createdAt: string } | null;
  /** A hosted fine-tune's result: the tuned model at the service (no local weights); null for local runs. */
  hostedModel: { service: string; target: string; baseModel: string; model: string; jobId: string } | null;
  /** Artifacts as the worker reported them (paths in its staging folder; the adapter holds the final ones). */
  reportedArtifacts: { kind: string; path: string; sha256: string }[];
  error: { message: string; errorType: string | null } | null;
}

/** One row of the runs table. */
export interface RunSummary {
  id: string;
  method: string;
  status: RunDescription['status'];
  startedAt: string;
  finishedAt: string | null;
  durationSeconds: number | null;
  steps: number | null;
  totalSteps: number | null;
  finalLoss: number | null;
  bestEvalLoss: number | null;
  bestStep: number | null;
  datasetId: string;
  datasetContentHash: string | null;
  baseSha256: string;
  baseName: string | null;
  adapterId: string | null;
}

/** Describe one run by its exact id; an unknown id is an InvalidInputError. */
export function describeRun(store: Store, runId: string): RunDescription {
  const run = store.getRun(runId);
  if (run === undefined) throw new InvalidInputError(`no run with id ${runId} in ${store.file}`);
  const spec = parseSpec(store.getRunSpec(runId));
  const dataset = store.getDataset(run.datasetId);
  const base = store.getBaseModel(run.baseSha256);
  const adapter = store.getAdapterForRun(runId);
  const hosted = store.getHostedModelForRun(runId);
  const events = readEvents(store.runEvents(runId));
  const summary = run.summary;

  const lossCurve = lastPerStep(events.progress.flatMap((event) => (event.loss === null ? [] : [{ step: event.step, loss: event.loss }])));
  const validationCurve = lastPerStep(events.eval.map(({ step, evalLoss, accuracy, accuracySample, best }) => ({ step, evalLoss, accuracy, accuracySample, best })));
  const done = events.done.at(-1);
  const best = bestValidation(done, validationCurve);
  const lastProgress = events.progress.at(-1);
  const started = events.started.at(-1);
  const errorEvent = events.error.at(-1);

  return {
    id: run.id,
    method: run.method,
    status: run.status,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationSeconds: run.finishedAt === null ? null : secondsBetween(run.startedAt, run.finishedAt),
    dataset: {
      id: run.datasetId,
      name: dataset?.name ?? null,
      role: dataset?.role ?? null,
      contentHash: dataset?.contentHash ?? null,
      exampleCount: dataset?.exampleCount ?? null,
    },
    base: { sha256: run.baseSha256, name: base?.name ?? null, path: base?.path ?? null, ref: spec.base },
    chatTemplate: { sha256: spec.chatTemplateSha256, origin: spec.chatTemplateOrigin, source: spec.chatTemplate },
    spec: { hash: run.specHash, lora: spec.lora, training: spec.training, extra: spec.extra },
    worker: started === undefined && done === undefined ? null : { device: started?.device ?? done?.device ?? null, torchVersion: started?.torchVersion ?? null, precision: done?.precision ?? null },
    summary,
    steps: {
      completed: numberField(summary, 'steps') ?? done?.steps ?? lastProgress?.step ?? null,
      total: lastProgress?.totalSteps ?? null,
    },
    finalLoss: lossCurve.at(-1)?.loss ?? null,
    trainLoss: numberField(summary, 'trainLoss') ?? done?.trainLoss ?? null,
    workerSeconds: numberField(summary, 'seconds') ?? done?.seconds ?? null,
    tokensPerSecond: numberField(summary, 'tokensPerSecond') ?? done?.tokensPerSecond ?? null,
    trainTokens: numberField(summary, 'trainTokens') ?? done?.trainTokens ?? null,
    truncatedExamples: numberField(summary, 'truncatedExamples') ?? done?.truncatedExamples ?? null,
    lossCurve,
    validationCurve,
    best,
    stoppedEarly: booleanField(summary, 'stoppedEarly') ?? done?.stoppedEarly ?? null,
    resumedFromStep: numberField(summary, 'resumedFromStep') ?? done?.resumedFromStep ?? null,
    checkpoints: lastPerStep(events.checkpoint.map(({ step, path }) => ({ step, path, best: best !== null && step === best.step }))),
    adapter: adapter === undefined ? null : { id: adapter.id, ggufPath: adapter.ggufPath, ggufSha256: adapter.ggufSha256, peftPath: adapter.peftPath, peftSha256: adapter.peftSha256, createdAt: adapter.createdAt },
    hostedModel: hosted === undefined ? null : { service: hosted.service, target: hosted.target, baseModel: hosted.baseModel, model: hosted.model, jobId: hosted.jobId },
    reportedArtifacts: events.artifact.map(({ kind, path, sha256 }) => ({ kind, path, sha256 })),
    error: run.error === null && errorEvent === undefined ? null : { message: run.error ?? errorEvent?.message ?? '', errorType: errorEvent?.errorType ?? null },
  };
}

/** The runs table, newest first. */
export function listRunSummaries(store: Store): RunSummary[] {
  return store.listRuns().map((run) => summarizeRun(describeRun(store, run.id)));
}

export function summarizeRun(run: RunDescription): RunSummary {
  return {
    id: run.id,
    method: run.method,
    status: run.status,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationSeconds: run.durationSeconds,
    steps: run.steps.completed,
    totalSteps: run.steps.total,
    finalLoss: run.finalLoss,
    bestEvalLoss: run.best?.evalLoss ?? null,
    bestStep: run.best?.step ?? null,
    datasetId: run.dataset.id,
    datasetContentHash: run.dataset.contentHash,
    baseSha256: run.base.sha256,
    baseName: run.base.name,
    adapterId: run.adapter?.id ?? null,
  };
}

/** The runs-table fields read from a browsed row: the values `summarizeRun(describeRun(...))` gives, without reading every event. */
export type RunRowSummary = Pick<RunSummary, 'id' | 'method' | 'status' | 'startedAt' | 'finishedAt' | 'durationSeconds' | 'steps' | 'totalSteps' | 'finalLoss' | 'bestEvalLoss' | 'bestStep' | 'datasetId' | 'baseName'>;

export function summarizeRunRow(row: BrowsedRunRow): RunRowSummary {
  // As `bestValidation`: the `done` event's word first, else the last validation the worker marked best.
  const best = row.done !== null && row.done.bestStep !== null ? { step: row.done.bestStep, evalLoss: row.done.bestEvalLoss ?? row.doneBestStepEvalLoss } : row.lastMarkedBest;
  return {
    id: row.id,
    method: row.method,
    status: row.status,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    durationSeconds: row.finishedAt === null ? null : secondsBetween(row.startedAt, row.finishedAt),
    steps: numberField(row.summary, 'steps') ?? row.done?.steps ?? row.lastProgress?.step ?? null,
    totalSteps: row.lastProgress?.totalSteps ?? null,
    finalLoss: row.finalLoss,
    bestEvalLoss: best?.evalLoss ?? null,
    bestStep: best?.step ?? null,
    datasetId: row.datasetId,
    baseName: row.baseName,
  };
}

/** A run id from an exact id or a unique prefix of one (the `run_` prefix may be left out). */
export type RunIdMatch = { kind: 'found'; id: string } | { kind: 'none' } | { kind: 'ambiguous'; ids: string[] };

export function matchRunId(store: Store, idOrPrefix: string): RunIdMatch {
  const wanted = idOrPrefix.trim();
  if (wanted === '') return { kind: 'none' };
  if (store.getRun(wanted) !== undefined) return { kind: 'found', id: wanted };
  const ids = store
    .listRuns()
    .map((run) => run.id)
    .filter((id) => id.startsWith(wanted) || id.startsWith(`run_${wanted}`));
  if (ids.length === 1) return { kind: 'found', id: ids[0]! };
  return ids.length === 0 ? { kind: 'none' } : { kind: 'ambiguous', ids };
}

// ---------------------------------------------------------------------------------------------
// Tolerant parsing of stored specs and events

const nullableNumber = z.number().nullable().catch(null);
const nullableString = z.string().nullable().catch(null);
const nullableBoolean = z.boolean().nullable().catch(null);

const EVENT_SCHEMAS = {
  started: z.object({ device: nullableString, torchVersion: nullableString }),
  progress: z.object({ step: z.number(), totalSteps: nullableNumber, epoch: nullableNumber, loss: nullableNumber }),
  eval: z.object({ step: z.number(), evalLoss: nullableNumber, accuracy: nullableNumber, accuracySample: nullableNumber, best: z.boolean().catch(false) }),
  checkpoint: z.object({ step: z.number(), path: z.string() }),
  artifact: z.object({ kind: z.string(), path: z.string().catch(''), sha256: z.string() }),
  done: z.object({
    seconds: nullableNumber,
    trainLoss: nullableNumber,
    trainTokens: nullableNumber,
    tokensPerSecond: nullableNumber,
    steps: nullableNumber,
    truncatedExamples: nullableNumber,
    bestStep: nullableNumber,
    bestEvalLoss: nullableNumber,
    stoppedEarly: nullableBoolean,
    resumedFromStep: nullableNumber,
    device: nullableString,
    precision: nullableString,
  }),
  error: z.object({ errorType: nullableString, message: z.string().catch('') }),
};

type EventKind = keyof typeof EVENT_SCHEMAS;
type EventsByKind = { [Kind in EventKind]: z.infer<(typeof EVENT_SCHEMAS)[Kind]>[] };
type DoneEvent = EventsByKind['done'][number];

/** Stored events grouped by kind, in order; events of other kinds (`log`, `result`) and malformed ones are skipped. */
function readEvents(stored: readonly unknown[]): EventsByKind {
  const events: EventsByKind = { started: [], progress: [], eval: [], checkpoint: [], artifact: [], done: [], error: [] };
  for (const event of stored) {
    if (!isRecord(event) || typeof event.event !== 'string' || !Object.hasOwn(EVENT_SCHEMAS, event.event)) continue;
    const kind = event.event as EventKind;
    const parsed = EVENT_SCHEMAS[kind].safeParse(event);
    if (parsed.success) (events[kind] as unknown[]).push(parsed.data);
  }
  return events;
}

const KNOWN_SPEC_FIELDS = new Set(['base', 'lora', 'training', 'chatTemplate', 'baseSha256', 'chatTemplateSha256', 'chatTemplateOrigin']);

function parseSpec(spec: unknown) {
  const record = isRecord(spec) ? spec : {};
  const recordOrNull = (value: unknown): Record<string, unknown> | null => (isRecord(value) ? value : null);
  const stringOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);
  return {
    base: recordOrNull(record.base),
    lora: recordOrNull(record.lora),
    training: recordOrNull(record.training),
    chatTemplate: stringOrNull(record.chatTemplate),
    chatTemplateSha256: stringOrNull(record.chatTemplateSha256),
    chatTemplateOrigin: stringOrNull(record.chatTemplateOrigin),
    extra: Object.fromEntries(Object.entries(record).filter(([key]) => !KNOWN_SPEC_FIELDS.has(key))),
  };
}

/**
 * The best validation: as the worker's `done` event states it, else the last eval it marked best
 * (a failed or running run has no `done`). Never guessed from the losses: the worker decides what best means.
 */
function bestValidation(done: DoneEvent | undefined, curve: readonly ValidationPoint[]): RunDescription['best'] {
  if (done !== undefined && done.bestStep !== null) {
    const step = done.bestStep;
    return { step, evalLoss: done.bestEvalLoss ?? curve.find((point) => point.step === step)?.evalLoss ?? null };
  }
  const marked = curve.filter((point) => point.best).at(-1);
  return marked === undefined ? null : { step: marked.step, evalLoss: marked.evalLoss };
}

/** Points ordered by step, one per step: a run resumed from a checkpoint logs some steps again, and the later value wins. */
function lastPerStep<Point extends { step: number }>(points: readonly Point[]): Point[] {
  const byStep = new Map<number, Point>();
  for (const point of points) byStep.set(point.step, point);
  return [...byStep.values()].sort((left, right) => left.step - right.step);
}

function secondsBetween(from: string, to: string): number | null {
  const seconds = (Date.parse(to) - Date.parse(from)) / 1000;
  return Number.isFinite(seconds) ? seconds : null;
}

function numberField(record: Record<string, unknown> | null, key: string): number | null {
  const value = record?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function booleanField(record: Record<string, unknown> | null, key: string): boolean | null {
  const value = record?.[key];
  return typeof value === 'boolean' ? value : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
