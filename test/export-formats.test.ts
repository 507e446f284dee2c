import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { CHATML_CHAT_TEMPLATE, compileChatTemplate, GEMMA_CHAT_TEMPLATE } from '../src/core/chat-template.ts';
import { InvalidInputError, UnderstudyError } from '../src/core/errors.ts';
import {
  axolotlYaml,
  ollamaModelfile,
  openAiFineTuningJsonl,
  shellQuote,
  vllmMaxLoraRank,
  vllmServeCommand,
  type ExportFacts,
  type PromptCompletionMessages,
} from '../src/pipeline/export-formats.ts';

// Paths with a space and a single quote: the cases naive quoting gets wrong.
const BASE_GGUF = '/models/my models/gemma-3-270m-q4_k_m.gguf';
const ADAPTER_GGUF = "/runs/Bob's run/adapter.gguf";
const PEFT_DIR = "/runs/Bob's run/peft";
const SYSTEM_PROMPT = 'Classify the "banking" query.\nAnswer with one label, e.g. card_arrival.';

/** A finished Gemma run trained with Understudy's built-in template, with validation and early stopping. */
function facts(overrides: { base?: Partial<ExportFacts['base']>; lora?: Partial<ExportFacts['lora']>; training?: Partial<ExportFacts['training']> } & Partial<Omit<ExportFacts, 'base' | 'lora' | 'training'>> = {}): ExportFacts {
  const { base, lora, training, ...rest } = overrides;
  return {
    runId: 'run_3f9c2a1b',
    adapterName: 'banking77-3f9c2a1b',
    base: {
      name: 'Gemma 3 270M',
      hubId: 'google/gemma-3-270m',
      ggufPath: BASE_GGUF,
      contextLength: 32768,
      chatTemplate: { source: GEMMA_CHAT_TEMPLATE, origin: 'built-in', family: 'gemma' },
      ...base,
    },
    adapter: { ggufPath: ADAPTER_GGUF, peftDir: PEFT_DIR },
    lora: { r: 12, alpha: 32, dropout: 0.05, targetModules: 'all-linear', useRslora: false, ...lora },
    training: {
      learningRate: 2e-4,
      epochs: 2,
      maxSteps: -1,
      batchSize: 8,
      gradientAccumulation: 2,
      maxLength: 512,
      warmupRatio: 0.05,
      scheduler: 'cosine',
      seed: 7,
      packing: true,
      bf16: true,
      gradientCheckpointing: false,
      evalSteps: 50,
      earlyStoppingPatience: 3,
      ...training,
    },
    trainPath: '/data/train.jsonl',
    validationPath: '/data/validation.jsonl',
    systemPrompt: SYSTEM_PROMPT,
    ...rest,
  };
}

function assertInvalid(run: () => unknown, check: { field?: string; message?: RegExp }): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(UnderstudyError.isInstance(error) && error instanceof InvalidInputError, `an InvalidInputError, got ${String(error)}`);
    if (check.field !== undefined) assert.equal(error.field, check.field);
    if (check.message !== undefined) assert.match(error.message, check.message);
    return true;
  });
}

function withTempDir<T>(run: (directory: string) => T): T {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-export-'));
  try {
    return run(directory);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** What `sh` makes of a string of shell words: each word, as the command would receive it. */
function shellWords(words: string): string[] {
  const output = execFileSync('sh', ['-c', `printf '%s\\0' ${words}`], { encoding: 'utf8' });
  return output.split('\0').slice(0, -1);
}

// ---------------------------------------------------------------------------------------------------------------
// Ollama

/**
 * Ollama's Modelfile reader (parser/parser.go `ParseFile`, ollama/ollama, Aug 2026), ported line for line so the
 * test reads the Modelfile as Ollama does: a value ends at the first line break where it is complete (bare, "…"
 * or """…""", no escapes), spaces never end one, and non-printable characters are dropped.
 */
function parseModelfile(text: string): [string, string][] {
  type State = 'nil' | 'name' | 'value' | 'parameter' | 'comment';
  const isSpace = (rune: string): boolean => rune === ' ' || rune === '\t';
  const isNewline = (rune: string): boolean => rune === '\r' || rune === '\n';
  const isPrint = (rune: string): boolean => rune === ' ' || !/[\p{C}\p{Z}]/u.test(rune);
  const unquote = (value: string): string | undefined => {
    if (value.startsWith('"""')) return value.length >= 6 && value.endsWith('"""') ? value.slice(3, -3) : undefined;
    if (value.startsWith('"')) return value.length >= 2 && value.endsWith('"') ? value.slice(1, -1) : undefined;
    return value;
  };
  const transition = (rune: string, state: State): [State, string] => {
    switch (state) {
      case 'nil':
        if (rune === '#') return ['comment', ''];
        return isSpace(rune) || isNewline(rune) ? ['nil', ''] : ['name', rune];
      case 'name':
        if (/[a-zA-Z]/.test(rune)) return ['name', rune];
        if (isSpace(rune)) return ['value', ''];
        throw new Error('invalid command');
      case 'value':
        return [isSpace(rune) || isNewline(rune) ? 'nil' : 'value', rune];
      case 'parameter':
        if (/[a-zA-Z0-9_]/.test(rune)) return ['parameter', rune];
        if (isSpace(rune)) return ['value', ''];
        throw new Error('unexpected EOF');
      case 'comment':
        return [isNewline(rune) ? 'nil' : 'comment', ''];
    }
  };

  const commands: [string, string][] = [];
  let state: State = 'nil';
  let buffer = '';
  let name = '';
  for (const character of text) {
    const [target, rune] = transition(character, state);
    let next = target;
    if (next !== state) {
      if (state === 'name') {
        const word = buffer.toLowerCase();
        assert.ok(['from', 'adapter', 'template', 'system', 'parameter', 'license'].includes(word), `Ollama knows the command ${word}`);
        if (word === 'parameter') next = 'parameter';
        else name = word === 'from' ? 'model' : word;
      } else if (state === 'parameter') {
        name = buffer;
      } else if (state === 'value') {
        const value = unquote(buffer.trim());
        if (value === undefined || isSpace(rune)) {
          buffer += rune;
          continue;
        }
        commands.push([name, value]);
      }
      buffer = '';
      state = next;
    }
    if (rune !== '' && isPrint(rune)) buffer += rune;
  }
  if (state === 'value') {
    const value = unquote(buffer.trim());
    assert.ok(value !== undefined, 'the last value is complete');
    commands.push([name, value]);
  } else {
    assert.ok(state === 'nil' || state === 'comment', 'the file ends between commands');
  }
  return commands;
}

test('the Modelfile builds the adapter on the base GGUF with greedy decoding, the context and the system prompt', () => {
  const text = ollamaModelfile(facts());
  const lines = text.split('\n');
  assert.ok(text.endsWith('\n'));
  assert.ok(lines[0]!.startsWith('# ') && lines[0]!.includes('run_3f9c2a1b'), 'the header names the run');
  assert.ok(lines.includes('#   ollama create banking77-3f9c2a1b -f Modelfile'));
  assert.ok(lines.includes(`FROM ${BASE_GGUF}`), 'a path with spaces stays bare: Ollama reads to the end of the line');
  assert.ok(lines.includes(`ADAPTER ${ADAPTER_GGUF}`));
  assert.ok(lines.includes('PARAMETER temperature 0'));
  assert.ok(lines.includes('PARAMETER num_ctx 32768'));
  assert.ok(text.includes(`SYSTEM """${SYSTEM_PROMPT}"""\n`));

  const commands = parseModelfile(text);
  assert.deepEqual(
    commands.filter(([name]) => name !== 'template'),
    [
      ['model', BASE_GGUF],
      ['adapter', ADAPTER_GGUF],
      ['stop', '<end_of_turn>'],
      ['temperature', '0'],
      ['num_ctx', '32768'],
      ['system', SYSTEM_PROMPT],
    ],
  );
  const template = commands.find(([name]) => name === 'template')?.[1];
  assert.ok(template?.startsWith('{{- range $i, $_ := .Messages }}') && template.includes('<start_of_turn>model'), 'the Gemma template for Ollama');
});

test('Modelfile values round-trip through Ollama\'s reader: edge spaces, quotes and line breaks', () => {
  const systemPrompt = '  "Quoted" first line\n\tsecond line ends with a quote"\nthird  ';
  const ggufPath = ' leading space.gguf';
  const text = ollamaModelfile(facts({ systemPrompt, base: { ggufPath } }));
  assert.ok(text.includes(`FROM " leading space.gguf"\n`), 'edge whitespace is quoted, or Ollama would trim it');
  const commands = new Map(parseModelfile(text));
  assert.equal(commands.get('model'), ggufPath);
  assert.equal(commands.get('system'), systemPrompt);

  assertInvalid(() => ollamaModelfile(facts({ systemPrompt: 'say """hi"""\nthen stop' })), { field: 'systemPrompt', message: /"""/ });
  assertInvalid(() => ollamaModelfile(facts({ adapter: { ggufPath: '/a\nb.gguf', peftDir: PEFT_DIR } })), { field: 'adapter.ggufPath' });
  assertInvalid(() => ollamaModelfile(facts({ adapterName: 'Banking 77' })), { field: 'adapterName' });
});

test('a GGUF that carries its template gets no TEMPLATE: Ollama detects it; no system prompt, no SYSTEM', () => {
  const text = ollamaModelfile(facts({ systemPrompt: undefined, base: { chatTemplate: { source: CHATML_CHAT_TEMPLATE, origin: 'gguf', family: 'chatml' }, contextLength: undefined } }));
  assert.doesNotMatch(text, /^TEMPLATE|^SYSTEM|^PARAMETER stop/m);
  assert.match(text, /^# Chat template: .*ollama show banking77-3f9c2a1b --template/m);
  assert.ok(text.includes('PARAMETER num_ctx 512\n'), 'without the base context length, the training max length');
  assert.ok(ollamaModelfile(facts(), { contextLength: 4096 }).includes('PARAMETER num_ctx 4096\n'));

  const chatml = parseModelfile(ollamaModelfile(facts({ base: { chatTemplate: { source: CHATML_CHAT_TEMPLATE, origin: 'built-in', family: 'chatml' } } })));
  assert.deepEqual(
    chatml.filter(([name]) => name === 'stop').map(([, value]) => value),
    ['<|im_start|>', '<|im_end|>'],
  );
  assert.equal(chatml.find(([name]) => name === 'template')?.[1], '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n');

  assertInvalid(() => ollamaModelfile(facts({ base: { chatTemplate: { source: '{{ messages }}', origin: 'built-in', family: 'llama3' } } })), { field: 'base.chatTemplate.family' });
  // A run trained with an older version of the built-in Gemma template: the Go template would not match it.
  const olderGemma = GEMMA_CHAT_TEMPLATE.replace(" | trim", '');
  assertInvalid(() => ollamaModelfile(facts({ base: { chatTemplate: { source: olderGemma, origin: 'built-in', family: 'gemma' } } })), { field: 'base.chatTemplate.source' });
});

test('the built-in Jinja templates render what the Ollama Go templates in export-formats.ts write', () => {
  // Worked out by hand from the Go templates (Ollama puts the Modelfile's SYSTEM first in .Messages and adds BOS
  // itself). If this fails, a built-in template changed: update OLLAMA_TEMPLATES to match, then this text.
  const gemma = compileChatTemplate(GEMMA_CHAT_TEMPLATE, { bosToken: '<bos>' });
  const conversation = [
    { role: 'system' as const, content: 'S' },
    { role: 'user' as const, content: 'U1' },
    { role: 'assistant' as const, content: 'A1' },
    { role: 'user' as const, content: 'U2' },
  ];
  assert.equal(
    gemma.render(conversation, { addGenerationPrompt: true }),
    '<bos><start_of_turn>user\nS\n\nU1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n<start_of_turn>user\nU2<end_of_turn>\n<start_of_turn>model\n',
  );
  assert.equal(
    compileChatTemplate(CHATML_CHAT_TEMPLATE).render(conversation.slice(0, 2), { addGenerationPrompt: true }),
    '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\n',
  );
});

// ---------------------------------------------------------------------------------------------------------------
// vLLM

test('vllmMaxLoraRank rounds r up to a rank vLLM accepts', () => {
  const cases: [number, number][] = [[1, 8], [8, 8], [9, 16], [16, 16], [17, 32], [64, 64], [65, 128], [257, 320], [321, 512], [512, 512]];
  for (const [r, rank] of cases) assert.equal(vllmMaxLoraRank(r), rank, `r=${r}`);
  for (const r of [0, 513, 12.5]) assertInvalid(() => vllmMaxLoraRank(r), { field: 'lora.r' });
});

test('shellQuote gives sh back the exact string', () => {
  const values = ['plain/path-1.0', "Bob's run", 'a b\tc', '$HOME `id` $(id) "x" \\n', 'line\nbreak', "''", ''];
  assert.deepEqual(shellWords(values.map(shellQuote).join(' ')), values);
  assert.equal(shellQuote('google/gemma-3-270m'), 'google/gemma-3-270m', 'safe words stay bare');
});

test('the vLLM script parses, and runs vllm serve with the adapter, its rank, the context and the exact chat template', () => {
  const script = vllmServeCommand(facts());
  assert.ok(script.startsWith('#!/bin/sh\n'));
  assert.match(script, /^# .*run_3f9c2a1b/m);
  withTempDir((directory) => {
    const scriptPath = path.join(directory, 'serve-vllm.sh');
    writeFileSync(scriptPath, script);
    execFileSync('sh', ['-n', scriptPath]);

    // A stand-in `vllm` that records its arguments, NUL-separated, instead of starting a server.
    const bin = path.join(directory, 'bin');
    const argsFile = path.join(directory, 'args');
    execFileSync('mkdir', [bin]);
    writeFileSync(path.join(bin, 'vllm'), `#!/bin/sh\nprintf '%s\\0' "$@" > ${shellQuote(argsFile)}\n`);
    chmodSync(path.join(bin, 'vllm'), 0o755);
    execFileSync('sh', [scriptPath, '--gpu-memory-utilization', '0.5'], { env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, TMPDIR: directory } });

    const args = readFileSync(argsFile, 'utf8').split('\0').slice(0, -1);
    const templateFile = args[args.indexOf('--chat-template') + 1]!;
    assert.deepEqual(args, [
      'serve',
      'google/gemma-3-270m',
      '--enable-lora',
      '--lora-modules',
      `banking77-3f9c2a1b=${PEFT_DIR}`,
      '--max-lora-rank',
      '16',
      '--max-model-len',
      '32768',
      '--port',
      '8000',
      '--chat-template',
      templateFile,
      '--gpu-memory-utilization',
      '0.5',
    ]);
    assert.ok(templateFile.startsWith(directory), 'the template file goes under TMPDIR');
    assert.equal(readFileSync(templateFile, 'utf8'), GEMMA_CHAT_TEMPLATE, 'byte for byte: quotes, backslashes and all');
  });
});

test('the vLLM script\'s example request is a valid call to the adapter', () => {
  const script = vllmServeCommand(facts(), { port: 9001 });
  const curl = script.split('\n').find((line) => line.includes('curl http://localhost:9001/v1/chat/completions'));
  assert.ok(curl !== undefined);
  const body = shellWords(curl.slice(curl.indexOf(' -d ') + 4))[0]!;
  const request = JSON.parse(body) as { model: string; messages: { role: string; content: string }[]; temperature: number };
  assert.equal(request.model, 'banking77-3f9c2a1b');
  assert.deepEqual(request.messages[0], { role: 'system', content: SYSTEM_PROMPT });
  assert.equal(request.temperature, 0);
  assert.match(script, /--port 9001 /);
});

test('the vLLM script takes a local base folder, uses the JSON --lora-modules form when the path needs it, and refuses a GGUF-only base', () => {
  const baseModelDir = "/models/Gemma 3 (Bob's)";
  const script = vllmServeCommand(facts({ base: { hubId: undefined, chatTemplate: undefined }, adapter: { ggufPath: ADAPTER_GGUF, peftDir: '/runs/lr=2e-4,r=12/peft' } }), { baseModelDir });
  assert.doesNotMatch(script, /--chat-template/, 'without a known template, the tokenizer\'s own');
  const serve = script.slice(script.indexOf('exec vllm serve ') + 'exec vllm serve '.length).replaceAll('\\\n', ' ').replace('"$@"', '');
  const args = shellWords(serve);
  assert.equal(args[0], baseModelDir);
  const loraModule = args[args.indexOf('--lora-modules') + 1]!;
  assert.deepEqual(JSON.parse(loraModule), { name: 'banking77-3f9c2a1b', path: '/runs/lr=2e-4,r=12/peft' });

  assertInvalid(() => vllmServeCommand(facts({ base: { hubId: undefined } })), { field: 'base.hubId', message: /Hugging Face/ });
  assertInvalid(() => vllmServeCommand(facts({ lora: { r: 1024 } })), { field: 'lora.r' });
  assertInvalid(() => vllmServeCommand(facts(), { port: 70000 }), { field: 'port' });
});

// ---------------------------------------------------------------------------------------------------------------
// Axolotl

const AXOLOTL_FILES = { messagesTrainPath: '/data/train.messages.jsonl', messagesValidationPath: '/data/validation.messages.jsonl' };

test('the Axolotl config carries the run\'s LoRA, schedule, data and template under Axolotl\'s key names', () => {
  const text = axolotlYaml(facts(), AXOLOTL_FILES);
  assert.match(text, /^# Axolotl config equivalent to Understudy run run_3f9c2a1b/);
  const config = parse(text) as Record<string, unknown>;
  const dataset = {
    ds_type: 'json',
    split: 'train',
    type: 'chat_template',
    field_messages: 'messages',
    message_property_mappings: { role: 'role', content: 'content' },
    roles_to_train: ['assistant'],
    train_on_eos: 'turn',
    message_field_training: 'weight',
  };
  assert.deepEqual(config, {
    base_model: 'google/gemma-3-270m',
    chat_template: 'jinja',
    chat_template_jinja: GEMMA_CHAT_TEMPLATE,
    eot_tokens: ['<end_of_turn>'],
    datasets: [{ path: '/data/train.messages.jsonl', ...dataset }],
    test_datasets: [{ path: '/data/validation.messages.jsonl', ...dataset }],
    val_set_size: 0,
    output_dir: './outputs/banking77-3f9c2a1b',
    adapter: 'lora',
    lora_r: 12,
    lora_alpha: 32,
    lora_dropout: 0.05,
    lora_target_linear: true,
    peft_use_rslora: false,
    sequence_len: 512,
    excess_length_strategy: 'truncate',
    sample_packing: true,
    attn_implementation: 'sdpa',
    train_on_inputs: false,
    micro_batch_size: 8,
    gradient_accumulation_steps: 2,
    num_epochs: 2,
    learning_rate: 0.0002,
    lr_scheduler: 'cosine',
    warmup_ratio: 0.05,
    seed: 7,
    bf16: true,
    gradient_checkpointing: false,
    eval_steps: 50,
    save_steps: 50,
    early_stopping_patience: 3,
  });
});

test('the Axolotl config: explicit targets, max steps, no validation, the tokenizer\'s template, a local base', () => {
  const run = facts({
    base: { hubId: undefined, chatTemplate: undefined },
    lora: { targetModules: ['q_proj', 'v_proj'], useRslora: true },
    training: { maxSteps: 300, evalSteps: 0, earlyStoppingPatience: undefined, packing: false, scheduler: 'constant', bf16: false },
    validationPath: undefined,
  });
  const config = parse(axolotlYaml(run, { messagesTrainPath: '/data/train.messages.jsonl', baseModelDir: '/models/gemma hf', outputDir: '/out/run 1' })) as Record<string, unknown>;
  assert.equal(config.base_model, '/models/gemma hf');
  assert.equal(config.output_dir, '/out/run 1');
  assert.equal(config.chat_template, 'tokenizer_default');
  assert.deepEqual(config.lora_target_modules, ['q_proj', 'v_proj']);
  assert.equal(config.peft_use_rslora, true);
  assert.equal(config.max_steps, 300);
  assert.equal(config.num_epochs, 2);
  assert.equal(config.lr_scheduler, 'constant');
  assert.equal(config.sample_packing, false);
  assert.equal(config.bf16, false);
  for (const key of ['chat_template_jinja', 'eot_tokens', 'lora_target_linear', 'test_datasets', 'eval_steps', 'save_steps', 'early_stopping_patience', 'attn_implementation']) {
    assert.ok(!(key in config), `no ${key}`);
  }
});

test('the Axolotl config refuses what Axolotl would reject or run differently', () => {
  assertInvalid(() => axolotlYaml(facts({ base: { hubId: undefined } }), AXOLOTL_FILES), { field: 'base.hubId' });
  assertInvalid(() => axolotlYaml(facts(), { messagesTrainPath: '/data/train.messages.jsonl' }), { field: 'messagesValidationPath' });
  assertInvalid(() => axolotlYaml(facts({ lora: { alpha: 16.5 } }), AXOLOTL_FILES), { field: 'lora.alpha' });
  assertInvalid(() => axolotlYaml(facts({ training: { saveSteps: 75 } }), AXOLOTL_FILES), { field: 'training.saveSteps' });
});

// ---------------------------------------------------------------------------------------------------------------
// OpenAI fine-tuning JSONL

test('the OpenAI JSONL has one messages line per record; earlier answers in the prompt are weight 0', () => {
  const records: PromptCompletionMessages[] = [
    { prompt: [{ role: 'system', content: SYSTEM_PROMPT }, { role: 'user', content: 'My card hasn\'t arrived — « où est-elle ? » 🙂' }], completion: [{ role: 'assistant', content: 'card_arrival' }] },
    {
      prompt: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'Hello!\nHow can I help?' },
        { role: 'user', content: 'top up failed' },
      ],
      completion: [{ role: 'assistant', content: 'top_up_failed' }],
    },
  ];
  const text = openAiFineTuningJsonl(records);
  assert.ok(text.endsWith('}\n'));
  const lines = text.split('\n').slice(0, -1);
  assert.equal(lines.length, 2);
  const parsed = lines.map((line) => JSON.parse(line) as { messages: Record<string, unknown>[] });
  assert.deepEqual(parsed[0], { messages: [...records[0]!.prompt, ...records[0]!.completion] });
  assert.deepEqual(parsed[1]!.messages, [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'Hello!\nHow can I help?', weight: 0 },
    { role: 'user', content: 'top up failed' },
    { role: 'assistant', content: 'top_up_failed' },
  ]);
  assert.equal(openAiFineTuningJsonl([]), '');
});

test('a malformed record is an InvalidInputError naming its index and field', () => {
  const good: PromptCompletionMessages = { prompt: [{ role: 'user', content: 'q' }], completion: [{ role: 'assistant', content: 'a' }] };
  const cases: [unknown, string, RegExp][] = [
    [{ prompt: [{ role: 'user', content: 'q' }, { role: 'tool', content: 'x' }], completion: good.completion }, 'records[2].prompt[1].role', /role must be system, user or assistant, got "tool"/],
    [{ prompt: good.prompt, completion: [{ role: 'user', content: 'a' }] }, 'records[2].completion[0].role', /the completion must be assistant messages, got user/],
    [{ prompt: good.prompt, completion: [] }, 'records[2].completion', /completion must be a non-empty list/],
    [{ prompt: good.prompt, completion: [{ role: 'assistant', content: 42 }] }, 'records[2].completion[0].content', /content must be a string/],
    [null, 'records[2]', /is not an object/],
  ];
  for (const [bad, field, message] of cases) {
    assertInvalid(() => openAiFineTuningJsonl([good, good, bad as PromptCompletionMessages]), { field, message: new RegExp(`^record 2: ${message.source}`) });
  }
});
