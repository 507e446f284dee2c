/**
 * The task's pool as the dashboard shows it: pages of examples under filters, the values the filters offer, and the
 * distributions for the charts. Every read is a paginated or aggregated SQL query (see `store.browse`).
 */
import type { BrowsedPoolExample, PoolBrowseFilter } from '../adapters/store/browse-queries.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { Provenance } from '../contracts/curation.ts';
import type { Page, PoolExampleView, PoolFacetsView, PoolQuery, PoolStatsView } from '../contracts/dashboard.ts';
import { preferencePairsFromEdits } from './review-queue.ts';

/** The label filter's value for examples without an answer. */
export const UNLABELED_FILTER = '(unlabeled)';

/** Where an example came from, in words: file:line, the generator, or the gateway log. */
export function provenanceText(provenance: Provenance): string {
  if (provenance.file !== undefined) return `${provenance.file}${provenance.line === undefined ? '' : `:${provenance.line}`}`;
  if (provenance.generator !== undefined) return `generator ${provenance.generator}${provenance.model === undefined ? '' : ` (${provenance.model})`}`;
  if (provenance.logId !== undefined) return `gateway log ${provenance.logId}`;
  return '(unknown)';
}

export function poolExampleView(example: BrowsedPoolExample): PoolExampleView {
  return {
    id: example.id,
    input: example.input,
    answer: example.answer,
    source: example.source,
    split: example.split,
    review: example.review,
    tags: example.tags,
    provenance: provenanceText(example.provenance),
    originalAnswer: example.originalAnswer,
    dropped: example.dropped,
  };
}

/** The store's filter for the API's query. */
export function poolFilterOf(query: PoolQuery): PoolBrowseFilter {
  return {
    ...(query.label === undefined ? {} : { label: query.label === UNLABELED_FILTER ? null : query.label }),
    ...(query.source === undefined ? {} : { source: query.source }),
    ...(query.split === undefined ? {} : { split: query.split }),
    ...(query.review === undefined ? {} : { review: query.review }),
    ...(query.verdict === undefined ? {} : { verdict: query.verdict === 'kept' ? { kind: 'kept' as const } : query.verdict === 'dropped' ? { kind: 'dropped' as const } : { kind: 'dropped' as const, step: query.verdict.slice('dropped:'.length) } }),
    ...(query.tag === undefined ? {} : { tag: query.tag }),
    ...(query.search === undefined ? {} : { search: query.search }),
  };
}

export function poolPage(store: Pick<Store, 'browse'>, task: string, query: PoolQuery): Page<PoolExampleView> {
  const { items, total } = store.browse.poolPage(task, poolFilterOf(query), { offset: query.offset, limit: query.limit });
  return { items: items.map(poolExampleView), total, offset: query.offset, limit: query.limit };
}

export function poolFacets(store: Pick<Store, 'browse'>, task: string): PoolFacetsView {
  const drops = store.browse.latestFilterDrops(task);
  return {
    labels: store.browse.answerCounts(task, 500).map(({ answer, count }) => ({ label: answer ?? UNLABELED_FILTER, count })),
    tags: store.browse.tagCounts(task, 100),
    filterSteps: drops?.byStep ?? [],
    filterRun: drops === null ? null : { id: drops.id, createdAt: drops.createdAt },
  };
}

export function poolStats(store: Pick<Store, 'browse' | 'curation'>, task: string, options: { labelTask: boolean }): PoolStatsView {
  const counts = store.browse.poolCounts(task);
  const byLabel = new Map<string, PoolStatsView['byLabel'][number]>();
  for (const cell of counts.byLabelAndSplit) {
    const label = cell.answer === null ? UNLABELED_FILTER : options.labelTask ? cell.answer : '(json)';
    const row = byLabel.get(label) ?? { label, train: 0, eval: 0, none: 0 };
    row[cell.split ?? 'none'] += cell.count;
    byLabel.set(label, row);
  }
  const bySource: PoolStatsView['bySource'] = { human: 0, synthetic: 0, log: 0 };
  for (const { source, count } of counts.bySource) bySource[source] += count;
  const bySplit: PoolStatsView['bySplit'] = { train: 0, eval: 0, none: 0 };
  for (const { split, count } of counts.bySplit) bySplit[split ?? 'none'] += count;
  const byReview: PoolStatsView['byReview'] = { pending: 0, accepted: 0, rejected: 0, edited: 0 };
  for (const { review, count } of counts.byReview) byReview[review] += count;
  const run = store.curation.latestFilterRun(task);
  const heldout = store.curation.latestHeldout(task);
  return {
    total: counts.total,
    byLabel: [...byLabel.values()].sort((a, b) => b.train + b.eval + b.none - (a.train + a.eval + a.none) || a.label.localeCompare(b.label)),
    bySource,
    bySplit,
    byReview,
    inputLengths: store.browse.inputLengthHistogram(task, 24),
    filterReport: run === undefined ? null : {
      id: run.id,
      createdAt: run.createdAt,
      before: run.report.before,
      after: run.report.after,
      steps: run.report.steps.map((step) => ({
        step: step.step,
        before: step.before,
        dropped: step.dropped,
        after: step.after,
        skipped: step.skipped ?? null,
        reasons: Object.entries(step.reasons).sort(([a, countA], [b, countB]) => countB - countA || a.localeCompare(b)).slice(0, 5).map(([reason, count]) => ({ reason, count })),
      })),
    },
    heldout: heldout === undefined ? null : { version: heldout.version, size: heldout.exampleIds.length, contentHash: heldout.contentHash },
    preferencePairs: preferencePairsFromEdits(store, task).length,
  };
}
