import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLlamaCppEngine, type LlamaCppEngine } from '../src/adapters/llm/llama-cpp-engine.ts';
import { compileResolvedChatTemplate, resolveChatTemplate } from '../src/adapters/models/chat-template-source.ts';
import { openTokenCounter, type TokenCounter } from '../src/adapters/token-counter.ts';
import type { ChatTemplate } from '../src/core/chat-template.ts';
import type { ChatMessage } from '../src/contracts/worker.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import { testModelPath } from './helpers/assets.ts';

let template: ChatTemplate;
let counter: TokenCounter;
let engine: LlamaCppEngine;

before(async () => {
  template = compileResolvedChatTemplate(await resolveChatTemplate(testModelPath()));
  counter = await openTokenCounter({ ggufPath: testModelPath(), chatTemplate: template });
  engine = await createLlamaCppEngine({ modelPath: testModelPath(), threads: 1, contextSize: 512, chatTemplate: template.source });
});

after(async () => {
  await counter.close();
  await engine.dispose();
});

const conversations: ChatMessage[][] = [
  [{ role: 'system', content: 'Classify the message.' }, { role: 'user', content: 'I am still waiting on my card?' }, { role: 'assistant', content: 'card_arrival' }],
  [{ role: 'user', content: 'Où est ma carte ? 💳 Ünïcödé' }, { role: 'assistant', content: '{"intents":["new","pin"],"slots":{}}' }],
  [{ role: 'system', content: 'Classify.' }, { role: 'user', content: 'unlabeled input awaiting an answer' }],
];

test('countChat equals the token count of the embedded engine for the same rendered conversation', () => {
  for (const messages of conversations) {
    const endsWithAnswer = messages.at(-1)!.role === 'assistant';
    const rendered = template.render(messages, { addGenerationPrompt: !endsWithAnswer });
    const expected = engine.tokenize(rendered).length;
    assert.equal(counter.countChat(messages), expected, JSON.stringify(messages));
    assert.ok(expected > 5);
  }
  // An unanswered conversation is counted as served: with the generation prompt the engine renders for it.
  const unanswered = conversations[2]!;
  assert.equal(counter.countChat(unanswered), engine.tokenize(engine.renderMessages(unanswered)).length);
});

test('countChat counts the chat template itself, and special tokens as one token each', () => {
  const bare = engine.tokenize('card_arrival').length;
  const withTemplate = counter.countChat([{ role: 'system', content: 'x' }, { role: 'user', content: 'y' }, { role: 'assistant', content: 'card_arrival' }]);
  // <|im_start|> and <|im_end|> are single tokens: three turns add a small, fixed overhead, not the tags' spelling.
  assert.ok(withTemplate > bare + 6 && withTemplate < bare + 20, `${withTemplate} vs ${bare}`);
});

test('a conversation the template refuses throws an InvalidInputError; a closed counter refuses to count', async () => {
  const gemmaLike = await openTokenCounter({
    ggufPath: testModelPath(),
    chatTemplate: { source: 'x', render: () => { throw new InvalidInputError('the chat template refused the conversation: roles'); } },
  });
  assert.throws(() => gemmaLike.countChat([{ role: 'user', content: 'a' }]), InvalidInputError);
  await gemmaLike.close();
  assert.throws(() => gemmaLike.countChat([{ role: 'user', content: 'a' }]), /closed/);
  await gemmaLike.close();
});

test('a file that is not a GGUF is an InvalidInputError naming it', async () => {
  await assert.rejects(openTokenCounter({ ggufPath: new URL(import.meta.url).pathname, chatTemplate: template }), (error: unknown) => error instanceof InvalidInputError && error.file === new URL(import.meta.url).pathname);
});
