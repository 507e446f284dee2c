import type { LoadedConfig } from '../adapters/config-file.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { GatewayExperiment } from '../contracts/config.ts';
import type { ExperimentState } from '../contracts/gateway.ts';
import { weightAt } from '../core/ab-assignment.ts';
import { analyzeExperiment, type ArmOutcome, type ExperimentAnalysis } from '../core/ab-analysis.ts';
import { InvalidInputError } from '../core/errors.ts';
import { taskValidator } from './gateway-routes.ts';

export interface AbReport {
  experiment: string;
  route: string;
  mode: GatewayExperiment['mode'];
  state: ExperimentState;
  calls: number;
  /** How quality was scored: feedback where a request has it, else the task's validator on the stored answer. */
  scoring: { feedback: number; validator: number; unscored: number };
  analysis: ExperimentAnalysis;
}

/** Find an experiment by name in the gateway routes. */
export function findExperiment(loaded: LoadedConfig, name: string): { route: string; experiment: GatewayExperiment } {
  for (const [route, settings] of Object.entries(loaded.config.gateway.routes)) {
    if (settings.experiment?.name === name) return { route, experiment: settings.experiment };
  }
  const known = Object.values(loaded.config.gateway.routes).flatMap((settings) => (settings.experiment === undefined ? [] : [settings.experiment.name]));
  throw new InvalidInputError(`no experiment ${JSON.stringify(name)} in gateway.routes`, { file: loaded.file, field: 'gateway.routes', hint: known.length === 0 ? 'add an experiment to a route' : `known: ${known.join(', ')}` });
}

/** Every experiment in the gateway routes, in config order. */
export function listExperiments(loaded: LoadedConfig): { route: string; experiment: GatewayExperiment }[] {
  return Object.entries(loaded.config.gateway.routes).flatMap(([route, settings]) => (settings.experiment === undefined ? [] : [{ route, experiment: settings.experiment }]));
}

/**
 * `understudy ab promote|rollback`: store the experiment's new state; a running gateway reads it within a second
 * (promoted: every request on the route goes to the candidate, the incumbent stays the fallback; rolled back: every
 * request goes to the incumbent).
 */
export function setExperimentDecision(loaded: LoadedConfig, store: Store, name: string, state: 'promoted' | 'rolled-back', note = ''): { experiment: string; route: string; state: ExperimentState } {
  const { route } = findExperiment(loaded, name);
  store.setExperimentState(name, state, note);
  return { experiment: name, route, state };
}

/** `understudy ab report`: per-arm quality, cost and latency, the sample ratio check, the always-valid test, a recommendation. */
export function buildAbReport(loaded: LoadedConfig, store: Store, name: string, options: { minPerArm?: number; margin?: number } = {}): AbReport {
  const { route, experiment } = findExperiment(loaded, name);
  const records = store.listGatewayCalls({ route, experiment: name });
  const feedback = new Map(store.listGatewayFeedback().map((entry) => [entry.requestId, entry]));
  const validate = taskValidator(loaded);
  const scoring = { feedback: 0, validator: 0, unscored: 0 };
  const outcomes = records.map((record): ArmOutcome => {
    const given = feedback.get(record.requestId);
    let quality: number | null = null;
    if (given !== undefined && (given.score !== null || given.correction !== null)) {
      quality = given.score ?? (given.correction === record.response ? 1 : 0);
      scoring.feedback += 1;
    } else if (record.status === 'ok' && record.response !== null) {
      quality = validate(record.response) === undefined ? 1 : 0;
      scoring.validator += 1;
    } else scoring.unscored += 1;
    return {
      arm: record.arm as ArmOutcome['arm'],
      at: Date.parse(record.createdAt),
      quality,
      costUsd: record.costUsd,
      latencyMs: record.latencyMs,
      error: record.status === 'error',
      fallback: record.fallback,
      shadow: record.shadow,
      unit: record.unit ?? null,
    };
  });
  const state = store.experimentStates().get(name)?.state ?? 'running';
  const analysis = analyzeExperiment(outcomes, {
    expectedCandidateShare: experiment.mode === 'shadow' || state !== 'running' ? null : (at) => (experiment.killed ? 0 : weightAt(experiment.weight, experiment.ramp, at)),
    ...(options.minPerArm === undefined ? {} : { minPerArm: options.minPerArm }),
    ...(options.margin === undefined ? {} : { margin: options.margin }),
  });
  return { experiment: name, route, mode: experiment.mode, state, calls: records.length, scoring, analysis };
}
