/**
 * The HTTP calls of the hosted fine-tuning clients: bearer auth, a per-attempt timeout, retries on 408/409/429/5xx
 * and network failures (exponential backoff with full jitter, or the server's `Retry-After`), and typed errors that
 * say what went wrong in the reader's terms: a refused key names the environment variable it came from, a refused
 * file names the file. The key itself never appears in an error, a log or the store.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import { z } from 'zod';
import { FineTuningError, type FineTuningFailure } from '../../core/errors.ts';
import type { RandomSource } from '../../core/random.ts';
import { redactSecrets } from '../../core/redact.ts';
import { DEFAULT_BACKOFF, isRetryableStatus, retryAfterFromHeaders, retryDelayMs, type BackoffSettings } from '../../core/retry-policy.ts';
import { excerpt, secretRedactor, upstreamMessage } from '../../core/upstream-errors.ts';
import type { FineTuningServiceKind } from './fine-tuning-service.ts';

/** Waits `ms` milliseconds; must reject promptly when `signal` aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface FineTuningHttpOptions {
  kind: FineTuningServiceKind;
  /** The API root up to and including `/v1`. */
  baseUrl: string;
  apiKey: string;
  /** Where the key came from, for messages (the key itself is never shown). */
  apiKeyEnv: string;
  fetch?: typeof globalThis.fetch;
  /** Retries after the first attempt. Default 5. */
  maxRetries?: number;
  backoff?: Partial<BackoffSettings>;
  /** One attempt's limit. Default 120 s (an upload of a large file takes a while). */
  timeoutMs?: number;
  sleep?: Sleep;
  random?: RandomSource;
  /** Wall clock in ms, for `Retry-After` dates. */
  now?: () => number;
}

export interface FineTuningCall {
  method: 'GET' | 'POST';
  /** Below the base URL, e.g. `/fine_tuning/jobs`. */
  path: string;
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  /** A multipart body, built again for every attempt. */
  form?: () => FormData;
  /** What the call does, for messages: `upload train.jsonl`, `read job ftjob-1`. */
  action: string;
  /**
   * Set on calls that send the user's data (upload, create): a 400/404/422 is then the service refusing it, reported
   * with the service's message and this subject (`train.jsonl`), and `file` as the error's file.
   */
  rejects?: { subject: string; file?: string };
  /** Undefined allowed, so a caller's optional signal is passed as is. */
  signal?: AbortSignal | undefined;
}

export interface FineTuningHttp {
  /** The parsed JSON body of a 2xx answer. */
  call(request: FineTuningCall): Promise<unknown>;
}

const MAX_MESSAGE_CHARS = 2_000;

export function createFineTuningHttp(options: FineTuningHttpOptions): FineTuningHttp {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const maxRetries = options.maxRetries ?? 5;
  const backoff: BackoffSettings = { ...DEFAULT_BACKOFF, ...options.backoff };
  const timeoutMs = options.timeoutMs ?? 120_000;
  const sleep: Sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, signal === undefined ? {} : { signal }));
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  // The key as sent, and known key shapes, are cut out of anything the service echoes.
  const withoutKey = secretRedactor([options.apiKey]);
  const redact = (text: string): string => redactSecrets(withoutKey(text)).slice(0, MAX_MESSAGE_CHARS);
  const fail = (failure: FineTuningFailure, message: string, extra: { statusCode?: number; upstreamMessage?: string; attempts: number; cause?: unknown; file?: string; hint?: string; isRetryable?: boolean }): FineTuningError =>
    new FineTuningError(`${options.kind}: ${message}`, { failure, service: options.kind, ...extra });

  return {
    async call(request) {
      const url = new URL(`${baseUrl}${request.path}`);
      for (const [name, value] of Object.entries(request.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
      let attempts = 0;
      for (;;) {
        attempts += 1;
        if (request.signal?.aborted === true) throw fail('aborted', `${request.action} was interrupted`, { attempts: attempts - 1, cause: request.signal.reason });
        const timeout = AbortSignal.timeout(timeoutMs);
        const signal = request.signal === undefined ? timeout : AbortSignal.any([request.signal, timeout]);
        const headers: Record<string, string> = { authorization: `Bearer ${options.apiKey}`, accept: 'application/json' };
        let body: string | FormData | undefined;
        if (request.form !== undefined) body = request.form();
        else if (request.json !== undefined) {
          headers['content-type'] = 'application/json';
          body = JSON.stringify(request.json);
        }

        let response: Response;
        let text: string;
        try {
          response = await fetchImpl(url, { method: request.method, headers, ...(body === undefined ? {} : { body }), signal });
          text = await response.text();
        } catch (error) {
          if (isAborted(request.signal)) throw fail('aborted', `${request.action} was interrupted`, { attempts, cause: request.signal?.reason });
          const timedOut = timeout.aborted;
          const failure = timedOut ? 'timeout' : 'network';
          const why = timedOut ? `no answer within ${Math.round(timeoutMs / 1000)} s` : `could not reach ${baseUrl}: ${redact(error instanceof Error ? error.message : String(error))}`;
          if (attempts <= maxRetries) {
            await wait(retryDelayMs({ retry: attempts, random, settings: backoff }), request, attempts);
            continue;
          }
          throw fail(failure, `${request.action}: ${why} (${attempts} attempts)`, { attempts, cause: error, isRetryable: true });
        }

        if (response.ok) {
          try {
            return JSON.parse(text) as unknown;
          } catch (error) {
            throw fail('bad-response', `${request.action}: the answer is not JSON: ${redact(excerpt(text))}`, { attempts, statusCode: response.status, cause: error });
          }
        }

        const said = redact(text.trim() === '' ? response.statusText || `HTTP ${response.status}` : upstreamMessage(text));
        if (isRetryableStatus(response.status) && attempts <= maxRetries) {
          const retryAfterMs = retryAfterFromHeaders((name) => response.headers.get(name), now());
          await wait(retryDelayMs({ retry: attempts, random, settings: backoff, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }), request, attempts);
          continue;
        }
        const extra = { attempts, statusCode: response.status, upstreamMessage: said };
        if (response.status === 401 || response.status === 403) {
          throw fail('auth', `the key in $${options.apiKeyEnv} was refused (expired or wrong) when trying to ${request.action}: ${said}`, {
            ...extra,
            hint: `create a new API key at the service and export ${options.apiKeyEnv}=…; the key is read from the environment, never from the config`,
          });
        }
        if (request.rejects !== undefined && (response.status === 400 || response.status === 404 || response.status === 413 || response.status === 415 || response.status === 422)) {
          throw fail('rejected', `the service refused ${request.rejects.subject} (HTTP ${response.status}): ${said}`, { ...extra, ...(request.rejects.file === undefined ? {} : { file: request.rejects.file }) });
        }
        const retried = attempts > 1 ? ` after ${attempts} attempts` : '';
        throw fail('http-status', `${request.action} failed with HTTP ${response.status}${retried}: ${said}`, { ...extra, isRetryable: isRetryableStatus(response.status) });
      }
    },
  };

  async function wait(ms: number, request: FineTuningCall, attempts: number): Promise<void> {
    try {
      await sleep(ms, request.signal);
    } catch (error) {
      throw fail('aborted', `${request.action} was interrupted`, { attempts, cause: error });
    }
  }
}

/** Whether `signal` aborted. A function, so the compiler does not keep the narrowing of an earlier check across an await. */
export function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Read a service's answer with its (tolerant) schema; an answer that does not fit is a `bad-response` FineTuningError. */
export function parseAnswer<Schema extends z.ZodType>(kind: FineTuningServiceKind, schema: Schema, value: unknown, what: string): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new FineTuningError(`${kind}: ${what} is not what the API documents: ${z.prettifyError(parsed.error)}`, { failure: 'bad-response', service: kind });
  return parsed.data;
}
