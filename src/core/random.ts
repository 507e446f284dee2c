/**
 * Seeded randomness for everything that must be reproducible: samples, splits, bootstrap
 * resamples. Nothing here reads the clock or `Math.random`.
 */

/** A source of uniform numbers in [0, 1); each call advances its state. */
export type RandomSource = () => number;

/** A seed: a number (integer part used) or a string hashed with {@link hashString}. */
export type Seed = number | string;

/**
 * A 32-bit FNV-1a hash of a string's UTF-16 code units, followed by a final avalanche mix so
 * that similar strings give unrelated seeds. Stable across platforms and Node versions.
 */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return mix32(hash);
}

/** Combine several parts (numbers or strings) into one 32-bit seed, e.g. `seedFrom(seed, label)`. */
export function seedFrom(...parts: readonly Seed[]): number {
  let state = 0x9e3779b9;
  for (const part of parts) {
    state = mix32(state ^ normalizeSeed(part));
    state = Math.imul(state, 0x85ebca6b) >>> 0;
  }
  return mix32(state);
}

/**
 * A mulberry32 generator: 32 bits of state, period 2^32, good enough statistical quality for
 * sampling and bootstrap resampling (not for cryptography).
 */
export function createRandom(seed: Seed): RandomSource {
  let state = normalizeSeed(seed);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A uniform integer in [0, maxExclusive). The bias from scaling 32 random bits is below
 * maxExclusive / 2^32, negligible for the sizes used here.
 */
export function randomInt(random: RandomSource, maxExclusive: number): number {
  if (!Number.isInteger(maxExclusive) || maxExclusive <= 0) throw new RangeError(`randomInt needs a positive integer bound, got ${maxExclusive}`);
  return Math.floor(random() * maxExclusive);
}

/** A shuffled copy (Fisher–Yates); the same items and seed always give the same order. */
export function shuffle<T>(items: readonly T[], seed: Seed | RandomSource): T[] {
  const random = typeof seed === 'function' ? seed : createRandom(seed);
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = randomInt(random, index + 1);
    const held = copy[index]!;
    copy[index] = copy[other]!;
    copy[other] = held;
  }
  return copy;
}

function normalizeSeed(seed: Seed): number {
  if (typeof seed === 'string') return hashString(seed);
  if (!Number.isFinite(seed)) throw new RangeError(`a seed must be a finite number, got ${seed}`);
  const integer = Math.trunc(seed);
  // Fold the bits above 2^32 in, so seeds that differ only there still differ.
  const high = Math.floor(integer / 4294967296);
  return ((integer >>> 0) ^ Math.imul(high >>> 0, 0x9e3779b1)) >>> 0;
}

/** The murmur3 32-bit finalizer: every input bit affects every output bit. */
function mix32(value: number): number {
  let mixed = value >>> 0;
  mixed ^= mixed >>> 16;
  mixed = Math.imul(mixed, 0x85ebca6b);
  mixed ^= mixed >>> 13;
  mixed = Math.imul(mixed, 0xc2b2ae35);
  mixed ^= mixed >>> 16;
  return mixed >>> 0;
}
