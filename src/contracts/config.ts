import { z } from 'zod';
import { ExampleSourceSchema } from './curation.ts';

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
  /**
   * `requantize: q4_0`: train and serve a Q4_0 copy of the catalog GGUF (`understudy models requantize`), which
   * llama.cpp's CPU backend repacks for its batched kernels (AVX2, ARM); made once, beside the pulled file.
   */
  z.strictObject({ catalog: z.string().min(1), requantize: z.literal('q4_0').optional() }),
  /** `chatTemplate`: the family to train and serve with when the GGUF carries no `tokenizer.chat_template`. */
  z.strictObject({ ggufPath: z.string().min(1), chatTemplate: ChatTemplateFamilySchema.optional() }),
  z.strictObject({ hfDir: z.string().min(1), ggufPath: z.string().min(1), chatTemplate: ChatTemplateFamilySchema.optional() }),
]);
export type BaseModelConfig = z.infer<typeof BaseModelConfigSchema>;

/** LoRA settings in the config: any field left out is chosen from the dataset size (`core/sft-defaults.ts`). */
export const LoraConfigSchema = z.strictObject({
  r: z.number().int().positive().optional(),
  alpha: z.number().positive().optional(),
  dropout: z.number().min(0).max(1).optional(),
  /** `all-linear` or an explicit list of module names (q_proj, k_proj, ...). */
  targetModules: z.union([z.literal('all-linear'), z.array(z.string().min(1)).min(1)]).optional(),
  /** rsLoRA: scale by alpha/sqrt(r) instead of alpha/r (exported to GGUF with the matching alpha). */
  useRslora: z.boolean().optional(),
});

/** Direct preference optimization after SFT (`understudy train --method dpo`). */
export const DpoConfigSchema = z.strictObject({
  beta: z.number().positive().default(0.1),
  lossType: z.enum(['sigmoid', 'ipo', 'hinge', 'robust']).default('sigmoid'),
  /** LoRA DPO moves slowly at full fine-tuning rates (5e-7..5e-6); 5e-5 is a common LoRA setting. */
  learningRate: z.number().positive().default(5e-5),
  epochs: z.number().positive().default(1),
  maxSteps: z.number().int().default(-1),
  batchSize: z.number().int().positive().default(8),
  gradientAccumulation: z.number().int().positive().default(1),
  maxLength: z.number().int().positive().default(1024),
  warmupRatio: z.number().min(0).max(1).default(0.1),
  scheduler: z.enum(['linear', 'cosine', 'constant']).default('linear'),
  /** Held-out share of the preference pairs, where the margin is measured before and after. */
  validationFraction: z.number().min(0.05).max(0.5).default(0.2),
});
export type DpoConfig = z.infer<typeof DpoConfigSchema>;

/** SFT settings; every one but `examplesPerLabel` may be left out and is then chosen from the dataset size. */
export const TrainingConfigSchema = z.strictObject({
  /** Examples drawn per label from the training pool (stratified, seeded). */
  examplesPerLabel: z.number().int().positive(),
  epochs: z.number().positive().optional(),
  /** -1: run by epochs. */
  maxSteps: z.number().int().optional(),
  learningRate: z.number().positive().optional(),
  batchSize: z.number().int().positive().optional(),
  gradientAccumulation: z.number().int().positive().optional(),
  /** Tokens, chat template included; longer examples are truncated, and counted. */
  maxLength: z.number().int().positive().optional(),
  warmupRatio: z.number().min(0).max(1).optional(),
  scheduler: z.enum(['linear', 'cosine', 'constant']).optional(),
  seed: z.number().int().optional(),
  /** Share of the training sample held out for validation while training (0: none). */
  validationFraction: z.number().min(0).max(0.5).optional(),
  /** Validate every N optimizer steps (0: never). */
  evalSteps: z.number().int().min(0).optional(),
  /** A checkpoint every N steps (a multiple of evalSteps); 0: none. */
  saveSteps: z.number().int().min(0).optional(),
  saveTotalLimit: z.number().int().positive().optional(),
  earlyStoppingPatience: z.number().int().min(0).optional(),
  earlyStoppingThreshold: z.number().min(0).optional(),
  /** Validation examples decoded at each validation for task accuracy. */
  accuracySample: z.number().int().min(0).optional(),
  paddingFree: z.boolean().optional(),
  groupByLength: z.boolean().optional(),
  packing: z.boolean().optional(),
  gradientCheckpointing: z.boolean().optional(),
  device: z.enum(['auto', 'cpu', 'cuda', 'mps']).optional(),
  precision: z.enum(['auto', 'fp32', 'bf16', 'fp16']).optional(),
  lora: LoraConfigSchema.default({}),
  /** Absent: every DPO default below. */
  dpo: DpoConfigSchema.optional(),
});
export type TrainingConfig = z.infer<typeof TrainingConfigSchema>;

/** A GPU host reached over SSH (a Lambda Labs box, a cloud VM, an on-premise server): `understudy train --on <name>`. */
export const SshTargetSchema = z.strictObject({
  kind: z.literal('ssh'),
  host: z.string().min(1),
  user: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).default(22),
  /** The private key to log in with; absent: ssh's own defaults and agent. */
  identityFile: z.string().min(1).optional(),
  /** A known_hosts file of its own (absent: ssh's default). */
  knownHostsFile: z.string().min(1).optional(),
  /** `accept-new` trusts a host the first time and refuses a changed key; `yes` needs the key known already. */
  strictHostKeyChecking: z.enum(['yes', 'accept-new']).default('accept-new'),
  /** Where Understudy keeps blobs, the worker, environments and runs on the host (relative: to the login folder). */
  dir: z.string().min(1).default('.understudy-remote'),
  /** A ready Python with the worker's pinned packages on the host; absent: a virtual environment is made (once) under `dir`. */
  python: z.string().min(1).optional(),
  /** The torch build a made environment gets. */
  torch: z.enum(['cpu', 'cuda']).default('cuda'),
  /** Refuse a host where `nvidia-smi` shows no GPU. */
  requireGpu: z.boolean().default(true),
  /** Refuse a host with less free disk than this under `dir`. */
  minFreeGb: z.number().nonnegative().default(10),
  /** Reconnections tried after a dropped connection before the run is left to `understudy runs attach`. */
  reconnectAttempts: z.number().int().min(0).max(100).default(5),
  /** Seconds ssh waits for a connection. */
  connectTimeoutSeconds: z.number().int().positive().default(15),
});
export type SshTarget = z.infer<typeof SshTargetSchema>;

/** A hosted fine-tuning service by its documented HTTP API: `understudy train --on <name>`. */
export const HostedFineTuneTargetSchema = z.strictObject({
  kind: z.enum(['openai-finetune', 'together-finetune']),
  /** The API root up to and including `/v1` (https://api.openai.com/v1, https://api.together.xyz/v1). */
  baseUrl: z.url({ protocol: /^https?$/ }),
  /** The environment variable that holds the API key; the key never goes into the config. */
  apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'),
  /** The service's name of the model to fine-tune (e.g. gpt-4.1-mini-2025-04-14, meta-llama/Meta-Llama-3.1-8B-Instruct-Reference). */
  model: z.string().min(1),
  suffix: z.string().regex(/^[a-z0-9-]{1,40}$/, 'up to 40 lowercase letters, digits and -').optional(),
  /** Training price per million trained tokens (tokens × epochs); absent: the built-in table, or "unknown". */
  trainingUsdPerMillionTokens: z.number().nonnegative().optional(),
  /** Inference prices of the fine-tuned model, for evaluation and the gateway; absent: genai-prices or unknown. */
  inputUsdPerMillion: z.number().nonnegative().optional(),
  outputUsdPerMillion: z.number().nonnegative().optional(),
  /** The first wait between status polls; it grows to `maxPollIntervalMs`. */
  pollIntervalMs: z.number().int().positive().default(10_000),
  maxPollIntervalMs: z.number().int().positive().default(60_000),
  /** Give up waiting (the job goes on at the service) after this many minutes. */
  timeoutMinutes: z.number().positive().default(24 * 60),
});
export type HostedFineTuneTarget = z.infer<typeof HostedFineTuneTargetSchema>;

export const TrainTargetSchema = z.discriminatedUnion('kind', [SshTargetSchema, HostedFineTuneTargetSchema]);
export type TrainTarget = z.infer<typeof TrainTargetSchema>;

/** One system under test in `understudy eval`. */
export const EvalCandidateSchema = z.discriminatedUnion('kind', [
  /** The base model with the task's `baselinePrompt`, zero-shot or with `shots` train examples in the prompt. */
  z.strictObject({
    kind: z.literal('prompted-base'),
    name: z.string().min(1),
    shots: z.number().int().min(0).max(32).default(0),
    /** The system prompt instead of the task's `baselinePrompt` (`{labels}` is filled the same way). */
    prompt: z.string().min(1).optional(),
    /** Retrieved context: the `retrieve` best-matching passages of this text file (relative to the config) go before the input. */
    knowledgeFile: z.string().min(1).optional(),
    retrieve: z.number().int().min(1).max(20).optional(),
  }),
  /** A tuned adapter: a finished run's id, or `latest` (the newest finished SFT or DPO run). */
  z.strictObject({ kind: z.literal('adapter'), name: z.string().min(1), run: z.string().min(1).default('latest') }),
  /** A model behind a provider in `providers` (the frontier model you call today, a vLLM server), with the baseline prompt. */
  z.strictObject({
    kind: z.literal('provider'),
    name: z.string().min(1),
    provider: z.string().min(1),
    shots: z.number().int().min(0).max(32).default(0),
    prompt: z.string().min(1).optional(),
    knowledgeFile: z.string().min(1).optional(),
    retrieve: z.number().int().min(1).max(20).optional(),
  }),
]);
export type EvalCandidate = z.infer<typeof EvalCandidateSchema>;

/** `understudy eval --gate`: the candidate must beat the baseline by `minDifference` with the whole interval above it. */
export const GateConfigSchema = z.strictObject({
  candidate: z.string().min(1),
  baseline: z.string().min(1),
  /**
   * The metric that decides: label tasks `accuracy` or `macroF1`; JSON tasks `exactMatch`, `fieldF1`, `<field>F1`
   * (e.g. `intentsF1`) or `schemaValid`; any task `scorer:<name>` (a scorer's pass rate).
   */
  metric: z.string().regex(/^(scorer:)?[A-Za-z0-9_-]+$/, 'a metric id such as accuracy, macroF1, fieldF1 or scorer:<name>').default('accuracy'),
  /** The smallest improvement worth shipping, as a fraction (0.02 = 2 points). */
  minDifference: z.number().min(0).max(1).default(0),
});
export type GateConfig = z.infer<typeof GateConfigSchema>;

const scorerName = z.string().regex(/^[a-z0-9][a-z0-9-_]*$/, 'lowercase letters, digits, - and _');

/** An extra scorer `understudy eval` runs on every candidate's answers; its pass rate is the metric `scorer:<name>`. */
export const EvalScorerSchema = z.discriminatedUnion('kind', [
  /** Passes when the JavaScript regular expression matches somewhere in the answer. */
  z.strictObject({ kind: z.literal('regex'), name: scorerName, pattern: z.string().min(1), flags: z.string().optional() }),
  /** Passes when the answer contains `value` (default: the reference answer). */
  z.strictObject({ kind: z.literal('contains'), name: scorerName, value: z.string().min(1).optional(), caseSensitive: z.boolean().default(true) }),
  /** A JavaScript module (path relative to the config) whose default export scores `(output, gold, example)`. */
  z.strictObject({ kind: z.literal('custom'), name: scorerName, module: z.string().min(1), passThreshold: z.number().min(0).max(1).default(0.5) }),
  /** An LLM judge rates each answer 1-5 against the rubric; `passRating` and above pass. `provider`: a name under `providers`, or `embedded:<catalog id>`. */
  z.strictObject({
    kind: z.literal('judge'),
    name: scorerName,
    provider: z.string().min(1),
    rubric: z.string().min(1),
    passRating: z.number().int().min(1).max(5).default(4),
    explain: z.boolean().default(true),
    maxTokens: z.number().int().positive().default(512),
  }),
]);
export type EvalScorer = z.infer<typeof EvalScorerSchema>;

/** A pairwise LLM judge: every candidate against the baseline, asked in both orders (disagreeing orders are a tie). */
export const PairwiseJudgeConfigSchema = z.strictObject({
  provider: z.string().min(1),
  criteria: z.string().min(1),
  explain: z.boolean().default(true),
  maxTokens: z.number().int().positive().default(512),
});
export type PairwiseJudgeConfig = z.infer<typeof PairwiseJudgeConfigSchema>;

export const EvaluationConfigSchema = z.strictObject({
  /** Held-out examples, stratified by label. */
  sampleSize: z.number().int().min(10).max(5000),
  seed: z.number().int(),
  bootstrapIterations: z.number().int().min(100).default(10000),
  /** Most tokens a candidate may generate for one answer. */
  maxTokens: z.number().int().positive().default(24),
  /** Constrain every candidate's answer to the label set (grammar-based decoding). */
  constrainToLabels: z.boolean().default(true),
  /** Who is compared in `understudy eval`; absent: the prompted base (zero-shot) and the newest tuned adapter. */
  candidates: z.array(EvalCandidateSchema).min(1).optional(),
  gate: GateConfigSchema.optional(),
  /** Extra scorers run on every candidate's answers (regex, contains, a custom module, an LLM rubric judge). */
  scorers: z.array(EvalScorerSchema).default([]),
  /** Compare every candidate with the baseline by an LLM judge, in both orders. */
  pairwiseJudge: PairwiseJudgeConfigSchema.optional(),
  /**
   * Requests in flight at once per candidate (the embedded engine serves them on parallel sequences). Default 1, for
   * answers that reproduce exactly: batched decoding rounds differently, and bench:eval measured 0-3 of 400
   * Banking77 answers changed at 4-16 sequences (near-tied labels). Hosted providers are unaffected.
   */
  concurrency: z.number().int().min(1).max(64).default(1),
  /**
   * llama.cpp contexts the embedded engine splits those requests and its threads over (at most `concurrency`).
   * Default: the engine's own layout (one context, one thread per core; on a machine of at most two cores, one
   * one-thread context per core). On the 2-core EPYC 16 requests on 4 one-thread contexts evaluated 1.84x the
   * examples/s of one request on one thread, 3.6x one request on two threads (`npm run bench:eval`).
   */
  engineContexts: z.number().int().min(1).max(64).optional(),
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

/** How the pool is split, filtered and mixed (`understudy data ...`); every field has a default. */
export const CurationConfigSchema = z.strictObject({
  /** The provider (a name in `providers`) that generates and relabels data; absent: `understudy data generate --provider`. */
  teacher: z.string().min(1).optional(),
  /** The provider that scores quality in the judge filter; absent: the judge step is skipped and says so. */
  judge: z.string().min(1).optional(),
  split: z.strictObject({
    /** Share of each label's inputs that go to the held-out set (by a hash of the normalized input). */
    evalFraction: z.number().gt(0).lt(1).default(0.2),
    /** The held-out set is kept between these sizes (50-1000 examples is a sound eval set). */
    evalMin: z.number().int().min(1).default(50),
    evalMax: z.number().int().min(1).default(1000),
    /** Salt of the split hash: change it only to draw a different, equally fair split. */
    salt: z.string().default('understudy-split-v1'),
  }).default({ evalFraction: 0.2, evalMin: 50, evalMax: 1000, salt: 'understudy-split-v1' }),
  filters: z.strictObject({
    nearDedup: z.strictObject({
      threshold: z.number().gt(0).max(1).default(0.8),
      numPerm: z.number().int().min(16).max(1024).default(128),
      shingleSize: z.number().int().min(1).max(10).default(3),
      unit: z.enum(['word', 'char']).default('word'),
    }).default({ threshold: 0.8, numPerm: 128, shingleSize: 3, unit: 'word' }),
    length: z.strictObject({
      minInputChars: z.number().int().min(0).default(3),
      maxInputChars: z.number().int().positive().default(2000),
      /** Inputs with fewer words (runs of two or more letters) are not text a person writes. */
      minWords: z.number().int().min(0).default(2),
      /** Share of the input's non-space characters that may be digits, `_` or symbols. */
      maxSymbolShare: z.number().min(0).max(1).default(0.4),
    }).default({ minInputChars: 3, maxInputChars: 2000, minWords: 2, maxSymbolShare: 0.4 }),
    /**
     * LLM-judge quality score 1-5; examples scoring below `minScore` are dropped. Only examples from `sources` are
     * judged: by default model-written and traffic data, not what people wrote and labelled.
     */
    judge: z.strictObject({
      minScore: z.number().min(1).max(5).default(3),
      sources: z.array(ExampleSourceSchema).min(1).default(['synthetic', 'log']),
    }).default({ minScore: 3, sources: ['synthetic', 'log'] }),
    /** The teacher (or the given provider) must give the same answer again; checked for examples from `sources`. */
    roundTrip: z.strictObject({
      enabled: z.boolean().default(true),
      provider: z.string().min(1).optional(),
      sources: z.array(ExampleSourceSchema).min(1).default(['synthetic', 'log']),
    }).default({ enabled: true, sources: ['synthetic', 'log'] }),
    /** Expected language (ISO 639-1) of inputs; others are dropped. */
    language: z.strictObject({ expected: z.string().length(2).default('en') }).default({ expected: 'en' }),
    decontamination: z.strictObject({
      /** Word n-grams compared with the held-out set. */
      ngram: z.number().int().min(3).max(20).default(8),
      /** Drop a train example when this share of its n-grams occurs in one held-out example... */
      ngramOverlap: z.number().gt(0).max(1).default(0.5),
      /** ...or when its MinHash similarity with a held-out example is at least this. */
      minhashThreshold: z.number().gt(0).max(1).default(0.7),
    }).default({ ngram: 8, ngramOverlap: 0.5, minhashThreshold: 0.7 }),
  }).default({
    nearDedup: { threshold: 0.8, numPerm: 128, shingleSize: 3, unit: 'word' },
    length: { minInputChars: 3, maxInputChars: 2000, minWords: 2, maxSymbolShare: 0.4 },
    judge: { minScore: 3, sources: ['synthetic', 'log'] },
    roundTrip: { enabled: true, sources: ['synthetic', 'log'] },
    language: { expected: 'en' },
    decontamination: { ngram: 8, ngramOverlap: 0.5, minhashThreshold: 0.7 },
  }),
});
export type CurationConfig = z.infer<typeof CurationConfigSchema>;

/** A machine's price per hour, added to or replacing an entry of the hardware price table. */
export const HardwarePriceOverrideSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ., - and _'),
  usdPerHour: z.number().nonnegative(),
  description: z.string().min(1).optional(),
  source: z.string().min(1).optional(),
});

/** One application sub-task in the mix view (`understudy economics`). */
export const SubtaskSchema = z.strictObject({
  name: z.string().min(1),
  tasksPerMonth: z.number().nonnegative(),
  /** Hosted cost per 1,000 tasks today (from your bill or `understudy eval`). */
  hostedUsdPer1000: z.number().nonnegative(),
  /** Tuned-model serving cost per 1,000 tasks; absent: this workspace's measured serving cost. */
  tunedUsdPer1000: z.number().nonnegative().optional(),
  /** One-off cost of its fine-tune; absent: this workspace's. */
  oneOffUsd: z.number().nonnegative().optional(),
  /** The tuned model's gate result on this sub-task, when evaluated. */
  qualityOk: z.boolean().optional(),
});

/**
 * The economics of fine-tuning (`understudy economics`, `understudy decide`): every figure left out is measured
 * in this workspace (token counts and latencies from evaluation, training throughput from the newest run, the
 * teacher's spend from the pool), and hardware prices come from the dated table (`economics.hardware` overrides it).
 */
export const EconomicsConfigSchema = z.strictObject({
  /** Traffic the sub-task gets, tasks per month. */
  tasksPerMonth: z.number().nonnegative().default(1_000_000),
  /** Months the tuned model serves before it is replaced or retrained. */
  horizonMonths: z.number().positive().default(12),
  /** The hosted path: a provider-kind eval candidate (measured tokens and cost), or a model priced by the catalog. */
  hosted: z.strictObject({
    candidate: z.string().min(1).optional(),
    /** A model id genai-prices knows (e.g. `gpt-4o-mini`), priced with `priceAs` as the catalog provider. */
    model: z.string().min(1).optional(),
    priceAs: z.string().min(1).optional(),
    /** Tokens per task; absent: measured on the held-out set with the baseline prompt (the base model's tokenizer). */
    promptTokens: z.number().nonnegative().optional(),
    completionTokens: z.number().nonnegative().optional(),
  }).default({ model: 'gpt-4o-mini', priceAs: 'openai' }),
  training: z.strictObject({
    /** Hardware table id of the training machine. */
    hardware: z.string().min(1).default('cpu-2vcpu-aws-m7i.large'),
    /** Measured by the newest finished run when absent. */
    tokensPerSecond: z.number().positive().optional(),
    trainTokens: z.number().nonnegative().optional(),
    epochs: z.number().positive().optional(),
    /** The teacher's spend on data; absent: summed from the pool's generation records. */
    dataGenerationUsd: z.number().nonnegative().optional(),
    /** Other one-off cost: people's time for data review, evaluation and rollout. */
    otherUsd: z.number().nonnegative().default(0),
  }).default({ hardware: 'cpu-2vcpu-aws-m7i.large', otherUsd: 0 }),
  serving: z.strictObject({
    hardware: z.string().min(1).default('cpu-2vcpu-aws-m7i.large'),
    /** Machine-seconds per task; absent: the mean latency measured one request at a time on this machine. */
    secondsPerTask: z.number().positive().optional(),
    utilization: z.number().gt(0).max(1).default(0.5),
    opsOverhead: z.number().min(0).default(0.2),
    minInstances: z.number().int().min(0).default(0),
  }).default({ hardware: 'cpu-2vcpu-aws-m7i.large', utilization: 0.5, opsOverhead: 0.2, minInstances: 0 }),
  hardware: z.array(HardwarePriceOverrideSchema).default([]),
  /** The mix view: other sub-tasks of the application with their volumes and costs. */
  subtasks: z.array(SubtaskSchema).default([]),
});
export type EconomicsConfig = z.infer<typeof EconomicsConfigSchema>;

/** `understudy decide`: the bar prompting must reach, and what to try before training. */
export const DecideConfigSchema = z.strictObject({
  /** The quality the product needs on the primary metric (accuracy, field F1...), as a fraction. */
  bar: z.number().gt(0).max(1),
  /** Who is prompted: `base` (the open checkpoint) or a provider name (the frontier model you call today). */
  prompted: z.string().min(1).default('base'),
  /** Shots in the few-shot variants. */
  shots: z.number().int().min(1).max(32).default(5),
  /** A text file of facts the task might need (relative to the config); its passages are retrieved into the prompt. */
  knowledgeFile: z.string().min(1).optional(),
  /** A provider that judges whether each failure needs knowledge the input does not carry. */
  judge: z.string().min(1).optional(),
  /** Failures the judge looks at (a seeded sample). */
  judgeSample: z.number().int().min(1).max(1000).default(50),
});
export type DecideConfig = z.infer<typeof DecideConfigSchema>;

const GatewayTargetSchema = z.string().regex(/^(provider:[a-z0-9][a-z0-9-_]*|adapter:[A-Za-z0-9_-]+|base)$/, 'provider:<name>, adapter:<run id|latest> or base');

/**
 * An A/B experiment on a route: the route's target is the incumbent, `candidate` gets `weight` of the units (sticky by
 * a hash of the unit's key), raised by `ramp` steps over time.
 */
export const GatewayExperimentSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-_]*$/, 'lowercase letters, digits, - and _'),
  candidate: GatewayTargetSchema,
  weight: z.number().min(0).max(1).default(0.5),
  ramp: z.array(z.strictObject({ from: z.iso.datetime({ offset: true }), weight: z.number().min(0).max(1) })).default([]),
  /** `split`: the candidate answers its units; `shadow`: the incumbent answers everyone, the candidate answers its units in the background. */
  mode: z.enum(['split', 'shadow']).default('split'),
  /** Kill switch: everyone gets the incumbent. */
  killed: z.boolean().default(false),
  /** The header with the unit's key (a user or session id); absent on a request: the body's `user`, else the request id. */
  keyHeader: z.string().min(1).default('x-understudy-user'),
  /** The candidate's deadline; past it the incumbent answers. */
  timeoutMs: z.number().int().positive().default(10_000),
  /** Check the candidate's answer with the task's validator (a label of the set, JSON valid under the schema); a failure falls back. */
  validate: z.boolean().default(false),
  /** Stop sending to the candidate after this many consecutive failures, for `cooldownMs`. */
  breakerFailures: z.number().int().positive().default(5),
  breakerCooldownMs: z.number().int().positive().default(30_000),
});
export type GatewayExperiment = z.infer<typeof GatewayExperimentSchema>;

/** A model alias the gateway serves, and where its calls go. */
export const GatewayRouteSchema = z.strictObject({
  /**
   * `provider:<name>`: a model under `providers` (the frontier model, a vLLM or Ollama server); `adapter:<run id>` or
   * `adapter:latest`: a tuned adapter on the embedded engine; `base`: the embedded base model.
   */
  target: GatewayTargetSchema,
  /** Task tags routed here whatever model the client names (header `x-understudy-task`): the mix architecture. */
  tasks: z.array(z.string().min(1)).default([]),
  experiment: GatewayExperimentSchema.optional(),
  /**
   * Serve the workspace's task in each target's own format: the client's system message is replaced by the task's
   * \`systemPrompt\` for a tuned adapter and its \`baselinePrompt\` for the base or a provider, and the answer is
   * constrained to the task's labels or JSON schema. The client then sends only the input.
   */
  taskFormat: z.boolean().default(false),
});
export type GatewayRoute = z.infer<typeof GatewayRouteSchema>;

/** `understudy serve`: an OpenAI-compatible gateway over the workspace's models. */
export const GatewayConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8787),
  routes: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, ., _, : and -'), GatewayRouteSchema).default({}),
  /** The route for a model name no route has; absent: such requests get 404 model_not_found. */
  defaultRoute: z.string().min(1).optional(),
  /** Request bodies above this many bytes get 413. */
  maxBodyBytes: z.number().int().positive().default(1_000_000),
  /** Calls are logged in batches of this size, or after this many milliseconds, whichever comes first. */
  logBatchSize: z.number().int().positive().default(256),
  logFlushMs: z.number().int().positive().default(200),
  /** Clients must send a key made by \`understudy keys create\` (as \`Authorization: Bearer <key>\`); required when bound beyond loopback. */
  requireKeys: z.boolean().default(false),
  /** Keep each call's messages and answer in the log (what \`data import --from-logs\` reads); secrets are always redacted. */
  storeBodies: z.boolean().default(true),
  /** Also redact e-mail addresses, card numbers, IBANs and phone numbers before storing. */
  redactPii: z.boolean().default(false),
});
export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;

export const WorkspaceConfigSchema = z.strictObject({
  version: z.literal(1),
  task: TaskSchema,
  /** The CSV files `--data config` draws from (label tasks); absent when the task's data lives in the pool (`understudy data import`). */
  data: DataSourceSchema.optional(),
  baseModel: BaseModelConfigSchema,
  training: TrainingConfigSchema,
  evaluation: EvaluationConfigSchema,
  /** Named model endpoints (the frontier model, a teacher, a judge, a vLLM server), by name. */
  providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9-_]*$/, 'lowercase letters, digits, - and _'), ProviderConfigSchema).default({}),
  pricing: PricingConfigSchema.default({ overrides: [] }),
  curation: CurationConfigSchema.default(CurationConfigSchema.parse({})),
  economics: EconomicsConfigSchema.default(EconomicsConfigSchema.parse({})),
  decide: DecideConfigSchema.optional(),
  gateway: GatewayConfigSchema.default(GatewayConfigSchema.parse({})),
  /** Where `understudy train --on <name>` sends a run: an SSH GPU host or a hosted fine-tuning service. */
  targets: z.record(z.string().regex(/^[a-z0-9][a-z0-9-_]*$/, 'lowercase letters, digits, - and _'), TrainTargetSchema).default({}),
});
export type WorkspaceConfig = z.infer<typeof WorkspaceConfigSchema>;
