import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { z } from 'zod';
import { WorkspaceConfigSchema, type WorkspaceConfig } from '../contracts/config.ts';
import { InvalidInputError } from '../core/errors.ts';

export const CONFIG_FILE_NAME = 'understudy.yaml';

/** A validated workspace config plus what was resolved from it. */
export interface LoadedConfig {
  config: WorkspaceConfig;
  /** Absolute path of the config file (or `<embedded defaults>`). */
  file: string;
  /** Folder that relative paths in the config are resolved against. */
  directory: string;
  /** The task's labels, read inline or from `labelsFile`. */
  labels: string[];
}

/** The default config, with comments; `dataDir` is where the Banking77 CSVs live. */
export function defaultConfigText(dataDir = 'examples/banking77'): string {
  return `# Understudy workspace config. Paths are relative to this file.
version: 1

# The narrow sub-task to hand from a hosted model to a small tuned one.
task:
  name: banking77-intent
  # The short instruction the tuned adapter is trained and served with.
  systemPrompt: "Classify the online-banking customer message into its intent label. Answer with the label only."
  # The instruction the prompted base model gets; {labels} becomes the label list, one per line.
  baselinePrompt: |-
    Classify the online-banking customer message into exactly one intent label from this list:
    {labels}
    Answer with the label only.
  # The output: one label from a set (labels: [...] or labelsFile), or {type: json-schema, schema: {...}}.
  output:
    type: labels
    labelsFile: ${dataDir}/categories.json

# Where the examples come from: a CSV with one input column and one label column.
data:
  format: csv
  trainPath: ${dataDir}/train.csv   # training pool
  evalPath: ${dataDir}/test.csv     # held-out pool: the eval sample is drawn only from here
  inputColumn: text
  labelColumn: category

# The open checkpoint to start from: a catalog id (see \`understudy models list\`),
# or ggufPath: ./model.gguf, or hfDir: ./hf-model plus the ggufPath served by llama.cpp.
# With a catalog id, \`requantize: q4_0\` trains and serves a Q4_0 copy (\`understudy models requantize\`): llama.cpp
# repacks Q4_0 for batched CPU kernels (about 2x batched decoding and prefill against Q4_1 on a 2-core EPYC).
baseModel:
  catalog: smollm2-135m-instruct

# LoRA SFT settings, sized for a 2-core CPU (about 15 minutes of training at ~100 tokens/s).
# Anything but examplesPerLabel may be left out: \`understudy train\` then picks it from the dataset size and
# prints why (lora r/alpha/dropout, batch size, epochs, warm-up, validation split, evalSteps, checkpoints,
# early stopping). Also: validationFraction, evalSteps, saveSteps, earlyStoppingPatience, accuracySample,
# groupByLength, paddingFree, packing, gradientCheckpointing, device (auto|cpu|cuda|mps),
# precision (auto|fp32|bf16|fp16), lora.useRslora, and dpo: {beta, lossType, learningRate, ...}.
training:
  examplesPerLabel: 20     # stratified draw from the training pool (77 labels -> 1,540 examples)
  epochs: 1
  maxSteps: -1             # -1: run by epochs
  learningRate: 0.0004
  batchSize: 8
  gradientAccumulation: 1
  maxLength: 128           # tokens, chat template included; longer examples are truncated and counted
  warmupRatio: 0.03
  scheduler: cosine
  seed: 42
  lora:
    r: 16
    alpha: 32
    dropout: 0.05
    targetModules: all-linear

# The held-out comparison: prompted base vs tuned adapter on the same stratified sample.
evaluation:
  sampleSize: 231          # 3 per label
  seed: 7
  bootstrapIterations: 10000
  maxTokens: 24
  constrainToLabels: true  # both candidates answer with a label from the set (grammar-constrained decoding)
  concurrency: 1           # requests in flight per candidate in \`understudy eval\`; >1 batches the embedded
                           # engine's sequences: faster, but a near-tied answer can flip (see README)
#  candidates:             # who \`understudy eval\` compares; default: the prompted base vs the newest adapter
#    - { kind: prompted-base, name: zero-shot }
#    - { kind: prompted-base, name: five-shot, shots: 5 }
#    - { kind: adapter, name: tuned, run: latest }
#    - { kind: provider, name: frontier, provider: frontier }
#  gate: { candidate: tuned, baseline: zero-shot, metric: accuracy, minDifference: 0.02 }   # metric: accuracy, macroF1, scorer:<name>
#  scorers:                # extra checks on every answer; each pass rate is the metric scorer:<name>
#    - { kind: regex, name: snake-case, pattern: "^[a-z_]+$" }
#    - { kind: contains, name: mentions-card, value: card }
#    - { kind: custom, name: mine, module: scorers/mine.mjs }     # export default (output, gold, example) => score
#    - { kind: judge, name: judge, provider: frontier, rubric: "The label names the customer's intent." }
#  pairwiseJudge: { provider: frontier, criteria: "Which answer names the intent better?" }   # both orders

# Should this sub-task be fine-tuned at all? \`understudy decide\` runs the prompt variants and prices both paths.
decide:
  bar: 0.9                 # the quality the product needs on the primary metric (accuracy here)
#  prompted: frontier      # who is prompted today: base (the open checkpoint) or a provider name
#  shots: 5                # shots in the few-shot variants
#  knowledgeFile: knowledge.md   # facts the task may need: retrieved into the prompt to test retrieval
#  judge: frontier         # judges whether each failure needs knowledge the input lacks

# \`understudy economics\`: what each path costs. Token counts, latency, training throughput and the teacher's
# spend are measured in this workspace; machine prices come from a dated, sourced table (override below).
economics:
  tasksPerMonth: 1000000
  horizonMonths: 12
  hosted: { model: gpt-4o-mini, priceAs: openai }   # or { candidate: frontier }: a provider candidate's measured cost
  training: { hardware: cpu-2vcpu-aws-m7i.large, otherUsd: 0 }   # otherUsd: people's time (review, evaluation, rollout)
  serving: { hardware: cpu-2vcpu-aws-m7i.large, utilization: 0.5, opsOverhead: 0.2, minInstances: 0 }
#  hardware: [{ id: our-gpu-box, usdPerHour: 0.9, source: "our invoice, 2026-10" }]
#  subtasks:               # the mix view: the application's other sub-tasks
#    - { name: support-router, tasksPerMonth: 5000000, hostedUsdPer1000: 0.12 }
#    - { name: answer-synthesis, tasksPerMonth: 200000, hostedUsdPer1000: 4.5, qualityOk: false }

# \`understudy serve\`: an OpenAI-compatible gateway; point your SDK's base URL at http://127.0.0.1:8787/v1.
gateway:
  routes:
    banking77-intent: { target: adapter:latest, tasks: [banking77-intent] }   # the newest tuned adapter
#    frontier: { target: provider:frontier }   # everything else stays on the frontier model
#  defaultRoute: frontier

# Curating data (\`understudy data ...\`): every field has a default; uncomment to change one.
#curation:
#  teacher: frontier        # a provider name, or embedded:gemma-3-270m offline
#  judge: frontier
#  split: { evalFraction: 0.2, evalMin: 50, evalMax: 1000 }
#  filters:
#    nearDedup: { threshold: 0.8, numPerm: 128, shingleSize: 3, unit: word }
#    decontamination: { ngram: 8, ngramOverlap: 0.5, minhashThreshold: 0.7 }
#    judge: { minScore: 3, sources: [synthetic, log] }
#    roundTrip: { enabled: true, sources: [synthetic, log] }
#    language: { expected: en }

# Model endpoints by name: the frontier model you call today, a teacher, a judge, a vLLM or Ollama server.
# Any server that speaks the OpenAI chat completions protocol works; keys come from environment variables.
providers: {}
#  frontier:
#    kind: openai-compatible
#    baseUrl: https://api.openai.com/v1
#    model: gpt-4o-mini
#    apiKeyEnv: OPENAI_API_KEY
#    priceAs: openai        # priced from @pydantic/genai-prices
#  vllm:
#    kind: openai-compatible
#    baseUrl: http://127.0.0.1:8000/v1
#    model: banking77-adapter

# What calls cost. Hosted models: the genai-prices catalog, unless overridden here. Local models: the serving
# machine's price per hour over its throughput (rates left out are measured while serving).
pricing:
  overrides: []
#    - { model: banking77-adapter, inputUsdPerMillion: 0.05, outputUsdPerMillion: 0.10 }
  serving:
    usdPerHour: 0.20         # assumed: a small cloud CPU VM; set your own machine's price
`;
}

/** Write a commented default config; refuses to overwrite unless `force`. */
export function writeDefaultConfig(directory: string, options: { force?: boolean; dataDir?: string } = {}): string {
  const file = path.join(directory, CONFIG_FILE_NAME);
  if (existsSync(file) && options.force !== true) {
    throw new InvalidInputError(`${CONFIG_FILE_NAME} already exists`, { file, hint: 'pass --force to overwrite it' });
  }
  const temporary = `${file}.tmp-${process.pid}`;
  writeFileSync(temporary, defaultConfigText(options.dataDir));
  renameSync(temporary, file);
  return file;
}

/** Parse and validate config text; errors name the file, line and field. */
export function parseConfigText(text: string, file: string, directory: string): LoadedConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true });
  if (document.errors.length > 0) {
    const first = document.errors[0]!;
    const line = first.linePos?.[0]?.line;
    throw new InvalidInputError(`YAML syntax error: ${first.message.split('\n')[0]}`, { file, line });
  }
  const parsed = WorkspaceConfigSchema.safeParse(document.toJS(), { reportInput: true });
  if (!parsed.success) {
    // A typo shows as an unknown key plus a missing one: name the typo first.
    const issue = parsed.error.issues.find((candidate) => candidate.code === 'unrecognized_keys') ?? parsed.error.issues[0]!;
    const fieldPath = issue.path.map(String);
    throw new InvalidInputError(describeIssue(issue), {
      file,
      line: lineOf(document, lineCounter, fieldPath),
      field: fieldPath.join('.') || '(root)',
    });
  }
  const config = parsed.data;
  return { config, file, directory, labels: resolveLabels(config, file, directory) };
}

/** Load `understudy.yaml` from a folder or a file path. */
export function loadConfigFile(fileOrDirectory: string): LoadedConfig {
  const file = path.resolve(fileOrDirectory.endsWith('.yaml') || fileOrDirectory.endsWith('.yml') ? fileOrDirectory : path.join(fileOrDirectory, CONFIG_FILE_NAME));
  if (!existsSync(file)) {
    throw new InvalidInputError('config file not found', { file, hint: 'run `understudy init` to write one' });
  }
  return parseConfigText(readFileSync(file, 'utf8'), file, path.dirname(file));
}

function resolveLabels(config: WorkspaceConfig, file: string, directory: string): string[] {
  const output = config.task.output;
  if (output.type !== 'labels') return [];
  if (output.labels !== undefined && output.labels.length > 0) return checkLabels(output.labels, file, 'task.output.labels');
  const labelsFile = path.resolve(directory, output.labelsFile!);
  if (!existsSync(labelsFile)) {
    throw new InvalidInputError(`labels file not found: ${labelsFile}`, { file, field: 'task.output.labelsFile' });
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(labelsFile, 'utf8'));
  } catch (error) {
    throw new InvalidInputError(`not valid JSON: ${(error as Error).message}`, { file: labelsFile, cause: error });
  }
  if (!Array.isArray(value) || !value.every((label): label is string => typeof label === 'string' && label.length > 0)) {
    throw new InvalidInputError('expected a JSON array of non-empty label strings', { file: labelsFile });
  }
  return checkLabels(value, labelsFile, 'task.output.labelsFile');
}

function checkLabels(labels: string[], file: string, field: string): string[] {
  const seen = new Set<string>();
  for (const label of labels) {
    if (seen.has(label)) throw new InvalidInputError(`duplicate label "${label}"`, { file, field });
    seen.add(label);
  }
  return labels;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    return `expected ${issue.expected}${issue.input === undefined ? ', but the field is missing' : `, got ${JSON.stringify(issue.input)}`}`;
  }
  if (issue.code === 'unrecognized_keys') return `unknown field(s): ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}, got ${JSON.stringify(issue.input)}`;
  return issue.message;
}

function lineOf(document: ReturnType<typeof parseDocument>, lineCounter: LineCounter, fieldPath: string[]): number | undefined {
  // Walk up the path until a node that exists is found (a missing field points at its parent).
  for (let length = fieldPath.length; length >= 0; length -= 1) {
    const node = document.getIn(fieldPath.slice(0, length).map((part) => (/^\d+$/.test(part) ? Number(part) : part)), true);
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}
