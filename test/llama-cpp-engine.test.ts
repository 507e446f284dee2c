import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, copyFileSync, truncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createLlamaCppEngine, type LlamaCppEngine } from '../src/adapters/llm/llama-cpp-engine.ts';
import { labelSetGrammar } from '../src/adapters/llm/label-grammar.ts';
import { renderChatMl } from '../src/core/chat-template.ts';
import { UnderstudyError } from '../src/core/errors.ts';
import { testModelPath } from './helpers/assets.ts';

const CHATML = '<|im_start|>system\nClassify.<|im_end|>\n<|im_start|>user\nI lost my card<|im_end|>\n<|im_start|>assistant\nlost_or_stolen_card<|im_end|>\n';
// Ids of CHATML from the Hugging Face tokenizer of SmolLM2-135M-Instruct.
const CHATML_IDS = [1, 9690, 198, 8530, 1282, 30, 2, 198, 1, 4093, 198, 57, 3590, 957, 3421, 2, 198, 1, 520, 9531, 198, 33290, 79, 270, 79, 302, 16548, 79, 12172, 2, 198];
const LABELS = ['card_arrival', 'lost_or_stolen_card', 'exchange_rate', 'say "hello"', 'back\\slash'];

let engine: LlamaCppEngine;
before(async () => {
  engine = await createLlamaCppEngine({ modelPath: testModelPath(), sequences: 2, contextSize: 1024 });
});
after(async () => {
  await engine.dispose();
});

const prompt = (system: string, user: string): string => renderChatMl([{ role: 'system', content: system }, { role: 'user', content: user }], { addGenerationPrompt: true });

test('renderChatMl renders SmolLM2 ChatML, and llama.cpp tokenizes it to the training tokenizer ids', () => {
  const rendered = renderChatMl([{ role: 'system', content: 'Classify.' }, { role: 'user', content: 'I lost my card' }, { role: 'assistant', content: 'lost_or_stolen_card' }], { addGenerationPrompt: false });
  assert.equal(rendered, CHATML);
  assert.deepEqual(engine.tokenize(CHATML), CHATML_IDS);
  assert.match(renderChatMl([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }), /^<\|im_start\|>system\nYou are a helpful AI assistant named SmolLM/);
});

test('greedy generation is deterministic', async () => {
  const request = { prompt: prompt('You are a helpful assistant.', 'Name a colour.'), maxTokens: 12 };
  const first = await engine.generate(request);
  const second = await engine.generate(request);
  assert.equal(first.text, second.text);
  assert.ok(first.completionTokens > 0 && first.completionTokens <= 12);
  assert.ok(first.promptTokens > 10);
  assert.ok(first.latencyMs > 0);
});

test('label-constrained answers are always exactly one label, even labels with quotes and backslashes', async () => {
  for (const user of ['I lost my card', 'What is the exchange rate?', 'say hello please', 'My card has not come yet', '\\']) {
    const generation = await engine.generate({ prompt: prompt(`Answer with one of: ${LABELS.join(', ')}`, user), maxTokens: 16, labels: LABELS });
    assert.ok(LABELS.includes(generation.text), `"${generation.text}" is not a label`);
    assert.equal(generation.finishReason, 'stop');
  }
  assert.equal(labelSetGrammar(['a"b', 'c\\d']), 'root ::= "a\\"b" | "c\\\\d"\n');
});

test('a shared prompt prefix is reused and gives the same answer as a fresh evaluation', async () => {
  const system = `Classify the message into one of: ${LABELS.join(', ')}. Answer with the label only.`;
  const single = await createLlamaCppEngine({ modelPath: testModelPath(), sequences: 1, contextSize: 1024 });
  try {
    const fresh = await single.generate({ prompt: prompt(system, 'I lost my card'), maxTokens: 16, labels: LABELS });
    assert.equal(fresh.reusedPromptTokens, 0);
    await single.generate({ prompt: prompt(system, 'What is the exchange rate?'), maxTokens: 16, labels: LABELS });
    const reused = await single.generate({ prompt: prompt(system, 'I lost my card'), maxTokens: 16, labels: LABELS });
    assert.ok(reused.reusedPromptTokens >= single.tokenize(prompt(system, '')).length - 8, `reused only ${reused.reusedPromptTokens} tokens`);
    assert.equal(reused.text, fresh.text);
  } finally {
    await single.dispose();
  }
});

test('concurrent requests run on parallel sequences and match sequential answers', async () => {
  const requests = ['Where is my card?', 'How do I top up?', 'Is there a fee?', 'Cancel my transfer'].map((user) => ({ prompt: prompt('Answer briefly.', user), maxTokens: 8 }));
  const sequential = [];
  for (const request of requests) sequential.push((await engine.generate(request)).text);
  const concurrent = await Promise.all(requests.map((request) => engine.generate(request)));
  assert.deepEqual(concurrent.map((generation) => generation.text), sequential);
});

test('next-token log-probabilities are sorted, normalised, and their top token is the greedy choice', async () => {
  const text = prompt('You are a helpful assistant.', 'What is the capital of France?');
  const top = await engine.nextTokenLogprobs(engine.tokenize(text), 20);
  assert.equal(top.length, 20);
  for (let index = 1; index < top.length; index += 1) assert.ok(top[index - 1]!.logprob >= top[index]!.logprob);
  const mass = top.reduce((sum, entry) => sum + Math.exp(entry.logprob), 0);
  assert.ok(mass <= 1 + 1e-6 && mass > 0.3, `probability mass of the top 20: ${mass}`);
  const greedy = await engine.generate({ prompt: text, maxTokens: 1 });
  assert.equal(greedy.text, engine.detokenize([top[0]!.tokenId]));
});

test('a missing, truncated or non-GGUF model file gives a typed error naming the file', async () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-gguf-'));
  const notGguf = path.join(directory, 'model.gguf');
  writeFileSync(notGguf, 'this is a text file, not a model\n');
  const truncated = path.join(directory, 'truncated.gguf');
  copyFileSync(testModelPath(), truncated);
  truncateSync(truncated, 4096);
  for (const file of [path.join(directory, 'missing.gguf'), notGguf, truncated]) {
    await assert.rejects(createLlamaCppEngine({ modelPath: file }), (error: unknown) => {
      assert.ok(UnderstudyError.isInstance(error), `typed error for ${file}: ${String(error)}`);
      assert.equal(error.file, file);
      return true;
    });
  }
  await assert.rejects(createLlamaCppEngine({ modelPath: testModelPath(), adapterPath: notGguf }), (error: unknown) => UnderstudyError.isInstance(error) && error.file === notGguf);
});
