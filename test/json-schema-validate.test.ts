import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../src/core/errors.ts';
import { checkSupportedSchema, validateJsonSchema } from '../src/core/json-schema-validate.ts';

const extraction = {
  type: 'object',
  properties: {
    intents: { type: 'array', items: { enum: ['pin', 'card', 'new'] }, minItems: 1, maxItems: 2 },
    slots: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
    amount: { type: 'number', minimum: 0, maximum: 1000 },
    when: { type: 'string', format: 'date' },
    kind: { anyOf: [{ const: 'a' }, { type: 'integer' }] },
    note: { type: ['string', 'null'], maxLength: 5 },
    ref: { $ref: '#/$defs/code' },
  },
  required: ['intents', 'slots'],
  additionalProperties: false,
  $defs: { code: { type: 'string', minLength: 2, maxLength: 3 } },
  title: 'annotations are ignored',
};

const cases: { name: string; value: unknown; paths: string[]; message?: RegExp }[] = [
  { name: 'a valid value', value: { intents: ['pin'], slots: { date: 'today' }, amount: 12.5, when: '2024-02-29', kind: 'a', note: null, ref: 'ab' }, paths: [] },
  { name: 'another anyOf branch', value: { intents: ['pin', 'new'], slots: {}, kind: 3 }, paths: [] },
  { name: 'a missing required property', value: { intents: ['pin'] }, paths: [''], message: /missing required property "slots"/ },
  { name: 'a wrong root type', value: [1], paths: [''], message: /expected object, got array/ },
  { name: 'an enum miss inside an array', value: { intents: ['pin', 'cash'], slots: {} }, paths: ['/intents/1'], message: /must be one of "pin", "card", "new"/ },
  { name: 'too few items', value: { intents: [], slots: {} }, paths: ['/intents'], message: /at least 1 items/ },
  { name: 'too many items', value: { intents: ['pin', 'card', 'new'], slots: {} }, paths: ['/intents'], message: /at most 2 items/ },
  { name: 'an extra property', value: { intents: ['pin'], slots: {}, colour: 'red' }, paths: ['/colour'], message: /not allowed/ },
  { name: 'an additionalProperties schema', value: { intents: ['pin'], slots: { date: '' } }, paths: ['/slots/date'], message: /at least 1 characters/ },
  { name: 'a number below the minimum', value: { intents: ['pin'], slots: {}, amount: -1 }, paths: ['/amount'], message: /must be >= 0/ },
  { name: 'a number above the maximum', value: { intents: ['pin'], slots: {}, amount: 1001 }, paths: ['/amount'], message: /must be <= 1000/ },
  { name: 'a bad date format', value: { intents: ['pin'], slots: {}, when: '2024-13-01' }, paths: ['/when'], message: /must be a date/ },
  { name: 'no anyOf branch', value: { intents: ['pin'], slots: {}, kind: 1.5 }, paths: ['/kind'], message: /none of the 2 anyOf alternatives/ },
  { name: 'a type list', value: { intents: ['pin'], slots: {}, note: 3 }, paths: ['/note'], message: /expected string or null, got integer/ },
  { name: 'a string over maxLength (code points)', value: { intents: ['pin'], slots: {}, note: 'ééééé!' }, paths: ['/note'], message: /at most 5 characters, has 6/ },
  { name: 'a $ref', value: { intents: ['pin'], slots: {}, ref: 'a' }, paths: ['/ref'], message: /at least 2 characters/ },
  { name: 'several violations at once', value: { intents: ['x'], slots: { a: 1 }, amount: 'many' }, paths: ['/intents/0', '/slots/a', '/amount'] },
];

for (const { name, value, paths, message } of cases) {
  test(`validateJsonSchema: ${name}`, () => {
    const violations = validateJsonSchema(extraction, value);
    assert.deepEqual(violations.map((violation) => violation.path), paths, JSON.stringify(violations));
    if (message !== undefined) assert.match(violations[0]!.message, message);
  });
}

test('validateJsonSchema: const, oneOf with two matches, integer vs number, escaped keys', () => {
  assert.deepEqual(validateJsonSchema({ const: { a: [1, 2] } }, { a: [1, 2] }), []);
  assert.equal(validateJsonSchema({ const: { a: [1, 2] } }, { a: [2, 1] }).length, 1);
  assert.match(validateJsonSchema({ oneOf: [{ type: 'number' }, { type: 'integer' }] }, 3)[0]!.message, /matches 2 oneOf alternatives/);
  assert.deepEqual(validateJsonSchema({ oneOf: [{ type: 'number' }, { type: 'integer' }] }, 3.5), []);
  assert.match(validateJsonSchema({ type: 'integer' }, 2.5)[0]!.message, /expected integer, got number/);
  assert.deepEqual(validateJsonSchema({ type: 'object', properties: { 'a/b': { type: 'string' } } }, { 'a/b': 1 }).map((violation) => violation.path), ['/a~1b']);
});

test('unsupported keywords are refused with their schema location, never skipped', () => {
  const refusals: [unknown, RegExp][] = [
    [{ type: 'string', pattern: '^a' }, /`pattern` is not supported at \/pattern/],
    [{ type: 'object', properties: { name: { type: 'string', allOf: [] } } }, /`allOf` is not supported at \/properties\/name\/allOf/],
    [{ type: 'strings' }, /`type` must be one of/],
    [{ type: 'string', format: 'email' }, /format "email" is not supported/],
    [{ $ref: 'https://example.com/schema' }, /only "#\/\$defs\/<name>" references/],
    [{ $ref: '#/$defs/missing' }, /is not defined in \$defs/],
    [{ type: 'array', items: { type: 'string' }, minItems: -1 }, /`minItems` must be a non-negative integer/],
    [[], /the schema must be a JSON object/],
  ];
  for (const [schema, message] of refusals) {
    assert.throws(() => checkSupportedSchema(schema), (error: unknown) => error instanceof InvalidInputError && message.test(error.message) && error.field === 'task.output.schema', JSON.stringify(schema));
    assert.throws(() => validateJsonSchema(schema, 'x'), InvalidInputError);
  }
});
