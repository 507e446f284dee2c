import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { createOpenAiCompatibleProvider } from '../src/adapters/llm/openai-compatible-provider.ts';
import { ProviderError } from '../src/core/errors.ts';
import { toGrammarSchema } from '../src/core/json-schema-grammar.ts';
import { checkSupportedSchema, validateJsonSchema } from '../src/core/json-schema-validate.ts';
import { summarizePairwise } from '../src/core/scorers.ts';
import { pairwiseJudge, pairwiseJudgeSchema, rubricJudge, rubricJudgeSchema } from '../src/pipeline/judge-scorers.ts';
import { sendCompletion, startOpenAiCompatibleServer, type RecordedRequest, type ScriptedHandler } from './helpers/openai-compatible-server.ts';

// The parts of a chat completions body these tests read.
const BodySchema = z.object({
  model: z.string(),
  temperature: z.number(),
  max_tokens: z.number(),
  messages: z.array(z.object({ role: z.string(), content: z.string() })),
  response_format: z.object({ type: z.literal('json_schema'), json_schema: z.object({ name: z.string(), schema: z.record(z.string(), z.unknown()), strict: z.boolean() }) }),
});
const bodyOf = (request: RecordedRequest) => BodySchema.parse(request.body);
const userText = (request: RecordedRequest): string => bodyOf(request).messages.find((message) => message.role === 'user')!.content;

/** The two responses as the judge saw them, in order. */
function shownResponses(request: RecordedRequest): { first: string; second: string } {
  const match = /First response:\n([\s\S]*)\n\nSecond response:\n([\s\S]*)$/.exec(userText(request));
  assert.ok(match, 'the prompt shows a first and a second response');
  return { first: match[1]!, second: match[2]! };
}

async function withJudgeServer(handler: ScriptedHandler, run: (provider: ReturnType<typeof createOpenAiCompatibleProvider>, requests: RecordedRequest[]) => Promise<void>): Promise<void> {
  const server = await startOpenAiCompatibleServer(handler);
  const provider = createOpenAiCompatibleProvider({ id: 'judge', baseUrl: server.baseUrl, model: 'judge-model', maxRetries: 0 });
  try {
    await run(provider, server.requests);
  } finally {
    await provider.close();
    await server.close();
  }
}

const CORRECT = 'card_lost';
const items = [
  { input: 'I lost my card', a: 'refund', b: CORRECT }, // b is right
  { input: 'my card is gone', a: CORRECT, b: 'balance' }, // a is right
  { input: 'card missing', a: 'balance', b: CORRECT }, // b is right
  { input: 'where is my card', a: CORRECT, b: CORRECT }, // the same answer
  { input: 'cannot find my card', a: 'refund', b: 'balance' }, // both wrong
];

test('a judge that always prefers the first response yields ties marked inconsistent, never wins', async () => {
  const biased: ScriptedHandler = (_request, response) => sendCompletion(response, { text: JSON.stringify({ reasoning: 'The first one looks better.', verdict: 'first' }) });
  await withJudgeServer(biased, async (provider, requests) => {
    const judge = pairwiseJudge({ provider, criteria: 'Which response names the correct banking intent?' });
    const judgements = [];
    for (const item of items) judgements.push(await judge(item));
    for (const judgement of judgements) {
      assert.deepEqual(judgement.verdicts, { aFirst: 'a', bFirst: 'b' });
      assert.equal(judgement.winner, 'tie');
      assert.equal(judgement.consistent, false);
      assert.equal(judgement.calls.length, 2);
      assert.equal(judgement.calls[0].provider, 'judge');
    }
    assert.deepEqual(summarizePairwise(judgements), { n: 5, aWins: 0, bWins: 0, ties: 5, inconsistent: 5, bWinRate: 0.5 });
    // Both orders were really asked: each item went out twice, once with a first and once with b first.
    assert.equal(requests.length, 10);
    for (const [index, item] of items.entries()) {
      const shown = requests.filter((request) => userText(request).includes(`User input:\n${item.input}\n`)).map(shownResponses);
      assert.deepEqual(
        shown.map(({ first, second }) => [first, second]).sort(),
        [[item.a, item.b], [item.b, item.a]].sort(),
        `item ${index}`,
      );
    }
  });
});

test('a consistent judge gives wins to the better output in both orders, ties where neither is better', async () => {
  const fair: ScriptedHandler = (request, response) => {
    const { first, second } = shownResponses(request);
    const verdict = first === second || (first !== CORRECT && second !== CORRECT) ? 'tie' : first === CORRECT ? 'first' : 'second';
    sendCompletion(response, { text: JSON.stringify({ reasoning: `The correct intent is ${CORRECT}.`, verdict }) });
  };
  await withJudgeServer(fair, async (provider, requests) => {
    const judge = pairwiseJudge({ provider, criteria: 'Which response names the correct banking intent?', model: 'judge-large' });
    const judgements = await Promise.all(items.map((item) => judge(item)));
    assert.deepEqual(
      judgements.map(({ winner, consistent }) => [winner, consistent]),
      [
        ['b', true],
        ['a', true],
        ['b', true],
        ['tie', true],
        ['tie', true],
      ],
    );
    assert.deepEqual(summarizePairwise(judgements), { n: 5, aWins: 1, bWins: 2, ties: 2, inconsistent: 0, bWinRate: 3 / 5 });
    const body = bodyOf(requests[0]!);
    assert.equal(body.model, 'judge-large');
    assert.equal(body.temperature, 0);
    assert.equal(body.max_tokens, 512);
    assert.deepEqual(body.response_format.json_schema.schema, pairwiseJudgeSchema());
    assert.equal(body.response_format.json_schema.strict, true);
    assert.match(body.messages[0]!.content, /order in which the responses are shown says nothing/);
    assert.match(userText(requests[0]!), /^Criteria:\nWhich response names the correct banking intent\?/);
  });
});

test('a judge that agrees in one order and says tie in the other is a tie, inconsistent', async () => {
  const halfBiased: ScriptedHandler = (request, response) => {
    const { first } = shownResponses(request);
    sendCompletion(response, { text: JSON.stringify({ reasoning: '', verdict: first === CORRECT ? 'first' : 'tie' }) });
  };
  await withJudgeServer(halfBiased, async (provider) => {
    const judgement = await pairwiseJudge({ provider, criteria: 'correct intent' })({ input: 'lost card', a: 'refund', b: CORRECT, reference: CORRECT });
    assert.deepEqual(judgement.verdicts, { aFirst: 'tie', bFirst: 'b' });
    assert.deepEqual([judgement.winner, judgement.consistent], ['tie', false]);
  });
});

test('rubric judge: ratings 1..5 normalize to (rating - 1) / 4, pass at 4 by default, reference shown', async () => {
  const rater: ScriptedHandler = (request, response) => {
    const text = userText(request);
    const output = /Response to rate:\n([\s\S]*)$/.exec(text)![1]!;
    const rating = output === CORRECT ? 5 : output.includes('card') ? 3 : 1;
    sendCompletion(response, { text: JSON.stringify({ reasoning: `rated ${output}`, score: rating }) });
  };
  await withJudgeServer(rater, async (provider, requests) => {
    const judge = rubricJudge({ provider, rubric: 'The answer names the intent that matches the message.' });
    const perfect = await judge(CORRECT, CORRECT, { id: 1, input: 'I lost my card' });
    assert.deepEqual([perfect.rating, perfect.score, perfect.pass, perfect.reasoning, perfect.detail], [5, 1, true, 'rated card_lost', 'rated 5/5']);
    assert.equal(perfect.call.model, 'test-model');
    const middling = await judge('card_arrival', CORRECT, { input: 'I lost my card' });
    assert.deepEqual([middling.rating, middling.score, middling.pass], [3, 0.5, false]);
    const wrong = await judge('refund', CORRECT, { input: 'I lost my card' });
    assert.deepEqual([wrong.rating, wrong.score, wrong.pass], [1, 0, false]);
    const lenient = rubricJudge({ provider, rubric: 'Names an intent.', passRating: 3, showReference: false, explain: false });
    assert.equal((await lenient('card_arrival', CORRECT, { input: 'I lost my card' })).pass, true);

    const first = userText(requests[0]!);
    assert.match(first, /^Rubric:\nThe answer names the intent that matches the message\.\n\nUser input:\nI lost my card\n\nReference answer \(a correct answer, for guidance\):\ncard_lost\n\nResponse to rate:\ncard_lost$/);
    assert.deepEqual(bodyOf(requests[0]!).response_format.json_schema.schema, rubricJudgeSchema());
    const last = bodyOf(requests.at(-1)!);
    assert.doesNotMatch(userText(requests.at(-1)!), /Reference answer/);
    assert.deepEqual(last.response_format.json_schema.schema, rubricJudgeSchema(false));
  });
});

test('rubric judge: an answer outside the schema or cut off is a constraint-violated ProviderError', async () => {
  const replies = [
    { text: JSON.stringify({ reasoning: 'great', score: 7 }) },
    { text: JSON.stringify({ reasoning: 'great', score: '5' }) },
    { text: '{"reasoning": "this goes on and on', finishReason: 'length' },
  ];
  await withJudgeServer((_request, response, { index }) => sendCompletion(response, replies[index]!), async (provider) => {
    const judge = rubricJudge({ provider, rubric: 'Correct intent.' });
    const expectations = [/does not match the schema/, /does not match the schema/, /was cut off before the JSON ended/];
    for (const expectation of expectations) {
      await assert.rejects(judge('x', 'y', { input: 'z' }), (error) => {
        assert.ok(error instanceof ProviderError, String(error));
        assert.equal(error.failure, 'constraint-violated');
        assert.equal(error.provider, 'judge');
        assert.match(error.message, expectation);
        return true;
      });
    }
  });
  assert.throws(() => rubricJudge({ provider: createOpenAiCompatibleProvider({ id: 'x', baseUrl: 'http://127.0.0.1:9/v1', model: 'm' }), rubric: ' ' }), RangeError);
});

test('the judge schemas compile to the embedded llama.cpp grammar and validate answers', () => {
  for (const schema of [rubricJudgeSchema(), rubricJudgeSchema(false), pairwiseJudgeSchema(), pairwiseJudgeSchema(false)]) {
    assert.doesNotThrow(() => toGrammarSchema(schema));
    assert.doesNotThrow(() => checkSupportedSchema(schema));
  }
  assert.deepEqual(validateJsonSchema(rubricJudgeSchema(), { reasoning: 'ok', score: 4 }), []);
  assert.equal(validateJsonSchema(rubricJudgeSchema(), { reasoning: 'ok', score: 6 }).length, 1);
  assert.equal(validateJsonSchema(pairwiseJudgeSchema(), { reasoning: 'ok', verdict: 'both' }).length, 1);
});
