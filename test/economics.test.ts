import assert from 'node:assert/strict';
import test from 'node:test';
import { createBm25Index, splitPassages } from '../src/core/bm25.ts';
import { computeEconomics, costCurve, HOURS_PER_MONTH, mixView, monthlyServingUsd, sensitivityTable, type EconomicsInput } from '../src/core/economics.ts';

const close = (actual: number, expected: number, tolerance = 1e-9): void => assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${actual} != ${expected}`);

/**
 * Worked by hand:
 * - training: 1,000,000 tokens × 3 epochs / 500 tokens/s = 6,000 s = 1.6667 h × $1.20/h = $2.00; + $30 data + $68 other = $100.
 * - serving: 0.05 s/task × $0.72/h / 3600 = $0.00001 busy; / 0.5 utilization = $0.00002; × 1.25 operations = $0.000025 a task.
 * - hosted: $0.0002 a task. Saving $0.000175 a task → crossover $100 / $0.000175 = 571,428.57 tasks.
 * - 1,000,000 tasks/month: hosted $200, tuned $25, saving $175/month → payback 100/175 = 0.5714 months.
 * - 12 months: 12M tasks; hosted $2,400, tuned $100 + $300 = $400, saving $2,000; all-in $400/12M × 1000 = $0.03333 per 1,000.
 */
const worked: EconomicsInput = {
  hosted: { usdPerTask: 0.0002, promptTokens: 1000, completionTokens: 5, source: 'hand' },
  fineTune: { trainTokens: 1_000_000, epochs: 3, tokensPerSecond: 500, usdPerHour: 1.2, dataGenerationUsd: 30, otherUsd: 68, source: 'hand' },
  serving: { usdPerHour: 0.72, secondsPerTask: 0.05, utilization: 0.5, opsOverhead: 0.25, minInstances: 0, source: 'hand' },
  tasksPerMonth: 1_000_000,
  horizonMonths: 12,
};

test('economics: one-off, per-1,000 costs, crossover, payback and the horizon on a worked example', () => {
  const result = computeEconomics(worked);
  close(result.oneOff.trainingHours, 6000 / 3600);
  close(result.oneOff.trainingUsd, 2);
  close(result.oneOff.totalUsd, 100);
  close(result.per1000.hostedUsd, 0.2);
  close(result.per1000.tunedServingUsd, 0.025);
  close(result.per1000.tunedAllInUsd, 400 / 12_000_000 * 1000);
  close(result.monthly.hostedUsd, 200);
  close(result.monthly.tunedServingUsd, 25);
  close(result.monthly.savingUsd, 175);
  close(result.savingPerTask, 0.000175);
  close(result.crossoverTasks!, 100 / 0.000175);
  close(result.paybackMonths!, 100 / 175);
  close(result.lifetime.tasks, 12_000_000);
  close(result.lifetime.hostedUsd, 2400);
  close(result.lifetime.tunedUsd, 400);
  close(result.lifetime.savingUsd, 2000);
  assert.equal(result.paysBack, true);

  // The curve's two lines meet at the crossover: both paths cost $114.29 at 571,428.57 tasks.
  const curve = costCurve(worked, result);
  assert.equal(curve[0]!.tasks, 0);
  close(curve[0]!.tunedUsd, 100);
  assert.ok(curve.at(-1)!.tasks >= 12_000_000);
  const crossover = result.crossoverTasks!;
  close(crossover * 0.0002, 100 + crossover * 0.000025);
});

test('economics: an always-on machine is a floor that low traffic cannot pay back, high traffic can', () => {
  // Floor: 1 machine × 730.5 h × $0.72 = $525.96; × 1.25 = $657.45 a month, above the $200 hosted bill at 1M tasks.
  const floored: EconomicsInput = { ...worked, serving: { ...worked.serving, minInstances: 1 } };
  close(monthlyServingUsd(floored.serving, 1_000_000), HOURS_PER_MONTH * 0.72 * 1.25);
  const low = computeEconomics(floored);
  close(low.monthly.tunedServingUsd, 657.45);
  assert.equal(low.crossoverTasks, null);
  assert.equal(low.paybackMonths, null);
  assert.equal(low.paysBack, false);
  // At 100M tasks the busy time ($2,000 × 1.25 = $2,500) is above the floor: per task $0.000025 again.
  const high = computeEconomics({ ...floored, tasksPerMonth: 100_000_000 });
  close(high.monthly.tunedServingUsd, 2500);
  close(high.crossoverTasks!, 100 / 0.000175);
  close(high.paybackMonths!, 100 / 17_500);
  assert.equal(high.paysBack, true);
  // Too little volume even without a floor: 10,000 tasks a month save $1.75 a month, 21 dollars over 12 months < $100.
  const small = computeEconomics({ ...worked, tasksPerMonth: 10_000 });
  close(small.paybackMonths!, 100 / 1.75);
  assert.equal(small.paysBack, false);
  assert.throws(() => computeEconomics({ ...worked, serving: { ...worked.serving, utilization: 0 } }), /serving.utilization must be in \(0, 1\]/);
});

test('economics: the sensitivity table varies price ±50%, volume ×0.1-×10 and utilization', () => {
  const rows = sensitivityTable(worked);
  assert.equal(rows.length, 9 + 4);
  const halfPrice = rows.find((row) => row.hostedPriceFactor === 0.5 && row.volumeFactor === 1)!;
  // $0.0001 hosted − $0.000025 tuned = $0.000075 a task: crossover 1,333,333; $75 a month: payback 1.333 months.
  close(halfPrice.crossoverTasks!, 100 / 0.000075);
  close(halfPrice.paybackMonths!, 100 / 75);
  const tenth = rows.find((row) => row.hostedPriceFactor === 1 && row.volumeFactor === 0.1)!;
  close(tenth.paybackMonths!, 100 / 17.5);
  close(tenth.lifetimeSavingUsd, 12 * 17.5 - 100);
  // Utilization 10%: $0.00001 / 0.1 × 1.25 = $0.000125 a task.
  const idle = rows.find((row) => row.scenario === 'utilization 10%')!;
  close(idle.per1000TunedUsd, 0.125);
  close(idle.crossoverTasks!, 100 / 0.000075);
  assert.ok(rows.every((row) => row.per1000HostedUsd > 0));
});

test('the mix view moves the sub-tasks that pass their gate and pay back within the horizon', () => {
  const mix = mixView(
    [
      { name: 'router', tasksPerMonth: 1_000_000, hostedUsdPerTask: 0.0002, tunedUsdPerTask: 0.000025, oneOffUsd: 100, qualityOk: true },
      { name: 'synthesis', tasksPerMonth: 1_000_000, hostedUsdPerTask: 0.004, tunedUsdPerTask: 0.001, oneOffUsd: 100, qualityOk: false },
      { name: 'judge', tasksPerMonth: 1000, hostedUsdPerTask: 0.0002, tunedUsdPerTask: 0.000025, oneOffUsd: 100, qualityOk: null },
      { name: 'rewriter', tasksPerMonth: 1_000_000, hostedUsdPerTask: 0.00001, tunedUsdPerTask: 0.000025, oneOffUsd: 100, qualityOk: null },
    ],
    12,
  );
  assert.deepEqual(mix.subtasks.map((subtask) => subtask.move), [true, false, false, false]);
  assert.match(mix.subtasks[1]!.reason, /failed its quality gate/);
  close(mix.subtasks[2]!.paybackMonths!, 100 / 0.175);
  assert.match(mix.subtasks[2]!.reason, /longer than the 12-month horizon/);
  assert.equal(mix.subtasks[3]!.paybackMonths, null);
  close(mix.monthlySavingUsd, 175);
  close(mix.oneOffUsd, 100);
  close(mix.monthlyHostedTodayUsd, 200 + 4000 + 0.2 + 10);
  close(mix.monthlyAfterUsd, mix.monthlyHostedTodayUsd - 175);
});

test('BM25 ranks by rare shared terms, with the textbook score on a worked example', () => {
  const index = createBm25Index(['lost card', 'card fee', 'exchange rate']);
  // idf(lost) = ln(1 + (3 - 1 + 0.5) / (1 + 0.5)) = ln(2.6667); tf 1 at average length: the tf factor is 1.
  const [hit] = index.search('I lost it', 3);
  assert.equal(hit!.index, 0);
  close(hit!.score, Math.log(1 + 2.5 / 1.5));
  // "card" is in two passages, "fee" in one: the passage with both comes first.
  assert.deepEqual(index.search('card fee', 3).map((entry) => entry.index), [1, 0]);
  assert.deepEqual(index.search('nothing matches', 3), []);
  assert.deepEqual(splitPassages('one two\nthree\n\n  \n\nfour five six', 2), ['one two', 'three', 'four five', 'six']);
});

test('predicted vs measured: the economics recomputed from logged gateway calls', async () => {
  const { actualEconomics } = await import('../src/core/economics-actual.ts');
  const call = (id: string, minute: number, path: 'hosted' | 'tuned', costUsd: number | null, latencyMs: number, status: 'ok' | 'error' = 'ok') => ({
    requestId: id,
    createdAt: new Date(Date.UTC(2026, 10, 30, 10, minute)).toISOString(),
    route: 'router',
    experiment: 'exp',
    arm: path,
    path,
    provider: path === 'hosted' ? 'openai' : 'embedded',
    model: 'm',
    adapter: null,
    promptTokens: path === 'hosted' ? 900 : 40,
    completionTokens: path === 'hosted' ? 6 : 4,
    costUsd,
    latencyMs,
    firstTokenMs: latencyMs / 2,
    status,
    fallback: false,
    shadow: false,
    error: status === 'error' ? 'timeout' : null,
    messages: null,
    response: null,
  });
  // 5 successful calls over 2 hours (minute 0 to 120): 4 gaps / 2 h = 2 tasks an hour = 1,461 a month.
  const records = [
    call('h1', 0, 'hosted', 0.0002, 800),
    call('h2', 30, 'hosted', 0.0003, 900),
    call('h3', 60, 'hosted', 0.0004, 1000),
    call('t1', 90, 'tuned', 0.00001, 100),
    call('t2', 100, 'tuned', null, 5000, 'error'),
    call('t3', 120, 'tuned', 0.00001, 300),
  ];
  const actual = actualEconomics(worked, records);
  assert.equal(actual.hosted.calls, 3);
  close(actual.hosted.usdPerTask!, 0.0003);
  assert.equal(actual.hosted.promptTokens, 900);
  assert.deepEqual([actual.tuned.calls, actual.tuned.errors], [3, 1]);
  close(actual.tuned.meanLatencyMs!, 200);
  close(actual.window!.hours, 2);
  close(actual.measuredInput.tasksPerMonth, 2 * HOURS_PER_MONTH);
  // Tuned: 0.2 s × $0.72/h / 3600 / 0.5 × 1.25 = $0.0001 a task; saving $0.0002 a task: crossover $100 / $0.0002 = 500,000.
  close(actual.measured.per1000.tunedServingUsd, 0.1);
  close(actual.measured.crossoverTasks!, 500_000);
  const byName = new Map(actual.figures.map((figure) => [figure.figure, figure]));
  close(byName.get('hosted $ per 1,000 tasks')!.ratio!, 1.5);
  close(byName.get('tuned seconds per task')!.ratio!, 4);
  close(byName.get('crossover (tasks)')!.predicted!, 100 / 0.000175);
  assert.ok(actual.notes.some((note) => /extrapolated from less than a day/.test(note)));
  // No hosted calls: the hosted price stays the prediction, and says so.
  const tunedOnly = actualEconomics(worked, records.filter((record) => record.path === 'tuned'));
  close(tunedOnly.measuredInput.hosted.usdPerTask, worked.hosted.usdPerTask);
  assert.ok(tunedOnly.notes.some((note) => /no priced hosted calls/.test(note)));
});
