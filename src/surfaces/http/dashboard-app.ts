import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { z } from 'zod';
import type { LoadedConfig } from '../../adapters/config-file.ts';
import type { Store } from '../../adapters/store/sqlite-store.ts';
import { EconomicsQuerySchema, EvalIdSchema, ExperimentDecisionBodySchema, ExperimentNameSchema, PageQuerySchema, PoolQuerySchema, ReviewBodySchema, ReviewQueueQuerySchema, RunUpdatesQuerySchema, StartRunBodySchema, type ApiErrorView, type DatasetExampleView, type OverviewView, type Page, type PoolExampleView, type ReviewResultView, type StartRunView, type StopRunView } from '../../contracts/dashboard.ts';
import { UnderstudyError } from '../../core/errors.ts';
import { setExperimentDecision } from '../../pipeline/ab-report.ts';
import { economicsView, newestEconomicsEvaluation } from '../../pipeline/economics-view.ts';
import { evalDisagreementsPage, evalsPage, evalView } from '../../pipeline/eval-view.ts';
import { experimentsPage, experimentView, hasExperiment } from '../../pipeline/experiment-view.ts';
import { poolExampleView, poolFacets, poolPage, poolStats, provenanceText } from '../../pipeline/pool-browse.ts';
import { decideReview, preferencePairsFromEdits, type ReviewTask } from '../../pipeline/review-queue.ts';
import { runsPage, runUpdates, runView } from '../../pipeline/run-view.ts';
import { dashboardAccess } from './dashboard-access.ts';
import { loadDashboardAssets, type DashboardAssets } from './dashboard-assets.ts';
import { createRunLauncher, type RunLauncher } from './run-launcher.ts';

export interface DashboardAppOptions {
  store: Store;
  /** The workspace folder (shown in the header). */
  workspace: string;
  /** The config: the task whose pool is browsed and reviewed, its labels and output. Nothing else of it reaches the page. */
  loaded: LoadedConfig;
  /** Required on every request when set; see `dashboardAccess`. */
  token?: string;
  /** Where the app is mounted (`/ui` under `understudy serve`, `/` for `understudy ui`). */
  basePath?: string;
  /** The built page; default: read from dist/ui. */
  assets?: DashboardAssets;
  /** Starts and stops training runs; default: `understudy train` launched on this workspace and config. */
  runLauncher?: RunLauncher;
}

/** Query-string values as zod reads them: empty ones dropped (a cleared filter), repeated ones by their last value. */
function queryOf(context: Context): Record<string, string> {
  return Object.fromEntries(Object.entries(context.req.query()).filter(([, value]) => value !== ''));
}

function parseWith<Schema extends z.ZodType>(schema: Schema, value: unknown, where: string): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.join('.');
  throw new HTTPException(400, { message: `${where}${field === '' ? '' : ` ${field}`}: ${issue.message}` });
}

async function jsonBody(context: Context): Promise<unknown> {
  const text = await context.req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HTTPException(400, { message: 'the body is not valid JSON' });
  }
}

function idParameter(context: Context, name: string): string {
  const value = context.req.param(name);
  if (value === undefined || value === '') throw new HTTPException(400, { message: `missing ${name}` });
  return value;
}

/**
 * The dashboard: a JSON API under `/api` over the workspace store, and the built page (Vite) at `/`. Every list is
 * paginated on the server; review decisions write to the store exactly as `understudy data review` does.
 */
export function createDashboardApp(options: DashboardAppOptions): Hono {
  const { store, loaded } = options;
  const task = loaded.config.task.name;
  const labelTask = loaded.config.task.output.type === 'labels';
  const reviewTask: ReviewTask = { systemPrompt: loaded.config.task.systemPrompt, output: loaded.config.task.output, labels: loaded.labels };
  const assets = options.assets ?? loadDashboardAssets();
  const launcher = options.runLauncher ?? createRunLauncher({ store, workspace: options.workspace, loaded });
  const app = new Hono();

  app.onError((error, context) => {
    const body = (message: string, extra: Omit<ApiErrorView['error'], 'message'> = {}): ApiErrorView => ({ error: { message, ...extra } });
    if (error instanceof HTTPException) return context.json(body(error.message), error.status);
    if (UnderstudyError.isInstance(error) && error.name === 'InvalidInputError') {
      return context.json(body(error.message, { ...(error.field === undefined ? {} : { field: error.field }), ...(error.hint === undefined ? {} : { hint: error.hint }) }), 400);
    }
    return context.json(body(`internal error: ${error.message}`), 500);
  });

  app.use('*', dashboardAccess({ ...(options.token === undefined ? {} : { token: options.token }), basePath: options.basePath ?? '/' }));

  app.get('/api/overview', (context) => {
    const overview: OverviewView = {
      task: { name: task, outputType: labelTask ? 'labels' : 'json-schema', labels: loaded.labels },
      workspace: options.workspace,
      pool: store.browse.poolTotals(task),
      datasets: store.browse.datasetsPage({ offset: 0, limit: 1 }).total,
      runs: store.browse.runCounts(),
    };
    return context.json(overview);
  });

  app.get('/api/pool/examples', (context) => context.json(poolPage(store, task, parseWith(PoolQuerySchema, queryOf(context), 'query'))));
  app.get('/api/pool/facets', (context) => context.json(poolFacets(store, task)));
  app.get('/api/pool/stats', (context) => context.json(poolStats(store, task, { labelTask })));

  app.get('/api/datasets', (context) => {
    const query = parseWith(PageQuerySchema, queryOf(context), 'query');
    return context.json({ ...store.browse.datasetsPage(query), ...query });
  });
  app.get('/api/datasets/:id/examples', (context) => {
    const id = idParameter(context, 'id');
    if (store.getDataset(id) === undefined) throw new HTTPException(404, { message: `no dataset ${id}` });
    const query = parseWith(PageQuerySchema, queryOf(context), 'query');
    const { items, total } = store.browse.datasetExamplesPage(id, query);
    const page: Page<DatasetExampleView> = { items: items.map((example) => ({ ...example, provenance: provenanceText(example.provenance) })), total, ...query };
    return context.json(page);
  });

  app.get('/api/review/queue', (context) => {
    const query = parseWith(ReviewQueueQuerySchema, queryOf(context), 'query');
    const { items, total } = store.browse.reviewQueuePage(task, { split: query.split, ...(query.source === undefined ? {} : { source: query.source }) }, query);
    const page: Page<PoolExampleView> = { items: items.map(poolExampleView), total, offset: query.offset, limit: query.limit };
    return context.json(page);
  });
  app.post('/api/review/:id', async (context) => {
    const id = Number(idParameter(context, 'id'));
    if (!Number.isInteger(id) || id <= 0) throw new HTTPException(400, { message: `the example id must be a positive integer, got ${context.req.param('id')}` });
    let raw: unknown;
    try {
      raw = await context.req.json();
    } catch {
      throw new HTTPException(400, { message: 'the body is not valid JSON' });
    }
    const body = parseWith(ReviewBodySchema, raw, 'body');
    const example = store.curation.getExample(id);
    if (example === undefined || example.task !== task) throw new HTTPException(404, { message: `no pool example ${id} in task ${task}` });
    const { applied } = decideReview(store, id, body.decision === 'edit' ? { kind: 'edit', answer: body.answer } : { kind: body.decision }, reviewTask);
    const result: ReviewResultView = { example: poolExampleView(store.browse.browsedExample(id)!), applied, preferencePairs: preferencePairsFromEdits(store, task).length };
    return context.json(result);
  });

  app.get('/api/runs', (context) => context.json(runsPage(store, parseWith(PageQuerySchema, queryOf(context), 'query'))));
  app.get('/api/runs/:id', (context) => {
    const id = idParameter(context, 'id');
    if (store.getRun(id) === undefined) throw new HTTPException(404, { message: `no run ${id}` });
    return context.json(runView(store, id));
  });
  app.post('/api/runs', async (context) => {
    const body = parseWith(StartRunBodySchema, await jsonBody(context), 'body');
    const started: StartRunView = launcher.start({ data: body.data, ...(body.maxSteps === undefined ? {} : { maxSteps: body.maxSteps }) });
    return context.json(started, 202);
  });
  app.post('/api/runs/:id/stop', (context) => {
    const id = idParameter(context, 'id');
    if (store.getRun(id) === undefined) throw new HTTPException(404, { message: `no run ${id}` });
    const stopped: StopRunView = { runId: id, ...launcher.stop(id) };
    return context.json(stopped, 202);
  });
  app.get('/api/runs/:id/updates', (context) => {
    const id = idParameter(context, 'id');
    if (store.getRun(id) === undefined) throw new HTTPException(404, { message: `no run ${id}` });
    const { after } = parseWith(RunUpdatesQuerySchema, queryOf(context), 'query');
    return context.json(runUpdates(store, id, after));
  });
  const experimentName = (context: Context): string => {
    const name = parseWith(ExperimentNameSchema, idParameter(context, 'name'), 'experiment');
    if (!hasExperiment(loaded, name)) throw new HTTPException(404, { message: `no experiment ${name} in gateway.routes` });
    return name;
  };
  app.get('/api/experiments', (context) => context.json(experimentsPage(loaded, store, parseWith(PageQuerySchema, queryOf(context), 'query'))));
  app.get('/api/experiments/:name', (context) => context.json(experimentView(loaded, store, experimentName(context))));
  for (const [action, state] of [['promote', 'promoted'], ['rollback', 'rolled-back']] as const) {
    // What `understudy ab promote|rollback` does: the gateway reads the new state from the store within a second.
    app.post(`/api/experiments/:name/${action}`, async (context) => {
      const name = experimentName(context);
      const body = parseWith(ExperimentDecisionBodySchema, await jsonBody(context), 'body');
      setExperimentDecision(loaded, store, name, state, body.note ?? '');
      return context.json(experimentView(loaded, store, name));
    });
  }

  const evalId = (context: Context): string => parseWith(EvalIdSchema, idParameter(context, 'id'), 'eval id');
  app.get('/api/evals', (context) => context.json(evalsPage(store, parseWith(PageQuerySchema, queryOf(context), 'query'))));
  app.get('/api/evals/:id', (context) => {
    const id = evalId(context);
    const view = evalView(loaded, store, id);
    if (view === undefined) throw new HTTPException(404, { message: `no evaluation ${id}` });
    return context.json(view);
  });
  app.get('/api/evals/:id/disagreements', (context) => {
    const id = evalId(context);
    const page = evalDisagreementsPage(store, id, parseWith(PageQuerySchema, queryOf(context), 'query'));
    if (page === undefined) throw new HTTPException(404, { message: `no evaluation ${id}` });
    return context.json(page);
  });

  app.get('/api/economics', (context) => {
    const query = parseWith(EconomicsQuerySchema, queryOf(context), 'query');
    const id = query.eval ?? newestEconomicsEvaluation(loaded, store);
    if (id === undefined) throw new HTTPException(404, { message: 'no stored evaluation measured the economics yet: run `understudy economics` (or `understudy decide`) once' });
    const view = economicsView(loaded, store, id);
    if (view === undefined) throw new HTTPException(404, { message: `no evaluation ${id}` });
    return context.json(view);
  });

  app.all('/api/*', (context) => context.json({ error: { message: `no API ${context.req.method} ${context.req.path}` } } satisfies ApiErrorView, 404));

  app.get('*', (context) => {
    if (assets.kind === 'missing') return context.text(assets.message, 503);
    const mount = options.basePath ?? '/';
    // The page's asset and API addresses are relative: it must be loaded from the folder, `/ui/` not `/ui`.
    if (mount !== '/' && context.req.path === mount) return context.redirect(`${mount}/${new URL(context.req.url).search}`, 301);
    const relative = context.req.path.slice(mount === '/' ? 1 : mount.length + 1);
    const file = assets.files.get(relative === '' ? 'index.html' : relative);
    if (file === undefined) return context.text(`no page ${context.req.path}`, 404);
    return context.body(file.body.slice(), 200, { 'content-type': file.contentType, 'cache-control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache' });
  });
  return app;
}
