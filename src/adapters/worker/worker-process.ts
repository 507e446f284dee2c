import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseWorkerEventLine, WorkerSpecSchema, type WorkerEvent, type WorkerSpec } from '../../contracts/worker.ts';
import { WorkerError } from '../../core/errors.ts';
import { WORKER_DIR } from '../paths.ts';

export interface RunWorkerOptions {
  /** The worker venv's python. */
  python: string;
  spec: WorkerSpec;
  onEvent?: (event: WorkerEvent) => void;
  /** Each line the worker logs on stderr. */
  onStderr?: (line: string) => void;
  /** Abort: SIGTERM, then SIGKILL after `killGraceMs`. */
  signal?: AbortSignal;
  timeoutMs?: number;
  killGraceMs?: number;
  environment?: NodeJS.ProcessEnv;
  /**
   * Arguments that launch the worker module instead of plain `python` (e.g. `-m accelerate.commands.launch
   * --config_file ...`): the command becomes `python ...launcher -m understudy_worker <command> --spec <file>`.
   */
  launcher?: string[];
  /** Called with the child's pid once it is spawned (run locks record it). */
  onSpawn?: (pid: number) => void;
}

export interface WorkerOutcome {
  events: WorkerEvent[];
  /** The payload of the `result` event, if any. */
  result: unknown;
  done: Extract<WorkerEvent, { event: 'done' }>;
}

/**
 * Run `python -m understudy_worker <command> --spec spec.json` and stream its JSON-line events.
 * Rejects with a WorkerError on an `error` event, a non-zero exit, a timeout or an abort.
 */
export function runWorker(options: RunWorkerOptions): Promise<WorkerOutcome> {
  const spec = WorkerSpecSchema.parse(options.spec);
  const specDir = mkdtempSync(path.join(os.tmpdir(), 'understudy-spec-'));
  const specFile = path.join(specDir, 'spec.json');
  writeFileSync(specFile, JSON.stringify(spec, null, 2));
  const environment = options.environment ?? process.env;
  // A spec without a base (export-dataset) loads nothing from the hub either.
  const offline = !('base' in spec) || spec.base.kind !== 'hub';

  return new Promise<WorkerOutcome>((resolve, reject) => {
    const child = spawn(options.python, [...(options.launcher ?? []), '-m', 'understudy_worker', spec.command, '--spec', specFile], {
      cwd: WORKER_DIR,
      env: {
        ...environment,
        PYTHONPATH: [WORKER_DIR, environment.PYTHONPATH].filter(Boolean).join(path.delimiter),
        PYTHONUNBUFFERED: '1',
        TOKENIZERS_PARALLELISM: 'false',
        // The worker exits when this process dies (SIGKILL included), so no orphan keeps training behind a resume.
        UNDERSTUDY_PARENT_PID: String(process.pid),
        ...(offline ? { HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Under a launcher the worker is a grandchild: its own process group lets a stop reach every process.
      detached: options.launcher !== undefined,
    });
    const signalChild = (signalName: NodeJS.Signals): void => {
      if (options.launcher !== undefined && child.pid !== undefined) {
        try {
          process.kill(-child.pid, signalName);
          return;
        } catch {
          // The group is gone already; fall through to the child itself.
        }
      }
      child.kill(signalName);
    };
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    const events: WorkerEvent[] = [];
    let stderrTail = '';
    let stdoutBuffer = '';
    let stderrBuffer = '';
    let failure: WorkerError | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    const stop = (reason: WorkerError): void => {
      failure ??= reason;
      signalChild('SIGTERM');
      killTimer = setTimeout(() => signalChild('SIGKILL'), options.killGraceMs ?? 5000);
      killTimer.unref();
    };
    const onAbort = (): void => stop(new WorkerError(`${spec.command} interrupted`));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const timeout = options.timeoutMs === undefined ? undefined : setTimeout(() => stop(new WorkerError(`${spec.command} timed out after ${options.timeoutMs} ms`, { isRetryable: true })), options.timeoutMs);
    timeout?.unref();

    const handleLine = (line: string): void => {
      const parsed = parseWorkerEventLine(line);
      if (parsed.kind === 'blank') return;
      if (parsed.kind !== 'event') {
        options.onStderr?.(`${parsed.kind === 'not-json' ? '[stdout]' : '[unrecognised event]'} ${line}`);
        return;
      }
      const { event } = parsed;
      events.push(event);
      if (event.event === 'error') failure ??= new WorkerError(`${spec.command}: ${event.errorType}: ${event.message}`);
      options.onEvent?.(event);
    };

    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBuffer += chunk.toString('utf8');
      const lines = stdoutBuffer.split('\n');
      stdoutBuffer = lines.pop() ?? '';
      lines.forEach(handleLine);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      stderrTail = (stderrTail + text).slice(-4000);
      stderrBuffer += text;
      const lines = stderrBuffer.split('\n');
      stderrBuffer = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') options.onStderr?.(line);
    });
    child.on('error', (error) => {
      failure ??= new WorkerError(`could not start the worker with ${options.python}: ${error.message}`, { cause: error, hint: 'run `understudy setup`' });
    });
    child.on('close', (code, signalName) => {
      if (stdoutBuffer !== '') handleLine(stdoutBuffer);
      if (timeout) clearTimeout(timeout);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      rmSync(specDir, { recursive: true, force: true });
      const done = events.find((event): event is Extract<WorkerEvent, { event: 'done' }> => event.event === 'done');
      if (failure === undefined && (code !== 0 || done === undefined)) {
        const tail = stderrTail.trim().split('\n').slice(-8).join('\n    ');
        failure = new WorkerError(`${spec.command} exited with ${signalName ?? `code ${code}`} without finishing${tail ? `:\n    ${tail}` : ''}`);
      }
      if (failure !== undefined || done === undefined) {
        reject(failure ?? new WorkerError(`${spec.command} ended without a done event`));
        return;
      }
      const resultEvent = events.find((event) => event.event === 'result');
      resolve({ events, result: resultEvent?.event === 'result' ? resultEvent.result : undefined, done });
    });
  });
}
