// Where a base model's chat template comes from: its GGUF's own, else the catalog family's built-in, else a clear error.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { requireCatalogModel } from '../src/adapters/models/catalog.ts';
import { compileResolvedChatTemplate, resolveChatTemplate } from '../src/adapters/models/chat-template-source.ts';
import { GEMMA_CHAT_TEMPLATE } from '../src/core/chat-template.ts';
import { sha256Hex } from '../src/core/content-hash.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import { testModelPath } from './helpers/assets.ts';

const gemmaPath = (): string => process.env.UNDERSTUDY_TEST_GEMMA_GGUF || testModelPath('gemma-3-270m');

test('a GGUF that carries a template gives its own, with its BOS/EOS texts, whatever the family', async () => {
  const resolved = await resolveChatTemplate(testModelPath(), { family: 'gemma' });
  assert.equal(resolved.origin, 'gguf');
  assert.match(resolved.source, /<\|im_start\|>/);
  assert.equal(resolved.sha256, sha256Hex(resolved.source));
  assert.deepEqual([resolved.bosToken, resolved.eosToken], ['<|im_start|>', '<|im_end|>']);
  // SmolLM2's template adds its default system turn.
  const text = compileResolvedChatTemplate(resolved).render([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true });
  assert.match(text, /^<\|im_start\|>system\nYou are a helpful AI assistant named SmolLM/);
});

test('a GGUF without a template gets its catalog family\'s built-in one, rendered with the GGUF\'s BOS', async () => {
  const resolved = await resolveChatTemplate(gemmaPath(), { family: requireCatalogModel('gemma-3-270m').chatTemplate });
  assert.deepEqual([resolved.origin, resolved.family, resolved.source], ['built-in', 'gemma', GEMMA_CHAT_TEMPLATE]);
  assert.deepEqual([resolved.bosToken, resolved.eosToken], ['<bos>', '<eos>']);
  const text = compileResolvedChatTemplate(resolved).render([{ role: 'system', content: 'Classify.' }, { role: 'user', content: 'I lost my card' }], { addGenerationPrompt: true });
  assert.equal(text, '<bos><start_of_turn>user\nClassify.\n\nI lost my card<end_of_turn>\n<start_of_turn>model\n');
});

test('a GGUF without a template and without a usable family is refused, naming the file and how to choose one', async () => {
  for (const family of [undefined, 'llama3'] as const) {
    await assert.rejects(resolveChatTemplate(gemmaPath(), { family }), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.match(error.message, /^the model has no chat template: /);
      assert.ok(error.message.includes(gemmaPath()));
      assert.equal(error.file, gemmaPath());
      assert.match(error.hint ?? '', /chatTemplate: .* under baseModel in understudy\.yaml \(built-in templates: .*gemma/);
      return true;
    });
  }
});

test('a file that is not a GGUF is an InvalidInputError naming it', async () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-template-'));
  const file = path.join(directory, 'not.gguf');
  writeFileSync(file, 'not a gguf at all');
  await assert.rejects(resolveChatTemplate(file), (error: unknown) => error instanceof InvalidInputError && error.file === file);
});
