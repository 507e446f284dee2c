import { calcPrice } from '@pydantic/genai-prices';
import type { Cost, TokenUsage } from '../../contracts/provider.ts';

/** A price the user sets for a model (a negotiated rate, a model the catalog lacks); wins over the catalog. */
export interface PriceOverride {
  /** Our provider id (`openai`, `together`, ...); absent: any provider. */
  provider?: string;
  model: string;
  inputUsdPerMillion: number;
  outputUsdPerMillion: number;
  /** Price of prompt tokens served from the upstream's cache; default: the input price. */
  cachedInputUsdPerMillion?: number;
}

/** Catalog prices a pricer remembers, by model and token counts: a gateway sees the same few counts again and again. */
const MEMO_ENTRIES = 4096;

/**
 * Prices hosted models from the @pydantic/genai-prices catalog (bundled data, no network) by provider and
 * model, after the user's overrides. A model neither knows is `unknown`, never 0.
 * `catalogProvider` is the genai-prices provider id (`openai`, `anthropic`, `together`, `fireworks`, `groq`, ...);
 * absent, the catalog guesses from the model name.
 */
export function createHostedPricer(options: { provider: string; catalogProvider?: string; overrides?: readonly PriceOverride[] }): (usage: TokenUsage, model: string) => Cost {
  const overrides = options.overrides ?? [];
  const memo = new Map<string, Cost>();
  return (usage, model) => {
    // Upstreams answer with dated snapshots (`gpt-4o-mini-2024-07-18` for `gpt-4o-mini`): an override names the family.
    const override = overrides.find(
      (entry) => (entry.model === model || model.startsWith(`${entry.model}-`)) && (entry.provider === undefined || entry.provider === options.provider),
    );
    const cached = Math.min(usage.cachedPromptTokens ?? 0, usage.promptTokens);
    if (override !== undefined) {
      const inputUsd =
        ((usage.promptTokens - cached) * override.inputUsdPerMillion + cached * (override.cachedInputUsdPerMillion ?? override.inputUsdPerMillion)) / 1e6;
      const outputUsd = (usage.completionTokens * override.outputUsdPerMillion) / 1e6;
      return { kind: 'priced', usd: inputUsd + outputUsd, inputUsd, outputUsd, source: 'override', detail: `${options.provider} ${override.model} (configured price)` };
    }
    // calcPrice walks the catalog on every call (a measurable share of a gateway's CPU per request); the same
    // model and token counts always price the same, so recent answers are remembered exactly.
    const key = `${model}\u0000${usage.promptTokens}\u0000${usage.completionTokens}\u0000${cached}`;
    const remembered = memo.get(key);
    if (remembered !== undefined) return remembered;
    const cost = catalogPrice(usage, model, cached);
    if (memo.size >= MEMO_ENTRIES) memo.clear();
    memo.set(key, cost);
    return cost;
  };

  function catalogPrice(usage: TokenUsage, model: string, cached: number): Cost {
    let price: ReturnType<typeof calcPrice>;
    try {
      price = calcPrice(
        { input_tokens: usage.promptTokens, output_tokens: usage.completionTokens, ...(cached > 0 ? { cache_read_tokens: cached } : {}) },
        model,
        options.catalogProvider === undefined ? {} : { providerId: options.catalogProvider },
      );
    } catch (error) {
      return { kind: 'unknown', reason: `genai-prices could not price ${model}: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (price === null) {
      return {
        kind: 'unknown',
        reason: `no price for ${options.catalogProvider ?? options.provider} model ${JSON.stringify(model)} in genai-prices; add one under pricing.overrides`,
      };
    }
    return {
      kind: 'priced',
      usd: price.total_price,
      inputUsd: price.input_price,
      outputUsd: price.output_price,
      source: 'genai-prices',
      detail: `${price.provider.id} ${price.model.id}`,
    };
  }
}
