// The main command end to end, as a user runs it: `understudy demo --quick --json` on the real model.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { PACKAGE_ROOT } from '../src/adapters/paths.ts';

const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');

test('understudy demo --quick --json trains a real adapter, evaluates both candidates and ends with one JSON object', () => {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-demo-'));
  const run = spawnSync(process.execPath, [CLI, 'demo', '--quick', '--json', '--workspace', workspace], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(run.status, 0, run.stderr.slice(-2000));
  const lines = run.stdout.trim().split('\n');
  for (const line of lines) JSON.parse(line);
  const progress = lines.slice(0, -1).map((line) => JSON.parse(line) as { progress?: string });
  assert.ok(progress.some((event) => event.progress === 'train'), 'training progress as JSON lines');
  const result = JSON.parse(lines.at(-1)!) as {
    ok: boolean;
    candidates: { name: string; n: number; accuracy: number; promptTokensMean: number; latencyP50Ms: number; latencyP95Ms: number; macroF1: number }[];
    comparison: { accuracyDifference: { difference: number; low: number; high: number }; mcnemar: { pValue: number } };
    training: { steps: number; tokensPerSecond: number; seconds: number; adapterSha256: string; adapterPath: string };
    reportFile: string;
    databaseFile: string;
  };
  assert.equal(result.ok, true);
  assert.deepEqual(result.candidates.map((candidate) => candidate.name), ['prompted-base', 'tuned-adapter']);
  for (const candidate of result.candidates) {
    assert.equal(candidate.n, 24);
    assert.ok(candidate.accuracy >= 0 && candidate.accuracy <= 1);
    assert.ok(candidate.latencyP95Ms >= candidate.latencyP50Ms && candidate.latencyP50Ms > 0);
  }
  // The base sees 77 labels in its prompt; the adapter a one-line instruction.
  assert.ok(result.candidates[0]!.promptTokensMean > 5 * result.candidates[1]!.promptTokensMean);
  const { difference, low, high } = result.comparison.accuracyDifference;
  assert.ok(low <= difference && difference <= high);
  assert.ok(result.comparison.mcnemar.pValue > 0 && result.comparison.mcnemar.pValue <= 1);
  assert.equal(result.training.steps, 6);
  assert.ok(result.training.tokensPerSecond > 0);
  assert.ok(existsSync(result.training.adapterPath));

  const html = readFileSync(result.reportFile, 'utf8');
  assert.ok(html.includes(result.training.adapterSha256), 'the report names the adapter by hash');
  const db = new Database(result.databaseFile, { readonly: true });
  const counts = db.prepare("SELECT (SELECT COUNT(*) FROM adapters) AS adapters, (SELECT COUNT(*) FROM eval_results) AS results, (SELECT status FROM training_runs) AS status").get() as { adapters: number; results: number; status: string };
  db.close();
  assert.deepEqual(counts, { adapters: 1, results: 48, status: 'succeeded' });
});

test('understudy demo --base with an unknown model fails at once, naming the option and the known models', () => {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-demo-'));
  const run = spawnSync(process.execPath, [CLI, 'demo', '--quick', '--json', '--base', 'gemma-9-000m', '--workspace', workspace], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 2, run.stderr.slice(-2000));
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { ok: boolean; error: string; field: string; hint: string };
  assert.equal(result.ok, false);
  assert.match(result.error, /unknown model "gemma-9-000m"/);
  assert.equal(result.field, '--base');
  assert.match(result.hint, /gemma-3-270m/);
  assert.ok(!existsSync(path.join(workspace, 'understudy.db')), 'nothing ran before the check');
});
