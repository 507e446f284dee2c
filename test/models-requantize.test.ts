import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseConfigText, defaultConfigText } from '../src/adapters/config-file.ts';
import { createLlamaCppEngine } from '../src/adapters/llm/llama-cpp-engine.ts';
import { pullCatalogModel } from '../src/adapters/models/acquire.ts';
import { requantizedPath } from '../src/adapters/models/requantize.ts';
import { sha256File } from '../src/adapters/file-hash.ts';
import { PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { resolveBaseModel } from '../src/pipeline/run-slice.ts';
import { testModelPath } from './helpers/assets.ts';

const cli = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');
const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-requantize-'));
after(() => rmSync(directory, { recursive: true, force: true }));

function run(args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000 });
  const lines = result.stdout.trim().split('\n');
  return { status: result.status, last: JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>, stderr: result.stderr };
}

test('models requantize writes a Q4_0 copy that llama.cpp loads and answers with, and refuses to overwrite', async () => {
  const out = path.join(directory, 'smol-q4_0.gguf');
  const { status, last, stderr } = run(['models', 'requantize', testModelPath(), '--out', out, '--json']);
  assert.equal(status, 0, stderr);
  assert.equal(last.ok, true);
  assert.equal(last.path, out);
  assert.deepEqual(last.convertedTensors, { Q4_1: 210, Q8_0: 1 });
  assert.equal(last.sha256, await sha256File(out));
  assert.ok(Number(last.relativeRmsChange) > 0.01 && Number(last.relativeRmsChange) < 0.2, `relative RMS change ${String(last.relativeRmsChange)}`);
  // Q4_0 packs 32 weights in 18 bytes, Q4_1 in 20: the copy is smaller than the original.
  assert.ok(statSync(out).size < statSync(testModelPath()).size);
  assert.deepEqual(readdirSync(directory).filter((name) => name.includes('partial')), []);

  const engine = await createLlamaCppEngine({ modelPath: out, sequences: 4, threads: 2, contextSize: 256 });
  try {
    const prompt = engine.renderMessages([{ role: 'user', content: 'Which is bigger, 2 or 3?' }]);
    const answers = await Promise.all(Array.from({ length: 4 }, () => engine.generate({ prompt, labels: ['2', '3'], maxTokens: 4 })));
    for (const answer of answers) assert.ok(['2', '3'].includes(answer.text), answer.text);
    assert.equal(new Set(answers.map((answer) => answer.text)).size, 1, 'greedy answers on parallel sequences agree');
    const free = await engine.generate({ prompt: engine.renderMessages([{ role: 'user', content: 'Name a colour.' }]), maxTokens: 12 });
    assert.ok(free.completionTokens > 0 && free.text.trim().length > 0);
  } finally {
    await engine.dispose();
  }

  const again = run(['models', 'requantize', testModelPath(), '--out', out, '--json']);
  assert.equal(again.status, 2);
  assert.match(String(again.last.error), /exists/);
  const missing = run(['models', 'requantize', 'no-such-model', '--json']);
  assert.equal(missing.status, 2);
  assert.match(String(missing.last.error), /neither a catalog id nor a GGUF file/);
});

test('baseModel.requantize: q4_0 resolves a catalog base to its Q4_0 copy beside the pulled file, made once', async () => {
  const text = defaultConfigText().replace(/baseModel:\n\s+catalog: ([\w.-]+)/, (_match, id: string) => `baseModel:\n  catalog: ${id}\n  requantize: q4_0`);
  assert.match(text, /requantize: q4_0/, 'the default config names its base by catalog id');
  const loaded = parseConfigText(text, 'understudy.yaml', PACKAGE_ROOT);
  const base = await resolveBaseModel(loaded);
  assert.equal(base.ggufPath, requantizedPath((await pullCatalogModel('smollm2-135m-instruct')).ggufPath));
  assert.ok(existsSync(base.ggufPath));
  assert.equal(base.sha256, await sha256File(base.ggufPath));
  const modified = statSync(base.ggufPath).mtimeMs;
  assert.equal((await resolveBaseModel(loaded)).ggufPath, base.ggufPath);
  assert.equal(statSync(base.ggufPath).mtimeMs, modified, 'the copy is reused, not made again');
});
