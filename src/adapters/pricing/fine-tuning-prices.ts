/**
 * What hosted fine-tuning services charge to train, per million trained tokens (the training file's tokens × epochs),
 * for the models whose price we could source. It prices the estimate `understudy train --on <target>` shows before
 * a job starts; a target's `trainingUsdPerMillionTokens` wins over it, and a model not here is "unknown", never 0.
 *
 * OpenAI bills supervised fine-tuning per trained token (https://platform.openai.com/docs/pricing, "Fine-tuning").
 * Together prices by model size and method (https://www.together.ai/pricing); its sizes are not in a model's name,
 * so Together models are left to the config.
 */
import type { FineTuningServiceKind } from '../finetune/fine-tuning-service.ts';

export interface TrainingPrice {
  service: FineTuningServiceKind;
  /** The snapshot name the service lists. */
  model: string;
  /** Other names the service accepts for the same model. */
  aliases: readonly string[];
  usdPerMillionTokens: number;
  /** Where the price was read (URL). */
  source: string;
  /** The date on the source, or when it was read. */
  asOf: string;
  note?: string;
}

const OPENAI_PRICING = 'https://platform.openai.com/docs/pricing';
// A dated summary of OpenAI's fine-tuning prices ("All pricing verified ... against OpenAI's official documentation,
// April 2026"); it agrees with OpenAI's page for the two models below.
const TOKENMIX_2026_04 = 'https://tokenmix.ai/blog/openai-fine-tuning-pricing';

export const FINE_TUNING_TRAINING_PRICES: readonly TrainingPrice[] = [
  { service: 'openai-finetune', model: 'gpt-4o-mini-2024-07-18', aliases: ['gpt-4o-mini'], usdPerMillionTokens: 3, source: TOKENMIX_2026_04, asOf: '2026-04' },
  { service: 'openai-finetune', model: 'gpt-4o-2024-08-06', aliases: ['gpt-4o'], usdPerMillionTokens: 25, source: TOKENMIX_2026_04, asOf: '2026-04' },
  { service: 'openai-finetune', model: 'gpt-4.1-2025-04-14', aliases: ['gpt-4.1'], usdPerMillionTokens: 25, source: OPENAI_PRICING, asOf: '2025-06', note: 'as the page listed it in mid-2025; not re-read since' },
  { service: 'openai-finetune', model: 'gpt-4.1-mini-2025-04-14', aliases: ['gpt-4.1-mini'], usdPerMillionTokens: 5, source: OPENAI_PRICING, asOf: '2025-06', note: 'as the page listed it in mid-2025; not re-read since' },
  { service: 'openai-finetune', model: 'gpt-4.1-nano-2025-04-14', aliases: ['gpt-4.1-nano'], usdPerMillionTokens: 1.5, source: OPENAI_PRICING, asOf: '2025-06', note: 'as the page listed it in mid-2025; not re-read since' },
];

/** The table's price for training `model` at `service`, or undefined when it has none. */
export function trainingPriceFor(service: FineTuningServiceKind, model: string): TrainingPrice | undefined {
  return FINE_TUNING_TRAINING_PRICES.find((entry) => entry.service === service && (entry.model === model || entry.aliases.includes(model)));
}
