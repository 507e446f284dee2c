import type Database from 'better-sqlite3';
import type { ExampleSource, Provenance, ReviewState, Split } from '../../contracts/curation.ts';

/**
 * Paginated reads for the dashboard: every list is one indexed SQL query with LIMIT/OFFSET plus a COUNT, so a
 * workspace of 100,000 examples never loads into memory. Nothing here writes.
 */

export interface PageWindow {
  offset: number;
  limit: number;
}

/** Filters of the pool browser; all optional, combined with AND. */
export interface PoolBrowseFilter {
  /** An exact answer; `null` for examples without one. */
  label?: string | null;
  source?: ExampleSource;
  split?: Split | 'none';
  review?: ReviewState;
  /** By the newest filter run: kept, dropped, or dropped at one step. */
  verdict?: { kind: 'kept' } | { kind: 'dropped'; step?: string };
  tag?: string;
  /** A case-insensitive substring of the input. */
  search?: string;
}

/** One pool example as browsed: no conversation (the page shows input and answer), with its filter verdict. */
export interface BrowsedPoolExample {
  id: number;
  input: string;
  answer: string | null;
  source: ExampleSource;
  split: Split | null;
  review: ReviewState;
  tags: string[];
  provenance: Provenance;
  originalAnswer: string | null;
  /** The newest filter run's drop of it, or null. */
  dropped: { step: string; reason: string } | null;
}

export interface BrowsedDatasetExample {
  id: number;
  position: number;
  input: string;
  label: string | null;
  contentHash: string;
  provenance: Record<string, unknown>;
}

export interface PoolCounts {
  total: number;
  byLabelAndSplit: { answer: string | null; split: Split | null; count: number }[];
  bySource: { source: ExampleSource; count: number }[];
  bySplit: { split: Split | null; count: number }[];
  byReview: { review: ReviewState; count: number }[];
}

/** A stored evaluation: its config and summary as saved by `understudy eval` (JSON, read by the caller's schema). */
export interface BrowsedEvalRun {
  id: string;
  datasetId: string;
  datasetName: string | null;
  config: unknown;
  summary: unknown;
  contentHash: string;
  createdAt: string;
}

export interface BrowseQueries {
  poolPage(task: string, filter: PoolBrowseFilter, window: PageWindow): { items: BrowsedPoolExample[]; total: number };
  /** Pending examples in `understudy data review`'s order (synthetic, log, human; by id); the train side leaves out what the newest filter run dropped. */
  reviewQueuePage(task: string, options: { split: Split | 'all'; source?: ExampleSource }, window: PageWindow): { items: BrowsedPoolExample[]; total: number };
  browsedExample(id: number): BrowsedPoolExample | undefined;
  poolCounts(task: string): PoolCounts;
  /** All examples of the task and the pending ones: two index counts. */
  poolTotals(task: string): { total: number; pending: number };
  /** Answers with their counts, most first (at most `limit`). */
  answerCounts(task: string, limit: number): { answer: string | null; count: number }[];
  tagCounts(task: string, limit: number): { tag: string; count: number }[];
  /** Input lengths in characters, in `buckets` equal-width buckets from 0 to the longest. */
  inputLengthHistogram(task: string, buckets: number): { from: number; to: number; count: number }[];
  /** The newest filter run of the task, and how many it dropped per step. */
  latestFilterDrops(task: string): { id: string; createdAt: string; byStep: { step: string; dropped: number }[] } | null;
  datasetsPage(window: PageWindow): { items: { id: string; name: string; role: 'train' | 'eval' | 'pool'; contentHash: string; exampleCount: number; createdAt: string }[]; total: number };
  datasetExamplesPage(datasetId: string, window: PageWindow): { items: BrowsedDatasetExample[]; total: number };
  /** Run ids, newest first. */
  runIdsPage(window: PageWindow): { items: string[]; total: number };
  /** The runs table, newest first: each run with only the few event facts its row shows, read by SQL from the events. */
  runRowsPage(window: PageWindow): { items: BrowsedRunRow[]; total: number };
  runCounts(): { total: number; running: number };
  /** The ids of the runs marked running, newest first. */
  runningRunIds(): string[];
  /** Stored evaluations, newest first. */
  evalRunsPage(window: PageWindow): { items: BrowsedEvalRun[]; total: number };
  evalRun(id: string): BrowsedEvalRun | undefined;
  /** A run's events stored after `afterSequence`, oldest first (at most `limit`). */
  runEventsAfter(runId: string, afterSequence: number, limit: number): { sequence: number; event: unknown }[];
  /** A run's highest event sequence (0 without events) and its newest `progress` event (null without one). */
  runEventsLatest(runId: string): { lastSequence: number; progress: unknown };
}

/**
 * One run of the runs table. The event facts follow the tolerant reading of `run-records.ts`: an event counts only
 * with a numeric `step` (`done` excepted), and a field that is not a number reads as null.
 */
export interface BrowsedRunRow {
  id: string;
  method: string;
  status: 'running' | 'succeeded' | 'failed' | 'interrupted';
  startedAt: string;
  finishedAt: string | null;
  datasetId: string;
  baseName: string | null;
  summary: Record<string, unknown> | null;
  /** The newest `progress` event. */
  lastProgress: { step: number; totalSteps: number | null } | null;
  /** The loss of the highest step logged with one (a repeated step: the later value). */
  finalLoss: number | null;
  /** The newest `done` event. */
  done: { steps: number | null; bestStep: number | null; bestEvalLoss: number | null } | null;
  /** The validation loss of the last `eval` at the `done` event's best step; null without one. */
  doneBestStepEvalLoss: number | null;
  /** The highest step whose last `eval` the worker marked best. */
  lastMarkedBest: { step: number; evalLoss: number | null } | null;
}

/** A field of a stored event as a number, or NULL when it is not one. */
const eventNumber = (field: string): string => `CASE WHEN json_type(event_json, '$.${field}') IN ('integer', 'real') THEN json_extract(event_json, '$.${field}') END`;
const eventOfKind = (kind: string, stepped = true): string => `run_id = ? AND json_extract(event_json, '$.event') = '${kind}'${stepped ? " AND json_type(event_json, '$.step') IN ('integer', 'real')" : ''}`;

const EVAL_RUN_SELECT = 'SELECT r.id, r.dataset_id, d.name AS dataset_name, r.config_json, r.summary_json, r.content_hash, r.created_at FROM eval_runs r LEFT JOIN datasets d ON d.id = r.dataset_id';

interface EvalRunRow {
  id: string;
  dataset_id: string;
  dataset_name: string | null;
  config_json: string;
  summary_json: string;
  content_hash: string;
  created_at: string;
}

const evalRunFromRow = (row: EvalRunRow): BrowsedEvalRun => ({
  id: row.id,
  datasetId: row.dataset_id,
  datasetName: row.dataset_name,
  config: JSON.parse(row.config_json) as unknown,
  summary: JSON.parse(row.summary_json) as unknown,
  contentHash: row.content_hash,
  createdAt: row.created_at,
});

const SOURCE_ORDER_SQL = "CASE p.source WHEN 'synthetic' THEN 0 WHEN 'log' THEN 1 ELSE 2 END";

export function createBrowseQueries(db: Database.Database): BrowseQueries {
  const latestFilterRun = (task: string): { id: string; created_at: string } | undefined =>
    db.prepare('SELECT id, created_at FROM filter_runs WHERE task = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(task) as { id: string; created_at: string } | undefined;

  const fromRow = (row: BrowseRow): BrowsedPoolExample => ({
    id: row.id,
    input: row.input,
    answer: row.answer,
    source: row.source,
    split: row.split,
    review: row.review,
    tags: JSON.parse(row.tags_json) as string[],
    provenance: JSON.parse(row.provenance_json) as Provenance,
    originalAnswer: row.original_answer,
    dropped: row.drop_step === null ? null : { step: row.drop_step, reason: row.drop_reason ?? '' },
  });

  const SELECT = 'SELECT p.id, p.input, p.answer, p.source, p.split, p.review, p.tags_json, p.provenance_json, p.original_answer, d.step AS drop_step, d.reason AS drop_reason';
  const FROM = 'FROM pool_examples p LEFT JOIN filter_drops d ON d.filter_run_id = ? AND d.example_id = p.id';

  const page = (where: string[], parameters: unknown[], runId: string | null, order: string, window: PageWindow): { items: BrowsedPoolExample[]; total: number } => {
    const clause = where.join(' AND ');
    const total = (db.prepare(`SELECT COUNT(*) AS count ${FROM} WHERE ${clause}`).get(runId, ...parameters) as { count: number }).count;
    // A deferred join: the page's ids come from the indexes alone (skipping OFFSET rows costs index entries, not
    // rows), and only the page's own rows are read.
    const rows = db
      .prepare(`${SELECT} ${FROM} WHERE p.id IN (SELECT p.id ${FROM} WHERE ${clause} ORDER BY ${order} LIMIT ? OFFSET ?) ORDER BY ${order}`)
      .all(runId, runId, ...parameters, window.limit, window.offset) as BrowseRow[];
    return { items: rows.map(fromRow), total };
  };

  return {
    poolPage(task, filter, window) {
      const where = ['p.task = ?'];
      const parameters: unknown[] = [task];
      if (filter.label === null) where.push('p.answer IS NULL');
      else if (filter.label !== undefined) {
        where.push('p.answer = ?');
        parameters.push(filter.label);
      }
      if (filter.source !== undefined) {
        where.push('p.source = ?');
        parameters.push(filter.source);
      }
      if (filter.split === 'none') where.push('p.split IS NULL');
      else if (filter.split !== undefined) {
        where.push('p.split = ?');
        parameters.push(filter.split);
      }
      if (filter.review !== undefined) {
        where.push('p.review = ?');
        parameters.push(filter.review);
      }
      if (filter.verdict?.kind === 'kept') where.push('d.example_id IS NULL');
      else if (filter.verdict?.kind === 'dropped') {
        where.push('d.example_id IS NOT NULL');
        if (filter.verdict.step !== undefined) {
          where.push('d.step = ?');
          parameters.push(filter.verdict.step);
        }
      }
      if (filter.tag !== undefined) {
        where.push('EXISTS (SELECT 1 FROM json_each(p.tags_json) WHERE json_each.value = ?)');
        parameters.push(filter.tag);
      }
      if (filter.search !== undefined) {
        where.push('instr(lower(p.input), lower(?)) > 0');
        parameters.push(filter.search);
      }
      return page(where, parameters, latestFilterRun(task)?.id ?? null, 'p.id', window);
    },
    reviewQueuePage(task, options, window) {
      const where = ['p.task = ?', "p.review = 'pending'"];
      const parameters: unknown[] = [task];
      if (options.split !== 'all') {
        where.push('p.split = ?');
        parameters.push(options.split);
      }
      if (options.source !== undefined) {
        where.push('p.source = ?');
        parameters.push(options.source);
      }
      // As `reviewQueue`: the train side skips what the newest filter run dropped.
      if (options.split === 'train') where.push('d.example_id IS NULL');
      return page(where, parameters, latestFilterRun(task)?.id ?? null, `${SOURCE_ORDER_SQL}, p.id`, window);
    },
    browsedExample(id) {
      const task = db.prepare('SELECT task FROM pool_examples WHERE id = ?').get(id) as { task: string } | undefined;
      if (task === undefined) return undefined;
      const row = db.prepare(`${SELECT} ${FROM} WHERE p.id = ?`).get(latestFilterRun(task.task)?.id ?? null, id) as BrowseRow | undefined;
      return row === undefined ? undefined : fromRow(row);
    },
    poolCounts(task) {
      const total = (db.prepare('SELECT COUNT(*) AS count FROM pool_examples WHERE task = ?').get(task) as { count: number }).count;
      return {
        total,
        byLabelAndSplit: db.prepare('SELECT answer, split, COUNT(*) AS count FROM pool_examples WHERE task = ? GROUP BY answer, split').all(task) as PoolCounts['byLabelAndSplit'],
        bySource: db.prepare('SELECT source, COUNT(*) AS count FROM pool_examples WHERE task = ? GROUP BY source').all(task) as PoolCounts['bySource'],
        bySplit: db.prepare('SELECT split, COUNT(*) AS count FROM pool_examples WHERE task = ? GROUP BY split').all(task) as PoolCounts['bySplit'],
        byReview: db.prepare('SELECT review, COUNT(*) AS count FROM pool_examples WHERE task = ? GROUP BY review').all(task) as PoolCounts['byReview'],
      };
    },
    poolTotals(task) {
      const total = (db.prepare('SELECT COUNT(*) AS count FROM pool_examples WHERE task = ?').get(task) as { count: number }).count;
      const pending = (db.prepare("SELECT COUNT(*) AS count FROM pool_examples WHERE task = ? AND review = 'pending'").get(task) as { count: number }).count;
      return { total, pending };
    },
    answerCounts(task, limit) {
      return db.prepare('SELECT answer, COUNT(*) AS count FROM pool_examples WHERE task = ? GROUP BY answer ORDER BY count DESC, answer LIMIT ?').all(task, limit) as { answer: string | null; count: number }[];
    },
    tagCounts(task, limit) {
      return db.prepare("SELECT j.value AS tag, COUNT(*) AS count FROM pool_examples p, json_each(p.tags_json) j WHERE p.task = ? AND p.tags_json != '[]' GROUP BY j.value ORDER BY count DESC, tag LIMIT ?").all(task, limit) as { tag: string; count: number }[];
    },
    inputLengthHistogram(task, buckets) {
      // Counts per exact length straight from the length index (no row is read), then bucketed here.
      const lengths = db.prepare('SELECT length(input) AS length, COUNT(*) AS count FROM pool_examples WHERE task = ? GROUP BY length(input)').all(task) as { length: number; count: number }[];
      const longest = lengths.at(-1)?.length;
      if (longest === undefined) return [];
      const width = niceWidth((longest + 1) / buckets);
      const histogram = Array.from({ length: Math.floor(longest / width) + 1 }, (_, bucket) => ({ from: bucket * width, to: (bucket + 1) * width, count: 0 }));
      for (const { length, count } of lengths) histogram[Math.floor(length / width)]!.count += count;
      return histogram;
    },
    latestFilterDrops(task) {
      const run = latestFilterRun(task);
      if (run === undefined) return null;
      const byStep = db.prepare('SELECT step, COUNT(*) AS dropped FROM filter_drops WHERE filter_run_id = ? GROUP BY step ORDER BY dropped DESC, step').all(run.id) as { step: string; dropped: number }[];
      return { id: run.id, createdAt: run.created_at, byStep };
    },
    datasetsPage(window) {
      const total = (db.prepare('SELECT COUNT(*) AS count FROM datasets').get() as { count: number }).count;
      const rows = db.prepare('SELECT id, name, role, content_hash, example_count, created_at FROM datasets ORDER BY created_at DESC, id LIMIT ? OFFSET ?').all(window.limit, window.offset) as { id: string; name: string; role: 'train' | 'eval' | 'pool'; content_hash: string; example_count: number; created_at: string }[];
      return { items: rows.map((row) => ({ id: row.id, name: row.name, role: row.role, contentHash: row.content_hash, exampleCount: row.example_count, createdAt: row.created_at })), total };
    },
    datasetExamplesPage(datasetId, window) {
      const total = (db.prepare('SELECT COUNT(*) AS count FROM examples WHERE dataset_id = ?').get(datasetId) as { count: number }).count;
      const rows = db.prepare('SELECT id, position, input, label, content_hash, provenance_json FROM examples WHERE dataset_id = ? ORDER BY position LIMIT ? OFFSET ?').all(datasetId, window.limit, window.offset) as { id: number; position: number; input: string; label: string | null; content_hash: string; provenance_json: string }[];
      return { items: rows.map((row) => ({ id: row.id, position: row.position, input: row.input, label: row.label, contentHash: row.content_hash, provenance: JSON.parse(row.provenance_json) as Record<string, unknown> })), total };
    },
    evalRunsPage(window) {
      const total = (db.prepare('SELECT COUNT(*) AS count FROM eval_runs').get() as { count: number }).count;
      const rows = db.prepare(`${EVAL_RUN_SELECT} ORDER BY r.created_at DESC, r.rowid DESC LIMIT ? OFFSET ?`).all(window.limit, window.offset) as EvalRunRow[];
      return { items: rows.map(evalRunFromRow), total };
    },
    evalRun(id) {
      const row = db.prepare(`${EVAL_RUN_SELECT} WHERE r.id = ?`).get(id) as EvalRunRow | undefined;
      return row === undefined ? undefined : evalRunFromRow(row);
    },
    runIdsPage(window) {
      const total = (db.prepare('SELECT COUNT(*) AS count FROM training_runs').get() as { count: number }).count;
      const rows = db.prepare('SELECT id FROM training_runs ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?').all(window.limit, window.offset) as { id: string }[];
      return { items: rows.map((row) => row.id), total };
    },
    runRowsPage(window) {
      const total = (db.prepare('SELECT COUNT(*) AS count FROM training_runs').get() as { count: number }).count;
      const runs = db
        .prepare('SELECT r.id, r.method, r.status, r.started_at, r.finished_at, r.dataset_id, r.summary_json, b.name AS base_name FROM training_runs r LEFT JOIN base_models b ON b.sha256 = r.base_sha256 ORDER BY r.started_at DESC, r.id DESC LIMIT ? OFFSET ?')
        .all(window.limit, window.offset) as { id: string; method: string; status: BrowsedRunRow['status']; started_at: string; finished_at: string | null; dataset_id: string; summary_json: string | null; base_name: string | null }[];
      const lastProgress = db.prepare(`SELECT json_extract(event_json, '$.step') AS step, ${eventNumber('totalSteps')} AS total_steps FROM run_events WHERE ${eventOfKind('progress')} ORDER BY sequence DESC LIMIT 1`);
      const finalLoss = db.prepare(`SELECT ${eventNumber('loss')} AS loss FROM run_events WHERE ${eventOfKind('progress')} AND json_type(event_json, '$.loss') IN ('integer', 'real') ORDER BY json_extract(event_json, '$.step') DESC, sequence DESC LIMIT 1`);
      const done = db.prepare(`SELECT ${eventNumber('steps')} AS steps, ${eventNumber('bestStep')} AS best_step, ${eventNumber('bestEvalLoss')} AS best_eval_loss FROM run_events WHERE ${eventOfKind('done', false)} ORDER BY sequence DESC LIMIT 1`);
      const evalAtStep = db.prepare(`SELECT ${eventNumber('evalLoss')} AS eval_loss FROM run_events WHERE ${eventOfKind('eval')} AND json_extract(event_json, '$.step') = ? ORDER BY sequence DESC LIMIT 1`);
      const lastMarkedBest = db.prepare(
        `SELECT step, eval_loss FROM (SELECT json_extract(event_json, '$.step') AS step, ${eventNumber('evalLoss')} AS eval_loss, json_type(event_json, '$.best') = 'true' AS best, ROW_NUMBER() OVER (PARTITION BY json_extract(event_json, '$.step') ORDER BY sequence DESC) AS position FROM run_events WHERE ${eventOfKind('eval')}) WHERE position = 1 AND best ORDER BY step DESC LIMIT 1`,
      );
      const items = runs.map((run): BrowsedRunRow => {
        const progress = lastProgress.get(run.id) as { step: number; total_steps: number | null } | undefined;
        const loss = finalLoss.get(run.id) as { loss: number } | undefined;
        const finished = done.get(run.id) as { steps: number | null; best_step: number | null; best_eval_loss: number | null } | undefined;
        const atBest = finished === undefined || finished.best_step === null ? undefined : (evalAtStep.get(run.id, finished.best_step) as { eval_loss: number | null } | undefined);
        const marked = lastMarkedBest.get(run.id) as { step: number; eval_loss: number | null } | undefined;
        return {
          id: run.id,
          method: run.method,
          status: run.status,
          startedAt: run.started_at,
          finishedAt: run.finished_at,
          datasetId: run.dataset_id,
          baseName: run.base_name,
          summary: run.summary_json === null ? null : (JSON.parse(run.summary_json) as Record<string, unknown>),
          lastProgress: progress === undefined ? null : { step: progress.step, totalSteps: progress.total_steps },
          finalLoss: loss?.loss ?? null,
          done: finished === undefined ? null : { steps: finished.steps, bestStep: finished.best_step, bestEvalLoss: finished.best_eval_loss },
          doneBestStepEvalLoss: atBest?.eval_loss ?? null,
          lastMarkedBest: marked === undefined ? null : { step: marked.step, evalLoss: marked.eval_loss },
        };
      });
      return { items, total };
    },
    runningRunIds() {
      return (db.prepare("SELECT id FROM training_runs WHERE status = 'running' ORDER BY started_at DESC, id DESC").all() as { id: string }[]).map((row) => row.id);
    },
    runCounts() {
      return db.prepare("SELECT COUNT(*) AS total, COALESCE(SUM(status = 'running'), 0) AS running FROM training_runs").get() as { total: number; running: number };
    },
    runEventsAfter(runId, afterSequence, limit) {
      const rows = db.prepare('SELECT sequence, event_json FROM run_events WHERE run_id = ? AND sequence > ? ORDER BY sequence LIMIT ?').all(runId, afterSequence, limit) as { sequence: number; event_json: string }[];
      return rows.map((row) => ({ sequence: row.sequence, event: JSON.parse(row.event_json) as unknown }));
    },
    runEventsLatest(runId) {
      const { last } = db.prepare('SELECT COALESCE(MAX(sequence), 0) AS last FROM run_events WHERE run_id = ?').get(runId) as { last: number };
      const progress = db.prepare(`SELECT event_json FROM run_events WHERE ${eventOfKind('progress', false)} ORDER BY sequence DESC LIMIT 1`).get(runId) as { event_json: string } | undefined;
      return { lastSequence: last, progress: progress === undefined ? null : (JSON.parse(progress.event_json) as unknown) };
    },
  };
}

/** A bucket width of 1, 2 or 5 times a power of ten, at least `raw`. */
function niceWidth(raw: number): number {
  if (raw <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].find((factor) => factor * power >= raw) ?? 10;
  return step * power;
}

interface BrowseRow {
  id: number;
  input: string;
  answer: string | null;
  source: ExampleSource;
  split: Split | null;
  review: ReviewState;
  tags_json: string;
  provenance_json: string;
  original_answer: string | null;
  drop_step: string | null;
  drop_reason: string | null;
}
