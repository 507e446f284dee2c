// `npm run bench:dashboard [-- --rounds R --large N --small N]`: the dashboard's first view of a workspace (the
// examples page: 50 rows, the facets and the overview) in Debian's chromium, timed from navigation to the 50th row
// painted, for a workspace of 100,000 examples and one of 1,000, alternating, side by side in one run. Server-side
// paging should make the large workspace about as fast as the small one; the target is under a second at 100,000.
import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { percentile } from '../src/core/statistics.ts';
import { DASHBOARD_BUILD_COMMAND, DASHBOARD_BUILD_DIR } from '../src/surfaces/http/dashboard-assets.ts';
import { startDashboardServer, type RunningDashboard } from '../src/surfaces/http/dashboard-server.ts';
import { demoConfig, seedDashboardWorkspace } from '../test/helpers/dashboard-workspace.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' }, large: { type: 'string', default: '100000' }, small: { type: 'string', default: '1000' } } });
const ROUNDS = Number(values.rounds);
const SIZES = [Number(values.small), Number(values.large)];
const TARGET_MS = 1000;
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
if (!existsSync(path.join(DASHBOARD_BUILD_DIR, 'index.html'))) throw new Error(`the dashboard is not built: run \`${DASHBOARD_BUILD_COMMAND}\``);

const workspaces: { size: number; workspace: string; close: () => void; dashboard: RunningDashboard }[] = [];
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
try {
  for (const size of SIZES) {
    const seeded = seedDashboardWorkspace(size, { trainCount: Math.min(2000, size), evalCount: Math.min(300, size / 10) });
    const dashboard = await startDashboardServer({ store: seeded.store, workspace: seeded.workspace, loaded: demoConfig, port: 0 });
    workspaces.push({ size, workspace: seeded.workspace, close: () => seeded.store.close(), dashboard });
    process.stderr.write(`[bench:dashboard] seeded ${size.toLocaleString('en-US')} examples\n`);
  }
  const timings = new Map<number, number[]>(SIZES.map((size) => [size, []]));
  // One warm-up view each (the page's assets into the browser's cache, SQLite's pages into memory), then rounds in
  // alternating order. Each view is a fresh page: nothing of the previous view is reused but the HTTP cache.
  for (let round = -1; round < ROUNDS; round += 1) {
    const order = round % 2 === 0 ? workspaces : [...workspaces].reverse();
    for (const { size, dashboard } of order) {
      const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
      const started = performance.now();
      await page.goto(`${dashboard.url}#/examples`);
      await page.locator('[data-testid="examples-table"] tbody tr').nth(49).waitFor();
      const elapsed = performance.now() - started;
      await page.close();
      if (round >= 0) timings.get(size)!.push(elapsed);
    }
  }
  const rows = SIZES.map((size) => {
    const list = timings.get(size)!;
    return { examples: size, p50Ms: Number(percentile(list, 50).toFixed(1)), p95Ms: Number(percentile(list, 95).toFixed(1)), maxMs: Number(Math.max(...list).toFixed(1)) };
  });
  const [small, large] = rows as [typeof rows[number], typeof rows[number]];
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  process.stdout.write(`\nbench:dashboard — ${cpu}, ${os.availableParallelism()} cores; chromium headless; first view of the examples page (50 rows), ${ROUNDS} rounds alternating\n\n`);
  process.stdout.write(`examples\tp50 ms\tp95 ms\tmax ms\n${rows.map((row) => `${row.examples}\t${row.p50Ms}\t${row.p95Ms}\t${row.maxMs}`).join('\n')}\n\n`);
  const ratio = Number((large.p50Ms / small.p50Ms).toFixed(2));
  const pass = large.p95Ms < TARGET_MS;
  process.stdout.write(`${large.examples.toLocaleString('en-US')} vs ${small.examples.toLocaleString('en-US')} examples: p50 ×${ratio}; target p95 < ${TARGET_MS} ms at ${large.examples.toLocaleString('en-US')}: ${pass}\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'dashboard', machine: { cpu, cores: os.availableParallelism() }, rounds: ROUNDS, sizes: rows, largeVsSmallP50: ratio, targetMs: TARGET_MS, pass })}\n`);
} finally {
  await browser.close();
  for (const entry of workspaces) {
    await entry.dashboard.close();
    entry.close();
    rmSync(entry.workspace, { recursive: true, force: true });
  }
}
