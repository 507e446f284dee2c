/**
 * How a command talks to a person or a script. On a TTY: progress bars with rate and ETA.
 * With `--json`: one JSON line per progress update on stdout, then one final JSON object
 * with the command's results. Otherwise: plain log lines.
 */
export interface Output {
  readonly json: boolean;
  /** A human message (stderr in JSON mode, so stdout stays machine-readable). */
  info(message: string): void;
  /** Start a counted task; returns an updater. */
  task(name: string, total: number, unit?: string): ProgressTask;
  /** The command's final result: a JSON object with --json, else nothing (the command prints its own table). */
  result(value: Record<string, unknown>): void;
}

export interface ProgressTask {
  /** Set the completed count, with optional extra fields shown after the bar (e.g. loss). */
  update(completed: number, fields?: Record<string, string | number | null>, total?: number): void;
  done(message?: string): void;
}

export function createOutput(options: { json: boolean; stream?: NodeJS.WriteStream; now?: () => number }): Output {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => Date.now());
  const tty = !options.json && stream.isTTY === true;

  return {
    json: options.json,
    info(message) {
      stream.write(`${message}\n`);
    },
    task(name, initialTotal, unit = 'it') {
      const started = now();
      let total = initialTotal;
      let lastPrint = 0;
      let lastPercent = -1;
      return {
        update(completed, fields = {}, newTotal) {
          if (newTotal !== undefined) total = newTotal;
          const elapsed = (now() - started) / 1000;
          const rate = elapsed > 0 ? completed / elapsed : 0;
          const eta = rate > 0 && total > 0 ? Math.max(0, (total - completed) / rate) : null;
          if (options.json) {
            process.stdout.write(`${JSON.stringify({ progress: name, completed, total, rate: round(rate), etaSeconds: eta === null ? null : Math.round(eta), ...fields })}\n`);
            return;
          }
          const extra = Object.entries(fields).filter(([, value]) => value !== null).map(([key, value]) => `${key} ${typeof value === 'number' ? round(value) : value}`).join('  ');
          if (tty) {
            if (now() - lastPrint < 100 && completed < total) return;
            lastPrint = now();
            const width = 28;
            const fraction = total > 0 ? Math.min(1, completed / total) : 0;
            const filled = Math.round(fraction * width);
            const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
            stream.write(`\r\x1b[2K${name} ${bar} ${completed}/${total} ${unit}  ${round(rate)} ${unit}/s  ETA ${formatSeconds(eta)}  ${extra}`);
            return;
          }
          const percent = total > 0 ? Math.floor((completed / total) * 10) * 10 : 0;
          if (percent !== lastPercent) {
            lastPercent = percent;
            stream.write(`${name}: ${completed}/${total} ${unit} (${percent}%)  ${round(rate)} ${unit}/s  ETA ${formatSeconds(eta)}  ${extra}\n`);
          }
        },
        done(message) {
          if (tty) stream.write('\r\x1b[2K');
          if (message !== undefined) {
            if (options.json) process.stdout.write(`${JSON.stringify({ progress: name, done: true, message })}\n`);
            else stream.write(`${name}: ${message}\n`);
          }
        },
      };
    },
    result(value) {
      if (options.json) process.stdout.write(`${JSON.stringify(value)}\n`);
    },
  };
}

function round(value: number): number {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 100) / 100;
}

/** 75 -> "1m15s". */
export function formatSeconds(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '--';
  const whole = Math.round(seconds);
  const minutes = Math.floor(whole / 60);
  return minutes > 0 ? `${minutes}m${String(whole % 60).padStart(2, '0')}s` : `${whole}s`;
}

/** Left- or right-aligned columns (numbers right), two spaces apart. */
export function formatTable(rows: string[][], alignRight: boolean[]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (alignRight[column] === true ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join('  ').trimEnd());
}
