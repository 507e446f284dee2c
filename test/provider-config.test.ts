import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfigText, parseConfigText } from '../src/adapters/config-file.ts';
import { createProviderFromConfig } from '../src/adapters/llm/provider-from-config.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { UnderstudyError } from '../src/core/errors.ts';
import path from 'node:path';
import { sendCompletion, startOpenAiCompatibleServer } from './helpers/openai-compatible-server.ts';

const dataDir = path.relative(PACKAGE_ROOT, EXAMPLES_BANKING77_DIR);
const withProviders = (block: string): string =>
  defaultConfigText(dataDir).replace('providers: {}', `providers:\n${block}`).replace('  overrides: []', '  overrides:\n    - { provider: frontier, model: gpt-4o-mini, inputUsdPerMillion: 1, outputUsdPerMillion: 2 }');

test('the default config has no providers and a serving price; providers and price overrides parse', () => {
  const defaults = parseConfigText(defaultConfigText(dataDir), 'defaults', PACKAGE_ROOT).config;
  assert.deepEqual(defaults.providers, {});
  assert.equal(defaults.pricing.serving?.usdPerHour, 0.2);
  const config = parseConfigText(withProviders('  frontier:\n    kind: openai-compatible\n    baseUrl: https://api.openai.com/v1\n    model: gpt-4o-mini\n    apiKeyEnv: OPENAI_API_KEY\n    priceAs: openai\n'), 'c.yaml', PACKAGE_ROOT).config;
  assert.equal(config.providers.frontier?.maxRetries, 4);
  assert.equal(config.pricing.overrides[0]?.inputUsdPerMillion, 1);
});

test('a bad provider entry names its line and field', () => {
  const text = withProviders('  frontier:\n    kind: openai-compatible\n    baseUrl: api.openai.com\n    model: gpt-4o-mini\n');
  const line = text.split('\n').findIndex((content) => content.includes('baseUrl: api.openai.com')) + 1;
  assert.throws(() => parseConfigText(text, 'c.yaml', PACKAGE_ROOT), (error: unknown) => {
    assert.ok(UnderstudyError.isInstance(error));
    assert.equal(error.field, 'providers.frontier.baseUrl');
    assert.equal(error.line, line);
    return true;
  });
});

test('a configured provider reads its key from the environment and prices by the override', async () => {
  const server = await startOpenAiCompatibleServer((_request, response) => sendCompletion(response, { text: 'card_arrival', model: 'gpt-4o-mini-2024-07-18', usage: { prompt_tokens: 1_000_000, completion_tokens: 500_000 } }));
  try {
    const config = parseConfigText(withProviders(`  frontier:\n    kind: openai-compatible\n    baseUrl: ${server.baseUrl}\n    model: gpt-4o-mini\n    apiKeyEnv: TEST_FRONTIER_KEY\n`), 'c.yaml', PACKAGE_ROOT).config;
    assert.throws(() => createProviderFromConfig('frontier', config.providers.frontier!, config.pricing, { environment: {} }), (error: unknown) => {
      assert.ok(UnderstudyError.isInstance(error));
      assert.equal(error.field, 'providers.frontier.apiKeyEnv');
      assert.match(error.message, /TEST_FRONTIER_KEY is not set/);
      return true;
    });
    const provider = createProviderFromConfig('frontier', config.providers.frontier!, config.pricing, { environment: { TEST_FRONTIER_KEY: 'sk-test-secret-123' } });
    const result = await provider.complete({ messages: [{ role: 'user', content: 'Where is my card?' }] });
    assert.equal(result.text, 'card_arrival');
    assert.equal(server.requests[0]!.headers.authorization, 'Bearer sk-test-secret-123');
    assert.deepEqual(result.cost, { kind: 'priced', usd: 2, inputUsd: 1, outputUsd: 1, source: 'override', detail: 'frontier gpt-4o-mini (configured price)' });
    await provider.close();
  } finally {
    await server.close();
  }
});
