import assert from 'node:assert/strict';
import test from 'node:test';
import { classifyJsonFailure, classifyLabelFailure, decideVerdict, promptingFails, retrievalDoesNotFix, summarizeFailures, type PromptingEvidence } from '../src/core/decide-rules.ts';

const evidence = (best: { value: number; low: number; high: number }, gain: PromptingEvidence['gain'], bar = 0.9): PromptingEvidence => ({
  metric: 'accuracy',
  bar,
  variants: [
    { name: 'zero', describe: 'zero-shot', value: 0.1, low: 0.07, high: 0.13 },
    { name: 'few', describe: 'five-shot', ...best },
  ],
  best: 'few',
  gain,
});

test('prompting fails only when the best variant is below the bar with its whole interval, and prompt work stopped paying', () => {
  assert.equal(promptingFails(evidence({ value: 0.92, low: 0.88, high: 0.95 }, null)).holds, false);
  assert.match(promptingFails(evidence({ value: 0.92, low: 0.88, high: 0.95 }, null)).reason, /already reaches the bar/);
  const unsure = promptingFails(evidence({ value: 0.85, low: 0.8, high: 0.91 }, null));
  assert.equal(unsure.holds, false);
  assert.match(unsure.reason, /interval still reaches the bar/);
  // Gained 40 points, 10 left: one more round may get there.
  const moving = promptingFails(evidence({ value: 0.8, low: 0.75, high: 0.84 }, { from: 'zero', to: 'few', difference: 0.4, low: 0.35, high: 0.45, pValue: 1e-6 }));
  assert.equal(moving.holds, false);
  assert.match(moving.reason, /better prompting still moves it/);
  // Gained 10 points, 73 left: prompting fails.
  const fails = promptingFails(evidence({ value: 0.17, low: 0.14, high: 0.21 }, { from: 'zero', to: 'few', difference: 0.1, low: 0.06, high: 0.14, pValue: 1e-5 }));
  assert.equal(fails.holds, true);
  assert.match(fails.reason, /less than the 73.0% still missing/);
  // A non-significant gain the size of the gap does not count.
  assert.equal(promptingFails(evidence({ value: 0.5, low: 0.45, high: 0.55 }, { from: 'zero', to: 'few', difference: 0.4, low: -0.1, high: 0.9, pValue: 0.2 })).holds, true);
});

test('failures are classified by rules, and retrieval or missing knowledge stops a fine-tune', () => {
  assert.equal(classifyLabelFailure('not a label', ['a', 'b']).kind, 'format');
  assert.equal(classifyLabelFailure('b', ['a', 'b']).kind, 'label-confusion');
  assert.equal(classifyJsonFailure('{"intents": [', '{}', 'x', false).kind, 'format');
  assert.equal(classifyJsonFailure('{"intents": 3}', '{}', 'x', false).kind, 'format');
  assert.equal(classifyJsonFailure('{"intents": []}', '{"intents": ["card"], "slots": {"date": "Friday"}}', 'I paid on friday', true).kind, 'wrong-fields');
  const missing = classifyJsonFailure('{"intents": []}', '{"intents": ["card"], "slots": {"amount": "£40"}}', 'I paid on friday', true);
  assert.equal(missing.kind, 'missing-knowledge');
  assert.match(missing.why, /£40/);

  const behaviour = summarizeFailures(10, Array.from({ length: 10 }, (_, index) => ({ input: `i${index}`, expected: 'a', output: 'b', kind: index < 2 ? 'missing-knowledge' as const : 'label-confusion' as const, by: 'rule' as const, why: '' })), false);
  assert.equal(behaviour.counts['label-confusion'], 8);
  assert.equal(behaviour.examples['label-confusion']!.length, 3);
  assert.equal(behaviour.wrongBehaviourShare, 0.8);
  assert.equal(retrievalDoesNotFix(behaviour, null, 0.9).holds, true);
  const knowledge = summarizeFailures(4, behaviour.examples['label-confusion']!.slice(0, 1).concat(Array.from({ length: 3 }, () => ({ input: 'x', expected: 'a', output: 'b', kind: 'missing-knowledge' as const, by: 'judge' as const, why: '' }))), true);
  assert.equal(retrievalDoesNotFix(knowledge, null, 0.9).holds, false);
  // Retrieval that closes half the gap significantly fixes it; a small or noisy gain does not.
  const trial = { without: 'few', with: 'few+retrieval', valueWithout: 0.5, valueWith: 0.75, difference: 0.25, low: 0.2, high: 0.3, pValue: 1e-4 };
  assert.equal(retrievalDoesNotFix(behaviour, trial, 0.9).holds, false);
  assert.equal(retrievalDoesNotFix(behaviour, { ...trial, valueWith: 0.55, difference: 0.05, low: 0.01, high: 0.09 }, 0.9).holds, true);
  assert.equal(retrievalDoesNotFix(behaviour, { ...trial, pValue: 0.3 }, 0.9).holds, true);
});

test('the verdict is the first condition that fails, in order', () => {
  const yes = { holds: true, reason: 'y' };
  const no = { holds: false, reason: 'n' };
  assert.equal(decideVerdict(no, no, no).verdict, 'KEEP PROMPTING');
  assert.equal(decideVerdict(yes, no, no).verdict, 'ADD RETRIEVAL/TOOLS');
  assert.equal(decideVerdict(yes, yes, no).verdict, 'STAY HOSTED');
  assert.equal(decideVerdict(yes, yes, yes).verdict, 'FINE-TUNE');
});
