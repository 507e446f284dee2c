// `understudy train --on <ssh target>` and `understudy runs attach`, as a user runs them: the real CLI against a real
// OpenSSH server on 127.0.0.1 (throwaway keys), the real worker training SmolLM2-135M for a few steps "remotely",
// a connection cut mid-run (the local ssh process killed), and an adapter corrupted on the host.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { defaultConfigText } from '../src/adapters/config-file.ts';
import { sha256File } from '../src/adapters/file-hash.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { freePort, startSshd, type TestSshd } from './helpers/sshd.ts';

const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');

let sshd: TestSshd;
let directory: string;
let remoteDir: string;
let config: string;

function target(name: string, fields: Record<string, string | number | boolean>): string {
  const lines = Object.entries(fields).map(([key, value]) => `    ${key}: ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
  return `  ${name}:\n    kind: ssh\n${lines.join('\n')}\n`;
}

before(async () => {
  sshd = await startSshd();
  directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-remote-'));
  remoteDir = path.join(directory, 'host');
  // The "host" is this machine, so the worker environment built for the local tests is the pinned one it reuses.
  const environment = await ensureWorkerEnvironment();
  const closedPort = await freePort();
  const login = { host: '127.0.0.1', user: sshd.user, port: sshd.port, identityFile: sshd.keyFile, knownHostsFile: sshd.knownHostsFile, strictHostKeyChecking: 'yes', dir: remoteDir, python: environment.python, requireGpu: false, minFreeGb: 1, connectTimeoutSeconds: 5 };
  const text = defaultConfigText(EXAMPLES_BANKING77_DIR).replace(/\ntraining:\n(?: {2}.*\n|\s*#.*\n)*/, `
training:
  examplesPerLabel: 1
  maxSteps: 4
  batchSize: 8
  learningRate: 0.0005
  maxLength: 256
  validationFraction: 0.1
  evalSteps: 2
  saveSteps: 2
  accuracySample: 0
  earlyStoppingPatience: 0
  lora:
    r: 8
`) + '\ntargets:\n'
    + target('gpu-box', { ...login, reconnectAttempts: 3 })
    + target('flaky', { ...login, reconnectAttempts: 0 })
    + target('needs-gpu', { ...login, requireGpu: true })
    + target('full-disk', { ...login, minFreeGb: 1_000_000 })
    + target('revoked-key', { ...login, identityFile: sshd.unknownKeyFile })
    + target('no-sshd', { ...login, port: closedPort });
  config = path.join(directory, 'understudy.yaml');
  writeFileSync(config, text);
});

after(() => sshd?.stop());

interface CliRun { status: number | null; stdout: string; stderr: string; json: Record<string, unknown> }

/** The CLI in the background; `onLine` sees each stdout line as it comes (JSON progress lines with --json). */
function cli(args: string[], onLine?: (line: string) => void): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) onLine?.(line);
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.on('close', (status) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      resolve({ status, stdout, stderr, json: last.startsWith('{') ? JSON.parse(last) as Record<string, unknown> : {} });
    });
  });
}

/** Drop the connection that streams the events: kill the local ssh client (the worker on the host must not notice). */
function cutEventStream(): number {
  const found = spawnSync('pgrep', ['-f', `^ssh -p ${sshd.port} .*tail -n \\+1 -f`], { encoding: 'utf8' });
  const pids = found.stdout.trim().split('\n').filter((line) => line !== '').map(Number);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  return pids.length;
}

/** Train on `name`; when `cut`, kill the event stream once, right after the first training step is reported. */
async function trainOn(name: string, workspace: string, cut: boolean): Promise<CliRun & { cuts: number }> {
  let cuts = 0;
  const run = await cli(['train', '--json', '--config', config, '--workspace', workspace, '--on', name], (line) => {
    if (cut && cuts === 0 && line.includes('"progress":"train"')) cuts = cutEventStream();
  });
  return { ...run, cuts };
}

function storedRuns(workspace: string): { id: string; status: string }[] {
  const store = openStore(path.join(workspace, 'understudy.db'));
  try {
    return store.listRuns().map((run) => ({ id: run.id, status: run.status }));
  } finally {
    store.close();
  }
}

function progressSteps(workspace: string, runId: string): number[] {
  const store = openStore(path.join(workspace, 'understudy.db'));
  try {
    return store.runEvents(runId).flatMap((event) => (typeof event === 'object' && event !== null && (event as { event?: unknown }).event === 'progress' ? [(event as { step: number }).step] : []));
  } finally {
    store.close();
  }
}

test('a host unfit for the run is refused before anything is sent, with the reason', async () => {
  const cases: [string, RegExp][] = [
    ['needs-gpu', /shows no GPU .*requires one/],
    ['full-disk', /GiB free under .*needs .*GiB/],
    ['revoked-key', /refused the login/],
    ['no-sshd', /unreachable/],
  ];
  for (const [name, message] of cases) {
    const workspace = path.join(directory, `refused-${name}`);
    const run = await cli(['train', '--json', '--config', config, '--workspace', workspace, '--on', name]);
    assert.equal(run.status, 1, `${name}: ${run.stderr.slice(-800)}`);
    assert.equal(run.json.ok, false);
    assert.match(String(run.json.error), message, name);
    assert.equal(run.json.type, 'RemoteError');
    assert.deepEqual(storedRuns(workspace), [], `${name}: no run is registered`);
  }
  assert.equal(existsSync(path.join(remoteDir, 'blobs')), false, 'nothing was sent to the host');
  const unknown = await cli(['train', '--json', '--config', config, '--workspace', path.join(directory, 'refused-unknown'), '--on', 'gpu-cluster']);
  assert.equal(unknown.status, 2);
  assert.match(String(unknown.json.error), /no training target named gpu-cluster/);
  assert.match(String(unknown.json.hint), /gpu-box/);
});

test('a full remote run survives a dropped connection: it reconnects, stores each event once, verifies and registers the adapter', async () => {
  const workspace = path.join(directory, 'full');
  const run = await trainOn('gpu-box', workspace, true);
  assert.equal(run.status, 0, run.stderr.slice(-3000));
  assert.equal(run.cuts, 1, 'the event stream was cut once');
  assert.match(run.stderr, /dropped; reconnecting in 1 s \(1 of 3\)/);
  const result = run.json as { run: { id: string; status: string }; steps: number; adapter: { ggufPath: string; ggufSha256: string; peftPath: string }; remote: { sync: { sent: string[]; reused: string[]; workerSent: boolean }; remoteRunDir: string } };
  assert.equal(result.run.status, 'succeeded');
  assert.equal(result.steps, 4);
  assert.deepEqual(result.remote.sync.sent, ['SmolLM2-135M-Instruct.Q4_1.gguf', 'train.jsonl', 'validation.jsonl']);
  assert.equal(result.remote.sync.workerSent, true);
  // The adapter here is byte for byte the one the worker made on the host.
  assert.equal(await sha256File(result.adapter.ggufPath), result.adapter.ggufSha256);
  const staged = readdirSync(path.join(result.remote.remoteRunDir, 'staging'));
  assert.deepEqual(staged.sort(), ['adapter.gguf', 'peft']);
  assert.equal(await sha256File(path.join(result.remote.remoteRunDir, 'staging', 'adapter.gguf')), result.adapter.ggufSha256);
  // Every logged step once, in order: the reconnected stream skipped what was already stored.
  const steps = progressSteps(workspace, result.run.id);
  assert.deepEqual(steps, [...new Set(steps)].sort((a, b) => a - b));
  assert.equal(steps.at(-1), 4);
  // The run record says where it trained.
  const shown = await cli(['runs', 'show', result.run.id, '--json', '--workspace', workspace]);
  assert.equal(shown.status, 0, shown.stderr);
  assert.match(JSON.stringify(shown.json), /ssh:\/\/.*127\.0\.0\.1/);
});

test('a run left by a dropped connection goes on at the host; runs attach catches up and finishes it without resending data', async () => {
  const workspace = path.join(directory, 'attach');
  const run = await trainOn('flaky', workspace, true);
  assert.equal(run.status, 1, 'train stops following when it may not reconnect');
  assert.equal(run.json.type, 'RemoteError');
  assert.match(String(run.json.error), /connection to .* was lost; run run_\w+ goes on there/);
  assert.match(String(run.json.hint), /understudy runs attach run_\w+/);
  const [left] = storedRuns(workspace);
  assert.equal(left?.status, 'running');
  const attached = await cli(['runs', 'attach', left!.id, '--json', '--workspace', workspace]);
  assert.equal(attached.status, 0, attached.stderr.slice(-3000));
  const result = attached.json as { run: { status: string }; steps: number; adapter: { ggufPath: string; ggufSha256: string }; remote: { sync: { sent: string[]; reused: string[]; bytesSent: number; workerSent: boolean } } };
  assert.equal(result.run.status, 'succeeded');
  assert.equal(result.steps, 4);
  assert.equal(await sha256File(result.adapter.ggufPath), result.adapter.ggufSha256);
  // Same base, same data, same worker as the run before: nothing was sent again.
  assert.deepEqual(result.remote.sync.sent, []);
  assert.equal(result.remote.sync.bytesSent, 0);
  assert.deepEqual(result.remote.sync.reused, ['SmolLM2-135M-Instruct.Q4_1.gguf', 'train.jsonl', 'validation.jsonl']);
  assert.equal(result.remote.sync.workerSent, false);
  const steps = progressSteps(workspace, left!.id);
  assert.deepEqual(steps, [...new Set(steps)].sort((a, b) => a - b));
  assert.equal(steps.at(-1), 4);
  const again = await cli(['runs', 'attach', left!.id, '--json', '--workspace', workspace]);
  assert.equal(again.status, 2);
  assert.match(String(again.json.error), /is succeeded; attach follows a run still going/);
});

test('an adapter corrupted on the host is rejected by its checksum: the run fails and no adapter is registered', async () => {
  const workspace = path.join(directory, 'corrupt');
  const run = await trainOn('flaky', workspace, true);
  assert.equal(run.status, 1);
  const [left] = storedRuns(workspace);
  assert.equal(left?.status, 'running');
  const remoteRun = path.join(remoteDir, 'runs', left!.id);
  const deadline = Date.now() + 600_000;
  while (!existsSync(path.join(remoteRun, 'exit-code')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 500));
  assert.ok(existsSync(path.join(remoteRun, 'staging', 'adapter.gguf')), 'the worker finished on the host');
  appendFileSync(path.join(remoteRun, 'staging', 'adapter.gguf'), Buffer.from('bit rot'));
  const attached = await cli(['runs', 'attach', left!.id, '--json', '--workspace', workspace]);
  assert.equal(attached.status, 1);
  assert.equal(attached.json.type, 'RemoteError');
  assert.match(String(attached.json.error), /failed its checksum: adapter\.gguf hashes to [0-9a-f]{64}, not the [0-9a-f]{64} the worker reported/);
  assert.equal(storedRuns(workspace)[0]?.status, 'failed');
  const store = openStore(path.join(workspace, 'understudy.db'));
  try {
    assert.equal(store.getAdapterForRun(left!.id), undefined);
  } finally {
    store.close();
  }
  assert.deepEqual(readdirSync(path.join(workspace, 'runs', left!.id)).filter((name) => name.endsWith('.gguf')), []);
});
