import path from 'node:path';
import { loadConfigFile, writeDefaultConfig } from '../../../adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR } from '../../../adapters/paths.ts';
import type { Output } from '../output.ts';

export async function runInit(options: { dir: string; force?: boolean; json?: boolean }, output: Output): Promise<void> {
  const directory = path.resolve(options.dir);
  // Start from the bundled Banking77 copy, so the written config runs as is; point it at your data next.
  const file = writeDefaultConfig(directory, { force: options.force, dataDir: path.relative(directory, EXAMPLES_BANKING77_DIR) });
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
