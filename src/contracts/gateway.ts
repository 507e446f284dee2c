import { z } from 'zod';

/**
 * One call the gateway served, as it is logged: which route, experiment arm and side of the economics it went to,
 * and what it cost in tokens, money and time. `understudy economics --actual` recomputes the economics from these.
 * Request and response bodies are not part of this record.
 */
export const GatewayLogRecordSchema = z.strictObject({
  requestId: z.string().min(1),
  /** ISO 8601 time the request arrived. */
  createdAt: z.iso.datetime({ offset: true }),
  /** The model alias the client called (e.g. `support-router`). */
  route: z.string().min(1),
  experiment: z.string().min(1).nullable(),
  arm: z.string().min(1).nullable(),
  /** Which side of the economics served it: the hosted model, or the tuned model on our own machine. */
  path: z.enum(['hosted', 'tuned']),
  provider: z.string().min(1),
  model: z.string().min(1),
  adapter: z.string().min(1).nullable(),
  promptTokens: z.number().int().nonnegative().nullable(),
  completionTokens: z.number().int().nonnegative().nullable(),
  /** Priced cost in US dollars; null when the call could not be priced. */
  costUsd: z.number().nonnegative().nullable(),
  latencyMs: z.number().nonnegative(),
  firstTokenMs: z.number().nonnegative().nullable(),
  status: z.enum(['ok', 'error']),
  /** The answer came from the fallback target after this path failed. */
  fallback: z.boolean(),
  /** A shadow call: the candidate answered in the background; the client got the incumbent's answer. */
  shadow: z.boolean(),
  /** The experiment unit: sha256 of the experiment and the assignment key, 16 hex digits (never the key itself); null outside experiments. */
  unit: z.string().regex(/^[0-9a-f]{16}$/).nullable().optional(),
  error: z.string().nullable(),
  /** The conversation sent (secrets always redacted, personal data when `gateway.redactPii` is on); null when not kept. */
  messages: z.array(z.object({ role: z.string(), content: z.string() })).nullable(),
  /** The answer's text, redacted the same way; null for errors. */
  response: z.string().nullable(),
});
export type GatewayLogRecord = z.infer<typeof GatewayLogRecordSchema>;

/** `POST /v1/feedback`: a score or a correction for the answer a request id names. */
export const GatewayFeedbackSchema = z.strictObject({
  request_id: z.string().min(1),
  /** 0-1: how good the answer was (1 = right). */
  score: z.number().min(0).max(1).optional(),
  /** The right answer, when the user corrected it. */
  correction: z.string().min(1).optional(),
  comment: z.string().max(2000).optional(),
}).refine((value) => value.score !== undefined || value.correction !== undefined, { message: 'give a score, a correction, or both' });
export type GatewayFeedback = z.infer<typeof GatewayFeedbackSchema>;

/** An experiment's rollout state: running as configured, promoted (everyone gets the candidate), rolled back (everyone gets the incumbent). */
export type ExperimentState = 'running' | 'promoted' | 'rolled-back';

export interface StoredFeedback {
  requestId: string;
  createdAt: string;
  score: number | null;
  correction: string | null;
  comment: string | null;
}
