// `understudy data import` as a user runs it: the real CLI, a real SQLite workspace, the real SmolLM2 vocabulary
// for the token check, and fixtures cut from Banking77's train.csv (CC BY 4.0, examples/banking77/LICENSE).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { defaultConfigText } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import { parseCsv } from '../src/core/csv.ts';

const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');
const TASK = 'banking77-intent';
const SYSTEM = 'Classify the online-banking customer message into its intent label. Answer with the label only.';
const directories: string[] = [];
after(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory(): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-data-import-'));
  directories.push(directory);
  return directory;
}

function run(cwd: string, args: string[]) {
  const result = spawnSync(process.execPath, [CLI, 'data', 'import', ...args], { cwd, encoding: 'utf8', timeout: 180_000 });
  const lines = result.stdout.trim().split('\n').filter((line) => line.startsWith('{'));
  return { status: result.status, last: JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>, stderr: result.stderr };
}

function pool(workspace: string) {
  const store = openStore(path.join(workspace, 'understudy.db'));
  try {
    return { examples: store.curation.listPool(TASK), batches: store.curation.listBatches(TASK) };
  } finally {
    store.close();
  }
}

const csvQuote = (value: string): string => `"${value.replaceAll('"', '""')}"`;
/** Real rows: the first of each of the first labels in train.csv, then some more. */
const banking = parseCsv(readFileSync(path.join(EXAMPLES_BANKING77_DIR, 'train.csv'), 'utf8')).slice(1).filter((_, index) => index % 150 === 0).slice(0, 6).map((record) => ({ text: record.fields[0]!, label: record.fields[1]! }));

/** Six good rows, and four bad ones: a near-miss label, an empty input, a short row, a row over the 128-token limit. */
function writeMixedCsv(directory: string): { file: string; good: { text: string; label: string; line: number }[] } {
  const long = `${banking[0]!.text} `.repeat(40).trim();
  const rows = [
    'text,category',
    `${csvQuote(banking[0]!.text)},${banking[0]!.label}`, // line 2
    `${csvQuote(`${banking[1]!.text}\n(continued on a second line)`)},${banking[1]!.label}`, // lines 3-4
    `${csvQuote(banking[2]!.text)},Card Arrival`, // line 5: not a label
    `${csvQuote(banking[3]!.text)},${banking[3]!.label}`, // line 6
    `"",${banking[3]!.label}`, // line 7: empty input
    'only one field', // line 8
    `${csvQuote(long)},${banking[4]!.label}`, // line 9: too long
    `${csvQuote(banking[4]!.text)},${banking[4]!.label}`, // line 10
    `${csvQuote(banking[5]!.text)},${banking[5]!.label}`, // line 11
    `${csvQuote(banking[2]!.text)},${banking[2]!.label}`, // line 12
  ];
  const file = path.join(directory, 'slice.csv');
  writeFileSync(file, `${rows.join('\n')}\n`);
  const good = [
    { ...banking[0]!, line: 2 },
    { text: `${banking[1]!.text}\n(continued on a second line)`, label: banking[1]!.label, line: 3 },
    { ...banking[3]!, line: 6 },
    { ...banking[4]!, line: 10 },
    { ...banking[5]!, line: 11 },
    { ...banking[2]!, line: 12 },
  ];
  return { file, good };
}

test('a CSV with bad rows: exit 0, bad rows listed with file:line, the pool holds exactly the good rows with provenance; a re-import is detected', () => {
  const directory = temporaryDirectory();
  const { good } = writeMixedCsv(directory);
  const workspace = path.join(directory, 'workspace');
  const args = ['slice.csv', '--format', 'csv', '--input-column', 'text', '--label-column', 'category', '--tags', 'seed,banking', '--workspace', workspace];

  const human = spawnSync(process.execPath, [CLI, 'data', 'import', ...args], { cwd: directory, encoding: 'utf8', timeout: 180_000 });
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stderr, /imported 6 examples into the pool of banking77-intent/);
  assert.match(human.stderr, /token limit: 128 tokens with the chat template \(training\.maxLength\)/);
  assert.match(human.stderr, /slice\.csv:5 category: "Card Arrival" is not in the task's label set; closest: "card_arrival"/);
  assert.match(human.stderr, /slice\.csv:7 text: the input is empty/);
  assert.match(human.stderr, /slice\.csv:8: expected 2 fields, found 1/);
  assert.match(human.stderr, /slice\.csv:9 tokens: \d+ tokens with the chat template, over the limit of 128/);

  const { examples, batches } = pool(workspace);
  assert.equal(batches.length, 1);
  assert.equal(batches[0]!.kind, 'import');
  assert.equal(batches[0]!.added, 6);
  assert.deepEqual(batches[0]!.problems.map((problem) => [problem.line, problem.field]), [[5, 'category'], [7, 'text'], [8, undefined], [9, 'tokens']]);
  assert.deepEqual(batches[0]!.source.mapping, { inputColumn: 'text', labelColumn: 'category' });
  assert.equal(batches[0]!.source.format, 'csv');
  assert.match(String(batches[0]!.source.sha256), /^[0-9a-f]{64}$/);
  assert.deepEqual(examples.map((example) => [example.input, example.answer, example.provenance.line]), good.map((row) => [row.text, row.label, row.line]));
  for (const example of examples) {
    assert.deepEqual(example.provenance, { file: 'slice.csv', line: example.provenance.line, format: 'csv' });
    assert.deepEqual(example.tags, ['seed', 'banking']);
    assert.equal(example.source, 'human');
    assert.deepEqual(example.messages, [{ role: 'system', content: SYSTEM }, { role: 'user', content: example.input }, { role: 'assistant', content: example.answer }]);
  }

  const again = run(directory, [...args, '--json']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.last.ok, true);
  assert.equal(again.last.added, 0);
  assert.equal(again.last.batchId, null);
  assert.deepEqual(again.last.alreadyImported, { batchId: batches[0]!.id, createdAt: batches[0]!.createdAt, added: 6 });
  assert.equal(pool(workspace).examples.length, 6, 'nothing added on a re-import');

  const forced = run(directory, [...args, '--again', '--json']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.equal(forced.last.added, 6);
  assert.equal(pool(workspace).batches.length, 2);
});

test('--json: one result object with the skipped rows and counts by label', () => {
  const directory = temporaryDirectory();
  writeMixedCsv(directory);
  const workspace = path.join(directory, 'workspace');
  const { status, last } = run(directory, ['slice.csv', '--format', 'csv', '--input-column', 'text', '--label-column', 'category', '--workspace', workspace, '--json']);
  assert.equal(status, 0);
  assert.equal(last.ok, true);
  assert.equal(last.added, 6);
  const expected: Record<string, number> = {};
  for (const row of [banking[0]!, banking[1]!, banking[3]!, banking[4]!, banking[5]!, banking[2]!]) expected[row.label] = (expected[row.label] ?? 0) + 1;
  assert.deepEqual(last.byLabel, expected);
  assert.deepEqual((last.skipped as { line: number }[]).map((problem) => problem.line), [5, 7, 8, 9]);
  assert.deepEqual(last.maxTokens, { limit: 128, from: 'training.maxLength', checked: true });
});

test('--strict with a bad row: exit 2 naming file, line and field, and nothing written', () => {
  const directory = temporaryDirectory();
  writeMixedCsv(directory);
  const workspace = path.join(directory, 'workspace');
  const { status, last, stderr } = run(directory, ['slice.csv', '--format', 'csv', '--input-column', 'text', '--label-column', 'category', '--strict', '--workspace', workspace, '--json']);
  assert.equal(status, 2, stderr);
  assert.equal(last.ok, false);
  assert.equal(last.file, 'slice.csv');
  assert.equal(last.line, 5);
  assert.equal(last.field, 'category');
  assert.match(String(last.error), /4 problems in the file; --strict imports nothing/);
  const { examples, batches } = pool(workspace);
  assert.equal(examples.length, 0);
  assert.equal(batches.length, 0);
});

test('a missing file, missing columns and the gateway-logs format: exit 2 before anything is written', () => {
  const directory = temporaryDirectory();
  writeMixedCsv(directory);
  const workspace = path.join(directory, 'workspace');
  const missing = run(directory, ['nope.csv', '--format', 'csv', '--input-column', 'text', '--workspace', workspace, '--json']);
  assert.equal(missing.status, 2);
  assert.equal(missing.last.file, 'nope.csv');
  assert.equal(missing.last.field, 'file');
  const column = run(directory, ['slice.csv', '--format', 'csv', '--input-column', 'question', '--workspace', workspace, '--json']);
  assert.equal(column.status, 2);
  assert.equal(column.last.field, 'inputColumn');
  assert.match(String(column.last.error), /column "question" is not in the header/);
  const gateway = run(directory, ['slice.csv', '--format', 'gateway-logs', '--workspace', workspace, '--json']);
  assert.equal(gateway.status, 2);
  assert.match(String(gateway.last.error), /gateway logs are not read from a file/);
  assert.equal(pool(workspace).batches.length, 0);
});

test('nlupp into a json-schema task: schema-valid answers imported, schema-invalid ones skipped with their line', () => {
  const directory = temporaryDirectory();
  const schema = {
    type: 'object',
    properties: { intents: { type: 'array', items: { enum: ['how_long', 'pin', 'arrival', 'new', 'affirm'] }, minItems: 1 }, slots: { type: 'object', additionalProperties: { type: 'string' } } },
    required: ['intents', 'slots'],
    additionalProperties: false,
  };
  const config = defaultConfigText(EXAMPLES_BANKING77_DIR).replace(/ {4}type: labels\n {4}labelsFile: .*\n/, `    type: json-schema\n    schema: ${JSON.stringify(schema)}\n`);
  assert.match(config, /type: json-schema/);
  writeFileSync(path.join(directory, 'understudy.yaml'), config);
  const records = [
    { text: 'How long does it usually take to get a new pin?', intents: ['how_long', 'pin', 'arrival', 'new'] },
    { text: 'Yes, from 25 past 23 on', intents: ['affirm'], slots: { time_from: { text: '25 past 23', span: [10, 20], value: { hour: 23, minute: 25 } } } },
    { text: 'Create 6 new standing orders.', intents: ['make_open_apply_setup_get_activate', 'new', 'standing_order'] },
    { text: 'no intents here' },
  ];
  writeFileSync(path.join(directory, 'fold.json'), JSON.stringify(records, null, 2));
  const workspace = path.join(directory, 'workspace');
  const { status, last, stderr } = run(directory, ['fold.json', '--format', 'nlupp', '--config', 'understudy.yaml', '--workspace', workspace, '--json']);
  assert.equal(status, 0, stderr);
  assert.equal(last.added, 2);
  assert.deepEqual(last.byLabel, { '(json)': 2 });
  const skipped = last.skipped as { line: number; field: string; reason: string }[];
  const lines = readFileSync(path.join(directory, 'fold.json'), 'utf8').split('\n');
  assert.deepEqual(skipped.map((problem) => [lines[problem.line]!.trim(), problem.field]), [
    [`"text": ${JSON.stringify(records[2]!.text)},`, 'answer'],
    [`"text": ${JSON.stringify(records[3]!.text)}`, 'answer'],
  ]);
  assert.match(skipped[0]!.reason, /\/intents\/0: must be one of/);
  assert.match(skipped[1]!.reason, /\/intents: must have at least 1 items/);
  const store = openStore(path.join(workspace, 'understudy.db'));
  try {
    assert.deepEqual(store.curation.listPool(TASK).map((example) => example.answer), ['{"intents":["arrival","how_long","new","pin"],"slots":{}}', '{"intents":["affirm"],"slots":{"time_from":"25 past 23"}}']);
  } finally {
    store.close();
  }

  const labelTask = run(directory, ['fold.json', '--format', 'nlupp', '--workspace', workspace, '--json']);
  assert.equal(labelTask.status, 2);
  assert.match(String(labelTask.last.error), /nlupp format needs a json-schema task/);
});
