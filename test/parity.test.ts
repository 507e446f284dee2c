// The model path's three parity checks (docs/architecture.md), on the real SmolLM2 GGUF:
// 1. the same conversation gives the same token ids through the training tokenizer + template and through llama.cpp;
// 2. base next-token log-probabilities agree between transformers and llama.cpp;
// 3. base + LoRA adapter log-probabilities agree the same way (PEFT adapter in transformers, GGUF adapter in llama.cpp).
//
// Tolerance: both sides run the same Q4_1 weights (transformers dequantizes the GGUF blocks exactly), so what
// differs is llama.cpp's arithmetic: it quantizes activations to 8 bits for Q4_1 matrix products and sums in
// another order. Measured here on these prompts, that moves a likely token's log-probability by 0.05-0.3 nats
// (base) and up to about 0.45 nats with an adapter. We allow 0.75 nats on every token transformers gives at least
// 1% probability, and require the same top token wherever transformers' top two are more than 0.5 nats apart.
// A wrong chat template, a missing q/k permutation or a wrong LoRA scale moves these by several nats.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { LogitsResultSchema, TokenizeResultSchema, type ChatMessage } from '../src/contracts/worker.ts';
import { createLlamaCppEngine, type LlamaCppEngine } from '../src/adapters/llm/llama-cpp-engine.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { runWorker } from '../src/adapters/worker/worker-process.ts';
import { renderChatMl } from '../src/core/chat-template.ts';
import { trainSft } from '../src/pipeline/train.ts';
import { classificationMessages } from '../src/pipeline/prepare-data.ts';
import { testModelPath } from './helpers/assets.ts';

const TOLERANCE_NATS = 0.75;
const MIN_PROBABILITY = 0.01;
const TOP_K = 10;

const CONVERSATIONS: ChatMessage[][] = [
  [{ role: 'system', content: 'Classify the banking query.' }, { role: 'user', content: 'I lost my card yesterday, what now?' }],
  [{ role: 'user', content: 'No system turn here: the template adds its default one.' }],
  [{ role: 'system', content: 'Answer in JSON.' }, { role: 'user', content: 'Überweisung: 12,50 € an "Café Zoë"\nZeile zwei\ttab' }, { role: 'assistant', content: '{"amount": 12.5}' }, { role: 'user', content: 'And again?' }],
];

let python: string;
let engine: LlamaCppEngine;
const base = { kind: 'gguf' as const, path: testModelPath() };

before(async () => {
  python = (await ensureWorkerEnvironment()).python;
  engine = await createLlamaCppEngine({ modelPath: base.path, contextSize: 1024 });
});
after(async () => {
  await engine.dispose();
});

async function transformersLogprobs(tokenIds: number[], adapterDir?: string) {
  const outcome = await runWorker({ python, spec: { command: 'logits', base, tokenIds, topK: TOP_K, ...(adapterDir === undefined ? {} : { adapterDir }) } });
  return LogitsResultSchema.parse(outcome.result).top;
}

/** Compare llama.cpp's log-probabilities with transformers' on the tokens transformers finds likely. */
async function assertLogprobsAgree(llama: LlamaCppEngine, tokenIds: number[], reference: { tokenId: number; logprob: number }[], what: string): Promise<number> {
  const ours = await llama.nextTokenLogprobs(tokenIds, 200);
  const byToken = new Map(ours.map((entry) => [entry.tokenId, entry.logprob]));
  let worst = 0;
  for (const expected of reference.filter((entry) => Math.exp(entry.logprob) >= MIN_PROBABILITY)) {
    const actual = byToken.get(expected.tokenId);
    assert.ok(actual !== undefined, `${what}: token ${expected.tokenId} (p=${Math.exp(expected.logprob).toFixed(3)} in transformers) missing from llama.cpp's top 200`);
    worst = Math.max(worst, Math.abs(actual - expected.logprob));
  }
  assert.ok(worst <= TOLERANCE_NATS, `${what}: log-probabilities differ by up to ${worst.toFixed(3)} nats`);
  if (reference[0]!.logprob - reference[1]!.logprob > 0.5) assert.equal(ours[0]!.tokenId, reference[0]!.tokenId, `${what}: top token differs`);
  return worst;
}

test('parity 1: chat template and token ids agree between the training tokenizer and llama.cpp', async () => {
  for (const addGenerationPrompt of [true, false]) {
    const outcome = await runWorker({ python, spec: { command: 'tokenize', base, conversations: CONVERSATIONS, addGenerationPrompt } });
    const result = TokenizeResultSchema.parse(outcome.result);
    CONVERSATIONS.forEach((conversation, index) => {
      const rendered = renderChatMl(conversation, { addGenerationPrompt });
      assert.equal(rendered, result.texts[index], `template text of conversation ${index}`);
      assert.deepEqual(engine.tokenize(rendered), result.tokenIds[index], `token ids of conversation ${index}`);
    });
  }
});

test('parity 2: base next-token log-probabilities agree between transformers and llama.cpp', async () => {
  for (const conversation of CONVERSATIONS.slice(0, 2)) {
    const tokenIds = engine.tokenize(renderChatMl(conversation, { addGenerationPrompt: true }));
    const worst = await assertLogprobsAgree(engine, tokenIds, await transformersLogprobs(tokenIds), 'base');
    process.stderr.write(`parity 2: max |Δ logprob| = ${worst.toFixed(3)} nats\n`);
  }
});

test('parity 3: base + adapter log-probabilities agree (PEFT in transformers, GGUF LoRA in llama.cpp)', async () => {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-parity-'));
  const store = openStore(path.join(workspace, 'understudy.db'));
  const system = 'Classify the banking query.';
  const rows = [
    ['I lost my card', 'lost_or_stolen_card'], ['My card was stolen', 'lost_or_stolen_card'], ['Someone took my card', 'lost_or_stolen_card'], ['Card missing since Monday', 'lost_or_stolen_card'],
    ['Where is my new card?', 'card_arrival'], ['My card has not arrived', 'card_arrival'], ['When will the card come?', 'card_arrival'], ['Still waiting on my card', 'card_arrival'],
  ];
  const dataset = store.registerDataset({
    name: 'parity',
    role: 'train',
    source: { test: 'parity' },
    examples: rows.map(([input, label]) => ({ input: input!, label: label!, messages: classificationMessages(system, input!, label!), provenance: { test: 'parity' } })),
  });
  // A high learning rate for a few real steps, so the adapter moves the distribution clearly.
  const trained = await trainSft({
    store,
    python,
    base: { name: 'smollm2', ggufPath: base.path, sha256: 'parity-test' },
    datasetId: dataset.id,
    runsDir: path.join(workspace, 'runs'),
    training: {
      examplesPerLabel: 4, epochs: 1, maxSteps: 4, learningRate: 3e-3, batchSize: 4, gradientAccumulation: 1, maxLength: 128, warmupRatio: 0, scheduler: 'constant', seed: 3,
      lora: { r: 8, alpha: 16, dropout: 0, targetModules: 'all-linear' },
    },
  });
  assert.equal(store.getRun(trained.run.id)!.status, 'succeeded');
  assert.equal(store.getAdapterForRun(trained.run.id)!.ggufSha256, trained.adapter.ggufSha256);
  store.close();

  const tuned = await createLlamaCppEngine({ modelPath: base.path, adapterPath: trained.adapter.ggufPath, contextSize: 1024 });
  try {
    const tokenIds = tuned.tokenize(renderChatMl(classificationMessages(system, 'I think my card got stolen'), { addGenerationPrompt: true }));
    const withAdapter = await transformersLogprobs(tokenIds, trained.adapter.peftPath);
    const baseOnly = await transformersLogprobs(tokenIds);
    // Not vacuous: the adapter must change the distribution far more than the tolerance.
    const baseByToken = new Map(baseOnly.map((entry) => [entry.tokenId, entry.logprob]));
    // A token outside the base's top ${TOP_K} has a log-probability below the base's ${TOP_K}th: a lower bound on the shift.
    const baseLogprob = baseByToken.get(withAdapter[0]!.tokenId) ?? baseOnly.at(-1)!.logprob;
    const shift = Math.abs(withAdapter[0]!.logprob - baseLogprob);
    assert.ok(shift > 2 * TOLERANCE_NATS, `the adapter moved the top token by only ${shift.toFixed(2)} nats`);
    const worst = await assertLogprobsAgree(tuned, tokenIds, withAdapter, 'base + adapter');
    process.stderr.write(`parity 3: adapter moved the top token by at least ${shift.toFixed(2)} nats, max |Δ logprob| = ${worst.toFixed(3)} nats\n`);
  } finally {
    await tuned.dispose();
  }
});
