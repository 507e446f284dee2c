import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideGate, type EvalComparison } from '../src/pipeline/eval-run.ts';
import { InvalidInputError } from '../src/core/errors.ts';

function comparison(difference: number, low: number, high: number): Pick<EvalComparison, 'metrics'> {
  return {
    metrics: {
      accuracy: { difference, low, high, pValue: 0.04, test: 'mcnemar' },
      macroF1: { difference: difference / 2, low: low / 2, high: high / 2, pValue: 0.03, test: 'permutation' },
    },
  };
}

test('the gate says go only when the whole interval is above the margin, and says why in words', () => {
  const gate = { candidate: 'tuned', baseline: 'base', metric: 'accuracy', minDifference: 0.02 };
  const cases: [string, Pick<EvalComparison, 'metrics'>, boolean, RegExp][] = [
    ['clearly better', comparison(0.12, 0.08, 0.16), true, /^GO: tuned beats base on accuracy by 12\.0 points \(95% interval 8\.0 points to 16\.0 points; McNemar p = 0\.040\); the whole interval is above the required 2\.0 points/],
    ['better, but the interval reaches the margin', comparison(0.04, 0.01, 0.07), false, /^NO-GO: .*may be noise/],
    ['no better', comparison(0, -0.03, 0.03), false, /^NO-GO: tuned shows no gain over base on accuracy: the difference is 0\.0 points \(95% interval -3\.0 points to 3\.0 points; McNemar p = 0\.040\), not above the required 2\.0 points\.$/],
    ['slightly worse, the interval reaching above the margin', comparison(-0.01, -0.05, 0.03), false, /^NO-GO: tuned shows no gain/],
    ['worse', comparison(-0.08, -0.12, -0.04), false, /^NO-GO: tuned is not better than base by the required 2\.0 points/],
    ['interval exactly at the margin', comparison(0.05, 0.02, 0.08), false, /^NO-GO/],
  ];
  for (const [name, input, pass, reason] of cases) {
    const decision = decideGate(gate, input);
    assert.equal(decision.pass, pass, name);
    assert.match(decision.reason, reason, name);
    assert.equal(decision.pValue, 0.04, name);
  }
  const byF1 = decideGate({ ...gate, metric: 'macroF1', minDifference: 0 }, comparison(0.12, 0.08, 0.16), 'macro-F1');
  assert.equal(byF1.pass, true);
  assert.equal(byF1.difference, 0.06);
  assert.match(byF1.reason, /macro-F1 by 6\.0 points .*permutation test p = 0\.030/);
});

test('a gate on a metric the comparison does not have is refused with the metrics it has', () => {
  assert.throws(() => decideGate({ candidate: 'tuned', baseline: 'base', metric: 'fieldF1', minDifference: 0 }, comparison(0.1, 0.05, 0.15)), (error: unknown) => {
    assert.ok(error instanceof InvalidInputError);
    assert.match(error.message, /"fieldF1" is not one of the compared metrics \(accuracy, macroF1\)/);
    return true;
  });
});
