import type { LoadedConfig } from '../adapters/config-file.ts';
import { fieldInFile, readExampleFile, type CsvColumnMapping, type ExampleFileFormat } from '../adapters/example-files.ts';
import { compileResolvedChatTemplate } from '../adapters/models/chat-template-source.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import { openTokenCounter, type TokenCounter } from '../adapters/token-counter.ts';
import type { CandidateExample, ExampleSource, ImportProblem } from '../contracts/curation.ts';
import type { ChatMessage } from '../contracts/worker.ts';
import { InvalidInputError } from '../core/errors.ts';
import { validateExample } from '../core/example-validation.ts';
import { checkSupportedSchema } from '../core/json-schema-validate.ts';
import { resolveBaseChatTemplate, resolveBaseModel } from './run-slice.ts';

/** The token limit when the config sets no `training.maxLength`. */
export const DEFAULT_IMPORT_MAX_TOKENS = 1024;

/** The `byLabel` key of examples without an answer, and of answers of a json-schema task (which have no label). */
export const UNLABELED_KEY = '(unlabeled)';
export const JSON_ANSWER_KEY = '(json)';

export interface ImportDataInput {
  loaded: LoadedConfig;
  store: Store;
  /** As given on the command line; recorded as is in each example's provenance. */
  file: string;
  format: ExampleFileFormat;
  /** CSV only. */
  mapping?: CsvColumnMapping;
  /** Added to every example. */
  tags?: readonly string[];
  /** Default `human`. */
  source?: ExampleSource;
  /** Any problem aborts the whole import (nothing written). */
  strict?: boolean;
  /** Import a file again even when a batch with the same sha256 exists. */
  again?: boolean;
  /** Tokens of a conversation with the base model's chat template; absent: no length check. */
  countTokens?: (messages: readonly ChatMessage[]) => number;
  /** Default: `training.maxLength` of the config, else 1024. */
  maxTokens?: number;
  /** Called as examples are checked (token counting is the slow part of a large import). */
  onProgress?: (checked: number, total: number) => void;
}

export interface ImportDataResult {
  /** The new batch; null when nothing was written (the file was imported before). */
  batchId: string | null;
  added: number;
  /** Rows not imported, in file order. */
  skipped: ImportProblem[];
  /** Added examples per answer (label tasks), `(unlabeled)` for inputs without one, `(json)` for json-schema answers. */
  byLabel: Record<string, number>;
  /** The file's sha256, the identity re-imports are detected by. */
  sha256: string;
  /** The token limit examples were checked against, and where it came from; `checked` is false without `countTokens`. */
  maxTokens: { limit: number; from: 'option' | 'training.maxLength' | 'default'; checked: boolean };
  /** Set when the same file was imported before and `again` was not given: nothing was written. */
  alreadyImported?: { batchId: string; createdAt: string; added: number };
}

/**
 * Import a file of examples into the task's pool: read it (`adapters/example-files.ts`), check each example against
 * the task (`core/example-validation.ts`: roles, label set or JSON schema, token length), and add the valid ones in
 * one batch, one transaction, the skipped rows recorded with it. With `strict`, any problem throws an
 * InvalidInputError naming the first one and writes nothing. A file whose sha256 matches an earlier import batch is
 * not imported again unless `again`.
 */
export function importData(input: ImportDataInput): ImportDataResult {
  const { loaded, store, file, format } = input;
  const { task } = loaded.config;
  if (task.output.type === 'json-schema') checkSupportedSchema(task.output.schema);
  const maxTokens = resolveMaxTokens(loaded, input.maxTokens);
  const read = readExampleFile({ file, format, task, mapping: input.mapping, tags: input.tags, source: input.source });

  const previous = input.again === true ? undefined : store.curation.listBatches(task.name).find((batch) => batch.kind === 'import' && batch.source.sha256 === read.sha256);
  if (previous !== undefined) {
    return {
      batchId: null,
      added: 0,
      skipped: [],
      byLabel: {},
      sha256: read.sha256,
      maxTokens: { ...maxTokens, checked: input.countTokens !== undefined },
      alreadyImported: { batchId: previous.id, createdAt: previous.createdAt, added: previous.added },
    };
  }

  const problems: ImportProblem[] = [...read.problems];
  const examples: CandidateExample[] = [];
  for (const [index, { line, example }] of read.examples.entries()) {
    if (index % 200 === 0) input.onProgress?.(index, read.examples.length);
    const found = validateExample(example, { output: task.output, labels: loaded.labels }, { maxTokens: maxTokens.limit, countTokens: input.countTokens, allowUnlabeled: true });
    if (found.length === 0) examples.push(example);
    else for (const problem of found) problems.push({ file, line, field: fieldInFile(problem.field, format, input.mapping), reason: problem.reason });
  }
  input.onProgress?.(read.examples.length, read.examples.length);
  problems.sort((left, right) => left.line - right.line);

  if (input.strict === true && problems.length > 0) {
    const first = problems[0]!;
    throw new InvalidInputError(`${first.reason} (${problems.length} problem${problems.length === 1 ? '' : 's'} in the file; --strict imports nothing)`, {
      file: first.file,
      line: first.line,
      field: first.field,
      hint: 'fix the rows, or import without --strict to add the valid rows and skip the rest',
    });
  }

  const batch = store.curation.addBatch({
    task: task.name,
    kind: 'import',
    source: { file, format, sha256: read.sha256, mapping: input.mapping ?? null, tags: [...(input.tags ?? [])] },
    examples,
    problems,
  });
  const byLabel: Record<string, number> = {};
  for (const example of examples) {
    const key = example.answer === null ? UNLABELED_KEY : task.output.type === 'labels' ? example.answer : JSON_ANSWER_KEY;
    byLabel[key] = (byLabel[key] ?? 0) + 1;
  }
  return { batchId: batch.id, added: examples.length, skipped: problems, byLabel, sha256: read.sha256, maxTokens: { ...maxTokens, checked: input.countTokens !== undefined } };
}

function resolveMaxTokens(loaded: LoadedConfig, option: number | undefined): { limit: number; from: 'option' | 'training.maxLength' | 'default' } {
  if (option !== undefined) {
    if (!Number.isInteger(option) || option < 1) throw new InvalidInputError(`the token limit must be a positive integer, got ${option}`, { field: 'maxTokens' });
    return { limit: option, from: 'option' };
  }
  const configured = loaded.config.training.maxLength;
  return configured === undefined ? { limit: DEFAULT_IMPORT_MAX_TOKENS, from: 'default' } : { limit: configured, from: 'training.maxLength' };
}

/**
 * A token counter for the config's base model: resolves (and, for a catalog model, pulls) the base GGUF and its chat
 * template the way training does, then opens its vocabulary only. Close it when done.
 */
export async function openBaseTokenCounter(loaded: LoadedConfig, onMessage?: (message: string) => void): Promise<TokenCounter & { ggufPath: string }> {
  const base = await resolveBaseModel(loaded, onMessage);
  const template = compileResolvedChatTemplate(await resolveBaseChatTemplate(loaded, base));
  const counter = await openTokenCounter({ ggufPath: base.ggufPath, chatTemplate: template });
  return { ...counter, ggufPath: base.ggufPath };
}
