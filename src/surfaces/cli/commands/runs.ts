import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openStore, type Store } from '../../../adapters/store/sqlite-store.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { describeRun, listRunSummaries, matchRunId, type RunDescription, type RunSummary } from '../../../pipeline/run-records.ts';
import { describeBaseRef, describeWorker, flattenSettings, formatDuration, renderRunReportHtml } from '../../../pipeline/run-report-html.ts';
import { formatTable, type Output } from '../output.ts';

export interface RunsOptions {
  /** The workspace folder: `<workspace>/understudy.db` and `<workspace>/runs/<run id>/`. */
  workspace: string;
  json?: boolean;
}

export interface RunsShowOptions extends RunsOptions {
  /** Write the HTML report here instead of `<workspace>/runs/<run id>/report.html`. */
  report?: string;
}

/** `understudy runs list`: every training run in the workspace, newest first. */
export async function runRunsList(options: RunsOptions, output: Output): Promise<void> {
  const { workspace, databaseFile, store } = openWorkspaceStore(options.workspace);
  let runs: RunSummary[];
  try {
    runs = listRunSummaries(store);
  } finally {
    store.close();
  }
  if (!output.json) {
    if (runs.length === 0) {
      output.info(`no training runs in ${databaseFile}`);
    } else {
      const table = [
        ['id', 'method', 'status', 'started (UTC)', 'steps', 'final loss', 'best eval loss', 'data hash', 'base sha256'],
        ...runs.map((run) => [
          run.id,
          run.method,
          run.status,
          formatTimestamp(run.startedAt),
          run.steps === null ? '-' : `${run.steps}${run.totalSteps === null ? '' : `/${run.totalSteps}`}`,
          formatLoss(run.finalLoss),
          run.bestEvalLoss === null ? '-' : `${formatLoss(run.bestEvalLoss)} @${run.bestStep ?? '?'}`,
          hashPrefix(run.datasetContentHash),
          hashPrefix(run.baseSha256),
        ]),
      ];
      for (const line of formatTable(table, [false, false, false, false, true, true, true, false, false])) output.info(line);
      output.info('');
      output.info(`details and an HTML report: understudy runs show <id> --workspace ${options.workspace}    (a unique prefix of the id is enough)`);
    }
  }
  output.result({ ok: true, command: 'runs list', workspace, databaseFile, runs });
}

/** `understudy runs show <id>`: one run in full, and its HTML report written next to it. */
export async function runRunsShow(options: RunsShowOptions, output: Output, args: string[]): Promise<void> {
  const wanted = args[0] ?? '';
  const { workspace, databaseFile, store } = openWorkspaceStore(options.workspace);
  let run: RunDescription;
  try {
    run = describeRun(store, resolveRunId(store, wanted, databaseFile, options.workspace));
  } finally {
    store.close();
  }
  const reportFile = path.resolve(options.report ?? path.join(workspace, 'runs', run.id, 'report.html'));
  writeFileAtomic(reportFile, renderRunReportHtml(run, { createdAt: new Date().toISOString() }));
  if (!output.json) {
    for (const line of describeRunLines(run)) output.info(line);
    output.info(`  ${'report'.padEnd(LABEL_WIDTH)}  ${reportFile}`);
  }
  output.result({ ok: true, command: 'runs show', workspace, databaseFile, reportFile, run });
}

/** `understudy runs attach <id>`: reconnect to a run still going on its SSH host and finish it as `train --on` would. */
export async function runRunsAttach(options: RunsOptions, output: Output, args: string[]): Promise<void> {
  const { workspace, databaseFile, store } = openWorkspaceStore(options.workspace);
  const controller = new AbortController();
  const interrupt = (): void => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const runId = resolveRunId(store, args[0] ?? '', databaseFile, options.workspace);
    const { attachRemoteRun } = await import('../../../pipeline/train-remote.ts');
    const { createTrainEventPrinter } = await import('./train.ts');
    const printer = createTrainEventPrinter(output);
    const result = await attachRemoteRun({ store, runsDir: path.join(workspace, 'runs'), runId, signal: controller.signal, onEvent: printer.onEvent, onStage: (message) => output.info(message) });
    if (!output.json) output.info(`adapter ${result.adapter.id}: ${result.adapter.ggufPath} (PEFT: ${result.adapter.peftPath})`);
    output.result({ ok: true, command: 'runs attach', workspace, ...result });
  } finally {
    store.close();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/** `understudy runs import <out>`: a bundle job's results back into its run, checked against the worker's sha256s. */
export async function runRunsImport(options: RunsOptions, output: Output, args: string[]): Promise<void> {
  const { workspace, store } = openWorkspaceStore(options.workspace);
  try {
    const { importBundleResults } = await import('../../../pipeline/train-bundle.ts');
    const result = await importBundleResults({ store, runsDir: path.join(workspace, 'runs'), from: args[0] ?? '' });
    if (!output.json) output.info(`run ${result.run.id}: ${result.steps ?? '?'} steps, final loss ${result.trainLoss?.toFixed(4) ?? '?'}; adapter ${result.adapter.id} verified and registered: ${result.adapter.ggufPath}`);
    output.result({ ok: true, command: 'runs import', workspace, ...result });
  } finally {
    store.close();
  }
}

/** Open an existing workspace database; a missing one is an error (listing never creates an empty database). */
function openWorkspaceStore(workspaceOption: string): { workspace: string; databaseFile: string; store: Store } {
  const workspace = path.resolve(workspaceOption);
  const databaseFile = path.join(workspace, 'understudy.db');
  if (!existsSync(databaseFile)) {
    throw new InvalidInputError('no Understudy database: the file does not exist', {
      file: databaseFile,
      hint: 'pass --workspace <dir> with the folder a run wrote to (the demo writes to understudy-demo unless told otherwise)',
    });
  }
  try {
    return { workspace, databaseFile, store: openStore(databaseFile) };
  } catch (error) {
    throw new InvalidInputError(`cannot open as an Understudy database: ${error instanceof Error ? error.message : String(error)}`, { file: databaseFile, cause: error });
  }
}

function resolveRunId(store: Store, wanted: string, databaseFile: string, workspaceOption: string): string {
  const listHint = `see the run ids with: understudy runs list --workspace ${workspaceOption}`;
  const match = matchRunId(store, wanted);
  if (match.kind === 'found') return match.id;
  if (match.kind === 'ambiguous') {
    const shown = match.ids.slice(0, 5).join(', ');
    throw new InvalidInputError(`run id prefix ${wanted} matches ${match.ids.length} runs in ${databaseFile}: ${shown}${match.ids.length > 5 ? ', ...' : ''}`, {
      field: '<id>',
      hint: `give more characters of the id; ${listHint}`,
    });
  }
  throw new InvalidInputError(wanted.trim() === '' ? 'give a run id' : `no run with id ${wanted} in ${databaseFile}`, { field: '<id>', hint: listHint });
}

const LABEL_WIDTH = 14;

function describeRunLines(run: RunDescription): string[] {
  const lines: string[] = [`${run.id}  ${run.status}  ${run.method}`];
  const fact = (label: string, value: string): void => {
    lines.push(`  ${label.padEnd(LABEL_WIDTH)}  ${value}`);
  };
  const finished = run.finishedAt === null ? 'still running or never closed' : `finished ${run.finishedAt}${run.durationSeconds === null ? '' : `, ${formatDuration(run.durationSeconds)}`}`;
  fact('started', `${run.startedAt} (${finished})`);
  const { dataset, base } = run;
  fact('dataset', `${dataset.name ?? 'unknown'} (${dataset.id}${dataset.exampleCount === null ? '' : `, ${dataset.exampleCount} example${dataset.exampleCount === 1 ? '' : 's'}`})`);
  fact('  hash', dataset.contentHash ?? 'not recorded');
  fact('base', `${base.name ?? 'not registered'}${base.ref === null ? '' : `, loaded as ${describeBaseRef(base.ref)}`}`);
  fact('  sha256', base.sha256);
  fact('chat template', `${run.chatTemplate.origin ?? 'unknown origin'}, sha256 ${run.chatTemplate.sha256 ?? 'not recorded'}`);
  fact('spec hash', run.spec.hash);
  const settings = (label: string, values: Record<string, unknown> | null): void => {
    if (values !== null && Object.keys(values).length > 0) fact(label, flattenSettings(values).map(([key, value]) => `${key}=${value}`).join('  '));
  };
  settings('lora', run.spec.lora);
  settings('training', run.spec.training);
  settings('other', run.spec.extra);
  if (run.worker !== null) fact('worker', describeWorker(run.worker) || '-');
  const stepNotes = [run.stoppedEarly === true ? 'stopped early' : null, run.resumedFromStep === null ? null : `resumed from step ${run.resumedFromStep}`].filter((note) => note !== null);
  fact('steps', run.steps.completed === null ? '-' : `${run.steps.completed}${run.steps.total === null ? '' : ` of ${run.steps.total}`}${stepNotes.length === 0 ? '' : ` (${stepNotes.join(', ')})`}`);
  fact('loss', `final ${formatLoss(run.finalLoss)}${run.trainLoss === null || run.trainLoss === run.finalLoss ? '' : `, the worker reported ${formatLoss(run.trainLoss)}`} (${run.lossCurve.length} logged points)`);
  if (run.validationCurve.length > 0) {
    const best = run.best === null ? 'no best marked' : `best ${formatLoss(run.best.evalLoss)} at step ${run.best.step}`;
    const atBest = run.validationCurve.find((point) => point.step === run.best?.step) ?? run.validationCurve.at(-1);
    const accuracy = atBest === undefined || atBest.accuracy === null ? '' : `, accuracy ${(atBest.accuracy * 100).toFixed(1)}% at step ${atBest.step}${atBest.accuracySample === null ? '' : ` (n = ${atBest.accuracySample})`}`;
    fact('validation', `${run.validationCurve.length} validations, ${best}${accuracy}`);
  }
  if (run.checkpoints.length === 0) fact('checkpoints', 'none');
  for (const [index, checkpoint] of run.checkpoints.entries()) fact(index === 0 ? 'checkpoints' : '', `step ${checkpoint.step}  ${checkpoint.path}${checkpoint.best ? '  (best)' : ''}`);
  if (run.hostedModel !== null) {
    fact('hosted model', `${run.hostedModel.model}  (${run.hostedModel.service} job ${run.hostedModel.jobId}, from ${run.hostedModel.baseModel}, target ${run.hostedModel.target})`);
  } else if (run.adapter === null) {
    fact('adapter', 'none');
  } else {
    fact('adapter', run.adapter.id);
    fact('  gguf', `${run.adapter.ggufPath}  sha256 ${run.adapter.ggufSha256}`);
    fact('  peft', `${run.adapter.peftPath}  sha256 ${run.adapter.peftSha256}`);
  }
  if (run.error !== null) fact('error', `${run.error.errorType === null ? '' : `${run.error.errorType}: `}${run.error.message}`);
  return lines;
}

/** Write through a temporary file and a rename, so a reader never sees half a report. */
function writeFileAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** "2025-01-31T12:34:56.000Z" -> "2025-01-31 12:34". */
function formatTimestamp(iso: string): string {
  return iso.length >= 16 ? iso.slice(0, 16).replace('T', ' ') : iso;
}

function formatLoss(loss: number | null): string {
  return loss === null ? '-' : loss.toFixed(4);
}

function hashPrefix(hash: string | null): string {
  return hash === null ? '-' : hash.slice(0, 12);
}
