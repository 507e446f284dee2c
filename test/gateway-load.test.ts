// Load on loopback: 128 concurrent clients for 60 s through the gateway to a fast local upstream (a TEST DOUBLE
// of a hosted model: a local OpenAI-compatible server). No request may fail, and every one is logged exactly once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultConfigText, loadConfigFile } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR } from '../src/adapters/paths.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { startGateway } from '../src/surfaces/http/gateway-server.ts';
import { sendCompletion, startOpenAiCompatibleServer } from './helpers/openai-compatible-server.ts';

const CLIENTS = 128;
const SECONDS = Number(process.env.UNDERSTUDY_LOAD_SECONDS ?? 60);

test(`${CLIENTS} concurrent clients for ${SECONDS} s: no errors, every request logged exactly once`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-load-'));
  const upstream = await startOpenAiCompatibleServer((_request, response) => sendCompletion(response, { text: 'card_arrival', model: 'gpt-4o-mini', usage: { prompt_tokens: 50, completion_tokens: 3 } }));
  const file = path.join(directory, 'understudy.yaml');
  writeFileSync(
    file,
    defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR))
      .replace(/\ngateway:\n(?: {2}.*\n|#.*\n)*/, '\ngateway:\n  port: 0\n  routes:\n    frontier: { target: "provider:frontier" }\n')
      .replace(/\nproviders: \{\}\n/, `\nproviders:\n  frontier: { kind: openai-compatible, baseUrl: "${upstream.baseUrl}", model: gpt-4o-mini, priceAs: openai, maxRetries: 0, maxConcurrency: 256 }\n`),
  );
  const store = openStore(path.join(directory, 'understudy.db'));
  const gateway = await startGateway(loadConfigFile(file), store);
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const url = new URL(`${gateway.url}/v1/chat/completions`);
  const body = JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'Where is my card?' }], max_tokens: 4 });
  const ids: string[] = [];
  const failures: string[] = [];
  const post = () =>
    new Promise<void>((resolve) => {
      const call = request({ hostname: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => {
          if (response.statusCode === 200 && text.includes('card_arrival')) ids.push(String(response.headers['x-request-id']));
          else failures.push(`${response.statusCode}: ${text.slice(0, 200)}`);
          resolve();
        });
      });
      call.on('error', (error) => {
        failures.push(error.message);
        resolve();
      });
      call.end(body);
    });
  const deadline = Date.now() + SECONDS * 1000;
  try {
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (Date.now() < deadline) await post();
    }));
  } finally {
    agent.destroy();
    await gateway.close();
  }
  try {
    assert.deepEqual(failures.slice(0, 5), []);
    const logged = store.listGatewayRequests();
    assert.equal(logged.length, ids.length);
    assert.equal(new Set(logged.map((record) => record.requestId)).size, ids.length);
    const served = new Set(ids);
    assert.ok(logged.every((record) => served.has(record.requestId) && record.status === 'ok'));
    process.stderr.write(`load: ${ids.length} requests in ${SECONDS} s (${Math.round(ids.length / SECONDS)}/s) with ${CLIENTS} clients, all logged once\n`);
  } finally {
    store.close();
    await upstream.close();
    rmSync(directory, { recursive: true, force: true });
  }
});
