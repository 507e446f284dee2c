/**
 * Scorers: how one candidate output is judged against the gold answer, plus the aggregate metrics
 * that are not plain means of per-example scores (field-level precision/recall/F1 for extraction,
 * agreement between a judge and people). Pure: no I/O. Classification metrics over whole label
 * arrays (accuracy, macro-F1, confusion matrix) live in `classification-metrics.ts`; the custom
 * JavaScript scorer is loaded by `adapters/custom-scorer.ts`, and the LLM judges, which call a
 * model, are in `pipeline/judge-scorers.ts`.
 */
import { InvalidInputError } from './errors.ts';
import { checkSupportedSchema, validateJsonSchema } from './json-schema-validate.ts';

/** The verdict on one output. */
export interface ScoreResult {
  /** In [0, 1]; 1 is best. The mean over examples is the candidate's metric. */
  score: number;
  /** Whether the output is acceptable; paired pass/fail is what the McNemar test compares. */
  pass: boolean;
  /** Why, in a few words (shown next to failures in reports). */
  detail?: string;
}

/** What a scorer may know about an example besides the gold answer. Callers may pass more fields. */
export interface ScorerExample {
  /** A stable id of the example (for reports and custom scorers). */
  id?: string | number;
  /** The user input the output answers. */
  input: string;
}

/** Scores one output: (what the candidate wrote, the gold answer, the example) → verdict. */
export type Scorer = (output: string, gold: string, example: ScorerExample) => ScoreResult;

/** A scorer that waits on something (a custom module, a model judge). */
export type AsyncScorer = (output: string, gold: string, example: ScorerExample) => Promise<ScoreResult>;

/** Where a scorer's settings come from, so a bad setting is reported at its place in the config. */
export interface ScorerSource {
  /** The config file. */
  file?: string;
  /** The dotted path of this scorer in the config, e.g. `evaluation.scorers.1`; default `scorer`. */
  field?: string;
}

const passFail = (pass: boolean, detail?: string): ScoreResult => (detail === undefined ? { score: pass ? 1 : 0, pass } : { score: pass ? 1 : 0, pass, detail });

/** Exact label match after trimming surrounding whitespace from both sides; `caseSensitive` defaults to true. */
export function exactLabelScorer(options: { caseSensitive?: boolean } = {}): Scorer {
  const normalize = options.caseSensitive === false ? (text: string) => text.trim().toLowerCase() : (text: string) => text.trim();
  return (output, gold) => {
    const pass = normalize(output) === normalize(gold);
    return passFail(pass, pass ? undefined : `expected ${JSON.stringify(gold.trim())}, got ${JSON.stringify(excerpt(output.trim()))}`);
  };
}

/**
 * Passes when the output (surrounding whitespace ignored) is valid JSON that satisfies `schema`.
 * The schema is checked once here: one with unsupported keywords throws an InvalidInputError now
 * (see `json-schema-validate.ts` for the subset), not on the first example.
 */
export function jsonSchemaScorer(schema: unknown): Scorer {
  checkSupportedSchema(schema);
  return (output) => {
    let value: unknown;
    try {
      value = JSON.parse(output);
    } catch {
      return passFail(false, `not valid JSON: ${JSON.stringify(excerpt(output.trim()))}`);
    }
    const violations = validateJsonSchema(schema, value);
    if (violations.length === 0) return passFail(true);
    const first = violations[0]!;
    const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : '';
    return passFail(false, `${first.path === '' ? '/' : first.path} ${first.message}${more}`);
  };
}

/** Options of `containsScorer`. */
export interface ContainsOptions extends ScorerSource {
  /** The text the output must contain; default: the example's gold answer (trimmed). */
  value?: string;
  /** Default true. */
  caseSensitive?: boolean;
}

/** Passes when the output contains `value` (or the gold answer) as a substring. */
export function containsScorer(options: ContainsOptions = {}): Scorer {
  if (options.value === '') throw new InvalidInputError('`value` must not be empty: every output contains the empty string', { file: options.file, field: `${options.field ?? 'scorer'}.value` });
  const caseSensitive = options.caseSensitive ?? true;
  const fold = (text: string): string => (caseSensitive ? text : text.toLowerCase());
  return (output, gold) => {
    const needle = options.value ?? gold.trim();
    const pass = fold(output).includes(fold(needle));
    return passFail(pass, pass ? undefined : `does not contain ${JSON.stringify(needle)}`);
  };
}

/** Options of `regexScorer`. */
export interface RegexOptions extends ScorerSource {
  /** A JavaScript regular expression source, without the slashes. */
  pattern: string;
  /** Any of `dgimsuvy`; default none. `g` and `y` change nothing: the whole output is searched. */
  flags?: string;
}

/**
 * Passes when the pattern matches somewhere in the output. An invalid pattern or flag is refused
 * here with an InvalidInputError naming `<field>.pattern` or `<field>.flags`.
 */
export function regexScorer(options: RegexOptions): Scorer {
  const base = options.field ?? 'scorer';
  const flags = options.flags ?? '';
  if (!/^[dgimsuvy]*$/.test(flags) || new Set(flags).size !== flags.length || (flags.includes('u') && flags.includes('v'))) {
    throw new InvalidInputError(`invalid regular expression flags ${JSON.stringify(flags)}`, {
      file: options.file,
      field: `${base}.flags`,
      hint: 'use each of d, g, i, m, s, u, v, y at most once (not both u and v)',
    });
  }
  let expression: RegExp;
  try {
    // `g` and `y` would make matching depend on lastIndex; drop them so every output is searched from the start.
    expression = new RegExp(options.pattern, flags.replace(/[gy]/g, ''));
  } catch (error) {
    throw new InvalidInputError(`invalid regular expression ${JSON.stringify(options.pattern)}: ${error instanceof Error ? error.message : String(error)}`, {
      file: options.file,
      field: `${base}.pattern`,
      cause: error,
    });
  }
  return (output) => {
    const pass = expression.test(output);
    return passFail(pass, pass ? undefined : `does not match /${options.pattern}/${flags}`);
  };
}

// ---------------------------------------------------------------------------------------------
// Extraction: field-level precision, recall and F1 (NLU++: {"intents": [...], "slots": {...}}).

/** Which fields of an extraction answer are scored, and how. */
export interface ExtractionOptions {
  /** Fields holding a list, scored as a set of values (duplicates count once). Default `["intents"]`. */
  listFields?: readonly string[];
  /** Fields holding an object of name → value, scored as a set of name=value pairs. Default `["slots"]`. */
  mapFields?: readonly string[];
}

/** True positives, false positives and false negatives. */
export interface ExtractionCounts {
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
}

/**
 * Counts with their precision, recall and F1. Convention for 0/0: precision is 1 when nothing was
 * predicted and nothing was expected, else 0 when nothing was predicted; recall likewise; F1 =
 * 2·tp / (2·tp + fp + fn), 1 when all three counts are 0 (nothing to find, nothing claimed).
 */
export interface PrecisionRecallF1 extends ExtractionCounts {
  precision: number;
  recall: number;
  f1: number;
}

/** Scores of one key: an intent value of a list field, or a slot name of a map field. */
export interface KeyMetrics extends PrecisionRecallF1 {
  field: string;
  /** The list value, or the map entry's name. */
  key: string;
  /** How many gold answers hold this key. */
  support: number;
}

/** What one gold/predicted pair contributed. */
export interface ExtractionExampleCounts {
  /** All scored fields together. */
  total: ExtractionCounts;
  /** Per scored field. */
  byField: Record<string, ExtractionCounts>;
  /** The prediction was well formed and every scored field matched exactly. */
  exactMatch: boolean;
  /** The prediction was not a JSON object, or a scored field had the wrong shape (then it counted as empty). */
  malformed: boolean;
}

/** Field-level extraction metrics over a set of examples. */
export interface ExtractionMetrics {
  n: number;
  /** Micro-averaged over every item of every scored field. */
  micro: PrecisionRecallF1;
  /** Micro-averaged within each scored field, e.g. `byField.intents`, `byField.slots`. */
  byField: Record<string, PrecisionRecallF1>;
  /** Per intent value and per slot name, sorted by field, then key (UTF-16 code-unit order). */
  perKey: KeyMetrics[];
  /** Fraction of examples whose prediction matched in every scored field. */
  exactMatch: number;
  /** How many predictions were malformed (they count as predicting nothing in the malformed part). */
  malformed: number;
  /**
   * Per example, in input order: bootstrap micro-F1 cheaply with `extractionScores(perExample.map(e => e.total), indices)`
   * inside `pairedBootstrapOverIndices`.
   */
  perExample: ExtractionExampleCounts[];
}

/** One gold answer and one prediction; either may be the JSON text or the parsed value. */
export interface ExtractionPair {
  gold: unknown;
  predicted: unknown;
}

/** A parsed answer: per field, a map from canonical item to its key. */
type Items = Map<string, Map<string, string>>;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A value's identity for matching: its JSON text, so "5" and 5 differ and object key order does not matter. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const keyText = (value: unknown): string => (typeof value === 'string' ? value : canonical(value));

interface Parsed {
  items: Items;
  malformed: boolean;
  /** Why it is malformed; undefined when well formed. */
  problem?: string;
}

function parseAnswer(answer: unknown, options: Required<ExtractionOptions>): Parsed {
  const items: Items = new Map();
  for (const field of [...options.listFields, ...options.mapFields]) items.set(field, new Map());
  let value = answer;
  if (typeof answer === 'string') {
    try {
      value = JSON.parse(answer);
    } catch {
      return { items, malformed: true, problem: 'not valid JSON' };
    }
  }
  if (!isRecord(value)) return { items, malformed: true, problem: 'not a JSON object' };
  const problems: string[] = [];
  for (const field of options.listFields) {
    const list = value[field];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) {
      problems.push(`${field} is not a list`);
      continue;
    }
    const out = items.get(field)!;
    for (const item of list) out.set(canonical(item), keyText(item));
  }
  for (const field of options.mapFields) {
    const map = value[field];
    if (map === undefined || map === null) continue;
    if (!isRecord(map)) {
      problems.push(`${field} is not an object`);
      continue;
    }
    const out = items.get(field)!;
    for (const [name, entry] of Object.entries(map)) out.set(`${JSON.stringify(name)}=${canonical(entry)}`, name);
  }
  return problems.length === 0 ? { items, malformed: false } : { items, malformed: true, problem: problems.join('; ') };
}

function resolveOptions(options: ExtractionOptions): Required<ExtractionOptions> {
  const resolved = { listFields: options.listFields ?? ['intents'], mapFields: options.mapFields ?? ['slots'] };
  const all = [...resolved.listFields, ...resolved.mapFields];
  if (all.length === 0) throw new RangeError('extraction scoring needs at least one list or map field');
  if (new Set(all).size !== all.length) throw new RangeError(`a field is listed twice: ${all.join(', ')}`);
  return resolved;
}

/** Precision, recall and F1 from counts, with the 0/0 conventions of `PrecisionRecallF1`. */
export function precisionRecallF1(counts: ExtractionCounts): PrecisionRecallF1 {
  const { truePositives: tp, falsePositives: fp, falseNegatives: fn } = counts;
  const predicted = tp + fp;
  const expected = tp + fn;
  return {
    truePositives: tp,
    falsePositives: fp,
    falseNegatives: fn,
    precision: predicted === 0 ? (expected === 0 ? 1 : 0) : tp / predicted,
    recall: expected === 0 ? (predicted === 0 ? 1 : 0) : tp / expected,
    f1: tp + fp + fn === 0 ? 1 : (2 * tp) / (2 * tp + fp + fn),
  };
}

/**
 * Micro precision/recall/F1 of per-example counts, over `indices` (with repeats, as a bootstrap
 * resample draws them) or over all examples.
 */
export function extractionScores(counts: readonly ExtractionCounts[], indices?: readonly number[]): PrecisionRecallF1 {
  const sum: ExtractionCounts = { truePositives: 0, falsePositives: 0, falseNegatives: 0 };
  const add = (entry: ExtractionCounts): void => {
    sum.truePositives += entry.truePositives;
    sum.falsePositives += entry.falsePositives;
    sum.falseNegatives += entry.falseNegatives;
  };
  if (indices === undefined) for (const entry of counts) add(entry);
  else for (const index of indices) add(counts[index]!);
  return precisionRecallF1(sum);
}

function compareItems(gold: Items, predicted: Parsed, onKey?: (field: string, key: string, outcome: 'tp' | 'fp' | 'fn') => void): ExtractionExampleCounts {
  const total: ExtractionCounts = { truePositives: 0, falsePositives: 0, falseNegatives: 0 };
  const byField: Record<string, ExtractionCounts> = {};
  for (const [field, goldItems] of gold) {
    const predictedItems = predicted.items.get(field)!;
    const counts: ExtractionCounts = { truePositives: 0, falsePositives: 0, falseNegatives: 0 };
    for (const [item, key] of predictedItems) {
      if (goldItems.has(item)) {
        counts.truePositives += 1;
        onKey?.(field, key, 'tp');
      } else {
        counts.falsePositives += 1;
        onKey?.(field, key, 'fp');
      }
    }
    for (const [item, key] of goldItems) {
      if (predictedItems.has(item)) continue;
      counts.falseNegatives += 1;
      onKey?.(field, key, 'fn');
    }
    byField[field] = counts;
    total.truePositives += counts.truePositives;
    total.falsePositives += counts.falsePositives;
    total.falseNegatives += counts.falseNegatives;
  }
  return { total, byField, exactMatch: !predicted.malformed && total.falsePositives === 0 && total.falseNegatives === 0, malformed: predicted.malformed };
}

/** `which` names the answer in the error, e.g. "gold answer 3". */
function parseGold(gold: unknown, options: Required<ExtractionOptions>, which: string): Items {
  const parsed = parseAnswer(gold, options);
  if (parsed.malformed) {
    throw new InvalidInputError(`${which} is malformed: ${parsed.problem}`, {
      field: `gold`,
      hint: `an extraction answer is a JSON object with list fields ${options.listFields.join(', ') || '(none)'} and object fields ${options.mapFields.join(', ') || '(none)'}`,
    });
  }
  return parsed.items;
}

/**
 * Field-level precision, recall and F1 for extraction answers such as NLU++'s
 * `{"intents": ["change", "credit_card"], "slots": {"amount": "£100"}}`: list fields are scored as
 * sets of values, map fields as sets of name=value pairs (a right name with a wrong value is one
 * false positive and one false negative). Values match exactly (JSON equality; no case folding).
 * A prediction that is not a JSON object counts as predicting nothing, and a scored field of the
 * wrong shape counts as empty; both are counted in `malformed`. A malformed gold answer throws an
 * InvalidInputError. Fields that are not scored are ignored.
 */
export function extractionMetrics(pairs: readonly ExtractionPair[], options: ExtractionOptions = {}): ExtractionMetrics {
  const resolved = resolveOptions(options);
  const fields = [...resolved.listFields, ...resolved.mapFields];
  const keyCounts = new Map<string, { field: string; key: string; counts: ExtractionCounts; support: number }>();
  const keyEntry = (field: string, key: string) => {
    const id = `${field}\u0000${key}`;
    let entry = keyCounts.get(id);
    if (entry === undefined) {
      entry = { field, key, counts: { truePositives: 0, falsePositives: 0, falseNegatives: 0 }, support: 0 };
      keyCounts.set(id, entry);
    }
    return entry;
  };
  const perExample = pairs.map((pair, index) => {
    const gold = parseGold(pair.gold, resolved, `gold answer ${index + 1}`);
    for (const [field, items] of gold) for (const key of new Set(items.values())) keyEntry(field, key).support += 1;
    return compareItems(gold, parseAnswer(pair.predicted, resolved), (field, key, outcome) => {
      const { counts } = keyEntry(field, key);
      if (outcome === 'tp') counts.truePositives += 1;
      else if (outcome === 'fp') counts.falsePositives += 1;
      else counts.falseNegatives += 1;
    });
  });
  const byField: Record<string, PrecisionRecallF1> = {};
  for (const field of fields) byField[field] = extractionScores(perExample.map((entry) => entry.byField[field]!));
  const perKey = [...keyCounts.values()]
    .sort((left, right) => fields.indexOf(left.field) - fields.indexOf(right.field) || (left.key < right.key ? -1 : left.key > right.key ? 1 : 0))
    .map(({ field, key, counts, support }) => ({ field, key, support, ...precisionRecallF1(counts) }));
  return {
    n: pairs.length,
    micro: extractionScores(perExample.map((entry) => entry.total)),
    byField,
    perKey,
    exactMatch: pairs.length === 0 ? 0 : perExample.filter((entry) => entry.exactMatch).length / pairs.length,
    malformed: perExample.filter((entry) => entry.malformed).length,
    perExample,
  };
}

/**
 * A per-example extraction scorer: score is the example's micro-F1 over the scored fields, pass
 * means an exact match of every scored field. A malformed prediction scores 0 and fails (even when
 * the gold answer is empty); a malformed gold answer throws an InvalidInputError.
 */
export function extractionScorer(options: ExtractionOptions = {}): Scorer {
  const resolved = resolveOptions(options);
  return (output, gold) => {
    const goldItems = parseGold(gold, resolved, 'the gold answer');
    const predicted = parseAnswer(output, resolved);
    if (predicted.malformed) return { score: 0, pass: false, detail: `malformed prediction: ${predicted.problem}` };
    const counts = compareItems(goldItems, predicted);
    const { f1 } = precisionRecallF1(counts.total);
    if (counts.exactMatch) return { score: f1, pass: true };
    const detail = Object.entries(counts.byField)
      .filter(([, field]) => field.falsePositives + field.falseNegatives > 0)
      .map(([name, field]) => `${name}: ${field.falsePositives} extra, ${field.falseNegatives} missing`)
      .join('; ');
    return { score: f1, pass: false, detail };
  };
}

// ---------------------------------------------------------------------------------------------
// Judges: agreement with people, and pairwise tallies.

/** A label given by a judge or a person: a rating (1–5), a pairwise winner, pass/fail, ... */
export type JudgeLabel = string | number | boolean;

/** How well a judge agrees with people on the same items. */
export interface JudgeAgreement {
  n: number;
  /** Fraction of items where the judge gave the same label as the person. */
  agreement: number;
  /**
   * Cohen's kappa, (agreement − chance) / (1 − chance), where chance agreement comes from each
   * rater's own label frequencies: 1 is perfect, 0 is no better than chance. `null` when chance
   * agreement is 1 (both gave every item the same single label), where kappa is undefined.
   * The same number as scikit-learn's `cohen_kappa_score` (unweighted).
   */
  kappa: number | null;
  /** The labels seen, sorted (numbers before strings before booleans, then by value). */
  labels: JudgeLabel[];
}

/** Raw agreement and Cohen's kappa between a judge's labels and people's labels for the same items, in order. */
export function judgeAgreement(judgeLabels: readonly JudgeLabel[], humanLabels: readonly JudgeLabel[]): JudgeAgreement {
  if (judgeLabels.length !== humanLabels.length) throw new RangeError(`judge and human labels differ in length (${judgeLabels.length} vs ${humanLabels.length})`);
  const n = judgeLabels.length;
  if (n === 0) throw new RangeError('agreement over no items is undefined');
  const judgeCounts = new Map<JudgeLabel, number>();
  const humanCounts = new Map<JudgeLabel, number>();
  let agreed = 0;
  for (let index = 0; index < n; index += 1) {
    const judge = judgeLabels[index]!;
    const human = humanLabels[index]!;
    judgeCounts.set(judge, (judgeCounts.get(judge) ?? 0) + 1);
    humanCounts.set(human, (humanCounts.get(human) ?? 0) + 1);
    if (judge === human) agreed += 1;
  }
  const labels = [...new Set([...judgeCounts.keys(), ...humanCounts.keys()])].sort(compareLabels);
  let chance = 0;
  for (const label of labels) chance += ((judgeCounts.get(label) ?? 0) / n) * ((humanCounts.get(label) ?? 0) / n);
  const agreement = agreed / n;
  return { n, agreement, kappa: chance >= 1 ? null : (agreement - chance) / (1 - chance), labels };
}

function compareLabels(left: JudgeLabel, right: JudgeLabel): number {
  const rank = (label: JudgeLabel): number => (typeof label === 'number' ? 0 : typeof label === 'string' ? 1 : 2);
  if (rank(left) !== rank(right)) return rank(left) - rank(right);
  return left < right ? -1 : left > right ? 1 : 0;
}

/** Which of two outputs a pairwise judge preferred. */
export type PairwiseWinner = 'a' | 'b' | 'tie';

/** Tallies of pairwise judgements of candidate a against candidate b. */
export interface PairwiseSummary {
  n: number;
  aWins: number;
  bWins: number;
  ties: number;
  /** Judgements whose two orders disagreed (each is also counted as a tie). */
  inconsistent: number;
  /** (bWins + ties / 2) / n: b's win rate with ties split evenly; 0.5 means no preference. 0 for no judgements. */
  bWinRate: number;
}

/** Counts wins, ties and order-inconsistent verdicts of pairwise judgements. */
export function summarizePairwise(judgements: readonly { winner: PairwiseWinner; consistent: boolean }[]): PairwiseSummary {
  let aWins = 0;
  let bWins = 0;
  let ties = 0;
  let inconsistent = 0;
  for (const judgement of judgements) {
    if (judgement.winner === 'a') aWins += 1;
    else if (judgement.winner === 'b') bWins += 1;
    else ties += 1;
    if (!judgement.consistent) inconsistent += 1;
  }
  const n = judgements.length;
  return { n, aWins, bWins, ties, inconsistent, bWinRate: n === 0 ? 0 : (bWins + ties / 2) / n };
}

function excerpt(text: string, limit = 80): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}
