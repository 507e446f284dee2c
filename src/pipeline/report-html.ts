/**
 * The evaluation report as one self-contained HTML file: inline CSS, inline SVG plots, no
 * scripts, fonts or network requests (a Content-Security-Policy forbids them), so it opens the
 * same offline, attached to an email, or archived next to the run. Every piece of user text
 * (labels, inputs, outputs, names) is HTML-escaped.
 */
import { percentile } from '../core/statistics.ts';

/** A paired difference (candidate minus baseline) with its bootstrap interval. */
export interface EvalReportDifference {
  difference: number;
  low: number;
  high: number;
}

/** One system under test, summarized over the eval sample. */
export interface EvalReportCandidate {
  name: string;
  /** Examples scored. */
  n: number;
  /** Share of exact matches, 0–1. */
  accuracy: number;
  /** Wilson interval for accuracy at the report's confidence level. */
  accuracyInterval: { low: number; high: number };
  macroF1: number;
  /** Answers outside the label set, when known. */
  invalidAnswers?: number;
  promptTokensMean: number;
  completionTokensMean: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  /** Latency of every example, for the distribution plot. */
  latenciesMs: readonly number[];
}

/** The paired comparison of the candidate against the baseline on the same examples. */
export interface EvalReportComparison {
  baseline: string;
  candidate: string;
  accuracyDifference: EvalReportDifference;
  macroF1Difference: EvalReportDifference;
  /** b01: baseline wrong and candidate right; b10: baseline right and candidate wrong. */
  mcnemar: { b01: number; b10: number; pValue: number };
  bootstrapIterations: number;
  /** Coverage of every interval in the report; default 0.95. */
  confidenceLevel?: number;
}

/** What training produced the adapter. */
export interface EvalReportTraining {
  examples: number;
  steps: number;
  seconds: number;
  tokensPerSecond: number;
  /** Last reported training loss, null when none was reported. */
  finalLoss: number | null;
  lossCurve: readonly { step: number; loss: number }[];
  epochs?: number;
  /** Training examples cut at the maximum sequence length. */
  truncatedExamples?: number;
}

/** Exactly which data, base and adapter produced the numbers. */
export interface EvalReportProvenance {
  /** The eval dataset. */
  dataset: { name: string; contentHash: string; id?: string };
  /** The training dataset, when shown. */
  trainDataset?: { name: string; contentHash: string; id?: string };
  baseModel: { name: string; sha256: string };
  adapter: { id: string; sha256: string };
  evalSample: { size: number; seed: number };
  /** Eval record id and hash, when stored. */
  evaluation?: { id: string; contentHash: string };
}

/** One example where the baseline and the candidate answered differently. */
export interface EvalReportDisagreement {
  input: string;
  gold: string;
  baselineOutput: string;
  candidateOutput: string;
}

/** Everything the HTML report shows; filled by the evaluation pipeline. */
export interface EvalReport {
  title: string;
  /** When the report was made, as displayed (ISO 8601 recommended). */
  createdAt: string;
  task: { name: string; labelCount?: number };
  provenance: EvalReportProvenance;
  /** Baseline first, then the candidate(s). */
  candidates: readonly EvalReportCandidate[];
  comparison: EvalReportComparison;
  training: EvalReportTraining;
  /** Confusion matrix of one candidate (normally the tuned one): gold rows, predicted columns. */
  confusion: { candidate: string; labels: readonly string[]; counts: readonly (readonly number[])[] };
  /** All disagreements (the renderer shows the first `maxDisagreementRows`). */
  disagreements: readonly EvalReportDisagreement[];
  /** Free-text remarks shown at the end, e.g. caveats about the sample. */
  notes?: readonly string[];
}

/** Layout choices for {@link renderEvalReportHtml}. */
export interface RenderEvalReportOptions {
  /** Rows of the disagreement table; default 50. */
  maxDisagreementRows?: number;
  /** Labels in the confusion heatmap (those most involved in confusions); default 20. */
  confusionLabels?: number;
  /** Rows of the most-confused-pairs table; default 12. */
  confusionPairs?: number;
}

/** The four inline SVG plots, in document order (one `<svg>` each). */
export const REPORT_PLOTS = ['accuracy', 'loss-curve', 'latency', 'confusion'] as const;

/** Render the report as one self-contained HTML document. */
export function renderEvalReportHtml(report: EvalReport, options: RenderEvalReportOptions = {}): string {
  const { maxDisagreementRows = 50, confusionLabels = 20, confusionPairs = 12 } = options;
  const confidence = report.comparison.confidenceLevel ?? 0.95;
  const confidenceText = `${formatNumber(confidence * 100, 0)}%`;
  const body = [
    headerSection(report),
    headlineSection(report, confidenceText),
    provenanceSection(report.provenance),
    resultsSection(report.candidates, confidenceText),
    comparisonSection(report.comparison, confidenceText),
    trainingSection(report.training),
    latencySection(report.candidates),
    confusionSection(report.confusion, confusionLabels, confusionPairs),
    disagreementSection(report, maxDisagreementRows),
    methodSection(report, confidenceText),
  ].join('\n');
  return htmlDocument(report.title, STYLE, body);
}

/** A self-contained HTML page: inline style, no scripts, and a Content-Security-Policy that forbids any request. */
export function htmlDocument(title: string, style: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${style}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

/** Escape text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

// ---------------------------------------------------------------------------------------------
// Sections

function headerSection(report: EvalReport): string {
  const labels = report.task.labelCount === undefined ? '' : ` · ${formatInteger(report.task.labelCount)} labels`;
  return `<header>
<h1>${escapeHtml(report.title)}</h1>
<p class="meta">Task <strong>${escapeHtml(report.task.name)}</strong>${labels} · created <time>${escapeHtml(report.createdAt)}</time></p>
</header>`;
}

function headlineSection(report: EvalReport, confidenceText: string): string {
  const { comparison } = report;
  const cards = report.candidates.map(
    (candidate, index) => `<div class="card" style="border-top-color:${colorOf(index)}">
<div class="card-label">${escapeHtml(candidate.name)}</div>
<div class="card-value">${formatPercent(candidate.accuracy)}</div>
<div class="card-note">accuracy, ${confidenceText} CI ${formatPercentRange(candidate.accuracyInterval.low, candidate.accuracyInterval.high)}</div>
</div>`,
  );
  const difference = comparison.accuracyDifference;
  const excludesZero = difference.low > 0 || difference.high < 0;
  cards.push(`<div class="card card-delta">
<div class="card-label">${escapeHtml(comparison.candidate)} − ${escapeHtml(comparison.baseline)}</div>
<div class="card-value">${formatPoints(difference.difference)}</div>
<div class="card-note">${confidenceText} CI ${formatPointsRange(difference.low, difference.high)} · McNemar p = ${formatPValue(comparison.mcnemar.pValue)}</div>
</div>`);
  const verdict = excludesZero
    ? `The ${confidenceText} paired-bootstrap interval for the accuracy difference excludes zero.`
    : `The ${confidenceText} paired-bootstrap interval for the accuracy difference includes zero: this sample does not show a difference.`;
  return `<section id="headline">
<div class="cards">${cards.join('\n')}</div>
<p class="verdict">${verdict}</p>
</section>`;
}

function provenanceSection(provenance: EvalReportProvenance): string {
  const rows: [string, string][] = [
    ['Eval dataset', `${escapeHtml(provenance.dataset.name)}${provenance.dataset.id === undefined ? '' : ` <span class="muted">(${escapeHtml(provenance.dataset.id)})</span>`}`],
    ['Eval dataset content hash', hashCode(provenance.dataset.contentHash)],
  ];
  if (provenance.trainDataset !== undefined) {
    const train = provenance.trainDataset;
    rows.push(['Training dataset', `${escapeHtml(train.name)}${train.id === undefined ? '' : ` <span class="muted">(${escapeHtml(train.id)})</span>`}`]);
    rows.push(['Training dataset content hash', hashCode(train.contentHash)]);
  }
  rows.push(
    ['Base model', escapeHtml(provenance.baseModel.name)],
    ['Base model sha256', hashCode(provenance.baseModel.sha256)],
    ['Adapter', escapeHtml(provenance.adapter.id)],
    ['Adapter sha256', hashCode(provenance.adapter.sha256)],
    ['Eval sample', `${formatInteger(provenance.evalSample.size)} examples, seed ${escapeHtml(String(provenance.evalSample.seed))}`],
  );
  if (provenance.evaluation !== undefined) {
    rows.push(['Evaluation record', `${escapeHtml(provenance.evaluation.id)} · ${hashCode(provenance.evaluation.contentHash)}`]);
  }
  return `<section id="provenance">
<h2>Provenance</h2>
<dl class="facts">${rows.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join('')}</dl>
</section>`;
}

function resultsSection(candidates: readonly EvalReportCandidate[], confidenceText: string): string {
  const showInvalid = candidates.some((candidate) => candidate.invalidAnswers !== undefined);
  const header = ['Candidate', 'n', 'Accuracy', `${confidenceText} CI (Wilson)`, 'Macro-F1', ...(showInvalid ? ['Invalid'] : []), 'Prompt tokens', 'Completion tokens', 'Latency p50', 'Latency p95'];
  const rows = candidates.map((candidate, index) => [
    `<span class="swatch" style="background:${colorOf(index)}"></span>${escapeHtml(candidate.name)}`,
    formatInteger(candidate.n),
    formatPercent(candidate.accuracy),
    formatPercentRange(candidate.accuracyInterval.low, candidate.accuracyInterval.high),
    formatNumber(candidate.macroF1, 3),
    ...(showInvalid ? [candidate.invalidAnswers === undefined ? '—' : formatInteger(candidate.invalidAnswers)] : []),
    formatNumber(candidate.promptTokensMean, 1),
    formatNumber(candidate.completionTokensMean, 1),
    formatMilliseconds(candidate.latencyP50Ms),
    formatMilliseconds(candidate.latencyP95Ms),
  ]);
  return `<section id="results">
<h2>Results per candidate</h2>
${table(header, rows, 'numeric')}
<figure>
${accuracyPlot(candidates, confidenceText)}
<figcaption>Accuracy per candidate; whiskers show the ${confidenceText} Wilson interval. Token counts are means per example; invalid answers fall outside the label set.</figcaption>
</figure>
</section>`;
}

function comparisonSection(comparison: EvalReportComparison, confidenceText: string): string {
  const { accuracyDifference, macroF1Difference, mcnemar } = comparison;
  const rows = [
    ['Accuracy difference', formatPoints(accuracyDifference.difference), formatPointsRange(accuracyDifference.low, accuracyDifference.high)],
    ['Macro-F1 difference', formatSigned(macroF1Difference.difference, 3), `[${formatSigned(macroF1Difference.low, 3)}, ${formatSigned(macroF1Difference.high, 3)}]`],
  ];
  return `<section id="comparison">
<h2>Comparison: ${escapeHtml(comparison.candidate)} vs ${escapeHtml(comparison.baseline)}</h2>
${table(['Paired difference (candidate − baseline)', 'Estimate', `${confidenceText} bootstrap interval`], rows, 'numeric')}
<dl class="facts">
<dt>McNemar exact p-value</dt><dd>${formatPValue(mcnemar.pValue)}</dd>
<dt>b01: ${escapeHtml(comparison.baseline)} wrong, ${escapeHtml(comparison.candidate)} right</dt><dd>${formatInteger(mcnemar.b01)}</dd>
<dt>b10: ${escapeHtml(comparison.baseline)} right, ${escapeHtml(comparison.candidate)} wrong</dt><dd>${formatInteger(mcnemar.b10)}</dd>
<dt>Bootstrap resamples</dt><dd>${formatInteger(comparison.bootstrapIterations)}</dd>
</dl>
</section>`;
}

function trainingSection(training: EvalReportTraining): string {
  const rows: [string, string][] = [
    ['Training examples', formatInteger(training.examples)],
    ...(training.epochs === undefined ? [] : ([['Epochs', formatNumber(training.epochs, 2)]] as [string, string][])),
    ['Optimizer steps', formatInteger(training.steps)],
    ['Wall time', `${formatNumber(training.seconds, 1)} s`],
    ['Throughput', `${formatNumber(training.tokensPerSecond, 1)} tokens/s`],
    ['Final training loss', training.finalLoss === null ? '—' : formatNumber(training.finalLoss, 4)],
    ...(training.truncatedExamples === undefined ? [] : ([['Truncated examples', formatInteger(training.truncatedExamples)]] as [string, string][])),
  ];
  return `<section id="training">
<h2>Training</h2>
<dl class="facts">${rows.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join('')}</dl>
<figure>
${lossPlot(training.lossCurve)}
<figcaption>Training loss by optimizer step (${formatInteger(training.lossCurve.length)} logged points).</figcaption>
</figure>
</section>`;
}

function latencySection(candidates: readonly EvalReportCandidate[]): string {
  return `<section id="latency">
<h2>Latency</h2>
<figure>
${latencyPlot(candidates)}
<figcaption>Per-example latency. Box: quartiles; line: median; whiskers: min to max; diamond: p95; dots: individual examples.</figcaption>
</figure>
</section>`;
}

function confusionSection(confusion: EvalReport['confusion'], labelLimit: number, pairLimit: number): string {
  const pairs = offDiagonalCells(confusion).slice(0, Math.max(0, pairLimit));
  const pairTable =
    pairs.length === 0
      ? '<p class="muted">No confusions: every answer matched its gold label.</p>'
      : table(
          ['Gold label', 'Predicted as', 'Count'],
          pairs.map((pair) => [labelHtml(pair.gold), labelHtml(pair.predicted), formatInteger(pair.count)]),
          'last-numeric',
        );
  const { labels, svg } = confusionHeatmap(confusion, labelLimit);
  const shown = labels.length < confusion.labels.length ? `the ${formatInteger(labels.length)} labels most involved in confusions, of ${formatInteger(confusion.labels.length)}` : `all ${formatInteger(confusion.labels.length)} labels`;
  return `<section id="confusion">
<h2>Confusions of ${escapeHtml(confusion.candidate)}</h2>
<figure>
${svg}
<figcaption>Rows: gold label; columns: predicted label; showing ${shown}. Hover a cell for its count.</figcaption>
</figure>
<h3>Most frequent confusions</h3>
${pairTable}
</section>`;
}

function disagreementSection(report: EvalReport, maxRows: number): string {
  const { baseline, candidate } = report.comparison;
  const shown = report.disagreements.slice(0, Math.max(0, maxRows));
  const caption =
    report.disagreements.length === 0
      ? '<p class="muted">The candidates gave the same answer on every example.</p>'
      : `<p class="muted">${shown.length < report.disagreements.length ? `First ${formatInteger(shown.length)} of ` : ''}${formatInteger(report.disagreements.length)} examples where the answers differ.</p>`;
  const answer = (output: string, gold: string): string => `<span class="${output === gold ? 'right' : 'wrong'}">${labelHtml(output)}</span>`;
  const rows = shown.map((row) => [`<div class="input">${escapeHtml(row.input)}</div>`, labelHtml(row.gold), answer(row.baselineOutput, row.gold), answer(row.candidateOutput, row.gold)]);
  return `<section id="disagreements">
<h2>Where the candidates disagree</h2>
${caption}
${shown.length === 0 ? '' : table(['Input', 'Gold', escapeHtml(baseline), escapeHtml(candidate)], rows, 'examples')}
</section>`;
}

function methodSection(report: EvalReport, confidenceText: string): string {
  const notes = (report.notes ?? []).map((note) => `<li>${escapeHtml(note)}</li>`).join('');
  return `<section id="method">
<h2>How these numbers are computed</h2>
<ul>
<li>Accuracy intervals: Wilson score interval at ${confidenceText}.</li>
<li>Differences: paired percentile bootstrap over examples (${formatInteger(report.comparison.bootstrapIterations)} resamples, the same example indices for both candidates), ${confidenceText} interval.</li>
<li>Macro-F1: unweighted mean of per-label F1 over the union of gold and predicted labels; a label never predicted or never gold scores 0.</li>
<li>McNemar: exact two-sided binomial test on the discordant pairs b01 and b10.</li>
<li>Latency percentiles: linear interpolation between ranks.</li>
${notes}
</ul>
</section>`;
}

// ---------------------------------------------------------------------------------------------
// Plots (inline SVG)

const PLOT_WIDTH = 1000;
const LABEL_WIDTH = 170;
const FONT_CHAR_WIDTH = 6.4;

function accuracyPlot(candidates: readonly EvalReportCandidate[], confidenceText: string): string {
  const rowHeight = 46;
  const top = 16;
  const plotLeft = LABEL_WIDTH;
  const plotRight = PLOT_WIDTH - 210;
  const height = top + Math.max(1, candidates.length) * rowHeight + 34;
  const x = (value: number): number => plotLeft + clamp01(value) * (plotRight - plotLeft);
  const parts: string[] = [];
  for (let tick = 0; tick <= 100; tick += 20) {
    parts.push(`<line class="grid" x1="${coordinate(x(tick / 100))}" x2="${coordinate(x(tick / 100))}" y1="${top - 6}" y2="${height - 28}"/>`);
    parts.push(`<text class="tick" x="${coordinate(x(tick / 100))}" y="${height - 12}" text-anchor="middle">${tick}%</text>`);
  }
  candidates.forEach((candidate, index) => {
    const middle = top + index * rowHeight + rowHeight / 2;
    const color = colorOf(index);
    const low = x(candidate.accuracyInterval.low);
    const high = x(candidate.accuracyInterval.high);
    const point = x(candidate.accuracy);
    const tooltip = `${candidate.name}: ${formatPercent(candidate.accuracy)}, ${confidenceText} CI ${formatPercentRange(candidate.accuracyInterval.low, candidate.accuracyInterval.high)}, n = ${candidate.n}`;
    parts.push(`<g><title>${escapeHtml(tooltip)}</title>
<text class="label" x="${plotLeft - 10}" y="${coordinate(middle + 4)}" text-anchor="end">${escapeHtml(truncate(candidate.name, LABEL_WIDTH - 16))}</text>
<rect x="${plotLeft}" y="${coordinate(middle - 11)}" width="${coordinate(point - plotLeft)}" height="22" fill="${color}" opacity="0.18"/>
<line x1="${coordinate(low)}" x2="${coordinate(high)}" y1="${coordinate(middle)}" y2="${coordinate(middle)}" stroke="${color}" stroke-width="2"/>
<line x1="${coordinate(low)}" x2="${coordinate(low)}" y1="${coordinate(middle - 8)}" y2="${coordinate(middle + 8)}" stroke="${color}" stroke-width="2"/>
<line x1="${coordinate(high)}" x2="${coordinate(high)}" y1="${coordinate(middle - 8)}" y2="${coordinate(middle + 8)}" stroke="${color}" stroke-width="2"/>
<circle cx="${coordinate(point)}" cy="${coordinate(middle)}" r="5.5" fill="${color}"/>
<text class="value" x="${plotRight + 14}" y="${coordinate(middle + 4)}">${formatPercent(candidate.accuracy)} <tspan class="tick">${formatPercentRange(candidate.accuracyInterval.low, candidate.accuracyInterval.high)}</tspan></text>
</g>`);
  });
  return svgElement('accuracy', height, 'Accuracy per candidate with confidence intervals', parts.join('\n'));
}

function lossPlot(curve: readonly { step: number; loss: number }[]): string {
  const height = 280;
  const points = curve.filter((point) => Number.isFinite(point.step) && Number.isFinite(point.loss));
  if (points.length === 0) return svgElement('loss-curve', 80, 'Training loss curve', `<text class="empty" x="${PLOT_WIDTH / 2}" y="44" text-anchor="middle">No training loss was logged.</text>`);
  const left = 64;
  const right = PLOT_WIDTH - 24;
  const top = 16;
  const bottom = height - 44;
  const steps = points.map((point) => point.step);
  const losses = points.map((point) => point.loss);
  const xTicks = niceTicks(Math.min(...steps), Math.max(...steps), 8);
  const yTicks = niceTicks(Math.min(0, Math.min(...losses)), Math.max(...losses), 5);
  const xScale = linearScale(xTicks[0]!, xTicks[xTicks.length - 1]!, left, right);
  const yScale = linearScale(yTicks[0]!, yTicks[yTicks.length - 1]!, bottom, top);
  const parts: string[] = [];
  for (const tick of yTicks) {
    parts.push(`<line class="grid" x1="${left}" x2="${right}" y1="${coordinate(yScale(tick))}" y2="${coordinate(yScale(tick))}"/>`);
    parts.push(`<text class="tick" x="${left - 8}" y="${coordinate(yScale(tick) + 4)}" text-anchor="end">${formatTick(tick)}</text>`);
  }
  for (const tick of xTicks) {
    parts.push(`<text class="tick" x="${coordinate(xScale(tick))}" y="${bottom + 18}" text-anchor="middle">${formatTick(tick)}</text>`);
  }
  parts.push(`<line class="axis" x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}"/>`);
  parts.push(`<text class="axis-title" x="${(left + right) / 2}" y="${height - 6}" text-anchor="middle">step</text>`);
  parts.push(`<text class="axis-title" transform="translate(16 ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle">loss</text>`);
  const path = points.map((point) => `${coordinate(xScale(point.step))},${coordinate(yScale(point.loss))}`).join(' ');
  parts.push(`<polyline points="${path}" fill="none" stroke="${colorOf(1)}" stroke-width="2" stroke-linejoin="round"/>`);
  const everyNth = Math.max(1, Math.ceil(points.length / 80));
  points.forEach((point, index) => {
    if (index % everyNth !== 0 && index !== points.length - 1) return;
    parts.push(`<circle cx="${coordinate(xScale(point.step))}" cy="${coordinate(yScale(point.loss))}" r="3" fill="${colorOf(1)}"><title>step ${formatInteger(point.step)}: loss ${formatNumber(point.loss, 4)}</title></circle>`);
  });
  return svgElement('loss-curve', height, 'Training loss curve', parts.join('\n'));
}

function latencyPlot(candidates: readonly EvalReportCandidate[]): string {
  const rowHeight = 64;
  const top = 12;
  const left = LABEL_WIDTH;
  const right = PLOT_WIDTH - 24;
  const series = candidates.map((candidate) => candidate.latenciesMs.filter((value) => Number.isFinite(value)));
  const all = series.flat();
  if (all.length === 0) return svgElement('latency', 80, 'Latency distribution per candidate', `<text class="empty" x="${PLOT_WIDTH / 2}" y="44" text-anchor="middle">No latencies were recorded.</text>`);
  const height = top + candidates.length * rowHeight + 44;
  const ticks = niceTicks(Math.min(0, Math.min(...all)), Math.max(...all), 7);
  const scale = linearScale(ticks[0]!, ticks[ticks.length - 1]!, left, right);
  const bottom = height - 36;
  const parts: string[] = [];
  for (const tick of ticks) {
    parts.push(`<line class="grid" x1="${coordinate(scale(tick))}" x2="${coordinate(scale(tick))}" y1="${top}" y2="${bottom}"/>`);
    parts.push(`<text class="tick" x="${coordinate(scale(tick))}" y="${bottom + 16}" text-anchor="middle">${formatTick(tick)}</text>`);
  }
  parts.push(`<text class="axis-title" x="${(left + right) / 2}" y="${height - 4}" text-anchor="middle">milliseconds</text>`);
  candidates.forEach((candidate, index) => {
    const values = series[index]!;
    const middle = top + index * rowHeight + rowHeight / 2;
    const color = colorOf(index);
    parts.push(`<text class="label" x="${left - 10}" y="${coordinate(middle + 4)}" text-anchor="end">${escapeHtml(truncate(candidate.name, LABEL_WIDTH - 16))}</text>`);
    if (values.length === 0) {
      parts.push(`<text class="empty" x="${left + 8}" y="${coordinate(middle + 4)}">no data</text>`);
      return;
    }
    const [minimum, q1, median, q3, p95, maximum] = [0, 25, 50, 75, 95, 100].map((point) => scale(percentile(values, point))) as [number, number, number, number, number, number];
    const stride = Math.max(1, Math.ceil(values.length / 400));
    values.forEach((value, position) => {
      if (position % stride !== 0) return;
      const jitter = (((position * 2654435761) >>> 0) / 4294967296 - 0.5) * 30;
      parts.push(`<circle cx="${coordinate(scale(value))}" cy="${coordinate(middle + jitter)}" r="2" fill="${color}" opacity="0.28"/>`);
    });
    const tooltip = `${candidate.name}: p50 ${formatMilliseconds(candidate.latencyP50Ms)}, p95 ${formatMilliseconds(candidate.latencyP95Ms)}, n = ${values.length}`;
    parts.push(`<g><title>${escapeHtml(tooltip)}</title>
<line x1="${coordinate(minimum)}" x2="${coordinate(q1)}" y1="${coordinate(middle)}" y2="${coordinate(middle)}" stroke="${color}" stroke-width="1.5"/>
<line x1="${coordinate(q3)}" x2="${coordinate(maximum)}" y1="${coordinate(middle)}" y2="${coordinate(middle)}" stroke="${color}" stroke-width="1.5"/>
<line x1="${coordinate(minimum)}" x2="${coordinate(minimum)}" y1="${coordinate(middle - 7)}" y2="${coordinate(middle + 7)}" stroke="${color}" stroke-width="1.5"/>
<line x1="${coordinate(maximum)}" x2="${coordinate(maximum)}" y1="${coordinate(middle - 7)}" y2="${coordinate(middle + 7)}" stroke="${color}" stroke-width="1.5"/>
<rect x="${coordinate(q1)}" y="${coordinate(middle - 13)}" width="${coordinate(Math.max(1, q3 - q1))}" height="26" fill="${color}" fill-opacity="0.22" stroke="${color}" stroke-width="1.5"/>
<line x1="${coordinate(median)}" x2="${coordinate(median)}" y1="${coordinate(middle - 13)}" y2="${coordinate(middle + 13)}" stroke="${color}" stroke-width="3"/>
<path d="M${coordinate(p95)} ${coordinate(middle - 19)} l5 5 l-5 5 l-5 -5 z" fill="${color}"/>
</g>`);
  });
  return svgElement('latency', height, 'Latency distribution per candidate', parts.join('\n'));
}

function confusionHeatmap(confusion: EvalReport['confusion'], labelLimit: number): { labels: string[]; svg: string } {
  const involvement = confusion.labels.map((label, index) => {
    let count = 0;
    confusion.labels.forEach((_, other) => {
      if (other !== index) count += (confusion.counts[index]?.[other] ?? 0) + (confusion.counts[other]?.[index] ?? 0);
    });
    return { label, index, count };
  });
  const chosen = involvement
    .filter((entry) => entry.count > 0)
    .sort((left, right) => right.count - left.count || left.index - right.index)
    .slice(0, Math.max(0, labelLimit))
    .sort((left, right) => left.index - right.index);
  if (chosen.length === 0) {
    return { labels: [], svg: svgElement('confusion', 80, 'Confusion matrix heatmap', `<text class="empty" x="${PLOT_WIDTH / 2}" y="44" text-anchor="middle">No confusions to show.</text>`) };
  }
  const cell = Math.max(14, Math.min(36, Math.floor(560 / chosen.length)));
  const rowLabelWidth = 200;
  const columnLabelHeight = 150;
  const left = rowLabelWidth;
  const top = columnLabelHeight;
  const width = Math.max(PLOT_WIDTH, left + chosen.length * cell + 40);
  const height = top + chosen.length * cell + 16;
  const countAt = (row: number, column: number): number => confusion.counts[row]?.[column] ?? 0;
  let maxOff = 0;
  let maxDiagonal = 0;
  for (const row of chosen) {
    for (const column of chosen) {
      const count = countAt(row.index, column.index);
      if (row.index === column.index) maxDiagonal = Math.max(maxDiagonal, count);
      else maxOff = Math.max(maxOff, count);
    }
  }
  const parts: string[] = [];
  chosen.forEach((column, position) => {
    const x = left + position * cell + cell / 2 + 4;
    parts.push(`<text class="tick" transform="translate(${coordinate(x)} ${top - 6}) rotate(-55)">${escapeHtml(truncate(column.label, columnLabelHeight * 1.15))}<title>${escapeHtml(column.label)}</title></text>`);
  });
  chosen.forEach((row, rowPosition) => {
    const y = top + rowPosition * cell;
    parts.push(`<text class="tick" x="${left - 6}" y="${coordinate(y + cell / 2 + 4)}" text-anchor="end">${escapeHtml(truncate(row.label, rowLabelWidth - 12))}<title>${escapeHtml(row.label)}</title></text>`);
    chosen.forEach((column, columnPosition) => {
      const count = countAt(row.index, column.index);
      const diagonal = row.index === column.index;
      const strength = count === 0 ? 0 : Math.sqrt(count / Math.max(1, diagonal ? maxDiagonal : maxOff));
      const fill = count === 0 ? '#f7f7f9' : diagonal ? mixColor([230, 244, 236], [27, 122, 72], strength) : mixColor([253, 236, 225], [196, 62, 28], strength);
      const x = left + columnPosition * cell;
      const tooltip = `gold ${row.label} → predicted ${column.label}: ${count}`;
      const text = count > 0 && cell >= 18 ? `<text class="cell" x="${coordinate(x + cell / 2)}" y="${coordinate(y + cell / 2 + 4)}" text-anchor="middle" fill="${strength > 0.6 ? '#fff' : '#222'}">${count}</text>` : '';
      parts.push(`<g><title>${escapeHtml(tooltip)}</title><rect x="${coordinate(x)}" y="${coordinate(y)}" width="${cell - 1}" height="${cell - 1}" fill="${fill}"/>${text}</g>`);
    });
  });
  return { labels: chosen.map((entry) => entry.label), svg: svgElement('confusion', height, 'Confusion matrix heatmap', parts.join('\n'), width) };
}

function offDiagonalCells(confusion: EvalReport['confusion']): { gold: string; predicted: string; count: number }[] {
  const cells: { gold: string; predicted: string; count: number; order: number }[] = [];
  confusion.labels.forEach((gold, row) => {
    confusion.labels.forEach((predicted, column) => {
      const count = confusion.counts[row]?.[column] ?? 0;
      if (row !== column && count > 0) cells.push({ gold, predicted, count, order: row * confusion.labels.length + column });
    });
  });
  return cells.sort((left, right) => right.count - left.count || left.order - right.order).map(({ gold, predicted, count }) => ({ gold, predicted, count }));
}

function svgElement(id: (typeof REPORT_PLOTS)[number], height: number, title: string, content: string, width = PLOT_WIDTH): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" id="plot-${id}" class="plot" viewBox="0 0 ${coordinate(width)} ${coordinate(height)}" width="${coordinate(width)}" height="${coordinate(height)}" role="img" aria-label="${escapeHtml(title)}">
<title>${escapeHtml(title)}</title>
${content}
</svg>`;
}

// ---------------------------------------------------------------------------------------------
// Helpers

const PALETTE = ['#6b7a90', '#2f6fdf', '#d9822b', '#8a4fd0', '#1f9d74', '#c23b5a', '#0f8fa8', '#9a6b16'];

/** The report palette's color for series `index` (0: baseline grey, 1: blue, ...). */
export function colorOf(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}

export function mixColor(from: readonly number[], to: readonly number[], amount: number): string {
  const channel = (index: number): string =>
    Math.round(from[index]! + (to[index]! - from[index]!) * clamp01(amount))
      .toString(16)
      .padStart(2, '0');
  return `#${channel(0)}${channel(1)}${channel(2)}`;
}

/** A table of HTML cells (the caller escapes them). */
export function table(header: readonly string[], rows: readonly (readonly string[])[], className: string): string {
  return `<div class="table-wrap"><table class="${className}">
<thead><tr>${header.map((cell) => `<th>${cell}</th>`).join('')}</tr></thead>
<tbody>
${rows.map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`).join('\n')}
</tbody>
</table></div>`;
}

/** A label, escaped, with line-break opportunities after underscores and slashes (snake_case labels are long). */
export function labelHtml(label: string): string {
  return escapeHtml(label).replace(/([_/])/g, '$1<wbr>');
}

export function hashCode(hash: string): string {
  return `<code class="hash">${escapeHtml(hash)}</code>`;
}

/** Cut text to roughly `pixels` wide at the plot font size, with an ellipsis. */
export function truncate(text: string, pixels: number): string {
  const characters = Math.max(4, Math.floor(pixels / FONT_CHAR_WIDTH));
  return text.length <= characters ? text : `${text.slice(0, characters - 1)}…`;
}

/** Round ticks (1, 2, 5 × 10^k steps) covering [low, high]. */
export function niceTicks(low: number, high: number, count: number): number[] {
  if (!Number.isFinite(low) || !Number.isFinite(high)) return [0, 1];
  if (high <= low) {
    const pad = low === 0 ? 1 : Math.abs(low) * 0.1;
    return niceTicks(low - pad, high + pad, count);
  }
  const rough = (high - low) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= rough) ?? 10 * magnitude;
  const first = Math.floor(low / step) * step;
  const ticks: number[] = [];
  for (let value = first; value <= high + step * 1e-9; value += step) ticks.push(Number(value.toPrecision(12)));
  if (ticks[ticks.length - 1]! < high) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks.length >= 2 ? ticks : [first, first + step];
}

export function linearScale(domainLow: number, domainHigh: number, rangeLow: number, rangeHigh: number): (value: number) => number {
  const span = domainHigh - domainLow;
  return (value) => (span === 0 ? (rangeLow + rangeHigh) / 2 : rangeLow + ((value - domainLow) / span) * (rangeHigh - rangeLow));
}

function clamp01(value: number): number {
  return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}

/** An SVG coordinate: finite and short (never "NaN" in the markup). */
export function coordinate(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value * 10) / 10) : '0';
}

export function formatNumber(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '—';
}

export function formatInteger(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return Math.round(value)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatTick(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (Math.abs(value) >= 1000) return formatInteger(value);
  return String(Number(value.toPrecision(6)));
}

export function formatPercent(value: number): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(1)}%` : '—';
}

function formatPercentRange(low: number, high: number): string {
  return `[${formatPercent(low)}, ${formatPercent(high)}]`;
}

export function formatSigned(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '—';
  const text = Math.abs(value).toFixed(digits);
  if (Number(text) === 0) return text;
  return `${value < 0 ? '−' : '+'}${text}`;
}

/** A difference of proportions in percentage points. */
function formatPoints(value: number): string {
  return Number.isFinite(value) ? `${formatSigned(value * 100, 1)} pp` : '—';
}

function formatPointsRange(low: number, high: number): string {
  return `[${formatSigned(low * 100, 1)}, ${formatSigned(high * 100, 1)}] pp`;
}

export function formatPValue(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (value === 0) return '&lt; 1e-300';
  if (value >= 0.001) return String(Number(value.toPrecision(3)));
  return value.toExponential(2);
}

export function formatMilliseconds(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return value < 100 ? `${value.toFixed(1)} ms` : `${formatInteger(value)} ms`;
}

/** The report stylesheet (inline CSS), shared by the run report. */
export const STYLE = `
:root { color-scheme: light; --ink: #1d2330; --muted: #5f6b7a; --line: #e3e6eb; --panel: #f7f8fa; --accent: #2f6fdf; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 32px 28px 64px; }
header h1 { margin: 0 0 4px; font-size: 28px; letter-spacing: -0.01em; }
.meta { margin: 0; color: var(--muted); }
h2 { margin: 40px 0 12px; font-size: 20px; border-bottom: 1px solid var(--line); padding-bottom: 6px; }
h3 { margin: 24px 0 8px; font-size: 16px; }
section { break-inside: avoid-page; }
.cards { display: flex; flex-wrap: wrap; gap: 14px; margin-top: 24px; }
.card { flex: 1 1 220px; background: var(--panel); border: 1px solid var(--line); border-top: 4px solid var(--accent); border-radius: 8px; padding: 14px 16px; }
.card-delta { border-top-color: #1d2330; }
.card-label { color: var(--muted); font-size: 13px; font-weight: 600; overflow-wrap: anywhere; }
.card-value { font-size: 30px; font-weight: 700; font-variant-numeric: tabular-nums; }
.card-note { color: var(--muted); font-size: 13px; }
.verdict { margin: 12px 0 0; color: var(--ink); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
code.hash { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--panel); padding: 1px 5px; border-radius: 4px; word-break: break-all; }
.muted { color: var(--muted); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
table.numeric { font-size: 13.5px; }
.table-wrap + dl.facts { margin-top: 16px; }
th, td { text-align: left; padding: 7px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; font-size: 13px; color: #3a4352; }
table.numeric td:not(:first-child), table.numeric th:not(:first-child) { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.numeric td:first-child { white-space: nowrap; }
table.numeric th { white-space: normal; }
table.last-numeric td:last-child, table.last-numeric th:last-child { text-align: right; font-variant-numeric: tabular-nums; }
table.examples td { overflow-wrap: break-word; }
table.examples td:first-child { width: 44%; overflow-wrap: anywhere; }
table.examples .input { max-height: 9em; overflow: auto; white-space: pre-wrap; }
.right { color: #1b7a48; font-weight: 600; }
.wrong { color: #b3361b; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 7px; vertical-align: baseline; }
figure { margin: 18px 0 0; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
svg.plot { display: block; max-width: 100%; height: auto; font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
svg .grid { stroke: #eceef2; stroke-width: 1; }
svg .axis { stroke: #9aa3ae; stroke-width: 1; }
svg .tick { font-size: 11px; fill: #5f6b7a; }
svg .label { font-size: 13px; fill: #1d2330; font-weight: 600; }
svg .value { font-size: 13px; fill: #1d2330; font-variant-numeric: tabular-nums; }
svg .axis-title { font-size: 12px; fill: #5f6b7a; }
svg .cell { font-size: 10.5px; font-variant-numeric: tabular-nums; }
svg .empty { font-size: 14px; fill: #5f6b7a; }
#method ul { padding-left: 20px; color: #3a4352; }
@media print { main { padding: 0; } h2 { break-after: avoid; } }
`;
