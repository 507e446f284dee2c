// `understudy train --bundle` and `understudy runs import`: the job file a team hands to Modal, Anyscale or
// Kubernetes, run here as that job would run it (its own run.sh, the pinned worker environment), and its results
// brought back: a tampered adapter is refused, the real one is verified and registered.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
  for (const file of ['spec.json', 'run.sh', 'data/train.jsonl', 'base/SmolLM2-135M-Instruct.Q4_1.gguf', 'worker/requirements.txt', 'worker/understudy_worker/train_sft.py']) {
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
  const ran = spawnSync('sh', [path.join(root, 'run.sh')], { encoding: 'utf8', env: { ...process.env, PYTHON: environment.python }, timeout: 600_000 });
  assert.equal(ran.status, 0, `${ran.stderr}\n${readFileSync(path.join(root, 'out', 'worker.log'), 'utf8').slice(-2000)}`);

  const tampered = path.join(directory, 'tampered-out');
  cpSync(path.join(root, 'out'), tampered, { recursive: true });
  appendFileSync(path.join(tampered, 'adapter', 'adapter.gguf'), Buffer.from('tampered'));
  const refused = cli(['runs', 'import', tampered, '--json', '--workspace', workspace]);
  assert.equal(refused.status, 2);
  assert.match(String(refused.json.error), /adapter failed its checksum: adapter\.gguf hashes to [0-9a-f]{64}, not the [0-9a-f]{64} the worker reported/);
  assert.equal(runStatus(workspace, runId), 'running', 'bad files leave the run waiting for good ones');

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
});
