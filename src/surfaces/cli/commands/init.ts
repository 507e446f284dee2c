import path from 'node:path';
import { loadConfigFile, writeDefaultConfig } from '../../../adapters/config-file.ts';
import type { Output } from '../output.ts';

export async function runInit(options: { dir: string; force?: boolean; json?: boolean }, output: Output): Promise<void> {
  const file = writeDefaultConfig(path.resolve(options.dir), { force: options.force });
  output.info(`wrote ${file}`);
  // The written file must itself load; its labelsFile may point at data the user adds later.
  let valid = true;
  try {
    loadConfigFile(file);
  } catch {
    valid = false;
    output.info('note: edit data paths and task.output.labelsFile to point at your data');
  }
  output.result({ ok: true, command: 'init', file, dataFound: valid });
}
