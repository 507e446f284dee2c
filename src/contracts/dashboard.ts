import { z } from 'zod';
import { ExampleSourceSchema, ReviewStateSchema, SplitSchema } from './curation.ts';

/**
 * The dashboard's HTTP API (`/api/...` under `understudy serve`'s `/ui`, or `understudy ui`): query strings and
 * request bodies as zod schemas (checked at the edge), and the JSON shapes the page reads. The page imports the
 * types only, so no zod reaches its bundle.
 */

const pageSize = z.coerce.number().int().min(1).max(200).default(50);
const offset = z.coerce.number().int().min(0).max(10_000_000).default(0);

/** `?offset=&limit=` of every list. */
export const PageQuerySchema = z.object({ offset, limit: pageSize });
export type PageQuery = z.infer<typeof PageQuerySchema>;

/** Which examples the newest filter run kept or dropped; `dropped:<step>` narrows to one filter step. */
export const FilterVerdictSchema = z.union([z.literal('kept'), z.literal('dropped'), z.string().regex(/^dropped:[a-z0-9-]+$/, 'kept, dropped or dropped:<step>')]);

/** `GET /api/pool/examples`: the task's pool, filtered, one page at a time. Empty strings count as absent. */
export const PoolQuerySchema = PageQuerySchema.extend({
  label: z.string().min(1).max(500).optional(),
  source: ExampleSourceSchema.optional(),
  split: z.union([SplitSchema, z.literal('none')]).optional(),
  review: ReviewStateSchema.optional(),
  verdict: FilterVerdictSchema.optional(),
  tag: z.string().min(1).max(200).optional(),
  /** Words the input contains (case-insensitive substring). */
  search: z.string().min(1).max(200).optional(),
});
export type PoolQuery = z.infer<typeof PoolQuerySchema>;

/** `GET /api/review/queue`: the pending examples in `understudy data review`'s order. */
export const ReviewQueueQuerySchema = PageQuerySchema.extend({
  split: z.enum(['train', 'eval', 'all']).default('train'),
  source: ExampleSourceSchema.optional(),
});
export type ReviewQueueQuery = z.infer<typeof ReviewQueueQuerySchema>;

/** `POST /api/review/:id`: the same decisions as `understudy data review` (an edit keeps the original as a DPO pair). */
export const ReviewBodySchema = z.discriminatedUnion('decision', [
  z.strictObject({ decision: z.literal('accept') }),
  z.strictObject({ decision: z.literal('reject') }),
  z.strictObject({ decision: z.literal('edit'), answer: z.string().min(1).max(100_000) }),
]);
export type ReviewBody = z.infer<typeof ReviewBodySchema>;

/** `GET /api/runs/:id/updates?after=<sequence>`: the events stored since the page's last look. */
export const RunUpdatesQuerySchema = z.object({ after: z.coerce.number().int().min(0).default(0) });

/** One page of a list and how many match in all. */
export interface Page<Item> {
  items: Item[];
  total: number;
  offset: number;
  limit: number;
}

/** One pool example as the page shows it. */
export interface PoolExampleView {
  id: number;
  input: string;
  answer: string | null;
  source: 'human' | 'synthetic' | 'log';
  split: 'train' | 'eval' | null;
  review: 'pending' | 'accepted' | 'rejected' | 'edited';
  tags: string[];
  /** Where it came from, in words (file:line, generator, gateway log). */
  provenance: string;
  /** The answer before a review edit or relabel; null when never changed. */
  originalAnswer: string | null;
  /** The newest filter run's drop of it: the step and reason; null when kept (or no filter run). */
  dropped: { step: string; reason: string } | null;
}

export interface DatasetView {
  id: string;
  name: string;
  role: 'train' | 'eval' | 'pool';
  contentHash: string;
  exampleCount: number;
  createdAt: string;
}

export interface DatasetExampleView {
  id: number;
  position: number;
  input: string;
  label: string | null;
  contentHash: string;
  provenance: string;
}

/** `GET /api/overview`: what the header and the home page show. */
export interface OverviewView {
  task: { name: string; outputType: 'labels' | 'json-schema'; labels: string[] };
  workspace: string;
  pool: { total: number; pending: number };
  datasets: number;
  runs: { total: number; running: number };
}

/** `GET /api/pool/facets`: the values the filters offer. */
export interface PoolFacetsView {
  labels: { label: string; count: number }[];
  tags: { tag: string; count: number }[];
  /** The newest filter run's steps that dropped something. */
  filterSteps: { step: string; dropped: number }[];
  filterRun: { id: string; createdAt: string } | null;
}

/** A histogram bucket: `[from, to)` characters. */
export interface LengthBucket {
  from: number;
  to: number;
  count: number;
}

/** `GET /api/pool/stats`: distributions for the charts. */
export interface PoolStatsView {
  total: number;
  byLabel: { label: string; train: number; eval: number; none: number }[];
  bySource: Record<'human' | 'synthetic' | 'log', number>;
  bySplit: Record<'train' | 'eval' | 'none', number>;
  byReview: Record<'pending' | 'accepted' | 'rejected' | 'edited', number>;
  /** Input length in characters. */
  inputLengths: LengthBucket[];
  filterReport: { id: string; createdAt: string; before: number; after: number; steps: { step: string; before: number; dropped: number; after: number; skipped: string | null; reasons: { reason: string; count: number }[] }[] } | null;
  heldout: { version: number; size: number; contentHash: string } | null;
  /** DPO pairs the review edits make (train side, outside the held-out set). */
  preferencePairs: number;
}

export interface ReviewResultView {
  example: PoolExampleView;
  /** What was stored: an edit to the same answer is an accept, as in the terminal. */
  applied: 'accept' | 'reject' | 'edit';
  preferencePairs: number;
}

export interface LossPointView {
  step: number;
  loss: number;
}

export interface ValidationPointView {
  step: number;
  evalLoss: number | null;
  accuracy: number | null;
}

export interface RunRowView {
  id: string;
  method: string;
  status: 'running' | 'succeeded' | 'failed' | 'interrupted';
  startedAt: string;
  durationSeconds: number | null;
  steps: number | null;
  totalSteps: number | null;
  finalLoss: number | null;
  bestEvalLoss: number | null;
  baseName: string | null;
  datasetId: string;
}

/** `GET /api/runs/:id/updates`: new curve points since `after`, and where the run stands. */
export interface RunUpdatesView {
  status: RunRowView['status'];
  /** Pass back as `after` next time. */
  lastSequence: number;
  loss: LossPointView[];
  validation: ValidationPointView[];
  progress: { step: number; totalSteps: number; epoch: number; learningRate: number | null; tokensPerSecond: number | null; etaSeconds: number | null } | null;
  /** More events are stored than one look returns: ask again at once. */
  more: boolean;
}

/** `GET /api/runs/:id`: a run in full. */
export interface RunView {
  id: string;
  method: string;
  status: RunRowView['status'];
  startedAt: string;
  finishedAt: string | null;
  durationSeconds: number | null;
  error: string | null;
  dataset: { id: string; name: string | null; contentHash: string | null; exampleCount: number | null };
  base: { sha256: string; name: string | null };
  chatTemplateSha256: string | null;
  specHash: string;
  lora: Record<string, unknown> | null;
  training: Record<string, unknown> | null;
  worker: { device: string | null; torchVersion: string | null; precision: string | null } | null;
  steps: { completed: number | null; total: number | null };
  best: { step: number; evalLoss: number | null } | null;
  adapter: { id: string; ggufPath: string; ggufSha256: string; peftPath: string; peftSha256: string } | null;
  artifacts: { kind: string; path: string; sha256: string }[];
  checkpoints: { step: number; path: string; best: boolean }[];
  updates: RunUpdatesView;
}

/** Every error the API returns. */
export interface ApiErrorView {
  error: { message: string; field?: string; hint?: string };
}

/** An experiment's name as `gateway.routes.<route>.experiment.name` spells it. */
export const ExperimentNameSchema = z.string().max(200).regex(/^[a-z0-9][a-z0-9-_]*$/, 'an experiment name: lowercase letters, digits, - and _');

/** `POST /api/experiments/:name/promote` and `/rollback`: what `understudy ab promote|rollback --note` records. */
/** `POST /api/runs`: start `understudy train` on the workspace's config (optionally capped, or on the curated pool). */
export const StartRunBodySchema = z.strictObject({
  maxSteps: z.number().int().min(1).max(1_000_000).optional(),
  data: z.enum(['config', 'curated']).default('config'),
});
export type StartRunBody = z.infer<typeof StartRunBodySchema>;

export interface StartRunView {
  /** The launched `understudy train` process; its run appears in the list once registered. */
  pid: number;
  command: string[];
  log: string;
}

export interface StopRunView {
  runId: string;
  /** The process sent SIGINT: it stops its worker and marks the run interrupted. */
  pid: number;
}

export const ExperimentDecisionBodySchema = z.strictObject({ note: z.string().max(2000).optional() });
export type ExperimentDecisionBody = z.infer<typeof ExperimentDecisionBodySchema>;

/** One arm of an experiment: who serves it and how it did (quality with its 95% Wilson interval). */
export interface ExperimentArmView {
  /** `provider:<name>`, `adapter:<run id>` or `base`. */
  target: string;
  calls: number;
  errors: number;
  fallbacks: number;
  scored: number;
  quality: number | null;
  qualityLow: number | null;
  qualityHigh: number | null;
  costPer1000Usd: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
}

/** `GET /api/experiments/:name`: `understudy ab report` for one experiment, with its configured split and state. */
export interface ExperimentView {
  name: string;
  route: string;
  mode: 'split' | 'shadow';
  state: 'running' | 'promoted' | 'rolled-back';
  /** When promote or roll back was last recorded, and its note; null while never decided. */
  decided: { at: string; note: string } | null;
  /** The candidate's configured share of units now (after ramp steps); 0 when killed. */
  candidateWeight: number;
  killed: boolean;
  calls: number;
  /** How quality was scored: feedback where a request has it, else the task's validator. */
  scoring: { feedback: number; validator: number; unscored: number };
  arms: { incumbent: ExperimentArmView; candidate: ExperimentArmView };
  /** Sample ratio check: null in shadow mode or once decided (no split left to check). */
  srm: { counting: 'units' | 'requests'; incumbent: number; candidate: number; expectedCandidateShare: number; chiSquare: number; pValue: number; mismatch: boolean } | null;
  /** The always-valid (mSPRT) test on candidate minus incumbent quality; null before both arms have scored outcomes. */
  sequential: { difference: number; low: number; high: number; pValue: number; n: { incumbent: number; candidate: number }; tau: number } | null;
  recommendation: 'PROMOTE' | 'KEEP RUNNING' | 'ROLL BACK';
  reason: string;
}

/** An eval report's id as the store makes it. */
export const EvalIdSchema = z.string().max(100).regex(/^eval_[a-z0-9]+$/, 'an eval id (eval_…)');

/** `GET /api/evals`: one stored evaluation. */
export interface EvalRowView {
  id: string;
  createdAt: string;
  contentHash: string;
  dataset: { id: string; name: string | null };
  examples: number;
  candidates: string[];
  baseline: string;
  /** The primary metric's label, and the candidate that scored best on it. */
  primaryMetric: string;
  best: { candidate: string; value: number } | null;
  gate: { pass: boolean; candidate: string; reason: string } | null;
}

export interface EvalMetricView {
  id: string;
  label: string;
  kind: 'rate' | 'aggregate';
  description: string;
}

export interface EvalCandidateView {
  name: string;
  describe: string;
  n: number;
  /** By metric id: the value and its 95% interval. */
  metrics: Record<string, { value: number; low: number; high: number }>;
  invalidAnswers: number;
  costPer1000Usd: number | null;
  latencyP50Ms: number;
  latencyP95Ms: number;
}

/** `GET /api/evals/:id`: one evaluation's candidates side by side, the comparisons with the baseline, the gate. */
export interface EvalView extends EvalRowView {
  taskKind: 'labels' | 'json-schema';
  primaryMetricId: string;
  metrics: EvalMetricView[];
  candidateResults: EvalCandidateView[];
  /** Candidate minus baseline per metric id (paired interval and p-value), and the Holm-adjusted primary p-value. */
  comparisons: { candidate: string; baseline: string; metrics: Record<string, { difference: number; low: number; high: number; pValue: number }>; holmPValue: number }[];
  /** Label tasks: gold rows, predicted columns, per candidate, over the labels that occur; null for JSON tasks. */
  confusion: { labels: string[]; byCandidate: Record<string, number[][]> } | null;
  /** Examples where the candidates do not all give the same answer. */
  disagreements: number;
}

/** `GET /api/evals/:id/disagreements`: an example the candidates answered differently. */
export interface EvalDisagreementView {
  exampleId: number;
  input: string;
  reference: string | null;
  answers: { candidate: string; output: string; correct: boolean }[];
}

/** `GET /api/economics?eval=<id>`: the economics priced from one stored evaluation (default: the newest that measured them). */
export const EconomicsQuerySchema = z.object({ eval: EvalIdSchema.optional() });

/** One row of the sensitivity table: hosted price and volume varied together, or the serving utilization alone. */
export interface EconomicsSensitivityView {
  scenario: string;
  per1000HostedUsd: number;
  per1000TunedUsd: number;
  crossoverTasks: number | null;
  paybackMonths: number | null;
  lifetimeSavingUsd: number;
  paysBack: boolean;
}

/** `GET /api/economics`: `understudy economics` from a stored evaluation, and what the gateway's logged traffic measured. */
export interface EconomicsView {
  evaluation: { id: string; createdAt: string };
  tasksPerMonth: number;
  horizonMonths: number;
  /** Where each input came from, in words. */
  sources: { hosted: string; fineTune: string; serving: string };
  oneOff: { trainingHours: number; trainingUsd: number; dataGenerationUsd: number; otherUsd: number; totalUsd: number };
  per1000: { hostedUsd: number; tunedServingUsd: number; tunedAllInUsd: number };
  monthly: { hostedUsd: number; tunedServingUsd: number; savingUsd: number };
  /** Lifetime tasks where the cumulative costs meet; null: the tuned path never pays back. */
  crossoverTasks: number | null;
  paybackMonths: number | null;
  lifetime: { tasks: number; hostedUsd: number; tunedUsd: number; savingUsd: number };
  paysBack: boolean;
  /** Cumulative cost of both paths against lifetime tasks. */
  curve: { tasks: number; hostedUsd: number; tunedUsd: number }[];
  sensitivity: EconomicsSensitivityView[];
  notes: string[];
  /** Predicted against measured on the gateway's logged calls; null when none are logged. */
  actual: { calls: number; window: { from: string; to: string; hours: number } | null; figures: { figure: string; predicted: number | null; measured: number | null; ratio: number | null }[]; notes: string[] } | null;
}
