import assert from 'node:assert/strict';
import { test } from 'node:test';
import { macroF1 } from '../src/core/classification-metrics.ts';
import { compareMetric, estimateMetric, extractionFieldsOf, extractionMetricSeries, labelMetricSeries } from '../src/core/eval-metrics.ts';
import { extractionMetrics } from '../src/core/scorers.ts';
import { mcnemarExact, wilsonInterval } from '../src/core/statistics.ts';

const options = { iterations: 2000, seed: 7 };
const SCHEMA = {
  type: 'object',
  properties: { intents: { type: 'array', items: { enum: ['pin', 'card', 'new', 'affirm'] } }, slots: { type: 'object', additionalProperties: { type: 'string' } } },
  required: ['intents', 'slots'],
  additionalProperties: false,
};

test('label metrics: accuracy gets a Wilson interval and McNemar, macro-F1 a bootstrap interval and a permutation test', () => {
  const gold = ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c'];
  const base = ['a', 'a', 'a', 'a', 'b', 'b', 'c', 'c', 'c', 'b', 'a', 'c'];
  const tuned = ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'c', 'c', 'a', 'b', 'a'];
  const [accuracy, f1] = labelMetricSeries(gold, base);
  const [tunedAccuracy, tunedF1] = labelMetricSeries(gold, tuned);
  assert.deepEqual([accuracy!.info.id, f1!.info.id], ['accuracy', 'macroF1']);
  const estimate = estimateMetric(accuracy!, options);
  const wilson = wilsonInterval(5, 12);
  assert.deepEqual(estimate, { value: 5 / 12, low: wilson.low, high: wilson.high, interval: 'wilson' });
  const f1Estimate = estimateMetric(f1!, options);
  assert.equal(f1Estimate.value, macroF1(gold, base));
  assert.ok(f1Estimate.low <= f1Estimate.value && f1Estimate.value <= f1Estimate.high);

  const difference = compareMetric(accuracy!, tunedAccuracy!, options);
  assert.equal(difference.test, 'mcnemar');
  assert.equal(difference.difference, 10 / 12 - 5 / 12);
  assert.equal(difference.pValue, mcnemarExact(base.map((label, index) => label === gold[index]), tuned.map((label, index) => label === gold[index])).pValue);
  const f1Difference = compareMetric(f1!, tunedF1!, options);
  assert.equal(f1Difference.test, 'permutation');
  assert.equal(f1Difference.difference, macroF1(gold, tuned) - macroF1(gold, base));
  assert.ok(f1Difference.pValue > 0 && f1Difference.pValue < 0.2, `p ${f1Difference.pValue}`);
  // A system against itself: no difference, p = 1.
  const self = compareMetric(f1!, labelMetricSeries(gold, base)[1]!, options);
  assert.deepEqual([self.difference, self.low, self.high, self.pValue], [0, 0, 0, 1]);
});

test('extraction metrics follow the schema: list and map fields, field F1 equal to extractionMetrics, schema validity', () => {
  assert.deepEqual(extractionFieldsOf(SCHEMA), { listFields: ['intents'], mapFields: ['slots'] });
  const gold = [
    '{"intents":["new","pin"],"slots":{}}',
    '{"intents":["affirm"],"slots":{"time":"9 am"}}',
    '{"intents":["card"],"slots":{"date":"today"}}',
  ];
  const predicted = [
    '{"intents":["pin","new"],"slots":{}}',
    '{"intents":["affirm"],"slots":{"time":"9"}}',
    '{"intents":["lost"],"slots":{}}',
  ];
  const series = extractionMetricSeries(SCHEMA, gold, predicted);
  assert.deepEqual(series.map((entry) => entry.info.id), ['exactMatch', 'fieldF1', 'intentsF1', 'slotsF1', 'schemaValid']);
  const byId = Object.fromEntries(series.map((entry) => [entry.info.id, estimateMetric(entry, options)]));
  const reference = extractionMetrics(gold.map((answer, index) => ({ gold: answer, predicted: predicted[index]! })));
  assert.equal(byId.exactMatch!.value, 1 / 3);
  assert.equal(byId.fieldF1!.value, reference.micro.f1);
  assert.equal(byId.intentsF1!.value, reference.byField.intents!.f1);
  assert.equal(byId.slotsF1!.value, reference.byField.slots!.f1);
  assert.equal(byId.schemaValid!.value, 2 / 3, '"lost" is not in the intents enum');
  // A schema without list or map fields: exact JSON equality, whatever the key order.
  const flat = extractionMetricSeries({ type: 'object', properties: { amount: { type: 'number' } } }, ['{"amount":5}'], ['{ "amount": 5 }']);
  assert.deepEqual(flat.map((entry) => entry.info.id), ['exactMatch', 'schemaValid']);
  assert.equal(estimateMetric(flat[0]!, options).value, 1);
});
