// The embedded llama.cpp engine behind the provider interface, directly and behind a real OpenAI-compatible HTTP
// layer on 127.0.0.1 (the test server's serveProvider), talked to by our own OpenAI-compatible client.
// Real SmolLM2 GGUF, real llama.cpp; the LoRA adapter is a random one in llama.cpp's GGUF adapter format.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Llama } from 'node-llama-cpp';
import type { ChatProvider, ChatRequest, ChatStreamEvent } from '../src/contracts/provider.ts';
import { createEmbeddedProvider } from '../src/adapters/llm/embedded-provider.ts';
import { createCpuLlama, createLlamaCppEngine, type LlamaCppEngine } from '../src/adapters/llm/llama-cpp-engine.ts';
import { createOpenAiCompatibleProvider } from '../src/adapters/llm/openai-compatible-provider.ts';
import { ProviderError } from '../src/core/errors.ts';
import { testModelPath } from './helpers/assets.ts';
import { writeRandomLoraAdapter } from './helpers/gguf-writer.ts';
import { serveProvider, type OpenAiCompatibleTestServer } from './helpers/openai-compatible-server.ts';

const modelPath = testModelPath();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'understudy-embedded-'));
const LABELS = ['card_arrival', 'lost_or_stolen_card', 'exchange_rate', 'top_up_failed'];

let llama: Llama;
let engine: LlamaCppEngine;
let provider: ChatProvider;
let server: OpenAiCompatibleTestServer;
let client: ChatProvider;

before(async () => {
  llama = await createCpuLlama();
  const adapter = path.join(scratch, 'tuned.gguf');
  await writeRandomLoraAdapter(adapter, modelPath, { seed: 5, magnitude: 0.1 });
  engine = await createLlamaCppEngine({ modelPath, llama, threads: 1, contextSize: 512, sequences: 4, reusePrefix: false, adapters: [{ name: 'tuned', path: adapter }] });
  provider = createEmbeddedProvider({ engine, serving: { usdPerHour: 0.9, prefillTokensPerSecond: 900, decodeTokensPerSecond: 90 } });
  server = await serveProvider(provider);
  client = createOpenAiCompatibleProvider({ id: 'local-http', baseUrl: server.baseUrl, model: 'base', maxRetries: 1, timeoutMs: 30_000 });
});

after(async () => {
  await client.close();
  await server.close();
  await provider.close();
  await engine.dispose();
  await llama.dispose();
});

const question = (text: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  messages: [
    { role: 'system', content: `Classify the banking query as one of: ${LABELS.join(', ')}.` },
    { role: 'user', content: text },
  ],
  maxTokens: 16,
  ...extra,
});

async function collect(events: AsyncIterable<ChatStreamEvent>) {
  const deltas: string[] = [];
  for await (const event of events) {
    if (event.type === 'delta') deltas.push(event.text);
    else return { deltas, result: event.result };
  }
  throw new Error('the stream ended without a result');
}

test('a result carries text, usage, latency, the answering adapter and a serving-cost-model price', async () => {
  const result = await provider.complete(question('My card has not arrived yet', { model: 'tuned' }));
  assert.equal(result.model, 'tuned');
  assert.equal(result.provider, 'embedded');
  assert.ok(result.usage !== null && result.usage.promptTokens > 20 && result.usage.completionTokens > 0);
  assert.ok(result.latency.totalMs >= result.latency.firstTokenMs && result.latency.firstTokenMs > 0);
  assert.equal(result.cost.kind, 'priced');
  if (result.cost.kind === 'priced') {
    const expected = ((result.usage.promptTokens - (result.usage.cachedPromptTokens ?? 0)) / 900 + result.usage.completionTokens / 90) * (0.9 / 3600);
    assert.ok(Math.abs(result.cost.usd - expected) < 1e-15, `${result.cost.usd} vs ${expected}`);
    assert.equal(result.cost.source, 'serving-cost-model');
  }
  const unpriced = createEmbeddedProvider({ engine });
  const unknown = await unpriced.complete(question('Hi', { model: 'base', maxTokens: 2 }));
  assert.equal(unknown.cost.kind, 'unknown');
  const measured = createEmbeddedProvider({ engine, serving: { usdPerHour: 0.9 } });
  const fromMeasured = await measured.complete(question('Hi', { model: 'base', maxTokens: 2 }));
  assert.ok(fromMeasured.cost.kind === 'priced' && fromMeasured.cost.detail.includes('measured by this engine'));
});

test('streaming through the provider: deltas concatenate to the same text as a plain call', async () => {
  const request = question('What exchange rate do you use?', { maxTokens: 24 });
  const streamed = await collect(provider.stream(request));
  const plain = await provider.complete(request);
  assert.equal(streamed.deltas.join(''), plain.text);
  assert.equal(streamed.result.text, plain.text);
  assert.ok(streamed.deltas.length > 1);
});

test('over HTTP: the OpenAI-compatible client gets what the engine answers directly, streamed or not, labels and JSON', async () => {
  for (const model of ['base', 'tuned']) {
    const request = question('I think somebody stole my card', { model, maxTokens: 20 });
    const direct = await provider.complete(request);
    const overHttp = await client.complete(request);
    assert.equal(overHttp.text, direct.text);
    assert.deepEqual(overHttp.usage, { promptTokens: direct.usage!.promptTokens, completionTokens: direct.usage!.completionTokens, cachedPromptTokens: 0 });
    const streamed = await collect(client.stream(request));
    assert.equal(streamed.deltas.join(''), direct.text);
    assert.equal(streamed.result.finishReason, direct.finishReason);
  }
  // A label set goes out as response_format json_schema; the engine enforces it with a grammar; the client unwraps the label.
  const labelled = await client.complete(question('I lost my card on the bus', { maxTokens: 40, constraint: { kind: 'labels', labels: LABELS } }));
  assert.ok(LABELS.includes(labelled.text), JSON.stringify(labelled.text));
  const schema = { type: 'object', properties: { intent: { enum: LABELS }, urgent: { type: 'boolean' } }, required: ['intent', 'urgent'], additionalProperties: false };
  const structured = await client.complete(question('Where is my card?', { maxTokens: 60, constraint: { kind: 'json-schema', schema } }));
  const value = JSON.parse(structured.text) as { intent: string; urgent: boolean };
  assert.ok(LABELS.includes(value.intent) && typeof value.urgent === 'boolean', structured.text);
});

test('over HTTP: an unknown adapter and an unenforceable schema come back as typed, non-retryable errors', async () => {
  const unknown = await client.complete(question('hi', { model: 'nope' })).catch((error: unknown) => error);
  assert.ok(ProviderError.isInstance(unknown), String(unknown));
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.isRetryable, false);
  assert.match(unknown.message, /no adapter named "nope"/);
  const schema = { type: 'object', properties: { code: { type: 'string', pattern: '^[A-Z]{3}$' } } };
  const refused = await client.complete(question('hi', { constraint: { kind: 'json-schema', schema } })).catch((error: unknown) => error);
  assert.ok(ProviderError.isInstance(refused));
  assert.equal(refused.failure, 'unsupported-schema');
  assert.equal(refused.isRetryable, false);
});
