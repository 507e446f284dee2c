import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { CandidateExample, ExampleSource, FilterDrop, FilterReport, ImportProblem, Provenance, ReviewState, Split } from '../../contracts/curation.ts';
import type { ChatMessage } from '../../contracts/worker.ts';
import { contentHash, sha256Hex } from '../../core/content-hash.ts';
import { normalizeForOverlap } from '../../core/decontaminate.ts';

/** One example in a task's pool, with its split and review state. */
export interface PoolExample {
  id: number;
  task: string;
  batchId: string;
  input: string;
  answer: string | null;
  messages: ChatMessage[];
  /** sha256 of the normalized input: the split key and the exact-dedup key. */
  inputKey: string;
  source: ExampleSource;
  tags: string[];
  provenance: Provenance;
  split: Split | null;
  review: ReviewState;
  /** Before a review edit or a relabel; null when never changed. */
  originalAnswer: string | null;
  originalMessages: ChatMessage[] | null;
  reviewedAt: string | null;
  createdAt: string;
}

export interface PoolBatch {
  id: string;
  task: string;
  kind: 'import' | 'generate' | 'relabel';
  source: Record<string, unknown>;
  added: number;
  problems: ImportProblem[];
  createdAt: string;
}

/** A frozen held-out set: which examples, and the rule new examples are assigned by. */
export interface HeldoutVersion {
  task: string;
  version: number;
  contentHash: string;
  exampleIds: number[];
  rule: Record<string, unknown>;
  note: string;
  createdAt: string;
}

export interface FilterRunRecord {
  id: string;
  task: string;
  settings: Record<string, unknown>;
  report: FilterReport;
  drops: FilterDrop[];
  createdAt: string;
}

export interface CachedGeneration {
  promptHash: string;
  provider: string;
  model: string;
  text: string;
  usage: unknown;
  cost: unknown;
}

export interface PoolQuery {
  split?: Split | 'none';
  review?: ReviewState[];
  source?: ExampleSource;
  /** Only examples the newest filter run kept (examples added after it count as kept). */
  keptByFilters?: boolean;
}

/** The curation tables of a workspace database (`understudy data ...`). */
export interface CurationStore {
  /** Add a batch of examples in one transaction; the batch records the rows its import skipped. */
  addBatch(input: { task: string; kind: PoolBatch['kind']; source: Record<string, unknown>; examples: readonly CandidateExample[]; problems?: readonly ImportProblem[] }): PoolBatch;
  listBatches(task: string): PoolBatch[];
  listPool(task: string, query?: PoolQuery): PoolExample[];
  getExample(id: number): PoolExample | undefined;
  /** A relabel or a review: the first change keeps the original answer and messages. */
  updateAnswer(id: number, change: { answer: string; messages: ChatMessage[]; review?: ReviewState }): void;
  /** Several answer changes (a relabel run) in one transaction; `provenance` is merged in, `addTags` appended. */
  updateAnswers(changes: readonly { id: number; answer: string; messages: ChatMessage[]; review?: ReviewState; provenance?: Provenance; addTags?: readonly string[] }[]): void;
  setReview(id: number, review: ReviewState): void;
  /** Put an example back exactly as a snapshot had it (a review undo): answer, messages, review state, originals. */
  restoreExample(snapshot: Pick<PoolExample, 'id' | 'answer' | 'messages' | 'review' | 'originalAnswer' | 'originalMessages' | 'reviewedAt'>): void;
  /** Assign splits and, when the held-out set changed, record a new version: one transaction. */
  assignSplits(task: string, assignments: readonly { id: number; split: Split }[], heldout: { exampleIds: number[]; rule: Record<string, unknown>; note: string } | null): HeldoutVersion | null;
  latestHeldout(task: string): HeldoutVersion | undefined;
  listHeldoutVersions(task: string): HeldoutVersion[];
  saveFilterRun(input: { task: string; settings: Record<string, unknown>; report: FilterReport; drops: readonly FilterDrop[] }): FilterRunRecord;
  latestFilterRun(task: string): FilterRunRecord | undefined;
  cachedGeneration(promptHash: string): CachedGeneration | undefined;
  cacheGeneration(entry: CachedGeneration): void;
}

const now = (): string => new Date().toISOString();

/** The key a split and exact dedup go by: two inputs equal after normalization share it. */
export function inputKeyOf(input: string): string {
  return sha256Hex(normalizeForOverlap(input));
}

export function createCurationStore(db: Database.Database): CurationStore {
  const exampleFromRow = (row: PoolRow): PoolExample => ({
    id: row.id,
    task: row.task,
    batchId: row.batch_id,
    input: row.input,
    answer: row.answer,
    messages: JSON.parse(row.messages_json) as ChatMessage[],
    inputKey: row.input_key,
    source: row.source,
    tags: JSON.parse(row.tags_json) as string[],
    provenance: JSON.parse(row.provenance_json) as Provenance,
    split: row.split,
    review: row.review,
    originalAnswer: row.original_answer,
    originalMessages: row.original_messages_json === null ? null : (JSON.parse(row.original_messages_json) as ChatMessage[]),
    reviewedAt: row.reviewed_at,
    createdAt: row.created_at,
  });
  const batchFromRow = (row: BatchRow): PoolBatch => ({
    id: row.id,
    task: row.task,
    kind: row.kind,
    source: JSON.parse(row.source_json) as Record<string, unknown>,
    added: row.added,
    problems: JSON.parse(row.problems_json) as ImportProblem[],
    createdAt: row.created_at,
  });
  const heldoutFromRow = (row: HeldoutRow): HeldoutVersion => ({
    task: row.task,
    version: row.version,
    contentHash: row.content_hash,
    exampleIds: JSON.parse(row.example_ids_json) as number[],
    rule: JSON.parse(row.rule_json) as Record<string, unknown>,
    note: row.note,
    createdAt: row.created_at,
  });

  const store: CurationStore = {
    addBatch({ task, kind, source, examples, problems = [] }) {
      const id = `batch_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
      const createdAt = now();
      const insertExample = db.prepare(
        'INSERT INTO pool_examples (task, batch_id, input, answer, messages_json, input_key, source, tags_json, provenance_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      db.transaction(() => {
        db.prepare('INSERT INTO pool_batches (id, task, kind, source_json, added, problems_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(id, task, kind, JSON.stringify(source), examples.length, JSON.stringify(problems), createdAt);
        for (const example of examples) {
          insertExample.run(task, id, example.input, example.answer, JSON.stringify(example.messages), inputKeyOf(example.input), example.source, JSON.stringify(example.tags), JSON.stringify(example.provenance), createdAt);
        }
      })();
      return { id, task, kind, source, added: examples.length, problems: [...problems], createdAt };
    },
    listBatches(task) {
      return (db.prepare('SELECT * FROM pool_batches WHERE task = ? ORDER BY created_at, id').all(task) as BatchRow[]).map(batchFromRow);
    },
    listPool(task, query = {}) {
      const clauses = ['task = ?'];
      const parameters: unknown[] = [task];
      if (query.split === 'none') clauses.push('split IS NULL');
      else if (query.split !== undefined) {
        clauses.push('split = ?');
        parameters.push(query.split);
      }
      if (query.review !== undefined) {
        clauses.push(`review IN (${query.review.map(() => '?').join(', ')})`);
        parameters.push(...query.review);
      }
      if (query.source !== undefined) {
        clauses.push('source = ?');
        parameters.push(query.source);
      }
      if (query.keptByFilters === true) {
        const latest = db.prepare('SELECT id FROM filter_runs WHERE task = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(task) as { id: string } | undefined;
        if (latest !== undefined) {
          clauses.push('id NOT IN (SELECT example_id FROM filter_drops WHERE filter_run_id = ?)');
          parameters.push(latest.id);
        }
      }
      const rows = db.prepare(`SELECT * FROM pool_examples WHERE ${clauses.join(' AND ')} ORDER BY id`).all(...parameters) as PoolRow[];
      return rows.map(exampleFromRow);
    },
    getExample(id) {
      const row = db.prepare('SELECT * FROM pool_examples WHERE id = ?').get(id) as PoolRow | undefined;
      return row === undefined ? undefined : exampleFromRow(row);
    },
    updateAnswer(id, { answer, messages, review }) {
      const changed = db.prepare(
        `UPDATE pool_examples SET
           original_answer = CASE WHEN original_messages_json IS NULL THEN answer ELSE original_answer END,
           original_messages_json = COALESCE(original_messages_json, messages_json),
           answer = ?, messages_json = ?, review = COALESCE(?, review), reviewed_at = CASE WHEN ? IS NULL THEN reviewed_at ELSE ? END
         WHERE id = ?`,
      ).run(answer, JSON.stringify(messages), review ?? null, review ?? null, now(), id);
      if (changed.changes !== 1) throw new Error(`no pool example ${id}`);
    },
    updateAnswers(changes) {
      db.transaction(() => {
        for (const change of changes) {
          store.updateAnswer(change.id, change);
          if (change.provenance === undefined && (change.addTags === undefined || change.addTags.length === 0)) continue;
          const current = store.getExample(change.id)!;
          const tags = [...new Set([...current.tags, ...(change.addTags ?? [])])];
          db.prepare('UPDATE pool_examples SET provenance_json = ?, tags_json = ? WHERE id = ?').run(JSON.stringify({ ...current.provenance, ...change.provenance }), JSON.stringify(tags), change.id);
        }
      })();
    },
    restoreExample(snapshot) {
      const changed = db.prepare('UPDATE pool_examples SET answer = ?, messages_json = ?, review = ?, original_answer = ?, original_messages_json = ?, reviewed_at = ? WHERE id = ?').run(
        snapshot.answer,
        JSON.stringify(snapshot.messages),
        snapshot.review,
        snapshot.originalAnswer,
        snapshot.originalMessages === null ? null : JSON.stringify(snapshot.originalMessages),
        snapshot.reviewedAt,
        snapshot.id,
      );
      if (changed.changes !== 1) throw new Error(`no pool example ${snapshot.id}`);
    },
    setReview(id, review) {
      const changed = db.prepare('UPDATE pool_examples SET review = ?, reviewed_at = ? WHERE id = ?').run(review, now(), id);
      if (changed.changes !== 1) throw new Error(`no pool example ${id}`);
    },
    assignSplits(task, assignments, heldout) {
      const update = db.prepare('UPDATE pool_examples SET split = ? WHERE id = ? AND task = ?');
      return db.transaction((): HeldoutVersion | null => {
        for (const { id, split } of assignments) update.run(split, id, task);
        if (heldout === null) return null;
        const previous = store.latestHeldout(task);
        const exampleIds = [...heldout.exampleIds].sort((a, b) => a - b);
        const keys = exampleIds.map((id) => (db.prepare('SELECT input_key, answer FROM pool_examples WHERE id = ?').get(id) as { input_key: string; answer: string | null }));
        const hash = contentHash(keys);
        if (previous !== undefined && previous.contentHash === hash) return previous;
        const version = (previous?.version ?? 0) + 1;
        const createdAt = now();
        db.prepare('INSERT INTO heldout_versions (task, version, content_hash, example_ids_json, rule_json, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(task, version, hash, JSON.stringify(exampleIds), JSON.stringify(heldout.rule), heldout.note, createdAt);
        return { task, version, contentHash: hash, exampleIds, rule: heldout.rule, note: heldout.note, createdAt };
      })();
    },
    latestHeldout(task) {
      const row = db.prepare('SELECT * FROM heldout_versions WHERE task = ? ORDER BY version DESC LIMIT 1').get(task) as HeldoutRow | undefined;
      return row === undefined ? undefined : heldoutFromRow(row);
    },
    listHeldoutVersions(task) {
      return (db.prepare('SELECT * FROM heldout_versions WHERE task = ? ORDER BY version').all(task) as HeldoutRow[]).map(heldoutFromRow);
    },
    saveFilterRun({ task, settings, report, drops }) {
      const id = `filter_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
      const createdAt = now();
      const insertDrop = db.prepare('INSERT INTO filter_drops (filter_run_id, example_id, step, reason, detail_json) VALUES (?, ?, ?, ?, ?)');
      db.transaction(() => {
        db.prepare('INSERT INTO filter_runs (id, task, settings_json, report_json, created_at) VALUES (?, ?, ?, ?, ?)').run(id, task, JSON.stringify(settings), JSON.stringify(report), createdAt);
        for (const drop of drops) insertDrop.run(id, drop.exampleId, drop.step, drop.reason, JSON.stringify(drop.detail ?? {}));
      })();
      return { id, task, settings, report, drops: [...drops], createdAt };
    },
    latestFilterRun(task) {
      const row = db.prepare('SELECT * FROM filter_runs WHERE task = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(task) as FilterRunRow | undefined;
      if (row === undefined) return undefined;
      const drops = (db.prepare('SELECT * FROM filter_drops WHERE filter_run_id = ? ORDER BY example_id').all(row.id) as DropRow[]).map((drop) => ({
        exampleId: drop.example_id,
        step: drop.step,
        reason: drop.reason,
        detail: JSON.parse(drop.detail_json) as Record<string, unknown>,
      }));
      return { id: row.id, task: row.task, settings: JSON.parse(row.settings_json) as Record<string, unknown>, report: JSON.parse(row.report_json) as FilterReport, drops, createdAt: row.created_at };
    },
    cachedGeneration(promptHash) {
      const row = db.prepare('SELECT * FROM generation_cache WHERE prompt_hash = ?').get(promptHash) as CacheRow | undefined;
      return row === undefined
        ? undefined
        : { promptHash: row.prompt_hash, provider: row.provider, model: row.model, text: row.response_text, usage: JSON.parse(row.usage_json) as unknown, cost: JSON.parse(row.cost_json) as unknown };
    },
    cacheGeneration(entry) {
      db.prepare('INSERT INTO generation_cache (prompt_hash, provider, model, response_text, usage_json, cost_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (prompt_hash) DO UPDATE SET response_text = excluded.response_text, usage_json = excluded.usage_json, cost_json = excluded.cost_json')
        .run(entry.promptHash, entry.provider, entry.model, entry.text, JSON.stringify(entry.usage ?? null), JSON.stringify(entry.cost ?? null), now());
    },
  };
  return store;
}

interface PoolRow {
  id: number;
  task: string;
  batch_id: string;
  input: string;
  answer: string | null;
  messages_json: string;
  input_key: string;
  source: ExampleSource;
  tags_json: string;
  provenance_json: string;
  split: Split | null;
  review: ReviewState;
  original_answer: string | null;
  original_messages_json: string | null;
  reviewed_at: string | null;
  created_at: string;
}
interface BatchRow { id: string; task: string; kind: PoolBatch['kind']; source_json: string; added: number; problems_json: string; created_at: string }
interface HeldoutRow { task: string; version: number; content_hash: string; example_ids_json: string; rule_json: string; note: string; created_at: string }
interface FilterRunRow { id: string; task: string; settings_json: string; report_json: string; created_at: string }
interface DropRow { filter_run_id: string; example_id: number; step: string; reason: string; detail_json: string }
interface CacheRow { prompt_hash: string; provider: string; model: string; response_text: string; usage_json: string; cost_json: string; created_at: string }
