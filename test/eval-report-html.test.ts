import assert from 'node:assert/strict';
import { test } from 'node:test';
import { confusionMatrix, macroF1 } from '../src/core/classification-metrics.ts';
import type { MetricDifference, MetricEstimate, MetricInfo } from '../src/core/eval-metrics.ts';
import { createRandom } from '../src/core/random.ts';
import { extractionMetrics } from '../src/core/scorers.ts';
import { holmAdjust, mcnemarExact, mean, p50p95, pairedBootstrap, wilsonInterval } from '../src/core/statistics.ts';
import type { EvalOutput } from '../src/pipeline/eval-candidates.ts';
import { renderEvalRunReportHtml, type EvalReportInput } from '../src/pipeline/eval-report-html.ts';
import type { EvalCandidateResult, EvalComparison } from '../src/pipeline/eval-run.ts';
import { escapeHtml } from '../src/pipeline/report-html.ts';

const INJECTION = '<script>alert("pwned")</script> & <img src=x onerror=alert(1)>';

const BANKING_LABELS = [
  'activate_my_card', 'age_limit', 'apple_pay_or_google_pay', 'atm_support', 'automatic_top_up', 'balance_not_updated_after_bank_transfer',
  'balance_not_updated_after_cheque_or_cash_deposit', 'beneficiary_not_allowed', 'cancel_transfer', 'card_about_to_expire', 'card_acceptance',
  'card_arrival', 'card_delivery_estimate', 'card_linking', 'card_not_working', 'card_payment_fee_charged', 'card_payment_not_recognised',
  'card_payment_wrong_exchange_rate', 'card_swallowed', 'cash_withdrawal_charge', 'cash_withdrawal_not_recognised', 'change_pin', 'compromised_card',
  'contactless_not_working', 'country_support', 'declined_card_payment', 'declined_cash_withdrawal', 'declined_transfer', 'exchange_rate', 'lost_or_stolen_card',
];

interface CandidatePlan {
  name: string;
  describe: string;
  /** Chance of the right answer. */
  skill: number;
  /** $ per 1,000 tasks; null: unknown price. */
  cost: number | null;
  latencyScale: number;
  promptTokens: number;
}

const rate = (passes: readonly boolean[]): MetricEstimate => {
  const interval = wilsonInterval(passes.filter(Boolean).length, passes.length);
  return { value: interval.estimate, low: interval.low, high: interval.high, interval: 'wilson' };
};

const aggregate = (value: number, spread: number): MetricEstimate => ({ value, low: Math.max(0, value - spread), high: Math.min(1, value + spread * 0.8), interval: 'bootstrap' });

function candidateResult(plan: CandidatePlan, rows: readonly EvalOutput[], metrics: Record<string, MetricEstimate>, exactId: string, invalidAnswers: number): EvalCandidateResult {
  const latencies = rows.map((row) => row.latencyMs);
  const { p50, p95 } = p50p95(latencies);
  return {
    name: plan.name,
    describe: plan.describe,
    fingerprint: `fp-${plan.name}`,
    n: rows.length,
    metrics,
    accuracy: metrics[exactId]!.value,
    accuracyInterval: { low: metrics[exactId]!.low, high: metrics[exactId]!.high },
    invalidAnswers,
    promptTokensMean: plan.promptTokens,
    completionTokensMean: mean(rows.map((row) => row.completionTokens)),
    latencyP50Ms: p50,
    latencyP95Ms: p95,
    latenciesMs: latencies,
    costPer1000Usd: plan.cost,
    cachedAnswers: rows.filter((row) => row.cached).length,
  };
}

function rateDifference(a: readonly boolean[], b: readonly boolean[], seed: number): MetricDifference {
  const interval = pairedBootstrap({ a: a.map(Number), b: b.map(Number), seed, iterations: 400 });
  return { difference: interval.difference, low: interval.low, high: interval.high, pValue: mcnemarExact(a, b).pValue, test: 'mcnemar' };
}

/** A Banking77-style label task: a prompted base (baseline), a tuned adapter and a teacher API whose price is unknown, with a gate. */
export function labelsFixture(): EvalReportInput {
  const random = createRandom(77);
  const labels = BANKING_LABELS;
  const n = 150;
  const pick = (): string => labels[Math.floor(random() * labels.length)]!;
  // Confusions concentrate on near neighbours, as real intents do.
  const neighbour = (label: string): string => labels[(labels.indexOf(label) + 1 + Math.floor(random() * 2)) % labels.length]!;
  const gold = Array.from({ length: n }, pick);
  const inputs = gold.map((label, index) => (index === 3 ? INJECTION : `Example ${index}: the customer writes about ${label.replaceAll('_', ' ')} and wants help quickly.`));
  const plans: CandidatePlan[] = [
    { name: 'prompted-base', describe: 'qwen2.5-0.5b-instruct prompted, zero-shot', skill: 0.52, cost: 0.35, latencyScale: 180, promptTokens: 812.5 },
    { name: 'tuned-adapter', describe: 'qwen2.5-0.5b-instruct + adapter of run_20250131 (1a2b3c4d5e6f)', skill: 0.86, cost: 0.12, latencyScale: 95, promptTokens: 96.75 },
    { name: 'teacher-api', describe: 'openai gpt-4o-mini, 5-shot', skill: 0.9, cost: null, latencyScale: 900, promptTokens: 1480 },
  ];
  const outputs = new Map<string, EvalOutput[]>();
  const details = new Map<string, string[]>();
  for (const plan of plans) {
    const predicted = gold.map((label) => (random() < plan.skill ? label : random() < 0.7 ? neighbour(label) : pick()));
    // Example 3 (the HTML injection) separates the baseline from the others.
    predicted[3] = plan.name === 'prompted-base' ? neighbour(gold[3]!) : gold[3]!;
    const rows = gold.map((label, index): EvalOutput => ({
      candidate: plan.name,
      exampleId: 1000 + index,
      input: inputs[index]!,
      gold: label,
      output: predicted[index]!,
      correct: predicted[index] === label,
      promptTokens: Math.round(plan.promptTokens),
      completionTokens: 4 + (index % 3),
      latencyMs: index === 17 && plan.name === 'teacher-api' ? 14_000 : plan.latencyScale * Math.exp(random() - 0.5),
      costUsd: plan.cost === null ? null : plan.cost / 1000,
      cached: index % 10 === 0,
    }));
    outputs.set(plan.name, rows);
    details.set(plan.name, rows.map((row) => (row.correct ? '' : `expected ${row.gold}`)));
  }
  const metrics: MetricInfo[] = [
    { id: 'accuracy', label: 'accuracy', kind: 'rate', description: 'share of answers equal to the reference label' },
    { id: 'macroF1', label: 'macro-F1', kind: 'aggregate', description: 'F1 per label, averaged over labels with equal weight' },
  ];
  const passes = (name: string): boolean[] => outputs.get(name)!.map((row) => row.correct);
  const predictedOf = (name: string): string[] => outputs.get(name)!.map((row) => row.output);
  const candidates = plans.map((plan) => candidateResult(plan, outputs.get(plan.name)!, { accuracy: rate(passes(plan.name)), macroF1: aggregate(macroF1(gold, predictedOf(plan.name), { labels }), 0.07) }, 'accuracy', 0));
  const baselineF1 = candidates[0]!.metrics.macroF1!.value;
  const raw = plans.slice(1).map((plan, index) => {
    const accuracy = rateDifference(passes('prompted-base'), passes(plan.name), 11 + index);
    const f1 = candidates[index + 1]!.metrics.macroF1!.value - baselineF1;
    return {
      baseline: 'prompted-base',
      candidate: plan.name,
      metrics: { accuracy, macroF1: { difference: f1, low: f1 - 0.08, high: f1 + 0.07, pValue: 0.0004, test: 'permutation' as const } },
      accuracyDifference: { difference: accuracy.difference, low: accuracy.low, high: accuracy.high },
      mcnemar: mcnemarExact(passes('prompted-base'), passes(plan.name)),
      bootstrapIterations: 400,
    };
  });
  const holm = holmAdjust(raw.map((comparison) => comparison.metrics.accuracy.pValue));
  const comparisons: EvalComparison[] = raw.map((comparison, index) => ({
    ...comparison,
    holmPValue: holm[index]!,
    sampleSize: index === 0 ? { examples: 64, difference: comparison.accuracyDifference.difference, sentence: 'To detect a difference of 33.3 points at 80% power (alpha 0.05), a paired comparison needs about 64 examples.' } : null,
  }));
  const gated = comparisons[0]!.metrics.accuracy!;
  const points = (value: number): string => `${(value * 100).toFixed(1)} points`;
  return {
    task: { name: 'banking77-intents', kind: 'labels' },
    data: { source: 'config', evalDatasetId: 'ds_eval_banking77', evalHash: 'e'.repeat(64), examples: n },
    base: { name: 'qwen2.5-0.5b-instruct-q8_0', sha256: 'c'.repeat(64) },
    baseline: 'prompted-base',
    metrics,
    primaryMetric: 'accuracy',
    candidates,
    comparisons,
    gate: {
      pass: true,
      candidate: 'tuned-adapter',
      baseline: 'prompted-base',
      metric: 'accuracy',
      minDifference: 0.02,
      difference: gated.difference,
      low: gated.low,
      high: gated.high,
      pValue: gated.pValue,
      reason: `GO: tuned-adapter beats prompted-base on accuracy by ${points(gated.difference)} (95% interval ${points(gated.low)} to ${points(gated.high)}; McNemar p = ${gated.pValue.toPrecision(2)}); the whole interval is above the required 2.0 points.`,
    },
    confusion: Object.fromEntries(plans.map((plan) => {
      const matrix = confusionMatrix(gold, predictedOf(plan.name), { labels });
      return [plan.name, { labels: [...matrix.labels], counts: matrix.counts.map((row) => [...row]) }];
    })),
    extraction: {},
    scorers: [],
    pairwise: [],
    outputs,
    details,
    evalId: 'ev_0042',
    evalHash: 'f'.repeat(64),
  };
}

const INTENTS = ['transfer_money', 'check_balance', 'card_lost', 'pay_bill', 'open_account', 'close_account', 'change_pin', 'dispute_charge', 'order_checkbook', 'update_address'];
const SLOTS: Record<string, readonly string[]> = {
  amount: ['50', '120.75', '1000', '15'],
  currency: ['EUR', 'USD', 'GBP'],
  date: ['tomorrow', '2025-02-01', 'next friday'],
  account_type: ['savings', 'checking'],
  recipient: ['Maria Rossi', 'landlord', 'Dr. Jonathan Alexander Montgomery-Whitfield III of the Northern Savings Cooperative'],
  card_type: ['debit', 'credit'],
  merchant: ['Amazon', 'Tesco', 'Deutsche Bahn'],
};

/** An NLU++-style extraction task: intents (list) and slots (map), two candidates, a judge scorer and the pairwise judge. */
export function jsonFixture(): EvalReportInput {
  const random = createRandom(2025);
  const n = 80;
  const choose = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const goldAnswers = Array.from({ length: n }, (_, index) => {
    const intents = random() < 0.25 ? [choose(INTENTS), choose(INTENTS)].filter((value, position, all) => all.indexOf(value) === position) : [choose(INTENTS)];
    const slotNames = Object.keys(SLOTS).filter(() => random() < 0.35);
    // Example 5 carries a long answer, to show that JSON wraps.
    const names = index === 5 ? Object.keys(SLOTS) : slotNames;
    return { intents, slots: Object.fromEntries(names.map((name) => [name, name === 'recipient' && index === 5 ? SLOTS.recipient![2]! : choose(SLOTS[name]!)])) };
  });
  const inputs = goldAnswers.map((answer, index) => (index === 2 ? `Please ${INJECTION} move money` : `Message ${index}: I want to ${answer.intents.join(' and ').replaceAll('_', ' ')}${Object.keys(answer.slots).length > 0 ? ` (${Object.entries(answer.slots).map(([key, value]) => `${key} ${value}`).join(', ')})` : ''}.`));
  const plans: CandidatePlan[] = [
    { name: 'prompted-base', describe: 'qwen2.5-0.5b-instruct prompted, 3-shot', skill: 0.45, cost: 0.08, latencyScale: 420, promptTokens: 1210 },
    { name: 'tuned-adapter', describe: 'qwen2.5-0.5b-instruct + adapter of run_20250202 (9f8e7d6c5b4a)', skill: 0.82, cost: 0.03, latencyScale: 260, promptTokens: 140 },
  ];
  const outputs = new Map<string, EvalOutput[]>();
  const details = new Map<string, string[]>();
  const breakdowns: EvalReportInput['extraction'] = {};
  const estimates: Record<string, MetricEstimate>[] = [];
  for (const plan of plans) {
    const predicted = goldAnswers.map((answer, index) => {
      if (plan.name === 'prompted-base' && index % 19 === 7) return '{"intents": ["transfer_money"], "slots": {"amount": 50';
      // Example 2 (the HTML injection) separates the candidates.
      if (index === 2) return plan.name === 'prompted-base' ? JSON.stringify({ ...answer, intents: [] }) : JSON.stringify(answer);
      if (random() < plan.skill && index !== 5) return JSON.stringify(answer);
      const slots: Record<string, string> = { ...answer.slots };
      const keys = Object.keys(slots);
      if (keys.length > 0 && random() < 0.6) delete slots[choose(keys)];
      else slots[choose(Object.keys(SLOTS))] = 'unknown';
      const intents = random() < 0.4 ? [choose(INTENTS)] : answer.intents;
      return JSON.stringify({ intents, slots });
    });
    const pairs = goldAnswers.map((answer, index) => ({ gold: JSON.stringify(answer), predicted: predicted[index]! }));
    const scored = extractionMetrics(pairs);
    const exact = scored.perExample.map((entry) => entry.exactMatch);
    const rows = goldAnswers.map((answer, index): EvalOutput => ({
      candidate: plan.name,
      exampleId: 5000 + index,
      input: inputs[index]!,
      gold: JSON.stringify(answer),
      output: predicted[index]!,
      correct: exact[index]!,
      promptTokens: plan.promptTokens,
      completionTokens: predicted[index]!.length / 3,
      latencyMs: plan.latencyScale * Math.exp(random() - 0.5),
      costUsd: plan.cost! / 1000,
      cached: false,
    }));
    outputs.set(plan.name, rows);
    details.set(plan.name, rows.map((row) => (row.correct ? '' : row.output.endsWith('50') ? 'not valid JSON: unexpected end of input' : 'slots differ from the reference')));
    breakdowns[plan.name] = { byField: scored.byField, perKey: scored.perKey, malformed: scored.malformed };
    const schemaValid = predicted.map((text) => !text.endsWith('50'));
    const judge = rows.map((row, index) => (row.correct ? index % 9 !== 0 : index % 3 === 0));
    estimates.push({
      exactMatch: rate(exact),
      fieldF1: aggregate(scored.micro.f1, 0.05),
      intentsF1: aggregate(scored.byField.intents!.f1, 0.06),
      slotsF1: aggregate(scored.byField.slots!.f1, 0.06),
      schemaValid: rate(schemaValid),
      'scorer:helpfulness': rate(judge),
    });
  }
  const metrics: MetricInfo[] = [
    { id: 'exactMatch', label: 'exact match', kind: 'rate', description: 'share of answers whose every scored field equals the reference' },
    { id: 'fieldF1', label: 'field F1', kind: 'aggregate', description: 'micro-F1 over every item of intents and slots (list values; name=value pairs)' },
    { id: 'intentsF1', label: 'intents F1', kind: 'aggregate', description: 'micro-F1 over the items of intents' },
    { id: 'slotsF1', label: 'slots F1', kind: 'aggregate', description: 'micro-F1 over the items of slots' },
    { id: 'schemaValid', label: 'schema-valid', kind: 'rate', description: "share of answers that are JSON valid under the task's schema" },
    { id: 'scorer:helpfulness', label: 'helpfulness pass', kind: 'rate', description: 'LLM judge: the answer would let an agent act without asking again' },
  ];
  const candidates = plans.map((plan, index) => candidateResult(plan, outputs.get(plan.name)!, estimates[index]!, 'exactMatch', plan.name === 'prompted-base' ? 5 : 0));
  const passes = (name: string): boolean[] => outputs.get(name)!.map((row) => row.correct);
  const exactDifference = rateDifference(passes('prompted-base'), passes('tuned-adapter'), 5);
  const differenceOf = (id: string, test: 'mcnemar' | 'permutation', pValue: number): MetricDifference => {
    const difference = estimates[1]![id]!.value - estimates[0]![id]!.value;
    return { difference, low: difference - 0.07, high: difference + 0.06, pValue, test };
  };
  const comparisonMetrics = {
    exactMatch: exactDifference,
    fieldF1: differenceOf('fieldF1', 'permutation', 0.0002),
    intentsF1: differenceOf('intentsF1', 'permutation', 0.013),
    slotsF1: differenceOf('slotsF1', 'permutation', 0.0009),
    schemaValid: differenceOf('schemaValid', 'mcnemar', 0.031),
    'scorer:helpfulness': differenceOf('scorer:helpfulness', 'mcnemar', 0.004),
  };
  return {
    task: { name: 'nlupp-banking-extraction', kind: 'json-schema' },
    data: { source: 'curated', evalDatasetId: 'ds_nlupp_heldout', evalHash: '1'.repeat(64), examples: n },
    base: { name: 'qwen2.5-0.5b-instruct-q8_0', sha256: 'c'.repeat(64) },
    baseline: 'prompted-base',
    metrics,
    primaryMetric: 'fieldF1',
    candidates,
    comparisons: [
      {
        baseline: 'prompted-base',
        candidate: 'tuned-adapter',
        metrics: comparisonMetrics,
        accuracyDifference: { difference: exactDifference.difference, low: exactDifference.low, high: exactDifference.high },
        mcnemar: mcnemarExact(passes('prompted-base'), passes('tuned-adapter')),
        holmPValue: 0.0002,
        sampleSize: { examples: 41, difference: exactDifference.difference, sentence: 'To detect a difference of 35.0 points at 80% power (alpha 0.05), a paired comparison needs about 41 examples.' },
        bootstrapIterations: 400,
      },
    ],
    gate: null,
    confusion: {},
    extraction: breakdowns,
    scorers: [{ name: 'helpfulness', kind: 'judge', calls: 96, costUsd: 0.21, agreementWithReference: { n: 160, agreement: 0.8125, kappa: 0.574, labels: [false, true] } }],
    pairwise: [
      { baseline: 'prompted-base', candidate: 'tuned-adapter', n, aWins: 11, bWins: 43, ties: 26, inconsistent: 7, bWinRate: (43 + 13) / n, winRate: { value: (43 + 13) / n, low: 0.6, high: 0.79 }, pValue: 0.0000126, calls: 108, costUsd: null },
    ],
    outputs,
    details,
    evalId: 'ev_0043',
    evalHash: '2'.repeat(64),
  };
}

const count = (text: string, pattern: RegExp): number => text.match(pattern)?.length ?? 0;

function assertIncludes(text: string, fragment: string, what = fragment): void {
  assert.ok(text.includes(fragment), `the report shows ${what}`);
}

function svgById(html: string, id: string): string {
  return html.match(new RegExp(`<svg\\b[^>]*id="plot-${id}"[\\s\\S]*?</svg>`))?.[0] ?? '';
}

function sectionById(html: string, id: string): string {
  return html.match(new RegExp(`<section id="${id}">[\\s\\S]*?</section>`))?.[0] ?? '';
}

/** Tags inside each <svg> open and close in order, and no stray '<' (a small XML well-formedness check). */
function assertSvgWellFormed(html: string): void {
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  for (const fragment of html.match(/<svg\b[\s\S]*?<\/svg>/g) ?? []) {
    const stack: string[] = [];
    for (const [, closing, name, , selfClosing] of fragment.matchAll(tag)) {
      if (selfClosing === '/') continue;
      if (closing === '/') assert.equal(stack.pop(), name, `closing </${name}> matches its opening tag`);
      else stack.push(name!);
    }
    assert.deepEqual(stack, [], 'every SVG element is closed');
    assert.equal(count(fragment, tag), count(fragment, /</g), 'no malformed tag or unescaped "<" inside the SVG');
  }
}

function assertSelfContained(html: string): void {
  assert.match(html, /^<!DOCTYPE html>/);
  assert.ok(html.includes(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`), 'a CSP blocks scripts and network loads');
  assert.equal(count(html, /<script/gi), 0, 'no script element');
  assert.equal(count(html, /<link|@import|url\(|<[a-z][^>]*\s(?:src|href)=/gi), 0, 'no external resources');
  assert.equal(count(html, /https?:\/\//g), count(html, /xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g), 'the only URLs are the SVG namespace');
  assert.equal(count(html, /NaN|Infinity|undefined/g), 0, 'no NaN, Infinity or undefined in the markup');
  assertSvgWellFormed(html);
}

/** Example ids of the disagreement table, in row order. */
const disagreementIds = (html: string): number[] => [...sectionById(html, 'disagreements').matchAll(/<div class="example-id">#(\d+)<\/div>/g)].map((match) => Number(match[1]));

/** What the table should hold: verdicts differ; baseline-vs-best first, each group in example order. */
function expectedDisagreements(input: EvalReportInput): number[] {
  const challengers = input.candidates.filter((candidate) => candidate.name !== input.baseline);
  const best = challengers.reduce((leader, candidate) => (candidate.metrics[input.primaryMetric]!.value > leader.metrics[input.primaryMetric]!.value ? candidate : leader));
  const rows = input.candidates.map((candidate) => input.outputs.get(candidate.name)!);
  const baselineRows = input.outputs.get(input.baseline)!;
  const bestRows = input.outputs.get(best.name)!;
  const differing = baselineRows.map((_, index) => index).filter((index) => new Set(rows.map((candidateRows) => candidateRows[index]!.correct)).size > 1);
  const leading = differing.filter((index) => baselineRows[index]!.correct !== bestRows[index]!.correct);
  const rest = differing.filter((index) => baselineRows[index]!.correct === bestRows[index]!.correct);
  return [...leading, ...rest].map((index) => baselineRows[index]!.exampleId);
}

test('labels task: header, gate banner, every candidate in every plot, and one heatmap per candidate', () => {
  const input = labelsFixture();
  const html = renderEvalRunReportHtml(input, { generatedAt: '2025-01-31T12:34:56Z' });
  assertSelfContained(html);
  assertIncludes(html, '<title>Evaluation: banking77-intents</title>');
  for (const text of ['banking77-intents', 'label classification', '150 examples', 'e'.repeat(64), 'qwen2.5-0.5b-instruct-q8_0', 'c'.repeat(64), '2025-01-31T12:34:56Z', 'ev_0042']) {
    assert.ok(html.includes(text), `the header shows ${text}`);
  }
  assert.ok(html.includes('<div class="gate gate-go" id="gate">'), 'a GO banner');
  assert.ok(html.includes(escapeHtml(input.gate!.reason)), 'the gate reason, escaped');
  // Plots: two metric plots, the forest plot, cost, latency, and a heatmap per candidate.
  const ids = [...html.matchAll(/<svg\b[^>]*id="plot-([\w-]+)"/g)].map((match) => match[1]);
  assert.deepEqual(ids, ['metric-primary', 'metric-others', 'forest', 'cost', 'latency', 'confusion-0', 'confusion-1', 'confusion-2']);
  assert.equal(count(html, /<svg\b/g), 8);
  for (const candidate of input.candidates) {
    for (const plot of ['metric-primary', 'metric-others', 'cost', 'latency', `confusion-${input.candidates.indexOf(candidate)}`]) {
      assert.ok(svgById(html, plot).includes(`>${candidate.name}<`), `${candidate.name} is named in plot ${plot}`);
    }
    if (candidate.name !== input.baseline) assert.ok(svgById(html, 'forest').includes(`>${candidate.name}<`), `${candidate.name} in the forest plot`);
  }
  // The forest plot has the zero line and the gate's margin.
  const forest = svgById(html, 'forest');
  assert.equal(count(forest, /<line class="zero"/g), 1);
  assert.equal(count(forest, /<line class="margin"/g), 1);
  assertIncludes(forest, 'gate margin +2.0 pp');
  // Every metric with its interval, in the candidates table.
  for (const candidate of input.candidates) {
    const accuracy = candidate.metrics.accuracy!;
    assert.ok(html.includes(`${(accuracy.value * 100).toFixed(1)}%<span class="interval">[${(accuracy.low * 100).toFixed(1)}, ${(accuracy.high * 100).toFixed(1)}]</span>`), `accuracy of ${candidate.name} with its interval`);
    assert.ok(html.includes(`${(candidate.metrics.macroF1!.value * 100).toFixed(1)}<span class="interval">`), `macro-F1 ×100 of ${candidate.name}`);
  }
  assert.ok(html.includes('$0.35') && html.includes('$0.12'), 'known prices');
  assert.ok(sectionById(html, 'candidates').includes('<span class="muted">unknown</span>'), 'the unknown price says so');
  // Comparisons: Holm p on the primary metric and the sample-size sentence.
  const comparisons = sectionById(html, 'comparisons');
  assertIncludes(comparisons, 'exact McNemar');
  assertIncludes(comparisons, 'permutation');
  assertIncludes(comparisons, 'a paired comparison needs about 64 examples');
  assertIncludes(comparisons, 'The sample size needed could not be estimated');
  assertIncludes(html, 'No extra scorers or judges were configured.');
  assert.ok(sectionById(html, 'method').includes('400 resamples'));
});

test('the cost plot lists a candidate with an unknown price beside it instead of plotting it at zero', () => {
  const html = renderEvalRunReportHtml(labelsFixture());
  const cost = svgById(html, 'cost');
  assertIncludes(cost, 'Price unknown: not plotted');
  const unplotted = [...cost.matchAll(/<g class="unplotted">([\s\S]*?)<\/g>/g)].map((match) => match[1]!);
  assert.equal(unplotted.length, 1);
  assertIncludes(unplotted[0]!, '>teacher-api<');
  assert.ok(!cost.includes('<title>teacher-api: $'), 'no point for teacher-api');
  assert.ok(cost.includes('<title>tuned-adapter: $0.12 per 1,000 tasks'), 'tuned-adapter is plotted');
  assert.ok(cost.includes('<title>prompted-base: $0.35 per 1,000 tasks'), 'prompted-base is plotted');
});

test('the latency plot keeps a 14 s outlier from squashing the boxes, and says so', () => {
  const html = renderEvalRunReportHtml(labelsFixture());
  const latency = svgById(html, 'latency');
  assertIncludes(latency, '1 beyond axis');
  assert.equal(count(latency, /<rect /g), 3, 'one box per candidate');
});

test('confusion heatmaps show only the confusionLabels most confused labels, the same in every panel', () => {
  const input = labelsFixture();
  const html = renderEvalRunReportHtml(input);
  for (let index = 0; index < 3; index += 1) assert.equal(count(svgById(html, `confusion-${index}`), /<rect class="cm"/g), 20 * 20, `heatmap ${index} is 20 × 20`);
  assertIncludes(html, 'the 20 labels most involved in confusions (over all candidates), of 30');
  const narrow = renderEvalRunReportHtml(input, { confusionLabels: 6 });
  const rowLabels = (svg: string): string[] => [...svg.matchAll(/<text class="tick" x="\d+(?:\.\d+)?" y="[\d.]+" text-anchor="end">[^<]*<title>([^<]*)<\/title>/g)].map((match) => match[1]!);
  const first = rowLabels(svgById(narrow, 'confusion-0'));
  assert.equal(first.length, 6);
  for (let index = 0; index < 3; index += 1) {
    assert.equal(count(svgById(narrow, `confusion-${index}`), /<rect class="cm"/g), 36);
    assert.deepEqual(rowLabels(svgById(narrow, `confusion-${index}`)), first, 'every panel shows the same labels');
  }
  // The six are those with the most off-diagonal counts over all candidates.
  const involvement = new Map<string, number>();
  for (const matrix of Object.values(input.confusion)) {
    matrix.labels.forEach((gold, row) => matrix.labels.forEach((predicted, column) => {
      if (row === column) return;
      const value = matrix.counts[row]![column]!;
      involvement.set(gold, (involvement.get(gold) ?? 0) + value);
      involvement.set(predicted, (involvement.get(predicted) ?? 0) + value);
    }));
  }
  const ranked = [...involvement.entries()].sort((left, right) => right[1] - left[1]);
  const sixth = ranked[5]![1];
  for (const label of first) assert.ok(involvement.get(label)! >= sixth, `${label} is among the most confused`);
  // The most-confused-pairs table has a count column per candidate.
  const pairs = sectionById(html, 'confusion').match(/<table class="numeric left-2 pairs-table">[\s\S]*?<\/table>/)?.[0] ?? '';
  assert.equal(count(pairs, /<th>/g), 2 + 3);
  assert.ok(count(pairs, /<tr>/g) - 1 <= 15, 'at most 15 pairs');
});

test('the disagreement table holds only examples whose verdicts differ, baseline-vs-best first', () => {
  const input = labelsFixture();
  const html = renderEvalRunReportHtml(input);
  const expected = expectedDisagreements(input);
  assert.ok(expected.length > 0, 'the fixture has disagreements');
  assert.deepEqual(disagreementIds(html), expected.slice(0, 60));
  assertIncludes(html, `The first 60 of ${expected.length} examples where the candidates' exact-check verdicts differ.`);
  const few = renderEvalRunReportHtml(input, { maxDisagreements: 5 });
  assert.deepEqual(disagreementIds(few), expected.slice(0, 5));
  // The injected input is shown as text.
  const section = sectionById(html, 'disagreements');
  assertIncludes(section, '&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;');
  assert.equal(count(section, /<img/g), 0);
  // Every candidate column marks its verdict.
  assert.equal(count(section, /<span class="mark (?:right|wrong)"/g), 60 * 3);
});

test('user text is escaped everywhere: title, task, candidate names, inputs', () => {
  const input = labelsFixture();
  const hostile = '</title><script>alert(2)</script>';
  const renamed = '"><svg onload=alert(3)>';
  const rename = (name: string): string => (name === 'teacher-api' ? renamed : name);
  const html = renderEvalRunReportHtml(
    {
      ...input,
      task: { ...input.task, name: '<b onmouseover="x">task</b>' },
      candidates: input.candidates.map((candidate) => ({ ...candidate, name: rename(candidate.name) })),
      comparisons: input.comparisons.map((comparison) => ({ ...comparison, candidate: rename(comparison.candidate) })),
      outputs: new Map([...input.outputs].map(([name, rows]) => [rename(name), rows])),
      details: new Map([...input.details].map(([name, rows]) => [rename(name), rows])),
      confusion: Object.fromEntries(Object.entries(input.confusion).map(([name, matrix]) => [rename(name), matrix])),
    },
    { title: hostile },
  );
  assertSelfContained(html);
  assert.equal(count(html, /<b /g), 0);
  assertIncludes(html, '&lt;/title&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
  assertIncludes(html, '&quot;&gt;&lt;svg onload=alert(3)&gt;');
  assert.equal(count(html, /<svg\b/g), 8, 'the injected "<svg" did not become an element');
});

test('JSON task: field and key tables, judge agreement, pairwise judge, and wrapped JSON answers', () => {
  const input = jsonFixture();
  const html = renderEvalRunReportHtml(input);
  assertSelfContained(html);
  assertIncludes(html, 'JSON extraction');
  assert.ok(!html.includes('id="gate"'), 'no gate, no banner');
  const ids = [...html.matchAll(/<svg\b[^>]*id="plot-([\w-]+)"/g)].map((match) => match[1]);
  assert.deepEqual(ids, ['metric-primary', 'metric-others', 'forest', 'cost', 'latency']);
  for (const candidate of input.candidates) {
    for (const plot of ['metric-primary', 'metric-others', 'cost', 'latency']) assert.ok(svgById(html, plot).includes(`>${candidate.name}<`), `${candidate.name} in ${plot}`);
  }
  assert.ok(svgById(html, 'metric-primary').includes('field F1'), 'the primary metric leads');
  assert.ok(!svgById(html, 'cost').includes('Price unknown'), 'every price is known');
  assert.ok(!svgById(html, 'forest').includes('class="margin"'), 'no gate margin without a gate');
  // Per-field precision, recall and F1 for each candidate.
  const extraction = sectionById(html, 'extraction');
  for (const candidate of input.candidates) {
    for (const [field, scores] of Object.entries(input.extraction[candidate.name]!.byField)) {
      assertIncludes(extraction, `<code>${field}</code>`);
      assert.ok(extraction.includes(`${(scores.precision * 100).toFixed(1)}</td><td>${(scores.recall * 100).toFixed(1)}</td><td><strong>${(scores.f1 * 100).toFixed(1)}</strong>`), `${candidate.name} ${field} P/R/F1`);
    }
  }
  // Per-key F1: at most 25 keys, most frequent first, one column per candidate.
  const keys = extraction.match(/<table class="numeric compact left-2 keys-table">[\s\S]*?<\/table>/)?.[0] ?? '';
  const supports = [...keys.matchAll(/<tr><td><code>[^<]*<\/code><\/td><td>[^]*?<\/td><td>(\d+)<\/td>/g)].map((match) => Number(match[1]));
  assert.ok(supports.length > 10 && supports.length <= 25, `${supports.length} key rows`);
  assert.deepEqual(supports, [...supports].sort((left, right) => right - left));
  assert.equal(count(keys, /<th>/g), 3 + 2);
  // Scorers and judges.
  const scorers = sectionById(html, 'scorers');
  assertIncludes(scorers, 'helpfulness');
  assert.ok(scorers.includes('81.3%') && scorers.includes('0.57') && scorers.includes('moderate'), 'agreement, kappa and its reading');
  assert.ok(scorers.includes('<td>80</td><td>43</td><td>26</td><td>11</td><td>7</td>'), 'pairs, wins, ties, losses, inconsistent');
  assert.ok(scorers.includes('70.0%<span class="interval">[60.0, 79.0]</span>'), 'win rate with its interval');
  assert.ok(scorers.includes('1.26e-5'), 'sign-test p');
  // Disagreements: JSON answers in wrapping monospace blocks, the long one included.
  assert.deepEqual(disagreementIds(html), expectedDisagreements(input));
  const section = sectionById(html, 'disagreements');
  assertIncludes(section, '<pre class="answer">');
  assert.ok(section.includes('Dr. Jonathan Alexander Montgomery-Whitfield III'), 'the long answer (example 5) is shown');
  assert.ok(section.includes('not valid JSON: unexpected end of input'), 'the failure detail');
  assert.match(html, /pre\.answer \{[^}]*white-space: pre-wrap/);
  assert.ok(section.includes('Please &lt;script&gt;'), 'the injected input is escaped');
});

test('one candidate alone and eight candidates both render without NaN', () => {
  const input = labelsFixture();
  const baseline = input.candidates[0]!;
  const alone = renderEvalRunReportHtml({
    ...input,
    candidates: [baseline],
    comparisons: [],
    gate: null,
    outputs: new Map([[baseline.name, input.outputs.get(baseline.name)!]]),
    details: new Map([[baseline.name, input.details.get(baseline.name)!]]),
    confusion: { [baseline.name]: input.confusion[baseline.name]! },
  });
  assertSelfContained(alone);
  assertIncludes(alone, 'Only the baseline was evaluated');
  assertIncludes(alone, 'Only one candidate: nothing to compare.');
  const clones = Array.from({ length: 8 }, (_, index) => input.candidates[index % 3]!).map((candidate, index) => ({ ...candidate, name: index === 0 ? candidate.name : `${candidate.name}-${index}`, costPer1000Usd: index === 5 ? null : candidate.costPer1000Usd }));
  const sources = Array.from({ length: 8 }, (_, index) => input.candidates[index % 3]!.name);
  const eight = renderEvalRunReportHtml({
    ...input,
    candidates: clones,
    comparisons: clones.slice(1).map((candidate, index) => ({ ...input.comparisons[index % 2]!, candidate: candidate.name })),
    gate: null,
    outputs: new Map(clones.map((candidate, index) => [candidate.name, input.outputs.get(sources[index]!)!])),
    details: new Map(clones.map((candidate, index) => [candidate.name, input.details.get(sources[index]!)!])),
    confusion: Object.fromEntries(clones.map((candidate, index) => [candidate.name, input.confusion[sources[index]!]!])),
  });
  assertSelfContained(eight);
  assert.equal(count(eight, /<svg\b/g), 5 + 8);
  assertIncludes(eight, 'table class="side-by-side wide"');
  const cards = count(sectionById(eight, 'disagreements'), /<div class="answer-card">/g);
  assert.equal(cards, 8 * disagreementIds(eight).length, 'an answer card per candidate and example');
  assert.ok(cards > 0, 'the eight candidates disagree somewhere');
});
