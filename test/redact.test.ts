import assert from 'node:assert/strict';
import test from 'node:test';
import { createRedactor, redactPii, redactSecrets } from '../src/core/redact.ts';

test('secrets are always redacted; personal data only when asked', () => {
  const text = 'my key is sk-proj-abcdefghijklmnop1234 and Authorization: Bearer abcdefghijklmnopqrstuvwx, AKIAABCDEFGHIJKLMNOP';
  assert.equal(redactSecrets(text), 'my key is [REDACTED_SECRET] and Authorization: [REDACTED_SECRET], [REDACTED_SECRET]');
  assert.equal(redactSecrets('a skeleton key is not a secret'), 'a skeleton key is not a secret');
  const personal = 'mail jo.doe+bank@example.co.uk, card 4111 1111 1111 1111, not a card 1234 5678 9012 3456, IBAN GB82 WEST 1234 5698 7654 32, call +44 20 7946 0958, order 12345';
  assert.equal(redactPii(personal), 'mail [EMAIL], card [CARD], not a card 1234 5678 9012 3456, IBAN [IBAN], call [PHONE], order 12345');
  assert.equal(createRedactor({ pii: false })(personal), personal);
  assert.equal(createRedactor({ pii: true })('sk-abcdefghijklmnopqrstu at x@y.io'), '[REDACTED_SECRET] at [EMAIL]');
});
