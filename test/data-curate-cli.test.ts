// `understudy data split` and `data filter` as a user runs them: the real CLI on a real SQLite workspace, after a
// real `data import` of Banking77 rows (CC BY 4.0, examples/banking77/LICENSE) with planted problems.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { parseCsv } from '../src/core/csv.ts';

const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');
const TASK = 'banking77-intent';
const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-data-curate-'));
after(() => rmSync(workspace, { recursive: true, force: true }));

function cli(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, 'data', ...args, '--workspace', workspace, '--json'], { encoding: 'utf8', timeout: 180_000 });
  const lines = result.stdout.trim().split('\n').filter((line) => line.startsWith('{'));
  return { status: result.status, last: JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>, stderr: result.stderr };
}

const quote = (value: string): string => `"${value.replaceAll('"', '""')}"`;

test('import, split, filter and stats through the CLI: the held-out set is frozen and the filter report names each drop', () => {
  const rows = parseCsv(readFileSync(path.join(EXAMPLES_BANKING77_DIR, 'train.csv'), 'utf8')).slice(1).map((record) => ({ text: record.fields[0]!, label: record.fields[1]! }));
  const real = ['card_arrival', 'exchange_rate', 'lost_or_stolen_card', 'top_up_failed'].flatMap((label) => rows.filter((row) => row.label === label).slice(0, 15));
  const humanFile = path.join(workspace, 'real.csv');
  writeFileSync(humanFile, `text,category\n${real.map((row) => `${quote(row.text)},${row.label}`).join('\n')}\n`);
  const imported = cli(['import', humanFile, '--format', 'csv', '--input-column', 'text', '--label-column', 'category', '--no-token-check']);
  assert.equal(imported.status, 0, imported.stderr);
  assert.equal(imported.last.added, 60);

  const split = cli(['split']);
  assert.equal(split.status, 0, split.stderr);
  const heldout = split.last.heldout as { version: number; examples: number; isNew: boolean };
  assert.deepEqual([heldout.version, heldout.isNew], [1, true]);
  assert.equal(split.last.eval, 12, 'three of fifteen per label');
  assert.ok(Array.isArray(split.last.warnings) && (split.last.warnings as string[]).some((warning) => warning.includes('under the 50')), 'a small held-out set is called out');

  // Planted synthetic data: copies of held-out inputs in other words, a duplicate, an id, a German question.
  const store = openStore(path.join(workspace, 'understudy.db'));
  const heldOut = store.curation.listPool(TASK, { split: 'eval' });
  const trainSide = store.curation.listPool(TASK, { split: 'train' });
  store.close();
  const planted = [
    ...heldOut.slice(0, 4).map((row) => ({ text: `Hi! ${row.input} Thanks a lot.`, label: row.answer! })),
    { text: trainSide[0]!.input, label: trainSide[0]!.answer! },
    { text: 'ref_0042_99817_x', label: 'card_arrival' },
    { text: 'Warum ist meine Karte noch nicht angekommen und was kann ich tun?', label: 'card_arrival' },
  ];
  const syntheticFile = path.join(workspace, 'synthetic.csv');
  writeFileSync(syntheticFile, `text,category\n${planted.map((row) => `${quote(row.text)},${row.label}`).join('\n')}\n`);
  assert.equal(cli(['import', syntheticFile, '--format', 'csv', '--input-column', 'text', '--label-column', 'category', '--source', 'synthetic', '--no-token-check']).status, 0);

  const filtered = cli(['filter']);
  assert.equal(filtered.status, 0, filtered.stderr);
  const report = filtered.last.report as { steps: { step: string; dropped: number; reasons: Record<string, number>; skipped?: string }[]; before: number; after: number };
  const drops = filtered.last.drops as { exampleId: number; step: string; reason: string; detail: Record<string, unknown> }[];
  const bySteps = Object.fromEntries(report.steps.map((entry) => [entry.step, entry]));
  const after = openStore(path.join(workspace, 'understudy.db'));
  const copies = after.curation.listPool(TASK, { source: 'synthetic' }).filter((row) => row.input.startsWith('Hi! '));
  after.close();
  assert.equal(copies.length, 4);
  const contaminated = new Set(drops.filter((drop) => drop.step === 'decontamination').map((drop) => drop.exampleId));
  assert.ok(copies.every((row) => row.split === 'train' && contaminated.has(row.id)), 'every held-out copy is caught (Banking77 itself may hold a few more near-copies)');
  assert.ok(drops.filter((drop) => drop.step === 'decontamination').every((drop) => heldOut.some((row) => row.id === drop.detail.evalId)));
  assert.equal(bySteps['exact-dedup']!.reasons.duplicate, 1);
  assert.equal(bySteps['length-format']!.reasons['not-text'], 1);
  assert.equal(bySteps.language!.reasons['language-de'], 1);
  assert.match(bySteps.judge!.skipped ?? '', /no judge/);
  assert.equal(report.after, report.before - drops.length);
  assert.equal(filtered.last.split && (filtered.last.split as { assigned: number }).assigned, 7, 'the new examples were split first');

  // Splitting again changes nothing: the held-out set stays version 1.
  const again = cli(['split']);
  assert.equal((again.last.heldout as { version: number; isNew: boolean }).version, 1);
  assert.equal(again.last.assigned, 0);

  const stats = cli(['stats', '--no-tokens']);
  assert.equal(stats.status, 0, stats.stderr);
  assert.match(JSON.stringify(stats.last), /decontamination/);

  // A bad step name is refused before anything runs.
  const bad = cli(['filter', '--skip', 'spellcheck']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown filter step "spellcheck"/);
});
