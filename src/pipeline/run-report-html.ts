/**
 * One training run as a self-contained HTML file, in the style of the evaluation report: inline CSS
 * and SVG, no scripts or network requests, every stored string HTML-escaped. It shows what the run
 * was (status, hashes, settings, data and base), how it went (training and validation loss by step,
 * validation accuracy) and what it left (checkpoints, adapter files).
 */
import {
  colorOf,
  coordinate,
  escapeHtml,
  formatInteger,
  formatNumber,
  formatPercent,
  formatTick,
  hashCode,
  linearScale,
  niceTicks,
  htmlDocument,
  STYLE as REPORT_STYLE,
  table,
} from './report-html.ts';
import type { RunDescription } from './run-records.ts';

/** The inline SVG plots, by id (`plot-<id>`); `validation-accuracy` only when some validation measured accuracy. */
export const RUN_REPORT_PLOTS = ['loss', 'validation-accuracy'] as const;

/** The series of the loss plot, by `data-series` attribute. */
export const LOSS_SERIES = { train: 'train-loss', validation: 'validation-loss' } as const;

export interface RenderRunReportOptions {
  /** When the report was made, as displayed; omitted when absent (keeps the output a function of the run). */
  createdAt?: string;
}

/** Render the run report as one self-contained HTML document. */
export function renderRunReportHtml(run: RunDescription, options: RenderRunReportOptions = {}): string {
  const title = `Training run ${run.id}`;
  const body = [
    headerSection(run, title, options.createdAt),
    cardsSection(run),
    errorSection(run),
    provenanceSection(run),
    configurationSection(run),
    curvesSection(run),
    checkpointsSection(run),
    artifactsSection(run),
  ].join('\n');
  return htmlDocument(title, REPORT_STYLE + RUN_STYLE, body);
}

// ---------------------------------------------------------------------------------------------
// Sections

function headerSection(run: RunDescription, title: string, createdAt: string | undefined): string {
  const finished = run.finishedAt === null ? '' : ` · finished <time>${escapeHtml(run.finishedAt)}</time>`;
  const created = createdAt === undefined ? '' : ` · report made <time>${escapeHtml(createdAt)}</time>`;
  return `<header>
<h1>${escapeHtml(title)}</h1>
<p class="meta"><span class="status status-${escapeHtml(run.status)}">${escapeHtml(run.status)}</span> · method <strong>${escapeHtml(run.method)}</strong> · started <time>${escapeHtml(run.startedAt)}</time>${finished}${created}</p>
<dl class="facts hashes">
<dt>Spec hash</dt><dd>${hashCode(run.spec.hash)}</dd>
<dt>Training data hash</dt><dd>${optionalHash(run.dataset.contentHash)}</dd>
<dt>Base sha256</dt><dd>${hashCode(run.base.sha256)}</dd>
<dt>Chat template sha256</dt><dd>${optionalHash(run.chatTemplate.sha256)}</dd>
<dt>Adapter (GGUF) sha256</dt><dd>${run.adapter === null ? '<span class="muted">none: the run registered no adapter</span>' : hashCode(run.adapter.ggufSha256)}</dd>
</dl>
</header>`;
}

function cardsSection(run: RunDescription): string {
  const steps = run.steps.completed === null ? '—' : `${formatInteger(run.steps.completed)}${run.steps.total === null ? '' : ` / ${formatInteger(run.steps.total)}`}`;
  const best = run.best === null ? '—' : optionalNumber(run.best.evalLoss, 4);
  const bestNote = run.best === null ? (run.validationCurve.length === 0 ? 'no validation' : 'no best marked') : `at step ${formatInteger(run.best.step)}`;
  const cards: [string, string, string][] = [
    ['Optimizer steps', steps, [run.stoppedEarly === true ? 'stopped early' : 'completed / planned', run.resumedFromStep === null ? null : `resumed from step ${formatInteger(run.resumedFromStep)}`].filter((part) => part !== null).join(', ')],
    ['Final training loss', optionalNumber(run.finalLoss, 4), run.trainLoss === null || run.trainLoss === run.finalLoss ? 'last logged value' : `the worker reported ${formatNumber(run.trainLoss, 4)}`],
    ['Best validation loss', best, bestNote],
    ['Duration', run.durationSeconds === null ? '—' : formatDuration(run.durationSeconds), run.tokensPerSecond === null ? '' : `${formatNumber(run.tokensPerSecond, 1)} tokens/s`],
  ];
  return `<div class="cards">
${cards.map(([label, value, note]) => `<div class="card"><div class="card-label">${escapeHtml(label)}</div><div class="card-value">${value}</div><div class="card-note">${escapeHtml(note)}</div></div>`).join('\n')}
</div>`;
}

function errorSection(run: RunDescription): string {
  if (run.error === null) return '';
  const type = run.error.errorType === null ? '' : `<p class="muted">${escapeHtml(run.error.errorType)}</p>`;
  return `<section id="error">
<h2>Why the run ${run.status === 'interrupted' ? 'was interrupted' : 'failed'}</h2>
${type}<pre class="error">${escapeHtml(run.error.message)}</pre>
</section>`;
}

function provenanceSection(run: RunDescription): string {
  const { dataset, base, chatTemplate, worker } = run;
  const rows: [string, string][] = [
    ['Training dataset', `${escapeHtml(dataset.name ?? 'unknown')} <span class="muted">(${escapeHtml(dataset.id)}${dataset.role === null ? '' : `, ${escapeHtml(dataset.role)}`})</span>`],
    ['Examples', dataset.exampleCount === null ? '—' : formatInteger(dataset.exampleCount)],
    ['Dataset content hash', optionalHash(dataset.contentHash)],
    ['Base model', escapeHtml(base.name ?? 'not registered in this workspace')],
    ['Base model file', base.path === null ? '—' : `<code>${escapeHtml(base.path)}</code>`],
    ['Base model sha256', hashCode(base.sha256)],
    ['Loaded by the worker as', base.ref === null ? '—' : escapeHtml(describeBaseRef(base.ref))],
    ['Chat template', `${escapeHtml(chatTemplate.origin ?? 'unknown origin')} · ${optionalHash(chatTemplate.sha256)}`],
  ];
  if (worker !== null) rows.push(['Worker', escapeHtml(describeWorker(worker) || '—')]);
  return `<section id="provenance">
<h2>Data and base</h2>
${facts(rows)}
</section>`;
}

function configurationSection(run: RunDescription): string {
  const blocks: string[] = [];
  const settingsTable = (heading: string, settings: Record<string, unknown> | null): void => {
    if (settings === null) return;
    const rows = flattenSettings(settings).map(([key, value]) => [`<code>${escapeHtml(key)}</code>`, escapeHtml(value)]);
    blocks.push(`<h3>${escapeHtml(heading)}</h3>\n${rows.length === 0 ? '<p class="muted">None.</p>' : table(['Setting', 'Value'], rows, 'settings')}`);
  };
  settingsTable('LoRA', run.spec.lora);
  settingsTable('Training', run.spec.training);
  if (Object.keys(run.spec.extra).length > 0) settingsTable('Other', run.spec.extra);
  if (blocks.length === 0) blocks.push('<p class="muted">The stored spec holds no LoRA or training settings.</p>');
  if (run.chatTemplate.source !== null) {
    blocks.push(`<details><summary>Chat template (${formatInteger(run.chatTemplate.source.length)} characters)</summary><pre class="template">${escapeHtml(run.chatTemplate.source)}</pre></details>`);
  }
  return `<section id="configuration">
<h2>Configuration</h2>
${blocks.join('\n')}
</section>`;
}

function curvesSection(run: RunDescription): string {
  const validationLoss = run.validationCurve.flatMap((point) => (point.evalLoss === null ? [] : [{ step: point.step, loss: point.evalLoss }]));
  const accuracy = run.validationCurve.flatMap((point) => (point.accuracy === null ? [] : [{ step: point.step, accuracy: point.accuracy, sample: point.accuracySample }]));
  const bestStep = run.best?.step ?? null;
  // Both plots share one step axis, so a validation can be read against the training curve above it.
  const steps = [...run.lossCurve, ...run.validationCurve].map((point) => point.step);
  const lossCaption = `Training loss by optimizer step (${formatInteger(run.lossCurve.length)} logged points)${validationLoss.length === 0 ? '; no validation loss was recorded' : ` and validation loss (${formatInteger(validationLoss.length)} validations)`}${bestStep === null ? '' : `; the dashed line marks the best step, ${formatInteger(bestStep)}`}.`;
  const parts = [
    `<figure>
${lossPlot(run.lossCurve, validationLoss, bestStep)}
<figcaption>${escapeHtml(lossCaption)}</figcaption>
</figure>`,
  ];
  if (accuracy.length > 0) {
    parts.push(`<figure>
${accuracyPlot(accuracy, steps, bestStep)}
<figcaption>Validation accuracy by step, on the sampled validation examples (hover a point for its sample size).</figcaption>
</figure>`);
  }
  if (run.validationCurve.length > 0) {
    const rows = run.validationCurve.map((point) => [
      formatInteger(point.step),
      optionalNumber(point.evalLoss, 4),
      point.accuracy === null ? '—' : formatPercent(point.accuracy),
      point.accuracySample === null ? '—' : formatInteger(point.accuracySample),
      point.step === bestStep ? '<strong>best</strong>' : point.best ? 'best so far' : '',
    ]);
    parts.push(`<h3>Validations</h3>\n${table(['Step', 'Validation loss', 'Accuracy', 'Accuracy sample', ''], rows, 'numeric')}`);
  }
  return `<section id="curves">
<h2>Loss</h2>
${parts.join('\n')}
</section>`;
}

function checkpointsSection(run: RunDescription): string {
  const content =
    run.checkpoints.length === 0
      ? '<p class="muted">No checkpoints were recorded.</p>'
      : table(['Step', 'Path', ''], run.checkpoints.map((checkpoint) => [formatInteger(checkpoint.step), `<code>${escapeHtml(checkpoint.path)}</code>`, checkpoint.best ? '<strong>best</strong>' : '']), 'checkpoints');
  return `<section id="checkpoints">
<h2>Checkpoints</h2>
${content}
</section>`;
}

function artifactsSection(run: RunDescription): string {
  const parts: string[] = [];
  if (run.adapter === null) {
    parts.push('<p class="muted">No adapter was registered for this run.</p>');
  } else {
    const { adapter } = run;
    parts.push(facts([
      ['Adapter id', escapeHtml(adapter.id)],
      ['GGUF LoRA (llama.cpp)', `<code>${escapeHtml(adapter.ggufPath)}</code>`],
      ['GGUF sha256', hashCode(adapter.ggufSha256)],
      ['PEFT adapter folder', `<code>${escapeHtml(adapter.peftPath)}</code>`],
      ['PEFT sha256', hashCode(adapter.peftSha256)],
      ['Registered', `<time>${escapeHtml(adapter.createdAt)}</time>`],
    ]));
  }
  if (run.reportedArtifacts.length > 0) {
    const registered: Record<string, string | undefined> = { 'gguf-lora': run.adapter?.ggufSha256, 'peft-adapter': run.adapter?.peftSha256 };
    const rows = run.reportedArtifacts.map((artifact) => {
      const expected = registered[artifact.kind];
      const check = expected === undefined ? '' : expected === artifact.sha256 ? '<span class="right">matches the adapter</span>' : '<span class="wrong">differs from the adapter</span>';
      return [escapeHtml(artifact.kind), hashCode(artifact.sha256), check];
    });
    parts.push(`<h3>Reported by the worker</h3>\n${table(['Artifact', 'sha256', ''], rows, 'artifacts')}`);
  }
  return `<section id="artifacts">
<h2>Artifacts</h2>
${parts.join('\n')}
</section>`;
}

// ---------------------------------------------------------------------------------------------
// Plots (inline SVG)

const PLOT_WIDTH = 1000;
const TRAIN_COLOR = colorOf(1);
const VALIDATION_COLOR = colorOf(2);
const ACCURACY_COLOR = colorOf(4);

/** Training and validation loss on one step axis, with a legend and the best step marked. */
function lossPlot(train: readonly { step: number; loss: number }[], validation: readonly { step: number; loss: number }[], bestStep: number | null): string {
  const title = 'Training and validation loss by step';
  if (train.length === 0 && validation.length === 0) return svgElement('loss', 80, title, emptyText('No loss was logged.'));
  const height = 300;
  const frame = { left: 64, right: PLOT_WIDTH - 24, top: 40, bottom: height - 44 };
  const steps = [...train, ...validation].map((point) => point.step);
  const losses = [...train, ...validation].map((point) => point.loss);
  const axes = stepAxes(frame, steps, niceTicks(Math.min(0, Math.min(...losses)), Math.max(...losses), 5), formatTick, 'loss', height);
  const parts = [...axes.parts];
  if (bestStep !== null) parts.push(bestMarker(axes.x(bestStep), frame));
  const series: { name: string; label: string; color: string; points: readonly { step: number; loss: number }[]; markers: boolean }[] = [
    { name: LOSS_SERIES.train, label: 'training loss', color: TRAIN_COLOR, points: train, markers: train.length <= 80 },
    { name: LOSS_SERIES.validation, label: 'validation loss', color: VALIDATION_COLOR, points: validation, markers: true },
  ];
  const shown = series.filter((entry) => entry.points.length > 0);
  for (const entry of shown) {
    parts.push(polyline(entry.name, entry.color, entry.points.map((point) => [axes.x(point.step), axes.y(point.loss)])));
    if (entry.markers) {
      for (const point of entry.points) {
        parts.push(`<circle cx="${coordinate(axes.x(point.step))}" cy="${coordinate(axes.y(point.loss))}" r="3" fill="${entry.color}"><title>step ${formatInteger(point.step)}: ${entry.label} ${formatNumber(point.loss, 4)}</title></circle>`);
      }
    }
  }
  parts.push(legend(shown.map((entry) => ({ label: entry.label, color: entry.color })), frame.left, 18));
  return svgElement('loss', height, title, parts.join('\n'));
}

/** Validation accuracy (0–100%) by step. */
function accuracyPlot(points: readonly { step: number; accuracy: number; sample: number | null }[], steps: readonly number[], bestStep: number | null): string {
  const height = 210;
  const frame = { left: 64, right: PLOT_WIDTH - 24, top: 16, bottom: height - 44 };
  const axes = stepAxes(frame, steps, [0, 0.25, 0.5, 0.75, 1], (tick) => `${Math.round(tick * 100)}%`, 'accuracy', height);
  const parts = [...axes.parts];
  if (bestStep !== null) parts.push(bestMarker(axes.x(bestStep), frame));
  parts.push(polyline('validation-accuracy', ACCURACY_COLOR, points.map((point) => [axes.x(point.step), axes.y(point.accuracy)])));
  for (const point of points) {
    const sample = point.sample === null ? '' : ` (n = ${formatInteger(point.sample)})`;
    parts.push(`<circle cx="${coordinate(axes.x(point.step))}" cy="${coordinate(axes.y(point.accuracy))}" r="3.5" fill="${ACCURACY_COLOR}"><title>step ${formatInteger(point.step)}: accuracy ${formatPercent(point.accuracy)}${sample}</title></circle>`);
  }
  return svgElement('validation-accuracy', height, 'Validation accuracy by step', parts.join('\n'));
}

interface Frame {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** Grid, ticks and axis titles for a plot with optimizer steps across. */
function stepAxes(frame: Frame, steps: readonly number[], yTicks: readonly number[], yLabel: (tick: number) => string, yTitle: string, height: number) {
  const xTicks = niceTicks(Math.min(...steps), Math.max(...steps), 8);
  const x = linearScale(xTicks[0]!, xTicks[xTicks.length - 1]!, frame.left, frame.right);
  const y = linearScale(yTicks[0]!, yTicks[yTicks.length - 1]!, frame.bottom, frame.top);
  const parts: string[] = [];
  for (const tick of yTicks) {
    parts.push(`<line class="grid" x1="${frame.left}" x2="${frame.right}" y1="${coordinate(y(tick))}" y2="${coordinate(y(tick))}"/>`);
    parts.push(`<text class="tick" x="${frame.left - 8}" y="${coordinate(y(tick) + 4)}" text-anchor="end">${escapeHtml(yLabel(tick))}</text>`);
  }
  for (const tick of xTicks) parts.push(`<text class="tick" x="${coordinate(x(tick))}" y="${frame.bottom + 18}" text-anchor="middle">${formatTick(tick)}</text>`);
  parts.push(`<line class="axis" x1="${frame.left}" x2="${frame.right}" y1="${frame.bottom}" y2="${frame.bottom}"/>`);
  parts.push(`<text class="axis-title" x="${(frame.left + frame.right) / 2}" y="${height - 6}" text-anchor="middle">step</text>`);
  parts.push(`<text class="axis-title" transform="translate(16 ${(frame.top + frame.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(yTitle)}</text>`);
  return { x, y, parts };
}

function polyline(series: string, color: string, points: readonly [number, number][]): string {
  const list = points.map(([x, y]) => `${coordinate(x)},${coordinate(y)}`).join(' ');
  return `<polyline class="series" data-series="${series}" data-points="${points.length}" points="${list}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>`;
}

function bestMarker(x: number, frame: Frame): string {
  return `<g class="best"><line x1="${coordinate(x)}" x2="${coordinate(x)}" y1="${frame.top}" y2="${frame.bottom}" stroke="#1d2330" stroke-width="1" stroke-dasharray="4 4"/><text class="tick" x="${coordinate(x + 4)}" y="${frame.top + 10}">best</text></g>`;
}

function legend(entries: readonly { label: string; color: string }[], left: number, y: number): string {
  let x = left;
  const items = entries.map((entry) => {
    const item = `<g><line x1="${x}" x2="${x + 22}" y1="${y - 4}" y2="${y - 4}" stroke="${entry.color}" stroke-width="3"/><text class="legend" x="${x + 28}" y="${y}">${escapeHtml(entry.label)}</text></g>`;
    x += 28 + entry.label.length * 7 + 24;
    return item;
  });
  return `<g class="legend">${items.join('')}</g>`;
}

function emptyText(message: string): string {
  return `<text class="empty" x="${PLOT_WIDTH / 2}" y="44" text-anchor="middle">${escapeHtml(message)}</text>`;
}

function svgElement(id: (typeof RUN_REPORT_PLOTS)[number], height: number, title: string, content: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" id="plot-${id}" class="plot" viewBox="0 0 ${PLOT_WIDTH} ${coordinate(height)}" width="${PLOT_WIDTH}" height="${coordinate(height)}" role="img" aria-label="${escapeHtml(title)}">
<title>${escapeHtml(title)}</title>
${content}
</svg>`;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function facts(rows: readonly [string, string][]): string {
  return `<dl class="facts">${rows.map(([term, value]) => `<dt>${escapeHtml(term)}</dt><dd>${value}</dd>`).join('')}</dl>`;
}

function optionalHash(hash: string | null): string {
  return hash === null ? '<span class="muted">not recorded</span>' : hashCode(hash);
}

function optionalNumber(value: number | null, digits: number): string {
  return value === null ? '—' : formatNumber(value, digits);
}

/** `cpu · torch 2.5.1 · fp32`, from the parts the worker reported. */
export function describeWorker(worker: NonNullable<RunDescription['worker']>): string {
  return [worker.device, worker.torchVersion === null ? null : `torch ${worker.torchVersion}`, worker.precision].filter((part) => part !== null).join(' · ');
}

/** `gguf /models/x.gguf`, `hub org/name@rev`. */
export function describeBaseRef(ref: Record<string, unknown>): string {
  const kind = typeof ref.kind === 'string' ? ref.kind : 'unknown';
  const where = typeof ref.path === 'string' ? ref.path : typeof ref.id === 'string' ? `${ref.id}${typeof ref.revision === 'string' ? `@${ref.revision}` : ''}` : JSON.stringify(ref);
  return `${kind} ${where}`;
}

/** Settings as `[dotted key, display value]` rows; nested objects are flattened, lists joined. */
export function flattenSettings(settings: Record<string, unknown>, prefix = ''): [string, string][] {
  return Object.entries(settings).flatMap(([key, value]): [string, string][] => {
    const name = `${prefix}${key}`;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return flattenSettings(value as Record<string, unknown>, `${name}.`);
    if (Array.isArray(value)) return [[name, value.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))).join(', ')]];
    if (value === null || value === undefined) return [[name, '—']];
    return [[name, typeof value === 'string' ? value : JSON.stringify(value)]];
  });
}

/** 75 -> "1 min 15 s", 3725 -> "1 h 2 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${formatNumber(seconds, 1)} s`;
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  return hours > 0 ? `${hours} h ${minutes} min` : `${minutes} min ${whole % 60} s`;
}

const RUN_STYLE = `
.status { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600; font-size: 13px; background: var(--panel); border: 1px solid var(--line); }
.status-succeeded { background: #e6f4ec; color: #1b7a48; border-color: #bfe3cd; }
.status-failed { background: #fdece1; color: #b3361b; border-color: #f5c9b5; }
.status-interrupted { background: #fff4d6; color: #8a5a00; border-color: #f0dca0; }
.status-running { background: #e8effc; color: #2f6fdf; border-color: #c6d7f7; }
dl.hashes { margin-top: 14px; }
pre.error, pre.template { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; white-space: pre-wrap; overflow-wrap: anywhere; font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre.error { border-color: #f5c9b5; color: #7a2410; }
details { margin-top: 16px; }
summary { cursor: pointer; color: #3a4352; }
table.settings td:first-child { width: 40%; }
svg .legend { font-size: 12.5px; fill: #1d2330; }
`;
