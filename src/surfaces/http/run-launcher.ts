/**
 * Start and stop training runs from the dashboard. A run started here is `understudy train` itself, launched as its
 * own process (detached, with its output in `<workspace>/runs/launched-<time>.log`), so it trains exactly as from
 * the terminal, writes its events to the same store, and outlives the page and the server. Stopping a run sends
 * SIGINT to the process that holds the run's lock (whoever started it): the CLI then stops its worker and marks the
 * run interrupted, and `understudy train --resume` can continue it from its newest checkpoint.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { HTTPException } from 'hono/http-exception';
import type { LoadedConfig } from '../../adapters/config-file.ts';
import { PACKAGE_ROOT } from '../../adapters/paths.ts';
import type { Store } from '../../adapters/store/sqlite-store.ts';
import { processAlive, readRunLock, runFiles } from '../../pipeline/train.ts';

export interface StartRunRequest {
  maxSteps?: number;
  data: 'config' | 'curated';
}

export interface StartedRun {
  pid: number;
  log: string;
  command: string[];
}

export interface RunLauncher {
  start(request: StartRunRequest): StartedRun;
  /** Signal the process training `runId`; returns its pid. */
  stop(runId: string): { pid: number };
}

/** Why a start or a stop cannot happen now: a 409, rendered by the app's one error handler like every HTTPException. */
export class RunControlConflict extends HTTPException {
  override name = 'RunControlConflict';

  constructor(message: string) {
    super(409, { message });
  }
}

export function createRunLauncher(input: { store: Store; workspace: string; loaded: LoadedConfig; cli?: string }): RunLauncher {
  const runsDir = path.join(input.workspace, 'runs');
  const cli = input.cli ?? path.join(PACKAGE_ROOT, 'bin', 'understudy.js');
  /** A launch whose run may not be registered yet. */
  let launched: { pid: number } | undefined;

  const training = (): string | undefined => {
    for (const runId of input.store.browse.runningRunIds()) {
      const holder = readRunLock(runFiles(runsDir, runId).lockFile);
      if (holder?.pid !== undefined && processAlive(holder.pid)) return `run ${runId} is training (process ${holder.pid})`;
    }
    if (launched !== undefined && processAlive(launched.pid)) return `a run started from the dashboard is still starting or training (process ${launched.pid})`;
    return undefined;
  };

  return {
    start(request) {
      // One run at a time on this machine: two trainings on the same cores would both crawl.
      const busy = training();
      if (busy !== undefined) throw new RunControlConflict(`${busy}; stop it first, or wait for it`);
      const command = [
        cli,
        'train',
        '--workspace',
        input.workspace,
        ...(input.loaded.file.startsWith('<') ? [] : ['--config', input.loaded.file]),
        ...(request.maxSteps === undefined ? [] : ['--max-steps', String(request.maxSteps)]),
        ...(request.data === 'curated' ? ['--data', 'curated'] : []),
        '--json',
      ];
      mkdirSync(runsDir, { recursive: true });
      const log = path.join(runsDir, `launched-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
      const fd = openSync(log, 'a');
      try {
        const child = spawn(process.execPath, command, { cwd: input.workspace, detached: true, stdio: ['ignore', fd, fd], env: process.env });
        if (child.pid === undefined) throw new Error(`could not start ${process.execPath} ${command.join(' ')}`);
        child.unref();
        launched = { pid: child.pid };
        return { pid: child.pid, log, command: ['understudy', ...command.slice(1)] };
      } finally {
        closeSync(fd);
      }
    },
    stop(runId) {
      const run = input.store.getRun(runId);
      if (run === undefined) throw new RunControlConflict(`no run ${runId}`);
      if (run.status !== 'running') throw new RunControlConflict(`run ${runId} is ${run.status}, not training`);
      const holder = readRunLock(runFiles(runsDir, runId).lockFile);
      if (holder?.pid === undefined || !processAlive(holder.pid)) {
        throw new RunControlConflict(`no process on this machine is training run ${runId} (a remote or bundled run, or one whose process died: see understudy runs show)`);
      }
      process.kill(holder.pid, 'SIGINT');
      return { pid: holder.pid };
    },
  };
}
