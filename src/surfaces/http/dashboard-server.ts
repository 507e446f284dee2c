import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { LoadedConfig } from '../../adapters/config-file.ts';
import type { Store } from '../../adapters/store/sqlite-store.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { createDashboardApp } from './dashboard-app.ts';
import { assertDashboardToken, isLoopbackHost } from './dashboard-access.ts';
import { loadDashboardAssets, type DashboardAssets } from './dashboard-assets.ts';

export interface RunningDashboard {
  /** `http://host:port/`. */
  url: string;
  /** The address to open: with `?token=` when a token is needed (print it once). */
  openUrl: string;
  close(): Promise<void>;
}

/** A token for a dashboard bound beyond loopback: 32 random bytes, URL-safe. */
export function newDashboardToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * `understudy ui`: only the dashboard, at `/`. Bound to 127.0.0.1 by default; any other address needs a token, and
 * is refused without one. A missing page build is refused with the command that makes it.
 */
export async function startDashboardServer(input: { store: Store; workspace: string; loaded: LoadedConfig; host?: string; port?: number; token?: string; assets?: DashboardAssets }): Promise<RunningDashboard> {
  const host = input.host ?? '127.0.0.1';
  if (!isLoopbackHost(host) && input.token === undefined) {
    throw new InvalidInputError(`refusing to serve the dashboard on ${host} without a token: anyone who can reach it could read and change your data`, {
      field: '--host',
      hint: 'bind to 127.0.0.1, or give --token (understudy ui makes one when you leave it out)',
    });
  }
  assertDashboardToken(input.token, '--token');
  const assets = input.assets ?? loadDashboardAssets();
  if (assets.kind === 'missing') throw new InvalidInputError(assets.message);
  const app = createDashboardApp({ store: input.store, workspace: input.workspace, loaded: input.loaded, assets, basePath: '/', ...(input.token === undefined ? {} : { token: input.token }) });
  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: host, port: input.port ?? 8788 }, () => resolve(started));
    started.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}/`;
  return {
    url,
    openUrl: input.token === undefined ? url : `${url}?token=${encodeURIComponent(input.token)}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if ('closeIdleConnections' in server) server.closeIdleConnections();
      await closed;
    },
  };
}
