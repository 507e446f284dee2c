import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { z } from 'zod';
import { nluppAnswer } from '../src/adapters/example-files.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import {
  containsScorer,
  exactLabelScorer,
  extractionMetrics,
  extractionScorer,
  extractionScores,
  judgeAgreement,
  jsonSchemaScorer,
  precisionRecallF1,
  regexScorer,
  summarizePairwise,
  type Scorer,
  type ScoreResult,
} from '../src/core/scorers.ts';
import { pairedBootstrapOverIndices } from '../src/core/statistics.ts';

const example = { id: 'e1', input: 'I lost my card yesterday' };

interface Case {
  name: string;
  scorer: Scorer;
  output: string;
  gold: string;
  pass: boolean;
  score?: number;
  detail?: RegExp;
}

const SCHEMA = {
  type: 'object',
  properties: { label: { type: 'string', enum: ['card_lost', 'refund'] }, urgency: { type: 'integer', minimum: 1, maximum: 3 } },
  required: ['label'],
  additionalProperties: false,
};

const cases: Case[] = [
  { name: 'exact label, same text', scorer: exactLabelScorer(), output: 'card_lost', gold: 'card_lost', pass: true },
  { name: 'exact label ignores surrounding whitespace', scorer: exactLabelScorer(), output: '  card_lost\n', gold: 'card_lost ', pass: true },
  { name: 'exact label is case sensitive by default', scorer: exactLabelScorer(), output: 'Card_Lost', gold: 'card_lost', pass: false, detail: /expected "card_lost", got "Card_Lost"/ },
  { name: 'exact label, case folded when asked', scorer: exactLabelScorer({ caseSensitive: false }), output: 'Card_Lost', gold: 'card_lost', pass: true },
  { name: 'exact label rejects a longer answer', scorer: exactLabelScorer(), output: 'card_lost.', gold: 'card_lost', pass: false },
  { name: 'json schema, valid', scorer: jsonSchemaScorer(SCHEMA), output: ' {"label": "refund", "urgency": 2} ', gold: '', pass: true },
  { name: 'json schema, not JSON', scorer: jsonSchemaScorer(SCHEMA), output: 'label: refund', gold: '', pass: false, detail: /not valid JSON/ },
  { name: 'json schema, a label outside the enum', scorer: jsonSchemaScorer(SCHEMA), output: '{"label": "other"}', gold: '', pass: false, detail: /^\/label must be one of/ },
  { name: 'json schema, out of range and an extra key', scorer: jsonSchemaScorer(SCHEMA), output: '{"label": "refund", "urgency": 9, "x": 1}', gold: '', pass: false, detail: /\(and 1 more\)$/ },
  { name: 'json schema, missing required', scorer: jsonSchemaScorer(SCHEMA), output: '{}', gold: '', pass: false, detail: /missing required property "label"/ },
  { name: 'contains the gold answer', scorer: containsScorer(), output: 'The intent is card_lost.', gold: 'card_lost\n', pass: true },
  { name: 'contains a fixed value, case sensitive', scorer: containsScorer({ value: 'Refund' }), output: 'a refund please', gold: 'x', pass: false, detail: /does not contain "Refund"/ },
  { name: 'contains a fixed value, case folded', scorer: containsScorer({ value: 'Refund', caseSensitive: false }), output: 'a REFUND please', gold: 'x', pass: true },
  { name: 'regex matches anywhere', scorer: regexScorer({ pattern: '\\b\\d{4}-\\d{2}-\\d{2}\\b' }), output: 'due on 2024-06-07, thanks', gold: '', pass: true },
  { name: 'regex with flags', scorer: regexScorer({ pattern: '^refund$', flags: 'im' }), output: 'Sure.\nREFUND\n', gold: '', pass: true },
  { name: 'regex without a match', scorer: regexScorer({ pattern: '^refund$' }), output: 'refunds', gold: '', pass: false, detail: /does not match \/\^refund\$\// },
  {
    name: 'extraction, exact match regardless of order and spacing',
    scorer: extractionScorer(),
    output: '{"slots": {"amount": "£100"}, "intents": ["transfer", "change"]}',
    gold: nluppAnswer({ intents: ['change', 'transfer'], slots: { amount: { text: '£100' } } }),
    pass: true,
    score: 1,
  },
  {
    name: 'extraction, one intent missing and a wrong slot value',
    scorer: extractionScorer(),
    output: '{"intents": ["change"], "slots": {"amount": "100"}}',
    gold: nluppAnswer({ intents: ['change', 'transfer'], slots: { amount: { text: '£100' } } }),
    pass: false,
    // tp 1 (change), fp 1 (amount=100), fn 2 (transfer, amount=£100): F1 = 2/(2+1+2)
    score: 2 / 5,
    detail: /intents: 0 extra, 1 missing; slots: 1 extra, 1 missing/,
  },
  { name: 'extraction, empty gold and empty prediction', scorer: extractionScorer(), output: '{"intents": [], "slots": {}}', gold: '{"intents": [], "slots": {}}', pass: true, score: 1 },
  { name: 'extraction, malformed prediction fails even against an empty gold', scorer: extractionScorer(), output: 'no idea', gold: '{"intents": [], "slots": {}}', pass: false, score: 0, detail: /not valid JSON/ },
  { name: 'extraction, a field of the wrong shape', scorer: extractionScorer(), output: '{"intents": "change", "slots": {}}', gold: '{"intents": ["change"], "slots": {}}', pass: false, score: 0, detail: /intents is not a list/ },
];

for (const entry of cases) {
  test(`scorer: ${entry.name}`, () => {
    const result: ScoreResult = entry.scorer(entry.output, entry.gold, example);
    assert.equal(result.pass, entry.pass, JSON.stringify(result));
    const score = entry.score ?? (entry.pass ? 1 : 0);
    assert.ok(Math.abs(result.score - score) < 1e-12, `score ${result.score}, wanted ${score}`);
    if (entry.detail !== undefined) assert.match(String(result.detail), entry.detail);
    if (entry.pass && entry.score === undefined) assert.equal(result.detail, undefined);
  });
}

test('scorers refuse bad settings with an InvalidInputError naming the field', () => {
  const refused = (make: () => unknown, field: string, message: RegExp): void => {
    assert.throws(make, (error) => {
      assert.ok(error instanceof InvalidInputError, String(error));
      assert.equal(error.field, field);
      assert.match(error.message, message);
      return true;
    });
  };
  refused(() => regexScorer({ pattern: '(unclosed', field: 'evaluation.scorers.2', file: '/w/understudy.yaml' }), 'evaluation.scorers.2.pattern', /invalid regular expression "\(unclosed"/);
  refused(() => regexScorer({ pattern: 'ok', flags: 'gq' }), 'scorer.flags', /flags "gq"/);
  refused(() => regexScorer({ pattern: 'ok', flags: 'ii' }), 'scorer.flags', /flags/);
  refused(() => regexScorer({ pattern: 'ok', flags: 'uv' }), 'scorer.flags', /flags/);
  refused(() => containsScorer({ value: '' }), 'scorer.value', /empty/);
  refused(() => jsonSchemaScorer({ type: 'string', pattern: '^a' }), 'task.output.schema', /`pattern` is not supported/);
  assert.throws(() => regexScorer({ pattern: '[', file: '/w/understudy.yaml' }), (error) => error instanceof InvalidInputError && error.file === '/w/understudy.yaml');
});

test('a regex with the g flag gives the same verdict on every call', () => {
  const scorer = regexScorer({ pattern: 'refund', flags: 'g' });
  assert.deepEqual([1, 2, 3].map(() => scorer('refund', '', example).pass), [true, true, true]);
});

// NLU++-shaped answers: gold from the canonical writer, predictions as a model might write them.
const gold = [
  nluppAnswer({ intents: ['change', 'transfer'], slots: { amount: { text: '£100' }, date: { text: 'tomorrow' } } }),
  nluppAnswer({ intents: ['card'], slots: {} }),
  nluppAnswer({ intents: ['balance'], slots: { account: { text: 'savings' } } }),
  nluppAnswer({ intents: [], slots: {} }),
];
const predicted = [
  '{"intents": ["transfer", "change"], "slots": {"amount": "£100", "date": "today"}}', // date value wrong
  'I think it is about a card', // malformed: predicts nothing
  { intents: ['balance', 'card', 'balance'], slots: { account: 'savings', time: 'now' } }, // parsed value; duplicate intent counts once
  '{"intents": [], "slots": {}}',
];

test('extractionMetrics: micro and per-field precision/recall/F1 by hand', () => {
  const metrics = extractionMetrics(gold.map((answer, index) => ({ gold: answer, predicted: predicted[index] })));
  // intents: gold {change, transfer}, {card}, {balance}, {}; predicted {change, transfer}, {}, {balance, card}, {}
  //   tp 3 (change, transfer, balance), fp 1 (card in example 3), fn 1 (card in example 2)
  assert.deepEqual(metrics.byField.intents, { truePositives: 3, falsePositives: 1, falseNegatives: 1, precision: 0.75, recall: 0.75, f1: 0.75 });
  // slots: gold amount=£100, date=tomorrow, account=savings; predicted amount=£100, date=today, account=savings, time=now
  //   tp 2, fp 2 (date=today, time=now), fn 1 (date=tomorrow)
  assert.deepEqual(metrics.byField.slots, { truePositives: 2, falsePositives: 2, falseNegatives: 1, precision: 0.5, recall: 2 / 3, f1: 4 / 7 });
  assert.deepEqual(metrics.micro, { truePositives: 5, falsePositives: 3, falseNegatives: 2, precision: 5 / 8, recall: 5 / 7, f1: 10 / 15 });
  assert.equal(metrics.n, 4);
  assert.equal(metrics.malformed, 1);
  assert.equal(metrics.exactMatch, 1 / 4, 'only the empty answer matched exactly');
  assert.deepEqual(
    metrics.perKey.map(({ field, key, support, truePositives, falsePositives, falseNegatives }) => [field, key, support, truePositives, falsePositives, falseNegatives]),
    [
      ['intents', 'balance', 1, 1, 0, 0],
      ['intents', 'card', 1, 0, 1, 1],
      ['intents', 'change', 1, 1, 0, 0],
      ['intents', 'transfer', 1, 1, 0, 0],
      ['slots', 'account', 1, 1, 0, 0],
      ['slots', 'amount', 1, 1, 0, 0],
      ['slots', 'date', 1, 0, 1, 1],
      ['slots', 'time', 0, 0, 1, 0],
    ],
  );
  const date = metrics.perKey.find((entry) => entry.key === 'date')!;
  assert.deepEqual([date.precision, date.recall, date.f1], [0, 0, 0]);
  assert.deepEqual(metrics.perExample.map((entry) => [entry.exactMatch, entry.malformed]), [[false, false], [false, true], [false, false], [true, false]]);
  assert.deepEqual(metrics.perExample[1]!.total, { truePositives: 0, falsePositives: 0, falseNegatives: 1 });
});

test('extractionMetrics: custom fields, and a malformed gold answer is an input error', () => {
  const metrics = extractionMetrics(
    [
      { gold: { tags: ['a', 'b'], entities: { person: 'Ada' }, ignored: 1 }, predicted: { tags: ['a'], entities: { person: 'Ada' }, ignored: 2 } },
      { gold: { tags: ['c'], entities: { place: { city: 'Oslo', country: 'NO' } } }, predicted: '{"tags": ["c"], "entities": {"place": {"country": "NO", "city": "Oslo"}}}' },
    ],
    { listFields: ['tags'], mapFields: ['entities'] },
  );
  assert.deepEqual(Object.keys(metrics.byField), ['tags', 'entities']);
  assert.deepEqual([metrics.byField.tags!.truePositives, metrics.byField.tags!.falseNegatives], [2, 1]);
  assert.equal(metrics.byField.entities!.f1, 1, 'object values match regardless of key order');
  assert.equal(extractionMetrics([{ gold: { n: [5] }, predicted: { n: ['5'] } }], { listFields: ['n'], mapFields: [] }).micro.truePositives, 0, '5 and "5" differ');
  assert.throws(
    () => extractionMetrics([{ gold: '{"intents": []}', predicted: '{}' }, { gold: '{"intents": "x"}', predicted: '{}' }]),
    (error) => error instanceof InvalidInputError && /gold answer 2 is malformed: intents is not a list/.test(error.message),
  );
  assert.throws(() => extractionMetrics([], { listFields: [], mapFields: [] }), RangeError);
  assert.throws(() => extractionMetrics([], { listFields: ['x'], mapFields: ['x'] }), /twice/);
  const none = extractionMetrics([]);
  assert.deepEqual([none.n, none.exactMatch, none.micro.f1], [0, 0, 1]);
});

test('precisionRecallF1 conventions for 0/0', () => {
  assert.deepEqual(precisionRecallF1({ truePositives: 0, falsePositives: 0, falseNegatives: 0 }), { truePositives: 0, falsePositives: 0, falseNegatives: 0, precision: 1, recall: 1, f1: 1 });
  assert.deepEqual(precisionRecallF1({ truePositives: 0, falsePositives: 0, falseNegatives: 3 }), { truePositives: 0, falsePositives: 0, falseNegatives: 3, precision: 0, recall: 0, f1: 0 });
  assert.deepEqual(precisionRecallF1({ truePositives: 0, falsePositives: 2, falseNegatives: 0 }), { truePositives: 0, falsePositives: 2, falseNegatives: 0, precision: 0, recall: 0, f1: 0 });
});

test('extraction micro-F1 bootstraps over per-example counts and equals the full metric on all indices', () => {
  const pairs = Array.from({ length: 60 }, (_, index) => ({ gold: gold[index % 4], predicted: predicted[index % 4] }));
  const base = extractionMetrics(pairs.map((pair) => ({ gold: pair.gold, predicted: '{}' })));
  const tuned = extractionMetrics(pairs);
  const baseCounts = base.perExample.map((entry) => entry.total);
  const tunedCounts = tuned.perExample.map((entry) => entry.total);
  assert.equal(extractionScores(tunedCounts).f1, tuned.micro.f1);
  // Example 0 twice (tp 3, fp 1, fn 1 each) and the empty example 3 (nothing).
  assert.deepEqual(extractionScores(tunedCounts, [0, 0, 3]), precisionRecallF1({ truePositives: 6, falsePositives: 2, falseNegatives: 2 }));
  const interval = pairedBootstrapOverIndices({
    n: pairs.length,
    metric: (indices) => extractionScores(tunedCounts, indices).f1 - extractionScores(baseCounts, indices).f1,
    iterations: 300,
    seed: 3,
  });
  assert.equal(interval.difference, tuned.micro.f1 - base.micro.f1);
  assert.ok(interval.low > 0 && interval.low <= interval.difference && interval.difference <= interval.high, JSON.stringify(interval));
});

// scikit-learn's cohen_kappa_score on the same labels, written by test/fixtures/scipy/make-fixtures.py.
const KappaSchema = z.object({
  cohenKappa: z.array(z.object({ judge: z.array(z.union([z.string(), z.number()])), human: z.array(z.union([z.string(), z.number()])), agreement: z.number(), kappa: z.number() })),
});
const kappaCases = KappaSchema.parse(JSON.parse(readFileSync(new URL('./fixtures/scipy/expected.json', import.meta.url), 'utf8'))).cohenKappa;

test('judgeAgreement matches scikit-learn cohen_kappa_score', () => {
  assert.ok(kappaCases.length >= 4);
  for (const { judge, human, agreement, kappa } of kappaCases) {
    const result = judgeAgreement(judge, human);
    assert.equal(result.n, judge.length);
    assert.ok(Math.abs(result.agreement - agreement) < 1e-12);
    assert.ok(result.kappa !== null && Math.abs(result.kappa - kappa) < 1e-12, `kappa ${result.kappa} vs ${kappa}`);
  }
});

test('judgeAgreement by hand: perfect, chance-level, undefined kappa, mismatched input', () => {
  assert.deepEqual(judgeAgreement(['a', 'b', 'tie'], ['a', 'b', 'tie']), { n: 3, agreement: 1, kappa: 1, labels: ['a', 'b', 'tie'] });
  // Judge says a on every item, people split evenly: agreement 1/2 equals chance 1/2, kappa 0.
  assert.deepEqual(judgeAgreement(['a', 'a', 'a', 'a'], ['a', 'b', 'a', 'b']), { n: 4, agreement: 0.5, kappa: 0, labels: ['a', 'b'] });
  assert.deepEqual(judgeAgreement([true, true], [true, true]), { n: 2, agreement: 1, kappa: null, labels: [true] });
  assert.deepEqual(judgeAgreement([5, 'x', 1], [5, 'x', 2]).labels, [1, 2, 5, 'x']);
  assert.equal(judgeAgreement([1], ['1']).agreement, 0, 'a number and its text are different labels');
  assert.throws(() => judgeAgreement([1], [1, 2]), RangeError);
  assert.throws(() => judgeAgreement([], []), RangeError);
});

test('summarizePairwise counts wins, ties and inconsistent verdicts', () => {
  const summary = summarizePairwise([
    { winner: 'b', consistent: true },
    { winner: 'b', consistent: true },
    { winner: 'a', consistent: true },
    { winner: 'tie', consistent: false },
    { winner: 'tie', consistent: true },
  ]);
  assert.deepEqual(summary, { n: 5, aWins: 1, bWins: 2, ties: 2, inconsistent: 1, bWinRate: 3 / 5 });
  assert.equal(summarizePairwise([]).bWinRate, 0);
});
