import type { ExampleSource, FilterDrop } from '../contracts/curation.ts';
import { normalizeForOverlap } from './decontaminate.ts';
import { isInLanguage } from './language-detect.ts';
import { createMinHasher, MinHashLsh } from './minhash.ts';

/**
 * The filter steps that need no model: each takes the examples still in play and returns the ones it
 * drops, with the reason and what caused it. The pipeline (`pipeline/filter-data.ts`) runs them in
 * order, then the model-based steps (LLM judge, round trip), and stores the report.
 */

/** One example as the filters see it. */
export interface FilterItem {
  id: number;
  input: string;
  answer: string | null;
  source: ExampleSource;
  /** sha256 of the normalized input. */
  inputKey: string;
}

/** Human data wins over traffic logs, and both over synthetic data; then the older example. */
const SOURCE_RANK: Record<ExampleSource, number> = { human: 0, log: 1, synthetic: 2 };
export function keepOrder(a: FilterItem, b: FilterItem): number {
  return SOURCE_RANK[a.source] - SOURCE_RANK[b.source] || a.id - b.id;
}

export interface LengthFormatSettings {
  minInputChars: number;
  maxInputChars: number;
  /** Fewer words (runs of letters) than this is not a message a person writes. */
  minWords: number;
  /** Most of the input's non-space characters that may be digits, `_` or symbols (identifiers, ids, code). */
  maxSymbolShare: number;
}

/** Too short, too long, no answer, or not text (an id, a code, a run of digits and underscores). */
export function lengthAndFormatDrops(items: readonly FilterItem[], settings: LengthFormatSettings): FilterDrop[] {
  const drops: FilterDrop[] = [];
  for (const item of items) {
    const text = item.input.trim();
    const length = text.length;
    const words = text.match(/\p{L}{2,}/gu)?.length ?? 0;
    const visible = text.replace(/\s+/g, '');
    const symbols = visible.length === 0 ? 0 : visible.replace(/[\p{L}.,!?'"-]/gu, '').length / visible.length;
    if (item.answer === null || item.answer.trim() === '') drops.push({ exampleId: item.id, step: 'length-format', reason: 'no-answer' });
    else if (length < settings.minInputChars) drops.push({ exampleId: item.id, step: 'length-format', reason: 'too-short', detail: { chars: length } });
    else if (length > settings.maxInputChars) drops.push({ exampleId: item.id, step: 'length-format', reason: 'too-long', detail: { chars: length } });
    // One "word" glued with _ @ / = or digits is an identifier, an address or a code, not a message.
    else if (words < settings.minWords || symbols > settings.maxSymbolShare || (!/\s/.test(text) && /[_@/=\d]/.test(text))) {
      drops.push({ exampleId: item.id, step: 'length-format', reason: 'not-text', detail: { words, symbolShare: Math.round(symbols * 100) / 100 } });
    }
  }
  return drops;
}

/**
 * Inputs equal after normalization (case, punctuation, spacing): one is kept (human before synthetic, then the
 * oldest). The same input with a different answer is dropped as `conflicting-answer`: it teaches two things.
 */
export function exactDuplicateDrops(items: readonly FilterItem[]): FilterDrop[] {
  const groups = new Map<string, FilterItem[]>();
  for (const item of items) {
    const group = groups.get(item.inputKey);
    if (group === undefined) groups.set(item.inputKey, [item]);
    else group.push(item);
  }
  const drops: FilterDrop[] = [];
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    const [kept, ...rest] = [...group].sort(keepOrder);
    for (const item of rest) {
      drops.push({
        exampleId: item.id,
        step: 'exact-dedup',
        reason: item.answer === kept!.answer ? 'duplicate' : 'conflicting-answer',
        detail: { keptId: kept!.id, ...(item.answer === kept!.answer ? {} : { keptAnswer: kept!.answer, answer: item.answer }) },
      });
    }
  }
  return drops;
}

export interface NearDedupSettings {
  threshold: number;
  numPerm: number;
  shingleSize: number;
  unit: 'word' | 'char';
}

/**
 * Near-duplicate inputs by MinHash LSH over shingle sets: in each cluster of inputs at least `threshold`
 * similar (estimated Jaccard), one is kept and the others dropped.
 */
export function nearDuplicateDrops(items: readonly FilterItem[], settings: NearDedupSettings): FilterDrop[] {
  const hasher = createMinHasher({ numPerm: settings.numPerm, shingleSize: settings.shingleSize, unit: settings.unit, seed: 1 });
  const index = new MinHashLsh<number>({ threshold: settings.threshold, numPerm: settings.numPerm });
  const signature = new Uint32Array(settings.numPerm);
  items.forEach((item, position) => {
    hasher.signatureInto(item.input, signature);
    index.insert(position, signature);
  });
  // Union of verified pairs, then keep the best example of each component.
  const parent = items.map((_, position) => position);
  const find = (position: number): number => {
    let root = position;
    while (parent[root] !== root) root = parent[root]!;
    while (parent[position] !== root) [position, parent[position]] = [parent[position]!, root];
    return root;
  };
  const similarityTo = new Map<number, { other: number; similarity: number }>();
  for (const [a, b] of index.candidatePairs()) {
    const similarity = index.similarity(a, b);
    if (similarity < settings.threshold) continue;
    parent[find(a)] = find(b);
    for (const [self, other] of [[a, b], [b, a]] as const) {
      const best = similarityTo.get(self);
      if (best === undefined || similarity > best.similarity) similarityTo.set(self, { other, similarity });
    }
  }
  const components = new Map<number, number[]>();
  items.forEach((_, position) => {
    if (!similarityTo.has(position)) return;
    const root = find(position);
    const members = components.get(root);
    if (members === undefined) components.set(root, [position]);
    else members.push(position);
  });
  const drops: FilterDrop[] = [];
  for (const members of components.values()) {
    const ordered = [...members].sort((a, b) => keepOrder(items[a]!, items[b]!));
    const kept = items[ordered[0]!]!;
    for (const position of ordered.slice(1)) {
      const item = items[position]!;
      const closest = similarityTo.get(position);
      drops.push({
        exampleId: item.id,
        step: 'near-dedup',
        reason: 'near-duplicate',
        detail: { keptId: kept.id, closestId: closest === undefined ? null : items[closest.other]!.id, similarity: closest === undefined ? null : round(closest.similarity) },
      });
    }
  }
  return drops;
}

/** Inputs confidently in another language than `expected`. */
export function languageDrops(items: readonly FilterItem[], expected: string): FilterDrop[] {
  const drops: FilterDrop[] = [];
  for (const item of items) {
    const { ok, guess } = isInLanguage(item.input, expected);
    if (!ok) drops.push({ exampleId: item.id, step: 'language', reason: `language-${guess.language}`, detail: { expected, detected: guess.language, confidence: round(guess.confidence) } });
  }
  return drops;
}

export interface DecontaminationSettings {
  /** Word n-gram length; a held-out input shorter than n is compared by grams as long as itself. */
  ngram: number;
  /** Share of a train input's n-grams found in one held-out input. */
  ngramOverlap: number;
  minhashThreshold: number;
  numPerm: number;
  shingleSize: number;
  unit: 'word' | 'char';
}

/**
 * Train examples too close to a held-out example: the same normalized input, word n-gram overlap with one held-out
 * input at or above `ngramOverlap` (the share of its grams found in the train input, or of the train input's found
 * in it, whichever is larger: a held-out query wrapped in other words counts), or an estimated MinHash similarity at or above
 * `minhashThreshold`. Each drop names the held-out example it matched.
 */
export function contaminationDrops(train: readonly FilterItem[], heldOut: readonly FilterItem[], settings: DecontaminationSettings): FilterDrop[] {
  if (heldOut.length === 0) return [];
  const heldOutByKey = new Map(heldOut.map((item) => [item.inputKey, item]));
  // A held-out input shorter than n is cut into grams as long as itself, so a short query wrapped in other words
  // is still found. Grams are indexed by their length: n-gram → held-out positions holding it.
  const owners = new Map<number, Map<string, number[]>>();
  const gramCounts = heldOut.map((item, position) => {
    const words = wordsOf(item.input);
    const size = Math.min(settings.ngram, words.length);
    const grams = new Set(gramsOfWords(words, size));
    let bySize = owners.get(size);
    if (bySize === undefined) owners.set(size, (bySize = new Map()));
    for (const gram of grams) {
      const holders = bySize.get(gram);
      if (holders === undefined) bySize.set(gram, [position]);
      else holders.push(position);
    }
    return grams.size;
  });
  const hasher = createMinHasher({ numPerm: settings.numPerm, shingleSize: settings.shingleSize, unit: settings.unit, seed: 1 });
  const index = new MinHashLsh<number>({ threshold: settings.minhashThreshold, numPerm: settings.numPerm });
  const heldOutSignatures = heldOut.map((item, position) => {
    const signature = hasher.signature(item.input);
    index.insert(position, signature);
    return signature;
  });

  const drops: FilterDrop[] = [];
  for (const item of train) {
    const exact = heldOutByKey.get(item.inputKey);
    if (exact !== undefined) {
      drops.push({ exampleId: item.id, step: 'decontamination', reason: 'eval-copy', detail: { evalId: exact.id, evalInput: exact.input } });
      continue;
    }
    // Overlap with one held-out input: the larger of the share of its grams found here and the share of ours found there.
    const words = wordsOf(item.input);
    const shared = new Map<number, { count: number; ours: number }>();
    for (const [size, bySize] of owners) {
      if (words.length < size) continue;
      const grams = new Set(gramsOfWords(words, size));
      for (const gram of grams) {
        for (const position of bySize.get(gram) ?? []) {
          const entry = shared.get(position);
          if (entry === undefined) shared.set(position, { count: 1, ours: grams.size });
          else entry.count += 1;
        }
      }
    }
    let best: { position: number; overlap: number } | undefined;
    for (const [position, { count, ours }] of shared) {
      const overlap = Math.max(count / gramCounts[position]!, count / ours);
      if (best === undefined || overlap > best.overlap) best = { position, overlap };
    }
    if (best !== undefined && best.overlap >= settings.ngramOverlap) {
      const match = heldOut[best.position]!;
      drops.push({ exampleId: item.id, step: 'decontamination', reason: 'ngram-overlap', detail: { evalId: match.id, evalInput: match.input, overlap: round(best.overlap), ngram: settings.ngram } });
      continue;
    }
    const signature = hasher.signature(item.input);
    let closest: { position: number; similarity: number } | undefined;
    for (const position of index.query(signature)) {
      const similarity = jaccardOfSignatures(signature, heldOutSignatures[position]!);
      if (closest === undefined || similarity > closest.similarity) closest = { position, similarity };
    }
    if (closest !== undefined && closest.similarity >= settings.minhashThreshold) {
      const match = heldOut[closest.position]!;
      drops.push({ exampleId: item.id, step: 'decontamination', reason: 'minhash-similar', detail: { evalId: match.id, evalInput: match.input, similarity: round(closest.similarity) } });
    }
  }
  return drops;
}

/** Word n-grams of the normalized text; a text shorter than n is one gram of all its words. */
export function wordGrams(text: string, n: number): string[] {
  const words = wordsOf(text);
  return gramsOfWords(words, Math.min(n, words.length));
}

function wordsOf(text: string): string[] {
  return normalizeForOverlap(text).split(' ').filter((word) => word.length > 0);
}

function gramsOfWords(words: readonly string[], n: number): string[] {
  if (words.length === 0 || n < 1) return [];
  const grams: string[] = [];
  for (let start = 0; start + n <= words.length; start += 1) grams.push(words.slice(start, start + n).join(' '));
  return grams;
}

function jaccardOfSignatures(a: Uint32Array, b: Uint32Array): number {
  let equal = 0;
  for (let index = 0; index < a.length; index += 1) if (a[index] === b[index]) equal += 1;
  return equal / a.length;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
