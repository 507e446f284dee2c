import assert from 'node:assert/strict';
import test from 'node:test';
import { assignmentPosition, createCircuitBreaker, weightAt } from '../src/core/ab-assignment.ts';

test('assignment is sticky per key, uniform over keys, and a ramp only moves units to the candidate', () => {
  assert.equal(assignmentPosition('exp', 'user-1'), assignmentPosition('exp', 'user-1'));
  assert.notEqual(assignmentPosition('exp', 'user-1'), assignmentPosition('other-exp', 'user-1'));
  const positions = Array.from({ length: 20_000 }, (_, index) => assignmentPosition('exp', `user-${index}`));
  assert.ok(positions.every((position) => position >= 0 && position < 1));
  // Each tenth of [0, 1) holds 2,000 ± 5 standard deviations (sqrt(20000 × 0.1 × 0.9) = 42).
  for (let decile = 0; decile < 10; decile++) {
    const count = positions.filter((position) => position >= decile / 10 && position < (decile + 1) / 10).length;
    assert.ok(Math.abs(count - 2000) < 5 * 42.4, `decile ${decile}: ${count}`);
  }
  const inCandidate = (weight: number) => new Set(positions.flatMap((position, index) => (position < weight ? [index] : [])));
  const at10 = inCandidate(0.1);
  const at50 = inCandidate(0.5);
  assert.ok([...at10].every((unit) => at50.has(unit)));

  const ramp = [{ from: '2026-12-01T00:00:00Z', weight: 0.25 }, { from: '2026-12-08T00:00:00Z', weight: 0.5 }];
  assert.equal(weightAt(0.05, ramp, Date.parse('2026-11-30T00:00:00Z')), 0.05);
  assert.equal(weightAt(0.05, ramp, Date.parse('2026-12-02T00:00:00Z')), 0.25);
  assert.equal(weightAt(0.05, ramp, Date.parse('2026-12-09T00:00:00Z')), 0.5);
});

test('the circuit breaker opens after consecutive failures, lets one trial through after the cooldown, and closes on success', () => {
  let clock = 0;
  const breaker = createCircuitBreaker({ failures: 3, cooldownMs: 1000, now: () => clock });
  breaker.failure();
  breaker.failure();
  breaker.success();
  breaker.failure();
  breaker.failure();
  assert.equal(breaker.state(), 'closed', 'a success resets the count');
  breaker.failure();
  assert.equal(breaker.state(), 'open');
  assert.equal(breaker.allow(), false);
  clock = 1000;
  assert.equal(breaker.state(), 'half-open');
  assert.equal(breaker.allow(), true);
  assert.equal(breaker.allow(), false, 'one trial at a time');
  breaker.failure();
  assert.equal(breaker.state(), 'open', 'a failed trial reopens');
  clock = 2000;
  assert.equal(breaker.allow(), true);
  breaker.success();
  assert.equal(breaker.state(), 'closed');
  assert.equal(breaker.allow(), true);
});
