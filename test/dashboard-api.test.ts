// The dashboard's JSON API in-process (app.request): pages and filters over the pool, review decisions written as
// `understudy data review` writes them, runs with their live curve updates, and who may ask.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../src/adapters/store/sqlite-store.ts';
import type { OverviewView, Page, PoolExampleView, PoolFacetsView, PoolStatsView, ReviewResultView, RunRowView, RunUpdatesView, RunView } from '../src/contracts/dashboard.ts';
import { preferencePairsFromEdits, reviewQueue } from '../src/pipeline/review-queue.ts';
import { createDashboardApp } from '../src/surfaces/http/dashboard-app.ts';
import { DASHBOARD_TOKEN_COOKIE } from '../src/surfaces/http/dashboard-access.ts';
import type { DashboardAssets } from '../src/surfaces/http/dashboard-assets.ts';
import { startDashboardServer } from '../src/surfaces/http/dashboard-server.ts';
import { demoConfig, evalEvent, LABELS, progressEvent, seedDashboardWorkspace, startTestRun, TASK } from './helpers/dashboard-workspace.ts';

const ASSETS: DashboardAssets = { kind: 'built', files: new Map([['index.html', { body: new TextEncoder().encode('<!doctype html><title>page</title>'), contentType: 'text/html; charset=utf-8', immutable: false }]]) };

let workspace: string;
let store: Store;
let ids: number[];
let app: ReturnType<typeof createDashboardApp>;

before(() => {
  ({ workspace, store, ids } = seedDashboardWorkspace(300, { trainCount: 120, evalCount: 20 }));
  app = createDashboardApp({ store, workspace, loaded: demoConfig, assets: ASSETS });
});
after(() => {
  store.close();
  rmSync(workspace, { recursive: true, force: true });
});

async function get<Result>(path: string, init?: RequestInit): Promise<Result> {
  const response = await app.request(`http://localhost${path}`, init);
  assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
  return (await response.json()) as Result;
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  Promise.resolve(app.request(`http://localhost${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }));

describe('pool pages', () => {
  test('the overview counts the pool, and no config secret reaches the page', async () => {
    const overview = await get<OverviewView>('/api/overview');
    assert.equal(overview.task.name, TASK);
    assert.equal(overview.task.labels.length, 77);
    assert.deepEqual(overview.pool, { total: 300, pending: 300 });
    assert.doesNotMatch(JSON.stringify(overview), /apiKey|authorization/i);
  });

  test('examples come a page at a time with the total, under every filter', async () => {
    const first = await get<Page<PoolExampleView>>('/api/pool/examples?limit=25');
    assert.equal(first.total, 300);
    assert.deepEqual(first.items.map((example) => example.id), ids.slice(0, 25));
    const third = await get<Page<PoolExampleView>>('/api/pool/examples?limit=25&offset=50');
    assert.deepEqual(third.items.map((example) => example.id), ids.slice(50, 75));

    const label = LABELS[5]!;
    const byLabel = await get<Page<PoolExampleView>>(`/api/pool/examples?label=${encodeURIComponent(label)}`);
    assert.ok(byLabel.total > 0 && byLabel.items.every((example) => example.answer === label));
    const bySource = await get<Page<PoolExampleView>>('/api/pool/examples?source=log&limit=200');
    assert.equal(bySource.total, 100);
    assert.ok(bySource.items.every((example) => example.source === 'log'));
    assert.equal((await get<Page<PoolExampleView>>('/api/pool/examples?split=train')).total, 120);
    assert.equal((await get<Page<PoolExampleView>>('/api/pool/examples?split=eval')).total, 20);
    assert.equal((await get<Page<PoolExampleView>>('/api/pool/examples?split=none')).total, 160);
    const dropped = await get<Page<PoolExampleView>>('/api/pool/examples?verdict=dropped');
    assert.deepEqual(dropped.items.map((example) => [example.id, example.dropped?.step]), [[ids[3], 'exact-dedup'], [ids[4], 'exact-dedup']]);
    assert.equal((await get<Page<PoolExampleView>>('/api/pool/examples?verdict=dropped:exact-dedup')).total, 2);
    assert.equal((await get<Page<PoolExampleView>>('/api/pool/examples?verdict=kept')).total, 298);
    const tagged = await get<Page<PoolExampleView>>('/api/pool/examples?tag=seed&limit=200');
    assert.equal(tagged.total, 30);
    assert.ok(tagged.items.every((example) => example.tags.includes('seed')));
    assert.equal((await get<Page<PoolExampleView>>('/api/pool/examples?search=CHARGED%20TWICE')).total, 50);
    // Filters combine; cleared ones (empty strings) are ignored.
    const combined = await get<Page<PoolExampleView>>('/api/pool/examples?source=human&split=train&review=&tag=');
    assert.ok(combined.items.every((example) => example.source === 'human' && example.split === 'train'));
    assert.equal(combined.total, 40);
  });

  test('a bad filter is a 400 naming the field', async () => {
    const response = await app.request('http://localhost/api/pool/examples?source=robot');
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error: { message: string } }).error.message, /source/);
    assert.equal((await app.request('http://localhost/api/pool/examples?limit=5000')).status, 400);
    assert.equal((await app.request('http://localhost/api/nothing-here')).status, 404);
  });

  test('facets and stats count by label, source, split, review, tag and filter step, with an input-length histogram', async () => {
    const facets = await get<PoolFacetsView>('/api/pool/facets');
    assert.equal(facets.labels.reduce((sum, row) => sum + row.count, 0), 300);
    assert.deepEqual(facets.tags, [{ tag: 'seed', count: 30 }]);
    assert.deepEqual(facets.filterSteps, [{ step: 'exact-dedup', dropped: 2 }]);
    const stats = await get<PoolStatsView>('/api/pool/stats');
    assert.equal(stats.total, 300);
    assert.deepEqual(stats.bySplit, { train: 120, eval: 20, none: 160 });
    assert.deepEqual(stats.bySource, { human: 100, synthetic: 100, log: 100 });
    assert.equal(stats.byLabel.reduce((sum, row) => sum + row.train + row.eval + row.none, 0), 300);
    assert.equal(stats.inputLengths.reduce((sum, bucket) => sum + bucket.count, 0), 300);
    assert.ok(stats.inputLengths.every((bucket, index, all) => index === 0 || bucket.from === all[index - 1]!.to));
    assert.equal(stats.filterReport?.steps[0]?.dropped, 2);
    assert.equal(stats.heldout?.size, 20);
  });
});

describe('review', () => {
  test('the queue is `understudy data review`\'s, in its order, a page at a time', async () => {
    const expected = reviewQueue(store, TASK, { split: 'train' }).map((example) => example.id);
    const page = await get<Page<PoolExampleView>>('/api/review/queue?split=train&limit=200');
    assert.equal(page.total, expected.length);
    assert.deepEqual(page.items.map((example) => example.id), expected);
    assert.ok(!page.items.some((example) => example.id === ids[3]), 'dropped by the filter run: not queued');
    const second = await get<Page<PoolExampleView>>('/api/review/queue?split=all&offset=10&limit=5');
    assert.deepEqual(second.items.map((example) => example.id), reviewQueue(store, TASK, { split: 'all' }).slice(10, 15).map((example) => example.id));
  });

  test('accept, reject and edit write to the store; an edit keeps the original as a DPO pair', async () => {
    const [accepted, rejected, edited, same] = reviewQueue(store, TASK, { split: 'train' }).slice(0, 4);
    const accept = (await (await post(`/api/review/${accepted!.id}`, { decision: 'accept' })).json()) as ReviewResultView;
    assert.equal(accept.applied, 'accept');
    assert.equal(store.curation.getExample(accepted!.id)!.review, 'accepted');
    assert.equal(((await (await post(`/api/review/${rejected!.id}`, { decision: 'reject' })).json()) as ReviewResultView).applied, 'reject');
    assert.equal(store.curation.getExample(rejected!.id)!.review, 'rejected');

    // A unique prefix is resolved as in the terminal ("card_arr" → card_arrival).
    const newLabel = LABELS.find((label) => label !== edited!.answer && label.startsWith('card_arr'))!;
    const edit = (await (await post(`/api/review/${edited!.id}`, { decision: 'edit', answer: 'card_arr' })).json()) as ReviewResultView;
    assert.equal(edit.applied, 'edit');
    const stored = store.curation.getExample(edited!.id)!;
    assert.equal(stored.review, 'edited');
    assert.equal(stored.answer, newLabel);
    assert.equal(stored.originalAnswer, edited!.answer);
    assert.equal(stored.messages.at(-1)!.content, newLabel);
    const pair = preferencePairsFromEdits(store, TASK).find((candidate) => candidate.exampleId === edited!.id)!;
    assert.deepEqual([pair.chosen[0]!.content, pair.rejected[0]!.content], [newLabel, edited!.answer]);
    assert.equal(edit.preferencePairs, preferencePairsFromEdits(store, TASK).length);

    // An edit to the answer it already has is an accept (no pair that prefers nothing).
    const unchanged = (await (await post(`/api/review/${same!.id}`, { decision: 'edit', answer: same!.answer })).json()) as ReviewResultView;
    assert.equal(unchanged.applied, 'accept');
    assert.equal(store.curation.getExample(same!.id)!.originalAnswer, null);
  });

  test('a label outside the task, a bad body or an unknown example is refused and nothing changes', async () => {
    const [next] = reviewQueue(store, TASK, { split: 'train' });
    const bad = await post(`/api/review/${next!.id}`, { decision: 'edit', answer: 'not_a_label' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /not one of the task's 77 labels/);
    assert.equal(store.curation.getExample(next!.id)!.review, 'pending');
    assert.equal((await post(`/api/review/${next!.id}`, { decision: 'maybe' })).status, 400);
    assert.equal((await post('/api/review/999999', { decision: 'accept' })).status, 404);
  });
});

describe('runs', () => {
  test('the runs table, a run in full, and the curve points since the page last looked', async () => {
    const runId = startTestRun(store);
    for (let step = 1; step <= 5; step += 1) store.appendRunEvent(runId, progressEvent(step));
    store.appendRunEvent(runId, evalEvent(5, true));
    store.appendRunEvent(runId, { not: 'a worker event' });

    const runs = await get<Page<RunRowView>>('/api/runs');
    assert.equal(runs.total, 1);
    assert.equal(runs.items[0]!.id, runId);
    assert.equal(runs.items[0]!.status, 'running');

    const run = await get<RunView>(`/api/runs/${runId}`);
    assert.equal(run.base.name, 'smollm2-135m-instruct');
    assert.equal(run.dataset.exampleCount, 3);
    assert.equal(run.chatTemplateSha256, 'c'.repeat(64));
    assert.deepEqual(run.lora, { r: 8, alpha: 16, dropout: 0.1 });
    assert.equal(run.updates.loss.length, 5);
    assert.equal(run.updates.validation.length, 1);
    assert.equal(run.updates.lastSequence, 8);

    for (let step = 6; step <= 8; step += 1) store.appendRunEvent(runId, progressEvent(step));
    const updates = await get<RunUpdatesView>(`/api/runs/${runId}/updates?after=${run.updates.lastSequence}`);
    assert.deepEqual(updates.loss.map((point) => point.step), [6, 7, 8]);
    assert.equal(updates.progress?.step, 8);
    assert.equal(updates.lastSequence, 11);
    assert.equal(updates.more, false);
    const none = await get<RunUpdatesView>(`/api/runs/${runId}/updates?after=11`);
    assert.deepEqual([none.loss, none.validation, none.lastSequence], [[], [], 11]);
    assert.equal((await app.request('http://localhost/api/runs/run_nope')).status, 404);
  });
});

describe('access', () => {
  test('without a token only loopback host names are answered (no DNS rebinding)', async () => {
    assert.equal((await app.request('http://127.0.0.1/api/overview')).status, 200);
    assert.equal((await app.request('http://evil.example/api/overview')).status, 403);
  });

  test('writes need a JSON body from the same origin', async () => {
    const [next] = reviewQueue(store, TASK, { split: 'train' });
    assert.equal((await app.request(`http://localhost/api/review/${next!.id}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"decision":"accept"}' })).status, 415);
    assert.equal((await post(`/api/review/${next!.id}`, { decision: 'accept' }, { origin: 'http://evil.example' })).status, 403);
    assert.equal(store.curation.getExample(next!.id)!.review, 'pending');
  });

  test('with a token every request needs it: header, or the cookie a ?token= visit sets', async () => {
    const token = 'a-long-enough-test-token-0123456789';
    const secured = createDashboardApp({ store, workspace, loaded: demoConfig, assets: ASSETS, token, basePath: '/' });
    const refused = await secured.request('http://10.0.0.5/api/overview');
    assert.equal(refused.status, 401);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /needs its token/);
    assert.equal((await secured.request('http://10.0.0.5/')).status, 401);
    assert.equal((await secured.request('http://10.0.0.5/api/overview', { headers: { 'x-understudy-token': 'wrong' } })).status, 401);
    assert.equal((await secured.request('http://10.0.0.5/api/overview', { headers: { 'x-understudy-token': token } })).status, 200);

    const visit = await secured.request(`http://10.0.0.5/?token=${token}`);
    assert.equal(visit.status, 302);
    assert.equal(visit.headers.get('location'), '/');
    const cookie = visit.headers.get('set-cookie')!;
    assert.match(cookie, new RegExp(`^${DASHBOARD_TOKEN_COOKIE}=`));
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const withCookie = await secured.request('http://10.0.0.5/api/overview', { headers: { cookie: cookie.split(';')[0]! } });
    assert.equal(withCookie.status, 200);
    assert.equal((await secured.request(`http://10.0.0.5/?token=wrong`)).status, 401);
  });

  test('the page is served; a missing build is a 503 naming the command; a server beyond loopback needs a token', async () => {
    const page = await app.request('http://localhost/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    const missing = createDashboardApp({ store, workspace, loaded: demoConfig, assets: { kind: 'missing', message: 'the dashboard page is not built: run `npm run build:ui`' } });
    const unbuilt = await missing.request('http://localhost/');
    assert.equal(unbuilt.status, 503);
    assert.match(await unbuilt.text(), /npm run build:ui/);
    assert.equal((await missing.request('http://localhost/api/overview')).status, 200);
    await assert.rejects(startDashboardServer({ store, workspace, loaded: demoConfig, host: '0.0.0.0', port: 0, assets: ASSETS }), /without a token/);
    await assert.rejects(startDashboardServer({ store, workspace, loaded: demoConfig, port: 0, assets: { kind: 'missing', message: 'the dashboard page is not built: run `npm run build:ui`' } }), /npm run build:ui/);
  });

  test('mounted under /ui, /ui redirects to /ui/ so relative addresses resolve', async () => {
    const { Hono } = await import('hono');
    const parent = new Hono();
    parent.route('/ui', createDashboardApp({ store, workspace, loaded: demoConfig, assets: ASSETS, basePath: '/ui' }));
    const redirect = await parent.request('http://localhost/ui');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/ui/');
    assert.equal((await parent.request('http://localhost/ui/')).status, 200);
    assert.equal((await parent.request('http://localhost/ui/api/overview')).status, 200);
  });
});
