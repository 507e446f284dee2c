/**
 * A scorer written by the user as a JavaScript module. The module's default export is called once
 * per example as `(output, gold, example)` and returns (or resolves to) one of:
 *
 * - a number in [0, 1]: the score; it passes when score ≥ the pass threshold (default 0.5);
 * - a boolean: pass (score 1) or fail (score 0);
 * - an object `{ score, pass?, detail? }`: `pass` defaults to score ≥ the threshold.
 *
 *     // scorers/mentions-amount.mjs
 *     export default (output, gold, example) => output.includes(gold) ? 1 : { score: 0, detail: 'no amount' };
 *
 * Anything else, at load or on any call, is an InvalidInputError naming the file.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidInputError } from '../core/errors.ts';
import type { AsyncScorer, ScoreResult, ScorerExample } from '../core/scorers.ts';

/** Options of `loadCustomScorer`. */
export interface CustomScorerOptions {
  /** A bare number score passes at or above this; default 0.5. */
  passThreshold?: number;
  /** The config field that named the module, for errors (e.g. `evaluation.scorers.2.module`). */
  field?: string;
}

const CONTRACT = 'export default function (output, gold, example) returning a number in [0, 1], a boolean, or { score, pass?, detail? } (or a promise of one)';

/**
 * Imports the ES module at `file` (resolved against the working directory) and returns its default
 * export wrapped as an `AsyncScorer` whose results are checked on every call.
 */
export async function loadCustomScorer(file: string, options: CustomScorerOptions = {}): Promise<AsyncScorer> {
  const passThreshold = options.passThreshold ?? 0.5;
  if (!(passThreshold >= 0 && passThreshold <= 1)) throw new RangeError(`passThreshold must be in [0, 1], got ${passThreshold}`);
  const absolute = path.resolve(file);
  const where = { file: absolute, ...(options.field === undefined ? {} : { field: options.field }) };
  try {
    await access(absolute);
  } catch (error) {
    throw new InvalidInputError('the custom scorer module does not exist or cannot be read', { ...where, cause: error, hint: CONTRACT });
  }
  let module: unknown;
  try {
    module = await import(pathToFileURL(absolute).href);
  } catch (error) {
    throw new InvalidInputError(`the custom scorer module failed to load: ${error instanceof Error ? error.message : String(error)}`, { ...where, cause: error, hint: CONTRACT });
  }
  const scorer = typeof module === 'object' && module !== null && 'default' in module ? module.default : undefined;
  if (typeof scorer !== 'function') {
    throw new InvalidInputError(`the custom scorer module must have a default export that is a function; its default export is ${describe(scorer)}`, { ...where, hint: CONTRACT });
  }

  return async (output: string, gold: string, example: ScorerExample): Promise<ScoreResult> => {
    const which = example.id === undefined ? 'an example' : `example ${String(example.id)}`;
    let returned: unknown;
    try {
      returned = await (scorer as (output: string, gold: string, example: ScorerExample) => unknown)(output, gold, example);
    } catch (error) {
      throw new InvalidInputError(`the custom scorer threw on ${which}: ${error instanceof Error ? error.message : String(error)}`, { ...where, cause: error });
    }
    const result = toScoreResult(returned, passThreshold);
    if (typeof result === 'string') throw new InvalidInputError(`the custom scorer returned ${describe(returned)} for ${which}: ${result}`, { ...where, hint: CONTRACT });
    return result;
  };
}

/** The checked result, or why the value is not one. */
function toScoreResult(value: unknown, passThreshold: number): ScoreResult | string {
  if (typeof value === 'boolean') return { score: value ? 1 : 0, pass: value };
  if (typeof value === 'number') return validScore(value) ? { score: value, pass: value >= passThreshold } : 'a score must be a number in [0, 1]';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a number, a boolean or { score, pass?, detail? }';
  const { score, pass, detail } = value as Record<string, unknown>;
  if (typeof score !== 'number' || !validScore(score)) return '`score` must be a number in [0, 1]';
  if (pass !== undefined && typeof pass !== 'boolean') return '`pass` must be a boolean when given';
  if (detail !== undefined && typeof detail !== 'string') return '`detail` must be a string when given';
  const result: ScoreResult = { score, pass: pass ?? score >= passThreshold };
  if (detail !== undefined) result.detail = detail;
  return result;
}

const validScore = (value: number): boolean => value >= 0 && value <= 1;

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 39)}…` : value)}`;
  if (typeof value === 'object') {
    const text = JSON.stringify(value) ?? '';
    return Array.isArray(value) ? `an array ${text.slice(0, 60)}` : `the object ${text.slice(0, 60)}`;
  }
  return `${typeof value} ${String(value)}`;
}
