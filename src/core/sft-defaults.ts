/**
 * SFT settings a user did not set, chosen from the size of the training set, each with the reason.
 *
 * The rules (also in the README) follow common LoRA practice for small instruction-tuned models:
 * - rank 8 below 1,000 examples, 16 up to 10,000, 32 above; alpha = 2 x rank; dropout 0.1 below 1,000 examples
 *   (a small set overfits), 0.05 above; all linear layers; plain alpha/r scaling (rsLoRA is opt-in for high ranks);
 * - learning rate 2e-4 (LoRA tolerates ~10x the full fine-tuning rate), cosine schedule, 10% warm-up below
 *   1,000 examples and 3% above;
 * - batch 4 below 200 examples, 8 up to 2,000, 16 above; epochs 3 below 500 examples, 2 up to 5,000, 1 above;
 * - max length 1,024 tokens: batches are padded only to their longest example (and grouped by length), so unused
 *   length costs nothing, and the worker reports how many examples are truncated;
 * - a validation split of 10% of the training examples (at least 1 per label where labels exist, at most 200),
 *   evaluated about 10 times per run, a checkpoint at every evaluation, the best kept, early stopping after 3
 *   evaluations without improvement, task accuracy on up to 32 validation examples.
 */

export interface SftLoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  targetModules: 'all-linear' | string[];
  useRslora: boolean;
}

export interface SftSettingsResolved {
  epochs: number;
  maxSteps: number;
  learningRate: number;
  batchSize: number;
  gradientAccumulation: number;
  maxLength: number;
  warmupRatio: number;
  scheduler: 'linear' | 'cosine' | 'constant';
  seed: number;
  evalSteps: number;
  saveSteps: number;
  saveTotalLimit: number;
  earlyStoppingPatience: number;
  earlyStoppingThreshold: number;
  accuracySample: number;
  validationFraction: number;
  paddingFree: boolean;
  groupByLength: boolean;
  packing: boolean;
  gradientCheckpointing: boolean;
  device: 'auto' | 'cpu' | 'cuda' | 'mps';
  precision: 'auto' | 'fp32' | 'bf16' | 'fp16';
  lora: SftLoraSettings;
}

/** What the config may leave out: every field is optional. */
export type SftSettingsInput = Partial<Omit<SftSettingsResolved, 'lora'>> & { lora?: Partial<SftLoraSettings> };

export interface ResolvedSft {
  settings: SftSettingsResolved;
  /** Field path -> why it has its value ("set in the config" or the rule that chose it). */
  reasons: Record<string, string>;
  /** Optimizer steps the run will take (before any early stop). */
  totalSteps: number;
  validationExamples: number;
  trainExamples: number;
  /** What the user should know before training starts (a tiny dataset, a batch larger than the data). */
  warnings: string[];
}

const MAX_VALIDATION = 200;

/** How many of `examples` go to validation (the rest train), for `labelCount` labels (0: not a label task). */
export function validationCount(examples: number, fraction: number, labelCount: number): number {
  if (fraction <= 0 || examples < 2) return 0;
  const wanted = Math.min(MAX_VALIDATION, Math.max(Math.round(examples * fraction), Math.min(labelCount, 1)));
  // Never take more than half: a run needs something to train on.
  return Math.min(wanted, Math.floor(examples / 2));
}

export function resolveSftSettings(input: SftSettingsInput, facts: { examples: number; labelCount: number }): ResolvedSft {
  const reasons: Record<string, string> = {};
  const pick = <T>(field: string, given: T | undefined, chosen: T, why: string): T => {
    reasons[field] = given === undefined ? why : 'set in the config';
    return given === undefined ? chosen : given;
  };
  const validationFraction = pick('validationFraction', input.validationFraction, 0.1, '10% of the training examples held out for validation');
  const validationExamples = validationCount(facts.examples, validationFraction, facts.labelCount);
  const n = facts.examples - validationExamples;
  const size = `${n} training examples`;

  const r = pick('lora.r', input.lora?.r, n < 1000 ? 8 : n < 10_000 ? 16 : 32, `${size}: rank 8 below 1,000, 16 up to 10,000, 32 above`);
  const lora: SftLoraSettings = {
    r,
    alpha: pick('lora.alpha', input.lora?.alpha, 2 * r, 'alpha = 2 x rank'),
    dropout: pick('lora.dropout', input.lora?.dropout, n < 1000 ? 0.1 : 0.05, `${size}: 0.1 below 1,000 (small sets overfit), else 0.05`),
    targetModules: pick('lora.targetModules', input.lora?.targetModules, 'all-linear', 'every linear layer (attention and MLP)'),
    useRslora: pick('lora.useRslora', input.lora?.useRslora, false, 'alpha/r scaling; rsLoRA (alpha/sqrt(r)) is opt-in for high ranks'),
  };
  const batchSize = pick('batchSize', input.batchSize, n < 200 ? 4 : n < 2000 ? 8 : 16, `${size}: 4 below 200, 8 up to 2,000, 16 above`);
  const gradientAccumulation = pick('gradientAccumulation', input.gradientAccumulation, 1, 'no accumulation at this batch size');
  const epochs = pick('epochs', input.epochs, n < 500 ? 3 : n < 5000 ? 2 : 1, `${size}: 3 epochs below 500, 2 up to 5,000, 1 above`);
  const maxSteps = pick('maxSteps', input.maxSteps, -1, 'run by epochs');
  const stepsPerEpoch = Math.max(1, Math.ceil(n / (batchSize * gradientAccumulation)));
  const totalSteps = maxSteps > 0 ? maxSteps : Math.max(1, Math.ceil(stepsPerEpoch * epochs));
  const evalSteps = validationExamples === 0
    ? pick('evalSteps', input.evalSteps, 0, 'no validation split')
    : pick('evalSteps', input.evalSteps, Math.max(1, Math.round(totalSteps / 10)), `about 10 validations over ${totalSteps} steps`);
  const settings: SftSettingsResolved = {
    epochs,
    maxSteps,
    learningRate: pick('learningRate', input.learningRate, 2e-4, 'LoRA tolerates ~10x the full fine-tuning rate'),
    batchSize,
    gradientAccumulation,
    maxLength: pick('maxLength', input.maxLength, 1024, 'batches pad only to their longest example; truncations are reported'),
    warmupRatio: pick('warmupRatio', input.warmupRatio, n < 1000 ? 0.1 : 0.03, `${size}: 10% warm-up below 1,000, else 3%`),
    scheduler: pick('scheduler', input.scheduler, 'cosine', 'cosine decay after warm-up'),
    seed: pick('seed', input.seed, 42, 'fixed, so runs are reproducible'),
    evalSteps,
    saveSteps: pick('saveSteps', input.saveSteps, evalSteps, evalSteps > 0 ? 'a checkpoint at every validation, so the best one can be kept' : 'no validation: no periodic checkpoints'),
    saveTotalLimit: pick('saveTotalLimit', input.saveTotalLimit, 2, 'the newest two plus the best'),
    earlyStoppingPatience: pick('earlyStoppingPatience', input.earlyStoppingPatience, evalSteps > 0 ? 3 : 0, evalSteps > 0 ? 'stop after 3 validations without improvement' : 'no validation: no early stopping'),
    earlyStoppingThreshold: pick('earlyStoppingThreshold', input.earlyStoppingThreshold, 0, 'any improvement counts'),
    accuracySample: pick('accuracySample', input.accuracySample, facts.labelCount > 0 && evalSteps > 0 ? Math.min(32, validationExamples) : 0, facts.labelCount > 0 ? 'greedy task accuracy on up to 32 validation examples' : 'no labels: loss only'),
    validationFraction,
    paddingFree: pick('paddingFree', input.paddingFree, false, 'off: without a varlen attention kernel (flash attention on CUDA) the packed row costs more than padding'),
    groupByLength: pick('groupByLength', input.groupByLength, true, 'batches of similar-length examples: little padding'),
    packing: pick('packing', input.packing, false, 'off: one example per sequence keeps steps comparable across runs'),
    gradientCheckpointing: pick('gradientCheckpointing', input.gradientCheckpointing, false, 'off: small models fit; recomputing activations costs ~30% speed'),
    device: pick('device', input.device, 'auto', 'CUDA, then MPS, then CPU'),
    precision: pick('precision', input.precision, 'auto', 'bf16 on CUDA GPUs that support it, fp16 on older GPUs, else fp32 (also on CPUs: the Trainer does not apply bf16 there)'),
    lora,
  };
  if (settings.saveSteps > 0 && settings.evalSteps > 0 && settings.saveSteps % settings.evalSteps !== 0) {
    // Keep the best checkpoint meaningful: it must be one that was validated.
    settings.saveSteps = settings.evalSteps * Math.max(1, Math.round(settings.saveSteps / settings.evalSteps));
    reasons.saveSteps = `rounded to a multiple of evalSteps (${settings.evalSteps})`;
  }
  const warnings: string[] = [];
  if (n < 20) warnings.push(`only ${n} training examples: the adapter will mostly memorise them; aim for 50+ per label`);
  if (n < settings.batchSize * settings.gradientAccumulation) warnings.push(`${n} training examples is less than one batch of ${settings.batchSize * settings.gradientAccumulation}: every step sees the whole set`);
  if (validationFraction > 0 && validationExamples === 0) warnings.push('too few examples to hold any out for validation: no validation, best checkpoint or early stopping');
  return { settings, reasons, totalSteps, validationExamples, trainExamples: n, warnings };
}
