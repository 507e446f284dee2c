import { z } from 'zod';
import { LoraSettingsSchema } from './worker.ts';

/** The task's output: one label out of a set, or a JSON object valid under a schema. */
export const TaskOutputSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('labels'),
    /** Inline labels; or leave empty and give `labelsFile`. */
    labels: z.array(z.string().min(1)).optional(),
    /** A JSON file holding an array of label strings, relative to the config file. */
    labelsFile: z.string().min(1).optional(),
  }).refine((value) => (value.labels?.length ?? 0) > 0 || value.labelsFile !== undefined, {
    message: 'give either a non-empty `labels` list or a `labelsFile`',
  }),
  z.strictObject({
    type: z.literal('json-schema'),
    schema: z.record(z.string(), z.unknown()),
  }),
]);
export type TaskOutput = z.infer<typeof TaskOutputSchema>;

export const TaskSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-_]*$/, 'lowercase letters, digits, - and _ (it names files)'),
  /** The short instruction the tuned model gets. */
  systemPrompt: z.string().min(1),
  /** The instruction the prompted base gets; `{labels}` is replaced by the label list. */
  baselinePrompt: z.string().min(1),
  output: TaskOutputSchema,
});
export type Task = z.infer<typeof TaskSchema>;

export const DataSourceSchema = z.strictObject({
  format: z.literal('csv'),
  /** Training pool, relative to the config file. */
  trainPath: z.string().min(1),
  /** Held-out pool the eval sample is drawn from; never trained on. */
  evalPath: z.string().min(1),
  inputColumn: z.string().min(1),
  labelColumn: z.string().min(1),
});
export type DataSource = z.infer<typeof DataSourceSchema>;

/** Chat-template families (`core/chat-template.ts`); a local GGUF without its own template names one. */
export const ChatTemplateFamilySchema = z.enum(['chatml', 'gemma', 'llama3', 'qwen2.5', 'qwen3', 'mistral', 'phi3', 'phi4']);

export const BaseModelConfigSchema = z.union([
  z.strictObject({ catalog: z.string().min(1) }),
  /** `chatTemplate`: the family to train and serve with when the GGUF carries no `tokenizer.chat_template`. */
  z.strictObject({ ggufPath: z.string().min(1), chatTemplate: ChatTemplateFamilySchema.optional() }),
  z.strictObject({ hfDir: z.string().min(1), ggufPath: z.string().min(1), chatTemplate: ChatTemplateFamilySchema.optional() }),
]);
export type BaseModelConfig = z.infer<typeof BaseModelConfigSchema>;

export const TrainingConfigSchema = z.strictObject({
  /** Examples drawn per label from the training pool (stratified, seeded). */
  examplesPerLabel: z.number().int().positive(),
  epochs: z.number().positive(),
  maxSteps: z.number().int().default(-1),
  learningRate: z.number().positive(),
  batchSize: z.number().int().positive(),
  gradientAccumulation: z.number().int().positive().default(1),
  maxLength: z.number().int().positive(),
  warmupRatio: z.number().min(0).max(1).default(0.03),
  scheduler: z.enum(['linear', 'cosine', 'constant']).default('cosine'),
  seed: z.number().int().default(42),
  lora: LoraSettingsSchema,
});
export type TrainingConfig = z.infer<typeof TrainingConfigSchema>;

export const EvaluationConfigSchema = z.strictObject({
  /** Held-out examples, stratified by label. */
  sampleSize: z.number().int().min(10).max(5000),
  seed: z.number().int(),
  bootstrapIterations: z.number().int().min(100).default(10000),
  /** Most tokens a candidate may generate for one answer. */
  maxTokens: z.number().int().positive().default(24),
  /** Constrain every candidate's answer to the label set (grammar-based decoding). */
  constrainToLabels: z.boolean().default(true),
});
export type EvaluationConfig = z.infer<typeof EvaluationConfigSchema>;

/** A hosted or self-hosted model reached over the OpenAI chat completions protocol (OpenAI, Together, Fireworks, vLLM, Ollama, llama.cpp server). */
export const ProviderConfigSchema = z.strictObject({
  kind: z.literal('openai-compatible'),
  /** The API root up to and including `/v1`, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`. */
  baseUrl: z.url({ protocol: /^https?$/ }),
  /** The model name the upstream expects. */
  model: z.string().min(1),
  /** The environment variable that holds the API key; the key itself never goes into the config. */
  apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
  /** The @pydantic/genai-prices provider id to price calls by (openai, anthropic, together, fireworks, groq, ...); absent: guessed from the model name. */
  priceAs: z.string().min(1).optional(),
  maxConcurrency: z.number().int().positive().default(8),
  timeoutMs: z.number().int().positive().default(60_000),
  maxRetries: z.number().int().min(0).max(10).default(4),
});
export type ProviderConfig = z.infer<typeof ProviderConfigSchema>;

export const PriceOverrideSchema = z.strictObject({
  /** A provider name from `providers`; absent: any provider serving this model. */
  provider: z.string().min(1).optional(),
  model: z.string().min(1),
  inputUsdPerMillion: z.number().nonnegative(),
  outputUsdPerMillion: z.number().nonnegative(),
  cachedInputUsdPerMillion: z.number().nonnegative().optional(),
});

export const PricingConfigSchema = z.strictObject({
  /** Prices that win over the genai-prices catalog (negotiated rates, models it lacks). */
  overrides: z.array(PriceOverrideSchema).default([]),
  /**
   * The serving cost model for local models: the machine's price per hour over its throughput. Rates left out
   * are measured by the engine while it serves (or take them from `npm run bench:inference`).
   */
  serving: z
    .strictObject({
      usdPerHour: z.number().nonnegative(),
      prefillTokensPerSecond: z.number().positive().optional(),
      decodeTokensPerSecond: z.number().positive().optional(),
    })
    .optional(),
});
export type PricingConfig = z.infer<typeof PricingConfigSchema>;

export const WorkspaceConfigSchema = z.strictObject({
  version: z.literal(1),
  task: TaskSchema,
  data: DataSourceSchema,
  baseModel: BaseModelConfigSchema,
  training: TrainingConfigSchema,
  evaluation: EvaluationConfigSchema,
  /** Named model endpoints (the frontier model, a teacher, a judge, a vLLM server), by name. */
  providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9-_]*$/, 'lowercase letters, digits, - and _'), ProviderConfigSchema).default({}),
  pricing: PricingConfigSchema.default({ overrides: [] }),
});
export type WorkspaceConfig = z.infer<typeof WorkspaceConfigSchema>;
