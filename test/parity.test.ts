// The model path's three parity checks (docs/architecture.md), on every offline catalog model (SmolLM2-135M-Instruct
// and Gemma 3 270M), each with the chat template Understudy resolves for it (SmolLM2: its GGUF's own; Gemma: the
// built-in Gemma template, since its GGUF carries none):
// 1. the same conversation gives the same token ids through the training tokenizer + template and through llama.cpp;
// 2. base next-token log-probabilities agree between transformers and llama.cpp;
// 3. base + LoRA adapter log-probabilities agree the same way (PEFT adapter in transformers, GGUF adapter in llama.cpp);
// and the token the template ends an answer with (which training teaches) is one llama.cpp ends generation on.
//
// Tolerance: both sides run the same quantized weights (transformers dequantizes the GGUF blocks exactly), so what
// differs is llama.cpp's arithmetic: it quantizes activations to 8 bits for its quantized matrix products and sums in
// another order. Measured here on these prompts, that moves a likely token's log-probability by 0.05-0.3 nats
// (base) and up to about 0.45 nats with an adapter. We allow 0.75 nats on every token transformers gives at least
// 1% probability, and require the same top token wherever transformers' top two are more than 0.5 nats apart.
// A wrong chat template, a wrong q/k permutation or a wrong LoRA scale moves these by several nats.
//
// Loading a base in the worker is the slow part (about 70 s for Gemma's dequantized GGUF on two cores), so each model
// costs three worker calls: one tokenize for every conversation, one training run, one logits call that scores every
// sequence with the adapter and with it disabled.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LogitsResultSchema, TokenizeResultSchema, type ChatMessage } from '../src/contracts/worker.ts';
import type { Token } from 'node-llama-cpp';
import { createCpuLlama, createLlamaCppEngine, type LlamaCppEngine } from '../src/adapters/llm/llama-cpp-engine.ts';
import { requireCatalogModel } from '../src/adapters/models/catalog.ts';
import { compileResolvedChatTemplate, resolveChatTemplate, type ResolvedChatTemplate } from '../src/adapters/models/chat-template-source.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { runWorker } from '../src/adapters/worker/worker-process.ts';
import type { ChatTemplate } from '../src/core/chat-template.ts';
import { trainSft, type TrainResult } from '../src/pipeline/train.ts';
import { classificationMessages } from '../src/pipeline/prepare-data.ts';
import { testModelPath } from './helpers/assets.ts';

const TOLERANCE_NATS = 0.75;
const MIN_PROBABILITY = 0.01;
const TOP_K = 10;

const PARITY_MODELS = [
  { id: 'smollm2-135m-instruct', file: () => testModelPath() },
  { id: 'gemma-3-270m', file: () => process.env.UNDERSTUDY_TEST_GEMMA_GGUF || testModelPath('gemma-3-270m') },
] as const;

const CONVERSATIONS: ChatMessage[][] = [
  [{ role: 'system', content: 'Classify the banking query.' }, { role: 'user', content: 'I lost my card yesterday, what now?' }],
  [{ role: 'user', content: 'No system turn here: some templates add a default one.' }],
  [{ role: 'system', content: 'Answer in JSON.' }, { role: 'user', content: 'Überweisung: 12,50 € an "Café Zoë"\nZeile zwei\ttab' }, { role: 'assistant', content: '{"amount": 12.5}' }, { role: 'user', content: 'And again?' }],
  [{ role: 'user', content: '  padded with spaces and a newline \n' }, { role: 'assistant', content: ' card_arrival' }],
];

const SYSTEM = 'Classify the banking query.';
const TRAIN_ROWS = [
  ['I lost my card', 'lost_or_stolen_card'], ['My card was stolen', 'lost_or_stolen_card'], ['Someone took my card', 'lost_or_stolen_card'], ['Card missing since Monday', 'lost_or_stolen_card'],
  ['Where is my new card?', 'card_arrival'], ['My card has not arrived', 'card_arrival'], ['When will the card come?', 'card_arrival'], ['Still waiting on my card', 'card_arrival'],
] as const;
const TUNED_INPUT = 'I think my card got stolen';
const TUNED_ANSWER = 'lost_or_stolen_card';

let python: string;
before(async () => {
  python = (await ensureWorkerEnvironment()).python;
});

type Top = { tokenId: number; logprob: number }[];

/** Compare llama.cpp's log-probabilities with transformers' on the tokens transformers finds likely; returns the largest difference. */
async function assertLogprobsAgree(llama: LlamaCppEngine, tokenIds: number[], reference: Top, what: string): Promise<number> {
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

function seconds(started: number): string {
  return `${((performance.now() - started) / 1000).toFixed(1)} s`;
}

for (const model of PARITY_MODELS) {
  describe(`parity on ${model.id}`, () => {
    const catalog = requireCatalogModel(model.id);
    let base: { kind: 'gguf'; path: string };
    let resolved: ResolvedChatTemplate;
    let template: ChatTemplate;
    let engine: LlamaCppEngine;

    before(async () => {
      base = { kind: 'gguf', path: model.file() };
      resolved = await resolveChatTemplate(base.path, { family: catalog.chatTemplate });
      template = compileResolvedChatTemplate(resolved);
      engine = await createLlamaCppEngine({ modelPath: base.path, contextSize: 1024 });
    });
    after(async () => {
      await engine?.dispose();
    });

    // One adapter per model, trained once, and one logits call scoring every sequence with and without it.
    let scored: Promise<{ trained: TrainResult; sequences: number[][]; results: { top: Top; baseTop: Top }[] }> | undefined;
    const tunedPrompt = (): string => template.render(classificationMessages(SYSTEM, TUNED_INPUT), { addGenerationPrompt: true });
    const trainAndScore = (): NonNullable<typeof scored> => {
      scored ??= (async () => {
        const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-parity-'));
        const store = openStore(path.join(workspace, 'understudy.db'));
        const dataset = store.registerDataset({
          name: 'parity',
          role: 'train',
          source: { test: 'parity' },
          examples: TRAIN_ROWS.map(([input, label]) => ({ input, label, messages: classificationMessages(SYSTEM, input, label), provenance: { test: 'parity' } })),
        });
        let started = performance.now();
        // A high learning rate for a few real steps, so the adapter moves the distribution clearly.
        const trained = await trainSft({
          store,
          python,
          base: { name: model.id, ggufPath: base.path, sha256: 'parity-test', catalog },
          chatTemplate: resolved,
          datasetId: dataset.id,
          runsDir: path.join(workspace, 'runs'),
          training: {
            examplesPerLabel: 4, epochs: 1, maxSteps: 4, learningRate: 3e-3, batchSize: 4, gradientAccumulation: 1, maxLength: 128, warmupRatio: 0, scheduler: 'constant', seed: 3,
            lora: { r: 8, alpha: 16, dropout: 0, targetModules: 'all-linear' },
          },
        });
        assert.equal(store.getRun(trained.run.id)!.status, 'succeeded');
        store.close();
        process.stderr.write(`${model.id}: trained ${trained.steps} steps in ${seconds(started)}\n`);

        const sequences = [
          ...CONVERSATIONS.slice(0, 2).map((conversation) => engine.tokenize(template.render(conversation, { addGenerationPrompt: true }))),
          engine.tokenize(tunedPrompt()),
          engine.tokenize(tunedPrompt() + TUNED_ANSWER),
        ];
        started = performance.now();
        const outcome = await runWorker({ python, spec: { command: 'logits', base, adapterDir: trained.adapter.peftPath, sequences, topK: TOP_K, compareWithBase: true } });
        const results = LogitsResultSchema.parse(outcome.result).results.map((entry) => ({ top: entry.top, baseTop: entry.baseTop! }));
        process.stderr.write(`${model.id}: transformers scored ${sequences.length} sequences with and without the adapter in ${seconds(started)}\n`);
        return { trained, sequences, results };
      })();
      return scored;
    };

    test('the token that ends a trained answer in the template is one llama.cpp ends generation on', async () => {
      // What the worker trains after each answer (its log names the token: `completions end with ...`) must be an
      // end-of-generation token for llama.cpp, or a tuned model would run on past its answer when served.
      const prompt = template.render(classificationMessages(SYSTEM, TUNED_INPUT), { addGenerationPrompt: true });
      const answered = template.render(classificationMessages(SYSTEM, TUNED_INPUT, TUNED_ANSWER), { addGenerationPrompt: false });
      assert.ok(answered.startsWith(prompt + TUNED_ANSWER), 'the answered conversation extends the prompt');
      const endOfTurn = engine.tokenize(answered.slice(prompt.length + TUNED_ANSWER.length))[0]!;
      const llama = await createCpuLlama();
      try {
        const loaded = await llama.loadModel({ modelPath: base.path });
        try {
          assert.ok(loaded.isEogToken(endOfTurn as Token), `${engine.detokenize([endOfTurn])} (id ${endOfTurn}) is not an end-of-generation token in llama.cpp`);
        } finally {
          await loaded.dispose();
        }
      } finally {
        await llama.dispose();
      }
      process.stderr.write(`${model.id}: ${engine.detokenize([endOfTurn])} (id ${endOfTurn}) ends a trained answer and llama.cpp's generation\n`);
    });

    test('parity 1: chat template and token ids agree between the training tokenizer and llama.cpp', async () => {
      const started = performance.now();
      const conversations = [...CONVERSATIONS, ...CONVERSATIONS];
      const flags = conversations.map((_, index) => index < CONVERSATIONS.length);
      const outcome = await runWorker({ python, spec: { command: 'tokenize', base, conversations, addGenerationPrompt: flags, chatTemplate: resolved.source } });
      const result = TokenizeResultSchema.parse(outcome.result);
      conversations.forEach((conversation, index) => {
        const rendered = template.render(conversation, { addGenerationPrompt: flags[index]! });
        assert.equal(rendered, result.texts[index], `template text of conversation ${index}`);
        assert.deepEqual(engine.tokenize(rendered), result.tokenIds[index], `token ids of conversation ${index}`);
      });
      process.stderr.write(`${model.id}: parity 1 (${conversations.length} renderings, template ${resolved.origin}, sha256 ${resolved.sha256.slice(0, 12)}) in ${seconds(started)}\n`);
    });

    test('parity 2: base next-token log-probabilities agree between transformers and llama.cpp', async () => {
      const { sequences, results } = await trainAndScore();
      let worst = 0;
      for (const [index, tokenIds] of sequences.slice(0, 3).entries()) {
        worst = Math.max(worst, await assertLogprobsAgree(engine, tokenIds, results[index]!.baseTop, `base, sequence ${index}`));
      }
      process.stderr.write(`${model.id}: parity 2: max |Δ logprob| = ${worst.toFixed(3)} nats\n`);
    });

    test('parity 3: base + adapter log-probabilities agree (PEFT in transformers, GGUF LoRA in llama.cpp)', async () => {
      const { trained, sequences, results } = await trainAndScore();
      const tuned = await createLlamaCppEngine({ modelPath: base.path, adapterPath: trained.adapter.ggufPath, contextSize: 1024 });
      try {
        const promptIds = sequences[2]!;
        const { top: withAdapter, baseTop: baseOnly } = results[2]!;
        // Not vacuous: the adapter must change the distribution far more than the tolerance.
        const baseByToken = new Map(baseOnly.map((entry) => [entry.tokenId, entry.logprob]));
        // A token outside the base's top K has a log-probability below the base's Kth: a lower bound on the shift.
        const baseLogprob = baseByToken.get(withAdapter[0]!.tokenId) ?? baseOnly.at(-1)!.logprob;
        const shift = Math.abs(withAdapter[0]!.logprob - baseLogprob);
        assert.ok(shift > 2 * TOLERANCE_NATS, `the adapter moved the top token by only ${shift.toFixed(2)} nats`);
        let worst = await assertLogprobsAgree(tuned, promptIds, withAdapter, 'base + adapter');

        // Right after a trained answer (where the completion-only loss trains the end-of-turn token) both sides agree too.
        worst = Math.max(worst, await assertLogprobsAgree(tuned, sequences[3]!, results[3]!.top, 'base + adapter after the answer'));
        process.stderr.write(`${model.id}: parity 3: adapter moved the top token by at least ${shift.toFixed(2)} nats, max |Δ logprob| = ${worst.toFixed(3)} nats\n`);
      } finally {
        await tuned.dispose();
      }
    });
  });
}
