import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideGate } from '../src/pipeline/eval-run.ts';
import type { Comparison } from '../src/pipeline/evaluate.ts';

function comparison(difference: number, low: number, high: number): Comparison {
  return {
    baseline: 'base',
    candidate: 'tuned',
    accuracyDifference: { difference, low, high },
    macroF1Difference: { difference: difference / 2, low: low / 2, high: high / 2 },
    mcnemar: { b01: 10, b10: 2, pValue: 0.04 },
    bootstrapIterations: 1000,
  };
}

test('the gate says go only when the whole interval is above the margin, and says why in words', () => {
  const gate = { candidate: 'tuned', baseline: 'base', metric: 'accuracy' as const, minDifference: 0.02 };
  const cases: [string, Comparison, boolean, RegExp][] = [
    ['clearly better', comparison(0.12, 0.08, 0.16), true, /^GO: tuned beats base on accuracy by 12\.0 points \(95% interval 8\.0 points to 16\.0 points\); the whole interval is above the required 2\.0 points/],
    ['better, but the interval reaches the margin', comparison(0.04, 0.01, 0.07), false, /^NO-GO: .*may be noise/],
    ['no better', comparison(0, -0.03, 0.03), false, /^NO-GO: .*may be noise/],
    ['worse', comparison(-0.08, -0.12, -0.04), false, /^NO-GO: tuned is not better than base by the required 2\.0 points/],
    ['interval exactly at the margin', comparison(0.05, 0.02, 0.08), false, /^NO-GO/],
  ];
  for (const [name, input, pass, reason] of cases) {
    const decision = decideGate(gate, input);
    assert.equal(decision.pass, pass, name);
    assert.match(decision.reason, reason, name);
  }
  const byF1 = decideGate({ ...gate, metric: 'macroF1', minDifference: 0 }, comparison(0.12, 0.08, 0.16));
  assert.equal(byF1.pass, true);
  assert.equal(byF1.difference, 0.06);
  assert.match(byF1.reason, /macro-F1 by 6\.0 points/);
});
