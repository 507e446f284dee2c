/**
 * What hosted fine-tuning services charge to train, per million trained tokens (the training file's tokens × epochs),
 * for the models whose price we could source. It prices the estimate `understudy train --on <target>` shows before
 * a job starts; a target's `trainingUsdPerMillionTokens` wins over it, and a model not here is "unknown", never 0.
 * Prices change and these rows are not verified against the live pages: the estimate says so, and a target that
 * will really be billed should set `trainingUsdPerMillionTokens` from the service's page.
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
// A third-party summary of OpenAI's fine-tuning prices, dated April 2026 by its author; not OpenAI's own page.
const TOKENMIX_2026_04 = 'https://tokenmix.ai/blog/openai-fine-tuning-pricing';
/** Shown with every price from this table: the rows were not re-read against the services' live pages. */
const UNVERIFIED = 'not verified against the live page';

// Each row: where its price was read and the date of that source. None was checked against the service's live page
// when this table was last edited; a target's `trainingUsdPerMillionTokens` is the way to use a checked price.
export const FINE_TUNING_TRAINING_PRICES: readonly TrainingPrice[] = [
  // Source: tokenmix.ai summary (third party), dated 2026-04.
  { service: 'openai-finetune', model: 'gpt-4o-mini-2024-07-18', aliases: ['gpt-4o-mini'], usdPerMillionTokens: 3, source: TOKENMIX_2026_04, asOf: '2026-04', note: `a third-party summary; ${UNVERIFIED}` },
  // Source: tokenmix.ai summary (third party), dated 2026-04.
  { service: 'openai-finetune', model: 'gpt-4o-2024-08-06', aliases: ['gpt-4o'], usdPerMillionTokens: 25, source: TOKENMIX_2026_04, asOf: '2026-04', note: `a third-party summary; ${UNVERIFIED}` },
  // Source: OpenAI's pricing page as it read in mid-2025 (2025-06); not re-read since.
  { service: 'openai-finetune', model: 'gpt-4.1-2025-04-14', aliases: ['gpt-4.1'], usdPerMillionTokens: 25, source: OPENAI_PRICING, asOf: '2025-06', note: `as the page listed it in mid-2025, not re-read since; ${UNVERIFIED}` },
  // Source: OpenAI's pricing page as it read in mid-2025 (2025-06); not re-read since.
  { service: 'openai-finetune', model: 'gpt-4.1-mini-2025-04-14', aliases: ['gpt-4.1-mini'], usdPerMillionTokens: 5, source: OPENAI_PRICING, asOf: '2025-06', note: `as the page listed it in mid-2025, not re-read since; ${UNVERIFIED}` },
  // Source: OpenAI's pricing page as it read in mid-2025 (2025-06); not re-read since.
  { service: 'openai-finetune', model: 'gpt-4.1-nano-2025-04-14', aliases: ['gpt-4.1-nano'], usdPerMillionTokens: 1.5, source: OPENAI_PRICING, asOf: '2025-06', note: `as the page listed it in mid-2025, not re-read since; ${UNVERIFIED}` },
];

/** The table's price for training `model` at `service`, or undefined when it has none. */
export function trainingPriceFor(service: FineTuningServiceKind, model: string): TrainingPrice | undefined {
  return FINE_TUNING_TRAINING_PRICES.find((entry) => entry.service === service && (entry.model === model || entry.aliases.includes(model)));
}
