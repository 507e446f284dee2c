import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfigFile } from '../../../adapters/config-file.ts';
import { openStore } from '../../../adapters/store/sqlite-store.ts';
import type { GateConfig } from '../../../contracts/config.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { renderEvalRunReportHtml } from '../../../pipeline/eval-report-html.ts';
import { runEvaluation, type EvalRunResult } from '../../../pipeline/eval-run.ts';
import { writeAtomic } from '../../../pipeline/train.ts';
import { formatTable, type Output, type ProgressTask } from '../output.ts';
import { embeddedDemoConfig } from './demo.ts';

export interface EvalOptions {
  workspace: string;
  config?: string;
  data: 'config' | 'curated';
  /** Comma-separated candidate names. */
  candidates?: string;
  baseline?: string;
  /** Decide go/no-go and exit 1 on no-go. */
  gate?: boolean;
  /** `--gate` overrides: the candidate, the metric, the margin in points. */
  candidate?: string;
  metric?: string;
  minDifference?: string;
  concurrency?: string;
  contexts?: string;
  threads?: number;
  /** Where the HTML report goes; default `<workspace>/eval-report.html`. */
  report?: string;
  json?: boolean;
}

const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;
const signedPoints = (value: number): string => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}`;

/** The gate from the config, with command-line overrides; absent when `--gate` is not given. */
function gateFrom(options: EvalOptions, configured: GateConfig | undefined, candidateNames: readonly string[], baseline: string | undefined): GateConfig | undefined {
  if (options.gate !== true) return undefined;
  const minDifference = options.minDifference === undefined ? undefined : Number(options.minDifference) / 100;
  if (minDifference !== undefined && !(minDifference >= 0 && minDifference <= 1)) throw new InvalidInputError(`--min-difference is in points (0-100), got ${options.minDifference}`, { field: '--min-difference' });
  const candidate = options.candidate ?? configured?.candidate ?? candidateNames.at(-1);
  const gateBaseline = options.baseline ?? configured?.baseline ?? baseline ?? candidateNames[0];
  if (candidate === undefined || gateBaseline === undefined || candidate === gateBaseline) {
    throw new InvalidInputError('--gate needs two different candidates: set evaluation.gate in the config or pass --candidate and --baseline', { field: '--gate' });
  }
  return { candidate, baseline: gateBaseline, metric: options.metric ?? configured?.metric ?? 'accuracy', minDifference: minDifference ?? configured?.minDifference ?? 0 };
}

/** `understudy eval`: candidates on the held-out set, with intervals, paired tests, cost and latency; `--gate` decides. */
export async function runEval(options: EvalOptions, output: Output): Promise<void> {
  const loaded = options.config === undefined ? embeddedDemoConfig(false) : loadConfigFile(options.config);
  const concurrency = options.concurrency === undefined ? undefined : Number(options.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 64)) throw new InvalidInputError(`--concurrency must be 1-64, got ${options.concurrency}`, { field: '--concurrency' });
  const contexts = options.contexts === undefined ? undefined : Number(options.contexts);
  if (contexts !== undefined && !(Number.isInteger(contexts) && contexts >= 1 && contexts <= 64)) throw new InvalidInputError(`--contexts must be 1-64, got ${options.contexts}`, { field: '--contexts' });
  const only = options.candidates?.split(',').map((name) => name.trim()).filter((name) => name.length > 0);
  const configuredNames = (loaded.config.evaluation.candidates ?? [{ name: 'prompted-base' }, { name: 'tuned-adapter' }]).map((candidate) => candidate.name).filter((name) => only === undefined || only.includes(name));
  const gate = gateFrom(options, loaded.config.evaluation.gate, configuredNames, options.baseline);
  const workspace = path.resolve(options.workspace);
  mkdirSync(workspace, { recursive: true });
  const store = openStore(path.join(workspace, 'understudy.db'));
  const tasks = new Map<string, ProgressTask>();
  let result: EvalRunResult;
  try {
    result = await runEvaluation(loaded, store, {
      data: options.data,
      ...(only === undefined ? {} : { only }),
      ...(options.baseline === undefined ? {} : { baseline: options.baseline }),
      ...(gate === undefined ? {} : { gate }),
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(contexts === undefined ? {} : { contexts }),
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      onMessage: (message) => output.info(message),
      onProgress: (candidate, done, total) => {
        let task = tasks.get(candidate);
        if (task === undefined) tasks.set(candidate, (task = output.task(`eval ${candidate}`, total, 'ex')));
        task.update(done);
        if (done === total) task.done();
      },
    });
  } finally {
    store.close();
  }

  const reportFile = path.resolve(options.report ?? path.join(workspace, 'eval-report.html'));
  mkdirSync(path.dirname(reportFile), { recursive: true });
  writeAtomic(reportFile, renderEvalRunReportHtml(result, { generatedAt: new Date().toISOString() }));
  if (!output.json) {
    printTables(result, output);
    output.info('');
    output.info(`report: ${reportFile}`);
  }
  output.result({
    ok: result.gate === null || result.gate.pass,
    evalId: result.evalId,
    evalHash: result.evalHash,
    data: result.data,
    base: result.base,
    baseline: result.baseline,
    candidates: result.candidates.map(({ latenciesMs: _latencies, ...rest }) => rest),
    metrics: result.metrics,
    primaryMetric: result.primaryMetric,
    comparisons: result.comparisons,
    gate: result.gate,
    extraction: result.extraction,
    scorers: result.scorers,
    pairwise: result.pairwise,
    report: reportFile,
    seconds: Math.round(result.seconds * 10) / 10,
  });
  if (result.gate !== null && !result.gate.pass) process.exitCode = 1;
}

/** The terminal tables: every candidate's metrics with intervals, cost and latency; every comparison with the baseline. */
function printTables(result: EvalRunResult, output: Output): void {
  output.info('');
  output.info(`held-out set: ${result.data.examples} examples (${result.data.source}, dataset ${result.data.evalHash.slice(0, 12)}); base ${result.base.name}; task ${result.task.name} (${result.task.kind})`);
  const metricColumns = result.metrics.map((metric) => metric.label);
  const rows = [['candidate', ...metricColumns, '$/1k tasks', 'tokens in/out', 'p50 ms', 'p95 ms', 'cached']];
  for (const candidate of result.candidates) {
    rows.push([
      candidate.name,
      ...result.metrics.map((metric) => {
        const estimate = candidate.metrics[metric.id]!;
        return `${percent(estimate.value)} [${percent(estimate.low)}, ${percent(estimate.high)}]`;
      }),
      candidate.costPer1000Usd === null ? 'unknown' : `$${candidate.costPer1000Usd.toFixed(4)}`,
      `${Math.round(candidate.promptTokensMean)}/${Math.round(candidate.completionTokensMean)}`,
      String(Math.round(candidate.latencyP50Ms)),
      String(Math.round(candidate.latencyP95Ms)),
      `${candidate.cachedAnswers}/${candidate.n}`,
    ]);
  }
  for (const line of formatTable(rows, rows[0]!.map((_, index) => index > 0))) output.info(line);
  if (result.comparisons.length > 0) {
    output.info('');
    const header = ['vs ' + result.baseline, ...result.metrics.map((metric) => `Δ ${metric.label} (points, 95% interval, p)`), `Holm p (${result.primaryMetric})`];
    const comparisonRows = [header];
    for (const comparison of result.comparisons) {
      comparisonRows.push([
        comparison.candidate,
        ...result.metrics.map((metric) => {
          const difference = comparison.metrics[metric.id]!;
          return `${signedPoints(difference.difference)} [${signedPoints(difference.low)}, ${signedPoints(difference.high)}] p=${difference.pValue.toPrecision(2)}`;
        }),
        comparison.holmPValue.toPrecision(3),
      ]);
    }
    for (const line of formatTable(comparisonRows, header.map((_, index) => index > 0))) output.info(line);
    for (const comparison of result.comparisons) if (comparison.sampleSize !== null) output.info(`${comparison.candidate}: ${comparison.sampleSize.sentence}`);
  }
  for (const scorer of result.scorers) {
    if (scorer.agreementWithReference === undefined) continue;
    const agreement = scorer.agreementWithReference;
    output.info(`judge ${scorer.name}: agrees with the reference answers on ${percent(agreement.agreement)} of ${agreement.n} answers (Cohen's kappa ${agreement.kappa === null ? 'undefined' : agreement.kappa.toFixed(2)})`);
  }
  for (const pairwise of result.pairwise) {
    output.info(`pairwise judge, ${pairwise.candidate} vs ${pairwise.baseline}: ${pairwise.bWins} wins, ${pairwise.ties} ties (${pairwise.inconsistent} order-inconsistent), ${pairwise.aWins} losses; win rate ${percent(pairwise.winRate.value)} [${percent(pairwise.winRate.low)}, ${percent(pairwise.winRate.high)}], sign test p = ${pairwise.pValue.toPrecision(2)}`);
  }
  if (result.gate !== null) {
    output.info('');
    output.info(result.gate.reason);
  }
}
