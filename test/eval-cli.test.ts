// `understudy eval` as a user runs it: the real CLI, the real SmolLM2 GGUF on the embedded llama.cpp engine, a real
// SQLite workspace, and a held-out sample of Banking77 (CC BY 4.0, examples/banking77/LICENSE).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { defaultConfigText } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';

const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');
const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-eval-'));
after(() => rmSync(directory, { recursive: true, force: true }));

function writeConfig(): string {
  const text = defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR))
    .replace(/sampleSize: \d+.*\n/, 'sampleSize: 24\n')
    .replace('constrainToLabels: true', [
      'constrainToLabels: true',
      '  candidates:',
      '    - { kind: prompted-base, name: zero-shot }',
      '    - { kind: prompted-base, name: two-shot, shots: 2 }',
      '    - { kind: prompted-base, name: zero-shot-again }',
    ].join('\n'));
  const file = path.join(directory, 'understudy.yaml');
  writeFileSync(file, text);
  return file;
}

function cli(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, 'eval', ...args, '--json'], { cwd: directory, encoding: 'utf8', timeout: 300_000 });
  const lines = result.stdout.trim().split('\n').filter((line) => line.startsWith('{') && !line.startsWith('{"progress"'));
  return { status: result.status, last: JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>, stderr: result.stderr };
}

interface CandidateJson { name: string; n: number; accuracy: number; accuracyInterval: { low: number; high: number }; costPer1000Usd: number | null; cachedAnswers: number; latencyP50Ms: number }
interface ComparisonJson { candidate: string; mcnemar: { b01: number; b10: number; pValue: number }; holmPValue: number; accuracyDifference: { difference: number; low: number; high: number } }

test('eval scores every candidate with intervals, compares them with Holm-adjusted tests, caches answers, and the gate says no to a candidate no better than the baseline', () => {
  const config = writeConfig();
  const first = cli(['--config', config, '--workspace', directory, '--gate', '--candidate', 'zero-shot-again', '--baseline', 'zero-shot']);
  // The same model and prompt under another name is exactly as good: the gate must say no, and exit 1.
  assert.equal(first.status, 1, first.stderr);
  const candidates = first.last.candidates as CandidateJson[];
  assert.deepEqual(candidates.map((candidate) => candidate.name), ['zero-shot', 'two-shot', 'zero-shot-again']);
  for (const candidate of candidates) {
    assert.equal(candidate.n, 24);
    assert.ok(candidate.accuracyInterval.low <= candidate.accuracy && candidate.accuracy <= candidate.accuracyInterval.high);
    assert.ok(candidate.costPer1000Usd !== null && candidate.costPer1000Usd > 0, 'local answers are priced by the serving cost model');
  }
  // zero-shot-again shares zero-shot's fingerprint: every one of its answers came from the cache.
  assert.equal(candidates[0]!.cachedAnswers, 0);
  assert.equal(candidates[2]!.cachedAnswers, 24);
  const comparisons = first.last.comparisons as ComparisonJson[];
  assert.deepEqual(comparisons.map((comparison) => comparison.candidate), ['two-shot', 'zero-shot-again']);
  const same = comparisons[1]!;
  assert.deepEqual([same.mcnemar.b01, same.mcnemar.b10, same.accuracyDifference.difference], [0, 0, 0]);
  for (const comparison of comparisons) assert.ok(comparison.holmPValue >= comparison.mcnemar.pValue);
  const gate = first.last.gate as { pass: boolean; reason: string };
  assert.equal(gate.pass, false);
  assert.match(gate.reason, /^NO-GO: zero-shot-again/);
  assert.equal(first.last.ok, false);

  // Again: nothing is recomputed.
  const second = cli(['--config', config, '--workspace', directory, '--candidates', 'zero-shot,two-shot']);
  assert.equal(second.status, 0, second.stderr);
  const again = second.last.candidates as CandidateJson[];
  assert.deepEqual(again.map((candidate) => candidate.cachedAnswers), [24, 24]);
  assert.deepEqual(again.map((candidate) => candidate.accuracy), candidates.slice(0, 2).map((candidate) => candidate.accuracy));
  assert.equal(second.last.gate, null);

  // Bad input: an unknown candidate, and a gate on one candidate.
  const unknown = cli(['--config', config, '--workspace', directory, '--candidates', 'zero-shot,gpt-9']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown candidate "gpt-9"/);
  const lonely = cli(['--config', config, '--workspace', directory, '--candidates', 'zero-shot', '--gate', '--candidate', 'zero-shot']);
  assert.equal(lonely.status, 2);
});
