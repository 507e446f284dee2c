import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { LoadedConfig } from '../../adapters/config-file.ts';
import type { Store } from '../../adapters/store/sqlite-store.ts';
import { createGatewayLogQueue, type GatewayLogQueue } from '../../pipeline/gateway-log-queue.ts';
import { resolveGatewayRoutes, type ResolvedGatewayRoute } from '../../pipeline/gateway-routes.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { createRedactor } from '../../core/redact.ts';
import { createGatewayApp } from './gateway-app.ts';
import { createDashboardApp } from './dashboard-app.ts';
import { assertDashboardToken, isLoopbackHost } from './dashboard-access.ts';
import { loadDashboardAssets } from './dashboard-assets.ts';
import { newDashboardToken } from './dashboard-server.ts';

export interface RunningGateway {
  /** `http://host:port` (append `/v1` for an OpenAI SDK's base URL). */
  url: string;
  routes: readonly ResolvedGatewayRoute[];
  log: GatewayLogQueue;
  /** The dashboard's address (`<url>/ui/`), with `?token=` when one is needed; null when not mounted. */
  dashboardUrl: string | null;
  /** Stop accepting connections, finish the log (no row lost), free the models. */
  close(): Promise<void>;
}

/** Start `understudy serve`: the workspace's routes behind the OpenAI-compatible app, on host:port (0: any free port). */
export async function startGateway(
  loaded: LoadedConfig,
  store: Store,
  options: {
    host?: string;
    port?: number;
    threads?: number;
    onMessage?: (message: string) => void;
    /** The dashboard at `/ui` (default: on; beyond loopback with a new token unless one is given); false: not mounted. */
    dashboard?: { token?: string } | false;
  } = {},
): Promise<RunningGateway> {
  const settings = loaded.config.gateway;
  const host = options.host ?? settings.host;
  if (!settings.requireKeys && !isLoopbackHost(host)) {
    throw new InvalidInputError(`refusing to serve on ${host} without keys: anyone who can reach it could spend your models`, {
      file: loaded.file,
      field: 'gateway.requireKeys',
      hint: 'set gateway.requireKeys: true and make keys with `understudy keys create`, or bind to 127.0.0.1',
    });
  }
  if (options.dashboard !== false) assertDashboardToken(options.dashboard?.token, 'dashboard.token');
  const resolved = await resolveGatewayRoutes(loaded, store, { ...(options.threads === undefined ? {} : { threads: options.threads }), ...(options.onMessage === undefined ? {} : { onMessage: options.onMessage }) });
  const log = createGatewayLogQueue(store, { batchSize: settings.logBatchSize, flushMs: settings.logFlushMs });
  // Promote and roll back reach a running gateway through the store, read once a second.
  let states = store.experimentStates();
  let keys = store.activeGatewayKeyHashes();
  const poll = setInterval(() => {
    try {
      states = store.experimentStates();
      keys = store.activeGatewayKeyHashes();
    } catch {
      // The store is closing: keep the last known states.
    }
  }, 1000);
  poll.unref();
  const app = createGatewayApp({
    routes: resolved.routes,
    ...(settings.defaultRoute === undefined ? {} : { defaultRoute: settings.defaultRoute }),
    log,
    maxBodyBytes: settings.maxBodyBytes,
    storeBodies: settings.storeBodies,
    redact: createRedactor({ pii: settings.redactPii }),
    experimentState: (experiment) => states.get(experiment)?.state,
    ...(settings.requireKeys ? { keyIsValid: (sha256: string) => keys.has(sha256) } : {}),
    feedback: (feedback) => {
      log.flush();
      return store.addGatewayFeedback({
        requestId: feedback.request_id,
        ...(feedback.score === undefined ? {} : { score: feedback.score }),
        ...(feedback.correction === undefined ? {} : { correction: feedback.correction }),
        ...(feedback.comment === undefined ? {} : { comment: feedback.comment }),
      });
    },
  });
  let dashboardToken: string | undefined;
  if (options.dashboard !== false) {
    dashboardToken = options.dashboard?.token ?? (isLoopbackHost(host) ? undefined : newDashboardToken());
    const assets = loadDashboardAssets();
    if (assets.kind === 'missing') options.onMessage?.(`dashboard: ${assets.message}`);
    app.route('/ui', createDashboardApp({ store, workspace: path.dirname(store.file), loaded, assets, basePath: '/ui', ...(dashboardToken === undefined ? {} : { token: dashboardToken }) }));
  }
  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const started = serve({ fetch: app.fetch, hostname: host, port: options.port ?? settings.port }, () => resolve(started));
      started.once('error', reject);
    });
  } catch (error) {
    clearInterval(poll);
    log.close();
    await resolved.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    routes: resolved.routes,
    log,
    dashboardUrl: options.dashboard === false ? null : `http://${shownHost}:${address.port}/ui/${dashboardToken === undefined ? '' : `?token=${encodeURIComponent(dashboardToken)}`}`,
    async close() {
      clearInterval(poll);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets of SDK clients would hold close() open until they time out.
      if ('closeIdleConnections' in server) server.closeIdleConnections();
      await closed;
      log.close();
      await resolved.close();
    },
  };
}
