import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { z } from 'zod';
import { accuracy, confusionMatrix, labelUnion, macroF1, perLabelMetrics, topConfusions } from '../src/core/classification-metrics.ts';

// scikit-learn reference values written by test/fixtures/scipy/make-fixtures.py.
const ExpectedSchema = z.object({
  macroF1: z.array(
    z.object({
      gold: z.array(z.string()),
      predicted: z.array(z.string()),
      macroF1: z.number(),
      macroF1GoldLabels: z.number(),
      labels: z.array(z.string()),
      precision: z.array(z.number()),
      recall: z.array(z.number()),
      f1: z.array(z.number()),
      support: z.array(z.number()),
    }),
  ),
});
const expected = ExpectedSchema.parse(JSON.parse(readFileSync(new URL('./fixtures/scipy/expected.json', import.meta.url), 'utf8')));

const close = (actual: number, wanted: number, message: string): void => assert.ok(Math.abs(actual - wanted) <= 1e-12, `${message}: ${actual} vs ${wanted}`);

// Hand-computed case. Labels (sorted union): a, b, c, d.
//   a: tp 2, predicted 2, gold 3 → P 1,   R 2/3, F1 2·2/(2·2+0+1) = 0.8
//   b: tp 1, predicted 2, gold 2 → P 1/2, R 1/2, F1 0.5
//   c: tp 0, predicted 1, gold 1 → F1 0 (gold, never predicted right)
//   d: tp 0, predicted 1, gold 0 → F1 0 (predicted, never gold: recall 0/0 := 0)
const gold = ['a', 'a', 'a', 'b', 'b', 'c'];
const predicted = ['a', 'a', 'b', 'b', 'c', 'd'];

test('accuracy is the share of exact matches', () => {
  assert.equal(accuracy(gold, predicted), 0.5);
  assert.equal(accuracy([], []), 0);
  assert.throws(() => accuracy(['a'], []), RangeError);
});

test('per-label precision, recall and F1 match the hand computation', () => {
  const metrics = perLabelMetrics(gold, predicted);
  assert.deepEqual(metrics.map((metric) => metric.label), ['a', 'b', 'c', 'd']);
  const [a, b, c, d] = metrics;
  assert.deepEqual([a!.precision, a!.recall, a!.f1, a!.support, a!.predictedCount], [1, 2 / 3, 0.8, 3, 2]);
  assert.deepEqual([b!.precision, b!.recall, b!.f1, b!.support, b!.predictedCount], [0.5, 0.5, 0.5, 2, 2]);
  assert.deepEqual([c!.precision, c!.recall, c!.f1, c!.support, c!.predictedCount], [0, 0, 0, 1, 1]);
  assert.deepEqual([d!.precision, d!.recall, d!.f1, d!.support, d!.predictedCount], [0, 0, 0, 0, 1]);
});

test('macro-F1 averages over the union of gold and predicted labels by default', () => {
  close(macroF1(gold, predicted), (0.8 + 0.5 + 0 + 0) / 4, 'union');
  // Restricting to the gold labels drops the never-gold prediction "d" as a class.
  close(macroF1(gold, predicted, { labels: ['a', 'b', 'c'] }), (0.8 + 0.5 + 0) / 3, 'gold labels');
  // A listed label with neither gold nor predictions is a 0/0 case and scores 0.
  close(macroF1(gold, predicted, { labels: ['a', 'b', 'c', 'd', 'e'] }), 1.3 / 5, 'with an absent label');
  assert.equal(macroF1(['x', 'y'], ['x', 'y']), 1);
  assert.equal(macroF1([], []), 0);
});

test('macro-F1 and per-label metrics match scikit-learn (zero_division=0)', () => {
  for (const [index, reference] of expected.macroF1.entries()) {
    close(macroF1(reference.gold, reference.predicted), reference.macroF1, `case ${index} macro-F1`);
    close(macroF1(reference.gold, reference.predicted, { labels: labelUnion(reference.gold) }), reference.macroF1GoldLabels, `case ${index} gold-only macro-F1`);
    const metrics = perLabelMetrics(reference.gold, reference.predicted);
    assert.deepEqual(metrics.map((metric) => metric.label), reference.labels);
    metrics.forEach((metric, position) => {
      close(metric.precision, reference.precision[position]!, `case ${index} precision ${metric.label}`);
      close(metric.recall, reference.recall[position]!, `case ${index} recall ${metric.label}`);
      close(metric.f1, reference.f1[position]!, `case ${index} f1 ${metric.label}`);
      assert.equal(metric.support, reference.support[position]);
    });
  }
});

test('the confusion matrix counts gold rows against predicted columns', () => {
  const matrix = confusionMatrix(gold, predicted);
  assert.deepEqual(matrix, {
    labels: ['a', 'b', 'c', 'd'],
    counts: [
      [2, 1, 0, 0],
      [0, 1, 1, 0],
      [0, 0, 0, 1],
      [0, 0, 0, 0],
    ],
  });
  // An explicit label list leaves out pairs with other labels, as scikit-learn does.
  assert.deepEqual(confusionMatrix(gold, predicted, { labels: ['b', 'a'] }).counts, [
    [1, 0],
    [1, 2],
  ]);
});

test('topConfusions lists off-diagonal cells, largest first, ties by label', () => {
  const matrix = confusionMatrix(['a', 'a', 'a', 'b', 'b', 'c', 'c'], ['b', 'b', 'a', 'a', 'c', 'a', 'c']);
  assert.deepEqual(topConfusions(matrix, 3), [
    { gold: 'a', predicted: 'b', count: 2 },
    { gold: 'b', predicted: 'a', count: 1 },
    { gold: 'b', predicted: 'c', count: 1 },
  ]);
  assert.deepEqual(topConfusions(matrix, 0), []);
  assert.deepEqual(topConfusions(confusionMatrix(['a'], ['a']), 5), []);
});
