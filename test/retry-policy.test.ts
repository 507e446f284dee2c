import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelayMs, DEFAULT_BACKOFF, isRetryableStatus, parseRetryAfterMs, retryAfterFromHeaders, retryDelayMs } from '../src/core/retry-policy.ts';

const NOW = Date.parse('2025-03-01T12:00:00Z');
const fixed = (value: number) => () => value;

test('isRetryableStatus: 408, 409, 429 and every 5xx; other statuses are final', () => {
  const cases: Array<[number, boolean]> = [
    [200, false], [400, false], [401, false], [403, false], [404, false], [408, true], [409, true], [410, false],
    [413, false], [422, false], [429, true], [500, true], [502, true], [503, true], [504, true], [599, true], [600, false],
  ];
  for (const [status, expected] of cases) assert.equal(isRetryableStatus(status), expected, `status ${status}`);
});

test('backoffDelayMs: full jitter under a doubling ceiling, capped', () => {
  const settings = { initialDelayMs: 100, maxDelayMs: 1_000, maxRetryAfterMs: 5_000 };
  const cases: Array<{ retry: number; draw: number; expected: number }> = [
    { retry: 1, draw: 0, expected: 0 },
    { retry: 1, draw: 0.5, expected: 50 },
    { retry: 2, draw: 0.5, expected: 100 },
    { retry: 3, draw: 0.5, expected: 200 },
    { retry: 4, draw: 0.999, expected: 799 },
    { retry: 5, draw: 0.5, expected: 500 }, // ceiling 1600 capped to 1000
    { retry: 2_000, draw: 0.5, expected: 500 }, // no overflow to NaN or Infinity
    { retry: 1, draw: 1.5, expected: 100 }, // a broken random source is clamped
    { retry: 1, draw: Number.NaN, expected: 0 },
  ];
  for (const { retry, draw, expected } of cases) assert.equal(backoffDelayMs(retry, fixed(draw), settings), expected, `retry ${retry} draw ${draw}`);
  assert.throws(() => backoffDelayMs(0, fixed(0.5)), RangeError);
  assert.throws(() => backoffDelayMs(1.5, fixed(0.5)), RangeError);
});

test('backoffDelayMs: defaults start at 500 ms and stop at 8 s', () => {
  assert.equal(backoffDelayMs(1, fixed(0.5)), 250);
  assert.equal(backoffDelayMs(10, fixed(0.5)), DEFAULT_BACKOFF.maxDelayMs / 2);
});

test('parseRetryAfterMs: delta-seconds and HTTP dates relative to the injected clock', () => {
  const cases: Array<{ value: string | null | undefined; expected: number | undefined }> = [
    { value: undefined, expected: undefined },
    { value: null, expected: undefined },
    { value: '', expected: undefined },
    { value: '0', expected: 0 },
    { value: '2', expected: 2_000 },
    { value: ' 120 ', expected: 120_000 },
    { value: '1.5', expected: 1_500 },
    { value: '-1', expected: undefined },
    { value: 'soon', expected: undefined },
    { value: '5 seconds', expected: undefined },
    { value: 'Sat, 01 Mar 2025 12:00:03 GMT', expected: 3_000 }, // IMF-fixdate
    { value: 'Saturday, 01-Mar-25 12:00:10 GMT', expected: 10_000 }, // RFC 850
    { value: 'Sat Mar  1 12:01:00 2025', expected: Date.parse('Sat Mar  1 12:01:00 2025') - NOW }, // asctime (read as local time)
    { value: 'Sat, 01 Mar 2025 11:59:00 GMT', expected: 0 }, // in the past
    { value: 'Sat, 99 Foo 2025 12:00:00 GMT', expected: undefined },
  ];
  for (const { value, expected } of cases) assert.equal(parseRetryAfterMs(value, NOW), expected, `Retry-After ${JSON.stringify(value)}`);
});

test('retryDelayMs: the server’s Retry-After wins, capped; otherwise backoff', () => {
  const settings = { initialDelayMs: 100, maxDelayMs: 1_000, maxRetryAfterMs: 5_000 };
  const cases: Array<{ retry: number; retryAfterMs?: number; expected: number }> = [
    { retry: 1, retryAfterMs: 2_000, expected: 2_000 },
    { retry: 1, retryAfterMs: 0, expected: 0 },
    { retry: 3, retryAfterMs: 3_600_000, expected: 5_000 },
    { retry: 2, retryAfterMs: -5, expected: 0 },
    { retry: 2, expected: 100 },
    { retry: 2, retryAfterMs: Number.NaN, expected: 100 },
  ];
  for (const { retry, retryAfterMs, expected } of cases) {
    assert.equal(retryDelayMs({ retry, retryAfterMs, random: fixed(0.5), settings }), expected, `retry ${retry}, Retry-After ${retryAfterMs}`);
  }
});

test('retryAfterFromHeaders: OpenAI\'s retry-after-ms first, then Retry-After (seconds or a date), else nothing', () => {
  const headers = (values: Record<string, string>) => (name: string): string | null => values[name] ?? null;
  const now = Date.parse('2026-11-30T12:00:00Z');
  assert.equal(retryAfterFromHeaders(headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now), 250);
  assert.equal(retryAfterFromHeaders(headers({ 'retry-after-ms': 'soon', 'retry-after': '9' }), now), 9000);
  assert.equal(retryAfterFromHeaders(headers({ 'retry-after': 'Mon, 30 Nov 2026 12:00:03 GMT' }), now), 3000);
  assert.equal(retryAfterFromHeaders(headers({}), now), undefined);
});
