/**
 * The workspace database schema, as ordered migrations. A migration is never edited once
 * released: add a new one. Every stored thing carries a content hash so a report can name
 * exactly which data, base and adapter produced a number.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
CREATE TABLE datasets (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('train', 'eval', 'pool')),
  content_hash TEXT NOT NULL,
  example_count INTEGER NOT NULL,
  source_json TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX datasets_by_hash ON datasets (name, role, content_hash);

CREATE TABLE examples (
  id INTEGER PRIMARY KEY,
  dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  input TEXT NOT NULL,
  label TEXT,
  messages_json TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  provenance_json TEXT NOT NULL,
  UNIQUE (dataset_id, position)
);
CREATE INDEX examples_by_hash ON examples (content_hash);

CREATE TABLE base_models (
  sha256 TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  metadata_json TEXT NOT NULL,
  registered_at TEXT NOT NULL
);

CREATE TABLE training_runs (
  id TEXT PRIMARY KEY,
  dataset_id TEXT NOT NULL REFERENCES datasets (id),
  base_sha256 TEXT NOT NULL REFERENCES base_models (sha256),
  method TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  spec_hash TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  started_at TEXT NOT NULL,
  finished_at TEXT,
  summary_json TEXT,
  error TEXT
);

CREATE TABLE run_events (
  run_id TEXT NOT NULL REFERENCES training_runs (id) ON DELETE CASCADE,
  sequence INTEGER NOT NULL,
  event_json TEXT NOT NULL,
  PRIMARY KEY (run_id, sequence)
);

CREATE TABLE adapters (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL UNIQUE REFERENCES training_runs (id),
  base_sha256 TEXT NOT NULL REFERENCES base_models (sha256),
  gguf_path TEXT NOT NULL,
  gguf_sha256 TEXT NOT NULL,
  peft_path TEXT NOT NULL,
  peft_sha256 TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE eval_runs (
  id TEXT PRIMARY KEY,
  dataset_id TEXT NOT NULL REFERENCES datasets (id),
  config_json TEXT NOT NULL,
  summary_json TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE eval_results (
  eval_id TEXT NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
  candidate TEXT NOT NULL,
  example_id INTEGER NOT NULL REFERENCES examples (id),
  output TEXT NOT NULL,
  correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  PRIMARY KEY (eval_id, candidate, example_id)
);
`,
  },
  {
    version: 2,
    name: 'run artifacts',
    sql: `
CREATE TABLE run_artifacts (
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES training_runs (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  details_json TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (run_id, kind, path)
);
`,
  },
  {
    version: 3,
    name: 'curation pool',
    sql: `
CREATE TABLE pool_batches (
  id TEXT PRIMARY KEY,
  task TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('import', 'generate', 'relabel')),
  source_json TEXT NOT NULL,
  added INTEGER NOT NULL,
  problems_json TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE pool_examples (
  id INTEGER PRIMARY KEY,
  task TEXT NOT NULL,
  batch_id TEXT NOT NULL REFERENCES pool_batches (id) ON DELETE CASCADE,
  input TEXT NOT NULL,
  answer TEXT,
  messages_json TEXT NOT NULL,
  input_key TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('human', 'synthetic', 'log')),
  tags_json TEXT NOT NULL,
  provenance_json TEXT NOT NULL,
  split TEXT CHECK (split IN ('train', 'eval')),
  review TEXT NOT NULL DEFAULT 'pending' CHECK (review IN ('pending', 'accepted', 'rejected', 'edited')),
  original_answer TEXT,
  original_messages_json TEXT,
  reviewed_at TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX pool_examples_by_task ON pool_examples (task, split);
CREATE INDEX pool_examples_by_key ON pool_examples (task, input_key);

CREATE TABLE heldout_versions (
  task TEXT NOT NULL,
  version INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  example_ids_json TEXT NOT NULL,
  rule_json TEXT NOT NULL,
  note TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (task, version)
);

CREATE TABLE filter_runs (
  id TEXT PRIMARY KEY,
  task TEXT NOT NULL,
  settings_json TEXT NOT NULL,
  report_json TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE filter_drops (
  filter_run_id TEXT NOT NULL REFERENCES filter_runs (id) ON DELETE CASCADE,
  example_id INTEGER NOT NULL REFERENCES pool_examples (id) ON DELETE CASCADE,
  step TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail_json TEXT NOT NULL,
  PRIMARY KEY (filter_run_id, example_id)
);

CREATE TABLE generation_cache (
  prompt_hash TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  response_text TEXT NOT NULL,
  usage_json TEXT NOT NULL,
  cost_json TEXT NOT NULL,
  created_at TEXT NOT NULL
);
`,
  },
  {
    version: 4,
    name: 'eval output cache',
    sql: `
CREATE TABLE eval_output_cache (
  fingerprint TEXT NOT NULL,
  input_hash TEXT NOT NULL,
  output TEXT NOT NULL,
  usage_json TEXT NOT NULL,
  cost_json TEXT NOT NULL,
  latency_ms REAL NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (fingerprint, input_hash)
);
`,
  },
  {
    version: 5,
    name: 'gateway request log',
    sql: `
CREATE TABLE gateway_requests (
  request_id TEXT PRIMARY KEY,
  created_at TEXT NOT NULL,
  route TEXT NOT NULL,
  experiment TEXT,
  arm TEXT,
  path TEXT NOT NULL CHECK (path IN ('hosted', 'tuned')),
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  adapter TEXT,
  prompt_tokens INTEGER,
  completion_tokens INTEGER,
  cost_usd REAL,
  latency_ms REAL NOT NULL,
  first_token_ms REAL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
  fallback INTEGER NOT NULL,
  shadow INTEGER NOT NULL,
  error TEXT,
  messages_json TEXT,
  response_text TEXT
);
CREATE INDEX gateway_requests_route_time ON gateway_requests (route, created_at);
CREATE TABLE gateway_feedback (
  request_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  score REAL,
  correction TEXT,
  comment TEXT
);
CREATE INDEX gateway_feedback_request ON gateway_feedback (request_id);
CREATE TABLE gateway_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  sha256 TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE TABLE gateway_experiment_state (
  experiment TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('running', 'promoted', 'rolled-back')),
  changed_at TEXT NOT NULL,
  note TEXT NOT NULL
);
`,
  },
  {
    version: 6,
    name: 'hosted fine-tuned models',
    // A model fine-tuned at a hosted service (OpenAI, Together) for a run: where to call it and by which name. The
    // key's environment variable is kept, never the key.
    sql: `
CREATE TABLE hosted_models (
  run_id TEXT PRIMARY KEY REFERENCES training_runs (id),
  service TEXT NOT NULL CHECK (service IN ('openai-finetune', 'together-finetune')),
  target TEXT NOT NULL,
  base_url TEXT NOT NULL,
  api_key_env TEXT NOT NULL,
  base_model TEXT NOT NULL,
  model TEXT NOT NULL,
  job_id TEXT NOT NULL,
  input_usd_per_million REAL,
  output_usd_per_million REAL,
  created_at TEXT NOT NULL
);
`,
  },
  {
    version: 7,
    name: 'dashboard indexes',
    // The dashboard pages the pool of 100,000s of examples: these make its counts, facets and pages index-only scans
    // (the length index serves the input-length histogram without reading the rows; the partial index lets tag counts
    // read only tagged rows).
    sql: `
CREATE INDEX pool_examples_by_task_id ON pool_examples (task, id);
CREATE INDEX pool_examples_by_answer ON pool_examples (task, answer, split);
CREATE INDEX pool_examples_by_review ON pool_examples (task, review, source);
CREATE INDEX pool_examples_by_input_length ON pool_examples (task, length(input));
CREATE INDEX pool_examples_tagged ON pool_examples (task) WHERE tags_json != '[]';
`,
  },
  {
    version: 8,
    name: 'gateway experiment units',
    // The unit an experiment arm was assigned by (a hash of the user or session key), so the sample ratio check counts
    // users, not requests. Rows logged before stay null and are counted as requests.
    sql: `
ALTER TABLE gateway_requests ADD COLUMN unit TEXT;
`,
  },
];
