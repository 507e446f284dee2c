import type { LoadedConfig } from '../adapters/config-file.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { CandidateExample, ImportProblem } from '../contracts/curation.ts';
import type { GatewayLogRecord } from '../contracts/gateway.ts';
import type { ChatMessage } from '../contracts/worker.ts';
import { contentHash } from '../core/content-hash.ts';
import { InvalidInputError } from '../core/errors.ts';
import { validateExample } from '../core/example-validation.ts';
import { JSON_ANSWER_KEY, UNLABELED_KEY } from './import-data.ts';

export interface LogImportFilter {
  route?: string;
  arm?: string;
  /** ISO times, inclusive. */
  since?: string;
  until?: string;
  /** `any`: every call; `with`: calls with feedback; `corrected`: calls with a correction; `positive`: feedback score ≥ 0.5. */
  feedback?: 'any' | 'with' | 'corrected' | 'positive';
}

export interface LogImportInput {
  loaded: LoadedConfig;
  store: Store;
  filter: LogImportFilter;
  /**
   * Which answer an imported call gets: `corrected` (default): a person's correction, else none (to be relabeled by the
   * teacher); `served`: the correction, else the served answer when it passes the task's check; `none`: every call
   * unlabeled.
   */
  answers?: 'corrected' | 'served' | 'none';
  again?: boolean;
  tags?: readonly string[];
  countTokens?: (messages: readonly ChatMessage[]) => number;
  maxTokens: number;
}

export interface LogImportResult {
  batchId: string | null;
  selected: number;
  added: number;
  /** Calls not imported, and why (`file` is `gateway-log`, `line` the call's position in the selection). */
  skipped: ImportProblem[];
  byLabel: Record<string, number>;
  alreadyImported?: { batchId: string; createdAt: string; added: number };
}

/**
 * `understudy data import --from-logs`: the gateway's logged calls become pool examples (source `log`), with the
 * task's own system prompt so they train in the format the tuned model is served with, and their provenance (the
 * request id, route, arm). A call is imported once per selection: the same selection again is skipped unless `again`.
 */
export function importFromLogs(input: LogImportInput): LogImportResult {
  const { loaded, store, filter } = input;
  const { task } = loaded.config;
  for (const [field, value] of [['since', filter.since], ['until', filter.until]] as const) {
    if (value !== undefined && Number.isNaN(Date.parse(value))) throw new InvalidInputError(`--${field} must be an ISO date or time, got ${value}`, { field: `--${field}` });
  }
  const feedback = new Map<string, { score: number | null; correction: string | null }>();
  for (const entry of store.listGatewayFeedback()) feedback.set(entry.requestId, { score: entry.score, correction: entry.correction });
  const until = filter.until === undefined ? Number.POSITIVE_INFINITY : Date.parse(filter.until);
  const selected = store
    .listGatewayRequests({ ...(filter.route === undefined ? {} : { route: filter.route }), ...(filter.since === undefined ? {} : { since: filter.since }) })
    .filter((record) => record.status === 'ok' && !record.shadow && Date.parse(record.createdAt) <= until)
    .filter((record) => filter.arm === undefined || record.arm === filter.arm)
    .filter((record) => {
      const given = feedback.get(record.requestId);
      switch (filter.feedback ?? 'any') {
        case 'with':
          return given !== undefined;
        case 'corrected':
          return given?.correction !== null && given?.correction !== undefined;
        case 'positive':
          return given?.score !== null && given?.score !== undefined && given.score >= 0.5;
        default:
          return true;
      }
    });
  const identity = contentHash({ requestIds: selected.map((record) => record.requestId), answers: input.answers ?? 'corrected' });
  const previous = input.again === true ? undefined : store.curation.listBatches(task.name).find((batch) => batch.kind === 'import' && batch.source.sha256 === identity);
  if (previous !== undefined) return { batchId: null, selected: selected.length, added: 0, skipped: [], byLabel: {}, alreadyImported: { batchId: previous.id, createdAt: previous.createdAt, added: previous.added } };

  const examples: CandidateExample[] = [];
  const skipped: ImportProblem[] = [];
  for (const [index, record] of selected.entries()) {
    const problem = (reason: string, field?: string): void => void skipped.push({ file: 'gateway-log', line: index + 1, ...(field === undefined ? {} : { field }), reason: `${record.requestId}: ${reason}` });
    const input_ = lastUserTurn(record);
    if (input_ === undefined) {
      problem(record.messages === null ? 'the call was logged without its messages (gateway.storeBodies was off)' : 'the conversation has no user turn', 'messages');
      continue;
    }
    const correction = feedback.get(record.requestId)?.correction ?? null;
    const answer = input.answers === 'none' ? null : correction ?? (input.answers === 'served' ? record.response : null);
    const build = (withAnswer: string | null): CandidateExample => ({
      input: input_,
      answer: withAnswer,
      messages: [{ role: 'system', content: task.systemPrompt }, { role: 'user', content: input_ }, ...(withAnswer === null ? [] : [{ role: 'assistant' as const, content: withAnswer }])],
      source: 'log',
      tags: [...new Set([...(input.tags ?? []), `route:${record.route}`, ...(record.arm === null ? [] : [`arm:${record.arm}`]), ...(correction !== null && answer === correction ? ['corrected'] : [])])],
      provenance: { logId: record.requestId, route: record.route, arm: record.arm, model: record.model, format: 'gateway-log' },
    });
    const check = (candidate: CandidateExample) => validateExample(candidate, { output: task.output, labels: loaded.labels }, { maxTokens: input.maxTokens, countTokens: input.countTokens, allowUnlabeled: true });
    let example = build(answer);
    let found = check(example);
    // A served answer that breaks the task (not a label, not valid JSON) is dropped, not the input: the teacher relabels it.
    if (found.length > 0 && answer !== null && answer !== correction) {
      example = build(null);
      found = check(example);
    }
    if (found.length > 0) {
      for (const issue of found) problem(issue.reason, issue.field);
      continue;
    }
    examples.push(example);
  }
  const batch = store.curation.addBatch({
    task: task.name,
    kind: 'import',
    source: { file: 'gateway-log', format: 'gateway-log', sha256: identity, filter: { ...filter }, answers: input.answers ?? 'corrected', requests: selected.length, tags: [...(input.tags ?? [])] },
    examples,
    problems: skipped,
  });
  const byLabel: Record<string, number> = {};
  for (const example of examples) {
    const key = example.answer === null ? UNLABELED_KEY : task.output.type === 'labels' ? example.answer : JSON_ANSWER_KEY;
    byLabel[key] = (byLabel[key] ?? 0) + 1;
  }
  return { batchId: batch.id, selected: selected.length, added: examples.length, skipped, byLabel };
}

function lastUserTurn(record: GatewayLogRecord): string | undefined {
  return record.messages === null ? undefined : [...record.messages].reverse().find((message) => message.role === 'user')?.content;
}
