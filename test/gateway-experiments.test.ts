// A/B experiments in the gateway, through the official openai SDK: sticky weighted arms, the kill switch, shadow
// mode, fallback on a failed validator, a timeout or a 500, and the circuit breaker. The candidate is the real
// SmolLM2 GGUF on the embedded engine or, for the fault cases, a TEST DOUBLE upstream; the incumbent hosted model is
// a TEST DOUBLE too (local OpenAI-compatible servers on 127.0.0.1; a hosted model cannot run here).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { defaultConfigText, loadConfigFile } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { openStore, type Store } from '../src/adapters/store/sqlite-store.ts';
import { assignmentPosition } from '../src/core/ab-assignment.ts';
import { startGateway, type RunningGateway } from '../src/surfaces/http/gateway-server.ts';
import { sendCompletion, sendError, startOpenAiCompatibleServer, type OpenAiCompatibleTestServer } from './helpers/openai-compatible-server.ts';

const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-ab-'));
let incumbent: OpenAiCompatibleTestServer;
let slow: OpenAiCompatibleTestServer;
let broken: OpenAiCompatibleTestServer;
let gateway: RunningGateway;
let store: Store;
let client: OpenAI;

before(async () => {
  incumbent = await startOpenAiCompatibleServer((_request, response) => sendCompletion(response, { text: 'card_arrival', model: 'gpt-4o-mini', usage: { prompt_tokens: 100, completion_tokens: 3 } }));
  slow = await startOpenAiCompatibleServer(async (_request, response) => {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    sendCompletion(response, { text: 'card_arrival' });
  });
  broken = await startOpenAiCompatibleServer((_request, response) => sendError(response, 500, 'upstream exploded'));
  const provider = (url: string) => `{ kind: openai-compatible, baseUrl: "${url}", model: gpt-4o-mini, priceAs: openai, maxRetries: 0 }`;
  const text = defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR))
    .replace(
      /\ngateway:\n(?: {2}.*\n|#.*\n)*/,
      [
        '',
        'gateway:',
        '  port: 0',
        '  logFlushMs: 20',
        '  routes:',
        '    split: { target: "provider:frontier", experiment: { name: split-test, candidate: base, weight: 0.5 } }',
        '    killed: { target: "provider:frontier", experiment: { name: killed-test, candidate: base, weight: 1, killed: true } }',
        '    shadowed: { target: "provider:frontier", experiment: { name: shadow-test, candidate: base, weight: 1, mode: shadow } }',
        '    checked: { target: "provider:frontier", experiment: { name: checked-test, candidate: base, weight: 1, validate: true, breakerFailures: 2, breakerCooldownMs: 600000 } }',
        '    slow: { target: "provider:frontier", experiment: { name: slow-test, candidate: "provider:slow", weight: 1, timeoutMs: 300 } }',
        '    broken: { target: "provider:frontier", experiment: { name: broken-test, candidate: "provider:broken", weight: 1 } }',
        '',
      ].join('\n'),
    )
    .replace(/\nproviders: \{\}\n/, `\nproviders:\n  frontier: ${provider(incumbent.baseUrl)}\n  slow: ${provider(slow.baseUrl)}\n  broken: ${provider(broken.baseUrl)}\n`);
  const file = path.join(directory, 'understudy.yaml');
  writeFileSync(file, text);
  store = openStore(path.join(directory, 'understudy.db'));
  gateway = await startGateway(loadConfigFile(file), store, { threads: 2 });
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'x', maxRetries: 0 });
});
after(async () => {
  await gateway?.close();
  store?.close();
  for (const server of [incumbent, slow, broken]) await server?.close();
  rmSync(directory, { recursive: true, force: true });
});

const messages = [{ role: 'user' as const, content: 'Where is my card?' }];
const ask = (model: string, user?: string) => client.chat.completions.create({ model, messages, max_tokens: 3 }, user === undefined ? {} : { headers: { 'x-understudy-user': user } }).withResponse();

test('arms are sticky by the hashed user key at the configured weight, and the kill switch sends everyone to the incumbent', async () => {
  const users = Array.from({ length: 24 }, (_, index) => `user-${index}`);
  const expected = users.map((user) => (assignmentPosition('split-test', user) < 0.5 ? 'candidate' : 'incumbent'));
  assert.ok(expected.includes('candidate') && expected.includes('incumbent'));
  const arms: string[] = [];
  for (const user of users) {
    const { data, response } = await ask('split', user);
    arms.push(response.headers.get('x-understudy-arm')!);
    assert.equal(response.headers.get('x-understudy-experiment'), 'split-test');
    if (arms.at(-1) === 'incumbent') assert.equal(data.choices[0]!.message.content, 'card_arrival');
  }
  // The assignment is a pure function of (experiment, key): the same after any restart.
  assert.deepEqual(arms, expected);
  for (const user of users.slice(0, 6)) assert.equal((await ask('split', user)).response.headers.get('x-understudy-arm'), expected[users.indexOf(user)]);
  for (const user of users.slice(0, 6)) assert.equal((await ask('killed', user)).response.headers.get('x-understudy-arm'), 'incumbent');
});

test('shadow mode answers with the incumbent and logs the candidate\'s background answer as a shadow call', async () => {
  const { data, response } = await ask('shadowed', 'user-1');
  assert.equal(data.choices[0]!.message.content, 'card_arrival');
  assert.equal(response.headers.get('x-understudy-arm'), 'incumbent');
  const deadline = Date.now() + 30_000;
  let shadows: ReturnType<Store['listGatewayRequests']> = [];
  while (shadows.length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    gateway.log.flush();
    shadows = store.listGatewayRequests({ route: 'shadowed' }).filter((record) => record.shadow);
  }
  assert.equal(shadows.length, 1);
  assert.deepEqual([shadows[0]!.arm, shadows[0]!.path, shadows[0]!.status], ['candidate', 'tuned', 'ok']);
  assert.notEqual(shadows[0]!.requestId, response.headers.get('x-request-id'));
});

test('a candidate that fails the validator, times out or returns 500 falls back to the incumbent; the breaker stops trying after repeated failures', async () => {
  // The base model writes free text, never exactly a Banking77 label: the validator refuses it.
  for (let attempt = 0; attempt < 2; attempt++) {
    const { data, response } = await ask('checked', `user-${attempt}`);
    assert.equal(data.choices[0]!.message.content, 'card_arrival');
    assert.deepEqual([response.headers.get('x-understudy-arm'), response.headers.get('x-understudy-fallback')], ['incumbent', 'candidate-failed']);
  }
  const third = await ask('checked', 'user-2');
  assert.equal(third.response.headers.get('x-understudy-breaker'), 'open');
  assert.equal(third.response.headers.get('x-understudy-fallback'), null);

  const started = Date.now();
  const timedOut = await ask('slow', 'user-1');
  assert.ok(Date.now() - started < 2500, 'the deadline cut the slow candidate short');
  assert.equal(timedOut.response.headers.get('x-understudy-fallback'), 'candidate-failed');
  assert.equal(timedOut.data.choices[0]!.message.content, 'card_arrival');
  const failed = await ask('broken', 'user-1');
  assert.equal(failed.response.headers.get('x-understudy-fallback'), 'candidate-failed');

  gateway.log.flush();
  const checked = store.listGatewayRequests({ route: 'checked' });
  const candidateErrors = checked.filter((record) => record.arm === 'candidate');
  assert.equal(candidateErrors.length, 2, 'the open breaker sent nothing to the candidate');
  assert.ok(candidateErrors.every((record) => record.status === 'error' && /validator/.test(record.error!)));
  const served = checked.filter((record) => record.arm === 'incumbent');
  assert.deepEqual(served.map((record) => record.fallback), [true, true, false]);
  // The served answer carries the id the client saw.
  assert.ok(served.some((record) => record.requestId === third.response.headers.get('x-request-id')));
  const slowLog = store.listGatewayRequests({ route: 'slow' });
  assert.ok(slowLog.some((record) => record.arm === 'candidate' && record.status === 'error'));
  assert.ok(store.listGatewayRequests({ route: 'broken' }).some((record) => record.arm === 'candidate' && /500|exploded/.test(record.error ?? '')));
});

function cli(args: string[]): { status: number | null; last: Record<string, unknown>; stdout: string } {
  const result = spawnSync(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'understudy.js'), ...args, '--config', path.join(directory, 'understudy.yaml'), '--workspace', directory], { encoding: 'utf8', timeout: 120_000 });
  const lines = result.stdout.trim().split('\n').filter((line) => line.startsWith('{'));
  return { status: result.status, last: JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>, stdout: result.stdout };
}

test('ab report scores the arms (the validator, or feedback where given), checks the split, recommends; promote and rollback reach the running gateway', async () => {
  gateway.log.flush();
  // The candidate (the base model, 3 tokens of free text) never writes a Banking77 label; the incumbent always does.
  const report = cli(['ab', 'report', 'split-test', '--json']);
  assert.equal(report.status, 0, report.stdout);
  const analysis = report.last.analysis as { arms: Record<'incumbent' | 'candidate', { calls: number; quality: number }>; srm: { counting: string; incumbent: number; candidate: number; pValue: number; mismatch: boolean }; sequential: { difference: number; pValue: number }; recommendation: string };
  assert.equal(analysis.arms.incumbent.quality, 1);
  assert.equal(analysis.arms.candidate.quality, 0);
  assert.equal(analysis.arms.incumbent.calls + analysis.arms.candidate.calls, 30);
  // 30 requests from 24 users: the split is checked on the 24 users (each logged with a hash of its key, not the key).
  assert.deepEqual([analysis.srm.counting, analysis.srm.incumbent + analysis.srm.candidate], ['units', 24]);
  assert.equal(analysis.srm.mismatch, false);
  const logged = store.listGatewayRequests({ route: 'split' });
  assert.ok(logged.every((record) => /^[0-9a-f]{16}$/.test(record.unit ?? '')));
  assert.equal(new Set(logged.map((record) => record.unit)).size, 24);
  assert.ok(logged.some((record) => record.unit === createHash('sha256').update('split-test\u0000user-0').digest('hex').slice(0, 16)));
  assert.equal(analysis.recommendation, 'ROLL BACK');
  assert.ok(analysis.sequential.pValue < 0.05 && analysis.sequential.difference === -1);

  // Feedback wins over the validator: mark one incumbent answer wrong.
  const incumbentCall = store.listGatewayRequests({ route: 'split' }).find((record) => record.arm === 'incumbent')!;
  const feedback = await fetch(`${gateway.url}/v1/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request_id: incumbentCall.requestId, correction: 'card_linking' }) });
  assert.equal(feedback.status, 200);
  const rescored = cli(['ab', 'report', 'split-test', '--json']).last as { scoring: { feedback: number }; analysis: { arms: { incumbent: { quality: number; scored: number } } } };
  assert.equal(rescored.scoring.feedback, 1);
  const incumbentScored = rescored.analysis.arms.incumbent.scored;
  assert.ok(Math.abs(rescored.analysis.arms.incumbent.quality - (incumbentScored - 1) / incumbentScored) < 1e-12);

  const candidateUser = Array.from({ length: 50 }, (_, index) => `user-${index}`).find((user) => assignmentPosition('split-test', user) < 0.5)!;
  const incumbentUser = Array.from({ length: 50 }, (_, index) => `user-${index}`).find((user) => assignmentPosition('split-test', user) >= 0.5)!;
  assert.equal(cli(['ab', 'rollback', 'split-test', '--note', 'worse quality', '--json']).status, 0);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const rolledBack = await ask('split', candidateUser);
  assert.deepEqual([rolledBack.response.headers.get('x-understudy-arm'), rolledBack.response.headers.get('x-understudy-experiment-state')], ['incumbent', 'rolled-back']);
  assert.equal(cli(['ab', 'promote', 'split-test', '--json']).status, 0);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const promoted = await ask('split', incumbentUser);
  assert.deepEqual([promoted.response.headers.get('x-understudy-arm'), promoted.response.headers.get('x-understudy-experiment-state')], ['candidate', 'promoted']);
  assert.equal(cli(['ab', 'report', 'no-such-experiment', '--json']).status, 2);
});
