import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TaskOutput } from '../src/contracts/config.ts';
import type { CandidateExample } from '../src/contracts/curation.ts';
import type { ChatMessage } from '../src/contracts/worker.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import { closestLabel, validateExample, type ExampleValidationOptions } from '../src/core/example-validation.ts';

const labels = ['card_arrival', 'lost_or_stolen_card', 'top_up_failed'];
const labelTask = { output: { type: 'labels', labels } satisfies TaskOutput, labels };
const schemaTask = {
  output: {
    type: 'json-schema',
    schema: { type: 'object', properties: { intents: { type: 'array', items: { enum: ['pin', 'new'] } }, slots: { type: 'object', additionalProperties: { type: 'string' } } }, required: ['intents', 'slots'] },
  } satisfies TaskOutput,
  labels: [] as string[],
};

const system = (content = 'Classify.'): ChatMessage => ({ role: 'system', content });
const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

/** An example whose input and answer are read off its messages, the way the importers build them. */
function example(messages: ChatMessage[]): CandidateExample {
  const last = messages.at(-1);
  const lastUser = [...messages].reverse().find((message) => message.role === 'user');
  return { input: lastUser?.content ?? '', answer: last?.role === 'assistant' ? last.content : null, messages, source: 'human', tags: [], provenance: {} };
}

// One token per whitespace-separated word: a stand-in tokenizer for the pure checks (the real one is tested in token-counter.test.ts).
const countWords = (messages: readonly ChatMessage[]): number => messages.reduce((sum, message) => sum + message.content.split(/\s+/).filter(Boolean).length, 0);

const cases: { name: string; example: CandidateExample; task?: typeof labelTask | typeof schemaTask; options?: ExampleValidationOptions; problems: [string, RegExp][] }[] = [
  { name: 'system, user, assistant', example: example([system(), user('where is my card'), assistant('card_arrival')]), problems: [] },
  { name: 'no system message', example: example([user('where is my card'), assistant('card_arrival')]), problems: [] },
  { name: 'several turns', example: example([system(), user('hi'), assistant('top_up_failed'), user('where is my card'), assistant('card_arrival')]), problems: [] },
  { name: 'assistant first', example: example([system(), assistant('card_arrival'), user('x'), assistant('card_arrival')]), problems: [['messages[1].role', /expected a user message/]] },
  { name: 'two user turns in a row', example: example([user('a'), user('b'), assistant('card_arrival')]), problems: [['messages[1].role', /expected a assistant message/]] },
  { name: 'a second system message', example: example([system(), user('a'), system(), assistant('card_arrival')]), problems: [['messages[2].role', /system message may only come first/]] },
  { name: 'only a system message', example: { ...example([system()]), input: 'x', answer: 'card_arrival' }, problems: [['messages', /no user message/]] },
  { name: 'answer differs from the final assistant turn', example: { ...example([user('a'), assistant('card_arrival')]), answer: 'top_up_failed' }, problems: [['answer', /not the final assistant message/]] },
  { name: 'unlabeled, not allowed', example: example([system(), user('where is my card')]), problems: [['answer', /unlabeled inputs are not accepted/]] },
  { name: 'unlabeled, allowed', example: example([system(), user('where is my card')]), options: { allowUnlabeled: true }, problems: [] },
  { name: 'unlabeled but ends with the assistant', example: { ...example([user('a'), assistant('card_arrival')]), answer: null }, options: { allowUnlabeled: true }, problems: [['messages', /must end with a user message/]] },
  { name: 'empty input', example: example([system(), user('  '), assistant('card_arrival')]), problems: [['input', /empty/]] },
  { name: 'input is not the last user turn', example: { ...example([user('a'), assistant('card_arrival')]), input: 'b' }, problems: [['input', /not the last user message/]] },
  { name: 'empty answer', example: example([user('a'), assistant(' ')]), problems: [['answer', /the answer is empty/]] },
  { name: 'label near miss in case and spacing', example: example([user('a'), assistant('Card Arrival')]), problems: [['answer', /"Card Arrival" is not in the task's label set; closest: "card_arrival" \(differs only in case/]] },
  { name: 'label near miss with trailing whitespace', example: example([user('a'), assistant('card_arrival ')]), problems: [['answer', /closest: "card_arrival"/]] },
  { name: 'label misspelt', example: example([user('a'), assistant('top_up_faild')]), problems: [['answer', /closest: "top_up_failed"$/]] },
  { name: 'label far from any', example: example([user('a'), assistant('refund')]), problems: [['answer', /"refund" is not in the task's label set \(3 labels\)/]] },
  { name: 'json answer valid', task: schemaTask, example: example([user('new pin'), assistant('{"intents":["new","pin"],"slots":{}}')]), problems: [] },
  { name: 'json answer not JSON', task: schemaTask, example: example([user('new pin'), assistant('intents: new')]), problems: [['answer', /not valid JSON/]] },
  { name: 'json answer breaks the schema', task: schemaTask, example: example([user('new pin'), assistant('{"intents":["new","cash"],"slots":{"date":3}}')]), problems: [['answer', /\/intents\/1: must be one of "pin", "new"; \/slots\/date: expected string/]] },
  { name: 'json answer missing a property', task: schemaTask, example: example([user('new pin'), assistant('{"intents":[]}')]), problems: [['answer', /\/: missing required property "slots"/]] },
  { name: 'within the token limit', example: example([system('a b'), user('c d e'), assistant('card_arrival')]), options: { maxTokens: 6, countTokens: countWords }, problems: [] },
  { name: 'over the token limit', example: example([system('a b'), user('c d e f'), assistant('card_arrival')]), options: { maxTokens: 6, countTokens: countWords }, problems: [['tokens', /7 tokens with the chat template, over the limit of 6/]] },
];

for (const { name, example: candidate, task = labelTask, options, problems } of cases) {
  test(`validateExample: ${name}`, () => {
    const found = validateExample(candidate, task, options);
    assert.equal(found.length, problems.length, JSON.stringify(found));
    problems.forEach(([field, reason], index) => {
      assert.equal(found[index]!.field, field);
      assert.match(found[index]!.reason, reason);
    });
  });
}

test('validateExample: a template that refuses the conversation is a problem, not a crash; roles are checked before tokens are counted', () => {
  const refusing = (): number => {
    throw new InvalidInputError('the chat template refused the conversation: no');
  };
  assert.deepEqual(validateExample(example([user('a'), assistant('card_arrival')]), labelTask, { maxTokens: 10, countTokens: refusing }), [
    { field: 'messages', reason: 'the chat template refused the conversation: no' },
  ]);
  let counted = 0;
  const counting = (messages: readonly ChatMessage[]): number => {
    counted += 1;
    return countWords(messages);
  };
  validateExample(example([assistant('card_arrival')]), labelTask, { maxTokens: 10, countTokens: counting });
  assert.equal(counted, 0);
});

test('validateExample: an unsupported task schema throws instead of passing examples', () => {
  const task = { output: { type: 'json-schema', schema: { type: 'string', pattern: '^a' } } satisfies TaskOutput, labels: [] };
  assert.throws(() => validateExample(example([user('a'), assistant('"abc"')]), task), /`pattern` is not supported/);
});

test('closestLabel: normalized match first, then small edit distances only', () => {
  assert.deepEqual(closestLabel('LOST-OR-STOLEN card', labels), { label: 'lost_or_stolen_card', kind: 'normalized' });
  assert.deepEqual(closestLabel('card_arival', labels), { label: 'card_arrival', kind: 'spelling' });
  assert.equal(closestLabel('xyz', labels), undefined);
});
