// `understudy train --on <ssh target>` and `understudy runs attach`, as a user runs them: the real CLI against a real
// OpenSSH server on 127.0.0.1 (throwaway keys), the real worker training SmolLM2-135M for a few steps "remotely",
// a connection cut mid-run (the local ssh process killed), and an adapter corrupted on the host. Each test has its
// own folder on the "host" (its own config), so no test depends on what another left there.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { defaultConfigText } from '../src/adapters/config-file.ts';
import { sha256File } from '../src/adapters/file-hash.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { syncBlobs } from '../src/adapters/remote/remote-host.ts';
import { createSshConnection, parseSshUrl } from '../src/adapters/remote/ssh-connection.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { RemoteError } from '../src/core/errors.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';
import { freePort, startSshd, type TestSshd } from './helpers/sshd.ts';

const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');

let sshd: TestSshd;
let directory: string;
let python: string;
let closedPort: number;

function target(name: string, fields: Record<string, string | number | boolean>): string {
  const lines = Object.entries(fields).map(([key, value]) => `    ${key}: ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
  return `  ${name}:\n    kind: ssh\n${lines.join('\n')}\n`;
}

before(async () => {
  sshd = await startSshd();
  directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-remote-'));
  // The "host" is this machine, so the worker environment built for the local tests is the pinned one it reuses.
  python = (await ensureWorkerEnvironment()).python;
  closedPort = await freePort();
});

/** A config whose targets all keep their files in the test's own folder on the host (`hostDir`). */
function configFor(name: string): { config: string; hostDir: string } {
  const hostDir = path.join(directory, `host-${name}`);
  const login = { host: '127.0.0.1', user: sshd.user, port: sshd.port, identityFile: sshd.keyFile, knownHostsFile: sshd.knownHostsFile, strictHostKeyChecking: 'yes', dir: hostDir, python, requireGpu: false, minFreeGb: 1, connectTimeoutSeconds: 5 };
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
  const config = path.join(directory, `${name}.yaml`);
  writeFileSync(config, text);
  return { config, hostDir };
}

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
async function trainOn(config: string, name: string, workspace: string, cut: boolean): Promise<CliRun & { cuts: number }> {
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

/** The host's blobs and when each was written: a blob sent again would show a new time. */
function blobTimes(hostDir: string): Record<string, number> {
  const blobs = path.join(hostDir, 'blobs');
  return Object.fromEntries(readdirSync(blobs).map((name) => [name, statSync(path.join(blobs, name)).mtimeMs]));
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
  const { config, hostDir } = configFor('refused');
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
  assert.equal(existsSync(path.join(hostDir, 'blobs')), false, 'nothing was sent to the host');
  const unknown = await cli(['train', '--json', '--config', config, '--workspace', path.join(directory, 'refused-unknown'), '--on', 'gpu-cluster']);
  assert.equal(unknown.status, 2);
  assert.match(String(unknown.json.error), /no training target named gpu-cluster/);
  assert.match(String(unknown.json.hint), /gpu-box/);
});

test('a full remote run survives a dropped connection: it reconnects, stores each event once, verifies and registers the adapter; unchanged data is not sent again', async () => {
  const { config, hostDir } = configFor('full');
  const workspace = path.join(directory, 'full');
  const run = await trainOn(config, 'gpu-box', workspace, true);
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

  // The same training again into the same host folder: same base, same data, same worker, so nothing is sent again.
  const sentFirst = blobTimes(hostDir);
  const again = await trainOn(config, 'gpu-box', path.join(directory, 'full-again'), false);
  assert.equal(again.status, 0, again.stderr.slice(-3000));
  const repeated = again.json as { run: { status: string }; remote: { sync: { sent: string[]; reused: string[]; bytesSent: number; workerSent: boolean } } };
  assert.equal(repeated.run.status, 'succeeded');
  assert.deepEqual(repeated.remote.sync.sent, []);
  assert.equal(repeated.remote.sync.bytesSent, 0);
  assert.deepEqual(repeated.remote.sync.reused, ['SmolLM2-135M-Instruct.Q4_1.gguf', 'train.jsonl', 'validation.jsonl']);
  assert.equal(repeated.remote.sync.workerSent, false);
  assert.deepEqual(blobTimes(hostDir), sentFirst, 'no blob on the host was written again');
});

test('a run left by a dropped connection goes on at the host; runs attach catches up and finishes it without resending data', async () => {
  const { config, hostDir } = configFor('attach');
  const workspace = path.join(directory, 'attach');
  const run = await trainOn(config, 'flaky', workspace, true);
  assert.equal(run.status, 1, 'train stops following when it may not reconnect');
  assert.equal(run.json.type, 'RemoteError');
  assert.match(String(run.json.error), /connection to .* was lost; run run_\w+ goes on there/);
  assert.match(String(run.json.hint), /understudy runs attach run_\w+/);
  const [left] = storedRuns(workspace);
  assert.equal(left?.status, 'running');
  const sentAtLaunch = blobTimes(hostDir);
  // A login the host refuses (a revoked key) is no drop to retry: attach says so at once, and the run stays running.
  const stateFile = path.join(workspace, 'runs', left!.id, 'remote.json');
  const state = readFileSync(stateFile, 'utf8');
  writeFileSync(stateFile, JSON.stringify({ ...JSON.parse(state) as Record<string, unknown>, target: { ...(JSON.parse(state) as { target: Record<string, unknown> }).target, identityFile: sshd.unknownKeyFile } }));
  const refused = await cli(['runs', 'attach', left!.id, '--json', '--workspace', workspace]);
  writeFileSync(stateFile, state);
  assert.equal(refused.status, 1, refused.stderr.slice(-2000));
  assert.equal(refused.json.type, 'RemoteError');
  assert.match(String(refused.json.error), /refused the login.*; run run_\w+ goes on there/s);
  assert.match(String(refused.json.hint), /understudy runs attach run_\w+/);
  assert.doesNotMatch(refused.stderr, /reconnecting/);
  assert.equal(storedRuns(workspace)[0]?.status, 'running');
  const attached = await cli(['runs', 'attach', left!.id, '--json', '--workspace', workspace]);
  assert.equal(attached.status, 0, attached.stderr.slice(-3000));
  const result = attached.json as { run: { status: string }; steps: number; adapter: { ggufPath: string; ggufSha256: string }; remote: { sync: { sent: string[]; reused: string[]; bytesSent: number; workerSent: boolean } } };
  assert.equal(result.run.status, 'succeeded');
  assert.equal(result.steps, 4);
  assert.equal(await sha256File(result.adapter.ggufPath), result.adapter.ggufSha256);
  // The sync record is the launch's (into this test's empty host folder); attach itself sends nothing again
  // (a second launch sending nothing is proved in the full-run test).
  assert.deepEqual(result.remote.sync.sent, ['SmolLM2-135M-Instruct.Q4_1.gguf', 'train.jsonl', 'validation.jsonl']);
  assert.deepEqual(result.remote.sync.reused, []);
  assert.equal(result.remote.sync.workerSent, true);
  assert.deepEqual(blobTimes(hostDir), sentAtLaunch, 'attach wrote no blob on the host');
  const steps = progressSteps(workspace, left!.id);
  assert.deepEqual(steps, [...new Set(steps)].sort((a, b) => a - b));
  assert.equal(steps.at(-1), 4);
  const again = await cli(['runs', 'attach', left!.id, '--json', '--workspace', workspace]);
  assert.equal(again.status, 2);
  assert.match(String(again.json.error), /is succeeded; attach follows a run still going/);
});

test('an adapter corrupted on the host is rejected by its checksum: the run fails and no adapter is registered', async () => {
  const { config, hostDir } = configFor('corrupt');
  const workspace = path.join(directory, 'corrupt');
  const run = await trainOn(config, 'flaky', workspace, true);
  assert.equal(run.status, 1);
  const [left] = storedRuns(workspace);
  assert.equal(left?.status, 'running');
  const remoteRun = path.join(hostDir, 'runs', left!.id);
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

test('a blob whose sha256 differs on arrival never takes its content-hash name: a checksum failure, nothing left behind', async () => {
  const hostDir = path.join(directory, 'host-upload');
  const connection = createSshConnection({ ...parseSshUrl(`ssh://${sshd.user}@127.0.0.1:${sshd.port}`), identityFile: sshd.keyFile, knownHostsFile: sshd.knownHostsFile, strictHostKeyChecking: 'yes', dir: hostDir });
  const local = path.join(directory, 'upload.txt');
  writeFileSync(local, 'the bytes that are sent\n');
  const sha256 = await sha256File(local);
  const claimed = '0'.repeat(64);
  await assert.rejects(syncBlobs(connection, hostDir, [{ local, sha256: claimed, name: 'upload.txt' }]), (error: unknown) => {
    assert.ok(RemoteError.isInstance(error));
    assert.equal(error.failure, 'checksum');
    assert.match(error.message, new RegExp(`upload\\.txt arrived on .* as ${sha256}, not ${claimed}`));
    return true;
  });
  assert.deepEqual(readdirSync(path.join(hostDir, 'blobs')), [], 'neither the hash name nor the temporary file is there');
  const sent = await syncBlobs(connection, hostDir, [{ local, sha256, name: 'upload.txt' }]);
  assert.deepEqual(sent.sent, ['upload.txt']);
  assert.deepEqual(readdirSync(path.join(hostDir, 'blobs')), [`${sha256}-upload.txt`]);
});
