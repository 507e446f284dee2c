import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { z } from 'zod';
import { macroF1 } from '../src/core/classification-metrics.ts';
import { createRandom } from '../src/core/random.ts';
import {
  binomialCdf,
  holmAdjust,
  logGamma,
  mcnemarExact,
  mean,
  normalCdf,
  normalQuantile,
  p50p95,
  pairedBootstrap,
  pairedBootstrapOverIndices,
  pairedSampleSize,
  percentile,
  pairedPermutationTest,
  sampleSizeSentence,
  unpairedSampleSize,
  wilsonInterval,
} from '../src/core/statistics.ts';

// Reference values written by test/fixtures/scipy/make-fixtures.py (SciPy, NumPy, statsmodels).
const ExpectedSchema = z.object({
  normalQuantile: z.array(z.object({ p: z.number(), expected: z.number() })),
  wilson: z.array(z.object({ successes: z.number(), n: z.number(), confidence: z.number(), low: z.number(), high: z.number() })),
  mcnemar: z.array(z.object({ b01: z.number(), b10: z.number(), pValue: z.number() })),
  binomialCdf: z.array(z.object({ k: z.number(), n: z.number(), p: z.number(), expected: z.number() })),
  percentile: z.array(z.object({ values: z.array(z.number()), p: z.array(z.number()), expected: z.array(z.number()) })),
  normalCdf: z.array(z.object({ x: z.number(), expected: z.number() })),
  holm: z.array(z.object({ pValues: z.array(z.number()), adjusted: z.array(z.number()) })),
  unpairedSampleSize: z.array(z.object({ p1: z.number(), p2: z.number(), alpha: z.number(), power: z.number(), perGroup: z.number() })),
  permutation: z.array(
    z.union([
      z.object({ kind: z.literal('mean'), a: z.array(z.number()), b: z.array(z.number()), observed: z.number(), pValue: z.number() }),
      z.object({ kind: z.literal('microF1'), aCounts: z.array(z.array(z.number())), bCounts: z.array(z.array(z.number())), observed: z.number(), pValue: z.number() }),
    ]),
  ),
  pairedSampleSize: z.array(
    z.object({
      baselineAccuracy: z.number(),
      difference: z.number(),
      discordantRate: z.number().nullable(),
      alpha: z.number(),
      power: z.number(),
      discordantRateUsed: z.number(),
      examples: z.number(),
      exactTestPower: z.number().optional(),
    }),
  ),
});
const expected = ExpectedSchema.parse(JSON.parse(readFileSync(new URL('./fixtures/scipy/expected.json', import.meta.url), 'utf8')));

function assertClose(actual: number, wanted: number, message: string, relative = 1e-9, absolute = 1e-300): void {
  const tolerance = Math.max(absolute, relative * Math.abs(wanted));
  assert.ok(Math.abs(actual - wanted) <= tolerance, `${message}: got ${actual}, SciPy says ${wanted}`);
}

test('normalQuantile matches scipy.stats.norm.ppf from 1e-300 to 1 - 1e-15', () => {
  for (const { p, expected: wanted } of expected.normalQuantile) assertClose(normalQuantile(p), wanted, `ppf(${p})`, 1e-9, 1e-15);
  assert.equal(normalQuantile(0), -Infinity);
  assert.equal(normalQuantile(1), Infinity);
  assert.throws(() => normalQuantile(1.5), RangeError);
  assert.throws(() => normalQuantile(Number.NaN), RangeError);
});

test('wilsonInterval matches binomtest(...).proportion_ci(method="wilson")', () => {
  for (const { successes, n, confidence, low, high } of expected.wilson) {
    const interval = wilsonInterval(successes, n, confidence);
    assertClose(interval.low, low, `low of ${successes}/${n} at ${confidence}`, 1e-9, 1e-15);
    assertClose(interval.high, high, `high of ${successes}/${n} at ${confidence}`, 1e-9, 1e-15);
    assert.equal(interval.estimate, successes / n);
  }
  assert.deepEqual(wilsonInterval(0, 0), { estimate: 0, low: 0, high: 1 });
  assert.throws(() => wilsonInterval(5, 4), RangeError);
  assert.throws(() => wilsonInterval(1.5, 4), RangeError);
});

/** Paired correctness with the given discordant counts plus some concordant pairs, shuffled. */
function pairedCorrectness(b01: number, b10: number, seed: number): { a: boolean[]; b: boolean[] } {
  const pairs: [boolean, boolean][] = [
    ...Array.from({ length: b01 }, (): [boolean, boolean] => [false, true]),
    ...Array.from({ length: b10 }, (): [boolean, boolean] => [true, false]),
    ...Array.from({ length: 7 }, (): [boolean, boolean] => [true, true]),
    ...Array.from({ length: 4 }, (): [boolean, boolean] => [false, false]),
  ];
  const random = createRandom(seed);
  pairs.sort(() => random() - 0.5);
  return { a: pairs.map(([a]) => a), b: pairs.map(([, b]) => b) };
}

test('mcnemarExact matches scipy.stats.binomtest on the discordant pairs, up to 5000 of them', () => {
  for (const [index, { b01, b10, pValue }] of expected.mcnemar.entries()) {
    const { a, b } = pairedCorrectness(b01, b10, index);
    const result = mcnemarExact(a, b);
    assert.equal(result.b01, b01);
    assert.equal(result.b10, b10);
    assertClose(result.pValue, pValue, `p for b01=${b01} b10=${b10}`);
    assert.ok(result.pValue > 0 || pValue === 0, 'no underflow where SciPy has a value');
  }
});

test('mcnemarExact gives p = 1 without discordant pairs and counts b01 as "a wrong, b right"', () => {
  assert.deepEqual(mcnemarExact([true, false, true], [true, false, true]), { b01: 0, b10: 0, pValue: 1 });
  assert.deepEqual(mcnemarExact([], []), { b01: 0, b10: 0, pValue: 1 });
  const result = mcnemarExact([false, false, true], [true, true, true]);
  assert.equal(result.b01, 2);
  assert.equal(result.b10, 0);
  assertClose(result.pValue, 0.5, '2 · P(X ≤ 0), X ~ Bin(2, 1/2)', 1e-12);
  assert.throws(() => mcnemarExact([true], []), RangeError);
});

test('binomialCdf and logGamma match SciPy and known values', () => {
  for (const { k, n, p, expected: wanted } of expected.binomialCdf) assertClose(binomialCdf(k, n, p), wanted, `cdf(${k}; ${n}, ${p})`);
  assert.equal(binomialCdf(-1, 5, 0.5), 0);
  assert.equal(binomialCdf(5, 5, 0.5), 1);
  assertClose(logGamma(1), 0, 'lgamma(1)', 1e-12, 1e-14);
  assertClose(logGamma(0.5), Math.log(Math.sqrt(Math.PI)), 'lgamma(1/2)', 1e-13);
  let logFactorial = 0;
  for (let k = 2; k <= 30; k += 1) {
    logFactorial += Math.log(k);
    assertClose(logGamma(k + 1), logFactorial, `ln ${k}!`, 1e-13);
  }
});

test('percentile matches numpy.percentile (linear) and p50p95 agrees with it', () => {
  for (const { values, p, expected: wanted } of expected.percentile) {
    p.forEach((point, index) => assertClose(percentile(values, point), wanted[index]!, `percentile ${point} of ${values.length} values`, 1e-12, 1e-12));
    assert.deepEqual(p50p95(values), { p50: percentile(values, 50), p95: percentile(values, 95) });
  }
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile([1, 2], 101), RangeError);
  assert.equal(mean([1, 2, 3, 4]), 2.5);
  assert.throws(() => mean([]), RangeError);
});

/** Correlated paired correctness: b mostly agrees with a, and is right more often. */
function syntheticPairs(n: number, seed: number): { a: number[]; b: number[] } {
  const random = createRandom(seed);
  const a: number[] = [];
  const b: number[] = [];
  for (let index = 0; index < n; index += 1) {
    const aRight = random() < 0.6;
    a.push(aRight ? 1 : 0);
    b.push((aRight ? random() < 0.9 : random() < 0.45) ? 1 : 0);
  }
  return { a, b };
}

test('pairedBootstrap is deterministic for a seed and its interval holds the point estimate', () => {
  const { a, b } = syntheticPairs(300, 11);
  const first = pairedBootstrap({ a, b, seed: 42, iterations: 2000 });
  assert.deepEqual(pairedBootstrap({ a, b, seed: 42, iterations: 2000 }), first);
  assert.notDeepEqual(pairedBootstrap({ a, b, seed: 43, iterations: 2000 }), first);
  assertClose(first.difference, mean(b) - mean(a), 'difference of means', 1e-12);
  assert.ok(first.low < first.difference && first.difference < first.high, JSON.stringify(first));
  assert.equal(first.iterations, 2000);
  assert.equal(first.confidenceLevel, 0.95);
  const narrower = pairedBootstrap({ a, b, seed: 42, iterations: 2000, confidenceLevel: 0.8 });
  assert.ok(narrower.low > first.low && narrower.high < first.high, 'an 80% interval sits inside the 95% one');
});

test('pairedBootstrap agrees within 0.01 with the normal approximation on a large paired sample', () => {
  const { a, b } = syntheticPairs(5000, 7);
  const result = pairedBootstrap({ a, b, seed: 1 });
  const differences = b.map((value, index) => value - a[index]!);
  const average = mean(differences);
  const variance = differences.reduce((sum, value) => sum + (value - average) ** 2, 0) / (differences.length - 1);
  const halfWidth = normalQuantile(0.975) * Math.sqrt(variance / differences.length);
  assert.ok(Math.abs(result.low - (average - halfWidth)) < 0.01, `low ${result.low} vs ${average - halfWidth}`);
  assert.ok(Math.abs(result.high - (average + halfWidth)) < 0.01, `high ${result.high} vs ${average + halfWidth}`);
  assert.equal(result.iterations, 10_000);
});

test('identical a and b give a zero difference and the interval [0, 0]', () => {
  const { a } = syntheticPairs(200, 3);
  const result = pairedBootstrap({ a, b: [...a], seed: 5, iterations: 500 });
  assert.equal(result.difference, 0);
  assert.equal(result.low, 0);
  assert.equal(result.high, 0);
});

test('a custom statistic resamples the same indices as the default mean', () => {
  const { a, b } = syntheticPairs(150, 9);
  const fast = pairedBootstrap({ a, b, seed: 8, iterations: 1000 });
  const general = pairedBootstrap({ a, b, seed: 8, iterations: 1000, statistic: mean });
  assertClose(general.low, fast.low, 'low', 1e-12, 1e-12);
  assertClose(general.high, fast.high, 'high', 1e-12, 1e-12);
  const median = pairedBootstrap({ a: [1, 2, 3, 4, 5], b: [2, 3, 4, 5, 6], seed: 1, iterations: 200, statistic: (values) => percentile(values, 50) });
  assert.equal(median.difference, 1);
  assert.throws(() => pairedBootstrap({ a: [1], b: [1, 2], seed: 1 }), RangeError);
  assert.throws(() => pairedBootstrap({ a: [], b: [], seed: 1 }), RangeError);
});

test('pairedBootstrapOverIndices bootstraps a macro-F1 difference over paired examples', () => {
  const labels = ['balance', 'card', 'pin', 'transfer'];
  const random = createRandom(21);
  const gold = Array.from({ length: 200 }, () => labels[Math.floor(random() * labels.length)]!);
  const noisy = (rate: number): string[] => gold.map((label) => (random() < rate ? labels[Math.floor(random() * labels.length)]! : label));
  const base = noisy(0.6);
  const tuned = noisy(0.2);
  const metric = (indices: readonly number[]): number => {
    const pick = (values: readonly string[]): string[] => indices.map((index) => values[index]!);
    return macroF1(pick(gold), pick(tuned)) - macroF1(pick(gold), pick(base));
  };
  const result = pairedBootstrapOverIndices({ n: gold.length, metric, iterations: 500, seed: 4 });
  assert.equal(result.difference, macroF1(gold, tuned) - macroF1(gold, base));
  assert.ok(result.low > 0 && result.low < result.difference && result.difference < result.high, JSON.stringify(result));
  assert.deepEqual(pairedBootstrapOverIndices({ n: gold.length, metric, iterations: 500, seed: 4 }), result);
  const same = pairedBootstrapOverIndices({ n: gold.length, metric: (indices) => macroF1(indices.map((i) => gold[i]!), indices.map((i) => base[i]!)) - macroF1(indices.map((i) => gold[i]!), indices.map((i) => base[i]!)), iterations: 200, seed: 4 });
  assert.deepEqual([same.difference, same.low, same.high], [0, 0, 0]);
  assert.throws(() => pairedBootstrapOverIndices({ n: 10, metric, iterations: 0, seed: 1 }), RangeError);
  assert.throws(() => pairedBootstrapOverIndices({ n: 10, metric, seed: 1, confidenceLevel: 1 }), RangeError);
});

test('normalCdf matches scipy.stats.norm.cdf to 1e-12 relative, deep into the lower tail', () => {
  for (const { x, expected: wanted } of expected.normalCdf) {
    // SciPy underflows to 0 below about −37.5; the true value there is below 1e-300.
    if (wanted === 0) assert.ok(normalCdf(x) < 1e-300, `cdf(${x}) = ${normalCdf(x)}`);
    else assertClose(normalCdf(x), wanted, `cdf(${x})`, 1e-12);
  }
  for (const p of [1e-12, 0.001, 0.3, 0.5, 0.8, 0.975, 0.999999]) assertClose(normalCdf(normalQuantile(p)), p, `cdf(ppf(${p}))`, 1e-12);
  assert.throws(() => normalCdf(Number.NaN), RangeError);
});

test('holmAdjust matches multipletests(method="holm") and keeps the order of the input', () => {
  for (const { pValues, adjusted } of expected.holm) {
    const result = holmAdjust(pValues);
    assert.equal(result.length, pValues.length);
    result.forEach((value, index) => assertClose(value, adjusted[index]!, `adjusted p ${index} of [${pValues.join(', ')}]`, 1e-12, 1e-15));
    // Monotone: a smaller raw p-value never gets a larger adjusted one.
    for (const i of pValues.keys()) for (const j of pValues.keys()) if (pValues[i]! < pValues[j]!) assert.ok(result[i]! <= result[j]!);
  }
  assert.deepEqual(holmAdjust([]), []);
  assert.deepEqual(holmAdjust([0.03]), [0.03]);
  assert.deepEqual(holmAdjust([0.5, 0.25, 0.4]), [0.8, 0.75, 0.8], '3·0.25, 2·0.4, then 1·0.5 raised to the running maximum 0.8');
  assert.deepEqual(holmAdjust([0.6, 0.7]), [1, 1]);
  assert.throws(() => holmAdjust([0.5, 1.2]), /index 1/);
  assert.throws(() => holmAdjust([Number.NaN]), RangeError);
});

test('unpairedSampleSize matches statsmodels NormalIndPower.solve_power on Cohen\'s h', () => {
  for (const { p1, p2, alpha, power, perGroup } of expected.unpairedSampleSize) {
    const estimate = unpairedSampleSize(p1, p2, alpha, power);
    // statsmodels stops its root search at about 1e-8 relative; the two-tailed power equation is solved exactly here.
    assertClose(estimate.unrounded, perGroup, `n for ${p1} vs ${p2}`, 1e-6);
    assert.equal(estimate.examples, Math.ceil(perGroup));
    assert.equal(estimate.design, 'unpaired');
    assertClose(estimate.difference, p2 - p1, 'difference', 1e-15);
    assert.deepEqual([estimate.alpha, estimate.power], [alpha, power]);
  }
  assert.deepEqual(unpairedSampleSize(0.8, 0.83), unpairedSampleSize(0.8, 0.83, 0.05, 0.8), 'defaults: α 0.05, power 0.8');
  assert.equal(unpairedSampleSize(0.83, 0.8).examples, unpairedSampleSize(0.8, 0.83).examples, 'symmetric');
  assert.throws(() => unpairedSampleSize(0.5, 0.5), /must differ/);
  assert.throws(() => unpairedSampleSize(0.5, 1.5), /p2/);
  assert.throws(() => unpairedSampleSize(0.5, 0.6, 0, 0.8), /alpha/);
  assert.throws(() => unpairedSampleSize(0.5, 0.6, 0.05, 1), /power/);
});

test('pairedSampleSize follows Connor (1987) and bounds an unknown discordant rate by the two accuracies', () => {
  for (const entry of expected.pairedSampleSize) {
    const estimate = pairedSampleSize({
      baselineAccuracy: entry.baselineAccuracy,
      difference: entry.difference,
      ...(entry.discordantRate === null ? {} : { discordantRate: entry.discordantRate }),
      alpha: entry.alpha,
      power: entry.power,
    });
    const label = `${entry.baselineAccuracy}${entry.difference >= 0 ? '+' : ''}${entry.difference} ψ=${entry.discordantRate}`;
    assertClose(estimate.unrounded, entry.examples, `n for ${label}`, 1e-12);
    assert.equal(estimate.examples, Math.ceil(entry.examples));
    assertClose(estimate.discordantRate, entry.discordantRateUsed, `ψ for ${label}`, 1e-12);
    assert.equal(estimate.discordantRateSource, entry.discordantRate === null ? 'upper-bound' : 'given');
    assert.ok(estimate.fewestExamples <= estimate.examples);
    // The approximation is usable: the exact test that mcnemarExact runs reaches nearly the asked power at n.
    if (entry.exactTestPower !== undefined) assert.ok(entry.exactTestPower > entry.power - 0.03, `exact power ${entry.exactTestPower} for ${label}`);
  }
  // A smaller discordant rate (the candidates agree more) needs fewer examples; ψ = |δ| is the floor.
  const unknown = pairedSampleSize({ baselineAccuracy: 0.8, difference: 0.03 });
  const floor = pairedSampleSize({ baselineAccuracy: 0.8, difference: 0.03, discordantRate: 0.03 });
  assert.equal(floor.examples, unknown.fewestExamples);
  assert.ok(pairedSampleSize({ baselineAccuracy: 0.8, difference: 0.03, discordantRate: 0.1 }).examples < unknown.examples);
  assert.ok(unknown.examples < unpairedSampleSize(0.8, 0.83).examples * 2, 'paired needs fewer examples than two unpaired groups');
  assert.throws(() => pairedSampleSize({ baselineAccuracy: 0.8, difference: 0.03, discordantRate: 0.02 }), /discordantRate must be in \[0\.03, 0\.37\]/);
  assert.throws(() => pairedSampleSize({ baselineAccuracy: 0.8, difference: 0.03, discordantRate: 0.5 }), RangeError);
  assert.throws(() => pairedSampleSize({ baselineAccuracy: 0.8, difference: 0 }), /non-zero/);
  assert.throws(() => pairedSampleSize({ baselineAccuracy: 0.9, difference: 0.2 }), /\[0, 1\]/);
});

test('at the paired sample size, simulated exact McNemar tests detect the difference about 80% of the time', () => {
  // p01 = 0.065, p10 = 0.035: a 3-point gain with a 10% discordant rate.
  const estimate = pairedSampleSize({ baselineAccuracy: 0.8, difference: 0.03, discordantRate: 0.1 });
  const random = createRandom(2024);
  const simulations = 400;
  let detected = 0;
  for (let simulation = 0; simulation < simulations; simulation += 1) {
    const a: boolean[] = [];
    const b: boolean[] = [];
    for (let index = 0; index < estimate.examples; index += 1) {
      const draw = random();
      // Concordant pairs carry no information; only the discordant split matters.
      a.push(draw >= 0.065);
      b.push(draw < 0.065 || draw >= 0.1);
    }
    if (mcnemarExact(a, b).pValue <= 0.05) detected += 1;
  }
  const simulatedPower = detected / simulations;
  // Exact power at this n is 0.776 (expected.json); 400 runs have a standard error of about 0.02.
  assert.ok(simulatedPower > 0.7 && simulatedPower < 0.86, `simulated power ${simulatedPower}`);
});

test('sampleSizeSentence says the estimate in plain words', () => {
  assert.equal(
    sampleSizeSentence(pairedSampleSize({ baselineAccuracy: 0.8, difference: 0.03, discordantRate: 0.1 })),
    'To detect a 3-point difference at 80% power you need about 870 examples (paired: both candidates answer the same examples, and they disagree on 10% of them; two-sided α = 0.05).',
  );
  assert.equal(
    sampleSizeSentence(pairedSampleSize({ baselineAccuracy: 0.8, difference: 0.03 })),
    'To detect a 3-point difference at 80% power you need about 3,225 examples (paired; two-sided α = 0.05). That assumes the candidates disagree as often as their accuracies allow (37% of examples); if they rarely disagree, as few as 260 can do.',
  );
  assert.equal(
    sampleSizeSentence(unpairedSampleSize(0.8, 0.775, 0.01, 0.9)),
    `To detect a 2.5-point difference at 90% power you need about ${unpairedSampleSize(0.8, 0.775, 0.01, 0.9).examples.toLocaleString('en-US')} examples per candidate (each on its own examples; two-sided α = 0.01).`,
  );
});

test('pairedPermutationTest matches scipy.stats.permutation_test (paired samples, exact) on mean and micro-F1 differences', () => {
  for (const entry of expected.permutation) {
    let statistic: (swapped: readonly boolean[]) => number;
    let n: number;
    if (entry.kind === 'mean') {
      n = entry.a.length;
      statistic = (swapped) => entry.b.reduce((sum, value, index) => sum + (swapped[index] ? entry.a[index]! - value : value - entry.a[index]!), 0) / n;
    } else {
      n = entry.aCounts.length;
      const f1 = (rows: number[][]): number => {
        const [tp, fp, fn] = rows.reduce((sum, row) => sum.map((value, index) => value + row[index]!), [0, 0, 0]);
        return tp! + fp! + fn! === 0 ? 1 : (2 * tp!) / (2 * tp! + fp! + fn!);
      };
      statistic = (swapped) => f1(entry.bCounts.map((row, index) => (swapped[index] ? entry.aCounts[index]! : row))) - f1(entry.aCounts.map((row, index) => (swapped[index] ? entry.bCounts[index]! : row)));
    }
    const result = pairedPermutationTest({ n, statistic, seed: 1, iterations: 2 ** n });
    assert.equal(result.exact, true);
    assertClose(result.observed, entry.observed, `${entry.kind} n=${n} observed`, 1e-12, 1e-15);
    assertClose(result.pValue, entry.pValue, `${entry.kind} n=${n} p`, 1e-12, 1e-15);
  }
});

test('pairedPermutationTest: Monte Carlo when 2^n is too many, never p = 0, p = 1 for identical systems', () => {
  const n = 200;
  const a = Array.from({ length: n }, (_, index) => (index % 3 === 0 ? 1 : 0));
  const better = a.map((value, index) => (index % 5 === 0 ? 1 : value));
  const diff = (b: number[]) => (swapped: readonly boolean[]) => b.reduce((sum, value, index) => sum + (swapped[index] ? a[index]! - value : value - a[index]!), 0) / n;
  const strong = pairedPermutationTest({ n, statistic: diff(better), iterations: 2000, seed: 'x' });
  assert.equal(strong.exact, false);
  assert.ok(strong.pValue > 0 && strong.pValue <= 2 / 2001, `p ${strong.pValue}`);
  // The same seed gives the same p-value.
  assert.equal(pairedPermutationTest({ n, statistic: diff(better), iterations: 2000, seed: 'x' }).pValue, strong.pValue);
  assert.equal(pairedPermutationTest({ n, statistic: diff(a), iterations: 500, seed: 'x' }).pValue, 1);
  assert.throws(() => pairedPermutationTest({ n: 0, statistic: () => 0, seed: 1 }), RangeError);
});
