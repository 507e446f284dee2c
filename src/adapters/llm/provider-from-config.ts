import type { ChatProvider } from '../../contracts/provider.ts';
import type { PricingConfig, ProviderConfig } from '../../contracts/config.ts';
import { EnvironmentError } from '../../core/errors.ts';
import { createHostedPricer } from '../pricing/hosted-prices.ts';
import { createOpenAiCompatibleProvider } from './openai-compatible-provider.ts';

/**
 * The provider a workspace config names (`providers.<name>`), priced by `pricing`. The API key is read from the
 * environment variable the config names; a missing variable is an error that names both.
 */
export function createProviderFromConfig(
  name: string,
  config: ProviderConfig,
  pricing: PricingConfig,
  options: { environment?: NodeJS.ProcessEnv; fetch?: typeof globalThis.fetch } = {},
): ChatProvider {
  const environment = options.environment ?? process.env;
  let apiKey: string | undefined;
  if (config.apiKeyEnv !== undefined) {
    apiKey = environment[config.apiKeyEnv];
    if (apiKey === undefined || apiKey === '') {
      throw new EnvironmentError(`the environment variable ${config.apiKeyEnv} is not set`, {
        field: `providers.${name}.apiKeyEnv`,
        hint: `export ${config.apiKeyEnv}=… (the key is read from the environment, never from the config file)`,
      });
    }
  }
  return createOpenAiCompatibleProvider({
    id: name,
    baseUrl: config.baseUrl,
    model: config.model,
    ...(apiKey === undefined ? {} : { apiKey }),
    maxConcurrency: config.maxConcurrency,
    timeoutMs: config.timeoutMs,
    maxRetries: config.maxRetries,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    price: createHostedPricer({
      provider: name,
      ...(config.priceAs === undefined ? {} : { catalogProvider: config.priceAs }),
      overrides: pricing.overrides,
    }),
  });
}
