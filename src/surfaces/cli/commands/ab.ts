import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfigFile, type LoadedConfig } from '../../../adapters/config-file.ts';
import { openStore, type Store } from '../../../adapters/store/sqlite-store.ts';
import { buildAbReport, setExperimentDecision } from '../../../pipeline/ab-report.ts';
import { formatTable, type Output } from '../output.ts';
import { embeddedDemoConfig } from './demo.ts';

export interface AbOptions {
  workspace: string;
  config?: string;
  minPerArm?: number;
  margin?: string;
  note?: string;
  json?: boolean;
}

function open(options: AbOptions): { loaded: LoadedConfig; store: Store } {
  const loaded = options.config === undefined ? embeddedDemoConfig(false) : loadConfigFile(options.config);
  const workspace = path.resolve(options.workspace);
  mkdirSync(workspace, { recursive: true });
  return { loaded, store: openStore(path.join(workspace, 'understudy.db')) };
}

/** `understudy ab report <experiment>`. */
export async function runAbReport(options: AbOptions, output: Output, args: string[]): Promise<void> {
  const { loaded, store } = open(options);
  try {
    const margin = options.margin === undefined ? undefined : Number(options.margin) / 100;
    const report = buildAbReport(loaded, store, args[0]!, { ...(options.minPerArm === undefined ? {} : { minPerArm: options.minPerArm }), ...(margin === undefined ? {} : { margin }) });
    const { analysis } = report;
    if (!output.json) {
      const pct = (value: number | null): string => (value === null ? '—' : `${(value * 100).toFixed(1)}%`);
      output.info(`experiment ${report.experiment} on route ${report.route} (${report.mode}, ${report.state}): ${report.calls} logged calls; quality from feedback ${report.scoring.feedback}, validator ${report.scoring.validator}, unscored ${report.scoring.unscored}`);
      const rows = [['arm', 'calls', 'errors', 'fallbacks', 'quality [95%]', '$/1k tasks', 'p50 ms', 'p95 ms']];
      for (const arm of ['incumbent', 'candidate'] as const) {
        const summary = analysis.arms[arm];
        rows.push([
          arm,
          String(summary.calls),
          String(summary.errors),
          String(summary.fallbacks),
          summary.quality === null ? '—' : `${pct(summary.quality)} [${pct(summary.qualityLow)}, ${pct(summary.qualityHigh)}]`,
          summary.costPer1000Usd === null ? 'unknown' : `$${summary.costPer1000Usd.toPrecision(3)}`,
          summary.latencyP50Ms === null ? '—' : String(Math.round(summary.latencyP50Ms)),
          summary.latencyP95Ms === null ? '—' : String(Math.round(summary.latencyP95Ms)),
        ]);
      }
      for (const line of formatTable(rows, rows[0]!.map((_, index) => index > 0))) output.info(line);
      if (analysis.srm !== null) output.info(`sample ratio: ${analysis.srm.candidate} candidate / ${analysis.srm.incumbent} incumbent ${analysis.srm.counting}, expected ${pct(analysis.srm.expectedCandidateShare)} candidate, p = ${analysis.srm.pValue.toPrecision(3)}${analysis.srm.mismatch ? ' (MISMATCH)' : ''}`);
      if (analysis.sequential !== null) {
        const sequential = analysis.sequential;
        output.info(`quality difference (candidate − incumbent): ${pct(sequential.difference)} [${pct(sequential.low)}, ${pct(sequential.high)}], always-valid p = ${sequential.pValue.toPrecision(3)} (mSPRT, τ = ${sequential.tau})`);
      }
      output.info(`recommendation: ${analysis.recommendation}: ${analysis.reason}`);
    }
    output.result({ ok: true, ...report });
  } finally {
    store.close();
  }
}

/** `understudy ab promote|rollback <experiment>`: a running gateway applies it within a second. */
export function abStateCommand(state: 'promoted' | 'rolled-back') {
  return async (options: AbOptions, output: Output, args: string[]): Promise<void> => {
    const { loaded, store } = open(options);
    try {
      const name = args[0]!;
      const { route } = setExperimentDecision(loaded, store, name, state, options.note ?? '');
      output.info(state === 'promoted' ? `${name}: promoted; every request on ${route} now goes to the candidate (the incumbent stays the fallback)` : `${name}: rolled back; every request on ${route} now goes to the incumbent`);
      output.result({ ok: true, experiment: name, route, state });
    } finally {
      store.close();
    }
  };
}
