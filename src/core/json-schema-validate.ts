import { InvalidInputError } from './errors.ts';

/**
 * Validate a JSON value against a task's JSON Schema, for checking examples and answers after the fact.
 *
 * Supported: the subset `json-schema-grammar.ts` enforces while decoding — `type` (one type or a list),
 * `const`, `enum`, `anyOf`, `oneOf`, `properties`, `required`, `additionalProperties` (boolean or a schema),
 * `minProperties`/`maxProperties`, `items`, `prefixItems`, `minItems`/`maxItems`, `minLength`/`maxLength`,
 * `format` date / time / date-time, `$defs` with `$ref: "#/$defs/…"` — plus the numeric bounds `minimum`,
 * `maximum`, `exclusiveMinimum` and `exclusiveMaximum`, which are easy to check afterwards. Annotations
 * (`title`, `description`, `default`, `examples`, `$schema`, `$id`, `$comment`, `deprecated`, `readOnly`,
 * `writeOnly`) are ignored. Any other keyword is refused (an InvalidInputError naming it and where it is),
 * never silently skipped: a validator that ignores `pattern` would pass values the task forbids.
 */

/** One way a value breaks the schema; `path` is a JSON pointer into the value (`""` is the whole value). */
export interface SchemaViolation {
  path: string;
  message: string;
}

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$schema', '$id', '$comment', 'deprecated', 'readOnly', 'writeOnly']);
const SUPPORTED = new Set([
  'type', 'const', 'enum', 'anyOf', 'oneOf', 'properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties',
  'items', 'prefixItems', 'minItems', 'maxItems', 'minLength', 'maxLength', 'format', 'minimum', 'maximum', 'exclusiveMinimum',
  'exclusiveMaximum', '$defs', '$ref',
]);
const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);
const FORMATS: Record<string, RegExp> = {
  date: /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/,
  time: /^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$/i,
  'date-time': /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i,
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function refuse(pointer: string, message: string): never {
  throw new InvalidInputError(`the task's JSON schema cannot be checked: ${message} at ${pointer === '' ? '/' : pointer}`, {
    field: 'task.output.schema',
    hint: 'use only the keywords listed in src/core/json-schema-validate.ts (the grammar subset plus minimum/maximum)',
  });
}

/**
 * Check that `schema` uses only supported keywords with well-formed values; throws an InvalidInputError naming the
 * first unsupported keyword and its schema pointer. `validateJsonSchema` calls this too; call it once up front to
 * fail before any example is read.
 */
export function checkSupportedSchema(schema: unknown): void {
  if (!isRecord(schema)) refuse('', 'the schema must be a JSON object');
  const definitions = isRecord(schema.$defs) ? schema.$defs : {};
  const visit = (node: unknown, pointer: string): void => {
    if (typeof node === 'boolean') return;
    if (!isRecord(node)) refuse(pointer, 'a schema must be an object or a boolean');
    for (const [keyword, value] of Object.entries(node)) {
      const at = `${pointer}/${escapePointer(keyword)}`;
      if (ANNOTATIONS.has(keyword)) continue;
      if (!SUPPORTED.has(keyword)) refuse(at, `\`${keyword}\` is not supported`);
      switch (keyword) {
        case 'type': {
          const types = Array.isArray(value) ? value : [value];
          if (types.length === 0 || !types.every((type) => typeof type === 'string' && TYPES.has(type))) refuse(at, `\`type\` must be one of ${[...TYPES].join(', ')} or a list of them`);
          break;
        }
        case 'enum':
          if (!Array.isArray(value) || value.length === 0) refuse(at, '`enum` must be a non-empty list');
          break;
        case 'anyOf':
        case 'oneOf':
          if (!Array.isArray(value) || value.length === 0) refuse(at, `\`${keyword}\` must be a non-empty list`);
          value.forEach((branch, index) => visit(branch, `${at}/${index}`));
          break;
        case 'properties':
        case '$defs':
          if (!isRecord(value)) refuse(at, `\`${keyword}\` must be an object`);
          for (const [name, child] of Object.entries(value)) visit(child, `${at}/${escapePointer(name)}`);
          break;
        case 'required':
          if (!Array.isArray(value) || !value.every((name) => typeof name === 'string')) refuse(at, '`required` must be a list of property names');
          break;
        case 'additionalProperties':
        case 'items':
          visit(value, at);
          break;
        case 'prefixItems':
          if (!Array.isArray(value)) refuse(at, '`prefixItems` must be a list');
          value.forEach((item, index) => visit(item, `${at}/${index}`));
          break;
        case 'minProperties':
        case 'maxProperties':
        case 'minItems':
        case 'maxItems':
        case 'minLength':
        case 'maxLength':
          if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) refuse(at, `\`${keyword}\` must be a non-negative integer`);
          break;
        case 'minimum':
        case 'maximum':
        case 'exclusiveMinimum':
        case 'exclusiveMaximum':
          if (typeof value !== 'number' || !Number.isFinite(value)) refuse(at, `\`${keyword}\` must be a number`);
          break;
        case 'format':
          if (typeof value !== 'string' || !(value in FORMATS)) refuse(at, `format ${JSON.stringify(value)} is not supported (only ${Object.keys(FORMATS).join(', ')})`);
          break;
        case '$ref':
          if (typeof value !== 'string' || !value.startsWith('#/$defs/')) refuse(at, `only "#/$defs/<name>" references are supported, got ${JSON.stringify(value)}`);
          if (!(unescapePointer(value.slice('#/$defs/'.length)) in definitions)) refuse(at, `${value} is not defined in $defs`);
          break;
        default:
          break;
      }
    }
  };
  visit(schema, '');
}

/**
 * Every way `value` breaks `schema` (empty: valid), each with the JSON pointer of the offending part of the value.
 * An unsupported schema throws an InvalidInputError (see `checkSupportedSchema`).
 */
export function validateJsonSchema(schema: unknown, value: unknown): SchemaViolation[] {
  checkSupportedSchema(schema);
  const root = schema as Record<string, unknown>;
  const definitions = isRecord(root.$defs) ? root.$defs : {};
  const violations: SchemaViolation[] = [];

  const check = (node: unknown, data: unknown, path: string, out: SchemaViolation[], depth: number): void => {
    if (node === true) return;
    if (node === false) {
      out.push({ path, message: 'no value is allowed here' });
      return;
    }
    const rule = node as Record<string, unknown>;
    // A $ref cycle that never consumes data would recurse forever: bound it.
    if (depth > 64) {
      out.push({ path, message: 'the schema nests too deeply ($ref cycle?)' });
      return;
    }
    if (typeof rule.$ref === 'string') check(definitions[unescapePointer(rule.$ref.slice('#/$defs/'.length))], data, path, out, depth + 1);
    if ('type' in rule) {
      const types = (Array.isArray(rule.type) ? rule.type : [rule.type]) as string[];
      if (!types.some((type) => hasType(data, type))) {
        out.push({ path, message: `expected ${types.join(' or ')}, got ${typeName(data)}` });
        return;
      }
    }
    if ('const' in rule && !jsonEqual(rule.const, data)) out.push({ path, message: `must be ${JSON.stringify(rule.const)}` });
    if (Array.isArray(rule.enum) && !rule.enum.some((option) => jsonEqual(option, data))) {
      out.push({ path, message: `must be one of ${rule.enum.map((option) => JSON.stringify(option)).join(', ')}` });
    }
    for (const union of ['anyOf', 'oneOf'] as const) {
      const branches = rule[union];
      if (!Array.isArray(branches)) continue;
      const results = branches.map((branch) => {
        const branchViolations: SchemaViolation[] = [];
        check(branch, data, path, branchViolations, depth + 1);
        return branchViolations;
      });
      const matching = results.filter((result) => result.length === 0).length;
      if (matching === 0) {
        // The branch that came closest says most about what is wrong.
        const closest = results.reduce((best, result) => (result.length < best.length ? result : best));
        out.push({ path, message: `matches none of the ${branches.length} ${union} alternatives (closest: ${closest.map((entry) => `${entry.path || '/'} ${entry.message}`).join('; ')})` });
      } else if (union === 'oneOf' && matching > 1) {
        out.push({ path, message: `matches ${matching} oneOf alternatives; exactly one is allowed` });
      }
    }
    if (typeof data === 'string') {
      const length = [...data].length;
      if (typeof rule.minLength === 'number' && length < rule.minLength) out.push({ path, message: `must have at least ${rule.minLength} characters, has ${length}` });
      if (typeof rule.maxLength === 'number' && length > rule.maxLength) out.push({ path, message: `must have at most ${rule.maxLength} characters, has ${length}` });
      if (typeof rule.format === 'string' && !FORMATS[rule.format]!.test(data)) out.push({ path, message: `must be a ${rule.format}` });
    }
    if (typeof data === 'number') {
      if (typeof rule.minimum === 'number' && data < rule.minimum) out.push({ path, message: `must be >= ${rule.minimum}` });
      if (typeof rule.maximum === 'number' && data > rule.maximum) out.push({ path, message: `must be <= ${rule.maximum}` });
      if (typeof rule.exclusiveMinimum === 'number' && data <= rule.exclusiveMinimum) out.push({ path, message: `must be > ${rule.exclusiveMinimum}` });
      if (typeof rule.exclusiveMaximum === 'number' && data >= rule.exclusiveMaximum) out.push({ path, message: `must be < ${rule.exclusiveMaximum}` });
    }
    if (isRecord(data)) {
      const properties = isRecord(rule.properties) ? rule.properties : {};
      if (Array.isArray(rule.required)) {
        for (const name of rule.required as string[]) if (!(name in data)) out.push({ path, message: `missing required property ${JSON.stringify(name)}` });
      }
      for (const [name, child] of Object.entries(data)) {
        const childPath = `${path}/${escapePointer(name)}`;
        if (name in properties) check(properties[name], child, childPath, out, depth + 1);
        else if (rule.additionalProperties === false) out.push({ path: childPath, message: `property ${JSON.stringify(name)} is not allowed` });
        else if (isRecord(rule.additionalProperties)) check(rule.additionalProperties, child, childPath, out, depth + 1);
      }
      const count = Object.keys(data).length;
      if (typeof rule.minProperties === 'number' && count < rule.minProperties) out.push({ path, message: `must have at least ${rule.minProperties} properties, has ${count}` });
      if (typeof rule.maxProperties === 'number' && count > rule.maxProperties) out.push({ path, message: `must have at most ${rule.maxProperties} properties, has ${count}` });
    }
    if (Array.isArray(data)) {
      const prefix = Array.isArray(rule.prefixItems) ? rule.prefixItems : [];
      data.forEach((item, index) => {
        if (index < prefix.length) check(prefix[index], item, `${path}/${index}`, out, depth + 1);
        else if ('items' in rule) check(rule.items, item, `${path}/${index}`, out, depth + 1);
      });
      if (typeof rule.minItems === 'number' && data.length < rule.minItems) out.push({ path, message: `must have at least ${rule.minItems} items, has ${data.length}` });
      if (typeof rule.maxItems === 'number' && data.length > rule.maxItems) out.push({ path, message: `must have at most ${rule.maxItems} items, has ${data.length}` });
    }
  };

  check(root, value, '', violations, 0);
  return violations;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    case 'object':
      return isRecord(value);
    case 'array':
      return Array.isArray(value);
    default:
      return false;
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** Equality of JSON values (object key order does not matter). */
function jsonEqual(left: unknown, right: unknown): boolean {
  if (left === right) return true;
  if (Array.isArray(left) && Array.isArray(right)) return left.length === right.length && left.every((item, index) => jsonEqual(item, right[index]));
  if (isRecord(left) && isRecord(right)) {
    const keys = Object.keys(left);
    return keys.length === Object.keys(right).length && keys.every((key) => key in right && jsonEqual(left[key], right[key]));
  }
  return false;
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

function unescapePointer(key: string): string {
  return key.replaceAll('~1', '/').replaceAll('~0', '~');
}
