import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadCustomScorer } from '../src/adapters/custom-scorer.ts';
import { InvalidInputError } from '../src/core/errors.ts';

const directory = mkdtempSync(path.join(tmpdir(), 'understudy-custom-scorer-'));
after(() => rmSync(directory, { recursive: true, force: true }));

let counter = 0;
/** Writes a module with this source to a fresh file (a fresh URL, so no module cache is shared). */
function moduleFile(source: string, extension = '.mjs'): string {
  counter += 1;
  const file = path.join(directory, `scorer-${counter}${extension}`);
  writeFileSync(file, source);
  return file;
}

const example = { id: 7, input: 'send £100 to Ada' };

test('a default export returning numbers, booleans or objects becomes a checked scorer', async () => {
  const file = moduleFile(`
    export default function score(output, gold, example) {
      if (output === 'bool-true') return true;
      if (output === 'bool-false') return false;
      if (output === 'object') return { score: 0.25, detail: 'partial for ' + example.input };
      if (output === 'object-pass') return { score: 0.1, pass: true };
      return output.includes(gold) ? 1 : 0.4;
    }
  `);
  const scorer = await loadCustomScorer(file);
  assert.deepEqual(await scorer('it is £100', '£100', example), { score: 1, pass: true });
  assert.deepEqual(await scorer('nothing', '£100', example), { score: 0.4, pass: false }, 'below the default threshold 0.5');
  assert.deepEqual(await scorer('bool-true', '', example), { score: 1, pass: true });
  assert.deepEqual(await scorer('bool-false', '', example), { score: 0, pass: false });
  assert.deepEqual(await scorer('object', '', example), { score: 0.25, pass: false, detail: 'partial for send £100 to Ada' });
  assert.deepEqual(await scorer('object-pass', '', example), { score: 0.1, pass: true }, 'an explicit pass wins over the threshold');
  const lenient = await loadCustomScorer(file, { passThreshold: 0.3 });
  assert.deepEqual(await lenient('nothing', '£100', example), { score: 0.4, pass: true });
});

test('an async default export is awaited', async () => {
  const scorer = await loadCustomScorer(moduleFile('export default async (output) => { await new Promise((r) => setTimeout(r, 5)); return output.length > 3; };'));
  assert.deepEqual(await scorer('long enough', '', example), { score: 1, pass: true });
  assert.deepEqual(await scorer('no', '', example), { score: 0, pass: false });
});

test('a relative path resolves against the working directory', async () => {
  const file = moduleFile('export default () => 1;');
  const scorer = await loadCustomScorer(path.relative(process.cwd(), file));
  assert.deepEqual(await scorer('', '', example), { score: 1, pass: true });
});

async function refusedAtLoad(file: string, message: RegExp): Promise<void> {
  await assert.rejects(loadCustomScorer(file, { field: 'evaluation.scorers.0.module' }), (error) => {
    assert.ok(error instanceof InvalidInputError, String(error));
    assert.equal(error.file, path.resolve(file));
    assert.equal(error.field, 'evaluation.scorers.0.module');
    assert.match(error.message, message);
    assert.match(String(error.hint), /export default function \(output, gold, example\)/);
    return true;
  });
}

test('a wrong module is refused at load with an error naming the file', async () => {
  await refusedAtLoad(path.join(directory, 'missing.mjs'), /does not exist/);
  await refusedAtLoad(moduleFile('export const score = () => 1;'), /default export is undefined/);
  await refusedAtLoad(moduleFile('export default 42;'), /default export is number 42/);
  await refusedAtLoad(moduleFile('export default { score: 1 };'), /default export is the object \{"score":1\}/);
  await refusedAtLoad(moduleFile('export default (output => ;'), /failed to load/);
  await refusedAtLoad(moduleFile('throw new Error("boom at import");'), /failed to load: boom at import/);
});

test('a wrong return value or a throw is refused on the call, naming the file and the example', async () => {
  const file = moduleFile(`
    export default (output) => {
      if (output === 'throw') throw new Error('scorer bug');
      if (output === 'big') return 1.5;
      if (output === 'text') return 'yes';
      if (output === 'nan') return Number.NaN;
      if (output === 'bad-pass') return { score: 1, pass: 'yes' };
      if (output === 'no-score') return { pass: true };
      return null;
    };
  `);
  const scorer = await loadCustomScorer(file);
  const cases: [string, RegExp][] = [
    ['throw', /threw on example 7: scorer bug/],
    ['big', /returned number 1\.5 for example 7: a score must be a number in \[0, 1\]/],
    ['text', /returned the string "yes"/],
    ['nan', /returned number NaN/],
    ['bad-pass', /`pass` must be a boolean/],
    ['no-score', /`score` must be a number/],
    ['null', /returned null/],
  ];
  for (const [output, message] of cases) {
    await assert.rejects(scorer(output, '', example), (error) => {
      assert.ok(error instanceof InvalidInputError, String(error));
      assert.equal(error.file, file);
      assert.match(error.message, message);
      return true;
    });
  }
  await assert.rejects(scorer('throw', '', { input: 'x' }), /threw on an example/);
});

test('passThreshold outside [0, 1] is a RangeError', async () => {
  await assert.rejects(loadCustomScorer(moduleFile('export default () => 1;'), { passThreshold: 2 }), RangeError);
});
