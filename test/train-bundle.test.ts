// `understudy train --bundle` and `understudy runs import`: the job file a team hands to Modal, Anyscale or
// Kubernetes, run here as that job would run it (its own run.sh, the pinned worker environment), and its results
// brought back: a tampered bundle does not train, a tampered adapter (GGUF or PEFT) is refused, the real one is
// verified and registered, and a job that reports an error fails its run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultConfigText } from '../src/adapters/config-file.ts';
import { sha256File } from '../src/adapters/file-hash.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { ensureWorkerEnvironment } from '../src/adapters/worker/python-env.ts';

const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');

function cli(args: string[]): { status: number | null; stderr: string; json: Record<string, unknown> } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 600_000 });
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  return { status: run.status, stderr: run.stderr, json: last.startsWith('{') ? JSON.parse(last) as Record<string, unknown> : {} };
}

function runStatus(workspace: string, runId: string): string | undefined {
  const store = openStore(path.join(workspace, 'understudy.db'));
  try {
    return store.getRun(runId)?.status;
  } finally {
    store.close();
  }
}

test('a job bundle runs on its own with run.sh; runs import refuses a tampered adapter and registers the real one', async () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-bundle-'));
  const config = path.join(directory, 'understudy.yaml');
  writeFileSync(config, defaultConfigText(EXAMPLES_BANKING77_DIR).replace(/\ntraining:\n(?: {2}.*\n|\s*#.*\n)*/, `
training:
  examplesPerLabel: 1
  maxSteps: 3
  batchSize: 8
  maxLength: 256
  validationFraction: 0.1
  evalSteps: 0
  saveSteps: 0
  lora:
    r: 8
`));
  const workspace = path.join(directory, 'workspace');
  const bundle = path.join(directory, 'job.tar.gz');
  const written = cli(['train', '--json', '--config', config, '--workspace', workspace, '--bundle', bundle]);
  assert.equal(written.status, 0, written.stderr.slice(-2000));
  const runId = String(written.json.runId);
  assert.equal(runStatus(workspace, runId), 'running', 'the run waits for its job');
  const manifest = written.json.manifest as { files: Record<string, string>; launch: string };
  assert.equal(manifest.launch, 'sh run.sh');
  for (const file of ['spec.json', 'run.sh', 'SHA256SUMS', 'data/train.jsonl', 'base/SmolLM2-135M-Instruct.Q4_1.gguf', 'worker/requirements.txt', 'worker/understudy_worker/train_sft.py']) {
    assert.match(manifest.files[file] ?? '', /^[0-9a-f]{64}$/, file);
  }

  // The job, as a runner would start it: unpack, one command, the pinned environment's python.
  const job = path.join(directory, 'job');
  mkdirSync(job);
  assert.equal(spawnSync('tar', ['-xzf', bundle, '-C', job]).status, 0);
  const root = path.join(job, 'understudy-job');
  assert.equal(await sha256File(path.join(root, 'spec.json')), manifest.files['spec.json']);
  const spec = JSON.parse(readFileSync(path.join(root, 'spec.json'), 'utf8')) as { trainPath: string; base: { path: string }; outputDir: string };
  assert.equal(spec.trainPath, 'data/train.jsonl', 'paths in the bundle are relative to it');
  assert.equal(spec.base.path, 'base/SmolLM2-135M-Instruct.Q4_1.gguf');
  const environment = await ensureWorkerEnvironment();

  // A bundled file changed on its way to the runner: run.sh checks SHA256SUMS and stops before the worker starts.
  const tamperedJob = path.join(directory, 'tampered-job');
  cpSync(root, tamperedJob, { recursive: true });
  appendFileSync(path.join(tamperedJob, 'data', 'train.jsonl'), '{"prompt": "tampered", "completion": "tampered"}\n');
  const refusedJob = spawnSync('sh', [path.join(tamperedJob, 'run.sh')], { encoding: 'utf8', env: { ...process.env, PYTHON: environment.python }, timeout: 600_000 });
  assert.notEqual(refusedJob.status, 0, 'a tampered bundle does not train');
  assert.match(refusedJob.stderr, /data\/train\.jsonl: FAILED/);
  assert.match(refusedJob.stderr, /do not match SHA256SUMS; not training/);
  assert.equal(existsSync(path.join(tamperedJob, 'out', 'events.jsonl')), false, 'no worker ran: no events');

  const ran = spawnSync('sh', [path.join(root, 'run.sh')], { encoding: 'utf8', env: { ...process.env, PYTHON: environment.python }, timeout: 600_000 });
  assert.equal(ran.status, 0, `${ran.stderr}\n${readFileSync(path.join(root, 'out', 'worker.log'), 'utf8').slice(-2000)}`);

  const tampered = path.join(directory, 'tampered-out');
  cpSync(path.join(root, 'out'), tampered, { recursive: true });
  appendFileSync(path.join(tampered, 'adapter', 'adapter.gguf'), Buffer.from('tampered'));
  const refused = cli(['runs', 'import', tampered, '--json', '--workspace', workspace]);
  assert.equal(refused.status, 2);
  assert.match(String(refused.json.error), /adapter failed its checksum: adapter\.gguf hashes to [0-9a-f]{64}, not the [0-9a-f]{64} the worker reported/);
  assert.equal(runStatus(workspace, runId), 'running', 'bad files leave the run waiting for good ones');

  // The PEFT folder is checked too (the worker reports one sha256 over the whole folder).
  const tamperedPeft = path.join(directory, 'tampered-peft-out');
  cpSync(path.join(root, 'out'), tamperedPeft, { recursive: true });
  const peftConfig = path.join(tamperedPeft, 'adapter', 'peft', 'adapter_config.json');
  assert.ok(existsSync(peftConfig), 'the job wrote out/adapter/peft/adapter_config.json');
  appendFileSync(peftConfig, '\n');
  const refusedPeft = cli(['runs', 'import', tamperedPeft, '--json', '--workspace', workspace]);
  assert.equal(refusedPeft.status, 2);
  assert.match(String(refusedPeft.json.error), /adapter failed its checksum: the PEFT adapter folder hashes to [0-9a-f]{64}, not the [0-9a-f]{64} the worker reported/);
  assert.equal(runStatus(workspace, runId), 'running', 'a tampered PEFT folder leaves the run waiting for good files');

  const results = path.join(directory, 'out.tar.gz');
  assert.equal(spawnSync('tar', ['-czf', results, '-C', root, 'out']).status, 0);
  const imported = cli(['runs', 'import', results, '--json', '--workspace', workspace]);
  assert.equal(imported.status, 0, imported.stderr.slice(-2000));
  const result = imported.json as { run: { id: string; status: string }; steps: number; adapter: { ggufPath: string; ggufSha256: string } };
  assert.equal(result.run.id, runId);
  assert.equal(result.run.status, 'succeeded');
  assert.equal(result.steps, 3);
  assert.equal(await sha256File(result.adapter.ggufPath), result.adapter.ggufSha256);
  assert.equal(await sha256File(path.join(root, 'out', 'adapter', 'adapter.gguf')), result.adapter.ggufSha256);
  const shown = cli(['runs', 'show', runId, '--json', '--workspace', workspace]);
  assert.equal(shown.status, 0, shown.stderr);
  const run = shown.json.run as { lossCurve: unknown[]; adapter: { ggufSha256: string } };
  assert.ok(run.lossCurve.length >= 3, 'the job\'s events are stored with the run');
  assert.equal(run.adapter.ggufSha256, result.adapter.ggufSha256);

  // A job whose worker reported an error: importing its out/ stores the events and fails the run (not left running).
  const second = cli(['train', '--json', '--config', config, '--workspace', workspace, '--bundle', path.join(directory, 'job-2.tar.gz')]);
  assert.equal(second.status, 0, second.stderr.slice(-2000));
  const failedRunId = String(second.json.runId);
  const failedOut = path.join(directory, 'failed-out');
  mkdirSync(failedOut);
  writeFileSync(path.join(failedOut, 'bundle.json'), JSON.stringify(second.json.manifest));
  writeFileSync(path.join(failedOut, 'events.jsonl'), `${JSON.stringify({ event: 'error', errorType: 'OutOfMemoryError', message: 'CUDA out of memory' })}\n`);
  const failedImport = cli(['runs', 'import', failedOut, '--json', '--workspace', workspace]);
  assert.equal(failedImport.status, 1);
  assert.match(String(failedImport.json.error), /the job failed: OutOfMemoryError: CUDA out of memory/);
  assert.equal(runStatus(workspace, failedRunId), 'failed');
});
