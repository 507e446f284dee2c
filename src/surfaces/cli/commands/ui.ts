import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfigFile } from '../../../adapters/config-file.ts';
import { openStore } from '../../../adapters/store/sqlite-store.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { isLoopbackHost } from '../../http/dashboard-access.ts';
import { newDashboardToken, startDashboardServer } from '../../http/dashboard-server.ts';
import type { Output } from '../output.ts';
import { embeddedDemoConfig } from './demo.ts';

export interface UiOptions {
  workspace: string;
  config?: string;
  host?: string;
  port?: string;
  token?: string;
  json?: boolean;
}

/** `understudy ui`: the dashboard alone (no models loaded) until SIGINT or SIGTERM. */
export async function runUi(options: UiOptions, output: Output): Promise<void> {
  const loaded = options.config === undefined ? embeddedDemoConfig(false) : loadConfigFile(options.config);
  const port = options.port === undefined ? 8788 : Number(options.port);
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new InvalidInputError(`--port must be 0-65535, got ${options.port}`, { field: '--port' });
  const host = options.host ?? '127.0.0.1';
  // Beyond loopback a token is needed: the one given, else a new one, printed once below.
  const token = options.token ?? (isLoopbackHost(host) ? undefined : newDashboardToken());
  const workspace = path.resolve(options.workspace);
  mkdirSync(workspace, { recursive: true });
  const store = openStore(path.join(workspace, 'understudy.db'));
  try {
    const dashboard = await startDashboardServer({ store, workspace, loaded, host, port, ...(token === undefined ? {} : { token }) });
    output.info(`dashboard: ${dashboard.openUrl}`);
    if (token !== undefined && options.token === undefined) output.info('  (the token in this address is shown only now; every request needs it)');
    if (output.json) process.stdout.write(`${JSON.stringify({ event: 'listening', url: dashboard.url, open: dashboard.openUrl })}\n`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    output.info(`${signal}: closing`);
    await dashboard.close();
    output.result({ ok: true, url: dashboard.url, signal });
  } finally {
    store.close();
  }
}
