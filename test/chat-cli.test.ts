import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { testModelPath } from './helpers/assets.ts';

const cli = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');

function run(args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 180_000 });
  const lines = result.stdout.trim().split('\n');
  return { status: result.status, last: JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>, stderr: result.stderr };
}

test('understudy chat --message answers once; --json ends with one result object', () => {
  const { status, last } = run(['chat', '--model', testModelPath(), '--message', 'Which is bigger, 2 or 3?', '--labels', '2,3', '--json']);
  assert.equal(status, 0);
  assert.equal(last.ok, true);
  const turns = last.turns as { text: string; usage: { promptTokens: number }; cost: { kind: string } }[];
  assert.equal(turns.length, 1);
  assert.ok(['2', '3'].includes(turns[0]!.text));
  assert.ok(turns[0]!.usage.promptTokens > 0);
  assert.equal(turns[0]!.cost.kind, 'unknown', 'no machine price given: the cost is unknown, not 0');
});

test('understudy chat with an unknown model fails with exit 2 and a message naming the option', () => {
  const { status, last } = run(['chat', '--model', 'no-such-model', '--message', 'hi', '--json']);
  assert.equal(status, 2);
  assert.equal(last.ok, false);
  assert.match(String(last.error), /neither a catalog id nor a GGUF file/);
});
