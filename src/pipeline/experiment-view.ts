/**
 * A/B experiments as the dashboard shows them: `understudy ab report` (the same computation, `buildAbReport`) with the
 * configured split and the recorded decision, one page of the configured experiments at a time.
 */
import type { LoadedConfig } from '../adapters/config-file.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { ExperimentArmView, ExperimentView, Page, PageQuery } from '../contracts/dashboard.ts';
import { weightAt } from '../core/ab-assignment.ts';
import type { ArmSummary } from '../core/ab-analysis.ts';
import { buildAbReport, findExperiment, listExperiments } from './ab-report.ts';

/** Whether the config names this experiment (the dashboard answers 404 otherwise). */
export function hasExperiment(loaded: LoadedConfig, name: string): boolean {
  return listExperiments(loaded).some(({ experiment }) => experiment.name === name);
}

export function experimentView(loaded: LoadedConfig, store: Store, name: string, now: number = Date.now()): ExperimentView {
  const { route, experiment } = findExperiment(loaded, name);
  const report = buildAbReport(loaded, store, name);
  const decided = store.experimentStates().get(name);
  const arm = (target: string, summary: ArmSummary): ExperimentArmView => ({ target, ...summary });
  const { analysis } = report;
  return {
    name,
    route,
    mode: experiment.mode,
    state: report.state,
    decided: decided === undefined ? null : { at: decided.changedAt, note: decided.note },
    candidateWeight: experiment.killed ? 0 : weightAt(experiment.weight, experiment.ramp, now),
    killed: experiment.killed,
    calls: report.calls,
    scoring: report.scoring,
    arms: { incumbent: arm(loaded.config.gateway.routes[route]!.target, analysis.arms.incumbent), candidate: arm(experiment.candidate, analysis.arms.candidate) },
    srm: analysis.srm,
    sequential: analysis.sequential,
    recommendation: analysis.recommendation,
    reason: analysis.reason,
  };
}

/** The configured experiments in config order, a page at a time, each with its live report. */
export function experimentsPage(loaded: LoadedConfig, store: Store, query: PageQuery): Page<ExperimentView> {
  const all = listExperiments(loaded);
  const now = Date.now();
  return {
    items: all.slice(query.offset, query.offset + query.limit).map(({ experiment }) => experimentView(loaded, store, experiment.name, now)),
    total: all.length,
    offset: query.offset,
    limit: query.limit,
  };
}
