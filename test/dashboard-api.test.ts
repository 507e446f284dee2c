// The dashboard's JSON API in-process (app.request): pages and filters over the pool, review decisions written as
// `understudy data review` writes them, runs with their live curve updates, and who may ask.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore, type Store } from '../src/adapters/store/sqlite-store.ts';
import type { LoadedConfig } from '../src/adapters/config-file.ts';
import { GatewayRouteSchema } from '../src/contracts/config.ts';
import type { EconomicsView, EvalDisagreementView, EvalRowView, EvalView, ExperimentView, OverviewView, Page, PoolExampleView, PoolFacetsView, PoolStatsView, ReviewResultView, RunRowView, RunUpdatesView, RunView } from '../src/contracts/dashboard.ts';
import type { GatewayLogRecord } from '../src/contracts/gateway.ts';
import { percentile } from '../src/core/statistics.ts';
import { buildAbReport } from '../src/pipeline/ab-report.ts';
import { describeRun, summarizeRun } from '../src/pipeline/run-records.ts';
import { preferencePairsFromEdits, reviewQueue } from '../src/pipeline/review-queue.ts';
import { createDashboardApp } from '../src/surfaces/http/dashboard-app.ts';
import { DASHBOARD_TOKEN_COOKIE } from '../src/surfaces/http/dashboard-access.ts';
import type { DashboardAssets } from '../src/surfaces/http/dashboard-assets.ts';
import { startDashboardServer } from '../src/surfaces/http/dashboard-server.ts';
import { startGateway } from '../src/surfaces/http/gateway-server.ts';
import { demoConfig, EVAL_CANDIDATES, evalEvent, LABELS, progressEvent, seedDashboardWorkspace, seedEvaluation, startTestRun, TASK } from './helpers/dashboard-workspace.ts';

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

/** One logged gateway call of the `support-test` experiment: hosted incumbent or tuned candidate. */
const gatewayCall = (index: number, arm: 'incumbent' | 'candidate', fields: Partial<GatewayLogRecord>): GatewayLogRecord => ({
  requestId: `request-${arm}-${index}`,
  createdAt: new Date(Date.now() - (100 - index) * 1000).toISOString(),
  route: 'support',
  experiment: 'support-test',
  arm,
  path: arm === 'incumbent' ? 'hosted' : 'tuned',
  provider: arm === 'incumbent' ? 'frontier' : 'embedded',
  model: arm === 'incumbent' ? 'gpt-4o-mini' : 'smollm2',
  adapter: null,
  promptTokens: 100,
  completionTokens: 3,
  costUsd: null,
  latencyMs: 0,
  firstTokenMs: null,
  status: 'ok',
  fallback: false,
  shadow: false,
  error: null,
  messages: null,
  response: LABELS[index % LABELS.length]!,
  ...fields,
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

    // The row reads a few facts by SQL, yet shows what `describeRun` reads from every event: through a re-logged
    // step, a validation re-logged without the best mark, and the `done` event's own best.
    const rowOf = async (): Promise<RunRowView> => (await get<Page<RunRowView>>('/api/runs')).items.find((row) => row.id === runId)!;
    const described = (): RunRowView => {
      const summary = summarizeRun(describeRun(store, runId));
      return { id: summary.id, method: summary.method, status: summary.status, startedAt: summary.startedAt, durationSeconds: summary.durationSeconds, steps: summary.steps, totalSteps: summary.totalSteps, finalLoss: summary.finalLoss, bestEvalLoss: summary.bestEvalLoss, baseName: summary.baseName, datasetId: summary.datasetId };
    };
    assert.deepEqual(await rowOf(), described());
    assert.deepEqual([(await rowOf()).steps, (await rowOf()).totalSteps, (await rowOf()).finalLoss], [8, 40, (progressEvent(8) as { loss: number }).loss]);
    store.appendRunEvent(runId, { ...progressEvent(8), loss: 0.25 });
    store.appendRunEvent(runId, progressEvent(3));
    store.appendRunEvent(runId, evalEvent(7, true));
    store.appendRunEvent(runId, evalEvent(7, false));
    assert.deepEqual(await rowOf(), described());
    assert.deepEqual([(await rowOf()).finalLoss, (await rowOf()).bestEvalLoss], [0.25, (evalEvent(5, true) as { evalLoss: number }).evalLoss]);
    store.appendRunEvent(runId, { event: 'done', steps: 8, bestStep: 7, bestEvalLoss: null, seconds: 12, trainLoss: 0.3 });
    assert.deepEqual(await rowOf(), described());
    assert.equal((await rowOf()).bestEvalLoss, (evalEvent(7, false) as { evalLoss: number }).evalLoss);
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
    // A token too short to keep anyone out is refused by both servers that mount the dashboard.
    await assert.rejects(startDashboardServer({ store, workspace, loaded: demoConfig, port: 0, token: 'short', assets: ASSETS }), /at least 16 characters/);
    await assert.rejects(startGateway(demoConfig, store, { port: 0, dashboard: { token: 'short' } }), /at least 16 characters/);
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

describe('experiments', () => {
  // The demo config with three experiments on the gateway: one split half and half with logged calls, one killed, one
  // that the promote test decides (so that no test depends on another's order).
  const config: LoadedConfig = {
    ...demoConfig,
    config: {
      ...demoConfig.config,
      gateway: {
        ...demoConfig.config.gateway,
        routes: {
          support: GatewayRouteSchema.parse({ target: 'provider:frontier', experiment: { name: 'support-test', candidate: 'adapter:latest', weight: 0.5 } }),
          billing: GatewayRouteSchema.parse({ target: 'provider:frontier', experiment: { name: 'billing-test', candidate: 'base', weight: 0.3, killed: true } }),
          checkout: GatewayRouteSchema.parse({ target: 'provider:frontier', experiment: { name: 'checkout-test', candidate: 'base', weight: 0.1 } }),
        },
      },
    },
  };
  let experiments: ReturnType<typeof createDashboardApp>;
  const incumbentLatencies = Array.from({ length: 40 }, (_, index) => 200 + index * 10);
  const candidateLatencies = Array.from({ length: 40 }, (_, index) => 50 + index);

  before(() => {
    experiments = createDashboardApp({ store, workspace, loaded: config, assets: ASSETS });
    store.logGatewayRequests([
      ...incumbentLatencies.map((latencyMs, index) => gatewayCall(index, 'incumbent', { latencyMs, costUsd: 0.0012 })),
      // 4 of the candidate's answers are outside the label set: the validator scores them 0.
      ...candidateLatencies.map((latencyMs, index) => gatewayCall(index, 'candidate', { latencyMs, costUsd: 0.0001, ...(index < 4 ? { response: 'not a label' } : {}) })),
    ]);
    store.addGatewayFeedback({ requestId: 'request-incumbent-0', score: 0.5 });
  });

  const request = (path: string, init?: RequestInit) => Promise.resolve(experiments.request(`http://localhost${path}`, init));
  const decide = (path: string, body: unknown) => request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  test('each experiment shows per-arm traffic, quality, cost per 1,000 tasks, latency, the tests and the recommendation of `ab report`', async () => {
    const response = await request('/api/experiments');
    assert.equal(response.status, 200);
    const page = (await response.json()) as Page<ExperimentView>;
    assert.equal(page.total, 3);
    assert.deepEqual(page.items.slice(0, 2).map((item) => [item.name, item.route, item.state, item.candidateWeight, item.killed]), [['support-test', 'support', 'running', 0.5, false], ['billing-test', 'billing', 'running', 0, true]]);
    const view = page.items[0]!;
    assert.equal(view.calls, 80);
    assert.deepEqual(view.scoring, { feedback: 1, validator: 79, unscored: 0 });
    const { incumbent, candidate } = view.arms;
    assert.deepEqual([incumbent.target, incumbent.calls, candidate.target, candidate.calls], ['provider:frontier', 40, 'adapter:latest', 40]);
    assert.equal(incumbent.quality, 39.5 / 40);
    assert.equal(candidate.quality, 36 / 40);
    assert.ok(Math.abs(incumbent.costPer1000Usd! - 1.2) < 1e-9 && Math.abs(candidate.costPer1000Usd! - 0.1) < 1e-9);
    assert.equal(incumbent.latencyP50Ms, percentile(incumbentLatencies, 50));
    assert.equal(candidate.latencyP95Ms, percentile(candidateLatencies, 95));
    assert.deepEqual([view.srm?.incumbent, view.srm?.candidate, view.srm?.expectedCandidateShare, view.srm?.mismatch], [40, 40, 0.5, false]);
    const report = buildAbReport(config, store, 'support-test');
    assert.deepEqual(view.sequential, report.analysis.sequential);
    assert.deepEqual([view.recommendation, view.reason], [report.analysis.recommendation, report.analysis.reason]);
    assert.equal(((await (await request('/api/experiments?offset=1&limit=1')).json()) as Page<ExperimentView>).items[0]!.name, 'billing-test');
    assert.doesNotMatch(JSON.stringify(page), /apiKey|authorization/i);
  });

  test('promote and roll back record what `understudy ab promote|rollback` records, and the page sees it', async () => {
    const promoted = await decide('/api/experiments/checkout-test/promote', { note: 'candidate is cheaper' });
    assert.equal(promoted.status, 200, await promoted.clone().text());
    const view = (await promoted.json()) as ExperimentView;
    assert.deepEqual([view.state, view.decided?.note], ['promoted', 'candidate is cheaper']);
    assert.equal(store.experimentStates().get('checkout-test')?.state, 'promoted');
    const rolledBack = await decide('/api/experiments/checkout-test/rollback', {});
    assert.equal(rolledBack.status, 200);
    assert.equal(((await rolledBack.json()) as ExperimentView).state, 'rolled-back');
    assert.deepEqual([store.experimentStates().get('checkout-test')?.state, store.experimentStates().get('checkout-test')?.note], ['rolled-back', '']);
    assert.equal(((await (await request('/api/experiments/checkout-test')).json()) as ExperimentView).state, 'rolled-back');
  });

  test('a malformed name or body is a 400, an unknown experiment a 404, and nothing changes', async () => {
    const before = store.experimentStates().get('billing-test');
    const cases: [Response, number, RegExp][] = [
      [await request('/api/experiments/Not%20A%20Name'), 400, /experiment: an experiment name/],
      [await request('/api/experiments/no-such-test'), 404, /no experiment no-such-test/],
      [await decide('/api/experiments/no-such-test/promote', {}), 404, /no experiment no-such-test/],
      [await decide('/api/experiments/billing-test/promote', { note: 5 }), 400, /body note/],
      [await decide('/api/experiments/billing-test/promote', { state: 'promoted' }), 400, /body/],
      [await decide('/api/experiments/billing-test/rollback', '{not json'), 400, /not valid JSON/],
      [await request('/api/experiments?limit=0'), 400, /query limit/],
    ];
    for (const [response, status, message] of cases) {
      assert.equal(response.status, status);
      assert.match(((await response.json()) as { error: { message: string } }).error.message, message);
    }
    assert.equal(store.experimentStates().get('billing-test'), before);
  });
});

describe('evaluations', () => {
  let seeded: ReturnType<typeof seedEvaluation>;
  before(() => {
    seeded = seedEvaluation(store);
  });

  test('stored evaluations are listed newest first with the best candidate and the gate', async () => {
    const page = await get<Page<EvalRowView>>('/api/evals');
    assert.equal(page.total, 1);
    const row = page.items[0]!;
    assert.deepEqual([row.id, row.dataset.name, row.examples, row.candidates, row.baseline, row.primaryMetric], [seeded.evalId, 'banking77-eval', 12, EVAL_CANDIDATES.map((candidate) => candidate.name), 'prompted-zero-shot', 'accuracy']);
    assert.deepEqual(row.best, { candidate: 'tuned-adapter', value: 11 / 12 });
    assert.equal(row.gate?.pass, true);
  });

  test('one evaluation: candidates side by side, comparisons, confusion matrices from the stored answers', async () => {
    const view = await get<EvalView>(`/api/evals/${seeded.evalId}`);
    assert.equal(view.taskKind, 'labels');
    assert.deepEqual(view.candidateResults.map((candidate) => [candidate.name, candidate.metrics.accuracy!.value, candidate.costPer1000Usd, candidate.latencyP95Ms]), [['prompted-zero-shot', 8 / 12, 0.42, 520], ['tuned-adapter', 11 / 12, 0.05, 210]]);
    const interval = view.candidateResults[1]!.metrics.accuracy!;
    assert.ok(interval.low < 11 / 12 && interval.high > 11 / 12);
    assert.equal(view.comparisons[0]!.metrics.accuracy!.difference, 3 / 12);
    assert.equal(view.disagreements, 3);
    const matrix = view.confusion!;
    const total = (counts: number[][]) => counts.flat().reduce((sum, value) => sum + value, 0);
    const diagonal = (counts: number[][]) => counts.reduce((sum, row, index) => sum + row[index]!, 0);
    assert.deepEqual([total(matrix.byCandidate['prompted-zero-shot']!), diagonal(matrix.byCandidate['prompted-zero-shot']!)], [12, 8]);
    assert.deepEqual([total(matrix.byCandidate['tuned-adapter']!), diagonal(matrix.byCandidate['tuned-adapter']!)], [12, 11]);
    assert.deepEqual(matrix.labels, [...matrix.labels].sort());
  });

  test('the disagreements: input, each candidate\'s answer and the reference, a page at a time', async () => {
    const page = await get<Page<EvalDisagreementView>>(`/api/evals/${seeded.evalId}/disagreements?limit=2`);
    assert.equal(page.total, 3);
    assert.deepEqual(page.items.map((item) => item.exampleId), seeded.exampleIds.slice(8, 10));
    const first = page.items[0]!;
    assert.deepEqual(first.answers.map((answer) => [answer.candidate, answer.output === first.reference, answer.correct]), [['prompted-zero-shot', false, false], ['tuned-adapter', true, true]]);
    assert.equal(first.answers[0]!.output, seeded.wrongLabel(8));
    assert.deepEqual((await get<Page<EvalDisagreementView>>(`/api/evals/${seeded.evalId}/disagreements?offset=2`)).items.map((item) => item.exampleId), [seeded.exampleIds[10]]);
  });

  test('the economics are priced from the stored evaluation: crossover, curve, sensitivity, predicted against measured', async () => {
    // Throughput configured (no training run needed), so only the stored evaluation's measurements vary.
    const training = { ...demoConfig.config.economics.training, tokensPerSecond: 1000, trainTokens: 200_000, epochs: 2, dataGenerationUsd: 5 };
    const config: LoadedConfig = { ...demoConfig, config: { ...demoConfig.config, economics: { ...demoConfig.config.economics, training } } };
    // Its own store: the evaluation and a known set of logged calls, whatever the other tests logged or ran.
    const own = openStore(path.join(workspace, 'economics.db'));
    try {
      const evaluation = seedEvaluation(own);
      const records = [
        ...Array.from({ length: 30 }, (_, index) => gatewayCall(index, 'incumbent', { latencyMs: 300 + index, costUsd: 0.0012 })),
        ...Array.from({ length: 30 }, (_, index) => gatewayCall(index, 'candidate', { latencyMs: 60 + index, costUsd: 0.0001 })),
      ];
      own.logGatewayRequests(records);
      const economics = createDashboardApp({ store: own, workspace, loaded: config, assets: ASSETS });
      const response = await economics.request('http://localhost/api/economics');
      assert.equal(response.status, 200, await response.clone().text());
      const view = (await response.json()) as EconomicsView;
      assert.equal(view.evaluation.id, evaluation.evalId);
      assert.match(view.sources.hosted, /gpt-4o-mini.*120 prompt \+ 4 completion tokens per task/);
      assert.match(view.sources.serving, /^140 ms per task: mean latency of base model \+ LoRA adapter/);
      assert.ok(Math.abs(view.oneOff.trainingHours - (200_000 * 2) / 1000 / 3600) < 1e-12);
      assert.equal(view.oneOff.dataGenerationUsd, 5);
      assert.deepEqual([view.curve[0]!.tasks, view.curve[0]!.hostedUsd, view.curve[0]!.tunedUsd], [0, 0, view.oneOff.totalUsd]);
      const crossover = view.crossoverTasks!;
      const perTask = (view.per1000.hostedUsd - view.per1000.tunedServingUsd) / 1000;
      assert.ok(Math.abs(crossover * perTask - view.oneOff.totalUsd) < 1e-6, 'the cumulative costs meet at the crossover');
      assert.equal(view.sensitivity.length, 13);
      assert.equal(view.sensitivity.find((row) => row.scenario === 'hosted price ×1, volume ×1')?.crossoverTasks, crossover);
      // The logged calls are measured as `economics --actual` measures them.
      assert.ok(view.actual !== null, 'the logged calls are measured');
      assert.equal(view.actual.calls, records.length);
      assert.ok(view.actual.figures.length > 0 && view.actual.figures.every((figure) => figure.predicted !== null || figure.measured !== null));
      assert.equal((await economics.request(`http://localhost/api/economics?eval=${evaluation.evalId}`)).status, 200);
      assert.equal((await economics.request('http://localhost/api/economics?eval=eval_nothere')).status, 404);
      assert.equal((await economics.request('http://localhost/api/economics?eval=not%20an%20id')).status, 400);
    } finally {
      own.close();
    }
  });

  test('with no logged calls nothing is measured; without a finished run\'s throughput the error names the config field', async () => {
    const bare = openStore(path.join(workspace, 'economics-bare.db'));
    try {
      seedEvaluation(bare);
      const training = { ...demoConfig.config.economics.training, tokensPerSecond: 1000, trainTokens: 200_000, epochs: 2 };
      const configured: LoadedConfig = { ...demoConfig, config: { ...demoConfig.config, economics: { ...demoConfig.config.economics, training } } };
      const priced = await createDashboardApp({ store: bare, workspace, loaded: configured, assets: ASSETS }).request('http://localhost/api/economics');
      assert.equal(priced.status, 200, await priced.clone().text());
      assert.equal(((await priced.json()) as EconomicsView).actual, null);
      assert.ok(bare.listRuns().every((run) => run.status !== 'succeeded'));
      const noRun = await createDashboardApp({ store: bare, workspace, loaded: demoConfig, assets: ASSETS }).request('http://localhost/api/economics');
      assert.equal(noRun.status, 400);
      assert.equal(((await noRun.json()) as { error: { field?: string } }).error.field, 'economics.training.tokensPerSecond');
    } finally {
      bare.close();
    }
  });

  test('a malformed eval id is a 400, an unknown one a 404', async () => {
    for (const [path, status] of [['/api/evals/DROP%20TABLE', 400], ['/api/evals/eval_nothere', 404], ['/api/evals/eval_nothere/disagreements', 404], [`/api/evals/${seeded.evalId}/disagreements?offset=-1`, 400]] as const) {
      const response = await app.request(`http://localhost${path}`);
      assert.equal(response.status, status, path);
      assert.ok(((await response.json()) as { error: { message: string } }).error.message.length > 0);
    }
  });
});

describe('starting and stopping runs', () => {
  test('a bad start body is a 400; a start while a run trains is a 409; stop signals the process that holds the run', async () => {
    for (const body of [{ maxSteps: 0 }, { maxSteps: 2.5 }, { data: 'elsewhere' }, { extra: true }]) {
      const response = await post('/api/runs', body);
      assert.equal(response.status, 400, JSON.stringify(body));
    }
    assert.equal((await app.request('http://localhost/api/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"maxSteps":' })).status, 400);

    // A process training a run holds its lock (what `understudy train` writes): here a stand-in process that waits.
    const runId = startTestRun(store);
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const exited = new Promise<NodeJS.Signals | null>((resolve) => holder.once('exit', (_code, signal) => resolve(signal)));
      mkdirSync(path.join(workspace, 'runs', runId), { recursive: true });
      writeFileSync(path.join(workspace, 'runs', runId, 'run.lock'), JSON.stringify({ pid: holder.pid, since: new Date().toISOString() }));

      const busy = await post('/api/runs', { maxSteps: 5 });
      assert.equal(busy.status, 409);
      assert.match(((await busy.json()) as { error: { message: string } }).error.message, new RegExp(`run ${runId} is training \\(process ${holder.pid}\\)`));

      const stopped = await post(`/api/runs/${runId}/stop`, {});
      assert.equal(stopped.status, 202);
      assert.deepEqual(await stopped.json(), { runId, pid: holder.pid });
      assert.equal(await exited, 'SIGINT', 'the holder got SIGINT (the CLI stops its worker and marks the run interrupted)');

      const again = await post(`/api/runs/${runId}/stop`, {});
      assert.equal(again.status, 409, 'nothing on this machine trains it any more');
      assert.match(((await again.json()) as { error: { message: string } }).error.message, /no process on this machine is training/);
    } finally {
      holder.kill('SIGKILL');
      store.failRun(runId, 'interrupted', 'stopped from the dashboard test');
    }
    assert.equal((await post(`/api/runs/${runId}/stop`, {})).status, 409, 'an interrupted run is not training');
    assert.equal((await post('/api/runs/run_nothere/stop', {})).status, 404);
  });
});
