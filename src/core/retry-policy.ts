/**
 * When a failed upstream call may be retried, and how long to wait first: exponential backoff with
 * full jitter, or the server's own `Retry-After` up to a cap. Pure: randomness and the clock are passed in.
 */
import type { RandomSource } from './random.ts';

export interface BackoffSettings {
  /** Upper bound of the wait before the first retry; each later retry doubles it. */
  initialDelayMs: number;
  /** Upper bound of any computed backoff wait. */
  maxDelayMs: number;
  /** The longest `Retry-After` honoured; a longer one is cut to this. */
  maxRetryAfterMs: number;
}

/** Half a second doubling to 8 s (the usual SDK settings); a server may ask for up to 30 s. */
export const DEFAULT_BACKOFF: BackoffSettings = { initialDelayMs: 500, maxDelayMs: 8_000, maxRetryAfterMs: 30_000 };

/**
 * Statuses worth retrying: 408 request timeout, 409 conflict (a lock held upstream), 429 rate limit,
 * and every 5xx. Other 4xx say the request itself is wrong and will fail the same way again.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * The backoff wait before retry number `retry` (1 for the first retry), with full jitter: uniform in
 * [0, min(maxDelayMs, initialDelayMs × 2^(retry−1))). Full jitter spreads clients that failed together
 * across the whole window, so they do not come back in step.
 */
export function backoffDelayMs(retry: number, random: RandomSource, settings: BackoffSettings = DEFAULT_BACKOFF): number {
  if (!Number.isInteger(retry) || retry < 1) throw new RangeError(`retry must be a positive integer, got ${retry}`);
  // 2 ** 1024 is Infinity; min() then keeps the cap, so no overflow guard is needed beyond the exponent.
  const ceiling = Math.min(settings.maxDelayMs, settings.initialDelayMs * 2 ** Math.min(retry - 1, 1023));
  const draw = random();
  const unit = Number.isFinite(draw) ? Math.min(Math.max(draw, 0), 1) : 0;
  return Math.floor(unit * ceiling);
}

const DELTA_SECONDS = /^\d+(?:\.\d+)?$/;
// IMF-fixdate, RFC 850 and asctime all open with a day name; this keeps Date.parse away from odd inputs
// such as "5", which V8 would read as a year.
const HTTP_DATE = /^[A-Za-z]{3,9},? /;

/**
 * A `Retry-After` header in milliseconds from `nowMs`: delta-seconds (`120`, decimals tolerated) or an
 * HTTP date. A date in the past gives 0. Absent or unreadable: `undefined`.
 */
export function parseRetryAfterMs(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (DELTA_SECONDS.test(text)) return Math.round(Number(text) * 1000);
  if (!HTTP_DATE.test(text)) return undefined;
  const at = Date.parse(text);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** OpenAI's `retry-after-ms` (milliseconds), else the standard `Retry-After`, from a response's header reader. */
export function retryAfterFromHeaders(header: (name: string) => string | null, nowMs: number): number | undefined {
  const milliseconds = header('retry-after-ms');
  if (milliseconds !== null && DELTA_SECONDS.test(milliseconds.trim())) return Number(milliseconds);
  return parseRetryAfterMs(header('retry-after'), nowMs);
}

/** The wait before retry number `retry`: the server's `Retry-After` (capped) when it gave one, else backoff. */
export function retryDelayMs(options: { retry: number; retryAfterMs?: number; random: RandomSource; settings?: BackoffSettings }): number {
  const settings = options.settings ?? DEFAULT_BACKOFF;
  if (options.retryAfterMs !== undefined && Number.isFinite(options.retryAfterMs)) {
    return Math.min(Math.max(options.retryAfterMs, 0), settings.maxRetryAfterMs);
  }
  return backoffDelayMs(options.retry, options.random, settings);
}
