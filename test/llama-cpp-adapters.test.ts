// The embedded engine as a multi-adapter server: adapters chosen per request over one base, streaming, stop
// strings, seeded sampling, JSON-schema constraints, aborts, and typed errors. Real llama.cpp on the real SmolLM2
// GGUF; the LoRA adapters are random ones written in llama.cpp's GGUF adapter format, so that they change answers.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Llama } from 'node-llama-cpp';
import { createCpuLlama, createLlamaCppEngine, ModelLoadError, type GenerateRequest, type LlamaCppEngine, type TokenLogprob } from '../src/adapters/llm/llama-cpp-engine.ts';
import { ProviderError } from '../src/core/errors.ts';
import type { ChatMessage } from '../src/contracts/worker.ts';
import { testModelPath } from './helpers/assets.ts';
import { writeRandomLoraAdapter } from './helpers/gguf-writer.ts';

const modelPath = testModelPath();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'understudy-adapters-'));
const adapterA = path.join(scratch, 'a.gguf');
const adapterB = path.join(scratch, 'b.gguf');
const PROMPTS = ['Where is my new card?', 'How do I top up by bank transfer?', 'Why was I charged a fee?', 'Can I change my PIN?'];

let llama: Llama;
let engine: LlamaCppEngine;

before(async () => {
  llama = await createCpuLlama();
  await writeRandomLoraAdapter(adapterA, modelPath, { seed: 1, magnitude: 0.1 });
  await writeRandomLoraAdapter(adapterB, modelPath, { seed: 2, magnitude: 0.1 });
  engine = await createLlamaCppEngine({
    modelPath,
    llama,
    threads: 1,
    contextSize: 512,
    sequences: 2,
    // Every request from an empty state: comparisons with other engines then see the same arithmetic.
    reusePrefix: false,
    adapters: [
      { name: 'a', path: adapterA },
      { name: 'b', path: adapterB },
    ],
  });
});

after(async () => {
  await engine.dispose();
  await llama.dispose();
});

const messagesOf = (user: string): ChatMessage[] => [
  { role: 'system', content: 'Answer the banking customer in one sentence.' },
  { role: 'user', content: user },
];

const ask = (user: string, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  messages: messagesOf(user),
  maxTokens: 12,
  ...extra,
});

test('adapters are chosen per request: each answer equals a dedicated single-adapter engine\'s', async () => {
  const names = ['base', 'a', 'b'] as const;
  const routed: string[][] = [];
  for (const prompt of PROMPTS) routed.push(await Promise.all(names.map(async (adapter) => (await engine.generate(ask(prompt, { adapter }))).text)));
  for (const [index, adapter] of names.entries()) {
    const dedicated = await createLlamaCppEngine({ modelPath, llama, threads: 1, contextSize: 512, reusePrefix: false, ...(adapter === 'base' ? {} : { adapterPath: adapter === 'a' ? adapterA : adapterB }) });
    try {
      for (const [promptIndex, prompt] of PROMPTS.entries()) {
        // One request at a time on both sides: the same arithmetic, so the same text.
        assert.equal(routed[promptIndex]![index], (await dedicated.generate(ask(prompt))).text, `${adapter} on ${JSON.stringify(prompt)}`);
      }
    } finally {
      await dedicated.dispose();
    }
  }
  assert.ok(PROMPTS.some((_, promptIndex) => routed[promptIndex]![1] !== routed[promptIndex]![0]), 'adapter a changes an answer');
  assert.ok(PROMPTS.some((_, promptIndex) => routed[promptIndex]![2] !== routed[promptIndex]![0]), 'adapter b changes an answer');
  assert.deepEqual(engine.adapterNames(), ['base', 'a', 'b']);
});

test('concurrent requests for one adapter are decoded together on parallel sequences, and agree with one-at-a-time logits', async () => {
  const requests = PROMPTS.slice(0, 2).map((prompt) => ask(prompt, { adapter: 'a', maxTokens: 16 }));
  const startedAt = performance.now();
  const together = await Promise.all(requests.map((request) => engine.generate(request)));
  // Both ran at once: each got its first token before the other finished.
  const finish = together.map((generation) => generation.latencyMs);
  assert.ok(together[0]!.timeToFirstTokenMs < finish[1]! && together[1]!.timeToFirstTokenMs < finish[0]!, `first tokens ${together.map((g) => g.timeToFirstTokenMs)} vs finishes ${finish}`);
  assert.ok(performance.now() - startedAt < finish[0]! + finish[1]!);
  // Batching rows from two sequences changes float rounding only: next-token log-probabilities agree to 1e-3 nats.
  const tokenLists = PROMPTS.map((prompt) => engine.tokenize(engine.renderMessages(messagesOf(prompt))));
  const alone: TokenLogprob[][] = [];
  for (const tokens of tokenLists) alone.push(await engine.nextTokenLogprobs(tokens, 5, { adapter: 'b' }));
  const concurrent = await Promise.all(tokenLists.map((tokens) => engine.nextTokenLogprobs(tokens, 5, { adapter: 'b' })));
  concurrent.forEach((top, index) => {
    assert.deepEqual(top.map((entry) => entry.tokenId).slice(0, 1), alone[index]!.map((entry) => entry.tokenId).slice(0, 1));
    top.forEach((entry, rank) => assert.ok(Math.abs(entry.logprob - alone[index]![rank]!.logprob) < 1e-3));
  });
  assert.equal(engine.load().active, 0);
});

test('an unknown adapter is a typed unknown-model error; an adapter for another base is refused with the mismatching tensor', async () => {
  await assert.rejects(engine.generate(ask('hi', { adapter: 'nope' })), (error: unknown) => {
    assert.ok(ProviderError.isInstance(error));
    assert.equal(error.failure, 'unknown-model');
    assert.match(error.message, /known: base, a, b/);
    return true;
  });
  const foreign = path.join(scratch, 'foreign.gguf');
  await writeRandomLoraAdapter(foreign, modelPath, { seed: 3, inScale: 2 });
  await assert.rejects(engine.registerAdapter({ name: 'foreign', path: foreign }), (error: unknown) => {
    assert.ok(ModelLoadError.isInstance(error));
    assert.equal(error.failure, 'incompatible-adapter');
    assert.match(error.message, /blk\.0\.attn_q\.weight is 576×576 in the base, the adapter's LoRA pair is 1152×4 and 4×576/);
    return true;
  });
  await assert.rejects(engine.registerAdapter({ name: 'base', path: adapterA }), /not allowed/);
  assert.deepEqual(engine.adapterNames(), ['base', 'a', 'b']);
});

test('an adapter retrained in place under the same path serves the new weights, not llama.cpp\'s cached old ones', async () => {
  const moving = path.join(scratch, 'moving.gguf');
  copyFileSync(adapterA, moving);
  await engine.registerAdapter({ name: 'moving', path: moving });
  const before = await engine.generate(ask(PROMPTS[0]!, { adapter: 'moving' }));
  assert.equal(before.text, (await engine.generate(ask(PROMPTS[0]!, { adapter: 'a' }))).text);
  copyFileSync(adapterB, moving);
  await engine.registerAdapter({ name: 'moving', path: moving });
  for (const prompt of PROMPTS) {
    assert.equal((await engine.generate(ask(prompt, { adapter: 'moving' }))).text, (await engine.generate(ask(prompt, { adapter: 'b' }))).text);
  }
});

test('streaming: the pieces concatenate to the final text, never split a character, and stop strings are cut off', async () => {
  // Every call from an empty state, so that streamed and plain runs see identical arithmetic (a reused prefix
  // is evaluated in another split, which can flip a near-tie).
  const fresh = await createLlamaCppEngine({ modelPath, llama, threads: 1, contextSize: 512, reusePrefix: false });
  try {
    await streamingChecks(fresh);
  } finally {
    await fresh.dispose();
  }
});

async function streamingChecks(engine: LlamaCppEngine): Promise<void> {
  for (const prompt of ['Write the word "naïve café" three times.', ...PROMPTS]) {
    const pieces: string[] = [];
    const streamed = await engine.generate(ask(prompt, { maxTokens: 24, onText: (piece) => pieces.push(piece) }));
    const plain = await engine.generate(ask(prompt, { maxTokens: 24 }));
    assert.equal(pieces.join(''), streamed.text);
    assert.equal(streamed.text, plain.text);
    assert.ok(pieces.every((piece) => !piece.includes('\uFFFD')));
  }
  const full = await engine.generate(ask(PROMPTS[1]!, { maxTokens: 24 }));
  const stop = full.text.slice(6, 9);
  assert.ok(stop.length === 3);
  const pieces: string[] = [];
  const stopped = await engine.generate(ask(PROMPTS[1]!, { maxTokens: 24, stop: [stop, 'zzzz'], onText: (piece) => pieces.push(piece) }));
  assert.equal(stopped.text, full.text.slice(0, full.text.indexOf(stop)));
  assert.equal(stopped.finishReason, 'stop');
  assert.equal(pieces.join(''), stopped.text);
}

test('sampling is reproducible for a seed and varies across seeds; temperature 0 is greedy', async () => {
  const sample = (seed: number) => engine.generate(ask(PROMPTS[2]!, { temperature: 1.2, seed, maxTokens: 16 }));
  const first = await sample(7);
  assert.equal((await sample(7)).text, first.text);
  const texts = new Set<string>();
  for (const seed of [1, 2, 3, 4, 5]) texts.add((await sample(seed)).text);
  assert.ok(texts.size >= 3, `5 seeds gave only ${texts.size} distinct samples`);
  assert.equal((await engine.generate(ask(PROMPTS[2]!, { temperature: 0, seed: 9, maxTokens: 16 }))).text, (await engine.generate(ask(PROMPTS[2]!, { maxTokens: 16 }))).text);
});

test('a JSON-schema constraint yields JSON valid against the schema; an unenforceable schema is refused by name', async () => {
  const schema = {
    type: 'object',
    properties: {
      intent: { enum: ['card_arrival', 'top_up_by_bank_transfer_charge', 'card_payment_fee_charged', 'change_pin'] },
      urgent: { type: 'boolean' },
      amounts: { type: 'array', items: { type: 'number' }, maxItems: 2 },
    },
    required: ['intent', 'urgent', 'amounts'],
    additionalProperties: false,
  };
  for (const prompt of PROMPTS) {
    const generation = await engine.generate(ask(`Reply with JSON. ${prompt}`, { jsonSchema: schema, maxTokens: 120, adapter: 'base' }));
    assert.equal(generation.finishReason, 'stop');
    const value = JSON.parse(generation.text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(value).sort(), ['amounts', 'intent', 'urgent']);
    assert.ok(schema.properties.intent.enum.includes(value.intent as string));
    assert.equal(typeof value.urgent, 'boolean');
    assert.ok(Array.isArray(value.amounts) && value.amounts.length <= 2);
  }
  await assert.rejects(engine.generate(ask('x', { jsonSchema: { type: 'string', pattern: '^[a-z]+$' } })), (error: unknown) => {
    assert.ok(ProviderError.isInstance(error));
    assert.equal(error.failure, 'unsupported-schema');
    assert.match(error.message, /`pattern` is not supported at \/pattern/);
    return true;
  });
});

test('an aborted request, waiting or running, rejects as aborted and frees its sequence', async () => {
  const controller = new AbortController();
  const running = engine.generate(ask(PROMPTS[0]!, { maxTokens: 200, signal: controller.signal, onText: () => controller.abort() }));
  await assert.rejects(running, (error: unknown) => ProviderError.isInstance(error) && error.failure === 'aborted');
  // Two long requests hold both sequences; a third waits and is aborted while waiting.
  const holders = [engine.generate(ask(PROMPTS[1]!, { maxTokens: 30 })), engine.generate(ask(PROMPTS[2]!, { maxTokens: 30 }))];
  const waiter = new AbortController();
  const waiting = engine.generate(ask(PROMPTS[3]!, { maxTokens: 30, signal: waiter.signal }));
  await new Promise((resolve) => setTimeout(resolve, 20));
  waiter.abort();
  await assert.rejects(waiting, (error: unknown) => ProviderError.isInstance(error) && error.failure === 'aborted');
  await Promise.all(holders);
  assert.deepEqual(engine.load(), { active: 0, waiting: 0, loadedContexts: engine.load().loadedContexts });
  assert.ok((await engine.generate(ask(PROMPTS[0]!, { maxTokens: 4 }))).completionTokens > 0);
});
