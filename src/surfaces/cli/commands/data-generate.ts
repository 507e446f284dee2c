import { InvalidInputError } from '../../../core/errors.ts';
import { generateData, LOST_REASONS, type GenerateDataResult, type GenerationMode } from '../../../pipeline/generate-data.ts';
import { selectTeacher, type TeacherModel } from '../../../pipeline/teacher-provider.ts';
import { formatTable, type Output } from '../output.ts';
import { openDataContext, type DataCommandOptions } from './data-context.ts';

export interface DataGenerateOptions extends DataCommandOptions {
  mode: GenerationMode;
  perLabel?: string;
  /** Comma-separated labels. */
  labels?: string;
  seedExamples?: string;
  breadth?: string;
  depth?: string;
  perTopic?: string;
  all?: boolean;
  provider?: string;
  concurrency?: string;
  temperature?: string;
  maxCalls?: string;
  seed?: string;
  threads?: number;
}

function integerOption(value: string | undefined, flag: string, minimum: number): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum) throw new InvalidInputError(`--${flag} must be an integer of at least ${minimum}, got ${JSON.stringify(value)}`, { field: `--${flag}` });
  return number;
}

/** Options that belong to another mode are a mistake worth saying, not silently ignoring. */
function checkModeOptions(options: DataGenerateOptions): void {
  const byMode: Record<GenerationMode, (keyof DataGenerateOptions)[]> = {
    labels: ['perLabel', 'labels', 'seedExamples'],
    topics: ['breadth', 'depth', 'perTopic'],
    relabel: ['all'],
  };
  const flag = (name: string): string => `--${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
  for (const [mode, names] of Object.entries(byMode)) {
    if (mode === options.mode) continue;
    const given = names.find((name) => options[name] !== undefined);
    if (given !== undefined) throw new InvalidInputError(`${flag(given)} is for --mode ${mode}, not ${options.mode}`, { field: flag(given) });
  }
}

/**
 * `understudy data generate --mode labels|topics|relabel`: synthetic examples (or answers) from a teacher model,
 * added to the task's pool as one batch. Cached by prompt hash: running the same command again sends nothing and
 * costs nothing. Ends with what was added, what was lost and why, the calls made and what they cost.
 */
export async function runDataGenerate(options: DataGenerateOptions, output: Output): Promise<void> {
  checkModeOptions(options);
  const perLabel = integerOption(options.perLabel, 'per-label', 1);
  const seedExamples = integerOption(options.seedExamples, 'seed-examples', 0);
  const breadth = integerOption(options.breadth, 'breadth', 1);
  const depth = integerOption(options.depth, 'depth', 1);
  const perTopic = integerOption(options.perTopic, 'per-topic', 1);
  const concurrency = integerOption(options.concurrency, 'concurrency', 1);
  const maxCalls = integerOption(options.maxCalls, 'max-calls', 0);
  const seed = integerOption(options.seed, 'seed', 0);
  let temperature: number | undefined;
  if (options.temperature !== undefined) {
    temperature = Number(options.temperature);
    if (!Number.isFinite(temperature) || temperature < 0 || temperature > 2) throw new InvalidInputError(`--temperature must be between 0 and 2, got ${JSON.stringify(options.temperature)}`, { field: '--temperature' });
  }
  const onlyLabels = options.labels?.split(',').map((label) => label.trim()).filter((label) => label !== '');

  const controller = new AbortController();
  const interrupt = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const context = openDataContext(options);
  let teacher: TeacherModel | undefined;
  let result: GenerateDataResult;
  try {
    const { loaded, store } = context;
    teacher = await selectTeacher(loaded, options.provider, { onMessage: (message) => output.info(message), ...(options.threads === undefined ? {} : { threads: options.threads }) });
    output.info(`teacher: ${teacher.name} (${teacher.model}); mode ${options.mode}`);
    const progress = output.task('generate', 0, 'examples');
    result = await generateData({
      store: store.curation,
      task: loaded.config.task,
      labels: loaded.labels,
      teacher,
      mode: options.mode,
      all: options.all === true,
      signal: controller.signal,
      onProgress: (done, total, fields) => progress.update(done, { added: fields.added, lost: fields.lost, calls: fields.calls, cached: fields.cachedCalls, usd: fields.costUsd }, total),
      ...(onlyLabels === undefined || onlyLabels.length === 0 ? {} : { onlyLabels }),
      ...(perLabel === undefined ? {} : { perLabel }),
      ...(seedExamples === undefined ? {} : { seedExamples }),
      ...(breadth === undefined ? {} : { breadth }),
      ...(depth === undefined ? {} : { depth }),
      ...(perTopic === undefined ? {} : { perTopic }),
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(temperature === undefined ? {} : { temperature }),
      ...(maxCalls === undefined ? {} : { maxCalls }),
      ...(seed === undefined ? {} : { seed }),
    });
    progress.done(`${result.added + result.relabeled} of ${result.requested} in ${result.seconds.toFixed(1)} s`);
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await teacher?.close();
    context.store.close();
  }

  if (!output.json) {
    const lostRows = LOST_REASONS.filter((reason) => result.lost[reason] > 0).map((reason) => [`  lost: ${reason}`, String(result.lost[reason])]);
    const cost = `$${result.costUsd.toFixed(6)}${result.unknownCostCalls > 0 ? ` (+ ${result.unknownCostCalls} call(s) of unknown cost)` : ''}`;
    const rows = [
      ['requested', String(result.requested)],
      [result.mode === 'relabel' ? 'relabeled' : 'added', String(result.mode === 'relabel' ? result.relabeled : result.added)],
      ...(result.mode === 'relabel' && result.unchanged > 0 ? [['unchanged', String(result.unchanged)]] : []),
      ...lostRows,
      ['teacher calls', String(result.calls)],
      ['cached answers (free)', String(result.cachedCalls)],
      ['re-asks', String(result.reasks)],
      ['tokens (prompt + completion)', `${result.tokens.prompt} + ${result.tokens.completion}`],
      ['cost', cost],
      ['batch', result.batchId],
    ];
    for (const line of formatTable(rows, [false, false])) output.info(line);
  }
  output.result({ ok: true, ...result });
}
