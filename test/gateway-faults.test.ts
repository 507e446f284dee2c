// The tuned arm as its own process (what a llama.cpp or vLLM server is), killed mid-test under concurrent clients
// and started again: every client still gets an answer (the incumbent's, by fallback), the breaker opens and stops
// sending to the dead arm, and after its cooldown one trial finds the arm back and the breaker closes. Both upstreams
// are TEST DOUBLES (OpenAI-compatible servers on 127.0.0.1: a hosted model cannot run here).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { defaultConfigText, loadConfigFile } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR } from '../src/adapters/paths.ts';
import { openStore, type Store } from '../src/adapters/store/sqlite-store.ts';
import { startGateway, type RunningGateway } from '../src/surfaces/http/gateway-server.ts';
import { sendCompletion, startOpenAiCompatibleServer, type OpenAiCompatibleTestServer } from './helpers/openai-compatible-server.ts';

/** The tuned arm's stand-in server: its own process, so it can be killed like a real one. */
const TUNED_SOURCE = `
const http = require('node:http');
const body = JSON.stringify({ id: 'chatcmpl-tuned', object: 'chat.completion', created: 1700000000, model: 'tuned', choices: [{ index: 0, message: { role: 'assistant', content: 'card_arrival' }, finish_reason: 'stop' }], usage: { prompt_tokens: 20, completion_tokens: 3, total_tokens: 23 } });
http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); }); })
  .listen(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-faults-'));
let port: number;
let tuned: ChildProcess | undefined;
let incumbent: OpenAiCompatibleTestServer;
let gateway: RunningGateway;
let store: Store;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: free } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return free;
}

function startTuned(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', TUNED_SOURCE, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`the tuned stand-in exited with ${code}`)));
  });
}

before(async () => {
  port = await freePort();
  tuned = await startTuned();
  incumbent = await startOpenAiCompatibleServer((_request, response) => sendCompletion(response, { text: 'card_arrival', model: 'gpt-4o-mini', usage: { prompt_tokens: 100, completion_tokens: 3 } }));
  const provider = (url: string) => `{ kind: openai-compatible, baseUrl: "${url}", model: gpt-4o-mini, priceAs: openai, maxRetries: 0 }`;
  const text = defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR))
    .replace(
      /\ngateway:\n(?: {2}.*\n|#.*\n)*/,
      `\ngateway:\n  port: 0\n  logFlushMs: 20\n  routes:\n    faulty: { target: "provider:frontier", experiment: { name: fault-test, candidate: "provider:tuned", weight: 1, timeoutMs: 2000, breakerFailures: 3, breakerCooldownMs: 700 } }\n`,
    )
    .replace(/\nproviders: \{\}\n/, `\nproviders:\n  frontier: ${provider(incumbent.baseUrl)}\n  tuned: ${provider(`http://127.0.0.1:${port}/v1`)}\n`);
  const file = path.join(directory, 'understudy.yaml');
  writeFileSync(file, text);
  store = openStore(path.join(directory, 'understudy.db'));
  gateway = await startGateway(loadConfigFile(file), store, { threads: 1 });
});
after(async () => {
  tuned?.kill('SIGKILL');
  await gateway?.close();
  store?.close();
  await incumbent?.close();
  rmSync(directory, { recursive: true, force: true });
});

interface Answer {
  at: number;
  status: number;
  content: string | undefined;
  requestId: string | null;
  arm: string | null;
  fallback: string | null;
  breaker: string | null;
}

test('the tuned arm killed mid-test: clients still get answers by fallback, the breaker opens, and closes once the arm is back', async () => {
  const answers: Answer[] = [];
  type Phase = 'healthy' | 'killed' | 'restarted';
  const current: { phase: Phase } = { phase: 'healthy' };
  const phases = new Map<Answer, Phase>();
  let running = true;
  const client = async (index: number): Promise<void> => {
    for (let turn = 0; running; turn += 1) {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-understudy-user': `user-${index}-${turn}` },
        body: JSON.stringify({ model: 'faulty', messages: [{ role: 'user', content: 'Where is my card?' }], max_tokens: 3 }),
      });
      const body = (await response.json()) as { choices?: { message: { content: string } }[] };
      const answer: Answer = {
        at: Date.now(),
        status: response.status,
        content: body.choices?.[0]?.message.content,
        requestId: response.headers.get('x-request-id'),
        arm: response.headers.get('x-understudy-arm'),
        fallback: response.headers.get('x-understudy-fallback'),
        breaker: response.headers.get('x-understudy-breaker'),
      };
      answers.push(answer);
      phases.set(answer, current.phase);
    }
  };
  const clients = Array.from({ length: 8 }, (_, index) => client(index));
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const waitFor = async (what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  try {
    await sleep(800);
    // SIGKILL: connections reset mid-request, later ones refused.
    current.phase = 'killed';
    const killedAt = answers.length;
    tuned!.kill('SIGKILL');
    await waitFor('the breaker to open', () => answers.slice(killedAt).some((answer) => answer.breaker === 'open'));
    await sleep(1500);
    current.phase = 'restarted';
    const restartedAt = answers.length;
    tuned = await startTuned();
    // After the cooldown one trial reaches the arm again; its success closes the breaker.
    await waitFor('the candidate to answer again', () => answers.slice(restartedAt).filter((answer) => answer.arm === 'candidate' && answer.fallback === null).length >= 20);
  } finally {
    running = false;
    await Promise.all(clients);
  }

  const of = (name: Phase) => answers.filter((answer) => phases.get(answer) === name);
  assert.deepEqual(answers.filter((answer) => answer.status !== 200 || answer.content !== 'card_arrival'), [], 'every client got an answer');
  assert.ok(of('healthy').length > 0 && of('healthy').every((answer) => answer.arm === 'candidate' && answer.fallback === null), 'healthy: the candidate answers');
  const killed = of('killed');
  assert.ok(killed.some((answer) => answer.fallback === 'candidate-failed'), 'killed: failures fall back to the incumbent');
  const open = killed.filter((answer) => answer.breaker === 'open');
  assert.ok(open.length > killed.filter((answer) => answer.fallback === 'candidate-failed').length, 'killed: the open breaker answers most requests without trying the dead arm');
  assert.ok(open.every((answer) => answer.arm === 'incumbent' && answer.fallback === null));
  const restarted = of('restarted');
  const lastOpen = restarted.map((answer) => answer.breaker).lastIndexOf('open');
  assert.ok(restarted.slice(lastOpen + 1).every((answer) => answer.arm === 'candidate' && answer.fallback === null && answer.breaker === null), 'closed again: the candidate answers everyone');

  // The log has each served request once, under the id its client saw, and each failed candidate try as an error.
  gateway.log.flush();
  const records = store.listGatewayRequests({ route: 'faulty' });
  const served = new Map<string, number>();
  for (const record of records) served.set(record.requestId, (served.get(record.requestId) ?? 0) + (record.status === 'ok' ? 1 : 0));
  for (const answer of answers) assert.equal(served.get(answer.requestId!), 1, `request ${answer.requestId} logged once`);
  const candidateErrors = records.filter((record) => record.arm === 'candidate' && record.status === 'error');
  assert.equal(candidateErrors.length, answers.filter((answer) => answer.fallback === 'candidate-failed').length, 'each fallback logged its failed candidate try');
});
