import type { ExampleSource, ImportProblem } from '../../../contracts/curation.ts';
import { ExampleSourceSchema } from '../../../contracts/curation.ts';
import { checkExampleFile, type CsvColumnMapping, type ExampleFileFormat } from '../../../adapters/example-files.ts';
import type { TokenCounter } from '../../../adapters/token-counter.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { DEFAULT_IMPORT_MAX_TOKENS, importData, openBaseTokenCounter, type ImportDataResult } from '../../../pipeline/import-data.ts';
import { importFromLogs, type LogImportResult } from '../../../pipeline/import-logs.ts';
import { formatTable, type Output } from '../output.ts';
import { openDataContext, type DataCommandOptions } from './data-context.ts';

export interface DataImportOptions extends DataCommandOptions {
  /** Required for a file. */
  format?: ExampleFileFormat;
  inputColumn?: string;
  labelColumn?: string;
  tagsColumn?: string;
  /** Comma-separated tags added to every example. */
  tags?: string;
  source: string;
  strict?: boolean;
  again?: boolean;
  /** `--no-token-check` sets this to false. */
  tokenCheck: boolean;
  maxTokens?: string;
  /** Import the gateway's logged calls from the workspace store instead of a file. */
  fromLogs?: boolean;
  route?: string;
  arm?: string;
  since?: string;
  until?: string;
  feedback?: 'any' | 'with' | 'corrected' | 'positive';
  answers?: 'corrected' | 'served' | 'none';
}

/** How many skipped rows the summary lists before saying "and N more". */
const SHOWN_PROBLEMS = 10;

/**
 * `understudy data import <file>`: add a file of examples (CSV, OpenAI chat JSONL, TRL JSONL, NLU++) to the task's
 * pool. Rows that break the task (bad JSON, wrong roles, a label outside the set, an answer the schema rejects, too
 * many tokens with the base model's chat template) are skipped and listed with file:line; `--strict` imports nothing
 * when any row is bad.
 */
export async function runDataImport(options: DataImportOptions, output: Output, args: string[]): Promise<void> {
  if (options.fromLogs === true) {
    await runLogImport(options, output, args);
    return;
  }
  const file = args[0];
  if (file === undefined || file === '') throw new InvalidInputError('name the file to import (or pass --from-logs)', { field: 'file' });
  const format = options.format;
  if (format === undefined) throw new InvalidInputError('--format is required when importing a file', { field: '--format', hint: 'csv, openai, trl-prompt-completion, trl-messages or nlupp' });
  const source = ExampleSourceSchema.safeParse(options.source);
  if (!source.success) throw new InvalidInputError(`--source must be one of ${ExampleSourceSchema.options.join(', ')}, got ${JSON.stringify(options.source)}`, { field: '--source' });
  const maxTokens = positiveInteger(options.maxTokens, 'max-tokens');
  const mapping = csvMapping(options);
  const tags = (options.tags ?? '').split(',').map((tag) => tag.trim()).filter((tag) => tag !== '');

  const context = openDataContext(options);
  let counter: (TokenCounter & { ggufPath: string }) | undefined;
  let result: ImportDataResult;
  try {
    const { loaded, store } = context;
    // Refuse a missing file, an unsuitable format or missing columns before loading any model.
    checkExampleFile({ file, format: format, task: loaded.config.task, mapping });
    if (options.tokenCheck) counter = await openBaseTokenCounter(loaded, (message) => output.info(message));
    const progress = output.task('check', 0, 'examples');
    result = importData({
      loaded,
      store,
      file,
      format: format,
      mapping,
      tags,
      source: source.data satisfies ExampleSource,
      strict: options.strict === true,
      again: options.again === true,
      countTokens: counter?.countChat,
      maxTokens,
      onProgress: (checked, total) => progress.update(checked, {}, total),
    });
    progress.done();
  } finally {
    await counter?.close();
    context.store.close();
  }

  if (!output.json) printSummary(output, file, context.task, result, options.tokenCheck);
  output.result({ ok: true, command: 'data import', task: context.task, workspace: context.workspace, file, format: format, ...result });
}

function printSummary(output: Output, file: string, task: string, result: ImportDataResult, tokenCheck: boolean): void {
  if (result.alreadyImported !== undefined) {
    const previous = result.alreadyImported;
    output.info(`${file} was imported before (batch ${previous.batchId}, ${previous.createdAt}, ${previous.added} examples, same sha256): nothing added. Pass --again to import it again.`);
    return;
  }
  output.info(`imported ${result.added} example${result.added === 1 ? '' : 's'} into the pool of ${task} (batch ${result.batchId})`);
  const limit = result.maxTokens;
  output.info(tokenCheck
    ? `token limit: ${limit.limit} tokens with the chat template (${limit.from === 'default' ? 'default; set training.maxLength to change it' : limit.from === 'option' ? '--max-tokens' : 'training.maxLength'})`
    : 'token limit: not checked (--no-token-check)');
  if (result.skipped.length > 0) {
    output.info(`skipped ${result.skipped.length} problem${result.skipped.length === 1 ? '' : 's'} (nothing of those rows was imported):`);
    for (const problem of result.skipped.slice(0, SHOWN_PROBLEMS)) output.info(`  ${describeProblem(problem)}`);
    if (result.skipped.length > SHOWN_PROBLEMS) output.info(`  ... and ${result.skipped.length - SHOWN_PROBLEMS} more (--json lists them all)`);
  }
  const counts = Object.entries(result.byLabel).sort(([, left], [, right]) => right - left);
  if (counts.length > 0) {
    output.info('');
    for (const line of formatTable([['label', 'examples'], ...counts.map(([label, count]) => [label, String(count)])], [false, true])) output.info(`  ${line}`);
  }
}

/** `file:line field: reason`. */
export function describeProblem(problem: ImportProblem): string {
  return `${problem.file}:${problem.line}${problem.field === undefined ? ':' : ` ${problem.field}:`} ${problem.reason}`;
}

function csvMapping(options: DataImportOptions): CsvColumnMapping | undefined {
  const given = [options.inputColumn, options.labelColumn, options.tagsColumn].some((column) => column !== undefined);
  if (options.format !== 'csv') {
    if (given) throw new InvalidInputError('--input-column, --label-column and --tags-column apply to --format csv only', { field: '--format' });
    return undefined;
  }
  if (options.inputColumn === undefined) throw new InvalidInputError('a CSV import needs --input-column (and --label-column for labeled rows)', { field: '--input-column' });
  return {
    inputColumn: options.inputColumn,
    ...(options.labelColumn === undefined ? {} : { labelColumn: options.labelColumn }),
    ...(options.tagsColumn === undefined ? {} : { tagsColumn: options.tagsColumn }),
  };
}

function positiveInteger(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidInputError(`--${name} must be a positive integer, got ${JSON.stringify(value)}`, { field: `--${name}` });
  return number;
}

/** `understudy data import --from-logs`: the gateway's logged calls, filtered, into the pool as `log` examples. */
async function runLogImport(options: DataImportOptions, output: Output, args: string[]): Promise<void> {
  if (args[0] !== undefined) throw new InvalidInputError('--from-logs reads the workspace\'s gateway log: give no file', { field: 'file' });
  const maxTokensOption = positiveInteger(options.maxTokens, 'max-tokens');
  const context = openDataContext(options);
  let counter: (TokenCounter & { ggufPath: string }) | undefined;
  let result: LogImportResult;
  try {
    const { loaded, store } = context;
    if (options.tokenCheck) counter = await openBaseTokenCounter(loaded, (message) => output.info(message));
    const tags = (options.tags ?? '').split(',').map((tag) => tag.trim()).filter((tag) => tag !== '');
    result = importFromLogs({
      loaded,
      store,
      filter: {
        ...(options.route === undefined ? {} : { route: options.route }),
        ...(options.arm === undefined ? {} : { arm: options.arm }),
        ...(options.since === undefined ? {} : { since: options.since }),
        ...(options.until === undefined ? {} : { until: options.until }),
        ...(options.feedback === undefined ? {} : { feedback: options.feedback }),
      },
      ...(options.answers === undefined ? {} : { answers: options.answers }),
      again: options.again === true,
      tags,
      ...(counter === undefined ? {} : { countTokens: counter.countChat }),
      maxTokens: maxTokensOption ?? loaded.config.training.maxLength ?? DEFAULT_IMPORT_MAX_TOKENS,
    });
  } finally {
    await counter?.close();
    context.store.close();
  }
  if (!output.json) {
    if (result.alreadyImported !== undefined) output.info(`these ${result.selected} calls were imported before (batch ${result.alreadyImported.batchId}): nothing added; --again imports them again`);
    else {
      output.info(`imported ${result.added} of ${result.selected} logged calls into the pool of ${context.task} (batch ${result.batchId})`);
      for (const problem of result.skipped.slice(0, SHOWN_PROBLEMS)) output.info(`  skipped ${describeProblem(problem)}`);
      const unlabeled = result.byLabel['(unlabeled)'] ?? 0;
      if (unlabeled > 0) output.info(`${unlabeled} came without an answer: label them with the teacher (understudy data generate --mode relabel) or review them (understudy data review)`);
    }
  }
  output.result({ ok: true, command: 'data import --from-logs', task: context.task, workspace: context.workspace, ...result });
}
