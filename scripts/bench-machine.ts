// What every benchmark states about the machine it ran on.
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The CPU model: /proc/cpuinfo on Linux, else what Node reports. */
export function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((entry) => entry.startsWith('model name'));
    if (line !== undefined) return line.split(':').slice(1).join(':').trim();
  } catch {
    // Not Linux: fall back to what Node reports.
  }
  return os.cpus()[0]?.model ?? 'unknown';
}
