import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultConfigText } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { sendCompletion, startOpenAiCompatibleServer } from './helpers/openai-compatible-server.ts';

const cli = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');

/** The real CLI as a child process; asynchronous, so the test server in this process keeps answering. */
function run(args: string[]): Promise<{ status: number | null; lines: Record<string, unknown>[]; last: Record<string, unknown>; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      const lines = stdout.trim().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ status, lines, last: lines.at(-1) ?? {}, stderr });
    });
  });
}

test('understudy data generate --mode labels: adds examples through the configured provider, priced; a re-run is free; no teacher is a clear error', async (context) => {
  const server = await startOpenAiCompatibleServer((request, response) => {
    const body = request.body as { seed: number; messages: { role: string; content: string }[] };
    const label = /correct label is "([^"]+)"/.exec(body.messages.at(-1)!.content)?.[1] ?? 'unknown';
    const inputs = [1, 2, 3].map((index) => `${label.replaceAll('_', ' ')} question ${index} (seed ${body.seed})`);
    sendCompletion(response, { text: JSON.stringify({ inputs }), usage: { prompt_tokens: 1000, completion_tokens: 100 } });
  });
  const directory = mkdtempSync(path.join(tmpdir(), 'understudy-generate-cli-'));
  context.after(async () => {
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  });
  const config = path.join(directory, 'understudy.yaml');
  const providers = `providers:\n  teacher:\n    kind: openai-compatible\n    baseUrl: ${server.baseUrl}\n    model: teacher-model\n    maxConcurrency: 2\n`;
  const text = defaultConfigText(EXAMPLES_BANKING77_DIR)
    .replace('providers: {}\n', providers)
    .replace('  overrides: []\n', '  overrides:\n    - { model: test-model, inputUsdPerMillion: 0.5, outputUsdPerMillion: 4 }\n');
  assert.notEqual(text, defaultConfigText(EXAMPLES_BANKING77_DIR));
  writeFileSync(config, text);

  const store = openStore(path.join(directory, 'understudy.db'));
  const seeds = [
    ['I lost my card on the train', 'lost_or_stolen_card'],
    ['someone stole my wallet with my card', 'lost_or_stolen_card'],
    ['when will my new card arrive?', 'card_arrival'],
  ] as const;
  store.curation.addBatch({
    task: 'banking77-intent',
    kind: 'import',
    source: { test: true },
    examples: seeds.map(([input, answer]) => ({ input, answer, messages: [{ role: 'user', content: input }, { role: 'assistant', content: answer }], source: 'human', tags: [], provenance: {} })),
  });
  store.close();

  const common = ['data', 'generate', '--mode', 'labels', '--labels', 'lost_or_stolen_card,card_arrival', '--per-label', '3', '--workspace', directory, '--config', config, '--json'];
  const first = await run([...common, '--provider', 'teacher']);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(first.last.ok, true);
  assert.equal(first.last.added, 6);
  assert.equal(first.last.requested, 6);
  assert.equal(first.last.calls, 2);
  // 2 calls × (1000 × $0.5 + 100 × $4) per million tokens.
  assert.ok(Math.abs(Number(first.last.costUsd) - 2 * 0.0009) < 1e-12, `costUsd ${String(first.last.costUsd)}`);
  assert.ok(first.lines.some((line) => line.progress === 'generate'), 'progress lines come before the result');
  assert.equal(server.requests.length, 2);
  assert.match(JSON.stringify(server.requests.map((request) => request.body)), /I lost my card on the train/);

  const reopened = openStore(path.join(directory, 'understudy.db'));
  const generated = reopened.curation.listPool('banking77-intent', { source: 'synthetic' });
  reopened.close();
  assert.equal(generated.length, 6);
  assert.deepEqual([...new Set(generated.map((example) => example.answer))].sort(), ['card_arrival', 'lost_or_stolen_card']);
  assert.ok(generated.every((example) => example.messages[0]!.role === 'system' && example.provenance.generator === 'labels'));

  const again = await run([...common, '--provider', 'teacher']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(server.requests.length, 2, 'the re-run sends nothing');
  assert.equal(again.last.calls, 0);
  assert.equal(again.last.cachedCalls, 2);
  assert.equal(again.last.costUsd, 0);
  assert.equal(again.last.added, 0);

  const noTeacher = await run(common);
  assert.equal(noTeacher.status, 2);
  assert.equal(noTeacher.last.ok, false);
  assert.equal(noTeacher.last.field, 'curation.teacher');
  assert.match(String(noTeacher.last.error), /curation\.teacher/);
  assert.match(String(noTeacher.last.error), /--provider/);

  const wrongMode = await run([...common, '--provider', 'teacher', '--breadth', '2']);
  assert.equal(wrongMode.status, 2);
  assert.match(String(wrongMode.last.error), /--breadth is for --mode topics/);
});
