import { existsSync } from 'node:fs';
import readline from 'node:readline/promises';
import { createEmbeddedProvider } from '../../../adapters/llm/embedded-provider.ts';
import { createLlamaCppEngine } from '../../../adapters/llm/llama-cpp-engine.ts';
import { pullCatalogModel } from '../../../adapters/models/acquire.ts';
import { findCatalogModel } from '../../../adapters/models/catalog.ts';
import type { ChatRequest, ChatResult } from '../../../contracts/provider.ts';
import type { ChatMessage } from '../../../contracts/worker.ts';
import { builtInChatTemplate } from '../../../core/chat-template.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import type { Output } from '../output.ts';

export interface ChatOptions {
  json?: boolean;
  model: string;
  adapter?: string;
  system?: string;
  message?: string;
  maxTokens?: string;
  temperature?: string;
  seed?: string;
  labels?: string;
  usdPerHour?: string;
}

function numberOption(value: string | undefined, field: string, check: (number: number) => boolean): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || !check(number)) throw new InvalidInputError(`--${field} ${JSON.stringify(value)} is not valid`, { field });
  return number;
}

/**
 * `understudy chat --model <catalog id | file.gguf> [--adapter file.gguf]`: a quick check of a base or a tuned
 * adapter on the embedded engine. One-shot with `--message`, else an interactive session (one line per turn).
 */
export async function runChat(options: ChatOptions, output: Output): Promise<void> {
  const maxTokens = numberOption(options.maxTokens, 'max-tokens', (value) => Number.isInteger(value) && value > 0) ?? 256;
  const temperature = numberOption(options.temperature, 'temperature', (value) => value >= 0 && value <= 2);
  const seed = numberOption(options.seed, 'seed', (value) => Number.isInteger(value) && value >= 0);
  const usdPerHour = numberOption(options.usdPerHour, 'usd-per-hour', (value) => value >= 0);
  const labels = options.labels?.split(',').map((label) => label.trim()).filter((label) => label !== '');
  const catalog = findCatalogModel(options.model);
  let modelPath = options.model;
  if (catalog !== undefined) modelPath = (await pullCatalogModel(catalog.id, { onProgress: (progress) => output.info(progress.message) })).ggufPath;
  else if (!existsSync(modelPath)) throw new InvalidInputError(`--model ${JSON.stringify(options.model)} is neither a catalog id nor a GGUF file`, { field: 'model', hint: 'understudy models list' });
  const engine = await createLlamaCppEngine({
    modelPath,
    ...(options.adapter === undefined ? {} : { adapterPath: options.adapter }),
    ...(catalog?.offline?.ggufHasChatTemplate === false ? { chatTemplate: builtInChatTemplate(catalog.chatTemplate) } : {}),
  });
  const provider = createEmbeddedProvider({ engine, ...(usdPerHour === undefined ? {} : { serving: { usdPerHour } }) });
  const history: ChatMessage[] = options.system === undefined ? [] : [{ role: 'system', content: options.system }];
  const ask = async (text: string): Promise<ChatResult> => {
    history.push({ role: 'user', content: text });
    const request: ChatRequest = {
      messages: history,
      maxTokens,
      ...(temperature === undefined ? {} : { temperature }),
      ...(seed === undefined ? {} : { seed }),
      ...(labels === undefined || labels.length === 0 ? {} : { constraint: { kind: 'labels' as const, labels } }),
    };
    let result: ChatResult | undefined;
    for await (const event of provider.stream(request)) {
      if (event.type === 'delta') {
        if (!output.json) process.stdout.write(event.text);
      } else result = event.result;
    }
    if (!output.json) process.stdout.write('\n');
    history.push({ role: 'assistant', content: result!.text });
    return result!;
  };
  try {
    const turns: ChatResult[] = [];
    if (options.message !== undefined) turns.push(await ask(options.message));
    else {
      if (!process.stdin.isTTY && output.json) throw new InvalidInputError('give --message with --json, or run interactively', { field: 'message' });
      const lines = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
      if (process.stdin.isTTY) output.info(`chatting with ${options.model}${options.adapter === undefined ? '' : ` + ${options.adapter}`}; an empty line ends`);
      for (;;) {
        const line = await lines.question(process.stdin.isTTY ? '> ' : '').catch(() => '');
        if (line.trim() === '') break;
        turns.push(await ask(line));
      }
      lines.close();
    }
    const last = turns.at(-1);
    if (last !== undefined && !output.json) {
      const cost = last.cost.kind === 'priced' ? `$${last.cost.usd.toExponential(2)}` : `cost unknown (${last.cost.reason})`;
      output.info(`[${last.usage?.promptTokens ?? '?'} prompt + ${last.usage?.completionTokens ?? '?'} completion tokens, first token ${last.latency.firstTokenMs.toFixed(0)} ms, total ${last.latency.totalMs.toFixed(0)} ms, ${cost}]`);
    }
    output.result({ ok: true, command: 'chat', model: options.model, adapter: options.adapter ?? null, turns });
  } finally {
    await provider.close();
    await engine.dispose();
  }
}
