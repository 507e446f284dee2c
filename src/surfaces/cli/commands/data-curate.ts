import type { FilterReport } from '../../../contracts/curation.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { FILTER_STEPS, filterPool, type FilterStepName } from '../../../pipeline/filter-data.ts';
import { splitPool } from '../../../pipeline/split-data.ts';
import { selectTeacher, type TeacherModel } from '../../../pipeline/teacher-provider.ts';
import { formatTable, type Output, type ProgressTask } from '../output.ts';
import { openDataContext, type DataCommandOptions } from './data-context.ts';

/** The filter report as a table: each step's before, dropped, after, and its top reasons. */
export function filterReportLines(report: FilterReport): string[] {
  const rows = [['step', 'before', 'dropped', 'after', 'why']];
  for (const step of report.steps) {
    const reasons = Object.entries(step.reasons).sort(([, a], [, b]) => b - a).slice(0, 3).map(([reason, count]) => `${reason} ${count}`).join(', ');
    rows.push([step.step, String(step.before), String(step.dropped), String(step.after), step.skipped === undefined ? reasons : `skipped: ${step.skipped}`]);
  }
  return [...formatTable(rows, [false, true, true, true, false]), `kept ${report.after} of ${report.before} train examples`];
}

/** `understudy data split`: give every pool example a side by a hash of its input; freeze or extend the held-out set. */
export async function runDataSplit(options: DataCommandOptions, output: Output): Promise<void> {
  const context = openDataContext(options);
  try {
    const result = splitPool(context.loaded, context.store);
    for (const warning of result.warnings) output.info(`warning: ${warning}`);
    const version = result.heldout === null ? 'none yet' : `v${result.heldout.version}${result.newVersion ? ' (new)' : ''}: ${result.heldout.note}`;
    output.info(`split: ${result.trainCount} train, ${result.evalCount} held-out; ${result.assigned} newly assigned, ${result.addedToEval} of them to held-out`);
    output.info(`held-out set ${version}`);
    if (result.copiesOfHeldOut > 0) output.info(`${result.copiesOfHeldOut} examples repeat a held-out input: kept off the train side, not added to the held-out set`);
    output.result({
      ok: true,
      train: result.trainCount,
      eval: result.evalCount,
      assigned: result.assigned,
      addedToEval: result.addedToEval,
      copiesOfHeldOut: result.copiesOfHeldOut,
      heldout: result.heldout === null ? null : { version: result.heldout.version, contentHash: result.heldout.contentHash, examples: result.heldout.exampleIds.length, note: result.heldout.note, isNew: result.newVersion },
      evalByLabel: result.evalByLabel,
      warnings: result.warnings,
    });
  } finally {
    context.store.close();
  }
}

export interface DataFilterOptions extends DataCommandOptions {
  /** Comma-separated steps to leave out. */
  skip?: string;
  /** The judge provider (else `curation.judge`). */
  judge?: string;
  /** The model that answers again (else `curation.filters.roundTrip.provider`, then `curation.teacher`). */
  roundTrip?: string;
  concurrency?: string;
  threads?: number;
}

/** `understudy data filter`: every filter step over the train side, with a report of what each dropped and why. */
export async function runDataFilter(options: DataFilterOptions, output: Output): Promise<void> {
  const skip = (options.skip ?? '').split(',').map((step) => step.trim()).filter((step) => step.length > 0);
  for (const step of skip) {
    if (!(FILTER_STEPS as readonly string[]).includes(step)) throw new InvalidInputError(`unknown filter step ${JSON.stringify(step)}; steps: ${FILTER_STEPS.join(', ')}`, { field: '--skip' });
  }
  const concurrency = options.concurrency === undefined ? undefined : Number(options.concurrency);
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) throw new InvalidInputError(`--concurrency must be a positive integer, got ${options.concurrency}`, { field: '--concurrency' });
  const context = openDataContext(options);
  const { config } = context.loaded;
  const opened: TeacherModel[] = [];
  const open = async (choice: string | undefined, fallback: string | undefined): Promise<TeacherModel | undefined> => {
    const name = choice ?? fallback;
    if (name === undefined) return undefined;
    const model = await selectTeacher(context.loaded, name, { onMessage: (message) => output.info(message), ...(options.threads === undefined ? {} : { threads: options.threads }) });
    opened.push(model);
    return model;
  };
  try {
    const judge = skip.includes('judge') ? undefined : await open(options.judge, config.curation.judge);
    const roundTrip = skip.includes('round-trip') || !config.curation.filters.roundTrip.enabled
      ? undefined
      : await open(options.roundTrip, config.curation.filters.roundTrip.provider ?? config.curation.teacher);
    let progress: { step: string; task: ProgressTask } | undefined;
    const result = await filterPool(context.loaded, context.store, {
      ...(judge === undefined ? {} : { judge }),
      ...(roundTrip === undefined ? {} : { roundTrip }),
      skip: skip as FilterStepName[],
      ...(concurrency === undefined ? {} : { concurrency }),
      onStep(step, done, total) {
        if (step !== 'judge' && step !== 'round-trip') return;
        if (progress?.step !== step) {
          progress?.task.done();
          progress = { step, task: output.task(step, total, 'ex') };
        }
        progress.task.update(done);
      },
    });
    progress?.task.done();
    if (result.split !== null) output.info(`split first: ${result.split.assigned} examples got a side (${result.split.addedToEval} to held-out)`);
    for (const line of filterReportLines(result.report)) output.info(line);
    if (result.heldOutProblems.length > 0) output.info(`warning: ${result.heldOutProblems.length} held-out examples fail validity (kept: the held-out set is frozen); first: #${result.heldOutProblems[0]!.exampleId} ${result.heldOutProblems[0]!.reason}`);
    const calls = result.modelCalls;
    if (calls.calls + calls.cachedCalls + calls.failedCalls > 0) output.info(`model calls: ${calls.calls} (+${calls.cachedCalls} cached), $${calls.costUsd.toFixed(4)}${calls.unknownCostCalls > 0 ? `, ${calls.unknownCostCalls} without a known price` : ''}`);
    if (calls.failedCalls > 0) output.info(`warning: ${calls.failedCalls} model calls failed (those examples were kept); first: ${calls.firstError ?? '?'}`);
    output.info(`filter run ${result.run.id}: \`understudy data stats\` shows it again; drops are listed by example in --json`);
    output.result({
      ok: true,
      filterRunId: result.run.id,
      report: result.report,
      drops: result.run.drops,
      heldOutProblems: result.heldOutProblems,
      modelCalls: result.modelCalls,
      split: result.split === null ? null : { assigned: result.split.assigned, addedToEval: result.split.addedToEval, heldoutVersion: result.split.heldout?.version ?? null },
    });
  } finally {
    for (const model of opened) await model.close();
    context.store.close();
  }
}
