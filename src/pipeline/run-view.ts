/**
 * Training runs as the dashboard shows them: a page of the runs table, one run in full, and the curve points stored
 * since the page last looked (polled while the run trains). Events are read with the worker's own schema; a stored
 * event that breaks it is skipped.
 */
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { Page, PageQuery, RunRowView, RunUpdatesView, RunView } from '../contracts/dashboard.ts';
import { type WorkerEvent, WorkerEventSchema } from '../contracts/worker.ts';
import { InvalidInputError } from '../core/errors.ts';
import { describeRun, summarizeRunRow } from './run-records.ts';

/** At most this many events per look: a page far behind catches up over a few polls. */
const EVENTS_PER_LOOK = 5000;

export function runsPage(store: Store, query: PageQuery): Page<RunRowView> {
  const { items, total } = store.browse.runRowsPage(query);
  return {
    items: items.map((row): RunRowView => {
      const run = summarizeRunRow(row);
      return {
        id: run.id,
        method: run.method,
        status: run.status,
        startedAt: run.startedAt,
        durationSeconds: run.durationSeconds,
        steps: run.steps,
        totalSteps: run.totalSteps,
        finalLoss: run.finalLoss,
        bestEvalLoss: run.bestEvalLoss,
        baseName: run.baseName,
        datasetId: run.datasetId,
      };
    }),
    total,
    offset: query.offset,
    limit: query.limit,
  };
}

/** The loss and validation points in the events stored after `after`, the newest progress, and the run's status. */
export function runUpdates(store: Store, runId: string, after: number): RunUpdatesView {
  const run = store.getRun(runId);
  if (run === undefined) throw new InvalidInputError(`no run with id ${runId}`, { field: 'id' });
  const events = store.browse.runEventsAfter(runId, after, EVENTS_PER_LOOK);
  const updates: RunUpdatesView = { status: run.status, lastSequence: after, loss: [], validation: [], progress: null, more: events.length === EVENTS_PER_LOOK };
  for (const { sequence, event } of events) {
    updates.lastSequence = sequence;
    const parsed = WorkerEventSchema.safeParse(event);
    if (!parsed.success) continue;
    const worker = parsed.data;
    if (worker.event === 'progress') {
      if (worker.loss !== null) updates.loss.push({ step: worker.step, loss: worker.loss });
      updates.progress = progressView(worker);
    } else if (worker.event === 'eval') {
      updates.validation.push({ step: worker.step, evalLoss: worker.evalLoss, accuracy: worker.accuracy ?? null });
    }
  }
  return updates;
}

function progressView(event: Extract<WorkerEvent, { event: 'progress' }>): RunUpdatesView['progress'] {
  return { step: event.step, totalSteps: event.totalSteps, epoch: event.epoch, learningRate: event.learningRate, tokensPerSecond: event.tokensPerSecond, etaSeconds: event.etaSeconds };
}

/** The run in full; its `updates` are the curves `describeRun` read (no second pass over the events) up to the newest event. */
export function runView(store: Store, runId: string): RunView {
  const run = describeRun(store, runId);
  const reported = run.reportedArtifacts;
  const exported = store.listArtifacts(runId).map(({ kind, path, sha256 }) => ({ kind, path, sha256 }));
  const latest = store.browse.runEventsLatest(runId);
  const progress = WorkerEventSchema.safeParse(latest.progress);
  return {
    id: run.id,
    method: run.method,
    status: run.status,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationSeconds: run.durationSeconds,
    error: run.error?.message ?? null,
    dataset: { id: run.dataset.id, name: run.dataset.name, contentHash: run.dataset.contentHash, exampleCount: run.dataset.exampleCount },
    base: { sha256: run.base.sha256, name: run.base.name },
    chatTemplateSha256: run.chatTemplate.sha256,
    specHash: run.spec.hash,
    lora: run.spec.lora,
    training: run.spec.training,
    worker: run.worker,
    steps: run.steps,
    best: run.best,
    adapter: run.adapter === null ? null : { id: run.adapter.id, ggufPath: run.adapter.ggufPath, ggufSha256: run.adapter.ggufSha256, peftPath: run.adapter.peftPath, peftSha256: run.adapter.peftSha256 },
    artifacts: [...reported, ...exported],
    checkpoints: run.checkpoints,
    updates: {
      status: run.status,
      lastSequence: latest.lastSequence,
      loss: run.lossCurve,
      validation: run.validationCurve.map(({ step, evalLoss, accuracy }) => ({ step, evalLoss, accuracy })),
      progress: progress.success && progress.data.event === 'progress' ? progressView(progress.data) : null,
      more: false,
    },
  };
}
