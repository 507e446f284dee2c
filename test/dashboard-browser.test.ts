// The dashboard end to end in a real browser: Debian's chromium driven by playwright-core, against
// `startDashboardServer` (what `understudy ui` runs) on 127.0.0.1 over a workspace of 100,000 examples.
// Screenshots of each page go to test-artifacts/dashboard/. The experiments test runs `understudy serve`'s gateway
// (dashboard under /ui) in front of two TEST DOUBLE upstreams (local OpenAI-compatible servers on 127.0.0.1).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { defaultConfigText, loadConfigFile } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { openStore, type Store } from '../src/adapters/store/sqlite-store.ts';
import { preferencePairsFromEdits, reviewQueue } from '../src/pipeline/review-queue.ts';
import { DASHBOARD_BUILD_COMMAND, DASHBOARD_BUILD_DIR } from '../src/surfaces/http/dashboard-assets.ts';
import { startDashboardServer, type RunningDashboard } from '../src/surfaces/http/dashboard-server.ts';
import { startGateway } from '../src/surfaces/http/gateway-server.ts';
import { demoConfig, evalEvent, LABELS, progressEvent, seedDashboardWorkspace, seedEvaluation, startTestRun, TASK } from './helpers/dashboard-workspace.ts';
import { sendCompletion, startOpenAiCompatibleServer } from './helpers/openai-compatible-server.ts';

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

// How fast this first view is (under a second at 100,000 examples) is measured by `npm run bench:dashboard`.
test('the first view of 100,000 examples shows its first page, and filters page on the server', async () => {
  await page.goto(`${dashboard.url}#/examples`);
  await page.locator('[data-testid="examples-table"] tbody tr').nth(49).waitFor();
  assert.match(await page.getByTestId('pager-range').textContent() ?? '', /^1–50 of 100,000$/);
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

test('an evaluation shows its candidates, cost against quality, confusions and the disagreements with a diff', async () => {
  const { evalId, exampleIds, wrongLabel } = seedEvaluation(store);
  await page.goto(`${dashboard.url}#/evals`);
  await page.getByTestId('evals-table').getByRole('link', { name: evalId }).click();
  await page.locator('[data-testid="disagreements"] tbody tr').nth(2).waitFor();
  assert.equal(await page.getByRole('img', { name: 'cost against quality' }).getAttribute('data-points'), '2');
  // The tuned adapter's one mistake involves 2 labels; the baseline's 4 mistakes (consecutive labels) involve 5.
  assert.equal(await page.getByTestId('confusion-matrix').getAttribute('data-labels'), '2');
  await page.getByLabel('Confusion matrix of').selectOption('prompted-zero-shot');
  await page.locator('[data-testid="confusion-matrix"][data-labels="5"]').waitFor();
  const row = page.locator(`[data-testid="disagreements"] tr[data-example-id="${exampleIds[8]}"]`);
  assert.equal(await row.locator('.answer-diff.wrong').textContent(), wrongLabel(8));
  assert.ok((await row.locator('.answer-diff.wrong mark').count()) > 0, 'what differs from the reference is highlighted');
  assert.equal(await row.locator('.answer-diff.right mark').count(), 0);
  await shot('eval');
  await page.goto(`${dashboard.url}#/evals`);
  await page.getByTestId('evals-table').waitFor();
  await shot('evals');
});

test('the economics page charts cumulative cost with the crossover, the sensitivity table, and predicted against measured', async () => {
  const { evalId } = seedEvaluation(store);
  // Throughput configured, so no training run is needed; a few logged gateway calls on each path to measure.
  const training = { ...demoConfig.config.economics.training, tokensPerSecond: 1000, trainTokens: 50_000_000, epochs: 2 };
  const loaded = { ...demoConfig, config: { ...demoConfig.config, economics: { ...demoConfig.config.economics, tasksPerMonth: 50_000, training } } };
  const at = Date.now() - 3_600_000;
  store.logGatewayRequests(Array.from({ length: 20 }, (_, index) => ({
    requestId: `economics-${index}`, createdAt: new Date(at + index * 60_000).toISOString(), route: 'support', experiment: null, arm: null,
    path: index % 2 === 0 ? 'hosted' as const : 'tuned' as const, provider: index % 2 === 0 ? 'openai' : 'embedded', model: index % 2 === 0 ? 'gpt-4o-mini' : 'smollm2', adapter: null,
    promptTokens: 130, completionTokens: 4, costUsd: index % 2 === 0 ? 0.00002 : null, latencyMs: index % 2 === 0 ? 420 : 160, firstTokenMs: null,
    status: 'ok' as const, fallback: false, shadow: false, error: null, messages: null, response: LABELS[0]!,
  })));
  const priced = await startDashboardServer({ store, workspace, loaded, port: 0 });
  try {
    await page.goto(`${priced.url}#/economics`);
    await page.getByTestId('predicted-measured').waitFor();
    assert.equal(await page.getByRole('img', { name: 'cumulative cost' }).getAttribute('data-points'), '41');
    assert.match(await page.getByTestId('economics-verdict').textContent() ?? '', /pays back|does not pay back/);
    assert.equal(await page.getByTestId('sensitivity').locator('tbody tr').count(), 13);
    assert.ok((await page.getByRole('link', { name: evalId }).count()) === 1, 'the page names the evaluation it priced from');
    await shot('economics');
  } finally {
    await priced.close();
  }
});

test('promoting in the experiments page sends the route\'s traffic to the candidate through a running gateway', async () => {
  const incumbent = await startOpenAiCompatibleServer((_request, response) => sendCompletion(response, { text: 'card_arrival', model: 'gpt-4o-mini', usage: { prompt_tokens: 400, completion_tokens: 3 } }));
  const candidate = await startOpenAiCompatibleServer((_request, response) => sendCompletion(response, { text: 'card_not_working', model: 'gpt-4o-mini', usage: { prompt_tokens: 40, completion_tokens: 3 } }));
  const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-dashboard-ab-'));
  const provider = (url: string) => `{ kind: openai-compatible, baseUrl: "${url}", model: gpt-4o-mini, priceAs: openai, maxRetries: 0 }`;
  const text = defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR))
    .replace(/\ngateway:\n(?: {2}.*\n|#.*\n)*/, ['', 'gateway:', '  port: 0', '  logFlushMs: 20', '  routes:', '    support: { target: "provider:frontier", experiment: { name: support-test, candidate: "provider:tuned", weight: 0.5 } }', ''].join('\n'))
    .replace(/\nproviders: \{\}\n/, `\nproviders:\n  frontier: ${provider(incumbent.baseUrl)}\n  tuned: ${provider(candidate.baseUrl)}\n`);
  writeFileSync(path.join(directory, 'understudy.yaml'), text);
  const gatewayStore = openStore(path.join(directory, 'understudy.db'));
  const gateway = await startGateway(loadConfigFile(path.join(directory, 'understudy.yaml')), gatewayStore);
  const ask = async (user: string): Promise<{ arm: string | null; answer: string }> => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-understudy-user': user }, body: JSON.stringify({ model: 'support', messages: [{ role: 'user', content: 'Where is my card?' }], max_tokens: 3 }) });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { choices: { message: { content: string } }[] };
    return { arm: response.headers.get('x-understudy-arm'), answer: body.choices[0]!.message.content };
  };
  try {
    const before = await Promise.all(Array.from({ length: 30 }, (_, index) => ask(`user-${index}`)));
    const incumbentUsers = before.flatMap((answer, index) => (answer.arm === 'incumbent' ? [`user-${index}`] : []));
    assert.ok(incumbentUsers.length > 0 && incumbentUsers.length < 30, 'both arms get traffic while the experiment runs');
    assert.ok(before.every((answer) => answer.answer === (answer.arm === 'candidate' ? 'card_not_working' : 'card_arrival')));
    gateway.log.flush();

    await page.goto(`${gateway.url}/ui/#/experiments`);
    const card = page.locator('[data-testid="experiment"][data-experiment="support-test"]');
    await card.getByTestId('recommendation').waitFor();
    const requests = await card.getByTestId('arm-requests').allTextContents();
    assert.deepEqual(requests.map(Number), [incumbentUsers.length, 30 - incumbentUsers.length]);
    await shot('experiments');

    await card.getByRole('button', { name: 'Promote…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Promote support-test?' });
    await dialog.getByLabel('Note (optional, kept with the decision)').fill('cheaper at the same quality');
    await shot('experiments-confirm');
    await dialog.getByRole('button', { name: 'Promote', exact: true }).click();
    await page.getByTestId('experiment-message').filter({ hasText: 'support-test: promoted' }).waitFor();
    await card.getByTestId('experiment-state').filter({ hasText: 'promoted' }).waitFor();
    assert.deepEqual([gatewayStore.experimentStates().get('support-test')?.state, gatewayStore.experimentStates().get('support-test')?.note], ['promoted', 'cheaper at the same quality']);

    // The running gateway reads the state within a second: the users the incumbent served now get the candidate.
    const deadline = Date.now() + 5000;
    while ((await ask(incumbentUsers[0]!)).arm !== 'candidate') {
      assert.ok(Date.now() < deadline, 'the gateway did not pick up the promotion within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const after = await Promise.all(incumbentUsers.map((user) => ask(user)));
    assert.ok(after.every((answer) => answer.arm === 'candidate' && answer.answer === 'card_not_working'));
    await shot('experiments-promoted');
  } finally {
    await gateway.close();
    gatewayStore.close();
    await incumbent.close();
    await candidate.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a run started from the page trains for real, its curve follows it, and Stop in the page interrupts it', async () => {
  // Its own workspace: a real `understudy train` (embedded Banking77 config, real worker) writes to this store.
  const own = mkdtempSync(path.join(os.tmpdir(), 'understudy-dashboard-train-'));
  const ownStore = openStore(path.join(own, 'understudy.db'));
  const ownDashboard = await startDashboardServer({ store: ownStore, workspace: own, loaded: demoConfig, port: 0 });
  try {
    await page.goto(`${ownDashboard.url}#/runs`);
    await page.getByLabel('Max steps (optional)').fill('40');
    await page.getByRole('button', { name: 'Start training' }).click();
    await page.getByRole('status').filter({ hasText: /Started understudy train \(process \d+\)/ }).waitFor();
    const link = page.getByTestId('runs-table').getByRole('link').first();
    await link.waitFor({ timeout: 120_000 });
    const runId = (await link.textContent())!;
    await link.click();
    // Live: the loss curve gets its first points while the worker trains.
    await page.waitForFunction(() => Number(document.querySelector('[aria-label="loss curves"]')?.getAttribute('data-points') ?? 0) >= 1, undefined, { timeout: 240_000, polling: 500 });
    assert.equal(ownStore.getRun(runId)?.status, 'running');
    await shot('run-training');
    await page.getByRole('button', { name: 'Stop…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Stop the run' }).click();
    await page.locator('.badge-interrupted').first().waitFor({ timeout: 60_000 });
    assert.equal(ownStore.getRun(runId)?.status, 'interrupted');
    assert.equal(ownStore.getAdapterForRun(runId), undefined, 'an interrupted run registers no adapter');
  } finally {
    // Whatever happened, no training is left behind.
    spawnSync('pkill', ['-INT', '-f', `train --workspace ${own}`]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    spawnSync('pkill', ['-KILL', '-f', `train --workspace ${own}`]);
    await ownDashboard.close();
    ownStore.close();
    rmSync(own, { recursive: true, force: true });
  }
});
