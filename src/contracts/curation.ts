import { z } from 'zod';
import { ChatMessageSchema } from './worker.ts';

/**
 * Curated data: the workspace's example pool, its filters, its split and its review queue
 * (`understudy data ...`). Every example keeps where it came from, so a report can say which
 * file and line, which generator and prompt, or which gateway log produced it.
 */

/** Who wrote the example: a person (imported), a teacher model (generated), or real traffic (gateway logs). */
export const ExampleSourceSchema = z.enum(['human', 'synthetic', 'log']);
export type ExampleSource = z.infer<typeof ExampleSourceSchema>;

/** Where one example came from. `file`/`line` for imports; `generator`/`promptHash` for synthetic data; `logId` for traffic. */
export const ProvenanceSchema = z.looseObject({
  file: z.string().optional(),
  line: z.number().int().positive().optional(),
  format: z.string().optional(),
  generator: z.string().optional(),
  model: z.string().optional(),
  promptHash: z.string().optional(),
  logId: z.string().optional(),
});
export type Provenance = z.infer<typeof ProvenanceSchema>;

/**
 * One example before it enters the pool. `messages` is the whole conversation in the model's chat
 * roles (system, user, assistant); `input` is the last user turn; `answer` the assistant's reply
 * (a label, or JSON text for a schema task), or null for an unlabeled input awaiting relabeling.
 */
export const CandidateExampleSchema = z.object({
  input: z.string(),
  answer: z.string().nullable(),
  messages: z.array(ChatMessageSchema).min(1),
  source: ExampleSourceSchema,
  tags: z.array(z.string().min(1)).default([]),
  provenance: ProvenanceSchema,
});
export type CandidateExample = z.infer<typeof CandidateExampleSchema>;

/** A row an import skipped, and why. Nothing of a malformed row is imported. */
export interface ImportProblem {
  file: string;
  line: number;
  field?: string;
  reason: string;
}

/** Review states: `edited` keeps the original answer, so (original, edited) can become a DPO pair. */
export const ReviewStateSchema = z.enum(['pending', 'accepted', 'rejected', 'edited']);
export type ReviewState = z.infer<typeof ReviewStateSchema>;

export const SplitSchema = z.enum(['train', 'eval']);
export type Split = z.infer<typeof SplitSchema>;

/** One filter step's verdict on one example. */
export interface FilterDrop {
  exampleId: number;
  step: string;
  reason: string;
  /** What caused it: the duplicate kept instead, the eval example it overlaps, the judge score... */
  detail?: Record<string, unknown>;
}

/** What one filter step saw, kept and dropped. */
export interface FilterStepReport {
  step: string;
  /** The step's settings as run (threshold, shingles, ...). */
  settings: Record<string, unknown>;
  before: number;
  dropped: number;
  after: number;
  /** Dropped counts by reason. */
  reasons: Record<string, number>;
  /** Steps that could not run (no judge configured, ...) say why here and drop nothing. */
  skipped?: string;
  seconds: number;
}

export interface FilterReport {
  steps: FilterStepReport[];
  /** Examples that were in the pool's train side before filtering, and kept after. */
  before: number;
  after: number;
}
