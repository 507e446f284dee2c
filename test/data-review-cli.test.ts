// `understudy data review` as a script drives it: the real CLI, commands piped on stdin, the real SQLite pool.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { PreferencePairSchema } from '../src/contracts/worker.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import { applyReview, checkAnswer, matchLabel, preferencePairsFromEdits, reviewQueue } from '../src/pipeline/review-queue.ts';
import { demoConfig, runCli, seedPool, TASK, type SeedExample } from './helpers/curated-pool.ts';

const labels = demoConfig.labels;

test('matchLabel: exact, case-insensitive, unique prefix, ambiguous prefix, no match', () => {
  assert.deepEqual(matchLabel('card_arrival', labels), { kind: 'match', label: 'card_arrival' });
  assert.deepEqual(matchLabel('CARD_ARRIVAL', labels), { kind: 'match', label: 'card_arrival' });
  assert.deepEqual(matchLabel('Card_Arr', labels), { kind: 'match', label: 'card_arrival' });
  assert.deepEqual(matchLabel('exchange_r', labels), { kind: 'match', label: 'exchange_rate' });
  const ambiguous = matchLabel('card_p', labels);
  assert.equal(ambiguous.kind, 'ambiguous');
  assert.ok(ambiguous.kind === 'ambiguous' && ambiguous.candidates.includes('card_payment_fee_charged') && ambiguous.candidates.every((label) => label.startsWith('card_p')));
  assert.deepEqual(matchLabel('no_such_label', labels), { kind: 'none' });
});

test('checkAnswer: a JSON-schema task takes JSON valid under the schema, and names what is wrong otherwise', () => {
  const task = { systemPrompt: 's', labels: [], output: { type: 'json-schema' as const, schema: { type: 'object', properties: { amount: { type: 'integer' } }, required: ['amount'], additionalProperties: false } } };
  assert.equal(checkAnswer('{"amount": 3}', task), '{"amount": 3}');
  assert.throws(() => checkAnswer('{"amount": "three"}', task), /breaks the task's JSON schema: \/amount/);
  assert.throws(() => checkAnswer('{}', task), /breaks the task's JSON schema/);
  assert.throws(() => checkAnswer('amount: 3', task), /not valid JSON/);
});

const seed: SeedExample[] = [
  { input: 'I still have not got my card, where is it?', label: 'card_arrival', source: 'human', side: 'train' },
  { input: 'What is the exchange rate for euros today?', label: 'exchange_rate', source: 'human', side: 'train' },
  { input: 'My card was stolen yesterday', label: 'lost_or_stolen_card', source: 'human', side: 'train' },
  { input: 'synthetic: when will my new card arrive', label: 'card_arrival', source: 'synthetic', side: 'train' },
  { input: 'synthetic: the app charged me twice', label: 'pin_blocked', source: 'synthetic', side: 'train' },
  { input: 'synthetic: how much is a dollar in pounds', label: 'lost_or_stolen_card', source: 'synthetic', side: 'train' },
  { input: 'How old must I be to open an account?', label: 'age_limit', source: 'human', side: 'heldout' },
];

test('data review: the queue puts synthetic examples first, by id; --split eval shows only the held-out side', () => {
  const { ids, store } = seedPool(seed);
  try {
    assert.deepEqual(reviewQueue(store, TASK).map((example) => example.id), [ids[3], ids[4], ids[5], ids[0], ids[1], ids[2]]);
    assert.deepEqual(reviewQueue(store, TASK, { split: 'eval' }).map((example) => example.id), [ids[6]]);
    assert.deepEqual(reviewQueue(store, TASK, { source: 'human', limit: 2 }).map((example) => example.id), [ids[0], ids[1]]);
    assert.throws(() => applyReview(store, ids[0]!, { kind: 'edit', answer: 'not_a_label' }, { systemPrompt: 'x', output: demoConfig.config.task.output, labels }), InvalidInputError);
    assert.equal(store.curation.getExample(ids[0]!)!.review, 'pending', 'a refused edit changes nothing');
  } finally {
    store.close();
  }
});

test('data review from piped commands: accept, undo, reject, edit by label prefix (ambiguous first), undo an edit, skip, quit', async () => {
  const { workspace, ids, store } = seedPool(seed);
  store.close();
  const [h1, h2, h3, s1, s2, s3, heldout] = ids as [number, number, number, number, number, number, number];
  const commands = ['a', 'u', 'a', 'r', 'e', 'card_p', 'Card_Arr', 'u', 'e', 'exchange_r', 's', 'q', 'a'].join('\n') + '\n';
  const result = await runCli(['data', 'review', '--workspace', workspace, '--json'], commands);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /\[1\/6\] example #\d+ {2}synthetic {2}from generator label-conditioned \(test-teacher\)/);
  assert.match(result.stderr, /"card_p" matches \d+ labels: .*card_payment_fee_charged/);
  assert.match(result.stderr, /undid edit of #/);
  const summary = result.json as { ok: boolean; queue: number; accepted: number; rejected: number; edited: number; skipped: number; undone: number; remaining: number; decisions: { id: number; decision: string }[] };
  assert.equal(summary.ok, true);
  assert.deepEqual({ queue: summary.queue, accepted: summary.accepted, rejected: summary.rejected, edited: summary.edited, skipped: summary.skipped, undone: summary.undone, remaining: summary.remaining },
    { queue: 6, accepted: 1, rejected: 1, edited: 1, skipped: 1, undone: 2, remaining: 3 });
  assert.deepEqual(summary.decisions.sort((a, b) => a.id - b.id), [{ id: h1, decision: 'skip' }, { id: s1, decision: 'accept' }, { id: s2, decision: 'reject' }, { id: s3, decision: 'edit' }].sort((a, b) => a.id - b.id));

  const check = openStore(path.join(workspace, 'understudy.db'));
  try {
    const get = (id: number) => check.curation.getExample(id)!;
    assert.equal(get(s1).review, 'accepted');
    assert.equal(get(s2).review, 'rejected');
    const edited = get(s3);
    assert.equal(edited.review, 'edited');
    assert.equal(edited.answer, 'exchange_rate', 'the second edit, after the undone one, is what stays');
    assert.equal(edited.originalAnswer, 'lost_or_stolen_card', 'the original answer is kept');
    assert.equal(edited.messages.at(-1)!.content, 'exchange_rate');
    assert.equal(edited.messages.at(-1)!.role, 'assistant');
    assert.equal(edited.originalMessages!.at(-1)!.content, 'lost_or_stolen_card');
    assert.deepEqual(edited.messages.slice(0, -1), edited.originalMessages!.slice(0, -1), 'the prompt is unchanged');
    for (const id of [h1, h2, h3, heldout]) assert.equal(get(id).review, 'pending', `#${id} stays pending (skipped, not reached, or not in the train queue)`);

    const pairs = preferencePairsFromEdits(check, TASK);
    assert.equal(pairs.length, 1);
    const pair = pairs[0]!;
    assert.equal(pair.exampleId, s3);
    assert.deepEqual(pair.chosen, [{ role: 'assistant', content: 'exchange_rate' }]);
    assert.deepEqual(pair.rejected, [{ role: 'assistant', content: 'lost_or_stolen_card' }]);
    assert.deepEqual(pair.prompt.map((message) => message.role), ['system', 'user']);
    assert.equal(pair.prompt[1]!.content, seed[5]!.input);
    assert.ok(PreferencePairSchema.safeParse(pair).success, 'a pair is a line of DPO training data');
  } finally {
    check.close();
  }

  // An "edit" to the answer it already has is an accept: nothing changed, and no pair would come of it.
  const same = await runCli(['data', 'review', '--workspace', workspace, '--source', 'human', '--limit', '1', '--json'], 'e\ncard_arr\n');
  assert.equal(same.status, 0, same.stderr);
  assert.deepEqual([same.json.accepted, same.json.edited], [1, 0]);
  const after = openStore(path.join(workspace, 'understudy.db'));
  assert.equal(after.curation.getExample(h1)!.review, 'accepted');
  assert.equal(after.curation.getExample(h1)!.originalAnswer, null);
  after.close();
});

test('data review: an unknown option value is refused with exit 2 naming the option', async () => {
  const { workspace, store } = seedPool(seed.slice(0, 1));
  store.close();
  const result = await runCli(['data', 'review', '--workspace', workspace, '--limit', 'zero', '--json'], 'q\n');
  assert.equal(result.status, 2);
  assert.equal(result.json.ok, false);
  assert.equal(result.json.field, '--limit');
});
