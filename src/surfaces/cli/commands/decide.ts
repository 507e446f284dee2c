import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfigFile, type LoadedConfig } from '../../../adapters/config-file.ts';
import { openStore, type Store } from '../../../adapters/store/sqlite-store.ts';
import { actualEconomics, type ActualEconomics } from '../../../core/economics-actual.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { runDecide } from '../../../pipeline/decide.ts';
import { money, renderDecideReportHtml, renderEconomicsReportHtml, tasksShort } from '../../../pipeline/economics-report-html.ts';
import { buildEconomics, checkEconomicsConfig, economicsCandidates, type EconomicsOverrides, type EconomicsReport } from '../../../pipeline/economics-run.ts';
import { runEvaluation, type EvalRunOptions } from '../../../pipeline/eval-run.ts';
import { writeAtomic } from '../../../pipeline/train.ts';
import { formatTable, type Output, type ProgressTask } from '../output.ts';
import { embeddedDemoConfig } from './demo.ts';

export interface EconomicsOptions {
  workspace: string;
  config?: string;
  data: 'config' | 'curated';
  tasksPerMonth?: string;
  horizon?: string;
  concurrency?: string;
  threads?: number;
  report?: string;
  /** Recompute every figure from the gateway's logged calls and show it next to the prediction. */
  actual?: boolean;
  route?: string;
  since?: string;
  json?: boolean;
}

export interface DecideOptions extends EconomicsOptions {
  bar?: string;
}

function overridesFrom(options: EconomicsOptions): EconomicsOverrides {
  const overrides: EconomicsOverrides = {};
  if (options.tasksPerMonth !== undefined) {
    const value = Number(options.tasksPerMonth.replace(/_/g, ''));
    if (!(Number.isFinite(value) && value >= 0)) throw new InvalidInputError(`--tasks-per-month must be a number of tasks, got ${options.tasksPerMonth}`, { field: '--tasks-per-month' });
    overrides.tasksPerMonth = value;
  }
  if (options.horizon !== undefined) {
    const value = Number(options.horizon);
    if (!(Number.isFinite(value) && value > 0)) throw new InvalidInputError(`--horizon is in months (> 0), got ${options.horizon}`, { field: '--horizon' });
    overrides.horizonMonths = value;
  }
  return overrides;
}

function evalOptionsFrom(options: EconomicsOptions, output: Output): EvalRunOptions {
  const concurrency = options.concurrency === undefined ? undefined : Number(options.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 64)) throw new InvalidInputError(`--concurrency must be 1-64, got ${options.concurrency}`, { field: '--concurrency' });
  const tasks = new Map<string, ProgressTask>();
  return {
    data: options.data,
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    onMessage: (message) => output.info(message),
    onProgress: (candidate, done, total) => {
      let task = tasks.get(candidate);
      if (task === undefined) tasks.set(candidate, (task = output.task(`eval ${candidate}`, total, 'ex')));
      task.update(done);
      if (done === total) task.done();
    },
  };
}

function open(options: EconomicsOptions): { loaded: LoadedConfig; store: Store; workspace: string } {
  const loaded = options.config === undefined ? embeddedDemoConfig(false) : loadConfigFile(options.config);
  const workspace = path.resolve(options.workspace);
  mkdirSync(workspace, { recursive: true });
  return { loaded, store: openStore(path.join(workspace, 'understudy.db')), workspace };
}

/** `understudy economics`: both paths priced from this workspace's measurements, crossover, payback, sensitivity, mix. */
export async function runEconomicsCommand(options: EconomicsOptions, output: Output): Promise<void> {
  const overrides = overridesFrom(options);
  const { loaded, store, workspace } = open(options);
  if (options.since !== undefined && Number.isNaN(Date.parse(options.since))) throw new InvalidInputError(`--since must be an ISO date or time, got ${options.since}`, { field: '--since' });
  let report: EconomicsReport;
  let actual: ActualEconomics | undefined;
  try {
    checkEconomicsConfig(loaded);
    const specs = economicsCandidates(loaded, store);
    const { gate: _gate, pairwiseJudge: _pairwise, ...evaluation } = loaded.config.evaluation;
    const measuring: LoadedConfig = { ...loaded, config: { ...loaded.config, evaluation: { ...evaluation, candidates: specs, scorers: [] } } };
    const result = await runEvaluation(measuring, store, evalOptionsFrom(options, output));
    report = buildEconomics(loaded, store, result, overrides);
    if (options.actual === true) {
      const records = store.listGatewayRequests({ ...(options.route === undefined ? {} : { route: options.route }), ...(options.since === undefined ? {} : { since: options.since }) });
      if (records.length === 0) {
        throw new InvalidInputError(`no gateway calls are logged in ${store.file}${options.route === undefined ? '' : ` for route ${options.route}`}${options.since === undefined ? '' : ` since ${options.since}`}`, {
          field: '--actual',
          hint: 'serve an experiment through the gateway first; its calls are what --actual measures',
        });
      }
      actual = actualEconomics(report.input, records);
    }
  } finally {
    store.close();
  }
  const reportFile = path.resolve(options.report ?? path.join(workspace, 'economics-report.html'));
  mkdirSync(path.dirname(reportFile), { recursive: true });
  writeAtomic(reportFile, renderEconomicsReportHtml(report, { generatedAt: new Date().toISOString(), ...(actual === undefined ? {} : { actual }) }));
  if (!output.json) {
    printEconomics(report, output);
    if (actual !== undefined) printActual(actual, output);
    output.info('');
    output.info(`report: ${reportFile}`);
  }
  output.result({ ok: true, ...economicsJson(report), ...(actual === undefined ? {} : { actual }), report: reportFile });
}

/** `understudy decide`: the three-things-true test and one verdict. */
export async function runDecideCommand(options: DecideOptions, output: Output): Promise<void> {
  const overrides = overridesFrom(options);
  const bar = options.bar === undefined ? undefined : Number(options.bar) / 100;
  if (bar !== undefined && !(bar > 0 && bar <= 1)) throw new InvalidInputError(`--bar is in points (0-100], got ${options.bar}`, { field: '--bar' });
  const { loaded, store, workspace } = open(options);
  let decision: Awaited<ReturnType<typeof runDecide>>;
  try {
    decision = await runDecide(loaded, store, { ...evalOptionsFrom(options, output), economics: overrides, ...(bar === undefined ? {} : { bar }) });
  } finally {
    store.close();
  }
  const reportFile = path.resolve(options.report ?? path.join(workspace, 'decide-report.html'));
  mkdirSync(path.dirname(reportFile), { recursive: true });
  writeAtomic(reportFile, renderDecideReportHtml(decision, { generatedAt: new Date().toISOString() }));
  const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;
  if (!output.json) {
    output.info('');
    output.info(`prompt variants on ${decision.evaluation.data.examples} held-out examples (${decision.metric}, bar ${percent(decision.bar)}):`);
    const rows = [['variant', decision.metric, '95% interval'], ...decision.prompting.variants.map((variant) => [variant.name + (variant.name === decision.prompting.best ? ' (best)' : ''), percent(variant.value), `[${percent(variant.low)}, ${percent(variant.high)}]`])];
    for (const line of formatTable(rows, [false, true, true])) output.info(line);
    output.info('');
    const counts = Object.entries(decision.failures.counts).filter(([, count]) => count > 0).map(([kind, count]) => `${count} ${kind}`).join(', ');
    output.info(`failures of ${decision.prompting.best}: ${decision.failures.failures} (${decision.failures.classified} classified: ${counts || 'none'})`);
    for (const [kind, examples] of Object.entries(decision.failures.examples)) {
      const example = examples?.[0];
      if (example !== undefined) output.info(`  ${kind}: ${JSON.stringify(example.input.slice(0, 80))} → ${JSON.stringify(example.output.slice(0, 60))}, expected ${JSON.stringify(example.expected.slice(0, 60))} (${example.by}: ${example.why})`);
    }
    printEconomics(decision.economics, output);
    output.info('');
    const mark = (holds: boolean): string => (holds ? 'holds  ' : 'NO     ');
    output.info(`1. prompting fails consistently   ${mark(decision.conditions.prompting.holds)} ${decision.conditions.prompting.reason}`);
    output.info(`2. retrieval/tools don't fix it   ${mark(decision.conditions.retrieval.holds)} ${decision.conditions.retrieval.reason}`);
    output.info(`3. volume pays back               ${mark(decision.conditions.volume.holds)} ${decision.conditions.volume.reason}`);
    output.info('');
    output.info(`verdict: ${decision.summary}`);
    output.info(`report: ${reportFile}`);
  }
  output.result({
    ok: true,
    verdict: decision.verdict,
    summary: decision.summary,
    bar: decision.bar,
    metric: decision.metric,
    conditions: decision.conditions,
    prompting: decision.prompting,
    failures: decision.failures,
    retrieval: decision.retrieval,
    economics: economicsJson(decision.economics),
    evalId: decision.evaluation.evalId,
    report: reportFile,
  });
}

function economicsJson(report: EconomicsReport): Record<string, unknown> {
  return { input: report.input, result: report.result, sensitivity: report.sensitivity, mix: report.mix, hardware: report.hardware, notes: report.notes, curve: report.curve };
}

function printEconomics(report: EconomicsReport, output: Output): void {
  const { input, result } = report;
  const months = (value: number | null): string => (value === null ? 'never' : value < 1 ? `${(value * 30.44).toFixed(1)} days` : `${value.toFixed(1)} months`);
  output.info('');
  output.info(`hosted: ${money(input.hosted.usdPerTask * 1000)} per 1,000 tasks (${input.hosted.source})`);
  output.info(`fine-tune one-off: ${money(result.oneOff.totalUsd)} = training ${money(result.oneOff.trainingUsd)} + data ${money(result.oneOff.dataGenerationUsd)} + other ${money(result.oneOff.otherUsd)} (${input.fineTune.source})`);
  output.info(`tuned serving: ${money(result.per1000.tunedServingUsd)} per 1,000 tasks (${input.serving.source}; utilization ${(input.serving.utilization * 100).toFixed(0)}%, ops +${(input.serving.opsOverhead * 100).toFixed(0)}%, min ${input.serving.minInstances} machine(s))`);
  output.info(
    `at ${input.tasksPerMonth.toLocaleString('en-US')} tasks/month: hosted ${money(result.monthly.hostedUsd)}/month, tuned ${money(result.monthly.tunedServingUsd)}/month; crossover ${result.crossoverTasks === null ? 'never' : `${tasksShort(result.crossoverTasks)} tasks (${Math.round(result.crossoverTasks).toLocaleString('en-US')})`}; payback ${months(result.paybackMonths)}; over ${input.horizonMonths} months ${money(result.lifetime.savingUsd)} saved`,
  );
  output.info('');
  const rows = [['scenario', 'hosted /1k', 'tuned /1k', 'crossover', 'payback', 'saving over horizon'], ...report.sensitivity.map((row) => [row.scenario, money(row.per1000HostedUsd), money(row.per1000TunedUsd), row.crossoverTasks === null ? 'never' : tasksShort(row.crossoverTasks), months(row.paybackMonths), money(row.lifetimeSavingUsd)])];
  for (const line of formatTable(rows, [false, true, true, true, true, true])) output.info(line);
  if (report.mix !== null) {
    output.info('');
    const mixRows = [['sub-task', 'tasks/month', 'saving/month', 'payback', 'decision'], ...report.mix.subtasks.map((subtask) => [subtask.name, subtask.tasksPerMonth.toLocaleString('en-US'), money(subtask.monthlySavingUsd), months(subtask.paybackMonths), subtask.move ? 'move' : 'stay'])];
    for (const line of formatTable(mixRows, [false, true, true, true, false])) output.info(line);
    output.info(`moving the marked sub-tasks saves ${money(report.mix.monthlySavingUsd)} a month for ${money(report.mix.oneOffUsd)} one-off`);
  }
  for (const note of report.notes) output.info(`note: ${note}`);
}

function printActual(actual: ActualEconomics, output: Output): void {
  output.info('');
  output.info(`predicted vs measured: ${actual.calls} gateway calls${actual.window === null ? '' : ` from ${actual.window.from} to ${actual.window.to}`} (hosted ${actual.hosted.calls}, ${actual.hosted.errors} errors; tuned ${actual.tuned.calls}, ${actual.tuned.errors} errors, ${actual.tuned.fallbacks} fallbacks)`);
  const show = (value: number | null): string => (value === null ? '—' : Math.abs(value) >= 1000 ? Math.round(value).toLocaleString('en-US') : Number(value.toPrecision(4)).toString());
  const rows = [['figure', 'predicted', 'measured', 'measured / predicted'], ...actual.figures.map((figure) => [figure.figure, show(figure.predicted), show(figure.measured), figure.ratio === null ? '—' : `${figure.ratio.toFixed(2)}×`])];
  for (const line of formatTable(rows, [false, true, true, true])) output.info(line);
  for (const note of actual.notes) output.info(`note: ${note}`);
}
