import type { ActualEconomics } from '../core/economics-actual.ts';
import type { CostCurvePoint } from '../core/economics.ts';
import type { DecideResult } from './decide.ts';
import type { EconomicsReport } from './economics-run.ts';
import { colorOf, coordinate, escapeHtml, formatInteger, formatPercent, formatTick, htmlDocument, linearScale, niceTicks, STYLE, table } from './report-html.ts';

const WIDTH = 880;
/** The shared report style, plus wrapping reasons in the mix table's last column. */
const ECONOMICS_STYLE = `${STYLE}
table.numeric.mix td:last-child, table.numeric.mix th:last-child { white-space: normal; text-align: left; min-width: 280px; }
`;
const HEIGHT = 380;
const MARGIN = { left: 86, right: 24, top: 34, bottom: 54 };

export function money(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const sign = value < 0 ? '−' : '';
  const absolute = Math.abs(value);
  if (absolute >= 100) return `${sign}$${formatInteger(absolute)}`;
  if (absolute >= 1) return `${sign}$${absolute.toFixed(2)}`;
  return `${sign}$${absolute.toPrecision(3)}`;
}

function months(value: number | null): string {
  if (value === null) return 'never';
  if (value < 1) return `${(value * 30.44).toFixed(1)} days`;
  return `${value.toFixed(1)} months`;
}

/** Short task counts for axes and cards: 1.2M, 350k. */
export function tasksShort(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (value >= 1e9) return `${Number((value / 1e9).toPrecision(3))}B`;
  if (value >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (value >= 1e3) return `${Number((value / 1e3).toPrecision(3))}k`;
  return formatTick(Math.round(value));
}

/** Cumulative cost of both paths against lifetime volume, the crossover marked. */
export function costCurveSvg(curve: readonly CostCurvePoint[], crossoverTasks: number | null, lifetimeTasks: number): string {
  const maxTasks = curve.at(-1)?.tasks ?? 1;
  const maxCost = Math.max(...curve.map((point) => Math.max(point.hostedUsd, point.tunedUsd)), 1e-9);
  const xTicks = niceTicks(0, maxTasks, 6);
  const yTicks = niceTicks(0, maxCost, 5);
  const x = linearScale(0, xTicks.at(-1)!, MARGIN.left, WIDTH - MARGIN.right);
  const y = linearScale(0, yTicks.at(-1)!, HEIGHT - MARGIN.bottom, MARGIN.top);
  const parts: string[] = [];
  for (const tick of yTicks) {
    parts.push(`<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${coordinate(y(tick))}" y2="${coordinate(y(tick))}"/>`);
    parts.push(`<text class="tick" x="${MARGIN.left - 8}" y="${coordinate(y(tick) + 4)}" text-anchor="end">${escapeHtml(money(tick))}</text>`);
  }
  for (const tick of xTicks) parts.push(`<text class="tick" x="${coordinate(x(tick))}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle">${escapeHtml(tasksShort(tick))}</text>`);
  parts.push(`<line class="axis" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${HEIGHT - MARGIN.bottom}" y2="${HEIGHT - MARGIN.bottom}"/>`);
  parts.push(`<text class="axis-title" x="${(MARGIN.left + WIDTH - MARGIN.right) / 2}" y="${HEIGHT - 12}" text-anchor="middle">lifetime tasks</text>`);
  parts.push(`<text class="axis-title" x="16" y="${(MARGIN.top + HEIGHT - MARGIN.bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(MARGIN.top + HEIGHT - MARGIN.bottom) / 2})">cumulative cost (USD)</text>`);
  const line = (key: 'hostedUsd' | 'tunedUsd', color: string, id: string): string =>
    `<polyline id="${id}" fill="none" stroke="${color}" stroke-width="2.5" points="${curve.map((point) => `${coordinate(x(point.tasks))},${coordinate(y(point[key]))}`).join(' ')}"/>`;
  parts.push(line('hostedUsd', colorOf(0), 'line-hosted'));
  parts.push(line('tunedUsd', colorOf(1), 'line-tuned'));
  if (lifetimeTasks > 0 && lifetimeTasks <= xTicks.at(-1)!) {
    parts.push(`<line id="marker-horizon" x1="${coordinate(x(lifetimeTasks))}" x2="${coordinate(x(lifetimeTasks))}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#9aa3ae" stroke-dasharray="4 4"/>`);
    parts.push(`<text class="tick" x="${coordinate(x(lifetimeTasks) - 4)}" y="${MARGIN.top - 6}" text-anchor="end">horizon: ${escapeHtml(tasksShort(lifetimeTasks))}</text>`);
  }
  if (crossoverTasks !== null && crossoverTasks <= xTicks.at(-1)!) {
    const cost = curve.length > 1 ? crossoverCost(curve, crossoverTasks) : 0;
    parts.push(`<circle id="marker-crossover" cx="${coordinate(x(crossoverTasks))}" cy="${coordinate(y(cost))}" r="6" fill="#fff" stroke="#1d2330" stroke-width="2"/>`);
    parts.push(`<text class="value" x="${coordinate(x(crossoverTasks) + 10)}" y="${coordinate(y(cost) + 18)}">crossover ${escapeHtml(tasksShort(crossoverTasks))} tasks (${escapeHtml(money(cost))})</text>`);
  }
  const legendY = MARGIN.top - 14;
  parts.push(`<rect x="${MARGIN.left}" y="${legendY - 9}" width="12" height="12" fill="${colorOf(0)}"/><text class="legend" x="${MARGIN.left + 18}" y="${legendY + 1}">hosted model</text>`);
  parts.push(`<rect x="${MARGIN.left + 130}" y="${legendY - 9}" width="12" height="12" fill="${colorOf(1)}"/><text class="legend" x="${MARGIN.left + 148}" y="${legendY + 1}">tuned model (one-off + serving)</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" id="plot-cost-curve" class="plot" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="Cumulative cost against lifetime volume">
${parts.join('\n')}
</svg>`;
}

function crossoverCost(curve: readonly CostCurvePoint[], tasks: number): number {
  const first = curve[0]!;
  const last = curve.at(-1)!;
  const slope = last.tasks === first.tasks ? 0 : (last.hostedUsd - first.hostedUsd) / (last.tasks - first.tasks);
  return first.hostedUsd + slope * (tasks - first.tasks);
}

function economicsSections(report: EconomicsReport): string {
  const { input, result } = report;
  const cards = [
    ['Hosted per 1,000 tasks', money(result.per1000.hostedUsd), input.hosted.source],
    ['Tuned per 1,000 tasks', money(result.per1000.tunedServingUsd), `serving only; ${money(result.per1000.tunedAllInUsd)} with the one-off spread over ${input.horizonMonths} months`],
    ['Crossover', result.crossoverTasks === null ? 'never' : `${tasksShort(result.crossoverTasks)} tasks`, 'lifetime volume where the cumulative costs meet'],
    ['Payback', months(result.paybackMonths), `at ${formatInteger(input.tasksPerMonth)} tasks/month`],
  ];
  const sensitivity = report.sensitivity.map((row) => [
    escapeHtml(row.scenario),
    money(row.per1000HostedUsd),
    money(row.per1000TunedUsd),
    row.crossoverTasks === null ? 'never' : formatInteger(row.crossoverTasks),
    months(row.paybackMonths),
    money(row.lifetimeSavingUsd),
    row.paysBack ? '<span class="right">pays back</span>' : '<span class="wrong">does not</span>',
  ]);
  const mix =
    report.mix === null
      ? ''
      : `<section id="mix"><h2>The mix: which sub-tasks move</h2>
${table(
  ['sub-task', 'tasks/month', 'hosted/month', 'tuned/month', 'saving/month', 'payback', 'decision'],
  report.mix.subtasks.map((subtask) => [
    escapeHtml(subtask.name),
    formatInteger(subtask.tasksPerMonth),
    money(subtask.monthlyHostedUsd),
    money(subtask.monthlyTunedUsd),
    money(subtask.monthlySavingUsd),
    months(subtask.paybackMonths),
    `${subtask.move ? '<span class="right">move</span>' : '<span class="muted">stays on the frontier model</span>'} — ${escapeHtml(subtask.reason)}`,
  ]),
  'numeric mix',
)}
<p class="verdict">Moving the marked sub-tasks saves <strong>${money(report.mix.monthlySavingUsd)}</strong> a month (${money(report.mix.monthlyHostedTodayUsd)} today → ${money(report.mix.monthlyAfterUsd)}), for ${money(report.mix.oneOffUsd)} of one-off fine-tunes.</p>
</section>`;
  return `<div class="cards">${cards.map(([label, value, note]) => `<div class="card"><div class="card-label">${escapeHtml(label!)}</div><div class="card-value">${escapeHtml(value!)}</div><div class="card-note">${escapeHtml(note!)}</div></div>`).join('')}</div>
<section id="curve"><h2>Cumulative cost against volume</h2>
<figure>${costCurveSvg(report.curve, result.crossoverTasks, result.lifetime.tasks)}<figcaption>Hosted: ${escapeHtml(money(input.hosted.usdPerTask * 1000))} per 1,000 tasks from the first task. Tuned: ${escapeHtml(money(result.oneOff.totalUsd))} one-off, then ${escapeHtml(money(result.per1000.tunedServingUsd))} per 1,000. The dashed line is the horizon's volume (${escapeHtml(formatInteger(result.lifetime.tasks))} tasks).</figcaption></figure>
</section>
<section id="inputs"><h2>Inputs and where they come from</h2>
<dl class="facts">
<dt>Hosted path</dt><dd>${escapeHtml(money(input.hosted.usdPerTask))} per task — ${escapeHtml(input.hosted.source)}</dd>
<dt>Fine-tune</dt><dd>${escapeHtml(money(result.oneOff.totalUsd))} one-off: training ${escapeHtml(money(result.oneOff.trainingUsd))} (${escapeHtml(result.oneOff.trainingHours.toPrecision(3))} h), data ${escapeHtml(money(result.oneOff.dataGenerationUsd))}, other ${escapeHtml(money(result.oneOff.otherUsd))} — ${escapeHtml(input.fineTune.source)}</dd>
<dt>Serving</dt><dd>${escapeHtml(money(result.monthly.tunedServingUsd))} a month at utilization ${escapeHtml(formatPercent(input.serving.utilization))}, operations +${escapeHtml(formatPercent(input.serving.opsOverhead))}, at least ${input.serving.minInstances} machine(s) — ${escapeHtml(input.serving.source)}</dd>
<dt>Traffic</dt><dd>${escapeHtml(formatInteger(input.tasksPerMonth))} tasks a month for ${input.horizonMonths} months</dd>
<dt>Over the horizon</dt><dd>hosted ${escapeHtml(money(result.lifetime.hostedUsd))}, tuned ${escapeHtml(money(result.lifetime.tunedUsd))}: ${escapeHtml(money(result.lifetime.savingUsd))} saved</dd>
<dt>Hardware prices</dt><dd>training on ${escapeHtml(report.hardware.training.id)} (${escapeHtml(report.hardware.training.source)}, ${escapeHtml(report.hardware.training.asOf)}); serving on ${escapeHtml(report.hardware.serving.id)} (${escapeHtml(report.hardware.serving.source)}, ${escapeHtml(report.hardware.serving.asOf)}); table compiled ${escapeHtml(report.hardware.compiled)}</dd>
</dl>
${report.notes.length === 0 ? '' : `<ul>${report.notes.map((note) => `<li class="muted">${escapeHtml(note)}</li>`).join('')}</ul>`}
</section>
<section id="sensitivity"><h2>Sensitivity</h2>
${table(['scenario', 'hosted /1k', 'tuned /1k', 'crossover (tasks)', 'payback', 'saving over horizon', ''], sensitivity, 'numeric')}
</section>
${mix}`;
}

function actualSection(actual: ActualEconomics): string {
  const show = (value: number | null): string => (value === null ? '—' : Math.abs(value) >= 1000 ? formatInteger(value) : escapeHtml(String(Number(value.toPrecision(4)))));
  return `<section id="actual"><h2>Predicted vs measured</h2>
<p>${actual.calls} gateway calls${actual.window === null ? '' : ` from ${escapeHtml(actual.window.from)} to ${escapeHtml(actual.window.to)}`}: hosted ${actual.hosted.calls} (${actual.hosted.errors} errors), tuned ${actual.tuned.calls} (${actual.tuned.errors} errors, ${actual.tuned.fallbacks} fallbacks).</p>
${table(['figure', 'predicted', 'measured', 'measured / predicted'], actual.figures.map((figure) => [escapeHtml(figure.figure), show(figure.predicted), show(figure.measured), figure.ratio === null ? '—' : `${figure.ratio.toFixed(2)}×`]), 'numeric')}
${actual.notes.length === 0 ? '' : `<ul>${actual.notes.map((note) => `<li class="muted">${escapeHtml(note)}</li>`).join('')}</ul>`}
</section>`;
}

export function renderEconomicsReportHtml(report: EconomicsReport, options: { title?: string; generatedAt?: string; actual?: ActualEconomics } = {}): string {
  const title = options.title ?? 'Understudy economics';
  const verdict = report.result.paysBack
    ? `At ${formatInteger(report.input.tasksPerMonth)} tasks a month the fine-tune pays back in ${months(report.result.paybackMonths)} and saves ${money(report.result.lifetime.savingUsd)} over ${report.input.horizonMonths} months.`
    : `At ${formatInteger(report.input.tasksPerMonth)} tasks a month the fine-tune does not pay back within ${report.input.horizonMonths} months.`;
  return htmlDocument(title, ECONOMICS_STYLE, `<header><h1>${escapeHtml(title)}</h1><p class="meta">${escapeHtml(options.generatedAt ?? '')}</p><p class="verdict"><strong>${escapeHtml(verdict)}</strong></p></header>
${economicsSections(report)}
${options.actual === undefined ? '' : actualSection(options.actual)}`);
}

export function renderDecideReportHtml(decision: DecideResult, options: { generatedAt?: string } = {}): string {
  const condition = (name: string, outcome: { holds: boolean; reason: string }): string =>
    `<tr><td>${escapeHtml(name)}</td><td>${outcome.holds ? '<span class="right">holds</span>' : '<span class="wrong">does not hold</span>'}</td><td>${escapeHtml(outcome.reason)}</td></tr>`;
  const variants = decision.prompting.variants.map((variant) => [
    escapeHtml(variant.name) + (variant.name === decision.prompting.best ? ' <strong>(best)</strong>' : ''),
    escapeHtml(variant.describe),
    `${formatPercent(variant.value)} [${formatPercent(variant.low)}, ${formatPercent(variant.high)}]`,
  ]);
  const failureRows = Object.entries(decision.failures.examples).flatMap(([kind, list]) =>
    (list ?? []).map((failure) => [escapeHtml(kind), `<div class="input">${escapeHtml(failure.input)}</div>`, escapeHtml(failure.expected), escapeHtml(failure.output), `${escapeHtml(failure.by)}: ${escapeHtml(failure.why)}`]),
  );
  const counts = Object.entries(decision.failures.counts).filter(([, count]) => count > 0).map(([kind, count]) => `${count} ${kind}`).join(', ');
  const retrieval =
    decision.retrieval === null
      ? '<p class="muted">No knowledge file was given (decide.knowledgeFile), so retrieval was not tried.</p>'
      : `<p>${escapeHtml(decision.retrieval.with)}: ${formatPercent(decision.retrieval.valueWith)} vs ${formatPercent(decision.retrieval.valueWithout)} without retrieved context; difference ${formatPercent(decision.retrieval.difference)} [${formatPercent(decision.retrieval.low)}, ${formatPercent(decision.retrieval.high)}], p = ${decision.retrieval.pValue.toPrecision(2)}.</p>`;
  return htmlDocument('Understudy decide', ECONOMICS_STYLE, `<header><h1>Decide: ${escapeHtml(decision.verdict)}</h1><p class="meta">${escapeHtml(options.generatedAt ?? '')} · bar ${formatPercent(decision.bar)} ${escapeHtml(decision.metric)} on ${decision.evaluation.data.examples} held-out examples</p><p class="verdict" id="verdict"><strong>${escapeHtml(decision.summary)}</strong></p></header>
<section id="conditions"><h2>The three conditions</h2>
${table(['condition', '', 'evidence'], [], 'conditions').replace('<tbody>\n', `<tbody>\n${condition('1. Prompting fails consistently at scale', decision.conditions.prompting)}${condition('2. Retrieval and tools do not fix it', decision.conditions.retrieval)}${condition('3. The volume pays back', decision.conditions.volume)}`)}
</section>
<section id="prompting"><h2>Prompt variants</h2>
${table(['variant', 'what', `${escapeHtml(decision.metric)} [95% interval]`], variants, 'numeric')}
</section>
<section id="failures"><h2>Why the best prompt fails</h2>
<p>${decision.failures.failures} failures; ${decision.failures.classified} classified${decision.failures.judged ? ' (rules, then a judge on a sample)' : ' by rules (no judge configured)'}: ${escapeHtml(counts || 'none')}.</p>
${failureRows.length === 0 ? '' : table(['kind', 'input', 'expected', 'answer', 'why'], failureRows, 'examples')}
${retrieval}
</section>
<h2>Economics</h2>
${economicsSections(decision.economics)}`);
}
