/**
 * Near-duplicate detection with MinHash and banded locality-sensitive hashing (LSH).
 *
 * A text becomes a set of shingles (word or character n-grams of its normalized form), each
 * shingle a 32-bit hash. A MinHash signature keeps, for each of `numPerm` random permutations of
 * the 32-bit hash space, the smallest permuted shingle hash; the share of positions where two
 * signatures agree estimates the Jaccard similarity of the two shingle sets. LSH cuts each
 * signature into `bands` bands of `rows` values and reports two texts as candidates when any band
 * matches exactly, which finds pairs above a threshold without comparing every pair.
 *
 * Permutations are `a * h + b mod 2^32` with `a` odd (a bijection, so no collisions are added)
 * applied to the shingle hash after a MurmurHash3 finalizer, the scheme datasketch uses by default
 * since 2.0 ("affine32"). `Math.imul` makes that exact and cheap in JavaScript.
 */
import { normalizeForOverlap } from './decontaminate.ts';
import { createRandom, type Seed } from './random.ts';

/** How a text is cut into shingles: runs of `size` words, or of `size` characters. */
export interface ShingleOptions {
  size: number;
  unit: 'word' | 'char';
}

export interface MinHasherOptions {
  /** Signature length: more permutations, a finer Jaccard estimate (standard error √(J(1−J)/numPerm)). */
  numPerm?: number;
  /** Picks the permutations; signatures are comparable only between hashers with the same seed. */
  seed?: Seed;
  shingleSize?: number;
  unit?: ShingleOptions['unit'];
}

export interface MinHasher {
  readonly numPerm: number;
  /** A new signature of `text`. */
  signature(text: string): Uint32Array;
  /** Write the signature of `text` into `target` (length `numPerm`) without allocating one. */
  signatureInto(text: string, target: Uint32Array): void;
}

/** How much a false positive and a false negative cost when choosing bands and rows. */
export interface LshWeights {
  falsePositive: number;
  falseNegative: number;
}

export interface LshParameters {
  bands: number;
  rows: number;
  /** The integrated probability of a candidate below the threshold (area under the S-curve). */
  falsePositive: number;
  /** The integrated probability of missing a pair above the threshold. */
  falseNegative: number;
}

export interface MinHashLshOptions {
  threshold?: number;
  numPerm?: number;
  weights?: LshWeights;
  /** Fixed bands and rows instead of the ones {@link lshParameters} picks. */
  params?: { bands: number; rows: number };
  /** How many signatures to make room for up front (the index grows past it as needed). */
  expectedSize?: number;
}

export interface NearDuplicateOptions extends MinHasherOptions {
  /** Minimum Jaccard similarity of word (or char) shingle sets for two texts to be near-duplicates. */
  threshold?: number;
  /** Keep only candidate pairs whose estimated Jaccard reaches the threshold (else every LSH candidate). */
  verify?: boolean;
  weights?: LshWeights;
}

export interface NearDuplicatePair {
  /** The smaller index. */
  a: number;
  b: number;
  /** The estimated Jaccard similarity of the two texts' shingle sets. */
  similarity: number;
}

export interface NearDuplicateResult {
  /** Sorted by `a`, then `b`. */
  pairs: NearDuplicatePair[];
  /**
   * Connected components of the pair graph with two or more texts, each sorted ascending (its first
   * index is the one to keep), ordered by first index.
   */
  clusters: number[][];
}

const EMPTY_SLOT = -1;
const SIGN_BIT = 0x80000000 | 0;
const MAX_SIGNED = 0x7fffffff;

/**
 * The distinct 32-bit hashes of a text's shingles, in order of first appearance. The text is
 * normalized first ({@link normalizeForOverlap}: NFKC, lowercase, punctuation to spaces); a text
 * with fewer units than `size` gives one shingle of its whole normalized form, an empty one none.
 * Characters are UTF-16 code units.
 */
export function shingles(text: string, options: ShingleOptions): Uint32Array {
  checkShingleSize(options.size);
  const scanner = new ShingleScanner();
  const count = scanner.scan(text, options.size, options.unit);
  const seen = new Set<number>();
  const distinct: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const hash = scanner.hashes[index]! >>> 0;
    if (!seen.has(hash)) {
      seen.add(hash);
      distinct.push(hash);
    }
  }
  return Uint32Array.from(distinct);
}

/** A seeded MinHash signer; the same options always give the same signatures. */
export function createMinHasher({ numPerm = 128, seed = 1, shingleSize = 3, unit = 'word' }: MinHasherOptions = {}): MinHasher {
  if (!Number.isInteger(numPerm) || numPerm < 1) throw new RangeError(`numPerm must be a positive integer, got ${numPerm}`);
  checkShingleSize(shingleSize);
  const random = createRandom(seed);
  const multipliers = new Int32Array(numPerm);
  const offsets = new Int32Array(numPerm);
  for (let index = 0; index < numPerm; index += 1) {
    // createRandom returns a 32-bit state divided by 2^32, so this recovers all 32 bits.
    multipliers[index] = (random() * 4294967296) | 1;
    offsets[index] = random() * 4294967296;
  }
  const scanner = new ShingleScanner();

  function signatureInto(text: string, target: Uint32Array): void {
    if (target.length !== numPerm) throw new RangeError(`the signature buffer holds ${target.length} values, expected ${numPerm}`);
    const count = scanner.scan(text, shingleSize, unit);
    const hashes = scanner.hashes;
    // Compare in int32 with the sign bit flipped (the same order as uint32, as adding 2^31 mod 2^32
    // flips the top bit), so V8 keeps every value in an integer register. Four permutations per
    // pass over the shingles share each load and overlap their multiplies: about 2.5× faster.
    let permutation = 0;
    for (; permutation + 4 <= numPerm; permutation += 4) {
      const multiplier0 = multipliers[permutation]!;
      const multiplier1 = multipliers[permutation + 1]!;
      const multiplier2 = multipliers[permutation + 2]!;
      const multiplier3 = multipliers[permutation + 3]!;
      const offset0 = offsets[permutation]! ^ SIGN_BIT;
      const offset1 = offsets[permutation + 1]! ^ SIGN_BIT;
      const offset2 = offsets[permutation + 2]! ^ SIGN_BIT;
      const offset3 = offsets[permutation + 3]! ^ SIGN_BIT;
      let minimum0 = MAX_SIGNED;
      let minimum1 = MAX_SIGNED;
      let minimum2 = MAX_SIGNED;
      let minimum3 = MAX_SIGNED;
      for (let index = 0; index < count; index += 1) {
        const hash = hashes[index]!;
        const permuted0 = (Math.imul(multiplier0, hash) + offset0) | 0;
        const permuted1 = (Math.imul(multiplier1, hash) + offset1) | 0;
        const permuted2 = (Math.imul(multiplier2, hash) + offset2) | 0;
        const permuted3 = (Math.imul(multiplier3, hash) + offset3) | 0;
        if (permuted0 < minimum0) minimum0 = permuted0;
        if (permuted1 < minimum1) minimum1 = permuted1;
        if (permuted2 < minimum2) minimum2 = permuted2;
        if (permuted3 < minimum3) minimum3 = permuted3;
      }
      target[permutation] = (minimum0 ^ SIGN_BIT) >>> 0;
      target[permutation + 1] = (minimum1 ^ SIGN_BIT) >>> 0;
      target[permutation + 2] = (minimum2 ^ SIGN_BIT) >>> 0;
      target[permutation + 3] = (minimum3 ^ SIGN_BIT) >>> 0;
    }
    for (; permutation < numPerm; permutation += 1) {
      const multiplier = multipliers[permutation]!;
      const offset = offsets[permutation]! ^ SIGN_BIT;
      let minimum = MAX_SIGNED;
      for (let index = 0; index < count; index += 1) {
        const permuted = (Math.imul(multiplier, hashes[index]!) + offset) | 0;
        if (permuted < minimum) minimum = permuted;
      }
      target[permutation] = (minimum ^ SIGN_BIT) >>> 0;
    }
  }

  return {
    numPerm,
    signatureInto,
    signature(text) {
      const target = new Uint32Array(numPerm);
      signatureInto(text, target);
      return target;
    },
  };
}

/** The share of positions where two signatures agree: an unbiased estimate of their sets' Jaccard similarity. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) throw new RangeError(`signatures differ in length (${a.length} and ${b.length})`);
  if (a.length === 0) throw new RangeError('signatures are empty');
  let equal = 0;
  for (let index = 0; index < a.length; index += 1) if (a[index] === b[index]) equal += 1;
  return equal / a.length;
}

const parameterCache = new Map<string, LshParameters>();

/**
 * The bands and rows (bands × rows ≤ numPerm) minimising the weighted false-positive and
 * false-negative probabilities, each the area under the LSH S-curve `1 − (1 − s^rows)^bands` on
 * the wrong side of the threshold (the criterion datasketch's MinHashLSH uses).
 */
export function lshParameters(threshold: number, numPerm: number, weights: LshWeights = { falsePositive: 0.5, falseNegative: 0.5 }): LshParameters {
  if (!(threshold > 0 && threshold < 1)) throw new RangeError(`threshold must lie strictly between 0 and 1, got ${threshold}`);
  if (!Number.isInteger(numPerm) || numPerm < 2) throw new RangeError(`numPerm must be an integer of at least 2, got ${numPerm}`);
  const { falsePositive: falsePositiveWeight, falseNegative: falseNegativeWeight } = weights;
  if (!(falsePositiveWeight >= 0 && falseNegativeWeight >= 0 && falsePositiveWeight + falseNegativeWeight > 0)) {
    throw new RangeError(`weights must be non-negative and not both zero, got ${falsePositiveWeight} and ${falseNegativeWeight}`);
  }
  const key = `${threshold}:${numPerm}:${falsePositiveWeight}:${falseNegativeWeight}`;
  const cached = parameterCache.get(key);
  if (cached !== undefined) return { ...cached };

  let best: LshParameters = { bands: 1, rows: 1, falsePositive: Infinity, falseNegative: Infinity };
  let bestError = Infinity;
  for (let bands = 1; bands <= numPerm; bands += 1) {
    for (let rows = 1; rows * bands <= numPerm; rows += 1) {
      const candidate = (similarity: number): number => 1 - (1 - similarity ** rows) ** bands;
      const falsePositive = integrate(candidate, 0, threshold);
      const falseNegative = integrate((similarity) => 1 - candidate(similarity), threshold, 1);
      const error = falsePositiveWeight * falsePositive + falseNegativeWeight * falseNegative;
      if (error < bestError) {
        bestError = error;
        best = { bands, rows, falsePositive, falseNegative };
      }
    }
  }
  parameterCache.set(key, best);
  return { ...best };
}

/**
 * A banded MinHash LSH index over signatures of one length. Buckets are chains through typed
 * arrays keyed by a 32-bit hash of each band; a band hash collision is told apart by comparing the
 * stored band values, so candidates share at least one band exactly, as in datasketch.
 */
export class MinHashLsh<Id = number> {
  readonly bands: number;
  readonly rows: number;
  readonly numPerm: number;
  private readonly ids: Id[] = [];
  private readonly slotOf = new Map<Id, number>();
  private readonly buckets: BucketTable[];
  private signatures: Uint32Array;
  /** `nextInBucket[slot * bands + band]`: the previous slot in that band's bucket, or -1. */
  private nextInBucket: Int32Array;
  private queryMarks: Uint32Array;
  private queryStamp = 0;

  constructor({ threshold = 0.8, numPerm = 128, weights, params, expectedSize = 1024 }: MinHashLshOptions = {}) {
    const chosen = params ?? lshParameters(threshold, numPerm, weights);
    if (!Number.isInteger(chosen.bands) || !Number.isInteger(chosen.rows) || chosen.bands < 1 || chosen.rows < 1 || chosen.bands * chosen.rows > numPerm) {
      throw new RangeError(`bands × rows must be positive integers with a product of at most numPerm ${numPerm}, got ${chosen.bands} × ${chosen.rows}`);
    }
    this.bands = chosen.bands;
    this.rows = chosen.rows;
    this.numPerm = numPerm;
    const capacity = Math.max(1, Math.ceil(expectedSize));
    this.buckets = Array.from({ length: this.bands }, () => new BucketTable(capacity));
    this.signatures = new Uint32Array(capacity * numPerm);
    this.nextInBucket = new Int32Array(capacity * this.bands);
    this.queryMarks = new Uint32Array(capacity);
  }

  get size(): number {
    return this.ids.length;
  }

  /** Index a signature (copied) under an id that is not in the index yet. */
  insert(id: Id, signature: Uint32Array): void {
    this.checkLength(signature);
    if (this.slotOf.has(id)) throw new RangeError(`id ${String(id)} is already in the index`);
    const slot = this.ids.length;
    if (slot * this.numPerm >= this.signatures.length) this.grow();
    this.ids.push(id);
    this.slotOf.set(id, slot);
    this.signatures.set(signature, slot * this.numPerm);
    for (let band = 0; band < this.bands; band += 1) {
      const key = bandKey(signature, band * this.rows, this.rows, band);
      this.nextInBucket[slot * this.bands + band] = this.buckets[band]!.push(key, slot);
    }
  }

  /** The ids whose signatures share at least one band with `signature`, in index order. */
  query(signature: Uint32Array): Id[] {
    this.checkLength(signature);
    this.queryStamp = (this.queryStamp + 1) >>> 0;
    if (this.queryStamp === 0) {
      this.queryMarks.fill(0);
      this.queryStamp = 1;
    }
    const found: number[] = [];
    for (let band = 0; band < this.bands; band += 1) {
      const start = band * this.rows;
      let slot = this.buckets[band]!.head(bandKey(signature, start, this.rows, band));
      for (; slot !== EMPTY_SLOT; slot = this.nextInBucket[slot * this.bands + band]!) {
        if (this.queryMarks[slot] === this.queryStamp) continue;
        if (!rangeEquals(this.signatures, slot * this.numPerm + start, signature, start, this.rows)) continue;
        this.queryMarks[slot] = this.queryStamp;
        found.push(slot);
      }
    }
    return found.sort((left, right) => left - right).map((slot) => this.ids[slot]!);
  }

  /**
   * Every pair of indexed ids that share at least one band, each once, the earlier-inserted id
   * first. A pair is emitted at the first band it shares, so no set of seen pairs is kept.
   * The order is deterministic for a given sequence of inserts.
   */
  candidatePairs(): Array<[Id, Id]> {
    const pairs: Array<[Id, Id]> = [];
    const members: number[] = [];
    for (let band = 0; band < this.bands; band += 1) {
      const start = band * this.rows;
      const heads = this.buckets[band]!.heads;
      for (let entry = 0; entry < heads.length; entry += 1) {
        const head = heads[entry]!;
        if (head === EMPTY_SLOT) continue;
        members.length = 0;
        for (let slot = head; slot !== EMPTY_SLOT; slot = this.nextInBucket[slot * this.bands + band]!) members.push(slot);
        if (members.length < 2) continue;
        // Chains run newest first; walk from the oldest so pairs come out in insertion order.
        for (let left = members.length - 1; left > 0; left -= 1) {
          const older = members[left]!;
          for (let right = left - 1; right >= 0; right -= 1) {
            const newer = members[right]!;
            if (!this.slotsShareBand(older, newer, start)) continue;
            if (this.sharedEarlierBand(older, newer, band)) continue;
            pairs.push([this.ids[older]!, this.ids[newer]!]);
          }
        }
      }
    }
    return pairs;
  }

  /** A copy of the stored signature of `id`. */
  signatureOf(id: Id): Uint32Array {
    const slot = this.requireSlot(id);
    return this.signatures.slice(slot * this.numPerm, (slot + 1) * this.numPerm);
  }

  /** The estimated Jaccard similarity of two indexed ids, read from the stored signatures. */
  similarity(a: Id, b: Id): number {
    return this.slotSimilarity(this.requireSlot(a), this.requireSlot(b));
  }

  private slotSimilarity(slotA: number, slotB: number): number {
    const signatures = this.signatures;
    const offsetA = slotA * this.numPerm;
    const offsetB = slotB * this.numPerm;
    let equal = 0;
    for (let index = 0; index < this.numPerm; index += 1) if (signatures[offsetA + index] === signatures[offsetB + index]) equal += 1;
    return equal / this.numPerm;
  }

  private slotsShareBand(slotA: number, slotB: number, start: number): boolean {
    return rangeEquals(this.signatures, slotA * this.numPerm + start, this.signatures, slotB * this.numPerm + start, this.rows);
  }

  private sharedEarlierBand(slotA: number, slotB: number, band: number): boolean {
    for (let earlier = 0; earlier < band; earlier += 1) if (this.slotsShareBand(slotA, slotB, earlier * this.rows)) return true;
    return false;
  }

  private requireSlot(id: Id): number {
    const slot = this.slotOf.get(id);
    if (slot === undefined) throw new RangeError(`id ${String(id)} is not in the index`);
    return slot;
  }

  private checkLength(signature: Uint32Array): void {
    if (signature.length !== this.numPerm) throw new RangeError(`the signature has ${signature.length} values, the index expects ${this.numPerm}`);
  }

  private grow(): void {
    const capacity = Math.max(1024, this.queryMarks.length * 2);
    const signatures = new Uint32Array(capacity * this.numPerm);
    signatures.set(this.signatures);
    this.signatures = signatures;
    const nextInBucket = new Int32Array(capacity * this.bands);
    nextInBucket.set(this.nextInBucket);
    this.nextInBucket = nextInBucket;
    const queryMarks = new Uint32Array(capacity);
    queryMarks.set(this.queryMarks);
    this.queryMarks = queryMarks;
  }
}

/**
 * One band's buckets: an open-addressing table (linear probing, at most half full) from a 32-bit
 * band key to the newest slot in that bucket's chain. Typed arrays instead of a Map: no boxed
 * entries, and about twice as fast to fill.
 */
class BucketTable {
  keys: Int32Array;
  heads: Int32Array;
  private used = 0;

  constructor(expectedKeys: number) {
    let capacity = 1024;
    while (capacity < 2 * expectedKeys) capacity *= 2;
    this.keys = new Int32Array(capacity);
    this.heads = new Int32Array(capacity).fill(EMPTY_SLOT);
  }

  /** The newest slot whose band has this key, or -1. */
  head(key: number): number {
    const mask = this.keys.length - 1;
    for (let entry = key & mask; ; entry = (entry + 1) & mask) {
      const head = this.heads[entry]!;
      if (head === EMPTY_SLOT || this.keys[entry] === key) return head;
    }
  }

  /** Make `slot` the newest in the bucket of `key`; return the previous newest, or -1. */
  push(key: number, slot: number): number {
    if (2 * (this.used + 1) > this.keys.length) this.grow();
    const mask = this.keys.length - 1;
    for (let entry = key & mask; ; entry = (entry + 1) & mask) {
      const head = this.heads[entry]!;
      if (head === EMPTY_SLOT) {
        this.keys[entry] = key;
        this.heads[entry] = slot;
        this.used += 1;
        return EMPTY_SLOT;
      }
      if (this.keys[entry] === key) {
        this.heads[entry] = slot;
        return head;
      }
    }
  }

  private grow(): void {
    const keys = this.keys;
    const heads = this.heads;
    this.keys = new Int32Array(keys.length * 2);
    this.heads = new Int32Array(keys.length * 2).fill(EMPTY_SLOT);
    const mask = this.keys.length - 1;
    for (let old = 0; old < keys.length; old += 1) {
      if (heads[old] === EMPTY_SLOT) continue;
      let entry = keys[old]! & mask;
      while (this.heads[entry] !== EMPTY_SLOT) entry = (entry + 1) & mask;
      this.keys[entry] = keys[old]!;
      this.heads[entry] = heads[old]!;
    }
  }
}

/**
 * Near-duplicate pairs and clusters among `texts` by MinHash LSH over shingle sets. With
 * `verify`, each LSH candidate is kept only if its estimated Jaccard similarity reaches the
 * threshold.
 */
export function findNearDuplicates(
  texts: readonly string[],
  { threshold = 0.8, numPerm = 128, shingleSize = 3, unit = 'word', seed = 1, verify = true, weights }: NearDuplicateOptions = {},
): NearDuplicateResult {
  const hasher = createMinHasher({ numPerm, seed, shingleSize, unit });
  const index = new MinHashLsh<number>({ threshold, numPerm, weights, expectedSize: texts.length });
  const signature = new Uint32Array(numPerm);
  for (let position = 0; position < texts.length; position += 1) {
    hasher.signatureInto(texts[position]!, signature);
    index.insert(position, signature);
  }
  const pairs: NearDuplicatePair[] = [];
  for (const [a, b] of index.candidatePairs()) {
    const similarity = index.similarity(a, b);
    if (verify && similarity < threshold) continue;
    pairs.push(a < b ? { a, b, similarity } : { a: b, b: a, similarity });
  }
  pairs.sort((left, right) => left.a - right.a || left.b - right.b);
  return { pairs, clusters: connectedComponents(texts.length, pairs) };
}

/** Components with two or more members of the graph on `0..count-1` with `pairs` as edges. */
function connectedComponents(count: number, pairs: readonly NearDuplicatePair[]): number[][] {
  const parent = new Int32Array(count);
  for (let node = 0; node < count; node += 1) parent[node] = node;
  const root = (node: number): number => {
    let current = node;
    while (parent[current] !== current) {
      const grandparent = parent[parent[current]!]!;
      parent[current] = grandparent;
      current = grandparent;
    }
    return current;
  };
  const paired = new Uint8Array(count);
  // Attach the larger root under the smaller, so every root is its component's smallest index.
  for (const { a, b } of pairs) {
    paired[a] = 1;
    paired[b] = 1;
    const rootA = root(a);
    const rootB = root(b);
    if (rootA < rootB) parent[rootB] = rootA;
    else if (rootB < rootA) parent[rootA] = rootB;
  }
  // Visiting nodes in ascending order fills each cluster sorted and creates clusters in order of their first index.
  const clusters = new Map<number, number[]>();
  for (let node = 0; node < count; node += 1) {
    if (paired[node] === 0) continue;
    const key = root(node);
    const cluster = clusters.get(key);
    if (cluster === undefined) clusters.set(key, [node]);
    else cluster.push(node);
  }
  return [...clusters.values()];
}

/**
 * Cuts text into shingles and hashes them into a reusable buffer, so signing a text allocates
 * nothing in the common case. A shingle's hash is FNV-1a over the UTF-16 code units of its
 * normalized form (words joined by one space) followed by the MurmurHash3 finalizer, stored as
 * int32 so the permutation loop stays in integer arithmetic.
 *
 * Word shingles of pure-ASCII text skip building the normalized string: for ASCII, NFKC changes
 * nothing, lowercasing maps A–Z to a–z and every character other than a letter or digit separates
 * words, so hashing the raw token ranges lowercased, joined by one space, gives the same hashes.
 */
class ShingleScanner {
  hashes = new Int32Array(256);
  private tokenStarts = new Int32Array(256);
  private tokenEnds = new Int32Array(256);

  /** Fill `hashes` with one hash per shingle position of the normalized text; return how many. */
  scan(text: string, size: number, unit: ShingleOptions['unit']): number {
    if (unit === 'char') return this.scanCharacters(normalizeForOverlap(text), size);
    let tokens = this.tokenizeAscii(text);
    let source = text;
    if (tokens < 0) {
      source = normalizeForOverlap(text);
      tokens = this.tokenizeNormalized(source);
    }
    if (tokens === 0) return 0;
    const starts = this.tokenStarts;
    const ends = this.tokenEnds;
    if (tokens < size) {
      this.hashes[0] = hashTokens(source, starts, ends, 0, tokens);
      return 1;
    }
    const count = tokens - size + 1;
    this.reserveHashes(count);
    const hashes = this.hashes;
    for (let first = 0; first < count; first += 1) hashes[first] = hashTokens(source, starts, ends, first, first + size);
    return count;
  }

  /** Token ranges of ASCII text (runs of letters and digits); -1 if the text is not pure ASCII. */
  private tokenizeAscii(text: string): number {
    let tokens = 0;
    let start = -1;
    const length = text.length;
    for (let position = 0; position < length; position += 1) {
      const code = text.charCodeAt(position);
      if (code >= 128) return -1;
      const isWordCharacter = (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57);
      if (isWordCharacter) {
        if (start < 0) start = position;
      } else if (start >= 0) {
        tokens = this.pushToken(tokens, start, position);
        start = -1;
      }
    }
    if (start >= 0) tokens = this.pushToken(tokens, start, length);
    return tokens;
  }

  /** Token ranges of normalized text: words separated by single spaces, none leading or trailing. */
  private tokenizeNormalized(normalized: string): number {
    if (normalized.length === 0) return 0;
    let tokens = 0;
    let start = 0;
    for (let position = 0; position <= normalized.length; position += 1) {
      if (position === normalized.length || normalized.charCodeAt(position) === 32) {
        tokens = this.pushToken(tokens, start, position);
        start = position + 1;
      }
    }
    return tokens;
  }

  private scanCharacters(normalized: string, size: number): number {
    const length = normalized.length;
    if (length === 0) return 0;
    const count = length < size ? 1 : length - size + 1;
    this.reserveHashes(count);
    const width = Math.min(size, length);
    for (let start = 0; start < count; start += 1) this.hashes[start] = hashRange(normalized, start, start + width);
    return count;
  }

  private pushToken(tokens: number, start: number, end: number): number {
    if (tokens === this.tokenStarts.length) {
      const starts = new Int32Array(tokens * 2);
      starts.set(this.tokenStarts);
      this.tokenStarts = starts;
      const ends = new Int32Array(tokens * 2);
      ends.set(this.tokenEnds);
      this.tokenEnds = ends;
    }
    this.tokenStarts[tokens] = start;
    this.tokenEnds[tokens] = end;
    return tokens + 1;
  }

  private reserveHashes(count: number): void {
    if (count <= this.hashes.length) return;
    let capacity = this.hashes.length;
    while (capacity < count) capacity *= 2;
    this.hashes = new Int32Array(capacity);
  }
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** The hash of tokens `first..end-1` joined by single spaces, with ASCII A–Z lowercased. */
function hashTokens(source: string, starts: Int32Array, ends: Int32Array, first: number, end: number): number {
  let hash = FNV_OFFSET;
  for (let token = first; token < end; token += 1) {
    if (token > first) hash = Math.imul(hash ^ 32, FNV_PRIME);
    const tokenEnd = ends[token]!;
    for (let position = starts[token]!; position < tokenEnd; position += 1) {
      let code = source.charCodeAt(position);
      if (code >= 65 && code <= 90) code += 32;
      hash = Math.imul(hash ^ code, FNV_PRIME);
    }
  }
  return finalizeHash(hash);
}

function hashRange(text: string, start: number, end: number): number {
  let hash = FNV_OFFSET;
  for (let position = start; position < end; position += 1) hash = Math.imul(hash ^ text.charCodeAt(position), FNV_PRIME);
  return finalizeHash(hash);
}

/** The MurmurHash3 32-bit finalizer: every input bit affects every output bit. */
function finalizeHash(value: number): number {
  let mixed = value;
  mixed ^= mixed >>> 16;
  mixed = Math.imul(mixed, 0x85ebca6b);
  mixed ^= mixed >>> 13;
  mixed = Math.imul(mixed, 0xc2b2ae35);
  mixed ^= mixed >>> 16;
  return mixed | 0;
}

/** A 32-bit hash of one band of a signature, as a bucket key (collisions are resolved by comparing values). */
function bandKey(signature: Uint32Array, start: number, rows: number, band: number): number {
  let hash = Math.imul(band + 1, 0x9e3779b1);
  for (let index = start; index < start + rows; index += 1) {
    let value = Math.imul(signature[index]!, 0xcc9e2d51);
    value = (value << 15) | (value >>> 17);
    hash ^= Math.imul(value, 0x1b873593);
    hash = (hash << 13) | (hash >>> 19);
    hash = (Math.imul(hash, 5) + 0xe6546b64) | 0;
  }
  return finalizeHash(hash ^ rows);
}

function rangeEquals(left: Uint32Array, leftStart: number, right: Uint32Array, rightStart: number, length: number): boolean {
  for (let index = 0; index < length; index += 1) if (left[leftStart + index] !== right[rightStart + index]) return false;
  return true;
}

/** Composite Simpson's rule; the S-curves here are smooth, so 256 intervals are ample. */
function integrate(integrand: (value: number) => number, from: number, to: number): number {
  const intervals = 256;
  const step = (to - from) / intervals;
  let sum = integrand(from) + integrand(to);
  for (let index = 1; index < intervals; index += 1) sum += integrand(from + index * step) * (index % 2 === 1 ? 4 : 2);
  return (sum * step) / 3;
}

function checkShingleSize(size: number): void {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`the shingle size must be a positive integer, got ${size}`);
}
