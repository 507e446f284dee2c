import type { GatewayLogRecord } from '../contracts/gateway.ts';
import { computeEconomics, HOURS_PER_MONTH, type EconomicsInput, type EconomicsResult } from './economics.ts';
import { percentile } from './statistics.ts';

/** What one side of the economics did on logged traffic. */
export interface PathMeasurement {
  calls: number;
  errors: number;
  fallbacks: number;
  /** Successful calls with a price; `usdPerTask` is their mean. */
  priced: number;
  usdPerTask: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  meanLatencyMs: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  firstTokenP50Ms: number | null;
}

export interface ComparedFigure {
  figure: string;
  predicted: number | null;
  measured: number | null;
  /** measured / predicted; null when either is missing or the prediction is 0. */
  ratio: number | null;
}

export interface ActualEconomics {
  window: { from: string; to: string; hours: number } | null;
  calls: number;
  hosted: PathMeasurement;
  tuned: PathMeasurement;
  /** The prediction's inputs with every figure the log measured put in. */
  measuredInput: EconomicsInput;
  measured: EconomicsResult;
  predicted: EconomicsResult;
  figures: ComparedFigure[];
  notes: string[];
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length;
}

export function measurePath(records: readonly GatewayLogRecord[]): PathMeasurement {
  const ok = records.filter((record) => record.status === 'ok');
  const priced = ok.filter((record) => record.costUsd !== null);
  const latencies = ok.map((record) => record.latencyMs).sort((left, right) => left - right);
  const firstTokens = ok.flatMap((record) => (record.firstTokenMs === null ? [] : [record.firstTokenMs])).sort((left, right) => left - right);
  return {
    calls: records.length,
    errors: records.length - ok.length,
    fallbacks: records.filter((record) => record.fallback).length,
    priced: priced.length,
    usdPerTask: mean(priced.map((record) => record.costUsd!)),
    promptTokens: mean(ok.flatMap((record) => (record.promptTokens === null ? [] : [record.promptTokens]))),
    completionTokens: mean(ok.flatMap((record) => (record.completionTokens === null ? [] : [record.completionTokens]))),
    meanLatencyMs: mean(latencies),
    latencyP50Ms: latencies.length === 0 ? null : percentile(latencies, 50),
    latencyP95Ms: latencies.length === 0 ? null : percentile(latencies, 95),
    firstTokenP50Ms: firstTokens.length === 0 ? null : percentile(firstTokens, 50),
  };
}

/**
 * Recompute the economics from logged gateway calls: the hosted cost per task from the hosted calls' priced cost,
 * the tuned model's machine time from its calls' latency, the traffic from the calls per hour over the logged
 * window; every figure the log cannot give keeps its predicted value and says so in `notes`.
 */
export function actualEconomics(predictedInput: EconomicsInput, records: readonly GatewayLogRecord[], options: { tasksPerMonth?: number } = {}): ActualEconomics {
  const notes: string[] = [];
  const hosted = measurePath(records.filter((record) => record.path === 'hosted'));
  // In an experiment the tuned model is the candidate arm; an incumbent on our own machine (the prompted base) is not it.
  const tunedRecords = records.filter((record) => record.path === 'tuned');
  const candidateRecords = tunedRecords.filter((record) => record.arm === 'candidate');
  const tuned = measurePath(candidateRecords.length > 0 ? candidateRecords : tunedRecords);
  if (candidateRecords.length > 0 && candidateRecords.length < tunedRecords.length) notes.push(`the tuned figures come from the ${candidateRecords.length} calls of the candidate arm, not the ${tunedRecords.length - candidateRecords.length} other local calls`);
  const times = records.map((record) => Date.parse(record.createdAt)).sort((left, right) => left - right);
  const window = times.length === 0 ? null : { from: new Date(times[0]!).toISOString(), to: new Date(times.at(-1)!).toISOString(), hours: (times.at(-1)! - times[0]!) / 3_600_000 };

  const measuredInput: EconomicsInput = structuredClone(predictedInput);
  if (hosted.usdPerTask !== null) {
    measuredInput.hosted = { usdPerTask: hosted.usdPerTask, promptTokens: hosted.promptTokens ?? 0, completionTokens: hosted.completionTokens ?? 0, source: `${hosted.priced} priced hosted calls from the gateway log` };
    if (hosted.priced < hosted.calls - hosted.errors) notes.push(`${hosted.calls - hosted.errors - hosted.priced} hosted calls had no price and are left out of the hosted cost`);
  } else notes.push('no priced hosted calls were logged: the hosted cost stays the prediction');
  if (tuned.meanLatencyMs !== null) {
    measuredInput.serving = { ...predictedInput.serving, secondsPerTask: tuned.meanLatencyMs / 1000, source: `mean latency of ${tuned.calls - tuned.errors} tuned calls from the gateway log` };
  } else notes.push('no successful tuned calls were logged: the serving time stays the prediction');
  // Shadow calls measure the tuned path's latency but are not traffic: the client was served by the incumbent.
  const served = records.filter((record) => record.status === 'ok' && !record.shadow).length;
  if (options.tasksPerMonth !== undefined) measuredInput.tasksPerMonth = options.tasksPerMonth;
  else if (window !== null && window.hours > 0 && served > 1) {
    // n calls span n - 1 gaps: the rate is (n - 1) / window, not n / window.
    measuredInput.tasksPerMonth = ((served - 1) / window.hours) * HOURS_PER_MONTH;
    if (window.hours < 24) notes.push(`the log spans ${window.hours < 1 ? `${(window.hours * 60).toFixed(1)} minutes` : `${window.hours.toFixed(1)} hours`}: traffic per month is extrapolated from less than a day`);
  } else notes.push('the log is too short to measure traffic: tasks per month stay the prediction');

  const predicted = computeEconomics(predictedInput);
  const measured = computeEconomics(measuredInput);
  const ratio = (predictedValue: number | null, measuredValue: number | null): number | null =>
    predictedValue === null || measuredValue === null || predictedValue === 0 ? null : measuredValue / predictedValue;
  const figure = (name: string, predictedValue: number | null, measuredValue: number | null): ComparedFigure => ({ figure: name, predicted: predictedValue, measured: measuredValue, ratio: ratio(predictedValue, measuredValue) });
  const figures: ComparedFigure[] = [
    figure('hosted $ per 1,000 tasks', predicted.per1000.hostedUsd, measured.per1000.hostedUsd),
    figure('hosted prompt tokens per task', predictedInput.hosted.promptTokens, hosted.promptTokens),
    figure('hosted completion tokens per task', predictedInput.hosted.completionTokens, hosted.completionTokens),
    figure('tuned seconds per task', predictedInput.serving.secondsPerTask, tuned.meanLatencyMs === null ? null : tuned.meanLatencyMs / 1000),
    figure('tuned $ per 1,000 tasks', predicted.per1000.tunedServingUsd, measured.per1000.tunedServingUsd),
    figure('tasks per month', predictedInput.tasksPerMonth, measuredInput.tasksPerMonth),
    figure('monthly saving $', predicted.monthly.savingUsd, measured.monthly.savingUsd),
    figure('crossover (tasks)', predicted.crossoverTasks, measured.crossoverTasks),
    figure('payback (months)', predicted.paybackMonths, measured.paybackMonths),
    figure('saving over the horizon $', predicted.lifetime.savingUsd, measured.lifetime.savingUsd),
  ];
  return { window, calls: records.length, hosted, tuned, measuredInput, measured, predicted, figures, notes };
}
