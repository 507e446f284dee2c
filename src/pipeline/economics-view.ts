/**
 * The economics as the dashboard shows them: `understudy economics` (`buildEconomics`, the same computation) priced
 * from a stored evaluation instead of a fresh one, and, when the gateway has logged calls, predicted against measured
 * (`actualEconomics`, as `--actual` does).
 */
import type { LoadedConfig } from '../adapters/config-file.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { EconomicsView } from '../contracts/dashboard.ts';
import { actualEconomics } from '../core/economics-actual.ts';
import { buildEconomics, ECONOMICS_CANDIDATES } from './economics-run.ts';
import { evalsPage, storedEvaluation } from './eval-view.ts';

/** The newest stored evaluation with a candidate the economics measure (the tuned model, or the configured hosted one); undefined when none. */
export function newestEconomicsEvaluation(loaded: LoadedConfig, store: Store): string | undefined {
  const wanted = new Set<string>([ECONOMICS_CANDIDATES.tuned, ECONOMICS_CANDIDATES.tunedPrompt, ...(loaded.config.economics.hosted.candidate === undefined ? [] : [loaded.config.economics.hosted.candidate])]);
  const pageSize = 50;
  for (let offset = 0; ; offset += pageSize) {
    const page = evalsPage(store, { offset, limit: pageSize });
    const found = page.items.find((row) => row.candidates.some((candidate) => wanted.has(candidate)));
    if (found !== undefined) return found.id;
    if (offset + pageSize >= page.total) return undefined;
  }
}

/** The economics from stored evaluation `evalId`; undefined when it does not exist. Missing inputs throw `InvalidInputError` naming the config field. */
export function economicsView(loaded: LoadedConfig, store: Store, evalId: string): EconomicsView | undefined {
  const run = store.browse.evalRun(evalId);
  if (run === undefined) return undefined;
  const report = buildEconomics(loaded, store, storedEvaluation(store, run));
  const { result } = report;
  // The conversations are never measured, so they are not read (`actualEconomics` takes whole log records).
  const records = store.listGatewayCalls().map((call) => ({ ...call, messages: null }));
  const actual = records.length === 0 ? null : actualEconomics(report.input, records);
  return {
    evaluation: { id: evalId, createdAt: run.createdAt },
    tasksPerMonth: report.input.tasksPerMonth,
    horizonMonths: report.input.horizonMonths,
    sources: { hosted: report.input.hosted.source, fineTune: report.input.fineTune.source, serving: report.input.serving.source },
    oneOff: result.oneOff,
    per1000: result.per1000,
    monthly: result.monthly,
    crossoverTasks: result.crossoverTasks,
    paybackMonths: result.paybackMonths,
    lifetime: result.lifetime,
    paysBack: result.paysBack,
    curve: report.curve,
    sensitivity: report.sensitivity.map(({ scenario, per1000HostedUsd, per1000TunedUsd, crossoverTasks, paybackMonths, lifetimeSavingUsd, paysBack }) => ({ scenario, per1000HostedUsd, per1000TunedUsd, crossoverTasks, paybackMonths, lifetimeSavingUsd, paysBack })),
    notes: report.notes,
    actual: actual === null ? null : { calls: actual.calls, window: actual.window, figures: actual.figures, notes: actual.notes },
  };
}
