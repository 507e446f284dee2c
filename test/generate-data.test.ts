import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseConfigText, type LoadedConfig } from '../src/adapters/config-file.ts';
import { openStore, type Store } from '../src/adapters/store/sqlite-store.ts';
import type { CandidateExample } from '../src/contracts/curation.ts';
import { ProviderError } from '../src/core/errors.ts';
import { generateData, type GenerateDataOptions, type GenerateDataResult } from '../src/pipeline/generate-data.ts';
import { selectTeacher, type TeacherModel } from '../src/pipeline/teacher-provider.ts';
import {
  hangAfterHeaders,
  sendCompletion,
  sendError,
  startOpenAiCompatibleServer,
  type OpenAiCompatibleTestServer,
  type RecordedRequest,
  type ScriptedHandler,
} from './helpers/openai-compatible-server.ts';

const USAGE = { prompt_tokens: 100, completion_tokens: 50 };
/** $1 per million prompt tokens and $2 per million completion tokens (pricing.overrides below). */
const USD_PER_CALL = (100 * 1 + 50 * 2) / 1e6;

interface ChatBody {
  seed?: number;
  messages: { role: string; content: string }[];
  response_format?: { json_schema?: { name?: string; schema?: { properties?: Record<string, { maxItems?: number }> } } };
}

const bodyOf = (request: RecordedRequest): ChatBody => request.body as ChatBody;
const userText = (body: ChatBody): string => body.messages.filter((message) => message.role === 'user').map((message) => message.content).join('\n');
const schemaName = (body: ChatBody): string => body.response_format?.json_schema?.name ?? '';
const maxItems = (body: ChatBody, field: string): number => body.response_format?.json_schema?.schema?.properties?.[field]?.maxItems ?? 1;
/** The label a `labels`-mode request asks inputs for. */
const labelAskedFor = (body: ChatBody): string | undefined => /correct label is "([^"]+)"/.exec(userText(body))?.[1];

/** A well-behaved teacher: distinct inputs per request, labels by keyword, subtopics and JSON answers. */
function answerWell(request: RecordedRequest, response: Parameters<ScriptedHandler>[1], labels: readonly string[]): void {
  const body = bodyOf(request);
  const kind = schemaName(body);
  if (kind === 'inputs') {
    const topic = /about "([^"]+)"/.exec(userText(body))?.[1];
    const subject = labelAskedFor(body) ?? topic ?? 'something';
    const inputs = Array.from({ length: maxItems(body, 'inputs') }, (_, index) => `a message about ${subject} (seed ${body.seed}, number ${index + 1})`);
    return sendCompletion(response, { text: JSON.stringify({ inputs }), usage: USAGE });
  }
  if (kind === 'topics') {
    const parent = /of the topic "([^"]+)"/.exec(userText(body))?.[1];
    const topics = Array.from({ length: maxItems(body, 'topics') }, (_, index) => (parent === undefined ? `area ${index + 1}` : `${parent.split(' > ').at(-1)} part ${index + 1}`));
    return sendCompletion(response, { text: JSON.stringify({ topics }), usage: USAGE });
  }
  const input = userText(body);
  if (kind === 'label') {
    const label = labels.find((candidate) => input.includes(candidate)) ?? labels[0]!;
    return sendCompletion(response, { text: JSON.stringify({ label }), usage: USAGE });
  }
  // A JSON-schema task's answer.
  return sendCompletion(response, { text: JSON.stringify({ intent: input.includes('part 2') ? 'payment' : 'card', urgent: input.includes('number 1') }), usage: USAGE });
}

interface Fixture {
  directory: string;
  store: Store;
  server: OpenAiCompatibleTestServer;
  loaded: LoadedConfig;
  teacher: TeacherModel;
  run(options: Partial<GenerateDataOptions>): Promise<GenerateDataResult>;
  close(): Promise<void>;
}

async function setUp(options: { labels?: string[]; schema?: Record<string, unknown>; handler?: ScriptedHandler; maxConcurrency?: number; timeoutMs?: number }): Promise<Fixture> {
  const labels = options.labels ?? ['card_lost', 'refund', 'balance'];
  const server = await startOpenAiCompatibleServer(options.handler ?? ((request, response) => answerWell(request, response, labels)));
  const directory = mkdtempSync(path.join(tmpdir(), 'understudy-generate-'));
  const config = {
    version: 1,
    task: {
      name: 'support',
      systemPrompt: 'Classify the customer message. Answer with the label only.',
      baselinePrompt: 'Classify the customer message into one of these labels:\n{labels}\nAnswer with the label only.',
      output: options.schema === undefined ? { type: 'labels', labels } : { type: 'json-schema', schema: options.schema },
    },
    data: { format: 'csv', trainPath: 'train.csv', evalPath: 'test.csv', inputColumn: 'text', labelColumn: 'label' },
    baseModel: { catalog: 'smollm2-135m-instruct' },
    training: { examplesPerLabel: 2 },
    evaluation: { sampleSize: 10, seed: 1 },
    providers: {
      teacher: { kind: 'openai-compatible', baseUrl: server.baseUrl, model: 'teacher-model', maxConcurrency: options.maxConcurrency ?? 4, timeoutMs: options.timeoutMs ?? 5000, maxRetries: 2 },
    },
    pricing: { overrides: [{ model: 'test-model', inputUsdPerMillion: 1, outputUsdPerMillion: 2 }] },
    curation: { teacher: 'teacher' },
  };
  const file = path.join(directory, 'understudy.yaml');
  const loaded = parseConfigText(JSON.stringify(config), file, directory);
  const store = openStore(path.join(directory, 'understudy.db'));
  const teacher = await selectTeacher(loaded, undefined);
  return {
    directory,
    store,
    server,
    loaded,
    teacher,
    run: (overrides) => generateData({ store: store.curation, task: loaded.config.task, labels: loaded.labels, teacher, mode: 'labels', ...overrides }),
    async close() {
      await teacher.close();
      store.close();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

const human = (input: string, answer: string | null): CandidateExample => ({
  input,
  answer,
  messages: [{ role: 'system', content: 'Classify the customer message. Answer with the label only.' }, { role: 'user', content: input }, ...(answer === null ? [] : [{ role: 'assistant' as const, content: answer }])],
  source: 'human',
  tags: [],
  provenance: { file: 'seed.csv', line: 1 },
});

test('labels mode: new inputs per label with provenance, seeded only with non-held-out examples; a re-run is free and adds nothing', async () => {
  const labels = ['card_lost', 'refund', 'balance'];
  const poolInput = 'My card is gone, what now?';
  const fixture = await setUp({
    labels,
    handler: (request, response) => {
      const body = bodyOf(request);
      // The teacher repeats a pool input (in other case and punctuation) once: it must be counted, not added.
      if (labelAskedFor(body) === 'card_lost' && /variation 1:/.test(userText(body))) {
        const inputs = ['MY CARD IS GONE... what now', ...Array.from({ length: maxItems(body, 'inputs') - 1 }, (_, index) => `card gone ${index}`)];
        return sendCompletion(response, { text: JSON.stringify({ inputs }), usage: USAGE });
      }
      answerWell(request, response, labels);
    },
  });
  try {
    const batch = fixture.store.curation.addBatch({
      task: 'support',
      kind: 'import',
      source: { file: 'seed.csv' },
      examples: [
        human(poolInput, 'card_lost'),
        human('I lost my debit card yesterday', 'card_lost'),
        human('EVAL-ONLY where did my card go', 'card_lost'),
        human('EVAL-ONLY card missing since Monday', 'card_lost'),
        human('Not split yet: card stolen', 'card_lost'),
        human('I want my money back', 'refund'),
        human('EVAL-ONLY refund please', 'refund'),
        human('How much is in my account?', 'balance'),
      ],
    });
    const pool = fixture.store.curation.listPool('support');
    const idOf = (input: string): number => pool.find((example) => example.input === input)!.id;
    fixture.store.curation.assignSplits(
      'support',
      pool.filter((example) => !example.input.startsWith('Not split')).map((example) => ({ id: example.id, split: example.input.startsWith('EVAL-ONLY') ? ('eval' as const) : ('train' as const) })),
      null,
    );
    assert.equal(batch.added, 8);

    const progress: number[] = [];
    const first = await fixture.run({ perLabel: 12, seedExamples: 3, onProgress: (done, total) => progress.push(done / total) });
    assert.equal(first.requested, 36);
    assert.equal(first.added, 35);
    assert.equal(first.lost.duplicate, 1, 'the pool input the teacher repeated');
    assert.equal(first.calls, 6, '12 per label at 10 per request: two requests per label');
    assert.equal(first.cachedCalls, 0);
    assert.deepEqual(first.tokens, { prompt: 600, completion: 300 });
    assert.ok(Math.abs(first.costUsd - 6 * USD_PER_CALL) < 1e-12, `costUsd ${first.costUsd}`);
    assert.ok(first.costUsd > 0);
    assert.equal(first.unknownCostCalls, 0);
    assert.equal(progress.at(-1), 1);
    assert.equal(fixture.server.requests.length, 6);

    // Never a held-out example in a prompt; train and unsplit ones are shown.
    const sent = fixture.server.requests.map((request) => JSON.stringify(request.body)).join('\n');
    assert.doesNotMatch(sent, /EVAL-ONLY/);
    assert.match(sent, /I lost my debit card yesterday/);
    assert.match(sent, /Not split yet: card stolen/);
    // Each request of a label has its own seed and variation hint.
    const cardRequests = fixture.server.requests.map(bodyOf).filter((body) => labelAskedFor(body) === 'card_lost');
    assert.equal(cardRequests.length, 2);
    assert.notEqual(cardRequests[0]!.seed, cardRequests[1]!.seed);
    assert.notEqual(userText(cardRequests[0]!), userText(cardRequests[1]!));

    const generated = fixture.store.curation.listPool('support', { source: 'synthetic' });
    assert.equal(generated.length, 35);
    const allowedSeeds = new Set([idOf(poolInput), idOf('I lost my debit card yesterday'), idOf('Not split yet: card stolen'), idOf('I want my money back'), idOf('How much is in my account?')]);
    for (const example of generated) {
      assert.ok(labels.includes(example.answer!));
      assert.match(example.input, new RegExp(example.answer === 'card_lost' ? 'card' : example.answer!));
      assert.deepEqual(example.tags, ['synthetic', 'labels']);
      assert.deepEqual(example.messages.map((message) => message.role), ['system', 'user', 'assistant']);
      assert.equal(example.messages[0]!.content, 'Classify the customer message. Answer with the label only.');
      assert.equal(example.messages[2]!.content, example.answer);
      assert.equal(example.provenance.generator, 'labels');
      assert.equal(example.provenance.model, 'teacher-model');
      assert.match(String(example.provenance.promptHash), /^[0-9a-f]{64}$/);
      const seeds = example.provenance.seedExampleIds as number[];
      assert.ok(seeds.length > 0 && seeds.length <= 3);
      for (const id of seeds) assert.ok(allowedSeeds.has(id), `seed example ${id} is not a train/unsplit example`);
      for (const id of seeds) assert.equal(fixture.store.curation.getExample(id)!.answer, example.answer, 'seeds are examples of the same label');
    }
    assert.deepEqual(Object.fromEntries(labels.map((label) => [label, generated.filter((example) => example.answer === label).length])), { card_lost: 11, refund: 12, balance: 12 });
    const generateBatch = fixture.store.curation.listBatches('support').find((entry) => entry.id === first.batchId)!;
    assert.equal(generateBatch.kind, 'generate');
    assert.equal(generateBatch.added, 35);
    assert.equal(generateBatch.source.model, 'teacher-model');
    assert.equal(generateBatch.source.costUsd, first.costUsd);

    const again = await fixture.run({ perLabel: 12, seedExamples: 3 });
    assert.equal(fixture.server.requests.length, 6, 'a re-run sends no request');
    assert.equal(again.calls, 0);
    assert.equal(again.cachedCalls, 6);
    assert.equal(again.costUsd, 0);
    assert.deepEqual(again.cachedTokens, { prompt: 600, completion: 300 });
    assert.equal(again.added, 0);
    assert.equal(again.lost.duplicate, 36);
    assert.equal(fixture.store.curation.listPool('support', { source: 'synthetic' }).length, 35);

    // Another seed asks for other data.
    const other = await fixture.run({ perLabel: 2, seed: 7, onlyLabels: ['refund'] });
    assert.equal(other.calls, 1);
    assert.equal(other.added, 2);
  } finally {
    await fixture.close();
  }
});

test('labels mode: invalid JSON, refusals, 429s, 5xx and a hang are counted by reason and the run completes', async () => {
  const labels = ['fine', 'bad_json', 'refuses', 'slow_down', 'always_429', 'broken', 'hangs'];
  let slowDownSeen = 0;
  let refusals = 0;
  const fixture = await setUp({
    labels,
    timeoutMs: 1500,
    handler: (request, response) => {
      const label = labelAskedFor(bodyOf(request));
      if (label === 'bad_json') return sendCompletion(response, { text: '{"inputs": ["unterminated', usage: USAGE });
      if (label === 'refuses') {
        refusals += 1;
        return sendCompletion(response, { text: refusals === 1 ? "I'm sorry, but I can't help with that." : '{"inputs": []}', usage: USAGE });
      }
      if (label === 'slow_down' && ++slowDownSeen === 1) return sendError(response, 429, 'rate limit reached', { 'retry-after': '0.1' });
      if (label === 'always_429') return sendError(response, 429, 'rate limit reached', { 'retry-after': '0' });
      if (label === 'broken') return sendError(response, 503, 'overloaded', { 'retry-after': '0' });
      if (label === 'hangs') return hangAfterHeaders(response);
      answerWell(request, response, labels);
    },
  });
  try {
    const result = await fixture.run({ perLabel: 3 });
    assert.equal(result.requested, 21);
    assert.equal(result.added, 6, 'fine and slow_down (after one 429) deliver');
    assert.deepEqual(result.lost, { 'invalid-json': 3, schema: 0, refusal: 3, timeout: 3, 'rate-limited': 3, 'server-error': 3, duplicate: 0, 'max-calls': 0 });
    assert.equal(result.failedAttempts['invalid-json'], 3, 'asked three times: once plus two re-asks');
    assert.equal(result.failedAttempts.refusal, 3);
    assert.equal(result.failedAttempts.timeout, 1, 'a timeout is not re-asked');
    assert.equal(result.reasks, 4);
    assert.equal(result.unknownCostCalls, 5, 'three unparsable answers, the refusal in prose and the hang were billed but not priced');
    assert.equal(result.calls, 11, 'one call per label plus four re-asks; the provider\'s own HTTP retries are not calls');
    assert.ok(Math.abs(result.costUsd - 4 * USD_PER_CALL) < 1e-12, `costUsd ${result.costUsd}: fine, slow_down and the two empty-list refusals were priced`);
    assert.equal(slowDownSeen, 2, 'the provider retried the 429 after Retry-After');
    const bodies = fixture.server.requests.map(bodyOf);
    assert.equal(bodies.filter((body) => labelAskedFor(body) === 'bad_json').length, 3);
    assert.equal(new Set(bodies.filter((body) => labelAskedFor(body) === 'bad_json').map((body) => body.seed)).size, 3, 're-asks use another seed');
    assert.equal(bodies.filter((body) => labelAskedFor(body) === 'always_429').length, 3, 'one call and the provider\'s two retries');
    const added = fixture.store.curation.listPool('support', { source: 'synthetic' });
    assert.deepEqual([...new Set(added.map((example) => example.answer))].sort(), ['fine', 'slow_down']);
  } finally {
    await fixture.close();
  }
});

test('the concurrency limit holds: never more teacher requests in flight than asked', async () => {
  const labels = ['a', 'b', 'c', 'd', 'e', 'f'];
  const fixture = await setUp({
    labels,
    maxConcurrency: 8,
    handler: async (request, response) => {
      await new Promise((resolve) => setTimeout(resolve, 40));
      answerWell(request, response, labels);
    },
  });
  try {
    const result = await fixture.run({ perLabel: 20, concurrency: 2 });
    assert.equal(result.calls, 12);
    assert.equal(result.added, 120);
    assert.equal(fixture.server.maxInFlight, 2);
  } finally {
    await fixture.close();
  }
});

test('max-calls stops calling the teacher and counts what was not asked', async () => {
  const fixture = await setUp({ labels: ['a', 'b', 'c'], maxConcurrency: 1 });
  try {
    const result = await fixture.run({ perLabel: 4, maxCalls: 2 });
    assert.equal(fixture.server.requests.length, 2);
    assert.equal(result.added, 8);
    assert.equal(result.lost['max-calls'], 4);
  } finally {
    await fixture.close();
  }
});

test('an error no retry fixes (HTTP 401) stops the run and adds nothing', async () => {
  const fixture = await setUp({ handler: (_request, response) => sendError(response, 401, 'invalid api key') });
  try {
    await assert.rejects(fixture.run({ perLabel: 3 }), (error) => ProviderError.isInstance(error) && error.statusCode === 401);
    assert.equal(fixture.store.curation.listPool('support').length, 0);
    assert.equal(fixture.store.curation.listBatches('support').length, 0);
  } finally {
    await fixture.close();
  }
});

test('relabel answers unlabeled inputs (never held-out ones); with all, it relabels train examples and keeps the original answer', async () => {
  const labels = ['card_lost', 'refund', 'balance'];
  const fixture = await setUp({ labels });
  try {
    fixture.store.curation.addBatch({
      task: 'support',
      kind: 'import',
      source: {},
      examples: [human('please refund the fee', null), human('what is my balance today', null), human('EVAL-ONLY refund me', null), human('I need a refund for this', 'card_lost'), human('balance check', 'balance')],
    });
    const pool = fixture.store.curation.listPool('support');
    const byInput = (input: string) => pool.find((example) => example.input === input)!;
    fixture.store.curation.assignSplits('support', [{ id: byInput('EVAL-ONLY refund me').id, split: 'eval' }, { id: byInput('I need a refund for this').id, split: 'train' }, { id: byInput('balance check').id, split: 'train' }], null);

    const first = await fixture.run({ mode: 'relabel' });
    assert.equal(first.requested, 2);
    assert.equal(first.relabeled, 2);
    assert.equal(first.added, 0);
    assert.doesNotMatch(fixture.server.requests.map((request) => JSON.stringify(request.body)).join('\n'), /EVAL-ONLY/);
    const refund = fixture.store.curation.getExample(byInput('please refund the fee').id)!;
    assert.equal(refund.answer, 'refund');
    assert.deepEqual(refund.messages.at(-1), { role: 'assistant', content: 'refund' });
    assert.equal(fixture.store.curation.getExample(byInput('what is my balance today').id)!.answer, 'balance');
    assert.equal(fixture.store.curation.getExample(byInput('EVAL-ONLY refund me').id)!.answer, null);
    // The teacher is told the label list, and answers under the label constraint.
    const body = bodyOf(fixture.server.requests[0]!);
    assert.match(body.messages[0]!.content, /card_lost\nrefund\nbalance/);
    assert.equal(schemaName(body), 'label');

    const all = await fixture.run({ mode: 'relabel', all: true });
    assert.equal(all.requested, 2);
    assert.equal(all.relabeled, 1);
    assert.equal(all.unchanged, 1);
    const changed = fixture.store.curation.getExample(byInput('I need a refund for this').id)!;
    assert.equal(changed.answer, 'refund');
    assert.equal(changed.originalAnswer, 'card_lost', 'the original answer is kept');
    assert.equal(changed.originalMessages?.at(-1)?.content, 'card_lost');
    const relabelBatch = fixture.store.curation.listBatches('support').find((entry) => entry.id === all.batchId)!;
    assert.equal(relabelBatch.kind, 'relabel');
    assert.deepEqual((relabelBatch.source.settings as { relabeledIds: number[] }).relabeledIds, [changed.id]);
  } finally {
    await fixture.close();
  }
});

test('topics mode builds a topic tree, writes inputs per leaf and answers each under the task\'s JSON schema', async () => {
  const schema = {
    type: 'object',
    properties: { intent: { type: 'string', enum: ['card', 'payment'] }, urgent: { type: 'boolean' } },
    required: ['intent', 'urgent'],
    additionalProperties: false,
  };
  const fixture = await setUp({
    schema,
    handler: (request, response) => {
      const body = bodyOf(request);
      // One input gets an answer outside the schema every time it is asked: lost as `schema`.
      if (schemaName(body) === 'answer' && userText(body).includes('area 2 part 2') && userText(body).includes('number 2')) {
        return sendCompletion(response, { text: JSON.stringify({ intent: 'unknown', urgent: false }), usage: USAGE });
      }
      answerWell(request, response, []);
    },
  });
  try {
    const result = await fixture.run({ mode: 'topics', breadth: 2, depth: 2, perTopic: 2 });
    assert.equal(result.requested, 8);
    assert.equal(result.added, 7);
    assert.equal(result.lost.schema, 1);
    assert.equal(result.failedAttempts.schema, 3);
    const kinds = fixture.server.requests.map((request) => schemaName(bodyOf(request)));
    assert.equal(kinds.filter((kind) => kind === 'topics').length, 3, 'the root, then each of its two subtopics');
    assert.equal(kinds.filter((kind) => kind === 'inputs').length, 4, 'one request per leaf');
    assert.equal(kinds.filter((kind) => kind === 'answer').length, 8 + 2, 'one answer per input, plus two re-asks');

    const generated = fixture.store.curation.listPool('support', { source: 'synthetic' });
    assert.equal(generated.length, 7);
    const paths = new Set(generated.map((example) => JSON.stringify(example.provenance.topicPath)));
    assert.deepEqual([...paths].sort(), [
      JSON.stringify(['area 1', 'area 1 part 1']),
      JSON.stringify(['area 1', 'area 1 part 2']),
      JSON.stringify(['area 2', 'area 2 part 1']),
      JSON.stringify(['area 2', 'area 2 part 2']),
    ]);
    for (const example of generated) {
      const path = example.provenance.topicPath as string[];
      assert.ok(example.input.includes(path.join(' > ')), 'the input was written for its leaf topic');
      const answer = JSON.parse(example.answer!) as { intent: string; urgent: boolean };
      assert.ok(['card', 'payment'].includes(answer.intent));
      assert.equal(example.answer, JSON.stringify(answer), 'stored as compact JSON');
      assert.deepEqual(example.tags, ['synthetic', 'topics']);
      assert.equal(example.provenance.generator, 'topics');
      assert.match(String(example.provenance.answerPromptHash), /^[0-9a-f]{64}$/);
    }
  } finally {
    await fixture.close();
  }
});
