import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRandom, hashString, randomInt, seedFrom, shuffle } from '../src/core/random.ts';
import { stratifiedSample, stratifiedSplit } from '../src/core/stratified-split.ts';

interface Item {
  id: number;
  label: string;
}

/** Labels of very different sizes, interleaved in a fixed pseudo-random order. */
function makeItems(sizes: Record<string, number>): Item[] {
  const items = Object.entries(sizes).flatMap(([label, size]) => Array.from({ length: size }, () => label));
  return shuffle(items, 'fixture').map((label, id) => ({ id, label }));
}

const sizes = { alpha: 50, beta: 30, gamma: 15, delta: 4, epsilon: 1 };
const items = makeItems(sizes);
const labelOf = (item: Item): string => item.label;

function countByLabel(sample: readonly Item[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of sample) counts[item.label] = (counts[item.label] ?? 0) + 1;
  return counts;
}

const ids = (sample: readonly Item[]): number[] => sample.map((item) => item.id);

function assertInInputOrder(sample: readonly Item[]): void {
  const positions = sample.map((item) => items.indexOf(item));
  assert.ok(positions.every((position, index) => position >= 0 && (index === 0 || position > positions[index - 1]!)), 'a subset of the input, in input order');
}

test('the generator and shuffle are seeded, stable and uniform enough', () => {
  const first = createRandom(123);
  const second = createRandom(123);
  const draws = Array.from({ length: 5 }, () => first());
  assert.deepEqual(draws, Array.from({ length: 5 }, () => second()));
  assert.notDeepEqual(draws, Array.from({ length: 5 }, createRandom(124)));
  assert.ok(draws.every((value) => value >= 0 && value < 1));
  // Pinned values: changing the generator would silently change every stored sample.
  assert.equal(createRandom(1)(), 0.6270739405881613); // the reference mulberry32 output for seed 1
  assert.equal(hashString('banking77'), 283393454);
  assert.equal(seedFrom(7, 'card_arrival'), 1380165393);
  assert.deepEqual(shuffle([1, 2, 3, 4, 5, 6, 7, 8], 99), [2, 5, 8, 1, 7, 4, 6, 3]);
  assert.notEqual(hashString('banking77'), hashString('banking78'));
  assert.equal(seedFrom(7, 'card_arrival'), seedFrom(7, 'card_arrival'));
  assert.notEqual(seedFrom(7, 'card_arrival'), seedFrom(8, 'card_arrival'));
  assert.deepEqual(shuffle([1, 2, 3, 4, 5, 6, 7, 8], 99), shuffle([1, 2, 3, 4, 5, 6, 7, 8], 99));
  assert.deepEqual([...shuffle([1, 2, 3, 4, 5, 6, 7, 8], 99)].sort(), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(createRandom('seed')(), createRandom(hashString('seed'))());

  const random = createRandom(5);
  const buckets = [0, 0, 0, 0];
  for (let draw = 0; draw < 40_000; draw += 1) buckets[randomInt(random, 4)]! += 1;
  for (const count of buckets) assert.ok(Math.abs(count - 10_000) < 400, `bucket count ${count}`);
  assert.throws(() => randomInt(random, 0), RangeError);
});

test('stratifiedSample with perLabel takes min(perLabel, label size) from every label', () => {
  const sample = stratifiedSample(items, labelOf, { perLabel: 10, seed: 1 });
  assert.deepEqual(countByLabel(sample), { alpha: 10, beta: 10, gamma: 10, delta: 4, epsilon: 1 });
  assert.equal(new Set(ids(sample)).size, sample.length, 'no item twice');
  assertInInputOrder(sample);
  assert.deepEqual(stratifiedSample(items, labelOf, { perLabel: 0, seed: 1 }), []);
});

test('stratifiedSample is deterministic for a seed and nested in perLabel', () => {
  const sample = stratifiedSample(items, labelOf, { perLabel: 5, seed: 'eval' });
  assert.deepEqual(ids(stratifiedSample(items, labelOf, { perLabel: 5, seed: 'eval' })), ids(sample));
  assert.notDeepEqual(ids(stratifiedSample(items, labelOf, { perLabel: 5, seed: 'other' })), ids(sample));
  const larger = new Set(ids(stratifiedSample(items, labelOf, { perLabel: 8, seed: 'eval' })));
  assert.ok(ids(sample).every((id) => larger.has(id)), 'a larger sample contains the smaller one');
  // One label's picks don't depend on the other labels being present.
  const alphaOnly = items.filter((item) => item.label === 'alpha');
  assert.deepEqual(ids(stratifiedSample(alphaOnly, labelOf, { perLabel: 5, seed: 'eval' })), ids(sample.filter((item) => item.label === 'alpha')));
});

test('stratifiedSample with total allocates proportionally and keeps every label', () => {
  const sample = stratifiedSample(items, labelOf, { total: 20, seed: 3 });
  assert.equal(sample.length, 20);
  const counts = countByLabel(sample);
  // Quotas: alpha 10, beta 6, gamma 3, delta 0.8, epsilon 0.2 → epsilon is lifted to 1, taken from alpha.
  assert.deepEqual(counts, { alpha: 9, beta: 6, gamma: 3, delta: 1, epsilon: 1 });
  assertInInputOrder(sample);
  // Quotas 5, 3, 1.5, 0.4, 0.1: gamma's rounded-up seat goes to delta, and alpha (the largest) gives one to epsilon.
  assert.deepEqual(countByLabel(stratifiedSample(items, labelOf, { total: 10, seed: 3 })), { alpha: 4, beta: 3, gamma: 1, delta: 1, epsilon: 1 });
  // Fewer seats than labels: purely proportional, small labels may be left out.
  assert.deepEqual(countByLabel(stratifiedSample(items, labelOf, { total: 4, seed: 3 })), { alpha: 2, beta: 1, gamma: 1 });
  assert.equal(stratifiedSample(items, labelOf, { total: items.length, seed: 3 }).length, items.length);
  assert.throws(() => stratifiedSample(items, labelOf, { total: items.length + 1, seed: 3 }), RangeError);
  assert.throws(() => stratifiedSample(items, labelOf, { perLabel: -1, seed: 3 }), RangeError);
});

test('a Banking77-shaped pool gives 2 or 3 examples per label for a sample of 200', () => {
  const pool = makeItems(Object.fromEntries(Array.from({ length: 77 }, (_, index) => [`intent_${index}`, 40])));
  const sample = stratifiedSample(pool, labelOf, { total: 200, seed: 7 });
  assert.equal(sample.length, 200);
  const counts = Object.values(countByLabel(sample));
  assert.equal(counts.length, 77);
  assert.ok(counts.every((count) => count === 2 || count === 3));
});

test('stratifiedSplit by fraction is disjoint, complete, proportional and deterministic', () => {
  const split = stratifiedSplit(items, labelOf, { testFraction: 0.2, seed: 9 });
  assert.equal(split.test.length, 20);
  assert.equal(split.train.length, items.length - 20);
  const testIds = new Set(ids(split.test));
  assert.ok(split.train.every((item) => !testIds.has(item.id)), 'no item on both sides');
  assert.deepEqual([...ids(split.train), ...ids(split.test)].sort((left, right) => left - right), ids(items).sort((left, right) => left - right));
  assert.deepEqual(countByLabel(split.test), { alpha: 10, beta: 6, gamma: 3, delta: 1 });
  assert.deepEqual(stratifiedSplit(items, labelOf, { testFraction: 0.2, seed: 9 }), split);
  assert.notDeepEqual(ids(stratifiedSplit(items, labelOf, { testFraction: 0.2, seed: 10 }).test), ids(split.test));
  assert.equal(stratifiedSplit(items, labelOf, { testFraction: 0, seed: 9 }).test.length, 0);
  assert.equal(stratifiedSplit(items, labelOf, { testFraction: 1, seed: 9 }).train.length, 0);
  assert.throws(() => stratifiedSplit(items, labelOf, { testFraction: 1.2, seed: 9 }), RangeError);
});

test('stratifiedSplit by testPerLabel puts the same items on the test side as stratifiedSample', () => {
  const split = stratifiedSplit(items, labelOf, { testPerLabel: 3, seed: 'split' });
  assert.deepEqual(countByLabel(split.test), { alpha: 3, beta: 3, gamma: 3, delta: 3, epsilon: 1 });
  assert.deepEqual(countByLabel(split.train), { alpha: 47, beta: 27, gamma: 12, delta: 1 });
  assert.deepEqual(ids(split.test), ids(stratifiedSample(items, labelOf, { perLabel: 3, seed: 'split' })));
  const testIds = new Set(ids(split.test));
  assert.ok(split.train.every((item) => !testIds.has(item.id)));
});
