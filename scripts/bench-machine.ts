// What every benchmark states about the machine it ran on.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { InvalidInputError } from '../src/core/errors.ts';

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

/** Parsers for benchmark options: an error names the option and shows the usage text. */
export function optionParsers(usage: string): { positive(name: string, text: string): number; onOff(name: string, text: string): boolean } {
  return {
    positive(name, text) {
      const value = Number(text);
      if (!Number.isInteger(value) || value < 1) throw new InvalidInputError(`--${name} must be a positive integer, got ${JSON.stringify(text)}`, { field: name, hint: usage });
      return value;
    },
    onOff(name, text) {
      if (text !== 'on' && text !== 'off') throw new InvalidInputError(`--${name} must be on or off, got ${JSON.stringify(text)}`, { field: name, hint: usage });
      return text === 'on';
    },
  };
}

/** `--base q4_0|q4_1`: the packaged Q4_1 GGUF or its Q4_0 copy (`understudy models requantize`). */
export function baseOption(text: string, usage: string): 'q4_0' | 'q4_1' {
  if (text !== 'q4_0' && text !== 'q4_1') throw new InvalidInputError(`--base must be q4_0 or q4_1, got ${JSON.stringify(text)}`, { field: 'base', hint: usage });
  return text;
}
