import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProviderError } from '../src/core/errors.ts';
import { toGrammarSchema, UNSUPPORTED_SCHEMA_KEYWORDS } from '../src/core/json-schema-grammar.ts';

test('supported schemas translate for the grammar generator, and narrowing is reported', () => {
  const cases: { schema: Record<string, unknown>; expected: Record<string, unknown>; narrowed: string[] }[] = [
    { schema: { type: 'string', title: 'x', description: 'y' }, expected: { type: 'string' }, narrowed: [] },
    { schema: { enum: ['a', 1, null] }, expected: { enum: ['a', 1, null] }, narrowed: [] },
    { schema: { anyOf: [{ type: 'integer' }, { const: 'none' }] }, expected: { oneOf: [{ type: 'integer' }, { const: 'none' }] }, narrowed: [] },
    { schema: { type: ['string', 'null'] }, expected: { type: ['string', 'null'] }, narrowed: [] },
    { schema: { type: 'string', format: 'date' }, expected: { type: 'string', format: 'date' }, narrowed: [] },
    {
      schema: { type: 'object', properties: { a: { type: 'boolean' }, b: { $ref: '#/$defs/item' } }, required: ['a'], $defs: { item: { type: 'array', items: { type: 'number' }, maxItems: 3 } } },
      expected: { type: 'object', properties: { a: { type: 'boolean' }, b: { $ref: '#/$defs/item' } }, $defs: { item: { type: 'array', items: { type: 'number' }, maxItems: 3 } } },
      narrowed: ['/required', '/additionalProperties'],
    },
    {
      schema: { type: 'object', properties: { a: { type: 'string', maxLength: 5 } }, required: ['a'], additionalProperties: false },
      expected: { type: 'object', properties: { a: { type: 'string', maxLength: 5 } }, additionalProperties: false },
      narrowed: [],
    },
  ];
  for (const { schema, expected, narrowed } of cases) {
    const result = toGrammarSchema(schema);
    assert.deepEqual(result.schema, expected, JSON.stringify(schema));
    assert.deepEqual(result.narrowed, narrowed, JSON.stringify(schema));
  }
});

test('every unsupported keyword is refused with its JSON pointer, as a typed unsupported-schema error', () => {
  for (const keyword of UNSUPPORTED_SCHEMA_KEYWORDS) {
    const schema = { type: 'object', properties: { field: { type: 'string', [keyword]: 1 } } };
    assert.throws(() => toGrammarSchema(schema), (error: unknown) => {
      assert.ok(ProviderError.isInstance(error));
      assert.equal(error.failure, 'unsupported-schema');
      assert.equal(error.isRetryable, false);
      assert.ok(error.message.includes(`/properties/field/${keyword}`), error.message);
      return true;
    });
  }
  const refused: [unknown, RegExp][] = [
    [{ type: 'string', format: 'email' }, /format "email"/],
    [{ type: ['object', 'null'] }, /list of types/],
    [{ $ref: 'https://example.com/schema' }, /#\/\$defs/],
    [{ $ref: '#/$defs/missing' }, /not defined/],
    [{ type: 'array' }, /items/],
    [{ type: 'object', properties: { a: { type: 'string' } }, required: ['b'] }, /"b" is not declared/],
    [{ type: 'string', format: 'date', maxLength: 3 }, /cannot be combined/],
    [[1, 2], /JSON object/],
    [{ type: 'object', properties: { a: true } }, /any value/],
  ];
  for (const [schema, message] of refused) assert.throws(() => toGrammarSchema(schema), message, JSON.stringify(schema));
});
