import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { contentHash } from '../../core/content-hash.ts';
import { MIGRATIONS } from './migrations.ts';
import { createCurationStore, type CurationStore } from './curation-store.ts';
import { createBrowseQueries, type BrowseQueries } from './browse-queries.ts';
import type { ChatMessage } from '../../contracts/worker.ts';
import { GatewayLogRecordSchema, type ExperimentState, type GatewayLogRecord, type StoredFeedback } from '../../contracts/gateway.ts';
import { InvalidInputError } from '../../core/errors.ts';

export interface NewExample {
  input: string;
  label: string | null;
  messages: ChatMessage[];
  /** Where it came from: file and line, generator, log id. */
  provenance: Record<string, unknown>;
}

export interface StoredExample extends NewExample {
  id: number;
  position: number;
  contentHash: string;
}

export interface DatasetRecord {
  id: string;
  name: string;
  role: 'train' | 'eval' | 'pool';
  contentHash: string;
  exampleCount: number;
  source: Record<string, unknown>;
  createdAt: string;
}

export interface AdapterRecord {
  id: string;
  runId: string;
  baseSha256: string;
  ggufPath: string;
  ggufSha256: string;
  peftPath: string;
  peftSha256: string;
  createdAt: string;
}

/**
 * A model fine-tuned at a hosted service (OpenAI, Together) for a run: it is called like any OpenAI-compatible model at
 * `baseUrl`, by `model`, with the key in the environment variable `apiKeyEnv` (the key itself is never stored).
 */
export interface HostedModelRecord {
  runId: string;
  service: 'openai-finetune' | 'together-finetune';
  /** The `targets.<name>` the run was sent to. */
  target: string;
  baseUrl: string;
  apiKeyEnv: string;
  /** The service's model that was fine-tuned. */
  baseModel: string;
  /** The fine-tuned model's name at the service. */
  model: string;
  jobId: string;
  /** Inference prices configured when the run finished; null: the catalog's, or unknown. */
  inputUsdPerMillion: number | null;
  outputUsdPerMillion: number | null;
  createdAt: string;
}

/** A base model a run trained on, by the sha256 of its GGUF. */
export interface BaseModelRecord {
  sha256: string;
  name: string;
  path: string;
  metadata: Record<string, unknown>;
  registeredAt: string;
}

export interface RunArtifact {
  runId: string;
  kind: string;
  path: string;
  sha256: string;
  details: Record<string, unknown>;
  createdAt: string;
}

export interface RunRecord {
  id: string;
  datasetId: string;
  baseSha256: string;
  method: string;
  specHash: string;
  status: 'running' | 'succeeded' | 'failed' | 'interrupted';
  startedAt: string;
  finishedAt: string | null;
  summary: Record<string, unknown> | null;
  error: string | null;
}

export interface EvalResultRow {
  candidate: string;
  exampleId: number;
  output: string;
  correct: boolean;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
}

/** One answer of an eval candidate, kept so that re-running a report costs nothing. */
export interface CachedEvalOutput {
  output: string;
  usage: unknown;
  cost: unknown;
  latencyMs: number;
}

/** A workspace database: datasets, examples, runs, adapters and eval results, each with a content hash. */
export interface Store {
  readonly file: string;
  /** The curation pool: imports, generated data, splits, filter runs, review, the generation cache. */
  readonly curation: CurationStore;
  /** Paginated, indexed reads for the dashboard (never the whole pool in memory). */
  readonly browse: BrowseQueries;
  registerDataset(input: { name: string; role: DatasetRecord['role']; source: Record<string, unknown>; examples: NewExample[] }): DatasetRecord & { reused: boolean };
  getDataset(id: string): DatasetRecord | undefined;
  listExamples(datasetId: string): StoredExample[];
  registerBaseModel(input: { sha256: string; name: string; path: string; metadata: Record<string, unknown> }): void;
  getBaseModel(sha256: string): BaseModelRecord | undefined;
  startRun(input: { datasetId: string; baseSha256: string; method: string; spec: unknown }): RunRecord;
  appendRunEvent(runId: string, event: unknown): void;
  /** Marks a run failed or interrupted; it never gets an adapter. */
  failRun(runId: string, status: 'failed' | 'interrupted', error: string): void;
  /** Marks a run succeeded and registers its adapter in one transaction. */
  completeRun(runId: string, summary: Record<string, unknown>, adapter: Omit<AdapterRecord, 'id' | 'runId' | 'createdAt' | 'baseSha256'>): AdapterRecord;
  getRun(id: string): RunRecord | undefined;
  /** Back to `running` for `train --resume`: a failed, interrupted or killed (still `running`) run; never a succeeded one. */
  reopenRun(runId: string): void;
  /** An export or other file made from a run (merged model, Modelfile, ...); re-exporting to the same path replaces the row. */
  recordArtifact(input: { runId: string; kind: string; path: string; sha256: string; details?: Record<string, unknown> }): RunArtifact;
  listArtifacts(runId: string): RunArtifact[];
  /** The spec the run was started with (the worker config, its chat template and hashes), as stored; undefined for an unknown run. */
  getRunSpec(id: string): unknown;
  listRuns(): RunRecord[];
  runEvents(runId: string): unknown[];
  getAdapterForRun(runId: string): AdapterRecord | undefined;
  listAdapters(): AdapterRecord[];
  /** Marks a hosted run succeeded and registers its fine-tuned model in one transaction (the run must still be running). */
  completeHostedRun(runId: string, summary: Record<string, unknown>, model: Omit<HostedModelRecord, 'runId' | 'createdAt'>): HostedModelRecord;
  getHostedModelForRun(runId: string): HostedModelRecord | undefined;
  /** Newest first. */
  listHostedModels(): HostedModelRecord[];
  saveEval(input: { datasetId: string; config: unknown; summary: unknown; results: EvalResultRow[] }): { id: string; contentHash: string };
  evalResults(evalId: string): EvalResultRow[];
  /** A candidate's stored answer to one input (`fingerprint`: what produced it; `inputHash`: the conversation). */
  cachedEvalOutput(fingerprint: string, inputHash: string): CachedEvalOutput | undefined;
  cacheEvalOutput(entry: CachedEvalOutput & { fingerprint: string; inputHash: string }): void;
  /** Append gateway calls in one transaction (all or none); a record that breaks the schema is refused whole. */
  logGatewayRequests(records: readonly GatewayLogRecord[]): void;
  /** Logged gateway calls, oldest first; `route` and `since` (ISO time) narrow them. */
  listGatewayRequests(filter?: { route?: string; since?: string }): GatewayLogRecord[];
  /**
   * Logged calls without their conversations (no `messages`): what the A/B report and the measured economics read,
   * oldest first. `experiment` keeps only that experiment's incumbent and candidate calls.
   */
  listGatewayCalls(filter?: { route?: string; experiment?: string }): GatewayCallRecord[];
  /** Attach feedback to a logged request; an unknown request id is refused. */
  addGatewayFeedback(feedback: { requestId: string; score?: number; correction?: string; comment?: string }): StoredFeedback;
  /** Every feedback row, oldest first (a request may have several: the newest wins in analysis). */
  listGatewayFeedback(): StoredFeedback[];
  /** `understudy ab promote|rollback`: a running gateway picks the state up within a second. */
  setExperimentState(experiment: string, state: ExperimentState, note: string): void;
  experimentStates(): Map<string, { state: ExperimentState; changedAt: string; note: string }>;
  /** A new gateway key: the key itself is returned once and only its sha256 is stored. */
  createGatewayKey(name: string): { id: string; key: string };
  /** sha256 hex digests of the keys not revoked. */
  activeGatewayKeyHashes(): Set<string>;
  listGatewayKeys(): { id: string; name: string; createdAt: string; revokedAt: string | null }[];
  revokeGatewayKey(id: string): void;
  close(): void;
}

const now = (): string => new Date().toISOString();
const newId = (prefix: string): string => `${prefix}_${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;

/** Open (creating and migrating) a workspace database. */
export function openStore(file: string): Store {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);

  const datasetFromRow = (row: DatasetRow): DatasetRecord => ({
    id: row.id,
    name: row.name,
    role: row.role,
    contentHash: row.content_hash,
    exampleCount: row.example_count,
    source: JSON.parse(row.source_json) as Record<string, unknown>,
    createdAt: row.created_at,
  });
  const runFromRow = (row: RunRow): RunRecord => ({
    id: row.id,
    datasetId: row.dataset_id,
    baseSha256: row.base_sha256,
    method: row.method,
    specHash: row.spec_hash,
    status: row.status,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    summary: row.summary_json === null ? null : (JSON.parse(row.summary_json) as Record<string, unknown>),
    error: row.error,
  });
  const adapterFromRow = (row: AdapterRow): AdapterRecord => ({
    id: row.id,
    runId: row.run_id,
    baseSha256: row.base_sha256,
    ggufPath: row.gguf_path,
    ggufSha256: row.gguf_sha256,
    peftPath: row.peft_path,
    peftSha256: row.peft_sha256,
    createdAt: row.created_at,
  });

  const hostedModelFromRow = (row: HostedModelRow): HostedModelRecord => ({
    runId: row.run_id,
    service: row.service,
    target: row.target,
    baseUrl: row.base_url,
    apiKeyEnv: row.api_key_env,
    baseModel: row.base_model,
    model: row.model,
    jobId: row.job_id,
    inputUsdPerMillion: row.input_usd_per_million,
    outputUsdPerMillion: row.output_usd_per_million,
    createdAt: row.created_at,
  });

  const store: Store = {
    file,
    curation: createCurationStore(db),
    browse: createBrowseQueries(db),
    registerDataset({ name, role, source, examples }) {
      const hashes = examples.map((example) => contentHash({ input: example.input, label: example.label, messages: example.messages }));
      const datasetHash = contentHash(hashes);
      const existing = db.prepare('SELECT * FROM datasets WHERE name = ? AND role = ? AND content_hash = ?').get(name, role, datasetHash) as DatasetRow | undefined;
      if (existing) return { ...datasetFromRow(existing), reused: true };
      const record: DatasetRecord = { id: `ds_${datasetHash.slice(0, 16)}_${role}`, name, role, contentHash: datasetHash, exampleCount: examples.length, source, createdAt: now() };
      const insertDataset = db.prepare('INSERT INTO datasets (id, name, role, content_hash, example_count, source_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
      const insertExample = db.prepare('INSERT INTO examples (dataset_id, position, input, label, messages_json, content_hash, provenance_json) VALUES (?, ?, ?, ?, ?, ?, ?)');
      db.transaction(() => {
        insertDataset.run(record.id, name, role, datasetHash, examples.length, JSON.stringify(source), record.createdAt);
        examples.forEach((example, position) => {
          insertExample.run(record.id, position, example.input, example.label, JSON.stringify(example.messages), hashes[position], JSON.stringify(example.provenance));
        });
      })();
      return { ...record, reused: false };
    },
    getDataset(id) {
      const row = db.prepare('SELECT * FROM datasets WHERE id = ?').get(id) as DatasetRow | undefined;
      return row === undefined ? undefined : datasetFromRow(row);
    },
    listExamples(datasetId) {
      const rows = db.prepare('SELECT * FROM examples WHERE dataset_id = ? ORDER BY position').all(datasetId) as ExampleRow[];
      return rows.map((row) => ({
        id: row.id,
        position: row.position,
        input: row.input,
        label: row.label,
        messages: JSON.parse(row.messages_json) as ChatMessage[],
        contentHash: row.content_hash,
        provenance: JSON.parse(row.provenance_json) as Record<string, unknown>,
      }));
    },
    registerBaseModel({ sha256, name, path: modelPath, metadata }) {
      db.prepare('INSERT INTO base_models (sha256, name, path, metadata_json, registered_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, name = excluded.name')
        .run(sha256, name, modelPath, JSON.stringify(metadata), now());
    },
    getBaseModel(sha256) {
      const row = db.prepare('SELECT * FROM base_models WHERE sha256 = ?').get(sha256) as BaseModelRow | undefined;
      return row === undefined
        ? undefined
        : { sha256: row.sha256, name: row.name, path: row.path, metadata: JSON.parse(row.metadata_json) as Record<string, unknown>, registeredAt: row.registered_at };
    },
    startRun({ datasetId, baseSha256, method, spec }) {
      const id = newId('run');
      const startedAt = now();
      db.prepare("INSERT INTO training_runs (id, dataset_id, base_sha256, method, spec_json, spec_hash, status, started_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)")
        .run(id, datasetId, baseSha256, method, JSON.stringify(spec), contentHash(spec), startedAt);
      return store.getRun(id)!;
    },
    appendRunEvent(runId, event) {
      db.prepare('INSERT INTO run_events (run_id, sequence, event_json) VALUES (?, (SELECT COALESCE(MAX(sequence), 0) + 1 FROM run_events WHERE run_id = ?), ?)')
        .run(runId, runId, JSON.stringify(event));
    },
    reopenRun(runId) {
      const changed = db.prepare("UPDATE training_runs SET status = 'running', finished_at = NULL, error = NULL WHERE id = ? AND status != 'succeeded'").run(runId);
      if (changed.changes !== 1) throw new Error(`run ${runId} is unknown or already succeeded`);
    },
    recordArtifact({ runId, kind, path: file, sha256, details }) {
      const createdAt = now();
      db.prepare('INSERT INTO run_artifacts (run_id, kind, path, sha256, details_json, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, kind, path) DO UPDATE SET sha256 = excluded.sha256, details_json = excluded.details_json, created_at = excluded.created_at')
        .run(runId, kind, file, sha256, JSON.stringify(details ?? {}), createdAt);
      return { runId, kind, path: file, sha256, details: details ?? {}, createdAt };
    },
    listArtifacts(runId) {
      const rows = db.prepare('SELECT run_id, kind, path, sha256, details_json, created_at FROM run_artifacts WHERE run_id = ? ORDER BY id').all(runId) as { run_id: string; kind: string; path: string; sha256: string; details_json: string; created_at: string }[];
      return rows.map((row) => ({ runId: row.run_id, kind: row.kind, path: row.path, sha256: row.sha256, details: JSON.parse(row.details_json) as Record<string, unknown>, createdAt: row.created_at }));
    },
    failRun(runId, status, error) {
      db.prepare("UPDATE training_runs SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status = 'running'").run(status, now(), error, runId);
    },
    completeRun(runId, summary, adapter) {
      const run = store.getRun(runId);
      if (run === undefined) throw new Error(`unknown run ${runId}`);
      const record: AdapterRecord = { id: `ad_${adapter.ggufSha256.slice(0, 16)}`, runId, baseSha256: run.baseSha256, createdAt: now(), ...adapter };
      db.transaction(() => {
        db.prepare("UPDATE training_runs SET status = 'succeeded', finished_at = ?, summary_json = ? WHERE id = ?").run(now(), JSON.stringify(summary), runId);
        db.prepare('INSERT INTO adapters (id, run_id, base_sha256, gguf_path, gguf_sha256, peft_path, peft_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
          .run(record.id, runId, record.baseSha256, record.ggufPath, record.ggufSha256, record.peftPath, record.peftSha256, record.createdAt);
      })();
      return record;
    },
    getRun(id) {
      const row = db.prepare('SELECT * FROM training_runs WHERE id = ?').get(id) as RunRow | undefined;
      return row === undefined ? undefined : runFromRow(row);
    },
    getRunSpec(id) {
      const row = db.prepare('SELECT spec_json FROM training_runs WHERE id = ?').get(id) as { spec_json: string } | undefined;
      return row === undefined ? undefined : (JSON.parse(row.spec_json) as unknown);
    },
    listRuns() {
      return (db.prepare('SELECT * FROM training_runs ORDER BY started_at DESC').all() as RunRow[]).map(runFromRow);
    },
    runEvents(runId) {
      return (db.prepare('SELECT event_json FROM run_events WHERE run_id = ? ORDER BY sequence').all(runId) as { event_json: string }[]).map((row) => JSON.parse(row.event_json) as unknown);
    },
    getAdapterForRun(runId) {
      const row = db.prepare('SELECT * FROM adapters WHERE run_id = ?').get(runId) as AdapterRow | undefined;
      return row === undefined ? undefined : adapterFromRow(row);
    },
    listAdapters() {
      return (db.prepare('SELECT * FROM adapters ORDER BY created_at DESC').all() as AdapterRow[]).map(adapterFromRow);
    },
    completeHostedRun(runId, summary, model) {
      const record: HostedModelRecord = { runId, createdAt: now(), ...model };
      db.transaction(() => {
        // Only a run still running may finish: a run failed or interrupted meanwhile stays so.
        const changed = db.prepare("UPDATE training_runs SET status = 'succeeded', finished_at = ?, summary_json = ? WHERE id = ? AND status = 'running'").run(now(), JSON.stringify(summary), runId);
        if (changed.changes !== 1) throw new Error(`run ${runId} is unknown or no longer running`);
        db.prepare('INSERT INTO hosted_models (run_id, service, target, base_url, api_key_env, base_model, model, job_id, input_usd_per_million, output_usd_per_million, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(runId, record.service, record.target, record.baseUrl, record.apiKeyEnv, record.baseModel, record.model, record.jobId, record.inputUsdPerMillion, record.outputUsdPerMillion, record.createdAt);
      })();
      return record;
    },
    getHostedModelForRun(runId) {
      const row = db.prepare('SELECT * FROM hosted_models WHERE run_id = ?').get(runId) as HostedModelRow | undefined;
      return row === undefined ? undefined : hostedModelFromRow(row);
    },
    listHostedModels() {
      return (db.prepare('SELECT * FROM hosted_models ORDER BY created_at DESC').all() as HostedModelRow[]).map(hostedModelFromRow);
    },
    saveEval({ datasetId, config, summary, results }) {
      const id = newId('eval');
      const hash = contentHash({ datasetId, config, results });
      const insertResult = db.prepare('INSERT INTO eval_results (eval_id, candidate, example_id, output, correct, prompt_tokens, completion_tokens, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      db.transaction(() => {
        db.prepare('INSERT INTO eval_runs (id, dataset_id, config_json, summary_json, content_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(id, datasetId, JSON.stringify(config), JSON.stringify(summary), hash, now());
        for (const row of results) {
          insertResult.run(id, row.candidate, row.exampleId, row.output, row.correct ? 1 : 0, row.promptTokens, row.completionTokens, row.latencyMs);
        }
      })();
      return { id, contentHash: hash };
    },
    evalResults(evalId) {
      const rows = db.prepare('SELECT * FROM eval_results WHERE eval_id = ? ORDER BY candidate, example_id').all(evalId) as EvalResultDbRow[];
      return rows.map((row) => ({
        candidate: row.candidate,
        exampleId: row.example_id,
        output: row.output,
        correct: row.correct === 1,
        promptTokens: row.prompt_tokens,
        completionTokens: row.completion_tokens,
        latencyMs: row.latency_ms,
      }));
    },
    cachedEvalOutput(fingerprint, inputHash) {
      const row = db.prepare('SELECT output, usage_json, cost_json, latency_ms FROM eval_output_cache WHERE fingerprint = ? AND input_hash = ?').get(fingerprint, inputHash) as
        | { output: string; usage_json: string; cost_json: string; latency_ms: number }
        | undefined;
      return row === undefined ? undefined : { output: row.output, usage: JSON.parse(row.usage_json) as unknown, cost: JSON.parse(row.cost_json) as unknown, latencyMs: row.latency_ms };
    },
    cacheEvalOutput({ fingerprint, inputHash, output, usage, cost, latencyMs }) {
      db.prepare('INSERT INTO eval_output_cache (fingerprint, input_hash, output, usage_json, cost_json, latency_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint, input_hash) DO UPDATE SET output = excluded.output, usage_json = excluded.usage_json, cost_json = excluded.cost_json, latency_ms = excluded.latency_ms')
        .run(fingerprint, inputHash, output, JSON.stringify(usage ?? null), JSON.stringify(cost ?? null), latencyMs, now());
    },
    logGatewayRequests(records) {
      const checked = records.map((record, index) => {
        const parsed = GatewayLogRecordSchema.safeParse(record);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new InvalidInputError(`gateway log record ${index}: ${issue.path.join('.')}: ${issue.message}`, { field: issue.path.join('.') });
        }
        return parsed.data;
      });
      const insert = db.prepare(
        'INSERT INTO gateway_requests (request_id, created_at, route, experiment, arm, path, provider, model, adapter, prompt_tokens, completion_tokens, cost_usd, latency_ms, first_token_ms, status, fallback, shadow, error, messages_json, response_text, unit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      db.transaction(() => {
        for (const record of checked) {
          insert.run(record.requestId, new Date(record.createdAt).toISOString(), record.route, record.experiment, record.arm, record.path, record.provider, record.model, record.adapter, record.promptTokens, record.completionTokens, record.costUsd, record.latencyMs, record.firstTokenMs, record.status, record.fallback ? 1 : 0, record.shadow ? 1 : 0, record.error, record.messages === null ? null : JSON.stringify(record.messages), record.response, record.unit ?? null);
        }
      })();
    },
    listGatewayRequests(filter = {}) {
      const rows = db
        .prepare('SELECT * FROM gateway_requests WHERE (? IS NULL OR route = ?) AND (? IS NULL OR created_at >= ?) ORDER BY created_at, request_id')
        .all(filter.route ?? null, filter.route ?? null, filter.since ?? null, filter.since === undefined ? null : new Date(filter.since).toISOString()) as GatewayRow[];
      return rows.map((row) => ({
        ...gatewayCallFromRow(row),
        messages: row.messages_json === null ? null : (JSON.parse(row.messages_json) as GatewayLogRecord['messages']),
      }));
    },
    listGatewayCalls(filter = {}) {
      const rows = db
        .prepare(
          `SELECT ${GATEWAY_CALL_COLUMNS} FROM gateway_requests WHERE (? IS NULL OR route = ?) AND (? IS NULL OR (experiment = ? AND arm IN ('incumbent', 'candidate'))) ORDER BY created_at, request_id`,
        )
        .all(filter.route ?? null, filter.route ?? null, filter.experiment ?? null, filter.experiment ?? null) as Omit<GatewayRow, 'messages_json'>[];
      return rows.map(gatewayCallFromRow);
    },
    addGatewayFeedback({ requestId, score, correction, comment }) {
      const known = db.prepare('SELECT 1 FROM gateway_requests WHERE request_id = ?').get(requestId);
      if (known === undefined) throw new InvalidInputError(`no logged request ${JSON.stringify(requestId)}`, { field: 'request_id' });
      const stored: StoredFeedback = { requestId, createdAt: now(), score: score ?? null, correction: correction ?? null, comment: comment ?? null };
      db.prepare('INSERT INTO gateway_feedback (request_id, created_at, score, correction, comment) VALUES (?, ?, ?, ?, ?)').run(stored.requestId, stored.createdAt, stored.score, stored.correction, stored.comment);
      return stored;
    },
    listGatewayFeedback() {
      return (db.prepare('SELECT request_id, created_at, score, correction, comment FROM gateway_feedback ORDER BY created_at, rowid').all() as { request_id: string; created_at: string; score: number | null; correction: string | null; comment: string | null }[]).map((row) => ({
        requestId: row.request_id,
        createdAt: row.created_at,
        score: row.score,
        correction: row.correction,
        comment: row.comment,
      }));
    },
    createGatewayKey(name) {
      const key = `us-${randomBytes(24).toString('base64url')}`;
      const id = `key_${randomBytes(6).toString('hex')}`;
      db.prepare('INSERT INTO gateway_keys (id, name, sha256, created_at) VALUES (?, ?, ?, ?)').run(id, name, createHash('sha256').update(key).digest('hex'), now());
      return { id, key };
    },
    activeGatewayKeyHashes() {
      return new Set((db.prepare('SELECT sha256 FROM gateway_keys WHERE revoked_at IS NULL').all() as { sha256: string }[]).map((row) => row.sha256));
    },
    listGatewayKeys() {
      return (db.prepare('SELECT id, name, created_at, revoked_at FROM gateway_keys ORDER BY created_at, id').all() as { id: string; name: string; created_at: string; revoked_at: string | null }[]).map((row) => ({ id: row.id, name: row.name, createdAt: row.created_at, revokedAt: row.revoked_at }));
    },
    revokeGatewayKey(id) {
      const changed = db.prepare('UPDATE gateway_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now(), id).changes;
      if (changed === 0) throw new InvalidInputError(`no active gateway key ${JSON.stringify(id)}`, { field: 'id' });
    },
    setExperimentState(experiment, state, note) {
      db.prepare('INSERT INTO gateway_experiment_state (experiment, state, changed_at, note) VALUES (?, ?, ?, ?) ON CONFLICT (experiment) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at, note = excluded.note').run(experiment, state, now(), note);
    },
    experimentStates() {
      const rows = db.prepare('SELECT experiment, state, changed_at, note FROM gateway_experiment_state').all() as { experiment: string; state: ExperimentState; changed_at: string; note: string }[];
      return new Map(rows.map((row) => [row.experiment, { state: row.state, changedAt: row.changed_at, note: row.note }]));
    },
    close() {
      db.close();
    },
  };
  return store;
}

/** A logged gateway call without its conversation. */
export type GatewayCallRecord = Omit<GatewayLogRecord, 'messages'>;

const GATEWAY_CALL_COLUMNS = 'request_id, created_at, route, experiment, arm, path, provider, model, adapter, prompt_tokens, completion_tokens, cost_usd, latency_ms, first_token_ms, status, fallback, shadow, unit, error, response_text';

interface GatewayRow {
  request_id: string;
  created_at: string;
  route: string;
  experiment: string | null;
  arm: string | null;
  path: 'hosted' | 'tuned';
  provider: string;
  model: string;
  adapter: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cost_usd: number | null;
  latency_ms: number;
  first_token_ms: number | null;
  status: 'ok' | 'error';
  fallback: number;
  shadow: number;
  unit: string | null;
  error: string | null;
  messages_json: string | null;
  response_text: string | null;
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((row) => row.version));
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, now());
    })();
  }
}

interface DatasetRow { id: string; name: string; role: DatasetRecord['role']; content_hash: string; example_count: number; source_json: string; created_at: string }
interface ExampleRow { id: number; dataset_id: string; position: number; input: string; label: string | null; messages_json: string; content_hash: string; provenance_json: string }
interface BaseModelRow { sha256: string; name: string; path: string; metadata_json: string; registered_at: string }
interface RunRow { id: string; dataset_id: string; base_sha256: string; method: string; spec_json: string; spec_hash: string; status: RunRecord['status']; started_at: string; finished_at: string | null; summary_json: string | null; error: string | null }
interface HostedModelRow { run_id: string; service: HostedModelRecord['service']; target: string; base_url: string; api_key_env: string; base_model: string; model: string; job_id: string; input_usd_per_million: number | null; output_usd_per_million: number | null; created_at: string }
interface AdapterRow { id: string; run_id: string; base_sha256: string; gguf_path: string; gguf_sha256: string; peft_path: string; peft_sha256: string; created_at: string }
interface EvalResultDbRow { eval_id: string; candidate: string; example_id: number; output: string; correct: number; prompt_tokens: number; completion_tokens: number; latency_ms: number }

/** A `gateway_requests` row as a call record (everything but the logged messages). */
function gatewayCallFromRow(row: Omit<GatewayRow, 'messages_json'>): GatewayCallRecord {
  return {
    requestId: row.request_id,
    createdAt: row.created_at,
    route: row.route,
    experiment: row.experiment,
    arm: row.arm,
    path: row.path,
    provider: row.provider,
    model: row.model,
    adapter: row.adapter,
    promptTokens: row.prompt_tokens,
    completionTokens: row.completion_tokens,
    costUsd: row.cost_usd,
    latencyMs: row.latency_ms,
    firstTokenMs: row.first_token_ms,
    status: row.status,
    fallback: row.fallback === 1,
    shadow: row.shadow === 1,
    unit: row.unit,
    error: row.error,
    response: row.response_text,
  };
}
