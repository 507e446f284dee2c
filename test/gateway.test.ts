// `understudy serve` as a client sees it: the official `openai` npm SDK, unchanged, against the gateway on
// 127.0.0.1, in front of the real SmolLM2 GGUF on the embedded llama.cpp engine and a hosted model. The hosted model
// cannot run here: it is a TEST DOUBLE, a local OpenAI-compatible server that speaks the chat completions protocol.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { defaultConfigText, loadConfigFile } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { openStore, type Store } from '../src/adapters/store/sqlite-store.ts';
import { startGateway, type RunningGateway } from '../src/surfaces/http/gateway-server.ts';
import { sendCompletion, startOpenAiCompatibleServer, type OpenAiCompatibleTestServer } from './helpers/openai-compatible-server.ts';

const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-gateway-'));
let hosted: OpenAiCompatibleTestServer;
let gateway: RunningGateway;
let store: Store;
let client: OpenAI;

function configText(hostedUrl: string, port = 0): string {
  return defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR))
    .replace(/\ngateway:\n(?: {2}.*\n|#.*\n)*/, `\ngateway:\n  port: ${port}\n  logFlushMs: 50\n  redactPii: true\n  maxBodyBytes: 20000\n  defaultRoute: frontier\n  routes:\n    support-router: { target: base, tasks: [classify] }\n    frontier: { target: "provider:frontier" }\n`)
    .replace(/\nproviders: \{\}\n/, `\nproviders:\n  frontier: { kind: openai-compatible, baseUrl: "${hostedUrl}", model: gpt-4o-mini, priceAs: openai, maxRetries: 0 }\n`);
}

before(async () => {
  hosted = await startOpenAiCompatibleServer((_request, response) => sendCompletion(response, { text: 'card_arrival', model: 'gpt-4o-mini-2024-07-18', usage: { prompt_tokens: 120, completion_tokens: 3 } }));
  const file = path.join(directory, 'understudy.yaml');
  writeFileSync(file, configText(hosted.baseUrl));
  store = openStore(path.join(directory, 'understudy.db'));
  gateway = await startGateway(loadConfigFile(file), store, { threads: 2 });
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
});
after(async () => {
  await gateway?.close();
  store?.close();
  await hosted?.close();
  rmSync(directory, { recursive: true, force: true });
});

const messages = [
  { role: 'system' as const, content: 'Answer in one short sentence.' },
  { role: 'user' as const, content: 'What color is the sky?' },
];

test('the openai SDK lists the routes and gets completions, streamed and not, with route headers and usage', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((model) => model.id), ['support-router', 'frontier']);

  const { data: completion, response } = await client.chat.completions.create({ model: 'support-router', messages, max_tokens: 12, temperature: 0 }).withResponse();
  assert.equal(response.headers.get('x-understudy-route'), 'support-router');
  assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.model, 'support-router');
  const text = completion.choices[0]!.message.content!;
  assert.ok(text.length > 0);
  assert.ok(completion.usage!.prompt_tokens > 10 && completion.usage!.completion_tokens > 0 && completion.usage!.completion_tokens <= 12);

  // The same greedy request streamed: the pieces add up to the same text, then a usage chunk.
  const stream = await client.chat.completions.create({ model: 'support-router', messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let streamed = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    streamed += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  assert.equal(streamed, text);
  assert.ok(finish === 'stop' || finish === 'length');
  assert.deepEqual(usage, completion.usage);

  // A JSON schema through response_format comes back as JSON valid under it (grammar-constrained on the engine).
  const json = await client.chat.completions.create({
    model: 'support-router',
    messages: [{ role: 'user', content: 'Give the color of the sky.' }],
    max_tokens: 30,
    response_format: { type: 'json_schema', json_schema: { name: 'color', schema: { type: 'object', properties: { color: { type: 'string', enum: ['blue', 'green', 'red'] } }, required: ['color'], additionalProperties: false } } },
  });
  assert.ok(['blue', 'green', 'red'].includes((JSON.parse(json.choices[0]!.message.content!) as { color: string }).color));
});

test('a task tag routes to its sub-task whatever the model name; other models go to the default route; errors keep OpenAI\'s shape', async () => {
  const tagged = await client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 4 }, { headers: { 'x-understudy-task': 'classify' } }).withResponse();
  assert.equal(tagged.response.headers.get('x-understudy-route'), 'support-router');
  const before = hosted.requests.length;
  const other = await client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 4 }).withResponse();
  assert.equal(other.response.headers.get('x-understudy-route'), 'frontier');
  assert.equal(other.data.choices[0]!.message.content, 'card_arrival');
  assert.equal(hosted.requests.length, before + 1);
  assert.equal((hosted.requests.at(-1)!.body as { model: string }).model, 'gpt-4o-mini', 'the route sends its own upstream model');

  await assert.rejects(client.chat.completions.create({ model: 'support-router', messages, n: 2 }), (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'unsupported_value' && error.param === 'n');
  await assert.rejects(client.chat.completions.create({ model: 'support-router', messages: [] }), (error: unknown) => error instanceof OpenAI.BadRequestError && /messages/.test(error.message));
  const malformed = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "x", ' });
  assert.equal(malformed.status, 400);
  assert.deepEqual(Object.keys(((await malformed.json()) as { error: Record<string, unknown> }).error).sort(), ['code', 'message', 'param', 'type']);
  const huge = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'support-router', messages: [{ role: 'user', content: 'x'.repeat(30_000) }] }) });
  assert.equal(huge.status, 413);
  assert.equal(((await huge.json()) as { error: { code: string } }).error.code, 'request_too_large');
  const health = await fetch(`${gateway.url}/health`);
  assert.equal(((await health.json()) as { ok: boolean }).ok, true);
});

test('every completion is logged exactly once, with its route, side, tokens, price and latency, and no key', async () => {
  gateway.log.flush();
  const logged = store.listGatewayRequests();
  // 3 support-router + 1 tagged + 1 frontier calls succeeded; the rejected requests never reached a model.
  assert.equal(logged.length, 5);
  assert.equal(new Set(logged.map((record) => record.requestId)).size, 5);
  const frontier = logged.filter((record) => record.route === 'frontier');
  assert.equal(frontier.length, 1);
  assert.equal(frontier[0]!.path, 'hosted');
  // gpt-4o-mini from the genai-prices catalog: 120 × $0.15 + 3 × $0.60 per million tokens.
  assert.ok(Math.abs(frontier[0]!.costUsd! - (120 * 0.15 + 3 * 0.6) / 1e6) < 1e-12);
  for (const record of logged.filter((entry) => entry.route === 'support-router')) {
    assert.equal(record.path, 'tuned');
    assert.equal(record.status, 'ok');
    assert.ok(record.latencyMs > 0 && record.promptTokens! > 0);
  }
  assert.ok(!JSON.stringify(logged).includes('not-checked'), 'the client key is never stored');
});

test('messages and answers are stored with secrets and personal data redacted, and feedback attaches to a request id', async () => {
  const { response } = await client.chat.completions
    .create({ model: 'frontier', messages: [{ role: 'user', content: 'I am jo@example.com, card 4111 1111 1111 1111, key sk-abcdefghijklmnopqrstuv' }], max_tokens: 4 })
    .withResponse();
  const requestId = response.headers.get('x-request-id')!;
  const feedback = await fetch(`${gateway.url}/v1/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request_id: requestId, score: 0, correction: 'card_linking' }) });
  assert.equal(feedback.status, 200);
  const logged = store.listGatewayRequests().find((record) => record.requestId === requestId)!;
  assert.deepEqual(logged.messages, [{ role: 'user', content: 'I am [EMAIL], card [CARD], key [REDACTED_SECRET]' }]);
  assert.equal(logged.response, 'card_arrival');
  assert.deepEqual(store.listGatewayFeedback().map((entry) => [entry.requestId, entry.score, entry.correction]), [[requestId, 0, 'card_linking']]);
  const unknown = await fetch(`${gateway.url}/v1/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request_id: 'nope', score: 1 }) });
  assert.equal(unknown.status, 404);
  const empty = await fetch(`${gateway.url}/v1/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request_id: requestId }) });
  assert.equal(empty.status, 400);
  assert.match(((await empty.json()) as { error: { message: string } }).error.message, /a score, a correction/);
});

test('data import --from-logs turns logged calls into pool examples: corrections as answers, the rest unlabeled or as served', async () => {
  gateway.log.flush();
  const config = path.join(directory, 'understudy.yaml');
  const importLogs = (args: string[]) => {
    const result = spawnSync(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'understudy.js'), 'data', 'import', '--from-logs', '--config', config, '--workspace', directory, '--no-token-check', ...args, '--json'], { encoding: 'utf8', timeout: 120_000 });
    return { status: result.status, last: JSON.parse(result.stdout.trim().split('\n').filter((line) => line.startsWith('{')).at(-1) ?? '{}') as { selected: number; added: number; byLabel: Record<string, number>; batchId: string | null; alreadyImported?: unknown; error?: string } };
  };
  const okCalls = store.listGatewayRequests().filter((record) => record.status === 'ok' && !record.shadow).length;
  const corrected = importLogs(['--feedback', 'corrected']);
  assert.equal(corrected.status, 0);
  assert.deepEqual([corrected.last.selected, corrected.last.added, corrected.last.byLabel], [1, 1, { card_linking: 1 }]);
  const all = importLogs([]);
  assert.equal(all.last.selected, okCalls);
  assert.equal(all.last.byLabel.card_linking, 1);
  assert.equal(all.last.byLabel['(unlabeled)'], okCalls - 1);
  assert.equal(importLogs([]).last.alreadyImported !== undefined, true, 'the same selection is not imported twice');
  // The frontier's served answers are valid labels: with --answers served they come labeled.
  const served = importLogs(['--route', 'frontier', '--answers', 'served']);
  const frontierCalls = store.listGatewayRequests({ route: 'frontier' }).filter((record) => record.status === 'ok').length;
  assert.deepEqual(served.last.byLabel, { card_arrival: frontierCalls - 1, card_linking: 1 });
  const pool = store.curation.listPool('banking77-intent').filter((example) => example.source === 'log');
  assert.ok(pool.every((example) => example.messages[0]!.content === loadConfigFile(config).config.task.systemPrompt), 'log examples train with the task\'s own system prompt');
  assert.ok(pool.some((example) => example.tags.includes('corrected') && example.tags.includes('route:frontier')));
  assert.ok(!JSON.stringify(pool).includes('jo@example.com'), 'the redacted text is what enters the pool');
  assert.equal(importLogs(['--since', 'yesterday']).status, 2);
});

test('understudy serve runs until SIGTERM and flushes the log before it exits', async () => {
  const file = path.join(directory, 'serve.yaml');
  writeFileSync(file, configText(hosted.baseUrl).replace('    support-router: { target: base, tasks: [classify] }\n', ''));
  const workspace = path.join(directory, 'serve-workspace');
  const child = spawn(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'understudy.js'), 'serve', '--config', file, '--workspace', workspace, '--json'], { cwd: directory });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const deadline = Date.now() + 60_000;
  while (!stdout.includes('"event":"listening"') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  const listening = JSON.parse(stdout.split('\n').find((line) => line.includes('"event":"listening"'))!) as { url: string };
  const served = new OpenAI({ baseURL: `${listening.url}/v1`, apiKey: 'x', maxRetries: 0 });
  for (let index = 0; index < 3; index++) await served.chat.completions.create({ model: 'frontier', messages, max_tokens: 4 });
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { ok: boolean; logged: number; signal: string };
  assert.deepEqual([result.ok, result.logged, result.signal], [true, 3, 'SIGTERM']);
  const reopened = openStore(path.join(workspace, 'understudy.db'));
  assert.equal(reopened.listGatewayRequests().length, 3);
  reopened.close();
});

test('with gateway.requireKeys, only active keys get through; keys are stored as sha256 only; serving beyond loopback needs keys', async () => {
  const file = path.join(directory, 'keys.yaml');
  writeFileSync(file, configText(hosted.baseUrl).replace('    support-router: { target: base, tasks: [classify] }\n', '').replace('  redactPii: true\n', '  redactPii: true\n  requireKeys: true\n'));
  const workspace = path.join(directory, 'keys-workspace');
  const keyStore = openStore(path.join(workspace, 'understudy.db'));
  const { id, key } = keyStore.createGatewayKey('test-app');
  const secured = await startGateway(loadConfigFile(file), keyStore);
  try {
    const call = (apiKey: string) => new OpenAI({ baseURL: `${secured.url}/v1`, apiKey, maxRetries: 0 }).chat.completions.create({ model: 'frontier', messages, max_tokens: 4 });
    await assert.rejects(call('us-not-a-key'), (error: unknown) => error instanceof OpenAI.AuthenticationError && error.code === 'invalid_api_key');
    const missing = await fetch(`${secured.url}/v1/models`);
    assert.equal(missing.status, 401);
    assert.equal((await call(key)).choices[0]!.message.content, 'card_arrival');
    keyStore.revokeGatewayKey(id);
    await new Promise((resolve) => setTimeout(resolve, 1300));
    await assert.rejects(call(key), (error: unknown) => error instanceof OpenAI.AuthenticationError);
  } finally {
    await secured.close();
    keyStore.close();
  }
  for (const name of ['understudy.db', 'understudy.db-wal']) {
    const bytes = (() => {
      try {
        return readFileSync(path.join(workspace, name));
      } catch {
        return Buffer.alloc(0);
      }
    })();
    assert.ok(!bytes.includes(Buffer.from(key)), `${name} holds the key in clear`);
  }
  const open = path.join(directory, 'open.yaml');
  writeFileSync(open, configText(hosted.baseUrl).replace('    support-router: { target: base, tasks: [classify] }\n', ''));
  const openStore_ = openStore(path.join(workspace, 'understudy.db'));
  try {
    await assert.rejects(startGateway(loadConfigFile(open), openStore_, { host: '0.0.0.0' }), (error: unknown) => error instanceof Error && /without keys/.test(error.message));
  } finally {
    openStore_.close();
  }
});
