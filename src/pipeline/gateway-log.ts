import { randomUUID } from 'node:crypto';
import type { GatewayLogRecord } from '../contracts/gateway.ts';
import type { ChatResult } from '../contracts/provider.ts';

export interface GatewayCallMeta {
  route: string;
  path: GatewayLogRecord['path'];
  experiment?: string;
  arm?: string;
  adapter?: string;
  fallback?: boolean;
  shadow?: boolean;
  /** The experiment unit the arm was assigned by (a hash, see the log record). */
  unit?: string;
  requestId?: string;
  /** When the request arrived; default now. */
  createdAt?: Date;
  /** The conversation, already redacted; absent: not kept. */
  messages?: GatewayLogRecord['messages'];
  /** Redacts the answer before it is stored (the same redaction as the messages). */
  redact?: (text: string) => string;
}

/** The fields every record of a call has, whatever its outcome. */
function callFields(meta: GatewayCallMeta): Pick<GatewayLogRecord, 'requestId' | 'createdAt' | 'route' | 'experiment' | 'arm' | 'path' | 'adapter' | 'fallback' | 'shadow' | 'unit' | 'messages'> {
  return {
    requestId: meta.requestId ?? randomUUID(),
    createdAt: (meta.createdAt ?? new Date()).toISOString(),
    route: meta.route,
    experiment: meta.experiment ?? null,
    arm: meta.arm ?? null,
    path: meta.path,
    adapter: meta.adapter ?? null,
    fallback: meta.fallback ?? false,
    shadow: meta.shadow ?? false,
    unit: meta.unit ?? null,
    messages: meta.messages ?? null,
  };
}

/** The log record of a call a provider answered: tokens, priced cost (null when unknown, never 0), latency. */
export function gatewayLogRecord(result: ChatResult, meta: GatewayCallMeta): GatewayLogRecord {
  return {
    ...callFields(meta),
    provider: result.provider,
    model: result.model,
    promptTokens: result.usage?.promptTokens ?? null,
    completionTokens: result.usage?.completionTokens ?? null,
    costUsd: result.cost.kind === 'priced' ? result.cost.usd : null,
    latencyMs: result.latency.totalMs,
    firstTokenMs: result.latency.firstTokenMs,
    status: 'ok',
    error: null,
    response: meta.messages === undefined ? null : (meta.redact ?? ((text: string) => text))(result.text),
  };
}

/** The log record of a call that failed after `latencyMs`; the error text goes through the same redaction. */
export function gatewayErrorRecord(error: unknown, latencyMs: number, meta: GatewayCallMeta & { provider: string; model: string }): GatewayLogRecord {
  const message = error instanceof Error ? error.message : String(error);
  return {
    ...callFields(meta),
    provider: meta.provider,
    model: meta.model,
    promptTokens: null,
    completionTokens: null,
    costUsd: null,
    latencyMs,
    firstTokenMs: null,
    status: 'error',
    error: meta.redact === undefined ? message : meta.redact(message),
    response: null,
  };
}
