import path from 'node:path';
import { loadConfigFile, type LoadedConfig } from '../../../adapters/config-file.ts';
import { openStore, type Store } from '../../../adapters/store/sqlite-store.ts';
import { embeddedDemoConfig } from './demo.ts';

/** Options every `understudy data ...` command takes. */
export interface DataCommandOptions {
  workspace: string;
  config?: string;
  json?: boolean;
}

/** What a data command works on: the task's config, its labels and the workspace database. */
export interface DataContext {
  loaded: LoadedConfig;
  /** The task the pool belongs to (`task.name`). */
  task: string;
  workspace: string;
  store: Store;
}

/** Open the workspace database and the config (default: the embedded Banking77 config). Close `store` when done. */
export function openDataContext(options: DataCommandOptions): DataContext {
  const loaded = options.config === undefined ? embeddedDemoConfig(false) : loadConfigFile(options.config);
  const workspace = path.resolve(options.workspace);
  const store = openStore(path.join(workspace, 'understudy.db'));
  return { loaded, task: loaded.config.task.name, workspace, store };
}
