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
  error: z.string().nullable(),
});
export type GatewayLogRecord = z.infer<typeof GatewayLogRecordSchema>;
