import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../adapters/paths.ts';

/** Where `npm run build:ui` (Vite) writes the page. */
export const DASHBOARD_BUILD_DIR = path.join(PACKAGE_ROOT, 'dist', 'ui');

/** The command that builds it, for error messages. */
export const DASHBOARD_BUILD_COMMAND = 'npm run build:ui';

export interface DashboardAsset {
  body: Uint8Array;
  contentType: string;
  /** Vite names assets by content hash: they never change under the same name. */
  immutable: boolean;
}

/** The built page by path (`index.html`, `assets/index-….js`), or why it is missing. */
export type DashboardAssets = { kind: 'built'; files: ReadonlyMap<string, DashboardAsset> } | { kind: 'missing'; message: string };

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/**
 * Read the built page into memory once (it is small), so requests are served from a fixed list of files and no
 * request path ever reaches the file system.
 */
export function loadDashboardAssets(directory: string = DASHBOARD_BUILD_DIR): DashboardAssets {
  if (!existsSync(path.join(directory, 'index.html'))) {
    return { kind: 'missing', message: `the dashboard page is not built (no ${path.join(directory, 'index.html')}): run \`${DASHBOARD_BUILD_COMMAND}\` in ${PACKAGE_ROOT} (npm ci runs it too)` };
  }
  const files = new Map<string, DashboardAsset>();
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        const name = path.relative(directory, full).split(path.sep).join('/');
        files.set(name, { body: readFileSync(full), contentType: CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream', immutable: name.startsWith('assets/') });
      }
    }
  };
  walk(directory);
  return { kind: 'built', files };
}
