/**
 * The report of `understudy eval` as one self-contained HTML file, for any number of candidates and both task
 * kinds: the gate's decision, every metric with its interval, paired comparisons with the baseline, cost against
 * quality, latency, confusions (label tasks) or field and key scores (JSON tasks), scorers and judges, and the
 * examples where the candidates' verdicts differ. Inline CSS and SVG only, no scripts or network requests (a
 * Content-Security-Policy forbids them); every piece of user text is HTML-escaped. Colours follow the candidate's
 * position in `candidates` (`colorOf(index)`) in every table and plot.
 */
import type { MetricEstimate, MetricInfo } from '../core/eval-metrics.ts';
import { percentile } from '../core/statistics.ts';
import type { EvalOutput } from './eval-candidates.ts';
import type { EvalCandidateResult, EvalRunResult } from './eval-run.ts';
import {
  colorOf,
  coordinate,
  escapeHtml,
  formatInteger,
  formatMilliseconds,
  formatNumber,
  formatPercent,
  formatPValue,
  formatSigned,
  formatTick,
  hashCode,
  labelHtml,
  linearScale,
  mixColor,
  niceTicks,
  STYLE,
  htmlDocument,
  table,
  truncate,
} from './report-html.ts';

/** What the report reads: an evaluation's result, with read-only answers and failure details. */
export type EvalReportInput = Omit<EvalRunResult, 'outputs' | 'details' | 'seconds'> & {
  /** Per candidate, its answers; every candidate's in the same example order. */
  outputs: ReadonlyMap<string, readonly EvalOutput[]>;
  /** Per candidate, per example: why the answer failed the exact check ('' when it passed). */
  details: ReadonlyMap<string, readonly string[]>;
};

/** Layout choices for {@link renderEvalRunReportHtml}. */
export interface RenderEvalRunReportOptions {
  /** Default `Evaluation: <task name>`. */
  title?: string;
  /** When the report was made, as displayed (ISO 8601 recommended); omitted when absent, so the output is a function of the result. */
  generatedAt?: string;
  /** Rows of the side-by-side disagreement table; default 60. */
  maxDisagreements?: number;
  /** Labels in each confusion heatmap (those most involved in confusions over all candidates); default 20. */
  confusionLabels?: number;
}

/** Render an evaluation's result as one self-contained HTML document. */
export function renderEvalRunReportHtml(result: EvalReportInput, options: RenderEvalRunReportOptions = {}): string {
  const { maxDisagreements = 60, confusionLabels = 20 } = options;
  const title = options.title ?? `Evaluation: ${result.task.name}`;
  const context = contextOf(result);
  const body = [
    headerSection(context, title, options.generatedAt),
    candidatesSection(context),
    comparisonSection(context),
    costSection(context),
    latencySection(context),
    result.task.kind === 'labels' ? confusionSection(context, confusionLabels) : extractionSection(context),
    scorersSection(context),
    disagreementSection(context, maxDisagreements),
    methodSection(context),
  ].join('\n');
  return htmlDocument(title, STYLE + EXTRA_STYLE, body);
}

/** What every section needs: the result, its primary metric, and each candidate's colour and role. */
interface ReportContext {
  result: EvalReportInput;
  primary: MetricInfo;
  /** The metrics other than the primary one, in table order. */
  others: MetricInfo[];
  colorOf: (name: string) => string;
  isBaseline: (name: string) => boolean;
  /** The non-baseline candidate with the highest primary metric (undefined with the baseline alone). */
  best: EvalCandidateResult | undefined;
}

function contextOf(result: EvalReportInput): ReportContext {
  const primary = result.metrics.find((metric) => metric.id === result.primaryMetric) ?? result.metrics[0] ?? { id: result.primaryMetric, label: result.primaryMetric, kind: 'rate', description: '' };
  const colors = new Map(result.candidates.map((candidate, index) => [candidate.name, colorOf(index)]));
  const challengers = result.candidates.filter((candidate) => candidate.name !== result.baseline);
  const value = (candidate: EvalCandidateResult): number => candidate.metrics[primary.id]?.value ?? Number.NEGATIVE_INFINITY;
  const best = challengers.reduce<EvalCandidateResult | undefined>((leader, candidate) => (leader === undefined || value(candidate) > value(leader) ? candidate : leader), undefined);
  return {
    result,
    primary,
    others: result.metrics.filter((metric) => metric.id !== primary.id),
    colorOf: (name) => colors.get(name) ?? colorOf(0),
    isBaseline: (name) => name === result.baseline,
    best,
  };
}

// ---------------------------------------------------------------------------------------------
// Sections

function headerSection(context: ReportContext, title: string, generatedAt: string | undefined): string {
  const { result } = context;
  const facts: [string, string][] = [
    ['Task', `${escapeHtml(result.task.name)} <span class="muted">(${result.task.kind === 'labels' ? 'label classification' : 'JSON extraction'})</span>`],
    ['Held-out set', `${formatInteger(result.data.examples)} examples <span class="muted">(${result.data.source === 'curated' ? 'frozen curated held-out set' : 'sample of the configured eval file'}, dataset ${escapeHtml(result.data.evalDatasetId)})</span>`],
    ['Held-out set hash', hashCode(result.data.evalHash)],
    ['Base model', `${escapeHtml(result.base.name)} ${hashCode(result.base.sha256)}`],
    ['Baseline', candidateName(context, result.baseline)],
    ['Primary metric', escapeHtml(context.primary.label)],
    ['Evaluation record', `${escapeHtml(result.evalId)} ${hashCode(result.evalHash)}`],
  ];
  return `<header>
<h1>${escapeHtml(title)}</h1>
<p class="meta">${formatInteger(result.candidates.length)} candidate${result.candidates.length === 1 ? '' : 's'} on ${formatInteger(result.data.examples)} held-out examples${generatedAt === undefined ? '' : ` · <time>${escapeHtml(generatedAt)}</time>`}</p>
${gateBanner(context)}
<dl class="facts header-facts">${facts.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join('')}</dl>
</header>`;
}

function gateBanner(context: ReportContext): string {
  const { gate } = context.result;
  if (gate === null) return '';
  const info = context.result.metrics.find((entry) => entry.id === gate.metric);
  const metric = info?.label ?? gate.metric;
  const kind = info ?? { kind: 'rate' as const };
  return `<div class="gate ${gate.pass ? 'gate-go' : 'gate-no-go'}" id="gate">
<div class="gate-badge">${gate.pass ? 'GO' : 'NO-GO'}</div>
<div>
<div class="gate-title">Gate: ${escapeHtml(gate.candidate)} vs ${escapeHtml(gate.baseline)} on ${escapeHtml(metric)}, required margin ${differenceText(kind, gate.minDifference)}; observed ${differenceText(kind, gate.difference)} ${pointsRange(gate.low, gate.high)}</div>
<p class="gate-reason">${escapeHtml(gate.reason)}</p>
</div>
</div>`;
}

function candidatesSection(context: ReportContext): string {
  const { result } = context;
  const metrics = [context.primary, ...context.others];
  const metricHeader = metrics.map((metric) => `${escapeHtml(metric.label)}${metric.id === context.primary.id ? ' <span class="tag">primary</span>' : ''}`);
  const metricRows = result.candidates.map((candidate) => [
    candidateName(context, candidate.name, candidate.describe),
    formatInteger(candidate.n),
    ...metrics.map((metric) => estimateCell(metric, candidate.metrics[metric.id])),
  ]);
  const costRows = result.candidates.map((candidate) => [
    candidateName(context, candidate.name),
    candidate.costPer1000Usd === null ? '<span class="muted">unknown</span>' : formatDollars(candidate.costPer1000Usd),
    formatNumber(candidate.promptTokensMean, 1),
    formatNumber(candidate.completionTokensMean, 1),
    formatMilliseconds(candidate.latencyP50Ms),
    formatMilliseconds(candidate.latencyP95Ms),
    `${formatInteger(candidate.invalidAnswers)}`,
    `${formatInteger(candidate.cachedAnswers)} <span class="muted">of ${formatInteger(candidate.n)}</span>`,
  ]);
  const invalid = result.task.kind === 'labels' ? 'answers outside the label set' : 'answers not valid JSON under the schema';
  const descriptions = metrics.filter((metric) => metric.description !== '').map((metric) => `<dt>${escapeHtml(metric.label)}</dt><dd>${escapeHtml(metric.description)}</dd>`);
  return `<section id="candidates">
<h2>Candidates</h2>
${table(['Candidate', 'n', ...metricHeader], metricRows, 'numeric metrics-table')}
<p class="note">Each metric with its 95% interval below it (Wilson for rates, percentile bootstrap for F1s). Rates are percentages; F1 scores are shown ×100.</p>
${descriptions.length === 0 ? '' : `<dl class="facts metric-descriptions">${descriptions.join('')}</dl>`}
<h3>Cost, tokens and speed</h3>
${table(['Candidate', '$ / 1,000 tasks', 'Tokens in', 'Tokens out', 'Latency p50', 'Latency p95', 'Invalid', 'Cached'], costRows, 'numeric')}
<p class="note">Tokens: mean prompt and completion tokens per task. Invalid: ${invalid}. Cached: answers reused from the eval cache (no model call, no latency).</p>
<h3>Primary metric: ${escapeHtml(context.primary.label)}</h3>
<figure>
${primaryMetricPlot(context)}
<figcaption>Dot: the estimate; bar: its 95% interval. The dashed line marks the baseline ${escapeHtml(result.baseline)}.</figcaption>
</figure>
${context.others.length === 0 ? '' : `<h3>The other metrics</h3>
<figure>
${otherMetricsPlot(context)}
<figcaption>One panel per metric, each on its own zoomed axis; the dashed line marks the baseline. Hover a dot for its value.</figcaption>
</figure>`}
</section>`;
}

function comparisonSection(context: ReportContext): string {
  const { result, primary } = context;
  if (result.comparisons.length === 0) {
    return `<section id="comparisons">
<h2>Comparisons with the baseline</h2>
<p class="muted">Only the baseline was evaluated: there is nothing to compare.</p>
</section>`;
  }
  const metrics = [primary, ...context.others];
  const rows = result.comparisons.flatMap((comparison) =>
    metrics.map((metric, position) => {
      const difference = comparison.metrics[metric.id];
      const isPrimary = metric.id === primary.id;
      const label = isPrimary ? `<strong>${escapeHtml(metric.label)}</strong>` : escapeHtml(metric.label);
      if (difference === undefined) return [position === 0 ? candidateName(context, comparison.candidate) : '', label, '—', '—', '—', '—', '—'];
      const direction = difference.low > 0 ? 'up' : difference.high < 0 ? 'down' : '';
      return [
        position === 0 ? candidateName(context, comparison.candidate) : '',
        label,
        `<span class="${direction === '' ? '' : `significant-${direction}`}">${differenceText(metric, difference.difference)}</span>`,
        pointsRange(difference.low, difference.high),
        formatPValue(difference.pValue),
        difference.test === 'mcnemar' ? 'exact McNemar' : 'permutation',
        isPrimary ? formatPValue(comparison.holmPValue) : '<span class="muted">—</span>',
      ];
    }),
  );
  const sentences = result.comparisons.map((comparison) => {
    const counts = `b01 = ${formatInteger(comparison.mcnemar.b01)} (${escapeHtml(comparison.baseline)} wrong, ${escapeHtml(comparison.candidate)} right), b10 = ${formatInteger(comparison.mcnemar.b10)} (the reverse).`;
    const size = comparison.sampleSize === null ? 'The sample size needed could not be estimated (accuracy at 0 or 1).' : escapeHtml(comparison.sampleSize.sentence);
    return `<li><strong>${escapeHtml(comparison.candidate)}</strong>: ${counts} ${size}</li>`;
  });
  const gate = result.gate !== null && result.gate.metric === primary.id ? ` The orange dashed line is the gate's required margin (${differenceText(primary, result.gate.minDifference)}).` : '';
  return `<section id="comparisons">
<h2>Comparisons with the baseline ${escapeHtml(result.baseline)}</h2>
${table(['Candidate', 'Metric', 'Difference', '95% interval', 'p', 'Test', `Holm p (${escapeHtml(primary.label)})`], rows, 'numeric left-2')}
<p class="note">Candidate minus baseline on the same examples: percentage points (pp) for rates, F1 points (pts, F1 ×100) for F1 scores. Green: the whole interval is above zero; red: below. Holm's correction adjusts the primary metric's p-value for the ${formatInteger(result.comparisons.length)} comparison${result.comparisons.length === 1 ? '' : 's'} with the baseline.</p>
<ul class="sentences">${sentences.join('\n')}</ul>
<h3>Difference in ${escapeHtml(primary.label)} (forest plot)</h3>
<figure>
${forestPlot(context)}
<figcaption>Each candidate minus ${escapeHtml(result.baseline)}, with its 95% paired-bootstrap interval. An interval that crosses the zero line shows no difference on this sample.${gate}</figcaption>
</figure>
</section>`;
}

function costSection(context: ReportContext): string {
  return `<section id="cost">
<h2>Cost against quality</h2>
<figure>
${costPlot(context)}
<figcaption>x: priced cost per 1,000 tasks (US dollars); y: ${escapeHtml(context.primary.label)} with its 95% interval. Candidates whose price is unknown are listed at the right, not plotted at zero.</figcaption>
</figure>
</section>`;
}

function latencySection(context: ReportContext): string {
  return `<section id="latency">
<h2>Latency</h2>
<figure>
${latencyPlot(context)}
<figcaption>Per-example latency on one shared axis. Box: p25 to p75; thick line: median; whiskers: p5 to p95; dots: individual examples. Cached answers take no model time.</figcaption>
</figure>
</section>`;
}

function confusionSection(context: ReportContext, labelLimit: number): string {
  const { result } = context;
  const candidates = result.candidates.filter((candidate) => result.confusion[candidate.name] !== undefined);
  if (candidates.length === 0) return '<section id="confusion">\n<h2>Confusions</h2>\n<p class="muted">No confusion matrix was recorded.</p>\n</section>';
  const matrices = candidates.map((candidate) => ({ name: candidate.name, count: countLookup(result.confusion[candidate.name]!) }));
  const allLabels = [...new Set(candidates.flatMap((candidate) => result.confusion[candidate.name]!.labels))];
  const chosen = mostConfusedLabels(allLabels, matrices, labelLimit);
  const pairs = confusedPairs(allLabels, matrices).slice(0, PAIR_ROWS);
  const pairTable =
    pairs.length === 0
      ? '<p class="muted">No confusions: every answer matched its reference label.</p>'
      : table(
          ['Reference label', 'Predicted as', ...candidates.map((candidate) => candidateName(context, candidate.name))],
          pairs.map((pair) => [labelHtml(pair.gold), labelHtml(pair.predicted), ...pair.counts.map((count) => (count === 0 ? '<span class="muted">0</span>' : formatInteger(count)))]),
          'numeric left-2 pairs-table',
        );
  const shown = chosen.length < allLabels.length ? `the ${formatInteger(chosen.length)} labels most involved in confusions (over all candidates), of ${formatInteger(allLabels.length)}` : `all ${formatInteger(allLabels.length)} labels`;
  const heatmaps = chosen.length === 0 ? '<p class="muted">No confusions to show.</p>' : `<div class="heatmaps">${matrices.map((matrix) => confusionHeatmap(context, matrix, chosen, matrices)).join('\n')}</div>`;
  return `<section id="confusion">
<h2>Confusions</h2>
<figure>
${heatmaps}
<figcaption>Rows: reference label; columns: predicted label; showing ${shown}, the same labels in every panel. Green: correct answers; red: confusions; one colour scale for all candidates. Hover a cell for its count.</figcaption>
</figure>
<h3>Most confused pairs</h3>
${pairTable}
</section>`;
}

function extractionSection(context: ReportContext): string {
  const { result } = context;
  const candidates = result.candidates.filter((candidate) => result.extraction[candidate.name] !== undefined);
  if (candidates.length === 0) return '<section id="extraction">\n<h2>Fields and keys</h2>\n<p class="muted">The schema has no list or map fields to score item by item.</p>\n</section>';
  const fieldRows = candidates.flatMap((candidate) => {
    const breakdown = result.extraction[candidate.name]!;
    return Object.entries(breakdown.byField).map(([field, scores], position) => [
      position === 0 ? candidateName(context, candidate.name) : '',
      `<code>${escapeHtml(field)}</code>`,
      formatScore(scores.precision),
      formatScore(scores.recall),
      `<strong>${formatScore(scores.f1)}</strong>`,
      formatInteger(scores.truePositives),
      formatInteger(scores.falsePositives),
      formatInteger(scores.falseNegatives),
      position === 0 ? formatInteger(breakdown.malformed) : '',
    ]);
  });
  const keys = new Map<string, { field: string; key: string; support: number; f1: (number | undefined)[] }>();
  candidates.forEach((candidate, position) => {
    for (const entry of result.extraction[candidate.name]!.perKey) {
      const id = JSON.stringify([entry.field, entry.key]);
      const row = keys.get(id) ?? { field: entry.field, key: entry.key, support: entry.support, f1: candidates.map(() => undefined) };
      row.support = Math.max(row.support, entry.support);
      row.f1[position] = entry.f1;
      keys.set(id, row);
    }
  });
  const ranked = [...keys.values()].sort((left, right) => right.support - left.support || left.field.localeCompare(right.field) || left.key.localeCompare(right.key));
  const top = ranked.slice(0, TOP_KEYS);
  const keyRows = top.map((row) => {
    const known = row.f1.filter((value): value is number => value !== undefined);
    const best = known.length > 1 ? Math.max(...known) : Number.NaN;
    return [`<code>${escapeHtml(row.field)}</code>`, labelHtml(row.key), formatInteger(row.support), ...row.f1.map((value) => (value === undefined ? '—' : value === best ? `<strong>${formatScore(value)}</strong>` : formatScore(value)))];
  });
  return `<section id="extraction">
<h2>Fields and keys</h2>
<h3>Precision, recall and F1 per field</h3>
${table(['Candidate', 'Field', 'Precision', 'Recall', 'F1', 'TP', 'FP', 'FN', 'Malformed answers'], fieldRows, 'numeric compact left-2')}
<p class="note">Micro-averaged over the items of each field (list values; name=value pairs), ×100. A malformed answer counts as predicting nothing.</p>
<h3>F1 per key${ranked.length > top.length ? `: the ${formatInteger(top.length)} most frequent of ${formatInteger(ranked.length)}` : ''}</h3>
${table(['Field', 'Key', 'Support', ...candidates.map((candidate) => candidateName(context, candidate.name))], keyRows, 'numeric compact left-2 keys-table')}
<p class="note">Per intent value and slot name, F1 ×100; support: reference answers holding the key. The best candidate per key is in bold.</p>
</section>`;
}

function scorersSection(context: ReportContext): string {
  const { result } = context;
  const parts: string[] = [];
  if (result.scorers.length > 0) {
    const rows = result.scorers.map((scorer) => {
      const metric = scorerMetric(result, scorer.name);
      return [
        `${escapeHtml(scorer.name)}`,
        escapeHtml(scorer.kind),
        ...result.candidates.map((candidate) => estimateCell(metric, metric === undefined ? undefined : candidate.metrics[metric.id])),
        scorer.calls === 0 ? '<span class="muted">0</span>' : formatInteger(scorer.calls),
        scorer.costUsd === null ? '<span class="muted">unknown</span>' : formatDollars(scorer.costUsd),
      ];
    });
    parts.push(`<h3>Pass rate per scorer</h3>
${table(['Scorer', 'Kind', ...result.candidates.map((candidate) => candidateName(context, candidate.name)), 'Judge calls now', 'Judge cost'], rows, 'numeric left-2')}
<p class="note">Share of each candidate's answers the scorer passed, with its 95% Wilson interval. Judge calls: calls made in this run (cached verdicts are free).</p>`);
    const judged = result.scorers.filter((scorer) => scorer.agreementWithReference !== undefined);
    if (judged.length > 0) {
      const agreementRows = judged.map((scorer) => {
        const agreement = scorer.agreementWithReference!;
        return [escapeHtml(scorer.name), formatInteger(agreement.n), formatPercent(agreement.agreement), agreement.kappa === null ? '<span class="muted">undefined</span>' : formatNumber(agreement.kappa, 2), escapeHtml(kappaReading(agreement.kappa))];
      });
      parts.push(`<h3>Judge agreement with the reference</h3>
${table(['Judge', 'Answers judged', 'Agreement', "Cohen's κ", 'Reading'], agreementRows, 'numeric compact')}
<p class="note">How often the judge's pass equals the task's exact check against the reference answer, over every candidate's answers. κ corrects for chance agreement (1 perfect, 0 chance; reading after Landis &amp; Koch).</p>`);
    }
  }
  if (result.pairwise.length > 0) {
    const rows = result.pairwise.map((entry) => [
      candidateName(context, entry.candidate),
      escapeHtml(entry.baseline),
      formatInteger(entry.n),
      formatInteger(entry.bWins),
      formatInteger(entry.ties),
      formatInteger(entry.aWins),
      formatInteger(entry.inconsistent),
      `${formatPercent(entry.winRate.value)}<span class="interval">[${formatNumber(entry.winRate.low * 100, 1)}, ${formatNumber(entry.winRate.high * 100, 1)}]</span>`,
      formatPValue(entry.pValue),
    ]);
    parts.push(`<h3>Pairwise judge</h3>
${table(['Candidate', 'Against', 'Pairs', 'Wins', 'Ties', 'Losses', 'Inconsistent', 'Win rate (95% interval)', 'p (sign test)'], rows, 'numeric left-2')}
<p class="note">The judge saw each pair in both orders; a verdict that flipped with the order is inconsistent and counts as a tie. Win rate counts ties as half; 50% is no preference.</p>`);
  }
  if (parts.length === 0) parts.push('<p class="muted">No extra scorers or judges were configured.</p>');
  return `<section id="scorers">
<h2>Scorers and judges</h2>
${parts.join('\n')}
</section>`;
}

function disagreementSection(context: ReportContext, maxRows: number): string {
  const { result } = context;
  const names = result.candidates.map((candidate) => candidate.name);
  const rowsOf = names.map((name) => result.outputs.get(name) ?? []);
  const detailsOf = names.map((name) => result.details.get(name) ?? []);
  const baselineIndex = names.indexOf(result.baseline);
  const bestIndex = context.best === undefined ? -1 : names.indexOf(context.best.name);
  const selected = disagreements(rowsOf, baselineIndex, bestIndex);
  const shown = selected.slice(0, Math.max(0, maxRows));
  const heading = '<h2>Where the verdicts differ</h2>';
  if (names.length < 2) return `<section id="disagreements">\n${heading}\n<p class="muted">Only one candidate: nothing to compare.</p>\n</section>`;
  if (selected.length === 0) return `<section id="disagreements">\n${heading}\n<p class="muted">Every candidate got the same verdict on every example.</p>\n</section>`;
  const leading = selected.filter((entry) => entry.leading).length;
  const order =
    bestIndex < 0 || baselineIndex < 0
      ? ''
      : ` The ${formatInteger(leading)} where ${escapeHtml(result.baseline)} and the best candidate ${escapeHtml(context.best!.name)} differ come first.`;
  const json = result.task.kind === 'json-schema';
  // Compact JSON wraps after commas first, anywhere only when a value is longer than the column.
  const jsonHtml = (text: string): string => `<pre class="answer">${escapeHtml(text).replace(/,/g, ',<wbr>')}</pre>`;
  const answerHtml = (text: string): string => (json ? jsonHtml(text) : `<span class="answer-label">${labelHtml(text)}</span>`);
  // Up to four candidates get a column each; more share one column of answer cards, so that no column is too narrow to read.
  const wide = names.length > MAX_ANSWER_COLUMNS;
  const rows = shown.map(({ index }) => {
    const first = rowsOf.find((rows) => rows[index] !== undefined)![index]!;
    const cells = rowsOf.map((rows, position) => {
      const row = rows[index];
      if (row === undefined) return '<span class="muted">no answer</span>';
      // A label task's detail only repeats the reference column ("expected <gold>").
      const raw = detailsOf[position]![index] ?? '';
      const detail = !json && raw === `expected ${row.gold}` ? '' : raw;
      const mark = row.correct ? '<span class="mark right" title="passed the exact check">✓</span>' : '<span class="mark wrong" title="failed the exact check">✗</span>';
      return `<div class="verdict-line">${mark}${answerHtml(row.output)}</div>${detail === '' ? '' : `<div class="detail">${escapeHtml(detail)}</div>`}`;
    });
    const example = `<div class="example-id">#${escapeHtml(String(first.exampleId))}</div><div class="example-input">${escapeHtml(first.input)}</div>`;
    const reference = json ? jsonHtml(first.gold) : labelHtml(first.gold);
    if (!wide) return [example, reference, ...cells];
    const cards = cells.map((cell, position) => `<div class="answer-card"><div class="answer-who">${candidateName(context, names[position]!)}</div>${cell}</div>`);
    return [example, reference, `<div class="answer-grid">${cards.join('')}</div>`];
  });
  const header = wide ? ['Input', 'Reference', 'Answers'] : ['Input', 'Reference', ...names.map((name) => candidateName(context, name))];
  return `<section id="disagreements">
${heading}
<p class="muted">${shown.length < selected.length ? `The first ${formatInteger(shown.length)} of ` : ''}${formatInteger(selected.length)} examples where the candidates' exact-check verdicts differ.${order}</p>
${table(header, rows, `side-by-side${json ? ' json' : ''}${wide ? ' wide' : ''}`)}
</section>`;
}

function methodSection(context: ReportContext): string {
  const { result } = context;
  const iterations = result.comparisons[0]?.bootstrapIterations;
  const resamples = iterations === undefined ? '' : ` (${formatInteger(iterations)} resamples)`;
  return `<section id="method">
<h2>Method</h2>
<ul>
<li>Intervals are 95%. Rates (accuracy, exact match, schema validity, scorer pass rates): Wilson score interval. F1 scores: percentile bootstrap over examples${resamples}.</li>
<li>Differences with the baseline: paired bootstrap over examples${resamples}, the same example indices for both candidates.</li>
<li>p-values: exact McNemar test (two-sided binomial on the discordant pairs) for rates; paired permutation test (approximate randomization, swapping each example's two answers) for F1 scores.</li>
<li>Holm's step-down correction adjusts the primary metric's p-values over all comparisons with the baseline.</li>
<li>The gate says GO only when the whole interval of the difference lies above the required margin.</li>
<li>Pairwise judge: each pair judged in both orders; exact sign test on wins against losses (ties left out); win-rate interval by paired bootstrap. Judge agreement: raw agreement and Cohen's κ against the exact check.</li>
<li>Cost: the priced cost of each call, averaged per task and ×1,000; unknown when any call has no known price. Latency percentiles: linear interpolation between ranks.</li>
</ul>
</section>`;
}

// ---------------------------------------------------------------------------------------------
// Plots (inline SVG)

const WIDTH = 1000;
/** Room for candidate names left of a plot. */
const NAME_WIDTH = 220;
/** Width of one character of a 13px semi-bold label, for fitting names (truncate() measures 11px ticks). */
const LABEL_CHAR_WIDTH = 7.6;
const TICK_CHAR_WIDTH = 6.4;
const PAIR_ROWS = 15;
const TOP_KEYS = 25;
/** Candidates shown as columns of the disagreement table; more get answer cards. */
const MAX_ANSWER_COLUMNS = 4;

function primaryMetricPlot(context: ReportContext): string {
  const { result, primary } = context;
  const rowHeight = 34;
  const top = 26;
  const left = NAME_WIDTH;
  const right = WIDTH - 220;
  const height = top + result.candidates.length * rowHeight + 40;
  const bottom = height - 34;
  const estimates = result.candidates.map((candidate) => candidate.metrics[primary.id]);
  const ticks = metricTicks(estimates, 6);
  const x = linearScale(ticks[0]!, ticks[ticks.length - 1]!, left, right);
  const parts: string[] = [verticalGrid(ticks, x, top - 8, bottom, (tick) => metricTick(primary, tick))];
  parts.push(`<text class="axis-title" x="${coordinate((left + right) / 2)}" y="${height - 4}" text-anchor="middle">${escapeHtml(primary.label)}${primary.kind === 'rate' ? '' : ' ×100'}</text>`);
  const baseline = result.candidates.find((candidate) => context.isBaseline(candidate.name))?.metrics[primary.id];
  if (baseline !== undefined) parts.push(referenceLine(x(baseline.value), top - 8, bottom, 'baseline'));
  result.candidates.forEach((candidate, index) => {
    const middle = top + index * rowHeight + rowHeight / 2;
    const estimate = estimates[index];
    parts.push(nameLabel(context, candidate.name, left - 12, middle));
    if (estimate === undefined) {
      parts.push(`<text class="empty" x="${left + 8}" y="${coordinate(middle + 4)}">not measured</text>`);
      return;
    }
    const color = context.colorOf(candidate.name);
    parts.push(`<g><title>${escapeHtml(`${candidate.name}: ${primary.label} ${metricValue(primary, estimate.value)}, 95% interval ${metricInterval(estimate)}`)}</title>
${horizontalInterval(x, middle, estimate, color, 7, 6)}
</g>`);
    parts.push(`<text class="value" x="${right + 16}" y="${coordinate(middle + 4)}">${metricValue(primary, estimate.value)} <tspan class="tick">${metricInterval(estimate)}</tspan></text>`);
  });
  return svgPlot('metric-primary', WIDTH, height, `${primary.label} per candidate with 95% intervals`, parts.join('\n'));
}

function otherMetricsPlot(context: ReportContext): string {
  const { result, others } = context;
  const perRow = Math.min(3, others.length);
  const gap = 48;
  const panelWidth = (WIDTH - NAME_WIDTH - 16 - gap * (perRow - 1)) / perRow;
  const rowHeight = 26;
  const titleHeight = 24;
  const axisHeight = 26;
  const blockHeight = titleHeight + result.candidates.length * rowHeight + axisHeight + 18;
  const blocks = Math.ceil(others.length / perRow);
  const parts: string[] = [];
  const baseline = result.candidates.find((candidate) => context.isBaseline(candidate.name));
  for (let block = 0; block < blocks; block += 1) {
    const blockTop = block * blockHeight;
    const rowsTop = blockTop + titleHeight;
    const bottom = rowsTop + result.candidates.length * rowHeight;
    result.candidates.forEach((candidate, index) => parts.push(nameLabel(context, candidate.name, NAME_WIDTH - 12, rowsTop + index * rowHeight + rowHeight / 2)));
    others.slice(block * perRow, (block + 1) * perRow).forEach((metric, column) => {
      const left = NAME_WIDTH + column * (panelWidth + gap);
      const right = left + panelWidth;
      const estimates = result.candidates.map((candidate) => candidate.metrics[metric.id]);
      const ticks = metricTicks(estimates, 4);
      const x = linearScale(ticks[0]!, ticks[ticks.length - 1]!, left, right);
      parts.push(`<text class="label" x="${coordinate(left)}" y="${coordinate(blockTop + 15)}">${escapeHtml(truncate(`${metric.label}${metric.kind === 'rate' ? '' : ' ×100'}`, panelWidth * (TICK_CHAR_WIDTH / LABEL_CHAR_WIDTH)))}<title>${escapeHtml(metric.label)}</title></text>`);
      parts.push(`<rect class="panel" x="${coordinate(left)}" y="${coordinate(rowsTop - 2)}" width="${coordinate(panelWidth)}" height="${coordinate(bottom - rowsTop + 4)}"/>`);
      parts.push(verticalGrid(ticks, x, rowsTop - 2, bottom + 2, (tick) => metricTick(metric, tick)));
      const reference = baseline?.metrics[metric.id];
      if (reference !== undefined) parts.push(referenceLine(x(reference.value), rowsTop - 2, bottom + 2));
      result.candidates.forEach((candidate, index) => {
        const estimate = estimates[index];
        if (estimate === undefined) return;
        const middle = rowsTop + index * rowHeight + rowHeight / 2;
        parts.push(`<g><title>${escapeHtml(`${candidate.name}: ${metric.label} ${metricValue(metric, estimate.value)}, 95% interval ${metricInterval(estimate)}`)}</title>
${horizontalInterval(x, middle, estimate, context.colorOf(candidate.name), 5, 4.5)}
</g>`);
      });
    });
  }
  return svgPlot('metric-others', WIDTH, blocks * blockHeight, 'The other metrics per candidate with 95% intervals', parts.join('\n'));
}

function forestPlot(context: ReportContext): string {
  const { result, primary } = context;
  const gate = result.gate !== null && result.gate.metric === primary.id ? result.gate : null;
  const rowHeight = 38;
  const top = 28;
  const left = NAME_WIDTH;
  const right = WIDTH - 210;
  const height = top + result.comparisons.length * rowHeight + 42;
  const bottom = height - 36;
  const differences = result.comparisons.map((comparison) => comparison.metrics[primary.id]);
  const values = differences.flatMap((entry) => (entry === undefined ? [] : [entry.low, entry.high, entry.difference])).filter(Number.isFinite);
  const low = Math.min(0, ...values, gate?.minDifference ?? 0);
  const high = Math.max(0, ...values, gate?.minDifference ?? 0);
  const pad = Math.max(0.005, (high - low) * 0.06);
  const ticks = niceTicks((low - pad) * 100, (high + pad) * 100, 7).map((tick) => tick / 100);
  const x = linearScale(ticks[0]!, ticks[ticks.length - 1]!, left, right);
  const parts: string[] = [verticalGrid(ticks, x, top - 10, bottom, (tick) => formatSigned(tick * 100, tick === 0 ? 0 : Math.abs(tick * 100) < 1 ? 1 : 0))];
  parts.push(`<text class="axis-title" x="${coordinate((left + right) / 2)}" y="${height - 4}" text-anchor="middle">difference in ${escapeHtml(primary.label)} (${primary.kind === 'rate' ? 'percentage points' : 'F1 points'}), candidate − ${escapeHtml(result.baseline)}</text>`);
  parts.push(`<line class="zero" x1="${coordinate(x(0))}" x2="${coordinate(x(0))}" y1="${top - 10}" y2="${bottom}"/>`);
  if (gate !== null && gate.minDifference !== 0) {
    parts.push(`<line class="margin" x1="${coordinate(x(gate.minDifference))}" x2="${coordinate(x(gate.minDifference))}" y1="${top - 10}" y2="${bottom}"/>`);
    parts.push(`<text class="margin-label" x="${coordinate(x(gate.minDifference) + 4)}" y="${top - 14}">gate margin ${differenceText(primary, gate.minDifference)}</text>`);
  }
  result.comparisons.forEach((comparison, index) => {
    const middle = top + index * rowHeight + rowHeight / 2;
    const difference = differences[index];
    parts.push(nameLabel(context, comparison.candidate, left - 12, middle));
    if (difference === undefined) return;
    const color = context.colorOf(comparison.candidate);
    const estimate = { value: difference.difference, low: difference.low, high: difference.high };
    parts.push(`<g><title>${escapeHtml(`${comparison.candidate} − ${comparison.baseline}: ${differenceText(primary, difference.difference)} ${pointsRangeText(difference.low, difference.high)}, Holm p ${plainPValue(comparison.holmPValue)}`)}</title>
${horizontalInterval(x, middle, estimate, color, 8, 6)}
</g>`);
    parts.push(`<text class="value" x="${right + 16}" y="${coordinate(middle + 4)}">${escapeHtml(differenceText(primary, difference.difference))} <tspan class="tick">${escapeHtml(pointsRangeText(difference.low, difference.high))}</tspan></text>`);
  });
  return svgPlot('forest', WIDTH, height, `Difference in ${primary.label} with the baseline`, parts.join('\n'));
}

function costPlot(context: ReportContext): string {
  const { result, primary } = context;
  const known = result.candidates.filter((candidate) => candidate.costPer1000Usd !== null && Number.isFinite(candidate.costPer1000Usd));
  const unknown = result.candidates.filter((candidate) => !known.includes(candidate));
  const height = 380;
  const left = 76;
  const right = unknown.length > 0 ? WIDTH - 260 : WIDTH - 30;
  const top = 20;
  const bottom = height - 50;
  const parts: string[] = [];
  if (unknown.length > 0) {
    const listLeft = right + 40;
    parts.push(`<text class="label" x="${listLeft}" y="${top + 10}">Price unknown: not plotted</text>`);
    unknown.forEach((candidate, index) => {
      const y = top + 38 + index * 22;
      const estimate = candidate.metrics[primary.id];
      parts.push(`<g class="unplotted"><circle cx="${listLeft + 5}" cy="${y - 4}" r="5" fill="${context.colorOf(candidate.name)}"/><text class="value" x="${listLeft + 16}" y="${y}">${escapeHtml(truncate(candidate.name, 130 * (TICK_CHAR_WIDTH / LABEL_CHAR_WIDTH)))}<title>${escapeHtml(candidate.name)}</title> <tspan class="tick">${estimate === undefined ? '' : metricValue(primary, estimate.value)}</tspan></text></g>`);
    });
  }
  if (known.length === 0) {
    parts.push(`<text class="empty" x="${coordinate((left + right) / 2)}" y="${coordinate((top + bottom) / 2)}" text-anchor="middle">No candidate has a known price.</text>`);
    return svgPlot('cost', WIDTH, height, `Cost per 1,000 tasks against ${primary.label}`, parts.join('\n'));
  }
  const maxCost = Math.max(...known.map((candidate) => candidate.costPer1000Usd!));
  const xTicks = niceTicks(0, maxCost > 0 ? maxCost * 1.08 : 1, 6);
  const x = linearScale(xTicks[0]!, xTicks[xTicks.length - 1]!, left, right);
  const yTicks = metricTicks(known.map((candidate) => candidate.metrics[primary.id]), 5);
  const y = linearScale(yTicks[0]!, yTicks[yTicks.length - 1]!, bottom, top);
  for (const tick of yTicks) {
    parts.push(`<line class="grid" x1="${left}" x2="${coordinate(right)}" y1="${coordinate(y(tick))}" y2="${coordinate(y(tick))}"/>`);
    parts.push(`<text class="tick" x="${left - 8}" y="${coordinate(y(tick) + 4)}" text-anchor="end">${metricTick(primary, tick)}</text>`);
  }
  for (const tick of xTicks) {
    parts.push(`<line class="grid" x1="${coordinate(x(tick))}" x2="${coordinate(x(tick))}" y1="${top}" y2="${bottom}"/>`);
    parts.push(`<text class="tick" x="${coordinate(x(tick))}" y="${bottom + 18}" text-anchor="middle">$${formatTick(tick)}</text>`);
  }
  parts.push(`<line class="axis" x1="${left}" x2="${coordinate(right)}" y1="${bottom}" y2="${bottom}"/>`);
  parts.push(`<line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${bottom}"/>`);
  parts.push(`<text class="axis-title" x="${coordinate((left + right) / 2)}" y="${height - 8}" text-anchor="middle">US dollars per 1,000 tasks</text>`);
  parts.push(`<text class="axis-title" transform="translate(16 ${coordinate((top + bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeHtml(primary.label)}${primary.kind === 'rate' ? '' : ' ×100'}</text>`);
  const placed: Box[] = [];
  const points = known.map((candidate) => ({ candidate, estimate: candidate.metrics[primary.id] })).filter((entry): entry is { candidate: EvalCandidateResult; estimate: MetricEstimate } => entry.estimate !== undefined);
  // Marks first, then labels placed around them so that no label covers another.
  for (const { candidate, estimate } of points) {
    const cx = x(candidate.costPer1000Usd!);
    const color = context.colorOf(candidate.name);
    placed.push({ left: cx - 7, right: cx + 7, top: y(estimate.value) - 7, bottom: y(estimate.value) + 7 });
    parts.push(`<g><title>${escapeHtml(`${candidate.name}: ${formatDollars(candidate.costPer1000Usd!)} per 1,000 tasks; ${primary.label} ${metricValue(primary, estimate.value)} ${metricInterval(estimate)}`)}</title>
<line x1="${coordinate(cx)}" x2="${coordinate(cx)}" y1="${coordinate(y(estimate.low))}" y2="${coordinate(y(estimate.high))}" stroke="${color}" stroke-width="2"/>
<line x1="${coordinate(cx - 6)}" x2="${coordinate(cx + 6)}" y1="${coordinate(y(estimate.low))}" y2="${coordinate(y(estimate.low))}" stroke="${color}" stroke-width="2"/>
<line x1="${coordinate(cx - 6)}" x2="${coordinate(cx + 6)}" y1="${coordinate(y(estimate.high))}" y2="${coordinate(y(estimate.high))}" stroke="${color}" stroke-width="2"/>
<circle cx="${coordinate(cx)}" cy="${coordinate(y(estimate.value))}" r="6.5" fill="${color}" stroke="#fff" stroke-width="1.5"/>
</g>`);
  }
  for (const { candidate, estimate } of points) {
    const cx = x(candidate.costPer1000Usd!);
    const cy = y(estimate.value);
    const text = `${truncate(candidate.name, 160 * (TICK_CHAR_WIDTH / LABEL_CHAR_WIDTH))} · ${formatDollars(candidate.costPer1000Usd!)}`;
    const width = text.length * 7;
    const box = placeLabel(placed, cx, cy, width, left, right, top, bottom);
    placed.push(box);
    const anchorStart = box.left >= cx;
    parts.push(`<text class="value point-label" x="${coordinate(anchorStart ? box.left : box.right)}" y="${coordinate(box.bottom - 4)}" text-anchor="${anchorStart ? 'start' : 'end'}">${escapeHtml(text)}<title>${escapeHtml(candidate.name)}</title></text>`);
  }
  return svgPlot('cost', WIDTH, height, `Cost per 1,000 tasks against ${primary.label}`, parts.join('\n'));
}

interface Box {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** A label box beside the point (right, else left), moved up or down until it covers no mark or label placed before. */
function placeLabel(placed: readonly Box[], cx: number, cy: number, width: number, minX: number, maxX: number, minY: number, maxY: number): Box {
  const height = 16;
  const overlaps = (box: Box): boolean => placed.some((other) => box.left < other.right && box.right > other.left && box.top < other.bottom && box.bottom > other.top);
  const sides = cx + 10 + width <= maxX ? [cx + 10, cx - 10 - width] : [cx - 10 - width, cx + 10];
  for (const shift of [0, -16, 16, -32, 32, -48, 48, -64, 64]) {
    for (const start of sides) {
      const box = { left: Math.max(minX + 2, start), right: Math.max(minX + 2, start) + width, top: cy - height / 2 + shift, bottom: cy + height / 2 + shift };
      if (box.top >= minY - 12 && box.bottom <= maxY && !overlaps(box)) return box;
    }
  }
  return { left: sides[0]!, right: sides[0]! + width, top: cy - height / 2, bottom: cy + height / 2 };
}

function latencyPlot(context: ReportContext): string {
  const { result } = context;
  const rowHeight = 56;
  const top = 10;
  const left = NAME_WIDTH;
  const right = WIDTH - 210;
  const series = result.candidates.map((candidate) => candidate.latenciesMs.filter((value) => Number.isFinite(value)));
  const all = series.flat();
  if (all.length === 0) return svgPlot('latency', WIDTH, 80, 'Latency distribution per candidate', `<text class="empty" x="${WIDTH / 2}" y="44" text-anchor="middle">No latencies were recorded.</text>`);
  // One slow outlier must not squash every box: the axis stops at the slowest answer within twice the largest p95, and the rest is counted.
  const largestP95 = Math.max(...series.map((values) => (values.length === 0 ? 0 : percentile(values, 95))));
  const maximum = Math.max(...all);
  const limit = maximum > 2 * largestP95 && largestP95 > 0 ? Math.max(...all.filter((value) => value <= 2 * largestP95)) : maximum;
  const height = top + result.candidates.length * rowHeight + 44;
  const bottom = height - 38;
  const ticks = niceTicks(0, limit, 7);
  const scale = linearScale(ticks[0]!, ticks[ticks.length - 1]!, left, right);
  const axisEnd = ticks[ticks.length - 1]!;
  const parts: string[] = [verticalGrid(ticks, scale, top, bottom, formatTick)];
  parts.push(`<text class="axis-title" x="${coordinate((left + right) / 2)}" y="${height - 4}" text-anchor="middle">milliseconds per answer (shared axis)</text>`);
  result.candidates.forEach((candidate, index) => {
    const values = series[index]!;
    const middle = top + index * rowHeight + rowHeight / 2;
    const color = context.colorOf(candidate.name);
    parts.push(nameLabel(context, candidate.name, left - 12, middle));
    if (values.length === 0) {
      parts.push(`<text class="empty" x="${left + 8}" y="${coordinate(middle + 4)}">no data</text>`);
      return;
    }
    const stride = Math.max(1, Math.ceil(values.length / 400));
    let beyond = 0;
    values.forEach((value, position) => {
      if (value > axisEnd) {
        beyond += 1;
        return;
      }
      if (position % stride !== 0) return;
      const jitter = (((position * 2654435761) >>> 0) / 4294967296 - 0.5) * 26;
      parts.push(`<circle cx="${coordinate(scale(value))}" cy="${coordinate(middle + jitter)}" r="2" fill="${color}" opacity="0.3"/>`);
    });
    const [p5, q1, median, q3, p95] = [5, 25, 50, 75, 95].map((point) => scale(Math.min(axisEnd, percentile(values, point)))) as [number, number, number, number, number];
    parts.push(`<g><title>${escapeHtml(`${candidate.name}: p5 ${msText(percentile(values, 5))}, p25 ${msText(percentile(values, 25))}, p50 ${msText(percentile(values, 50))}, p75 ${msText(percentile(values, 75))}, p95 ${msText(percentile(values, 95))}, max ${msText(Math.max(...values))}, n = ${values.length}`)}</title>
<line x1="${coordinate(p5)}" x2="${coordinate(q1)}" y1="${coordinate(middle)}" y2="${coordinate(middle)}" stroke="${color}" stroke-width="1.5"/>
<line x1="${coordinate(q3)}" x2="${coordinate(p95)}" y1="${coordinate(middle)}" y2="${coordinate(middle)}" stroke="${color}" stroke-width="1.5"/>
<line x1="${coordinate(p5)}" x2="${coordinate(p5)}" y1="${coordinate(middle - 7)}" y2="${coordinate(middle + 7)}" stroke="${color}" stroke-width="1.5"/>
<line x1="${coordinate(p95)}" x2="${coordinate(p95)}" y1="${coordinate(middle - 7)}" y2="${coordinate(middle + 7)}" stroke="${color}" stroke-width="1.5"/>
<rect x="${coordinate(q1)}" y="${coordinate(middle - 12)}" width="${coordinate(Math.max(1, q3 - q1))}" height="24" fill="${color}" fill-opacity="0.2" stroke="${color}" stroke-width="1.5"/>
<line x1="${coordinate(median)}" x2="${coordinate(median)}" y1="${coordinate(middle - 12)}" y2="${coordinate(middle + 12)}" stroke="${color}" stroke-width="3"/>
</g>`);
    if (beyond > 0) {
      parts.push(`<path d="M${coordinate(right + 2)} ${coordinate(middle - 5)} l7 5 l-7 5 z" fill="${color}"/>`);
      parts.push(`<text class="tick" x="${right + 16}" y="${coordinate(middle + 18)}">${formatInteger(beyond)} beyond axis (max ${msText(Math.max(...values))})</text>`);
    }
    parts.push(`<text class="value" x="${right + 16}" y="${coordinate(middle + 2)}">p50 ${msText(candidate.latencyP50Ms)} <tspan class="tick">p95 ${msText(candidate.latencyP95Ms)}</tspan></text>`);
  });
  return svgPlot('latency', WIDTH, height, 'Latency distribution per candidate', parts.join('\n'));
}

type CountLookup = (gold: string, predicted: string) => number;

function confusionHeatmap(context: ReportContext, matrix: { name: string; count: CountLookup }, labels: readonly string[], all: readonly { count: CountLookup }[]): string {
  const titleHeight = 26;
  const rowLabelWidth = 150;
  const columnLabelHeight = 104;
  const cell = Math.max(12, Math.min(30, Math.floor(340 / labels.length)));
  const left = rowLabelWidth;
  const top = titleHeight + columnLabelHeight;
  // Column labels lean right (−55°): room for the last ones to end inside the plot.
  const width = left + labels.length * cell + columnLabelHeight * 0.75;
  const height = top + labels.length * cell + 10;
  let maxOff = 0;
  let maxDiagonal = 0;
  for (const entry of all) {
    for (const gold of labels) {
      for (const predicted of labels) {
        const count = entry.count(gold, predicted);
        if (gold === predicted) maxDiagonal = Math.max(maxDiagonal, count);
        else maxOff = Math.max(maxOff, count);
      }
    }
  }
  const parts: string[] = [`<circle cx="7" cy="12" r="6" fill="${context.colorOf(matrix.name)}"/><text class="label" x="20" y="17">${escapeHtml(truncate(matrix.name, (width - 30) * (TICK_CHAR_WIDTH / LABEL_CHAR_WIDTH)))}${context.isBaseline(matrix.name) ? ' (baseline)' : ''}<title>${escapeHtml(matrix.name)}</title></text>`];
  labels.forEach((label, position) => {
    const x = left + position * cell + cell / 2 + 4;
    parts.push(`<text class="tick" transform="translate(${coordinate(x)} ${top - 6}) rotate(-55)">${escapeHtml(truncate(label, columnLabelHeight * 1.2))}<title>${escapeHtml(label)}</title></text>`);
  });
  labels.forEach((gold, row) => {
    const y = top + row * cell;
    parts.push(`<text class="tick" x="${left - 6}" y="${coordinate(y + cell / 2 + 4)}" text-anchor="end">${escapeHtml(truncate(gold, rowLabelWidth - 10))}<title>${escapeHtml(gold)}</title></text>`);
    labels.forEach((predicted, column) => {
      const count = matrix.count(gold, predicted);
      const diagonal = gold === predicted;
      const strength = count === 0 ? 0 : Math.sqrt(count / Math.max(1, diagonal ? maxDiagonal : maxOff));
      const fill = count === 0 ? '#f5f6f8' : diagonal ? mixColor([222, 241, 230], [27, 122, 72], strength) : mixColor([253, 232, 222], [196, 62, 28], strength);
      const x = left + column * cell;
      const text = count > 0 && cell >= 16 ? `<text class="cell" x="${coordinate(x + cell / 2)}" y="${coordinate(y + cell / 2 + 4)}" text-anchor="middle" fill="${strength > 0.6 ? '#fff' : '#222'}">${count}</text>` : '';
      parts.push(`<g><title>${escapeHtml(`${matrix.name}: reference ${gold} → predicted ${predicted}: ${count}`)}</title><rect class="cm" x="${coordinate(x)}" y="${coordinate(y)}" width="${cell - 1}" height="${cell - 1}" fill="${fill}"/>${text}</g>`);
    });
  });
  return svgPlot(`confusion-${context.result.candidates.findIndex((candidate) => candidate.name === matrix.name)}`, width, height, `Confusion matrix of ${matrix.name}`, parts.join('\n'));
}

function svgPlot(id: string, width: number, height: number, title: string, content: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" id="plot-${escapeHtml(id)}" class="plot" viewBox="0 0 ${coordinate(width)} ${coordinate(height)}" width="${coordinate(width)}" height="${coordinate(height)}" role="img" aria-label="${escapeHtml(title)}">
<title>${escapeHtml(title)}</title>
${content}
</svg>`;
}

// ---------------------------------------------------------------------------------------------
// Plot parts

/** Vertical grid lines with tick labels under them. */
function verticalGrid(ticks: readonly number[], x: (value: number) => number, top: number, bottom: number, label: (tick: number) => string): string {
  return ticks
    .map((tick) => `<line class="grid" x1="${coordinate(x(tick))}" x2="${coordinate(x(tick))}" y1="${coordinate(top)}" y2="${coordinate(bottom)}"/>
<text class="tick" x="${coordinate(x(tick))}" y="${coordinate(bottom + 15)}" text-anchor="middle">${label(tick)}</text>`)
    .join('\n');
}

/** A dashed vertical line marking the baseline's value. */
function referenceLine(x: number, top: number, bottom: number, label?: string): string {
  const text = label === undefined ? '' : `<text class="tick" x="${coordinate(x)}" y="${coordinate(top - 4)}" text-anchor="middle">${escapeHtml(label)}</text>`;
  return `<line class="reference" x1="${coordinate(x)}" x2="${coordinate(x)}" y1="${coordinate(top)}" y2="${coordinate(bottom)}"/>${text}`;
}

/** A dot on its interval bar, with end caps. */
function horizontalInterval(x: (value: number) => number, middle: number, estimate: { value: number; low: number; high: number }, color: string, cap: number, radius: number): string {
  const low = x(estimate.low);
  const high = x(estimate.high);
  return `<line x1="${coordinate(low)}" x2="${coordinate(high)}" y1="${coordinate(middle)}" y2="${coordinate(middle)}" stroke="${color}" stroke-width="2"/>
<line x1="${coordinate(low)}" x2="${coordinate(low)}" y1="${coordinate(middle - cap)}" y2="${coordinate(middle + cap)}" stroke="${color}" stroke-width="2"/>
<line x1="${coordinate(high)}" x2="${coordinate(high)}" y1="${coordinate(middle - cap)}" y2="${coordinate(middle + cap)}" stroke="${color}" stroke-width="2"/>
<circle cx="${coordinate(x(estimate.value))}" cy="${coordinate(middle)}" r="${radius}" fill="${color}" stroke="#fff" stroke-width="1.2"/>`;
}

/** A candidate's name right-aligned at `x`, the baseline's in italics; the full name in a tooltip. */
function nameLabel(context: ReportContext, name: string, x: number, middle: number): string {
  const baseline = context.isBaseline(name);
  const budget = (NAME_WIDTH - 20 - (baseline ? 56 : 0)) * (TICK_CHAR_WIDTH / LABEL_CHAR_WIDTH);
  const suffix = baseline ? '<tspan class="tick"> baseline</tspan>' : '';
  return `<text class="label" x="${coordinate(x)}" y="${coordinate(middle + 4)}" text-anchor="end">${escapeHtml(truncate(name, budget))}${suffix}<title>${escapeHtml(name)}</title></text>`;
}

/** Ticks for metric values (fractions), zoomed on the intervals shown and kept within 0..1. */
function metricTicks(estimates: readonly (MetricEstimate | undefined)[], count: number): number[] {
  const present = estimates.filter((estimate): estimate is MetricEstimate => estimate !== undefined);
  const values = present.flatMap((estimate) => [estimate.low, estimate.high, estimate.value]).filter(Number.isFinite);
  if (values.length === 0) return [0, 0.25, 0.5, 0.75, 1];
  const low = Math.min(...values);
  const high = Math.max(...values);
  const pad = Math.max(0.01, (high - low) * 0.08);
  const ticks = niceTicks(Math.max(0, low - pad), Math.min(1, high + pad), count).filter((tick) => tick >= -1e-9 && tick <= 1 + 1e-9);
  return ticks.length >= 2 ? ticks : [0, 1];
}

function metricTick(metric: MetricInfo, tick: number): string {
  return `${formatTick(Number((tick * 100).toPrecision(6)))}${metric.kind === 'rate' ? '%' : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Data helpers

/** Examples whose exact-check verdicts differ between candidates; those where the baseline and the best candidate differ first, then in example order. */
function disagreements(rowsOf: readonly (readonly EvalOutput[])[], baselineIndex: number, bestIndex: number): { index: number; leading: boolean }[] {
  const count = Math.max(0, ...rowsOf.map((rows) => rows.length));
  const found: { index: number; leading: boolean }[] = [];
  for (let index = 0; index < count; index += 1) {
    const verdicts = rowsOf.map((rows) => rows[index]?.correct);
    if (verdicts.every((verdict) => verdict === verdicts[0])) continue;
    const leading = baselineIndex >= 0 && bestIndex >= 0 && verdicts[baselineIndex] !== verdicts[bestIndex];
    found.push({ index, leading });
  }
  return [...found.filter((entry) => entry.leading), ...found.filter((entry) => !entry.leading)];
}

function countLookup(matrix: { labels: readonly string[]; counts: readonly (readonly number[])[] }): CountLookup {
  const position = new Map(matrix.labels.map((label, index) => [label, index]));
  return (gold, predicted) => {
    const row = position.get(gold);
    const column = position.get(predicted);
    return row === undefined || column === undefined ? 0 : matrix.counts[row]?.[column] ?? 0;
  };
}

/** The labels with the most confusions (as reference or as prediction, over all candidates), in label order. */
function mostConfusedLabels(labels: readonly string[], matrices: readonly { count: CountLookup }[], limit: number): string[] {
  const involvement = labels.map((label, index) => {
    let count = 0;
    for (const matrix of matrices) {
      for (const other of labels) if (other !== label) count += matrix.count(label, other) + matrix.count(other, label);
    }
    return { label, index, count };
  });
  return involvement
    .filter((entry) => entry.count > 0)
    .sort((left, right) => right.count - left.count || left.index - right.index)
    .slice(0, Math.max(0, limit))
    .sort((left, right) => left.index - right.index)
    .map((entry) => entry.label);
}

/** Off-diagonal cells with their count per candidate, most frequent (over all candidates) first. */
function confusedPairs(labels: readonly string[], matrices: readonly { count: CountLookup }[]): { gold: string; predicted: string; counts: number[] }[] {
  const pairs: { gold: string; predicted: string; counts: number[]; total: number; order: number }[] = [];
  labels.forEach((gold, row) => {
    labels.forEach((predicted, column) => {
      if (row === column) return;
      const counts = matrices.map((matrix) => matrix.count(gold, predicted));
      const total = counts.reduce((sum, count) => sum + count, 0);
      if (total > 0) pairs.push({ gold, predicted, counts, total, order: row * labels.length + column });
    });
  });
  return pairs.sort((left, right) => right.total - left.total || left.order - right.order);
}

/** The pass-rate metric of an extra scorer (its id is `scorerMetricId(name)` of eval-scorers.ts). */
function scorerMetric(result: EvalReportInput, name: string): MetricInfo | undefined {
  return result.metrics.find((metric) => metric.id === `scorer:${name}`);
}

// ---------------------------------------------------------------------------------------------
// Formatting

function candidateName(context: ReportContext, name: string, describe?: string): string {
  const baseline = context.isBaseline(name) ? '<span class="tag">baseline</span>' : '';
  const sub = describe === undefined || describe === '' ? '' : `<span class="sub">${escapeHtml(describe)}</span>`;
  return `<span class="swatch" style="background:${context.colorOf(name)}"></span>${escapeHtml(name)}${baseline}${sub}`;
}

/** A metric's value: rates as percentages, aggregates (F1) ×100. */
function metricValue(metric: Pick<MetricInfo, 'kind'>, value: number): string {
  return metric.kind === 'rate' ? formatPercent(value) : formatScore(value);
}

function metricInterval(estimate: { low: number; high: number }): string {
  return `[${formatNumber(estimate.low * 100, 1)}, ${formatNumber(estimate.high * 100, 1)}]`;
}

function estimateCell(metric: MetricInfo | undefined, estimate: MetricEstimate | undefined): string {
  if (metric === undefined || estimate === undefined) return '<span class="muted">—</span>';
  return `${metricValue(metric, estimate.value)}<span class="interval">${metricInterval(estimate)}</span>`;
}

/** A fraction as a score ×100 (F1, precision, recall). */
function formatScore(value: number): string {
  return formatNumber(value * 100, 1);
}

/** A difference ×100: percentage points for rates, F1 points for aggregates. */
function differenceText(metric: Pick<MetricInfo, 'kind'>, value: number): string {
  return Number.isFinite(value) ? `${formatSigned(value * 100, 1)} ${metric.kind === 'rate' ? 'pp' : 'pts'}` : '—';
}

/** A p-value as plain text (for tooltips, which escape their text). */
function plainPValue(value: number): string {
  return value === 0 ? '< 1e-300' : formatPValue(value);
}

function pointsRangeText(low: number, high: number): string {
  return `[${formatSigned(low * 100, 1)}, ${formatSigned(high * 100, 1)}]`;
}

function pointsRange(low: number, high: number): string {
  return `<span class="nowrap">${pointsRangeText(low, high)}</span>`;
}

function msText(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return value < 100 ? `${value.toFixed(1)} ms` : value < 10_000 ? `${formatInteger(value)} ms` : `${formatNumber(value / 1000, 1)} s`;
}

function formatDollars(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (value === 0) return '$0';
  if (value < 0.1) return `$${Number(value.toPrecision(2))}`;
  return `$${value >= 1000 ? formatInteger(value) : value.toFixed(2)}`;
}

/** Landis & Koch's words for a kappa. */
function kappaReading(kappa: number | null): string {
  if (kappa === null) return 'undefined: a single label throughout';
  if (kappa < 0) return 'worse than chance';
  if (kappa < 0.2) return 'slight';
  if (kappa < 0.4) return 'fair';
  if (kappa < 0.6) return 'moderate';
  if (kappa < 0.8) return 'substantial';
  return 'almost perfect';
}

/** Additions to the shared report stylesheet. */
const EXTRA_STYLE = `
dl.facts.header-facts { margin-top: 18px; }
.gate { display: flex; gap: 16px; align-items: flex-start; margin-top: 20px; padding: 14px 18px; border-radius: 8px; border: 1px solid; }
.gate-go { background: #eaf6ef; border-color: #9fd3b4; }
.gate-no-go { background: #fdeeea; border-color: #f0b4a5; }
.gate-badge { flex: none; font-weight: 800; font-size: 20px; letter-spacing: 0.02em; padding: 4px 12px; border-radius: 6px; color: #fff; white-space: nowrap; }
.gate-go .gate-badge { background: #1b7a48; }
.gate-no-go .gate-badge { background: #b3361b; }
.gate-title { font-weight: 600; }
.gate-reason { margin: 4px 0 0; overflow-wrap: anywhere; }
.tag { display: inline-block; margin-left: 7px; padding: 0 7px; border-radius: 9px; background: #e9edf3; color: #4a5564; font-size: 11.5px; font-weight: 600; line-height: 18px; vertical-align: 1px; }
.sub { display: block; color: var(--muted); font-size: 12px; white-space: normal; max-width: 320px; }
.interval { display: block; color: var(--muted); font-size: 12px; }
.note { color: var(--muted); font-size: 13px; margin: 8px 0 0; }
.nowrap { white-space: nowrap; }
dl.metric-descriptions { margin-top: 10px; font-size: 13px; gap: 2px 14px; }
ul.sentences { margin: 10px 0 0; padding-left: 20px; font-size: 14px; color: #3a4352; }
ul.sentences li { margin: 3px 0; }
.significant-up { color: #1b7a48; font-weight: 600; }
.significant-down { color: #b3361b; font-weight: 600; }
table.compact { width: auto; min-width: 640px; }
table.numeric.left-2 td:nth-child(2), table.numeric.left-2 th:nth-child(2) { text-align: left; }
.heatmaps { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 20px 28px; align-items: start; }
svg .reference { stroke: #6b7a90; stroke-width: 1.2; stroke-dasharray: 4 3; }
svg .zero { stroke: #1d2330; stroke-width: 1.4; }
svg .margin { stroke: #d9822b; stroke-width: 1.6; stroke-dasharray: 6 4; }
svg .margin-label { font-size: 11px; fill: #b0611a; font-weight: 600; }
svg .panel { fill: #fafbfc; stroke: #eceef2; }
svg .point-label { font-size: 12.5px; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
table.side-by-side { table-layout: fixed; }
table.side-by-side th:first-child { width: 28%; }
table.side-by-side th:nth-child(2) { width: 16%; }
table.side-by-side.wide th:first-child { width: 24%; }
table.side-by-side.wide th:nth-child(2) { width: 16%; }
.answer-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 8px; }
.answer-card { border: 1px solid var(--line); border-radius: 6px; padding: 5px 8px; min-width: 0; }
.answer-who { font-size: 12px; font-weight: 600; color: #3a4352; margin-bottom: 2px; overflow-wrap: anywhere; }
.answer-who .tag { font-size: 10.5px; line-height: 15px; }
table.side-by-side.json th:first-child { width: 22%; }
table.side-by-side.json th:nth-child(2) { width: auto; }
table.side-by-side td { overflow-wrap: anywhere; font-size: 13.5px; }
.example-id { color: var(--muted); font-size: 11.5px; }
.example-input { max-height: 11em; overflow: auto; white-space: pre-wrap; }
.verdict-line { display: flex; gap: 6px; align-items: baseline; }
.mark { flex: none; font-weight: 700; }
pre.answer { margin: 0; min-width: 0; white-space: pre-wrap; overflow-wrap: anywhere; font: 12px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.detail { color: var(--muted); font-size: 12px; margin-top: 3px; }
`;
