import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readLabelledCsv } from '../src/adapters/csv-dataset.ts';
import { parseCsv } from '../src/core/csv.ts';
import { UnderstudyError } from '../src/core/errors.ts';
import { normalizeForOverlap, removeOverlap } from '../src/core/decontaminate.ts';

const columns = { inputColumn: 'text', labelColumn: 'category', labels: ['card_arrival', 'lost_or_stolen_card'] };

function csvFile(content: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'understudy-csv-')), 'data.csv');
  writeFileSync(file, content);
  return file;
}

test('parseCsv handles quotes, doubled quotes, embedded newlines and CRLF, keeping start lines', () => {
  const records = parseCsv('a,b\r\n"x, y","say ""hi"""\r\n"multi\nline",z\n');
  assert.deepEqual(records.map((record) => record.fields), [['a', 'b'], ['x, y', 'say "hi"'], ['multi\nline', 'z']]);
  assert.deepEqual(records.map((record) => record.line), [1, 2, 3]);
});

test('readLabelledCsv reads the bundled Banking77 rows with their line numbers', () => {
  const rows = readLabelledCsv(csvFile('text,category\nWhere is my card?,card_arrival\n"I lost it, help",lost_or_stolen_card\n'), columns);
  assert.equal(rows.length, 2);
  assert.equal(rows[1]!.input, 'I lost it, help');
  assert.equal(rows[1]!.line, 3);
});

for (const [name, content, line, message] of [
  ['a label outside the set', 'text,category\nok,card_arrival\nhello,unknown_label\n', 3, /not in the task's label set/],
  ['a row with too many fields', 'text,category\nok,card_arrival,extra\n', 2, /expected 2 fields/],
  ['an unclosed quote', 'text,category\n"never closed,card_arrival\n', 2, /never closed/],
  ['an empty input', 'text,category\n ,card_arrival\n', 2, /empty input/],
  ['a missing column', 'query,category\nok,card_arrival\n', 1, /column "text"/],
] as const) {
  test(`a malformed CSV row is reported with file and line: ${name}`, () => {
    const file = csvFile(content);
    assert.throws(() => readLabelledCsv(file, columns), (error: unknown) => {
      assert.ok(UnderstudyError.isInstance(error));
      assert.equal(error.file, file);
      assert.equal(error.line, line);
      assert.match(error.message, message);
      return true;
    });
  });
}

test('decontamination drops training rows whose normalized input is in the held-out set', () => {
  assert.equal(normalizeForOverlap('  Where is my CARD?! '), 'where is my card');
  const train = ['Where is my card?', 'where is my card', 'I lost my card', 'Card lost!'];
  const heldOut = ['WHERE IS MY CARD', 'my card got stolen'];
  const { kept, dropped } = removeOverlap(train, heldOut, (text) => text);
  assert.deepEqual(dropped, ['Where is my card?', 'where is my card']);
  assert.deepEqual(kept, ['I lost my card', 'Card lost!']);
});
