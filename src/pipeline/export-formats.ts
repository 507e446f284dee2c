import { Document } from 'yaml';
import type { ResolvedChatTemplate } from '../adapters/models/chat-template-source.ts';
import type { ChatMessage } from '../contracts/worker.ts';
import { builtInChatTemplate, type ChatTemplateFamily } from '../core/chat-template.ts';
import { InvalidInputError } from '../core/errors.ts';

/**
 * Text exports that let a team serve or re-train a finished LoRA run in other tools: an Ollama Modelfile, a vLLM
 * launch script, an Axolotl config and an OpenAI fine-tuning JSONL. Pure functions: the caller writes the files.
 * Each format was checked against its tool's own reference (Ollama's Modelfile parser, vLLM's CLI argument parser
 * and LoRA config, Axolotl's pydantic config schema); the choices below say why where a tool is easy to get wrong.
 */

/** Everything the exports need to know about one finished run. */
export interface ExportFacts {
  runId: string;
  /** The name the adapter is served under (`ollama create <name>`, vLLM's `model`), e.g. `banking77-3f9c2a1b`: [a-z0-9_-]. */
  adapterName: string;
  base: {
    /** A display name, e.g. the catalog's. */
    name: string;
    /** The Hugging Face hub id of the original checkpoint: what vLLM and Axolotl load (they do not apply LoRA to a GGUF). */
    hubId?: string;
    /** The GGUF the run trained and evaluated against. */
    ggufPath: string;
    /** The model's own context length (tokens), when known. */
    contextLength?: number;
    /**
     * The chat template the run trained with, as `resolveChatTemplate` returned it. Given, every export serves or
     * trains with exactly this template; omitted, each tool falls back to the model's own.
     */
    chatTemplate?: Pick<ResolvedChatTemplate, 'source' | 'origin' | 'family'>;
  };
  adapter: {
    /** The GGUF LoRA adapter (Ollama, llama.cpp). */
    ggufPath: string;
    /** The PEFT adapter folder: `adapter_config.json`, `adapter_model.safetensors` (vLLM). */
    peftDir: string;
  };
  lora: { r: number; alpha: number; dropout: number; targetModules: 'all-linear' | readonly string[]; useRslora: boolean };
  training: {
    learningRate: number;
    epochs: number;
    /** -1: run by epochs. */
    maxSteps: number;
    batchSize: number;
    gradientAccumulation: number;
    maxLength: number;
    warmupRatio: number;
    scheduler: 'linear' | 'cosine' | 'constant';
    seed: number;
    packing: boolean;
    bf16: boolean;
    gradientCheckpointing: boolean;
    /** Validation every N optimizer steps; 0 or absent: never. */
    evalSteps?: number;
    /** A checkpoint every N optimizer steps; 0 or absent: none. */
    saveSteps?: number;
    /** Stop after N evaluations without a better validation loss; 0 or absent: never. */
    earlyStoppingPatience?: number;
  };
  /** Training and validation JSONL in TRL's conversational prompt-completion form. */
  trainPath: string;
  validationPath?: string;
  /** The system prompt the adapter was trained with, if any. */
  systemPrompt?: string;
}

/** The serving context (tokens) when the caller picks none: the base's own, so no request is cut; else the training length, which every example fit. */
function servingContextLength(facts: ExportFacts, override: number | undefined): number {
  const value = override ?? facts.base.contextLength ?? facts.training.maxLength;
  if (!Number.isInteger(value) || value <= 0) throw new InvalidInputError(`the context length must be a positive integer, got ${value}`, { field: 'contextLength' });
  return value;
}

const ADAPTER_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** Names and paths end up in comments and one-line instructions, where a line break would end them early. */
function checkFacts(facts: ExportFacts): void {
  if (!ADAPTER_NAME.test(facts.adapterName)) {
    throw new InvalidInputError(`the adapter name "${facts.adapterName}" must be lowercase letters, digits, "-" and "_", starting with a letter or digit`, {
      field: 'adapterName',
      hint: 'Ollama and vLLM clients name the model by it, e.g. banking77-3f9c2a1b',
    });
  }
  const singleLine: [string, string][] = [
    ['runId', facts.runId],
    ['base.name', facts.base.name],
    ['base.ggufPath', facts.base.ggufPath],
    ['adapter.ggufPath', facts.adapter.ggufPath],
    ['adapter.peftDir', facts.adapter.peftDir],
  ];
  for (const [field, value] of singleLine) {
    if (/[\r\n]/.test(value)) throw new InvalidInputError(`${field} must be one line`, { field });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Ollama

/**
 * Ollama renders prompts with Go templates, not Jinja, and a GGUF without `tokenizer.chat_template` gives it nothing
 * to detect one from (it would send the bare prompt). For Understudy's built-in templates (core/chat-template.ts)
 * these write the same text for the same messages; Ollama adds the BOS token itself when the GGUF asks for one.
 * Change them together: test/export-formats.test.ts pins what the Jinja side renders.
 */
const OLLAMA_TEMPLATES: Partial<Record<ChatTemplateFamily, { template: string; stop: readonly string[] }>> = {
  chatml: {
    template: ['{{- range .Messages }}<|im_start|>{{ .Role }}', '{{ .Content }}<|im_end|>', '{{ end }}<|im_start|>assistant', ''].join('\n'),
    stop: ['<|im_start|>', '<|im_end|>'],
  },
  // Gemma has no system role: the system text opens the first user turn (Ollama's own gemma3 template does the same).
  gemma: {
    template: [
      '{{- range $i, $_ := .Messages }}',
      '{{- $last := eq (len (slice $.Messages $i)) 1 }}',
      '{{- if eq .Role "user" }}<start_of_turn>user',
      '{{ if and (eq $i 1) $.System }}{{ $.System }}',
      '',
      '{{ end }}{{ .Content }}<end_of_turn>',
      '{{ else if eq .Role "assistant" }}<start_of_turn>model',
      '{{ .Content }}<end_of_turn>',
      '{{ end }}',
      '{{- if $last }}<start_of_turn>model',
      '{{ end }}',
      '{{- end }}',
    ].join('\n'),
    stop: ['<end_of_turn>'],
  },
};

/** The turn-ending token of each built-in template: what the model learns to stop on. */
const END_OF_TURN: Partial<Record<ChatTemplateFamily, string>> = { chatml: '<|im_end|>', gemma: '<end_of_turn>' };

/** Ollama's template for a run trained with Understudy's built-in template; undefined: Ollama detects the GGUF's own. */
function ollamaTemplate(facts: ExportFacts): { template: string; stop: readonly string[] } | undefined {
  const chatTemplate = facts.base.chatTemplate;
  if (chatTemplate === undefined || chatTemplate.origin === 'gguf') return undefined;
  const family = chatTemplate.family;
  const template = family === undefined ? undefined : OLLAMA_TEMPLATES[family];
  const hint = 'the base GGUF carries no chat template, so Ollama would send unformatted prompts; serve the adapter with vLLM or llama.cpp instead';
  if (family === undefined || template === undefined) {
    throw new InvalidInputError(`Understudy has no Ollama template for the built-in chat template family "${family ?? '(none)'}"`, { field: 'base.chatTemplate.family', hint });
  }
  // The Go template mirrors today's built-in; a run trained with an earlier version of it would be served differently.
  if (chatTemplate.source !== builtInChatTemplate(family)) {
    throw new InvalidInputError(`this run's chat template is not Understudy's current built-in "${family}" template, which the Ollama template mirrors`, { field: 'base.chatTemplate.source', hint });
  }
  return template;
}

/**
 * A Modelfile argument. Ollama's parser (parser/parser.go) ends a value at the first line break where the text so
 * far is complete: unquoted, `"…"` or `"""…"""`, with no escapes. So a path goes bare (spaces are fine) unless it
 * has edge whitespace, and multi-line text goes in triple quotes and must not contain them.
 */
function modelfileValue(value: string, field: string, options: { multiline: boolean }): string {
  if (options.multiline) {
    if (value.includes('"""')) throw new InvalidInputError(`${field} contains """, which an Ollama Modelfile cannot quote`, { field });
    return `"""${value}"""`;
  }
  if (/[\r\n]/.test(value) || value.includes('"')) throw new InvalidInputError(`${field} must be one line without double quotes for an Ollama Modelfile`, { field });
  return value.trim() === value ? value : `"${value}"`;
}

/**
 * An Ollama Modelfile: the base GGUF plus the GGUF LoRA adapter, greedy decoding, the serving context and the
 * training system prompt (Ollama adds it to requests that bring none). Paths resolve against the Modelfile's folder.
 */
export function ollamaModelfile(facts: ExportFacts, options: { contextLength?: number } = {}): string {
  checkFacts(facts);
  const template = ollamaTemplate(facts);
  const lines = [
    `# Ollama Modelfile for the LoRA adapter "${facts.adapterName}" (Understudy run ${facts.runId}, base ${facts.base.name}).`,
    `#   ollama create ${facts.adapterName} -f Modelfile`,
    `#   ollama run ${facts.adapterName}`,
    '# Relative paths resolve against the folder of this file.',
  ];
  if (template === undefined) {
    lines.push(`# Chat template: Ollama picks the known template closest to the GGUF's own (none if nothing is close); check it with \`ollama show ${facts.adapterName} --template\`.`);
  } else if (facts.base.chatTemplate?.family === 'gemma') {
    lines.push('# Send message text without leading or trailing whitespace: the training template trimmed it.');
  }
  lines.push(
    `FROM ${modelfileValue(facts.base.ggufPath, 'base.ggufPath', { multiline: false })}`,
    `ADAPTER ${modelfileValue(facts.adapter.ggufPath, 'adapter.ggufPath', { multiline: false })}`,
  );
  if (template !== undefined) {
    lines.push(`TEMPLATE ${modelfileValue(template.template, 'template', { multiline: true })}`);
    for (const stop of template.stop) lines.push(`PARAMETER stop "${stop}"`);
  }
  lines.push('PARAMETER temperature 0', `PARAMETER num_ctx ${servingContextLength(facts, options.contextLength)}`);
  if (facts.systemPrompt !== undefined) lines.push(`SYSTEM ${modelfileValue(facts.systemPrompt, 'systemPrompt', { multiline: true })}`);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// vLLM

/** `--max-lora-rank` takes one of these (vllm/config/lora.py); 1 is newer than the rest, so it is left out. */
const VLLM_LORA_RANKS = [8, 16, 32, 64, 128, 256, 320, 512] as const;

/** The smallest `--max-lora-rank` vLLM accepts that holds rank `r`. */
export function vllmMaxLoraRank(r: number): number {
  const rank = VLLM_LORA_RANKS.find((allowed) => allowed >= r);
  if (!Number.isInteger(r) || r <= 0 || rank === undefined) {
    throw new InvalidInputError(`vLLM serves LoRA ranks up to ${VLLM_LORA_RANKS.at(-1)}, this adapter has r=${r}`, { field: 'lora.r' });
  }
  return rank;
}

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One POSIX shell argument: bare when it has no special characters, else single-quoted (a `'` becomes `'\''`). */
export function shellQuote(value: string): string {
  return SHELL_SAFE.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * vLLM's `--lora-modules` value. Its parser (LoRAParserAction) splits `name=path` on every `=` and treats anything
 * with a `,` as JSON, so a path holding either goes in the JSON form.
 */
function vllmLoraModule(name: string, peftDir: string): string {
  return /[=,]/.test(peftDir) ? JSON.stringify({ name, path: peftDir }) : `${name}=${peftDir}`;
}

/** Where vLLM and Axolotl load the base from: a local Hugging Face folder, else the hub id. */
function huggingFaceBase(facts: ExportFacts, localDir: string | undefined, tool: string, option: string): string {
  const model = localDir ?? facts.base.hubId;
  if (model !== undefined && /[\r\n]/.test(model)) throw new InvalidInputError('the base model must be one line', { field: localDir === undefined ? 'base.hubId' : option });
  if (model === undefined || model === '') {
    throw new InvalidInputError(`${tool} needs the base model in Hugging Face format, and ${facts.base.name} has no hub id`, {
      field: 'base.hubId',
      hint: `pass ${option} (a local Hugging Face model folder: config.json, safetensors, tokenizer), or use a base from the catalog`,
    });
  }
  return model;
}

/**
 * A POSIX sh script that serves the base with the PEFT adapter on vLLM's OpenAI-compatible server, the adapter
 * under `adapterName`. Extra arguments to the script go to `vllm serve`. With the run's chat template known, the
 * script hands vLLM that exact template (through a temporary file: vLLM reads a file verbatim, while an inline
 * template is unescaped first).
 */
export function vllmServeCommand(facts: ExportFacts, options: { port?: number; baseModelDir?: string; contextLength?: number } = {}): string {
  checkFacts(facts);
  const model = huggingFaceBase(facts, options.baseModelDir, 'vLLM', 'baseModelDir');
  const port = options.port ?? 8000;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidInputError(`the port must be an integer from 1 to 65535, got ${port}`, { field: 'port' });
  const messages = [...(facts.systemPrompt === undefined ? [] : [{ role: 'system', content: facts.systemPrompt }]), { role: 'user', content: '<input>' }];
  const request = JSON.stringify({ model: facts.adapterName, messages, temperature: 0 });
  const lines = [
    '#!/bin/sh',
    `# Serve the LoRA adapter "${facts.adapterName}" (Understudy run ${facts.runId}) on ${facts.base.name} with vLLM's OpenAI-compatible server.`,
    `# Understudy trained and evaluated the adapter against ${facts.base.ggufPath}; vLLM applies it to ${model}, so`,
    '# expect small differences from Understudy\'s evaluation when that GGUF is quantized.',
    `# Ask the adapter (model "${facts.adapterName}"; the base's own name answers without the adapter):`,
    `#   curl http://localhost:${port}/v1/chat/completions -H 'Content-Type: application/json' -d ${shellQuote(request)}`,
    `# or any OpenAI client with base_url http://localhost:${port}/v1 and model "${facts.adapterName}".`,
    // No `set -u`: some older shells (bash before 4) call an empty "$@" unbound.
    'set -e',
  ];
  const serve = [
    `exec vllm serve ${shellQuote(model)}`,
    '--enable-lora',
    `--lora-modules ${shellQuote(vllmLoraModule(facts.adapterName, facts.adapter.peftDir))}`,
    `--max-lora-rank ${vllmMaxLoraRank(facts.lora.r)}`,
    `--max-model-len ${servingContextLength(facts, options.contextLength)}`,
    `--port ${port}`,
  ];
  const chatTemplate = facts.base.chatTemplate;
  if (chatTemplate !== undefined) {
    lines.push(
      '# The chat template the adapter was trained with.',
      'chat_template=$(mktemp "${TMPDIR:-/tmp}/understudy-chat-template.XXXXXX")',
      `printf '%s' ${shellQuote(chatTemplate.source)} > "$chat_template"`,
    );
    serve.push('--chat-template "$chat_template"');
  }
  serve.push('"$@"');
  lines.push(serve.join(' \\\n  '));
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// Axolotl

export interface AxolotlExportOptions {
  /** The training records as OpenAI-style messages JSONL (what `openAiFineTuningJsonl` writes). */
  messagesTrainPath: string;
  /** The validation records in the same form; needed when the run validated (evalSteps, early stopping). */
  messagesValidationPath?: string;
  /** A local Hugging Face model folder to start from instead of the hub id. */
  baseModelDir?: string;
  /** Default: `./outputs/<adapterName>`. */
  outputDir?: string;
}

/**
 * One `datasets` entry: Axolotl's `chat_template` strategy on `{"messages": [...]}` lines. Loss goes on assistant
 * turns; a turn marked `weight: 0` (the prompt's earlier answers) is context only, which matches the run's
 * completion-only loss. `split: train` because a local JSON file loads as a single `train` split.
 */
export function axolotlDataset(path: string): Record<string, unknown> {
  return {
    path,
    ds_type: 'json',
    split: 'train',
    type: 'chat_template',
    field_messages: 'messages',
    message_property_mappings: { role: 'role', content: 'content' },
    roles_to_train: ['assistant'],
    train_on_eos: 'turn',
    message_field_training: 'weight',
  };
}

/** A positive step count, or undefined for 0/absent (the run's "never"). */
const steps = (value: number | undefined): number | undefined => (value === undefined || value <= 0 ? undefined : value);

/**
 * The Axolotl config equivalent to the run, with key names from Axolotl's config schema
 * (src/axolotl/utils/schemas/*.py). Axolotl starts from the Hugging Face checkpoint, not the GGUF.
 */
export function axolotlYaml(facts: ExportFacts, options: AxolotlExportOptions): string {
  checkFacts(facts);
  const { lora, training } = facts;
  const baseModel = huggingFaceBase(facts, options.baseModelDir, 'Axolotl', 'baseModelDir');
  // pydantic refuses a fractional lora_alpha.
  if (!Number.isInteger(lora.alpha)) throw new InvalidInputError(`Axolotl takes an integer lora_alpha, this run has ${lora.alpha}`, { field: 'lora.alpha' });

  const evalSteps = steps(training.evalSteps);
  const patience = steps(training.earlyStoppingPatience);
  // Axolotl's early stopping needs checkpoints on evaluation steps, so it can load the best one at the end.
  const saveSteps = steps(training.saveSteps) ?? (patience === undefined ? undefined : evalSteps);
  if ((evalSteps !== undefined || patience !== undefined) && options.messagesValidationPath === undefined) {
    throw new InvalidInputError('the run validated during training, so the Axolotl config needs the validation records', {
      field: 'messagesValidationPath',
      hint: `write ${facts.validationPath ?? 'the validation file'} with openAiFineTuningJsonl and pass its path`,
    });
  }
  if (patience !== undefined && (evalSteps === undefined || saveSteps === undefined || saveSteps % evalSteps !== 0)) {
    throw new InvalidInputError('Axolotl early stopping needs evalSteps, and saveSteps a multiple of it', { field: 'training.saveSteps' });
  }

  const chatTemplate = facts.base.chatTemplate;
  const endOfTurn = chatTemplate?.origin === 'built-in' && chatTemplate.family !== undefined ? END_OF_TURN[chatTemplate.family] : undefined;
  const config: Record<string, unknown> = {
    base_model: baseModel,
    // The exact template of the run; without it, the tokenizer's own (`tokenizer_default`).
    chat_template: chatTemplate === undefined ? 'tokenizer_default' : 'jinja',
    ...(chatTemplate === undefined ? {} : { chat_template_jinja: chatTemplate.source }),
    // Understudy's built-in templates end a turn with a token other than EOS: train on it, as the run did.
    ...(endOfTurn === undefined ? {} : { eot_tokens: [endOfTurn] }),
    datasets: [axolotlDataset(options.messagesTrainPath)],
    ...(options.messagesValidationPath === undefined ? {} : { test_datasets: [axolotlDataset(options.messagesValidationPath)] }),
    val_set_size: 0,
    output_dir: options.outputDir ?? `./outputs/${facts.adapterName}`,

    adapter: 'lora',
    lora_r: lora.r,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    ...(lora.targetModules === 'all-linear' ? { lora_target_linear: true } : { lora_target_modules: [...lora.targetModules] }),
    peft_use_rslora: lora.useRslora,

    sequence_len: training.maxLength,
    // The run truncated long examples; Axolotl would drop them.
    excess_length_strategy: 'truncate',
    sample_packing: training.packing,
    // Packed examples must not attend to each other, as in the run; sdpa keeps them apart and needs no extra package.
    ...(training.packing ? { attn_implementation: 'sdpa' } : {}),
    train_on_inputs: false,
    micro_batch_size: training.batchSize,
    gradient_accumulation_steps: training.gradientAccumulation,
    num_epochs: training.epochs,
    ...(training.maxSteps > 0 ? { max_steps: training.maxSteps } : {}),
    learning_rate: training.learningRate,
    lr_scheduler: training.scheduler,
    warmup_ratio: training.warmupRatio,
    seed: training.seed,
    bf16: training.bf16,
    gradient_checkpointing: training.gradientCheckpointing,
    ...(evalSteps === undefined ? {} : { eval_steps: evalSteps }),
    ...(saveSteps === undefined ? {} : { save_steps: saveSteps }),
    ...(patience === undefined ? {} : { early_stopping_patience: patience }),
  };
  const document = new Document(config);
  document.commentBefore = [
    ` Axolotl config equivalent to Understudy run ${facts.runId} (adapter "${facts.adapterName}").`,
    '   axolotl train <this file>',
    ' The datasets are OpenAI-style messages JSONL; assistant turns marked weight 0 are context, not trained on.',
    ` Understudy trained on ${facts.base.ggufPath}; Axolotl starts from ${baseModel}, so results differ slightly when that GGUF is quantized.`,
  ].join('\n');
  // lineWidth 0: no folding, so long strings (the Jinja template) stay as written.
  return document.toString({ lineWidth: 0 });
}

// ---------------------------------------------------------------------------------------------------------------
// OpenAI fine-tuning JSONL

/** A training record as the worker reads it: TRL's conversational prompt-completion form. */
export interface PromptCompletionMessages {
  prompt: readonly ChatMessage[];
  completion: readonly ChatMessage[];
}

const ROLES = new Set(['system', 'user', 'assistant']);

/**
 * OpenAI's chat fine-tuning format: one `{"messages": [...]}` per line. The prompt's own assistant turns get
 * `weight: 0`, so only the completion is learned, as in the run (Axolotl reads the same marker, see `axolotlYaml`).
 * Records come from files, so roles and shapes are checked here; a bad one is an InvalidInputError naming its index.
 * `weights: false` leaves the marker out, for a service whose format has no per-message weight (Together).
 */
export function openAiFineTuningJsonl(records: readonly PromptCompletionMessages[], { weights = true }: { weights?: boolean } = {}): string {
  const lines = records.map((record, index) => {
    const fail = (message: string, field: string): never => {
      throw new InvalidInputError(`record ${index}: ${message}`, { field: `records[${index}]${field}` });
    };
    if (typeof record !== 'object' || record === null) return fail('is not an object', '');
    const messages: Record<string, unknown>[] = [];
    for (const part of ['prompt', 'completion'] as const) {
      const list: unknown = record[part];
      if (!Array.isArray(list) || list.length === 0) return fail(`${part} must be a non-empty list of messages`, `.${part}`);
      for (const [position, message] of (list as unknown[]).entries()) {
        const where = `.${part}[${position}]`;
        if (typeof message !== 'object' || message === null) return fail('a message is not an object', where);
        const { role, content } = message as { role?: unknown; content?: unknown };
        if (typeof role !== 'string' || !ROLES.has(role)) return fail(`role must be system, user or assistant, got ${JSON.stringify(role)}`, `${where}.role`);
        if (typeof content !== 'string') return fail('content must be a string', `${where}.content`);
        if (part === 'completion' && role !== 'assistant') return fail(`the completion must be assistant messages, got ${role}`, `${where}.role`);
        messages.push(weights && part === 'prompt' && role === 'assistant' ? { role, content, weight: 0 } : { role, content });
      }
    }
    return JSON.stringify({ messages });
  });
  return lines.map((line) => `${line}\n`).join('');
}
