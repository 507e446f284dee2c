import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { CUSTOM_SYSTEM_PROMPT_TAG, checkExampleFile, fieldInFile, nluppAnswer, readExampleFile, type ExampleFileFormat, type ReadExampleFileOptions } from '../src/adapters/example-files.ts';
import { EXAMPLES_BANKING77_DIR } from '../src/adapters/paths.ts';
import type { TaskOutput } from '../src/contracts/config.ts';
import { parseCsv } from '../src/core/csv.ts';
import { InvalidInputError } from '../src/core/errors.ts';

const directory = mkdtempSync(path.join(tmpdir(), 'understudy-example-files-'));
after(() => rmSync(directory, { recursive: true, force: true }));

const SYSTEM = 'Classify the online-banking customer message into its intent label. Answer with the label only.';
const labelTask = { systemPrompt: SYSTEM, output: { type: 'labels', labels: ['card_arrival'] } satisfies TaskOutput };
const schemaTask = { systemPrompt: 'Extract intents and slots as JSON.', output: { type: 'json-schema', schema: { type: 'object' } } satisfies TaskOutput };

/** Real Banking77 rows (CC BY 4.0, examples/banking77/LICENSE): the first `count` of train.csv. */
const banking = parseCsv(readFileSync(path.join(EXAMPLES_BANKING77_DIR, 'train.csv'), 'utf8')).slice(1, 9).map((record) => ({ text: record.fields[0]!, label: record.fields[1]! }));

let written = 0;
function fixture(text: string, extension: string): string {
  written += 1;
  const file = path.join(directory, `fixture-${written}.${extension}`);
  writeFileSync(file, text);
  return file;
}

function read(file: string, format: ExampleFileFormat, extra: Partial<ReadExampleFileOptions> = {}) {
  return readExampleFile({ file, format, task: labelTask, ...extra });
}

const csvQuote = (value: string): string => `"${value.replaceAll('"', '""')}"`;

test('csv: mapped columns, the task system prompt, tags, and the line each row starts on (quoted multi-line fields)', () => {
  const lines = [
    'id,text,category,tags',
    `1,${csvQuote(banking[0]!.text)},${banking[0]!.label},vip;  first `,
    `2,${csvQuote(`${banking[1]!.text}\nsecond line of the same field\nand a third`)},${banking[1]!.label},`,
    `3,${csvQuote(banking[2]!.text)},   ,`,
    '4,too few fields',
    `5,${csvQuote(banking[3]!.text)},${banking[3]!.label},`,
  ];
  const file = fixture(`${lines.join('\r\n')}\r\n`, 'csv');
  const contents = read(file, 'csv', { mapping: { inputColumn: 'text', labelColumn: 'category', tagsColumn: 'tags' }, tags: ['batch-a'], source: 'synthetic' });
  assert.deepEqual(contents.examples.map((entry) => entry.line), [2, 3, 8]);
  const [first, second, third] = contents.examples.map((entry) => entry.example);
  assert.deepEqual(first!.messages, [{ role: 'system', content: SYSTEM }, { role: 'user', content: banking[0]!.text }, { role: 'assistant', content: 'card_arrival' }]);
  assert.equal(first!.input, banking[0]!.text);
  assert.equal(first!.answer, 'card_arrival');
  assert.deepEqual(first!.tags, ['batch-a', 'vip', 'first']);
  assert.equal(first!.source, 'synthetic');
  assert.deepEqual(first!.provenance, { file, line: 2, format: 'csv' });
  assert.match(second!.input, /second line of the same field\nand a third$/);
  assert.deepEqual(third!.provenance, { file, line: 8, format: 'csv' });
  assert.deepEqual(contents.problems, [
    { file, line: 6, field: 'category', reason: 'the label is empty (leave out --label-column to import inputs unlabeled)' },
    { file, line: 7, reason: 'expected 4 fields, found 2' },
  ]);
  assert.equal(contents.sha256, createHash('sha256').update(readFileSync(file)).digest('hex'));
  assert.equal(fieldInFile('input', 'csv', { inputColumn: 'text', labelColumn: 'category' }), 'text');
  assert.equal(fieldInFile('answer', 'csv', { inputColumn: 'text', labelColumn: 'category' }), 'category');
  assert.equal(fieldInFile('answer', 'openai'), 'answer');
});

test('csv without a label column imports unlabeled inputs', () => {
  const file = fixture(`text\n${banking.slice(0, 3).map((row) => csvQuote(row.text)).join('\n')}\n`, 'csv');
  const contents = read(file, 'csv', { mapping: { inputColumn: 'text' } });
  assert.equal(contents.examples.length, 3);
  for (const { example } of contents.examples) {
    assert.equal(example.answer, null);
    assert.equal(example.messages.at(-1)!.role, 'user');
  }
});

test('csv: a missing mapped column, a missing mapping and a missing file are InvalidInputErrors naming the file and field', () => {
  const file = fixture('text,category\nhello,card_arrival\n', 'csv');
  const expectError = (run: () => unknown, field: string, message: RegExp, expectedFile = file): void => {
    assert.throws(run, (error: unknown) => error instanceof InvalidInputError && error.file === expectedFile && error.field === field && message.test(error.message));
  };
  expectError(() => read(file, 'csv', { mapping: { inputColumn: 'text', labelColumn: 'intent' } }), 'labelColumn', /column "intent" is not in the header \(columns: text, category\)/);
  expectError(() => read(file, 'csv', { mapping: { inputColumn: 'question' } }), 'inputColumn', /column "question"/);
  expectError(() => read(file, 'csv'), 'inputColumn', /needs the column that holds the input/);
  const missing = path.join(directory, 'no-such.csv');
  expectError(() => checkExampleFile({ file: missing, format: 'csv', task: labelTask, mapping: { inputColumn: 'text' } }), 'file', /does not exist/, missing);
});

test('openai: chat fine-tuning JSONL; weight and name accepted, tool calls and malformed lines skipped with their line numbers', () => {
  const good = { messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: banking[0]!.text, name: 'customer' }, { role: 'assistant', content: banking[0]!.label, weight: 1 }] };
  const lines = [
    JSON.stringify(good),
    '',
    '{"messages": [{"role": "user", "content": "broken"}',
    JSON.stringify({ messages: [{ role: 'user', content: 'weather?' }, { role: 'assistant', content: null, tool_calls: [{ id: 'x', type: 'function' }] }] }),
    JSON.stringify({ messages: [{ role: 'user', content: 'x' }, { role: 'tool', content: 'y' }] }),
    JSON.stringify({ prompt: 'x' }),
    JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'text', text: 'multi ' }, { type: 'text', text: 'part' }] }, { role: 'assistant', content: 'card_arrival' }] }),
    JSON.stringify({ messages: [{ role: 'system', content: 'You are a bank bot.' }, { role: 'user', content: banking[1]!.text }, { role: 'assistant', content: 'card_arrival', weight: 0 }] }),
    JSON.stringify({ messages: [{ role: 'user', content: 'x', weight: 1 }, { role: 'assistant', content: 'card_arrival' }] }),
    JSON.stringify({ messages: [{ role: 'developer', content: 'x' }] }),
    JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x' } }] }] }),
    '[1, 2]',
  ];
  const file = fixture(`${lines.join('\n')}\n`, 'jsonl');
  const contents = read(file, 'openai');
  assert.deepEqual(contents.examples.map((entry) => entry.line), [1, 7, 8]);
  const [first, parts, custom] = contents.examples.map((entry) => entry.example);
  assert.deepEqual(first!.messages, [{ role: 'system', content: SYSTEM }, { role: 'user', content: banking[0]!.text }, { role: 'assistant', content: banking[0]!.label }]);
  assert.deepEqual(first!.tags, []);
  assert.equal(parts!.input, 'multi part');
  assert.equal(parts!.messages[0]!.content, SYSTEM, 'no system message: the task prompt is put first');
  assert.equal(custom!.messages[0]!.content, 'You are a bank bot.', 'a different system prompt is kept');
  assert.deepEqual(custom!.tags, [CUSTOM_SYSTEM_PROMPT_TAG]);
  assert.deepEqual(contents.problems.map((problem) => [problem.line, problem.field]), [
    [3, undefined],
    [4, 'messages[1].tool_calls'],
    [5, 'messages[1].role'],
    [6, 'messages'],
    [9, 'messages[0].weight'],
    [10, 'messages[0].role'],
    [11, 'messages[0].content'],
    [12, undefined],
  ]);
  assert.match(contents.problems[0]!.reason, /^not valid JSON/);
  assert.match(contents.problems[1]!.reason, /tool calls are not supported/);
  assert.match(contents.problems[7]!.reason, /must be a JSON object/);
});

test('trl-prompt-completion: strings or message lists', () => {
  const lines = [
    JSON.stringify({ prompt: banking[0]!.text, completion: banking[0]!.label }),
    JSON.stringify({ prompt: [{ role: 'system', content: SYSTEM }, { role: 'user', content: banking[1]!.text }], completion: [{ role: 'assistant', content: banking[1]!.label }] }),
    JSON.stringify({ prompt: banking[2]!.text }),
    JSON.stringify({ prompt: 7, completion: 'x' }),
  ];
  const contents = read(fixture(lines.join('\n'), 'jsonl'), 'trl-prompt-completion');
  assert.deepEqual(contents.examples.map((entry) => entry.example.messages), [
    [{ role: 'system', content: SYSTEM }, { role: 'user', content: banking[0]!.text }, { role: 'assistant', content: banking[0]!.label }],
    [{ role: 'system', content: SYSTEM }, { role: 'user', content: banking[1]!.text }, { role: 'assistant', content: banking[1]!.label }],
  ]);
  assert.deepEqual(contents.problems.map((problem) => [problem.line, problem.field, problem.reason]), [
    [3, 'completion', 'missing'],
    [4, 'prompt', 'must be a list of messages (or a string)'],
  ]);
});

test('trl-messages: conversational JSONL; a weight is not part of this format', () => {
  const lines = [
    JSON.stringify({ messages: [{ role: 'user', content: banking[0]!.text }, { role: 'assistant', content: banking[0]!.label }] }),
    JSON.stringify({ messages: [{ role: 'user', content: banking[1]!.text }, { role: 'assistant', content: banking[1]!.label, weight: 1 }] }),
    JSON.stringify({ messages: [] }),
  ];
  const contents = read(fixture(lines.join('\n'), 'jsonl'), 'trl-messages');
  assert.deepEqual(contents.examples.map((entry) => [entry.line, entry.example.answer]), [[1, banking[0]!.label]]);
  assert.deepEqual(contents.problems.map((problem) => [problem.line, problem.field]), [[2, 'messages[1].weight'], [3, 'messages']]);
});

test('nlupp: canonical JSON answers (sorted intents, slot texts), the line each record starts on', () => {
  const records = [
    { text: 'How long does it usually take to get a new pin?', intents: ['how_long', 'pin', 'arrival', 'new'] },
    {
      text: 'ok, I can make it between 9 05 in the morning and 25 to 7 p.m. any day next week',
      intents: ['make_open_apply_setup_get_activate', 'acknowledge'],
      slots: { time_to: { text: '25 to 7 p.m.', span: [50, 62], value: { hour: 18, minute: 35 } }, date_period: { text: 'next week', span: [71, 80] } },
    },
    { text: 'Thanks "a lot" {really}', slots: { person: { span: [0, 3] } } },
    { text: 'hello' },
  ];
  const file = fixture(JSON.stringify(records, null, 2), 'json');
  const contents = readExampleFile({ file, format: 'nlupp', task: schemaTask });
  const text = readFileSync(file, 'utf8').split('\n');
  const startLines = contents.examples.map((entry) => entry.line);
  assert.deepEqual(startLines.map((line) => text[line - 1]!.trim()), ['{', '{', '{']);
  // The line after each start holds that record's text.
  assert.deepEqual(startLines.map((line) => text[line]!.trim()), [0, 1, 3].map((index) => `"text": ${JSON.stringify(records[index]!.text)},`.replace(/,$/, index === 3 ? '' : ',')));
  assert.equal(contents.examples[0]!.example.answer, '{"intents":["arrival","how_long","new","pin"],"slots":{}}');
  assert.equal(contents.examples[1]!.example.answer, '{"intents":["acknowledge","make_open_apply_setup_get_activate"],"slots":{"date_period":"next week","time_to":"25 to 7 p.m."}}');
  assert.equal(contents.examples[2]!.example.answer, '{"intents":[],"slots":{}}');
  assert.equal(contents.examples[0]!.example.messages[0]!.content, 'Extract intents and slots as JSON.');
  assert.equal(contents.problems.length, 1);
  assert.deepEqual({ ...contents.problems[0], line: undefined }, { file, line: undefined, field: 'slots.person.text', reason: 'must be a string' });
  assert.equal(text[contents.problems[0]!.line]!.trim(), `"text": ${JSON.stringify(records[2]!.text)},`);
  assert.equal(nluppAnswer({ intents: ['b', 'a', 'b'] }), '{"intents":["a","b"],"slots":{}}');
});

test('nlupp needs a json-schema task; gateway-logs is not a file format: both refused before reading', () => {
  const file = fixture('[]', 'json');
  assert.throws(() => readExampleFile({ file, format: 'nlupp', task: labelTask }), (error: unknown) => error instanceof InvalidInputError && error.field === 'format' && /needs a json-schema task/.test(error.message));
  assert.throws(() => readExampleFile({ file, format: 'gateway-logs', task: labelTask }), (error: unknown) => error instanceof InvalidInputError && error.field === 'format' && /not read from a file/.test(error.message) && /--from-logs/.test(error.hint ?? ''));
  assert.throws(() => readExampleFile({ file: fixture('{"text": "x"}', 'json'), format: 'nlupp', task: schemaTask }), /must be a JSON array/);
});
