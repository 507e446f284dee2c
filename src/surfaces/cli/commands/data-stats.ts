import type { ReviewState } from '../../../contracts/curation.ts';
import { collectDataStats, measureLengths, type DataStats, type LengthSummary } from '../../../pipeline/data-stats.ts';
import { formatTable, type Output } from '../output.ts';
import { openDataContext, type DataCommandOptions } from './data-context.ts';

export interface DataStatsOptions extends DataCommandOptions {
  /** `--no-tokens` sets this to false. */
  tokens?: boolean;
}

const REVIEW_STATES: ReviewState[] = ['pending', 'accepted', 'edited', 'rejected'];

/** Label rows × (split, source) columns, only the columns that hold something, with totals. */
function countLines(stats: DataStats): string[] {
  const columns = [...new Set(stats.counts.map((cell) => `${cell.split}/${cell.source}`))].sort();
  const labels = [...new Set(stats.counts.map((cell) => cell.label))];
  const cell = (label: string, column: string): number => stats.counts.filter((item) => item.label === label && `${item.split}/${item.source}` === column).reduce((sum, item) => sum + item.count, 0);
  const rows = [['label', ...columns, 'total']];
  for (const label of labels) {
    const values = columns.map((column) => cell(label, column));
    rows.push([label, ...values.map(String), String(values.reduce((a, b) => a + b, 0))]);
  }
  const totals = columns.map((column) => stats.counts.filter((item) => `${item.split}/${item.source}` === column).reduce((sum, item) => sum + item.count, 0));
  rows.push(['total', ...totals.map(String), String(stats.total)]);
  return formatTable(rows, [false, ...columns.map(() => true), true]);
}

const lengthRow = (name: string, summary: LengthSummary | null): string[] => (summary === null
  ? [name, '0', '-', '-', '-', '-', '-']
  : [name, String(summary.count), String(summary.min), String(summary.p50), String(summary.p90), String(summary.p99), String(summary.max)]);

/**
 * `understudy data stats`: the task's pool by label × source × split, review states, the newest filter run step by
 * step, the held-out set, and conversation lengths in tokens of the base's chat template (`--no-tokens`: words).
 */
export async function runDataStats(options: DataStatsOptions, output: Output): Promise<void> {
  const { store, task, loaded } = openDataContext(options);
  try {
    const stats = collectDataStats(store, task, { labelTask: loaded.config.task.output.type === 'labels' });
    stats.lengths = await measureLengths({ store, task, loaded, tokens: options.tokens !== false, onMessage: (message) => output.info(message) });
    if (!output.json) {
      output.info(`task ${task}: ${stats.total} examples in the pool (${stats.bySplit.train} train, ${stats.bySplit.eval} eval, ${stats.bySplit.none} not split); curated train set ${stats.curatedTrain}`);
      if (stats.total > 0) {
        output.info('');
        output.info('examples by label and split/source');
        for (const line of countLines(stats)) output.info(`  ${line}`);
        output.info('');
        output.info('review');
        const reviewRows = [['split', ...REVIEW_STATES]];
        for (const split of ['train', 'eval', 'none'] as const) {
          if (REVIEW_STATES.some((state) => stats.reviewsBySplit[split][state] > 0)) reviewRows.push([split, ...REVIEW_STATES.map((state) => String(stats.reviewsBySplit[split][state]))]);
        }
        reviewRows.push(['total', ...REVIEW_STATES.map((state) => String(stats.reviews[state]))]);
        for (const line of formatTable(reviewRows, [false, true, true, true, true])) output.info(`  ${line}`);
      }
      output.info('');
      if (stats.filterRun === null) output.info('filters: never run (understudy data filter)');
      else {
        const run = stats.filterRun;
        output.info(`filters: run ${run.id} at ${run.createdAt}: ${run.before} -> ${run.after} train examples`);
        const rows = [['step', 'before', 'dropped', 'after', 'top reasons']];
        for (const step of run.steps) {
          const reasons = step.skipped !== null ? `skipped: ${step.skipped}` : step.topReasons.map((reason) => `${reason.reason} (${reason.count})`).join(', ');
          rows.push([step.step, String(step.before), String(step.dropped), String(step.after), reasons]);
        }
        for (const line of formatTable(rows, [false, true, true, true, false])) output.info(`  ${line}`);
      }
      output.info('');
      output.info(stats.heldout === null
        ? 'held-out: none yet (understudy data split)'
        : `held-out: version ${stats.heldout.version} of ${stats.heldout.versions}, ${stats.heldout.size} examples, ${stats.heldout.contentHash.slice(0, 12)} (${stats.heldout.createdAt})`);
      const lengths = stats.lengths;
      output.info('');
      output.info(`lengths in ${lengths.how}`);
      const rows = [['set', 'count', 'min', 'p50', 'p90', 'p99', 'max'], lengthRow('curated train', lengths.curatedTrain), lengthRow('held-out', lengths.heldout)];
      for (const line of formatTable(rows, [false, true, true, true, true, true, true])) output.info(`  ${line}`);
    }
    output.result({ ok: true, ...stats });
  } finally {
    store.close();
  }
}
