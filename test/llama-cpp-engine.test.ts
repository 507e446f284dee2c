import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, openSync, closeSync, readSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Llama } from 'node-llama-cpp';
import type { ChatMessage } from '../src/contracts/worker.ts';
import { gbnfStringLiteral, labelSetGrammar } from '../src/adapters/llm/label-grammar.ts';
import {
  createCpuLlama,
  createLlamaCppEngine,
  ModelLoadError,
  renderChatMl,
  threadLayout,
  type LlamaCppEngine,
  type ModelLoadFailure,
} from '../src/adapters/llm/llama-cpp-engine.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import { testModelPath } from './helpers/assets.ts';

// The real SmolLM2-135M-Instruct GGUF (UNDERSTUDY_TEST_GGUF or the cached catalog copy); missing fails loudly.
const modelPath = testModelPath();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'understudy-llama-'));

const classified: ChatMessage[] = [
  { role: 'system', content: 'Classify.' },
  { role: 'user', content: 'I lost my card' },
  { role: 'assistant', content: 'lost_or_stolen_card' },
];
const classifiedText =
  '<|im_start|>system\nClassify.<|im_end|>\n<|im_start|>user\nI lost my card<|im_end|>\n<|im_start|>assistant\nlost_or_stolen_card<|im_end|>\n';
const classifiedIds = [
  1, 9690, 198, 8530, 1282, 30, 2, 198, 1, 4093, 198, 57, 3590, 957, 3421, 2, 198, 1, 520, 9531, 198, 33290, 79, 270, 79, 302, 16548, 79, 12172, 2,
  198,
];

let llama: Llama;
let engine: LlamaCppEngine;

before(async () => {
  llama = await createCpuLlama();
  // One thread: the test machine has two cores that other work shares, and llama.cpp's spinning threads degrade badly under contention.
  engine = await createLlamaCppEngine({ modelPath, llama, threads: 1, contextSize: 1024 });
});

after(async () => {
  await engine.dispose();
  await llama.dispose();
});

const chat = (system: string, user: string): string =>
  renderChatMl([{ role: 'system', content: system }, { role: 'user', content: user }], { addGenerationPrompt: true });

test('tokenize parses ChatML special tokens into the ids the Hugging Face tokenizer gives, and detokenize inverts it', () => {
  assert.deepEqual(engine.tokenize(classifiedText), classifiedIds);
  assert.equal(engine.detokenize(classifiedIds), classifiedText);
});

test('detokenize rejects an id outside the vocabulary instead of letting llama.cpp abort the process', () => {
  assert.throws(() => engine.detokenize([1, 49152]), /outside the vocabulary/);
  assert.throws(() => engine.detokenize([-1]), /outside the vocabulary/);
});

test('renderChatMl matches SmolLM2 chat template', () => {
  const defaultSystem = '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n';
  const cases: { messages: ChatMessage[]; addGenerationPrompt: boolean; expected: string }[] = [
    { messages: classified, addGenerationPrompt: false, expected: classifiedText },
    { messages: classified.slice(0, 2), addGenerationPrompt: true, expected: `${classifiedText.split('<|im_start|>assistant')[0]}<|im_start|>assistant\n` },
    { messages: [{ role: 'user', content: 'Hi' }], addGenerationPrompt: true, expected: `${defaultSystem}<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n` },
  ];
  for (const { messages, addGenerationPrompt, expected } of cases) assert.equal(renderChatMl(messages, { addGenerationPrompt }), expected);
});

test('label grammars escape quotes, backslashes and control characters', () => {
  assert.equal(gbnfStringLiteral('say "hi"'), '"say \\"hi\\""');
  assert.equal(gbnfStringLiteral('a\\b\n\t\u0001é'), '"a\\\\b\\n\\t\\x01é"');
  assert.equal(labelSetGrammar(['a', 'b', 'a']), 'root ::= "a" | "b"\n');
  assert.throws(() => labelSetGrammar([]), RangeError);
  assert.throws(() => labelSetGrammar(['a', '']), RangeError);
});

test('greedy generation is deterministic, with and without a reused prefix, and stops at the end of turn', async () => {
  const prompt = chat('You are a helpful assistant. Answer in one short sentence.', 'What is the capital of France?');
  const first = await engine.generate({ prompt, maxTokens: 24 });
  const second = await engine.generate({ prompt, maxTokens: 24 });
  assert.ok(first.text.length > 0);
  assert.equal(second.text, first.text);
  assert.deepEqual(second.completionTokenIds, first.completionTokenIds);
  assert.equal(second.reusedPromptTokens, second.promptTokens - 1);
  const cold = await createLlamaCppEngine({ modelPath, llama, threads: 1, contextSize: 1024, reusePrefix: false });
  try {
    const uncached = await cold.generate({ prompt, maxTokens: 24 });
    assert.equal(uncached.reusedPromptTokens, 0);
    assert.equal(uncached.text, first.text);
  } finally {
    await cold.dispose();
  }
  for (const generation of [first, second]) {
    assert.equal(generation.promptTokens, engine.tokenize(prompt).length);
    assert.equal(generation.completionTokens, generation.completionTokenIds.length);
    assert.ok(generation.latencyMs >= generation.timeToFirstTokenMs && generation.timeToFirstTokenMs > 0);
    if (generation.finishReason === 'length') assert.equal(generation.completionTokens, 24);
  }
  const short = await engine.generate({ prompt: chat('Write a long story.', 'Tell me about dragons.'), maxTokens: 3 });
  assert.equal(short.finishReason, 'length');
  assert.equal(short.completionTokens, 3);
});

test('a shared system prompt is evaluated once: the next prompt reuses it and answers as if evaluated from scratch', async () => {
  const labels = ['card_arrival', 'lost_or_stolen_card', 'exchange_rate', 'pin_blocked', 'top_up_failed'];
  const system = `Classify the customer message into one of these categories: ${labels.join(', ')}. Answer with the category only.`;
  const systemTokens = engine.tokenize(chat(system, '')).length - engine.tokenize('\n<|im_end|>\n<|im_start|>assistant\n').length;
  const cold = await createLlamaCppEngine({ modelPath, llama, threads: 1, contextSize: 1024, reusePrefix: false });
  try {
    await engine.generate({ prompt: chat(system, 'My card never arrived'), maxTokens: 8, labels });
    for (const message of ['I think someone stole my wallet with my card', 'What rate do you use for euros?']) {
      const warm = await engine.generate({ prompt: chat(system, message), maxTokens: 8, labels });
      const fresh = await cold.generate({ prompt: chat(system, message), maxTokens: 8, labels });
      assert.ok(warm.reusedPromptTokens >= systemTokens, `reused ${warm.reusedPromptTokens} of a ${systemTokens}-token shared prefix`);
      assert.equal(warm.text, fresh.text);
    }
  } finally {
    await cold.dispose();
  }
});

test('label-constrained output is always exactly one label, even for awkward labels and a tiny maxTokens', async () => {
  const labels = ['lost_or_stolen_card', 'card_arrival', 'card', 'say "hello"', 'back\\slash', 'naïve café', 'Refund_not_showing_up'];
  const inputs = ['I lost my card', 'hello there!', 'Where is my refund?', 'When does the card arrive?', 'asdf qwer', 'Please say hello to me'];
  const system = `Answer with one of: ${labels.join(' | ')}`;
  for (const input of inputs) {
    const generation = await engine.generate({ prompt: chat(system, input), maxTokens: 1, labels });
    assert.ok(labels.includes(generation.text), `${JSON.stringify(generation.text)} for ${JSON.stringify(input)} is not a label`);
    assert.equal(generation.finishReason, 'stop');
  }
  const only = 'say "hello"';
  const forced = await engine.generate({ prompt: chat('Answer.', 'Anything'), maxTokens: 4, labels: [only] });
  assert.equal(forced.text, only);
});

test('a messages request is rendered with the GGUF\'s own chat template, or by an injected renderPrompt', async () => {
  const rendered: ChatMessage[][] = [];
  const withRenderer = await createLlamaCppEngine({
    modelPath,
    llama,
    threads: 1,
    contextSize: 512,
    renderPrompt: (messages) => {
      rendered.push([...messages]);
      return renderChatMl(messages, { addGenerationPrompt: true, defaultSystem: 'Be terse.' });
    },
  });
  try {
    const messages: ChatMessage[] = [{ role: 'user', content: 'Say yes.' }];
    // SmolLM2's GGUF carries its Jinja template; rendered here it equals the hand-written ChatML renderer.
    assert.equal(engine.renderMessages(messages), renderChatMl(messages, { addGenerationPrompt: true }));
    const fromTemplate = await engine.generate({ messages, maxTokens: 4 });
    const fromPrompt = await engine.generate({ prompt: renderChatMl(messages, { addGenerationPrompt: true }), maxTokens: 4 });
    assert.equal(fromTemplate.text, fromPrompt.text);
    const fromRenderer = await withRenderer.generate({ messages, maxTokens: 4 });
    assert.deepEqual(rendered, [messages]);
    assert.equal(fromRenderer.promptTokens, engine.tokenize(renderChatMl(messages, { addGenerationPrompt: true, defaultSystem: 'Be terse.' })).length);
  } finally {
    await withRenderer.dispose();
  }
});

test('concurrent requests run on parallel sequences and give the sequential answers', async () => {
  // Eight sequences decoding together: with node-llama-cpp 3.21.1, unserialised sampling swapped
  // next-token rows between sequences ("The sky is a beautiful shade mathmatical"), so greedy answers changed.
  const parallel = await createLlamaCppEngine({ modelPath, llama, threads: 1, contextSize: 1024, sequences: 8, reusePrefix: false });
  try {
    const questions = ['Where is my card?', 'How do I top up?', 'Is there a fee?', 'What color is the sky?', 'What is 2+2?', 'Name a yellow fruit.', 'Say hello in Spanish.', 'What do bees make?'];
    const prompts = questions.map((user) => chat('Answer briefly.', user));
    const sequential: string[] = [];
    for (const prompt of prompts) sequential.push((await parallel.generate({ prompt, maxTokens: 16 })).text);
    for (let round = 0; round < 2; round++) {
      const concurrent = await Promise.all(prompts.map((prompt) => parallel.generate({ prompt, maxTokens: 16 })));
      assert.deepEqual(concurrent.map((generation) => generation.text), sequential, `round ${round}`);
    }
  } finally {
    await parallel.dispose();
  }
});


test('parallel contexts split the sequences and threads, decode at the same time and give the one-context answers', async () => {
  await assert.rejects(createLlamaCppEngine({ modelPath, llama, sequences: 2, parallelContexts: 3 }), (error: unknown) => error instanceof InvalidInputError && /parallelContexts must be an integer from 1 to sequences \(2\)/.test(error.message));
  const single = await createLlamaCppEngine({ modelPath, llama, threads: 1, contextSize: 512, sequences: 1, reusePrefix: false });
  const split = await createLlamaCppEngine({ modelPath, llama, threads: 2, contextSize: 512, sequences: 6, parallelContexts: 2, reusePrefix: false });
  try {
    const questions = ['Where is my card?', 'How do I top up?', 'Is there a fee?', 'What color is the sky?', 'What is 2+2?', 'Name a yellow fruit.'];
    const prompts = questions.map((user) => chat('Answer briefly.', user));
    const labels = ['card', 'top up', 'fee', 'other'];
    const expected: string[] = [];
    for (const prompt of prompts) expected.push((await single.generate({ prompt, maxTokens: 12 })).text, (await single.generate({ prompt, labels, maxTokens: 4 })).text);
    const together = await Promise.all(prompts.map(async (prompt) => [(await split.generate({ prompt, maxTokens: 12 })).text, (await split.generate({ prompt, labels, maxTokens: 4 })).text]));
    assert.deepEqual(together.flat(), expected);
    // Six in flight over two contexts of three sequences: every request holds a sequence at once, none waits.
    let peak = 0;
    const watcher = setInterval(() => (peak = Math.max(peak, split.load().active)), 1);
    await Promise.all(prompts.map((prompt) => split.generate({ prompt, maxTokens: 24 })));
    clearInterval(watcher);
    assert.equal(peak, 6);
    assert.equal(split.load().waiting, 0);
  } finally {
    await single.dispose();
    await split.dispose();
  }
});
test('nextTokenLogprobs is the full-vocabulary log-softmax, sorted, from a fresh state, led by the greedy token', async () => {
  const tokenIds = engine.tokenize(chat('You are a helpful assistant.', 'Name a color.'));
  const top = await engine.nextTokenLogprobs(tokenIds, 10);
  assert.equal(top.length, 10);
  for (let index = 1; index < top.length; index++) assert.ok(top[index - 1]!.logprob >= top[index]!.logprob);
  const mass = top.reduce((sum, entry) => sum + Math.exp(entry.logprob), 0);
  assert.ok(mass > 0 && mass <= 1 + 1e-9, `top-10 mass ${mass}`);

  const greedy = await engine.generate({ prompt: engine.detokenize(tokenIds), maxTokens: 1 });
  assert.equal(top[0]!.tokenId, greedy.completionTokenIds[0]);

  // After other state was evaluated in the sequence, the answer is unchanged: each call starts fresh.
  await engine.generate({ prompt: chat('Something else entirely.', 'Count to three.'), maxTokens: 4 });
  assert.deepEqual(await engine.nextTokenLogprobs(tokenIds, 10), top);

  const everything = await engine.nextTokenLogprobs(tokenIds, 1_000_000);
  assert.equal(everything.length, 49152);
  const largest = everything[0]!.logprob;
  const logSumExp = largest + Math.log(everything.reduce((sum, entry) => sum + Math.exp(entry.logprob - largest), 0));
  assert.ok(Math.abs(logSumExp) < 1e-9, `log-sum-exp ${logSumExp}`);

  await assert.rejects(engine.nextTokenLogprobs([], 5), /at least one token/);
  await assert.rejects(engine.nextTokenLogprobs([1, 60000], 5), /outside the vocabulary/);
});

/** A GGUF v3 file with only string metadata and no tensors. */
function writeMetadataOnlyGguf(file: string, metadata: Record<string, string>): void {
  const u32 = (value: number): Buffer => Buffer.from(new Uint32Array([value]).buffer);
  const u64 = (value: number): Buffer => Buffer.from(new BigUint64Array([BigInt(value)]).buffer);
  const text = (value: string): Buffer => Buffer.concat([u64(Buffer.byteLength(value)), Buffer.from(value, 'utf8')]);
  const parts = [Buffer.from('GGUF', 'latin1'), u32(3), u64(0), u64(Object.keys(metadata).length)];
  for (const [key, value] of Object.entries(metadata)) parts.push(text(key), u32(8), text(value));
  const body = Buffer.concat(parts);
  writeFileSync(file, Buffer.concat([body, Buffer.alloc((32 - (body.length % 32)) % 32)]));
}

function prefixOf(file: string, bytes: number, target: string): string {
  const buffer = Buffer.alloc(bytes);
  const descriptor = openSync(file, 'r');
  try {
    readSync(descriptor, buffer, 0, bytes, 0);
  } finally {
    closeSync(descriptor);
  }
  writeFileSync(target, buffer);
  return target;
}

test('a missing, foreign, truncated or mismatched GGUF gives a ModelLoadError that names the file', async () => {
  const inScratch = (name: string): string => path.join(scratch, name);
  writeFileSync(inScratch('notes.gguf'), 'these are my notes, not a model\n');
  writeFileSync(inScratch('empty.gguf'), '');
  mkdirSync(inScratch('folder.gguf'));
  prefixOf(modelPath, 4 << 20, inScratch('truncated.gguf'));
  writeMetadataOnlyGguf(inScratch('adapter.gguf'), { 'general.architecture': 'llama', 'general.type': 'adapter', 'adapter.type': 'lora' });
  writeMetadataOnlyGguf(inScratch('qwen-adapter.gguf'), { 'general.architecture': 'qwen2', 'general.type': 'adapter', 'adapter.type': 'lora' });

  const cases: { model: string; adapter?: string; file: string; role: 'model' | 'adapter'; failure: ModelLoadFailure }[] = [
    { model: inScratch('missing.gguf'), file: inScratch('missing.gguf'), role: 'model', failure: 'not-found' },
    { model: inScratch('notes.gguf'), file: inScratch('notes.gguf'), role: 'model', failure: 'not-gguf' },
    { model: inScratch('empty.gguf'), file: inScratch('empty.gguf'), role: 'model', failure: 'not-gguf' },
    { model: inScratch('folder.gguf'), file: inScratch('folder.gguf'), role: 'model', failure: 'not-a-file' },
    { model: inScratch('truncated.gguf'), file: inScratch('truncated.gguf'), role: 'model', failure: 'truncated' },
    { model: inScratch('adapter.gguf'), file: inScratch('adapter.gguf'), role: 'model', failure: 'wrong-kind' },
    { model: modelPath, adapter: inScratch('notes.gguf'), file: inScratch('notes.gguf'), role: 'adapter', failure: 'not-gguf' },
    { model: modelPath, adapter: modelPath, file: modelPath, role: 'adapter', failure: 'wrong-kind' },
    { model: modelPath, adapter: inScratch('qwen-adapter.gguf'), file: inScratch('qwen-adapter.gguf'), role: 'adapter', failure: 'incompatible-adapter' },
  ];
  for (const expected of cases) {
    await assert.rejects(createLlamaCppEngine({ modelPath: expected.model, adapterPath: expected.adapter, llama }), (error: unknown) => {
      assert.ok(ModelLoadError.isInstance(error), `expected a ModelLoadError, got ${String(error)}`);
      assert.equal(error.name, 'ModelLoadError');
      assert.ok(error.message.includes(expected.file), `${JSON.stringify(error.message)} does not name ${expected.file}`);
      assert.deepEqual([error.file, error.role, error.failure], [expected.file, expected.role, expected.failure]);
      return true;
    });
  }
  const notFound = await createLlamaCppEngine({ modelPath: inScratch('missing.gguf'), llama }).catch((error: unknown) => error);
  assert.ok(ModelLoadError.isInstance(notFound) && notFound.cause !== undefined);
});

test('the thread layout: one-thread contexts per core on two cores or fewer, else one context with every thread', () => {
  assert.deepEqual(threadLayout({}, 1, 2), { contexts: 1, threadsPerContext: 1 });
  assert.deepEqual(threadLayout({}, 16, 2), { contexts: 2, threadsPerContext: 1 });
  assert.deepEqual(threadLayout({}, 16, 1), { contexts: 1, threadsPerContext: 1 });
  assert.deepEqual(threadLayout({}, 16, 8), { contexts: 1, threadsPerContext: 8 });
  // Anything given explicitly is kept: threads split over the contexts, at least one each.
  assert.deepEqual(threadLayout({ threads: 2 }, 16, 2), { contexts: 1, threadsPerContext: 2 });
  assert.deepEqual(threadLayout({ threads: 8, parallelContexts: 3 }, 16, 8), { contexts: 3, threadsPerContext: 2 });
  assert.deepEqual(threadLayout({ parallelContexts: 4 }, 16, 2), { contexts: 4, threadsPerContext: 1 });
});
