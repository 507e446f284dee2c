import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { z } from 'zod';
import { macroF1 } from '../src/core/classification-metrics.ts';
import { createRandom } from '../src/core/random.ts';
import {
  binomialCdf,
  logGamma,
  mcnemarExact,
  mean,
  normalQuantile,
  p50p95,
  pairedBootstrap,
  pairedBootstrapOverIndices,
  percentile,
  wilsonInterval,
} from '../src/core/statistics.ts';

// Reference values written by test/fixtures/scipy/make-fixtures.py (SciPy, NumPy).
const ExpectedSchema = z.object({
  normalQuantile: z.array(z.object({ p: z.number(), expected: z.number() })),
  wilson: z.array(z.object({ successes: z.number(), n: z.number(), confidence: z.number(), low: z.number(), high: z.number() })),
  mcnemar: z.array(z.object({ b01: z.number(), b10: z.number(), pValue: z.number() })),
  binomialCdf: z.array(z.object({ k: z.number(), n: z.number(), p: z.number(), expected: z.number() })),
  percentile: z.array(z.object({ values: z.array(z.number()), p: z.array(z.number()), expected: z.array(z.number()) })),
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
