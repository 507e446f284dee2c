import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapConcurrently } from '../src/core/map-concurrently.ts';

test('mapConcurrently keeps input order, never exceeds the limit, and rejects on the first failure', async () => {
  let active = 0;
  let most = 0;
  const results = await mapConcurrently([30, 5, 20, 1, 10, 2], 3, async (delay, index) => {
    active += 1;
    most = Math.max(most, active);
    await sleep(delay);
    active -= 1;
    return `${index}:${delay}`;
  });
  assert.deepEqual(results, ['0:30', '1:5', '2:20', '3:1', '4:10', '5:2']);
  assert.equal(most, 3);
  assert.deepEqual(await mapConcurrently([], 4, async () => 1), []);
  await assert.rejects(mapConcurrently([1, 2, 3], 2, async (value) => {
    if (value === 2) throw new Error('two failed');
    return value;
  }), /two failed/);
  await assert.rejects(mapConcurrently([1], 0, async (value) => value), RangeError);
});
