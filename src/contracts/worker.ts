import { z } from 'zod';

/**
 * The contract between the TypeScript side and the Python worker
 * (`python -m understudy_worker <command> --spec spec.json`).
 * This file is the source of truth; `worker/understudy_worker/spec.py` checks the same fields.
 */

/** Where the worker loads the base model from. */
export const BaseModelRefSchema = z.discriminatedUnion('kind', [
  /** A GGUF file: transformers dequantizes it on load, so training sees exactly the weights llama.cpp runs. */
  z.object({ kind: z.literal('gguf'), path: z.string().min(1) }),
  /** A local Hugging Face model directory (config.json, safetensors, tokenizer). */
  z.object({ kind: z.literal('hf-dir'), path: z.string().min(1) }),
  /** A hub id such as `HuggingFaceTB/SmolLM2-135M-Instruct`; needs a reachable hub. */
  z.object({ kind: z.literal('hub'), id: z.string().min(1), revision: z.string().optional() }),
]);
export type BaseModelRef = z.infer<typeof BaseModelRefSchema>;

export const ChatMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

/** One TRL conversational prompt-completion record: loss is taken on the completion only. */
export const PromptCompletionRecordSchema = z.object({
  prompt: z.array(ChatMessageSchema).min(1),
  completion: z.array(ChatMessageSchema).length(1),
});
export type PromptCompletionRecord = z.infer<typeof PromptCompletionRecordSchema>;

export const LoraSettingsSchema = z.object({
  r: z.number().int().positive(),
  alpha: z.number().positive(),
  dropout: z.number().min(0).max(1),
  /** `all-linear` or an explicit list of module names (q_proj, k_proj, ...). */
  targetModules: z.union([z.literal('all-linear'), z.array(z.string().min(1)).min(1)]),
  /** rsLoRA: scale alpha/sqrt(r) instead of alpha/r. */
  useRslora: z.boolean().optional(),
});
export type LoraSettings = z.infer<typeof LoraSettingsSchema>;

export const SftSettingsSchema = z.object({
  epochs: z.number().positive(),
  /** -1: run by epochs. */
  maxSteps: z.number().int(),
  learningRate: z.number().positive(),
  batchSize: z.number().int().positive(),
  gradientAccumulation: z.number().int().positive(),
  maxLength: z.number().int().positive(),
  warmupRatio: z.number().min(0).max(1),
  scheduler: z.enum(['linear', 'cosine', 'constant']),
  seed: z.number().int(),
  loggingSteps: z.number().int().positive(),
  /** Threads for torch on CPU; 0 lets torch decide. */
  threads: z.number().int().min(0),
  /** Validate every N optimizer steps (0: never; needs evalPath). */
  evalSteps: z.number().int().min(0).optional(),
  earlyStoppingPatience: z.number().int().min(0).optional(),
  earlyStoppingThreshold: z.number().min(0).optional(),
  accuracySample: z.number().int().min(0).optional(),
  /** A sealed checkpoint every N steps (0: none; needs checkpointDir; a multiple of evalSteps when validating). */
  saveSteps: z.number().int().min(0).optional(),
  saveTotalLimit: z.number().int().positive().optional(),
  paddingFree: z.boolean().optional(),
  /** Batches of similar-length examples (less padding); default on. */
  groupByLength: z.boolean().optional(),
  packing: z.boolean().optional(),
  gradientCheckpointing: z.boolean().optional(),
  device: z.enum(['auto', 'cpu', 'cuda', 'mps']).optional(),
  precision: z.enum(['auto', 'fp32', 'bf16', 'fp16']).optional(),
});
export type SftSettings = z.infer<typeof SftSettingsSchema>;

export const TrainSftSpecSchema = z.object({
  command: z.literal('train-sft'),
  base: BaseModelRefSchema,
  /** JSONL of PromptCompletionRecord. */
  trainPath: z.string().min(1),
  lora: LoraSettingsSchema,
  training: SftSettingsSchema,
  /** The worker writes `peft/` (PEFT adapter dir) and `adapter.gguf` here. */
  outputDir: z.string().min(1),
  /**
   * The Jinja chat template to train with, resolved on this side (`chat-template-source.ts`): the worker sets it
   * on the tokenizer, and the adapter's saved tokenizer files carry it. Serving renders the same string.
   */
  chatTemplate: z.string().min(1),
  /** Validation records (same format as trainPath). */
  evalPath: z.string().min(1).optional(),
  /** Checkpoints go here; it outlives a killed run. */
  checkpointDir: z.string().min(1).optional(),
  /** Continue from the newest sealed checkpoint in checkpointDir. */
  resume: z.boolean().optional(),
});
export type TrainSftSpec = z.infer<typeof TrainSftSpecSchema>;

/** One preference pair: the prompt, then the preferred and the rejected assistant answer. */
export const PreferencePairSchema = z.object({
  prompt: z.array(ChatMessageSchema).min(1),
  chosen: z.array(ChatMessageSchema).length(1),
  rejected: z.array(ChatMessageSchema).length(1),
});
export type PreferencePair = z.infer<typeof PreferencePairSchema>;

export const TrainDpoSpecSchema = z.object({
  command: z.literal('train-dpo'),
  base: BaseModelRefSchema,
  /** The SFT adapter (PEFT directory) to start from; a frozen copy of it is DPO's reference model. */
  sftAdapterDir: z.string().min(1),
  /** JSONL of PreferencePair. */
  trainPath: z.string().min(1),
  /** Held-out pairs: the preference margin is measured on them before and after training. */
  evalPath: z.string().min(1),
  training: z.object({
    beta: z.number().positive(),
    lossType: z.enum(['sigmoid', 'ipo', 'hinge', 'robust']),
    epochs: z.number().positive(),
    maxSteps: z.number().int(),
    learningRate: z.number().positive(),
    batchSize: z.number().int().positive(),
    gradientAccumulation: z.number().int().positive(),
    maxLength: z.number().int().positive(),
    warmupRatio: z.number().min(0).max(1),
    scheduler: z.enum(['linear', 'cosine', 'constant']),
    seed: z.number().int(),
    loggingSteps: z.number().int().positive(),
    threads: z.number().int().min(0),
    device: z.enum(['auto', 'cpu', 'cuda', 'mps']).optional(),
    precision: z.enum(['auto', 'fp32', 'bf16', 'fp16']).optional(),
  }),
  outputDir: z.string().min(1),
  chatTemplate: z.string().min(1),
});
export type TrainDpoSpec = z.infer<typeof TrainDpoSpecSchema>;

/** Merge a PEFT adapter into the base and save a plain transformers model (safetensors) for vLLM or TGI. */
export const ExportMergedSpecSchema = z.object({
  command: z.literal('export-merged'),
  base: BaseModelRefSchema,
  adapterDir: z.string().min(1),
  outputDir: z.string().min(1),
  chatTemplate: z.string().min(1),
  dtype: z.enum(['float16', 'bfloat16', 'float32']).optional(),
});
export type ExportMergedSpec = z.infer<typeof ExportMergedSpecSchema>;

export const TokenizeSpecSchema = z.object({
  command: z.literal('tokenize'),
  base: BaseModelRefSchema,
  conversations: z.array(z.array(ChatMessageSchema).min(1)).min(1),
  /** One flag for every conversation, or one per conversation. */
  addGenerationPrompt: z.union([z.boolean(), z.array(z.boolean())]),
  /** The Jinja chat template to render with (as for `train-sft`). */
  chatTemplate: z.string().min(1),
}).refine((spec) => typeof spec.addGenerationPrompt === 'boolean' || spec.addGenerationPrompt.length === spec.conversations.length, {
  message: 'must hold one flag per conversation',
  path: ['addGenerationPrompt'],
});
export type TokenizeSpec = z.infer<typeof TokenizeSpecSchema>;

export const LogitsSpecSchema = z.object({
  command: z.literal('logits'),
  base: BaseModelRefSchema,
  /** A PEFT adapter directory to apply on top of the base; absent for the base alone. */
  adapterDir: z.string().min(1).optional(),
  /** Token sequences, each scored on its own (one model load for all of them). */
  sequences: z.array(z.array(z.number().int().nonnegative()).min(1)).min(1),
  /** How many of the most likely next tokens to return, at each sequence's last position. */
  topK: z.number().int().positive(),
  /** With `adapterDir`: also score every sequence with the adapter disabled (`baseTop`), from the same load. */
  compareWithBase: z.boolean().optional(),
}).refine((spec) => spec.compareWithBase !== true || spec.adapterDir !== undefined, {
  message: 'needs adapterDir: without an adapter there is nothing to compare',
  path: ['compareWithBase'],
});
export type LogitsSpec = z.infer<typeof LogitsSpecSchema>;

/** Timed greedy transformers `generate` per prompt, batch 1 (the inference benchmark's reference side). */
export const BenchGenerateSpecSchema = z.object({
  command: z.literal('bench-generate'),
  base: BaseModelRefSchema,
  /** A PEFT adapter directory applied (unmerged) on top of the base; absent for the base alone. */
  adapterDir: z.string().min(1).optional(),
  /** Prompt token ids, each generated from on its own. */
  sequences: z.array(z.array(z.number().int().nonnegative()).min(1)).min(1),
  maxNewTokens: z.number().int().positive(),
  /** Always generate `maxNewTokens` (end of turn suppressed until then). */
  ignoreEos: z.boolean().optional(),
  /** Untimed generations first, cycling through the prompts. */
  warmup: z.number().int().min(0),
  /** torch threads; 0: one per core. */
  threads: z.number().int().min(0),
});
export type BenchGenerateSpec = z.infer<typeof BenchGenerateSpecSchema>;

/**
 * Save JSONL files as one Hugging Face `datasets` DatasetDict (`save_to_disk`), a split per file, written to a
 * staging folder and renamed into place. No model is involved, so the spec has no `base`.
 */
export const ExportDatasetSpecSchema = z.object({
  command: z.literal('export-dataset'),
  /** The splits in order: a name (`train`, `test`) and a JSONL file whose lines are JSON objects with the same keys. */
  splits: z.array(z.object({ name: z.string().regex(/^[A-Za-z0-9_]+$/), path: z.string().min(1) })).min(1)
    .refine((splits) => new Set(splits.map((split) => split.name)).size === splits.length, { message: 'split names must be unique' }),
  /** A new (or empty) directory for the DatasetDict. */
  outputDir: z.string().min(1),
});
export type ExportDatasetSpec = z.infer<typeof ExportDatasetSpecSchema>;

/**
 * Rewrite a model GGUF's weight matrices as Q4_0 (llama.cpp's CPU backend repacks Q4_0 for its batched kernels on
 * AVX2 and ARM; Q4_1, Q5_x and Q8_0 have none on x86). 1-D tensors and metadata are copied; no base is loaded.
 */
export const RequantizeSpecSchema = z.object({
  command: z.literal('requantize'),
  inputPath: z.string().min(1),
  /** A new file, written beside itself as a partial and renamed into place. */
  outputPath: z.string().min(1),
  to: z.literal('q4_0').default('q4_0'),
});
export type RequantizeSpec = z.infer<typeof RequantizeSpecSchema>;

export const RequantizeResultSchema = z.object({
  outputPath: z.string(),
  sha256: z.string(),
  sizeBytes: z.number().int(),
  /** Converted matrices by their former type. */
  convertedTensors: z.record(z.string(), z.number().int()),
  keptTensors: z.number().int(),
  /** sqrt(sum (new - old)^2 / sum old^2) over the converted matrices. */
  relativeRmsChange: z.number(),
});
export type RequantizeResult = z.infer<typeof RequantizeResultSchema>;

export const WorkerSpecSchema = z.discriminatedUnion('command', [TrainSftSpecSchema, TrainDpoSpecSchema, ExportMergedSpecSchema, TokenizeSpecSchema, LogitsSpecSchema, BenchGenerateSpecSchema, ExportDatasetSpecSchema, RequantizeSpecSchema]);
export type WorkerSpec = z.infer<typeof WorkerSpecSchema>;

/** One JSON object per line on the worker's stdout. */
export const WorkerEventSchema = z.discriminatedUnion('event', [
  z.object({ event: z.literal('started'), command: z.string(), pid: z.number().int(), device: z.string(), torchVersion: z.string() }),
  z.object({
    event: z.literal('progress'),
    step: z.number().int(),
    totalSteps: z.number().int(),
    epoch: z.number(),
    loss: z.number().nullable(),
    learningRate: z.number().nullable(),
    tokensPerSecond: z.number().nullable(),
    etaSeconds: z.number().nullable(),
  }),
  z.object({ event: z.literal('log'), message: z.string() }),
  /** A validation pass while training (train-sft), or the DPO margin on held-out pairs (train-dpo). */
  z.object({
    event: z.literal('eval'),
    step: z.number().int(),
    evalLoss: z.number().nullable(),
    accuracy: z.number().nullable().optional(),
    accuracySample: z.number().int().optional(),
    best: z.boolean().optional(),
    /** train-dpo: mean log p(chosen) - log p(rejected) under the policy, and the share of pairs it prefers correctly. */
    margin: z.number().nullable().optional(),
    preferenceAccuracy: z.number().nullable().optional(),
  }),
  /** A checkpoint written and sealed. */
  z.object({ event: z.literal('checkpoint'), step: z.number().int(), path: z.string() }),
  z.object({
    event: z.literal('artifact'),
    kind: z.enum(['peft-adapter', 'gguf-lora', 'merged-model', 'hf-dataset', 'gguf-model']),
    path: z.string(),
    sha256: z.string(),
  }),
  /** The answer of `tokenize` or `logits`. */
  z.object({ event: z.literal('result'), result: z.unknown() }),
  z.object({
    event: z.literal('done'),
    seconds: z.number(),
    /** train-sft only. */
    trainLoss: z.number().nullable().optional(),
    trainTokens: z.number().int().nullable().optional(),
    tokensPerSecond: z.number().nullable().optional(),
    steps: z.number().int().nullable().optional(),
    truncatedExamples: z.number().int().nullable().optional(),
    evalLoss: z.number().nullable().optional(),
    evalAccuracy: z.number().nullable().optional(),
    bestStep: z.number().int().nullable().optional(),
    bestEvalLoss: z.number().nullable().optional(),
    stoppedEarly: z.boolean().optional(),
    resumedFromStep: z.number().int().nullable().optional(),
    device: z.string().optional(),
    precision: z.string().optional(),
    /** The worker's peak resident memory (bytes). */
    peakRssBytes: z.number().int().optional(),
    /** train-dpo: held-out preference margins before and after. */
    marginBefore: z.number().nullable().optional(),
    marginAfter: z.number().nullable().optional(),
    preferenceAccuracyBefore: z.number().nullable().optional(),
    preferenceAccuracyAfter: z.number().nullable().optional(),
  }),
  z.object({ event: z.literal('error'), errorType: z.string(), message: z.string() }),
]);
export type WorkerEvent = z.infer<typeof WorkerEventSchema>;

/**
 * One line of a worker's stdout or event log: blank, not JSON (a stray print), JSON that is no known event (with
 * the schema's complaint), or an event.
 */
export type WorkerEventLine = { kind: 'blank' } | { kind: 'not-json' } | { kind: 'unknown'; problem: string } | { kind: 'event'; event: WorkerEvent };

export function parseWorkerEventLine(line: string): WorkerEventLine {
  if (line.trim() === '') return { kind: 'blank' };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: 'not-json' };
  }
  const parsed = WorkerEventSchema.safeParse(value);
  return parsed.success ? { kind: 'event', event: parsed.data } : { kind: 'unknown', problem: parsed.error.issues[0]?.message ?? 'not a worker event' };
}

export const TokenizeResultSchema = z.object({
  texts: z.array(z.string()),
  tokenIds: z.array(z.array(z.number().int())),
});
export type TokenizeResult = z.infer<typeof TokenizeResultSchema>;

const TopLogprobsSchema = z.array(z.object({ tokenId: z.number().int(), logprob: z.number() }));

export const LogitsResultSchema = z.object({
  /** One entry per requested sequence, in order. */
  results: z.array(z.object({
    /** Natural-log probabilities at the last position, most likely first (with the adapter, when one was given). */
    top: TopLogprobsSchema,
    /** The same with the adapter disabled; only with `compareWithBase`. */
    baseTop: TopLogprobsSchema.optional(),
  })),
  vocabSize: z.number().int(),
});
export type LogitsResult = z.infer<typeof LogitsResultSchema>;
