import type { Cost, TokenUsage } from '../contracts/provider.ts';

/**
 * What a self-hosted model costs per call: the machine's price per hour divided by what it gets done.
 * A call takes `prompt / prefill rate + completion / decode rate` seconds of the machine; at aggregate rates
 * (all concurrent sequences together) that is its share of the hour.
 */
export interface ServingCostModel {
  /** What the serving machine costs per hour, in US dollars (cloud price, or amortised hardware plus power). */
  usdPerHour: number;
  /** Prompt tokens evaluated per second. */
  prefillTokensPerSecond: number;
  /** Generated tokens per second, all concurrent sequences together. */
  decodeTokensPerSecond: number;
  /** Where the rates come from, e.g. `measured by this engine` or `configured`. */
  rateSource: string;
}

export function servingCost(model: ServingCostModel, usage: TokenUsage): Cost {
  for (const [field, value] of [
    ['usdPerHour', model.usdPerHour],
    ['prefillTokensPerSecond', model.prefillTokensPerSecond],
    ['decodeTokensPerSecond', model.decodeTokensPerSecond],
  ] as const) {
    if (!Number.isFinite(value) || value < 0 || (field !== 'usdPerHour' && value === 0)) {
      return { kind: 'unknown', reason: `the serving cost model has no usable ${field} (${value})` };
    }
  }
  const usdPerSecond = model.usdPerHour / 3600;
  const evaluated = usage.promptTokens - (usage.cachedPromptTokens ?? 0);
  const inputUsd = (evaluated / model.prefillTokensPerSecond) * usdPerSecond;
  const outputUsd = (usage.completionTokens / model.decodeTokensPerSecond) * usdPerSecond;
  return {
    kind: 'priced',
    usd: inputUsd + outputUsd,
    inputUsd,
    outputUsd,
    source: 'serving-cost-model',
    detail: `$${model.usdPerHour}/h at ${round(model.prefillTokensPerSecond)} prefill and ${round(model.decodeTokensPerSecond)} decode tok/s (${model.rateSource})`,
  };
}

function round(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}
