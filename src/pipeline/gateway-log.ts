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
  requestId?: string;
  /** When the request arrived; default now. */
  createdAt?: Date;
  /** The conversation, already redacted; absent: not kept. */
  messages?: GatewayLogRecord['messages'];
  /** Redacts the answer before it is stored (the same redaction as the messages). */
  redact?: (text: string) => string;
}

/** The log record of a call a provider answered: tokens, priced cost (null when unknown, never 0), latency. */
export function gatewayLogRecord(result: ChatResult, meta: GatewayCallMeta): GatewayLogRecord {
  return {
    requestId: meta.requestId ?? randomUUID(),
    createdAt: (meta.createdAt ?? new Date()).toISOString(),
    route: meta.route,
    experiment: meta.experiment ?? null,
    arm: meta.arm ?? null,
    path: meta.path,
    provider: result.provider,
    model: result.model,
    adapter: meta.adapter ?? null,
    promptTokens: result.usage?.promptTokens ?? null,
    completionTokens: result.usage?.completionTokens ?? null,
    costUsd: result.cost.kind === 'priced' ? result.cost.usd : null,
    latencyMs: result.latency.totalMs,
    firstTokenMs: result.latency.firstTokenMs,
    status: 'ok',
    fallback: meta.fallback ?? false,
    shadow: meta.shadow ?? false,
    error: null,
    messages: meta.messages ?? null,
    response: meta.messages === undefined ? null : (meta.redact ?? ((text: string) => text))(result.text),
  };
}

/** The log record of a call that failed after `latencyMs`. */
export function gatewayErrorRecord(error: unknown, latencyMs: number, meta: GatewayCallMeta & { provider: string; model: string }): GatewayLogRecord {
  return {
    requestId: meta.requestId ?? randomUUID(),
    createdAt: (meta.createdAt ?? new Date()).toISOString(),
    route: meta.route,
    experiment: meta.experiment ?? null,
    arm: meta.arm ?? null,
    path: meta.path,
    provider: meta.provider,
    model: meta.model,
    adapter: meta.adapter ?? null,
    promptTokens: null,
    completionTokens: null,
    costUsd: null,
    latencyMs,
    firstTokenMs: null,
    status: 'error',
    fallback: meta.fallback ?? false,
    shadow: meta.shadow ?? false,
    error: error instanceof Error ? error.message : String(error),
    messages: meta.messages ?? null,
    response: null,
  };
}
