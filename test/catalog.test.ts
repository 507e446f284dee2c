import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import * as nodeLlamaCpp from 'node-llama-cpp';
import { MODEL_CATALOG, findCatalogModel, requireCatalogModel } from '../src/adapters/models/catalog.ts';
import { builtInChatTemplate, type ChatTemplateFamily } from '../src/core/chat-template.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import { TEST_MODEL_IDS, testModelPath } from './helpers/assets.ts';

// Every chat-template family, checked against the type both ways: a family added to the type must be added here.
const FAMILIES = ['chatml', 'gemma', 'llama3', 'qwen2.5', 'qwen3', 'mistral', 'phi3', 'phi4'] as const satisfies readonly ChatTemplateFamily[];
const familiesComplete: Exclude<ChatTemplateFamily, (typeof FAMILIES)[number]> extends never ? true : false = true;

// Lowercase words joined by hyphens; a version number may keep its dot (qwen2.5-3b-instruct, mistral-7b-instruct-v0.3).
const SEGMENT = String.raw`(?:[a-z0-9]*[0-9]\.[0-9][a-z0-9]*|[a-z0-9]+)`;
const ID_PATTERN = new RegExp(`^${SEGMENT}(?:-${SEGMENT})*$`);
const offlineModels = MODEL_CATALOG.filter((model) => model.offline !== undefined);

// llama.cpp's architecture names as node-llama-cpp lists them. Its typings declare `GgufArchitectureType` a const enum,
// which cannot be enumerated; the package ships it as a plain object, read here at run time.
const architectureEnum: unknown = (nodeLlamaCpp as unknown as Record<string, unknown>).GgufArchitectureType;
const LLAMA_CPP_ARCHITECTURES: unknown[] = typeof architectureEnum === 'object' && architectureEnum !== null ? Object.values(architectureEnum) : [];

test('ids are unique and kebab-case', () => {
  assert.equal(familiesComplete, true);
  const ids = MODEL_CATALOG.map((model) => model.id);
  assert.equal(new Set(ids).size, ids.length, `duplicate ids in ${ids.join(', ')}`);
  for (const id of ids) assert.match(id, ID_PATTERN);
  for (const bad of ['Qwen2.5-3B', 'qwen_3', 'qwen3-', '-qwen3', 'qwen3--8b', 'qwen.3']) assert.doesNotMatch(bad, ID_PATTERN);
});

test('every entry names its hub checkpoint, model card and licence, with plausible sizes', () => {
  assert.ok(LLAMA_CPP_ARCHITECTURES.length > 50 && LLAMA_CPP_ARCHITECTURES.includes('llama'), 'node-llama-cpp lists the llama.cpp architectures');
  for (const model of MODEL_CATALOG) {
    const where = model.id;
    assert.match(model.hubId, /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/, where);
    assert.equal(model.modelCard, `https://huggingface.co/${model.hubId}`, where);
    assert.match(model.licenceUrl, /^https:\/\/\S+$/, where);
    assert.ok(model.licence.trim().length > 0 && model.displayName.trim().length > 0, where);
    assert.ok(FAMILIES.includes(model.chatTemplate), `${where}: unknown template family ${model.chatTemplate}`);
    assert.ok(LLAMA_CPP_ARCHITECTURES.includes(model.architecture), `${where}: ${model.architecture} is not a llama.cpp architecture`);
    assert.ok(Number.isInteger(model.parametersMillions) && model.parametersMillions > 0, where);
    assert.ok(Number.isInteger(model.contextLength) && model.contextLength >= 2048, where);
    if (model.note !== undefined) assert.ok(model.note.trim().length > 0, where);
    // A longer context reached with YaRN is a note; the field keeps the native length.
    if (model.note?.includes('YaRN') === true) assert.match(model.note, new RegExp(`^${model.contextLength.toLocaleString('en-US')} tokens native`), where);
  }
});

test('licences are SPDX ids where one exists, and custom licences keep their own name', () => {
  const spdx = new Set(['Apache-2.0', 'MIT']);
  for (const model of MODEL_CATALOG) {
    if (model.licence.startsWith('Llama')) assert.match(model.licence, /^Llama 3\.[0-9] Community License$/, model.id);
    else if (!['Gemma', 'Qwen Research License'].includes(model.licence)) assert.ok(spdx.has(model.licence), `${model.id}: ${model.licence}`);
  }
  assert.equal(requireCatalogModel('qwen2.5-3b-instruct').licence, 'Qwen Research License');
});

test('offline entries name a GGUF with its size and sha256, and every wheel holding it', () => {
  assert.ok(offlineModels.length >= 2);
  for (const model of offlineModels) {
    const offline = model.offline!;
    const where = model.id;
    assert.match(offline.sha256, /^[0-9a-f]{64}$/, where);
    assert.ok(Number.isInteger(offline.sizeBytes) && offline.sizeBytes > 0, where);
    assert.match(offline.fileName, /^[^/\\]+\.gguf$/, where);
    assert.ok(offline.quantization.length > 0 && offline.provenance.length > 0, where);
    const wheels = offline.kind === 'pypi-wheel' ? [offline] : offline.parts;
    if (offline.kind === 'pypi-parts') assert.ok(offline.parts.length >= 2, `${where}: a split file has at least two parts`);
    for (const wheel of wheels) {
      assert.match(wheel.package, /^[a-z0-9]+(?:[-_.][a-z0-9]+)*$/, where);
      assert.match(wheel.version, /^[0-9]+(?:\.[0-9]+)*$/, where);
      assert.ok(wheel.member.length > 0 && !wheel.member.startsWith('/') && !wheel.member.includes('..'), where);
    }
    assert.equal(new Set(wheels.map((wheel) => wheel.package)).size, wheels.length, `${where}: a wheel listed twice`);
  }
});

test('an offline model has a chat template: its GGUF brings one, or its family has a built-in one', () => {
  for (const model of offlineModels) {
    assert.ok(model.offline!.ggufHasChatTemplate || builtInChatTemplate(model.chatTemplate) !== undefined, `${model.id}: no chat template anywhere`);
  }
  assert.equal(requireCatalogModel('smollm2-135m-instruct').offline?.ggufHasChatTemplate, true);
  assert.equal(requireCatalogModel('gemma-3-270m').offline?.ggufHasChatTemplate, false);
});

test('the pulled GGUFs match the catalog: architecture, chat template present or not, size', async () => {
  // Every offline model is a test asset, so this reads each real file `npm run test:assets` pulled.
  assert.deepEqual([...offlineModels.map((model) => model.id)].sort(), [...TEST_MODEL_IDS].sort());
  for (const id of TEST_MODEL_IDS) {
    const model = requireCatalogModel(id);
    const file = testModelPath(id);
    assert.equal(statSync(file).size, model.offline!.sizeBytes, id);
    const info = await nodeLlamaCpp.readGgufFileInfo(file, { sourceType: 'filesystem', logWarnings: false });
    assert.equal(info.metadata.general.architecture, model.architecture, id);
    const template = info.metadata.tokenizer.chat_template;
    assert.equal(typeof template === 'string' && template.length > 0, model.offline!.ggufHasChatTemplate, `${id}: tokenizer.chat_template`);
  }
});

test('lookups: findCatalogModel returns undefined, requireCatalogModel names the known ids', () => {
  assert.equal(findCatalogModel('no-such-model'), undefined);
  assert.equal(findCatalogModel('gemma-3-270m')?.architecture, 'gemma3');
  assert.throws(() => requireCatalogModel('no-such-model', { field: 'baseModel.catalog' }), (error: unknown) => {
    assert.ok(error instanceof InvalidInputError);
    assert.equal(error.field, 'baseModel.catalog');
    assert.match(error.message, /unknown model "no-such-model"/);
    for (const model of MODEL_CATALOG) assert.ok(error.hint?.includes(model.id), `hint lacks ${model.id}`);
    return true;
  });
});
