import { ProviderError } from './errors.ts';

/**
 * Which JSON Schema the embedded engine can enforce while decoding. llama.cpp (through node-llama-cpp's
 * GBNF generator) compiles a subset of JSON Schema to a grammar; a schema outside it is refused here with
 * the keyword and its location, instead of being silently loosened.
 *
 * Enforced: `type` (one type, or a list of scalar types), `const`, `enum`, `oneOf`/`anyOf` (a union of the
 * branches), `properties`, `additionalProperties` (boolean or a schema), `minProperties`/`maxProperties`,
 * `items`, `prefixItems`, `minItems`/`maxItems`, `minLength`/`maxLength`, `format` date / time / date-time,
 * `$defs` with `$ref: "#/$defs/…"`. Annotations (`title`, `description`, `default`, `examples`, `$schema`,
 * `$id`, `$comment`, `deprecated`, `readOnly`, `writeOnly`) are ignored.
 *
 * Narrowed (the output is still valid against the schema, but not every valid value can be produced):
 * every declared property is always written (`required` cannot make one optional), and an object without
 * `additionalProperties` gets no extra keys; a `oneOf` value matching two branches is not excluded.
 *
 * Not supported (refused): `pattern`, `patternProperties`, `propertyNames`, `minimum`, `maximum`,
 * `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`, `uniqueItems`, `contains`, `minContains`,
 * `maxContains`, `allOf`, `not`, `if`/`then`/`else`, `dependentRequired`, `dependentSchemas`,
 * `unevaluatedProperties`, `unevaluatedItems`, any other `format`, `$ref` outside `#/$defs/`, and a
 * `type` list that includes `object` or `array`.
 */
export const UNSUPPORTED_SCHEMA_KEYWORDS = [
  'pattern',
  'patternProperties',
  'propertyNames',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'uniqueItems',
  'contains',
  'minContains',
  'maxContains',
  'allOf',
  'not',
  'if',
  'then',
  'else',
  'dependentRequired',
  'dependentSchemas',
  'unevaluatedProperties',
  'unevaluatedItems',
  '$dynamicRef',
  '$anchor',
] as const;

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$schema', '$id', '$comment', 'deprecated', 'readOnly', 'writeOnly']);
const SCALAR_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);
const FORMATS = new Set(['date', 'time', 'date-time']);
const KEYWORDS_BY_TYPE: Record<string, ReadonlySet<string>> = {
  string: new Set(['minLength', 'maxLength', 'format']),
  number: new Set(),
  integer: new Set(),
  boolean: new Set(),
  null: new Set(),
  object: new Set(['properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties']),
  array: new Set(['items', 'prefixItems', 'minItems', 'maxItems']),
};

/** A JSON Schema in the form node-llama-cpp's grammar generator takes; what was narrowed is listed in `narrowed`. */
export interface GrammarSchema {
  schema: Record<string, unknown>;
  /** JSON pointers where the grammar produces a subset of what the schema allows (see the file comment). */
  narrowed: string[];
}

function refuse(pointer: string, message: string): never {
  throw new ProviderError(`the JSON schema cannot be enforced by llama.cpp's grammar: ${message} at ${pointer === '' ? '/' : pointer}`, {
    failure: 'unsupported-schema',
    provider: 'embedded',
    field: 'constraint.schema',
    hint: 'remove the keyword (validate it after generation instead), or call a hosted model that enforces it',
  });
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Check `schema` against the supported subset and translate it for the grammar generator
 * (`anyOf` → `oneOf`, annotations dropped). Throws a ProviderError (`unsupported-schema`) naming the
 * first keyword that cannot be enforced and where it is.
 */
export function toGrammarSchema(schema: unknown): GrammarSchema {
  const narrowed: string[] = [];
  if (!isRecord(schema)) refuse('', 'the schema must be a JSON object');
  const definitions = isRecord(schema.$defs) ? schema.$defs : {};

  const convert = (node: unknown, pointer: string): Record<string, unknown> => {
    if (node === true) refuse(pointer, '`true` (any value) has no grammar');
    if (!isRecord(node)) refuse(pointer, 'a schema must be an object');
    const out: Record<string, unknown> = {};
    for (const keyword of Object.keys(node)) {
      if ((UNSUPPORTED_SCHEMA_KEYWORDS as readonly string[]).includes(keyword)) refuse(`${pointer}/${keyword}`, `\`${keyword}\` is not supported`);
    }
    if ('$ref' in node) {
      const reference = node.$ref;
      if (typeof reference !== 'string' || !reference.startsWith('#/$defs/')) refuse(`${pointer}/$ref`, `only "#/$defs/<name>" references are supported, got ${JSON.stringify(reference)}`);
      if (!(reference.slice('#/$defs/'.length) in definitions)) refuse(`${pointer}/$ref`, `${reference} is not defined in $defs`);
      return { $ref: reference };
    }
    if ('const' in node) return { const: scalar(node.const, `${pointer}/const`) };
    if ('enum' in node) {
      if (!Array.isArray(node.enum) || node.enum.length === 0) refuse(`${pointer}/enum`, '`enum` must be a non-empty list');
      return { enum: node.enum.map((value, index) => scalar(value, `${pointer}/enum/${index}`)) };
    }
    for (const union of ['oneOf', 'anyOf'] as const) {
      if (union in node) {
        const branches = node[union];
        if (!Array.isArray(branches) || branches.length === 0) refuse(`${pointer}/${union}`, `\`${union}\` must be a non-empty list`);
        if (union === 'oneOf') narrowed.push(`${pointer}/oneOf`);
        const converted: Record<string, unknown> = { oneOf: branches.map((branch, index) => convert(branch, `${pointer}/${union}/${index}`)) };
        if (pointer === '' && isRecord(schema.$defs)) converted.$defs = convertDefinitions();
        return converted;
      }
    }
    const type = node.type;
    if (Array.isArray(type)) {
      if (type.length === 0 || !type.every((entry): entry is string => typeof entry === 'string' && SCALAR_TYPES.has(entry))) {
        refuse(`${pointer}/type`, 'a list of types may only hold string, number, integer, boolean and null');
      }
      out.type = type;
      checkKeywords(node, pointer, new Set());
      return out;
    }
    if (typeof type !== 'string' || !(type in KEYWORDS_BY_TYPE)) refuse(`${pointer}/type`, `\`type\` must be one of ${Object.keys(KEYWORDS_BY_TYPE).join(', ')} (or use const, enum, oneOf, anyOf or $ref)`);
    const allowed = KEYWORDS_BY_TYPE[type]!;
    checkKeywords(node, pointer, allowed);
    out.type = type;
    if (type === 'string') {
      if ('format' in node) {
        if (typeof node.format !== 'string' || !FORMATS.has(node.format)) refuse(`${pointer}/format`, `format ${JSON.stringify(node.format)} is not supported (only date, time, date-time)`);
        if ('minLength' in node || 'maxLength' in node) refuse(`${pointer}/format`, '`format` cannot be combined with minLength/maxLength');
        out.format = node.format;
      } else {
        copyCount(node, out, pointer, 'minLength');
        copyCount(node, out, pointer, 'maxLength');
      }
    } else if (type === 'object') {
      const properties = node.properties ?? {};
      if (!isRecord(properties)) refuse(`${pointer}/properties`, '`properties` must be an object');
      out.properties = Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, convert(value, `${pointer}/properties/${escapePointer(key)}`)]));
      if ('required' in node) {
        if (!Array.isArray(node.required)) refuse(`${pointer}/required`, '`required` must be a list');
        const missing = node.required.find((key) => typeof key !== 'string' || !(key in properties));
        if (missing !== undefined) refuse(`${pointer}/required`, `required property ${JSON.stringify(missing)} is not declared in properties`);
      }
      if (Object.keys(properties).length > 0 && (!Array.isArray(node.required) || node.required.length < Object.keys(properties).length)) narrowed.push(`${pointer}/required`);
      const additional = node.additionalProperties;
      if (additional === undefined) narrowed.push(`${pointer}/additionalProperties`);
      else if (typeof additional === 'boolean') out.additionalProperties = additional;
      else out.additionalProperties = convert(additional, `${pointer}/additionalProperties`);
      copyCount(node, out, pointer, 'minProperties');
      copyCount(node, out, pointer, 'maxProperties');
    } else if (type === 'array') {
      if ('items' in node) out.items = convert(node.items, `${pointer}/items`);
      if ('prefixItems' in node) {
        if (!Array.isArray(node.prefixItems)) refuse(`${pointer}/prefixItems`, '`prefixItems` must be a list');
        out.prefixItems = node.prefixItems.map((item, index) => convert(item, `${pointer}/prefixItems/${index}`));
      }
      if (!('items' in node) && !('prefixItems' in node)) refuse(pointer, 'an array needs `items` or `prefixItems` (an array of anything has no grammar)');
      copyCount(node, out, pointer, 'minItems');
      copyCount(node, out, pointer, 'maxItems');
    }
    if (pointer === '' && isRecord(schema.$defs)) out.$defs = convertDefinitions();
    return out;
  };

  const convertDefinitions = (): Record<string, unknown> =>
    Object.fromEntries(Object.entries(definitions).map(([name, value]) => [name, convert(value, `/$defs/${escapePointer(name)}`)]));

  const checkKeywords = (node: Record<string, unknown>, pointer: string, allowed: ReadonlySet<string>): void => {
    for (const keyword of Object.keys(node)) {
      if (keyword === 'type' || keyword === '$defs' || ANNOTATIONS.has(keyword) || allowed.has(keyword)) continue;
      refuse(`${pointer}/${keyword}`, `\`${keyword}\` is not supported here`);
    }
  };

  const result = convert(schema, '');
  return { schema: result, narrowed };
}

function scalar(value: unknown, pointer: string): string | number | boolean | null {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  refuse(pointer, 'only string, number, boolean and null constants are supported');
}

function copyCount(node: Record<string, unknown>, out: Record<string, unknown>, pointer: string, keyword: string): void {
  if (!(keyword in node)) return;
  const value = node[keyword];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) refuse(`${pointer}/${keyword}`, `\`${keyword}\` must be a non-negative integer`);
  out[keyword] = value;
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
