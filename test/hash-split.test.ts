import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planSplit, splitScore, type SplitCandidate } from '../src/core/hash-split.ts';
import { inputKeyOf } from '../src/adapters/store/curation-store.ts';

const options = { evalFraction: 0.2, evalMin: 1, evalMax: 1000, salt: 'test-salt' };

function pool(perLabel: number, labels: readonly string[], startId = 1): SplitCandidate[] {
  const items: SplitCandidate[] = [];
  let id = startId;
  for (const label of labels) {
    for (let index = 0; index < perLabel; index += 1) items.push({ id: id++, inputKey: inputKeyOf(`${label} question number ${index}`), label, split: null });
  }
  return items;
}

describe('hash split', () => {
  it('scores are uniform-looking, stable and depend on the salt', () => {
    const scores = Array.from({ length: 2000 }, (_, index) => splitScore(inputKeyOf(`text ${index}`), 'a'));
    assert.ok(scores.every((score) => score >= 0 && score < 1));
    const mean = scores.reduce((sum, score) => sum + score, 0) / scores.length;
    assert.ok(Math.abs(mean - 0.5) < 0.03, `mean ${mean}`);
    assert.equal(splitScore('k', 'a'), splitScore('k', 'a'));
    assert.notEqual(splitScore('k', 'a'), splitScore('k', 'b'));
  });

  it('stratifies: each label sends its share of distinct inputs to eval', () => {
    const items = pool(10, ['card_lost', 'refund', 'top_up']);
    const plan = planSplit(items, options);
    for (const label of ['card_lost', 'refund', 'top_up']) {
      const ids = new Set(items.filter((item) => item.label === label).map((item) => item.id));
      assert.equal(plan.evalIds.filter((id) => ids.has(id)).length, 2, label);
    }
    assert.equal(plan.assignments.length, 30);
  });

  it('one input is never on both sides, whatever its labels', () => {
    const items = pool(10, ['a', 'b']);
    const twin = { ...items[0]!, id: 999, label: 'b' };
    const plan = planSplit([...items, twin], options);
    const sideOf = new Map(plan.assignments.map((assignment) => [assignment.id, assignment.split]));
    assert.equal(sideOf.get(999), sideOf.get(items[0]!.id));
  });

  it('a frozen rule keeps every side and assigns new inputs without moving old ones', () => {
    const first = pool(20, ['a', 'b']);
    const plan = planSplit(first, options);
    const sideOf = new Map(plan.assignments.map((assignment) => [assignment.id, assignment.split]));
    const assigned = first.map((item) => ({ ...item, split: sideOf.get(item.id)! }));
    const added = pool(20, ['a', 'b', 'c'], 1000).map((item) => ({ ...item, inputKey: inputKeyOf(`new ${item.id}`) }));
    const second = planSplit([...assigned, ...added], options, plan.rule);
    assert.ok(second.assignments.every((assignment) => assignment.id >= 1000), 'no old example moved');
    assert.equal(second.assignments.length, added.length);
    for (const id of plan.evalIds) assert.ok(second.evalIds.includes(id), 'the old held-out set is kept whole');
    // New inputs go to eval at about the frozen share.
    const newEval = second.assignments.filter((assignment) => assignment.split === 'eval').length;
    assert.ok(newEval > 0 && newEval < added.length / 2, `new eval ${newEval} of ${added.length}`);
    // And the decision is the same whatever order or company they come in.
    const alone = planSplit([...assigned, ...added.slice(30)], options, plan.rule);
    const aloneSide = new Map(alone.assignments.map((assignment) => [assignment.id, assignment.split]));
    for (const assignment of second.assignments.filter((entry) => entry.id >= 1030)) assert.equal(aloneSide.get(assignment.id), assignment.split);
  });

  it('keeps the held-out size within evalMax and warns under evalMin', () => {
    const big = planSplit(pool(100, ['a', 'b', 'c', 'd', 'e']), { ...options, evalMax: 50 });
    assert.ok(Math.abs(big.evalIds.length - 50) <= 5, `${big.evalIds.length}`);
    assert.ok(big.warnings.some((warning) => warning.includes('lowered')));
    const small = planSplit(pool(5, ['a']), { ...options, evalMin: 50 });
    assert.ok(small.warnings.some((warning) => warning.includes('under the 50')));
  });

  it('a label with one input keeps it on train', () => {
    const plan = planSplit(pool(1, ['lonely']), options);
    assert.deepEqual(plan.evalIds, []);
  });
});

describe('hash split eligibility', () => {
  it('data not eligible for eval goes to train, unless its input is held out', () => {
    const real = pool(20, ['a']);
    const plan = planSplit(real, options);
    const sideOf = new Map(plan.assignments.map((assignment) => [assignment.id, assignment.split]));
    const heldOutKey = real.find((item) => sideOf.get(item.id) === 'eval')!.inputKey;
    const synthetic: SplitCandidate[] = Array.from({ length: 50 }, (_, index) => ({ id: 500 + index, inputKey: inputKeyOf(`synthetic ${index}`), label: 'a', split: null, evalEligible: false }));
    synthetic.push({ id: 600, inputKey: heldOutKey, label: 'a', split: null, evalEligible: false });
    const next = planSplit([...real.map((item) => ({ ...item, split: sideOf.get(item.id)! })), ...synthetic], options, plan.rule);
    const nextSide = new Map(next.assignments.map((assignment) => [assignment.id, assignment.split]));
    for (let index = 0; index < 50; index += 1) assert.equal(nextSide.get(500 + index), 'train');
    assert.equal(nextSide.get(600), 'eval');
  });
});
