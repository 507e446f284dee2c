import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfigFile } from '../../../adapters/config-file.ts';
import { openStore } from '../../../adapters/store/sqlite-store.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { startGateway } from '../../http/gateway-server.ts';
import type { Output } from '../output.ts';
import { embeddedDemoConfig } from './demo.ts';

export interface ServeOptions {
  workspace: string;
  config?: string;
  host?: string;
  port?: string;
  threads?: number;
  json?: boolean;
}

/** `understudy serve`: the OpenAI-compatible gateway until SIGINT or SIGTERM; then the log is flushed and the models freed. */
export async function runServe(options: ServeOptions, output: Output): Promise<void> {
  const loaded = options.config === undefined ? embeddedDemoConfig(false) : loadConfigFile(options.config);
  const port = options.port === undefined ? undefined : Number(options.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new InvalidInputError(`--port must be 0-65535, got ${options.port}`, { field: '--port' });
  const workspace = path.resolve(options.workspace);
  mkdirSync(workspace, { recursive: true });
  const store = openStore(path.join(workspace, 'understudy.db'));
  try {
    const gateway = await startGateway(loaded, store, {
      ...(options.host === undefined ? {} : { host: options.host }),
      ...(port === undefined ? {} : { port }),
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      onMessage: (message) => output.info(message),
    });
    output.info(`serving ${gateway.url}/v1 (OpenAI-compatible); routes: ${gateway.routes.map((route) => `${route.alias} → ${route.describe}`).join(', ')}`);
    if (gateway.dashboardUrl !== null) output.info(`dashboard: ${gateway.dashboardUrl}${gateway.dashboardUrl.includes('?token=') ? '  (the token is shown only now)' : ''}`);
    if (output.json) process.stdout.write(`${JSON.stringify({ event: 'listening', url: gateway.url, dashboard: gateway.dashboardUrl, routes: gateway.routes.map((route) => ({ alias: route.alias, path: route.path, tasks: route.tasks, describe: route.describe })) })}\n`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    output.info(`${signal}: closing`);
    await gateway.close();
    const stats = gateway.log.stats();
    output.result({ ok: stats.failedBatches === 0, url: gateway.url, signal, logged: stats.written, failedLogBatches: stats.failedBatches, lastLogError: stats.lastError });
  } finally {
    store.close();
  }
}
