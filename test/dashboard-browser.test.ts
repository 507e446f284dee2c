// The dashboard end to end in a real browser: Debian's chromium driven by playwright-core, against
// `startDashboardServer` (what `understudy ui` runs) on 127.0.0.1 over a workspace of 100,000 examples.
// Screenshots of each page go to test-artifacts/dashboard/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { openStore, type Store } from '../src/adapters/store/sqlite-store.ts';
import { preferencePairsFromEdits, reviewQueue } from '../src/pipeline/review-queue.ts';
import { DASHBOARD_BUILD_COMMAND, DASHBOARD_BUILD_DIR } from '../src/surfaces/http/dashboard-assets.ts';
import { startDashboardServer, type RunningDashboard } from '../src/surfaces/http/dashboard-server.ts';
import { demoConfig, evalEvent, LABELS, progressEvent, seedDashboardWorkspace, startTestRun, TASK } from './helpers/dashboard-workspace.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SCREENSHOTS = path.join(PACKAGE_ROOT, 'test-artifacts', 'dashboard');
const EXAMPLES = 100_000;

let workspace: string;
let store: Store;
let dashboard: RunningDashboard;
let profile: string;
let browser: BrowserContext;
let page: Page;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)`);
  assert.ok(existsSync(path.join(DASHBOARD_BUILD_DIR, 'index.html')), `the dashboard is not built: run \`${DASHBOARD_BUILD_COMMAND}\``);
  ({ workspace, store } = seedDashboardWorkspace(EXAMPLES, { trainCount: 2000, evalCount: 300 }));
  dashboard = await startDashboardServer({ store, workspace, loaded: demoConfig, port: 0 });
  profile = mkdtempSync(path.join(os.tmpdir(), 'understudy-chromium-'));
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1360, height: 900 } });
  page = browser.pages()[0] ?? (await browser.newPage());
  mkdirSync(SCREENSHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await dashboard?.close();
  store?.close();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  if (workspace !== undefined) rmSync(workspace, { recursive: true, force: true });
});

const shot = (name: string): Promise<Buffer> => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

test('the first view of 100,000 examples renders in under a second, and filters page on the server', async () => {
  const started = performance.now();
  await page.goto(`${dashboard.url}#/examples`);
  await page.locator('[data-testid="examples-table"] tbody tr').nth(49).waitFor();
  const elapsed = performance.now() - started;
  assert.match(await page.getByTestId('pager-range').textContent() ?? '', /^1–50 of 100,000$/);
  assert.ok(elapsed < 1000, `first view took ${elapsed.toFixed(0)} ms`);
  await shot('examples');

  await page.getByLabel('Source').selectOption('log');
  await page.getByLabel('Split').selectOption('train');
  await page.getByTestId('pager-range').filter({ hasText: 'of 667' }).waitFor();
  const sources = await page.locator('[data-testid="examples-table"] tbody tr td:nth-child(4)').allTextContents();
  assert.ok(sources.length === 50 && sources.every((source) => source === 'log'));
  await page.getByRole('button', { name: 'Next →' }).click();
  await page.getByTestId('pager-range').filter({ hasText: '51–100 of 667' }).waitFor();
  await page.getByLabel('Filter verdict').selectOption('dropped:exact-dedup');
  await page.getByTestId('pager-range').filter({ hasText: '1–1 of 1' }).waitFor();
  await shot('examples-filtered');
});

test('reviewing in the page (a, e, r, j) writes to the store as `understudy data review` does', async () => {
  const queue = reviewQueue(store, TASK, { split: 'train', limit: 4 });
  await page.goto(`${dashboard.url}#/review`);
  const card = page.getByTestId('review-card');
  await card.filter({ has: page.locator(`[data-example-id="${queue[0]!.id}"]`) }).or(page.locator(`[data-testid="review-card"][data-example-id="${queue[0]!.id}"]`)).waitFor();
  await shot('review');

  await page.keyboard.press('a');
  await page.locator(`[data-testid="review-card"][data-example-id="${queue[1]!.id}"]`).waitFor();
  assert.equal(store.curation.getExample(queue[0]!.id)!.review, 'accepted');

  const newLabel = LABELS.find((label) => label !== queue[1]!.answer)!;
  await page.keyboard.press('e');
  const editor = page.getByLabel('New answer');
  await editor.fill(newLabel);
  await shot('review-editing');
  await editor.press('Enter');
  await page.getByTestId('review-message').filter({ hasText: `Edited #${queue[1]!.id}` }).waitFor();
  const edited = store.curation.getExample(queue[1]!.id)!;
  assert.deepEqual([edited.review, edited.answer, edited.originalAnswer], ['edited', newLabel, queue[1]!.answer]);
  assert.ok(preferencePairsFromEdits(store, TASK).some((pair) => pair.exampleId === queue[1]!.id && pair.chosen[0]!.content === newLabel && pair.rejected[0]!.content === queue[1]!.answer));

  // j moves to the next example: the one after it is rejected, the skipped one stays pending.
  await page.locator(`[data-testid="review-card"][data-example-id="${queue[2]!.id}"]`).waitFor();
  await page.keyboard.press('j');
  await page.locator(`[data-testid="review-card"][data-example-id="${queue[3]!.id}"]`).waitFor();
  await page.keyboard.press('r');
  await page.getByTestId('review-message').filter({ hasText: `Rejected #${queue[3]!.id}` }).waitFor();
  assert.equal(store.curation.getExample(queue[3]!.id)!.review, 'rejected');
  assert.equal(store.curation.getExample(queue[2]!.id)!.review, 'pending');
  await shot('review-after');
});

test('the statistics page charts labels and lengths', async () => {
  await page.goto(`${dashboard.url}#/stats`);
  await page.getByTestId('label-chart').waitFor();
  assert.equal(await page.getByTestId('label-chart').getAttribute('data-points'), '77');
  assert.ok(Number(await page.getByRole('img', { name: 'histogram of characters' }).getAttribute('data-points')) > 3);
  await shot('stats');
});

test('a training run\'s curve grows while the run trains', async () => {
  const runId = startTestRun(store);
  for (let step = 1; step <= 10; step += 1) store.appendRunEvent(runId, progressEvent(step));
  store.appendRunEvent(runId, evalEvent(10, true));
  await page.goto(`${dashboard.url}#/runs`);
  await page.getByTestId('runs-table').getByRole('link', { name: runId }).click();
  const chart = page.getByRole('img', { name: 'loss curves' });
  await chart.waitFor();
  assert.equal(await chart.getAttribute('data-points'), '11');

  // The worker goes on (written through a second connection, as a training process would).
  const writer = openStore(store.file);
  try {
    for (let step = 11; step <= 30; step += 1) {
      writer.appendRunEvent(runId, progressEvent(step));
      if (step % 10 === 0) writer.appendRunEvent(runId, evalEvent(step, true));
    }
    await page.waitForFunction(() => document.querySelector('[aria-label="loss curves"]')?.getAttribute('data-points') === '33', undefined, { timeout: 10_000 });
    await shot('run-live');
    for (let step = 31; step <= 40; step += 1) writer.appendRunEvent(runId, progressEvent(step));
    writer.appendRunEvent(runId, evalEvent(40, false));
    writer.appendRunEvent(runId, { event: 'done', seconds: 95, trainLoss: 0.41, steps: 40, bestStep: 30, bestEvalLoss: 0.79 });
    writer.completeRun(runId, { steps: 40 }, { ggufPath: '/runs/x/adapter.gguf', ggufSha256: 'd'.repeat(64), peftPath: '/runs/x/peft', peftSha256: 'e'.repeat(64) });
  } finally {
    writer.close();
  }
  await page.waitForFunction(() => document.querySelector('[aria-label="loss curves"]')?.getAttribute('data-points') === '44', undefined, { timeout: 10_000 });
  await page.locator('.badge-succeeded').first().waitFor();
  await page.reload();
  await page.getByText('adapter (GGUF)').waitFor();
  await shot('run');
  await page.goto(`${dashboard.url}#/runs`);
  await page.getByTestId('runs-table').waitFor();
  await shot('runs');
});

test('the datasets page lists registered datasets and their examples', async () => {
  await page.goto(`${dashboard.url}#/datasets`);
  await page.getByRole('link', { name: 'banking77-train' }).click();
  await page.getByTestId('pager-range').filter({ hasText: '1–3 of 3' }).waitFor();
  await shot('datasets');
});

test('a token-guarded dashboard refuses the page and the API without its token, and opens with ?token=', async () => {
  const token = 'browser-test-token-0123456789abcdef';
  const guarded = await startDashboardServer({ store, workspace, loaded: demoConfig, port: 0, token });
  try {
    assert.equal((await fetch(`${guarded.url}api/overview`)).status, 401);
    const refused = await page.goto(guarded.url);
    assert.equal(refused?.status(), 401);
    await page.getByText('needs its token').waitFor();
    await page.goto(guarded.openUrl);
    assert.equal(new URL(page.url()).search, '', 'the token is taken out of the address');
    await page.locator('[data-testid="examples-table"] tbody tr').first().waitFor();
  } finally {
    await guarded.close();
  }
});
