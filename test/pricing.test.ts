import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHostedPricer } from '../src/adapters/pricing/hosted-prices.ts';
import { servingCost } from '../src/core/serving-cost.ts';

test('hosted models are priced from the genai-prices catalog by provider and model', () => {
  const price = createHostedPricer({ provider: 'openai', catalogProvider: 'openai' });
  const cost = price({ promptTokens: 1000, completionTokens: 100 }, 'gpt-4o-mini');
  assert.equal(cost.kind, 'priced');
  if (cost.kind !== 'priced') return;
  // gpt-4o-mini's list price: $0.15 per million input tokens, $0.60 per million output tokens.
  assert.ok(Math.abs(cost.inputUsd - 0.00015) < 1e-12 && Math.abs(cost.outputUsd - 0.00006) < 1e-12, JSON.stringify(cost));
  assert.equal(cost.source, 'genai-prices');
  const cached = price({ promptTokens: 1000, completionTokens: 100, cachedPromptTokens: 800 }, 'gpt-4o-mini');
  assert.ok(cached.kind === 'priced' && cached.inputUsd < cost.inputUsd, 'cache reads are cheaper than fresh input');
});

test('a configured override wins over the catalog; an unknown model is "unknown" with a reason, never 0', () => {
  const price = createHostedPricer({
    provider: 'together',
    catalogProvider: 'together',
    overrides: [{ model: 'our-finetune', inputUsdPerMillion: 0.2, outputUsdPerMillion: 0.4, cachedInputUsdPerMillion: 0.05 }],
  });
  const overridden = price({ promptTokens: 2_000_000, completionTokens: 1_000_000, cachedPromptTokens: 1_000_000 }, 'our-finetune');
  assert.deepEqual(overridden, { kind: 'priced', usd: 0.65, inputUsd: 0.25, outputUsd: 0.4, source: 'override', detail: 'together our-finetune (configured price)' });
  const unknown = price({ promptTokens: 10, completionTokens: 10 }, 'no-such-model-anywhere');
  assert.equal(unknown.kind, 'unknown');
  assert.ok(unknown.kind === 'unknown' && /pricing\.overrides/.test(unknown.reason));
  const otherProvider = createHostedPricer({ provider: 'openai', overrides: [{ provider: 'together', model: 'our-finetune', inputUsdPerMillion: 1, outputUsdPerMillion: 1 }] });
  assert.equal(otherProvider({ promptTokens: 1, completionTokens: 1 }, 'our-finetune').kind, 'unknown', 'an override for another provider does not apply');
});

test('the serving cost model charges machine time: prompt at the prefill rate, completion at the decode rate', () => {
  const cases = [
    { usage: { promptTokens: 1000, completionTokens: 100 }, usdPerHour: 3.6, prefill: 1000, decode: 100, inputUsd: 0.001, outputUsd: 0.001 },
    { usage: { promptTokens: 1000, completionTokens: 0, cachedPromptTokens: 900 }, usdPerHour: 3.6, prefill: 100, decode: 10, inputUsd: 0.001, outputUsd: 0 },
    { usage: { promptTokens: 0, completionTokens: 3600 }, usdPerHour: 1, prefill: 1, decode: 1, inputUsd: 0, outputUsd: 1 },
  ];
  for (const entry of cases) {
    const cost = servingCost({ usdPerHour: entry.usdPerHour, prefillTokensPerSecond: entry.prefill, decodeTokensPerSecond: entry.decode, rateSource: 'configured' }, entry.usage);
    assert.ok(cost.kind === 'priced', JSON.stringify(cost));
    assert.ok(Math.abs(cost.inputUsd - entry.inputUsd) < 1e-12 && Math.abs(cost.outputUsd - entry.outputUsd) < 1e-12, JSON.stringify(cost));
    assert.ok(Math.abs(cost.usd - entry.inputUsd - entry.outputUsd) < 1e-12);
  }
  for (const broken of [{ decode: 0 }, { decode: Number.NaN }, { usdPerHour: -1 }]) {
    const cost = servingCost({ usdPerHour: 1, prefillTokensPerSecond: 10, decodeTokensPerSecond: 10, rateSource: 'configured', ...('decode' in broken ? { decodeTokensPerSecond: broken.decode } : {}), ...('usdPerHour' in broken ? { usdPerHour: broken.usdPerHour } : {}) }, { promptTokens: 1, completionTokens: 1 });
    assert.equal(cost.kind, 'unknown', JSON.stringify(broken));
  }
});
