import type { PricingConfig, TrainTarget } from '../../contracts/config.ts';
import type { ChatProvider } from '../../contracts/provider.ts';
import { createOpenAiCompatibleProvider } from '../llm/openai-compatible-provider.ts';
import { createHostedPricer, type PriceOverride } from '../pricing/hosted-prices.ts';
import type { HostedModelRecord } from '../store/sqlite-store.ts';
import { apiKeyFor } from './fine-tuning-service-from-target.ts';

/** The genai-prices provider id of each service's fine-tuned models. */
const CATALOG_PROVIDER: Record<HostedModelRecord['service'], string> = { 'openai-finetune': 'openai', 'together-finetune': 'together' };

export interface HostedModelProviderOptions {
  /** Read for the model's `apiKeyEnv`; default `process.env`. */
  environment?: NodeJS.ProcessEnv;
  fetch?: typeof globalThis.fetch;
  /**
   * The config's current `targets` (the run's target may have prices set or changed since it finished): its
   * `inputUsdPerMillion`/`outputUsdPerMillion` win over those stored with the model; both are needed to count.
   */
  targets?: Readonly<Record<string, TrainTarget>>;
}

/**
 * A model fine-tuned at a hosted service, called like any OpenAI-compatible model: at the service's base URL, by its
 * fine-tuned name, with the key from the environment variable the run recorded. Priced by the target's configured
 * prices (the config's current ones, else those stored with the model), then `pricing.overrides`, then genai-prices;
 * else the cost is unknown.
 */
export function createHostedModelProvider(model: Omit<HostedModelRecord, 'runId' | 'createdAt'>, pricing: PricingConfig, options: HostedModelProviderOptions = {}): ChatProvider {
  const apiKey = apiKeyFor(model.target, model, options.environment);
  const current = options.targets?.[model.target];
  const target = current !== undefined && current.kind === model.service ? current : undefined;
  const input = target?.inputUsdPerMillion ?? model.inputUsdPerMillion ?? undefined;
  const output = target?.outputUsdPerMillion ?? model.outputUsdPerMillion ?? undefined;
  const configured: PriceOverride[] = input === undefined || output === undefined ? [] : [{ model: model.model, inputUsdPerMillion: input, outputUsdPerMillion: output }];
  return createOpenAiCompatibleProvider({
    id: model.target,
    baseUrl: model.baseUrl.replace(/\/+$/, ''),
    apiKey,
    model: model.model,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    price: createHostedPricer({ provider: model.target, catalogProvider: CATALOG_PROVIDER[model.service], overrides: [...configured, ...pricing.overrides] }),
  });
}
