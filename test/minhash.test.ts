import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMinHasher, estimateJaccard, findNearDuplicates, lshParameters, MinHashLsh, shingles, type ShingleOptions } from '../src/core/minhash.ts';
import { createRandom, randomInt } from '../src/core/random.ts';

const WORD3: ShingleOptions = { size: 3, unit: 'word' };

/** `count` distinct words starting at `from`, e.g. words('w', 0, 3) = 'w0 w1 w2'. */
const words = (prefix: string, from: number, count: number): string => Array.from({ length: count }, (_, index) => `${prefix}${from + index}`).join(' ');

function exactJaccard(a: string, b: string, options: ShingleOptions = WORD3): number {
  const left = new Set(shingles(a, options));
  const right = new Set(shingles(b, options));
  let shared = 0;
  for (const hash of left) if (right.has(hash)) shared += 1;
  return shared / (left.size + right.size - shared);
}

function randomTexts(count: number, length: number, seed: number): string[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, () => Array.from({ length }, () => `tok${randomInt(random, 5000)}`).join(' '));
}

test('shingles count positions over normalized text, distinct, with short texts as one shingle', () => {
  const cases: Array<{ text: string; options: ShingleOptions; count: number }> = [
    { text: 'a b c d e', options: WORD3, count: 3 },
    { text: 'hello there', options: WORD3, count: 1 },
    { text: '', options: WORD3, count: 0 },
    { text: ' ?! ', options: WORD3, count: 0 },
    { text: 'a b a b a b', options: { size: 2, unit: 'word' }, count: 2 },
    { text: 'abcd', options: { size: 2, unit: 'char' }, count: 3 },
    { text: 'ab', options: { size: 5, unit: 'char' }, count: 1 },
    { text: 'one', options: { size: 1, unit: 'word' }, count: 1 },
  ];
  for (const { text, options, count } of cases) assert.equal(shingles(text, options).length, count, JSON.stringify({ text, options }));
});

test('shingles ignore case, punctuation, spacing and NFKC width, on the ASCII fast path and the general one alike', () => {
  const reference = shingles('hello world foo bar', WORD3);
  const variants = ['Hello, World!  foo -- BAR.', '  hello\tworld\nfoo bar ', 'ＨＥＬＬＯ world foo bar'];
  for (const variant of variants) assert.deepEqual(shingles(variant, WORD3), reference, variant);
  // A non-ASCII word goes through normalizeForOverlap and still hashes consistently.
  assert.deepEqual(shingles('Café au lait', WORD3), shingles('CAFÉ AU LAIT!', WORD3));
  assert.notDeepEqual(shingles('hello world foo baz', WORD3), reference);
});

test('identical texts estimate 1, disjoint ones about 0', () => {
  const hasher = createMinHasher({ numPerm: 128 });
  const text = words('w', 0, 40);
  assert.equal(estimateJaccard(hasher.signature(text), hasher.signature(`${text.toUpperCase()}!`)), 1);
  assert.ok(estimateJaccard(hasher.signature(words('w', 0, 40)), hasher.signature(words('x', 0, 40))) <= 0.05);
  assert.equal(estimateJaccard(hasher.signature(''), hasher.signature('')), 1, 'two empty texts are the same (empty) set');
  assert.throws(() => estimateJaccard(new Uint32Array(4), new Uint32Array(5)), RangeError);
});

test('the estimate lies within 0.1 of the exact shingle Jaccard (numPerm 256)', () => {
  // Texts of distinct words, so every 3-shingle is distinct and the Jaccard follows by counting.
  const cases: Array<{ name: string; a: string; b: string; jaccard: number }> = [
    // 48 and 48 shingles, the 38 inside w0..w39 shared.
    { name: 'shared prefix', a: words('w', 0, 50), b: `${words('w', 0, 40)} ${words('x', 0, 10)}`, jaccard: 38 / 58 },
    // 98 shingles each; the replaced word w50 breaks 3 shingles on each side.
    { name: 'one word replaced', a: words('w', 0, 100), b: `${words('w', 0, 50)} x ${words('w', 51, 49)}`, jaccard: 95 / 101 },
    // a: 58 shingles, b: 38 shingles, all of b's within a.
    { name: 'contained', a: words('w', 0, 60), b: words('w', 10, 40), jaccard: 38 / 58 },
    // a: 78, b: 78, overlap w40..w79 gives 38 shared.
    { name: 'half overlap', a: words('w', 0, 80), b: words('w', 40, 80), jaccard: 38 / 118 },
  ];
  const hasher = createMinHasher({ numPerm: 256, seed: 7 });
  for (const { name, a, b, jaccard } of cases) {
    assert.ok(Math.abs(exactJaccard(a, b) - jaccard) < 1e-12, `${name}: exact shingle Jaccard ${exactJaccard(a, b)}, expected ${jaccard}`);
    const estimate = estimateJaccard(hasher.signature(a), hasher.signature(b));
    assert.ok(Math.abs(estimate - jaccard) <= 0.1, `${name}: estimate ${estimate}, exact ${jaccard}`);
  }
});

test('the estimate is unbiased with the spread theory predicts over many random pairs', () => {
  const hasher = createMinHasher({ numPerm: 128, seed: 3 });
  const random = createRandom(11);
  let squaredError = 0;
  let error = 0;
  let expectedVariance = 0;
  const trials = 300;
  for (let trial = 0; trial < trials; trial += 1) {
    const base = Array.from({ length: 40 }, () => `t${randomInt(random, 3000)}`);
    const edited = [...base];
    const edits = randomInt(random, 10);
    for (let edit = 0; edit < edits; edit += 1) edited[randomInt(random, edited.length)] = `t${randomInt(random, 3000)}`;
    const exact = exactJaccard(base.join(' '), edited.join(' '));
    const estimate = estimateJaccard(hasher.signature(base.join(' ')), hasher.signature(edited.join(' ')));
    error += estimate - exact;
    squaredError += (estimate - exact) ** 2;
    expectedVariance += (exact * (1 - exact)) / 128;
  }
  assert.ok(Math.abs(error / trials) < 0.01, `mean error ${error / trials}`);
  assert.ok(Math.sqrt(squaredError / trials) < 1.25 * Math.sqrt(expectedVariance / trials), 'root mean squared error near √(J(1−J)/k)');
});

test('signatures are deterministic given the seed and differ across seeds', () => {
  const text = words('w', 0, 30);
  assert.deepEqual(createMinHasher({ seed: 5 }).signature(text), createMinHasher({ seed: 5 }).signature(text));
  assert.notDeepEqual(createMinHasher({ seed: 5 }).signature(text), createMinHasher({ seed: 6 }).signature(text));
  const odd = createMinHasher({ numPerm: 7 });
  assert.equal(odd.signature(text).length, 7, 'a length that is not a multiple of four');
  assert.deepEqual(odd.signature(text), createMinHasher({ numPerm: 8 }).signature(text).subarray(0, 7));
  assert.throws(() => createMinHasher({ numPerm: 0 }), RangeError);
});

test('lshParameters picks bands and rows like datasketch 2.0.0', () => {
  // Expected values: datasketch.MinHashLSH(threshold, num_perm).b and .r with the default weights.
  const cases: Array<{ threshold: number; numPerm: number; bands: number; rows: number }> = [
    { threshold: 0.8, numPerm: 128, bands: 9, rows: 13 },
    { threshold: 0.7, numPerm: 128, bands: 14, rows: 9 },
    { threshold: 0.9, numPerm: 128, bands: 5, rows: 25 },
    { threshold: 0.5, numPerm: 256, bands: 42, rows: 6 },
    { threshold: 0.8, numPerm: 256, bands: 17, rows: 15 },
  ];
  for (const { threshold, numPerm, bands, rows } of cases) {
    const chosen = lshParameters(threshold, numPerm);
    assert.deepEqual({ bands: chosen.bands, rows: chosen.rows }, { bands, rows }, `threshold ${threshold}, numPerm ${numPerm}`);
    assert.ok(chosen.bands * chosen.rows <= numPerm);
    assert.ok(chosen.falsePositive > 0 && chosen.falsePositive < 0.1 && chosen.falseNegative > 0 && chosen.falseNegative < 0.1);
  }
  const weighted = lshParameters(0.8, 128, { falsePositive: 0.1, falseNegative: 0.9 });
  assert.deepEqual({ bands: weighted.bands, rows: weighted.rows }, { bands: 14, rows: 9 }, 'datasketch weights=(0.1, 0.9)');
  // Weighting false negatives more lowers the S-curve's midpoint (1/b)^(1/r): more candidates.
  const midpoint = ({ bands, rows }: { bands: number; rows: number }): number => (1 / bands) ** (1 / rows);
  assert.ok(midpoint(lshParameters(0.8, 128, { falsePositive: 0.1, falseNegative: 0.9 })) < midpoint(lshParameters(0.8, 128)));
  for (const [threshold, numPerm] of [[0, 128], [1, 128], [0.8, 1], [Number.NaN, 128]] as const) assert.throws(() => lshParameters(threshold, numPerm), RangeError);
});

test('MinHashLsh finds an inserted signature, pairs each candidate once, and rejects misuse', () => {
  const hasher = createMinHasher({ numPerm: 128 });
  const index = new MinHashLsh<string>({ threshold: 0.8, numPerm: 128 });
  const base = words('w', 0, 60);
  index.insert('base', hasher.signature(base));
  index.insert('copy', hasher.signature(`${base}.`));
  index.insert('near', hasher.signature(`${words('w', 0, 59)} x`));
  index.insert('other', hasher.signature(words('y', 0, 60)));
  assert.equal(index.size, 4);
  assert.deepEqual({ bands: index.bands, rows: index.rows }, { bands: 9, rows: 13 });
  assert.deepEqual(index.query(hasher.signature(base)), ['base', 'copy', 'near']);
  assert.deepEqual(index.query(hasher.signature(words('z', 0, 60))), []);
  assert.deepEqual(index.candidatePairs(), [['base', 'copy'], ['base', 'near'], ['copy', 'near']]);
  assert.equal(index.similarity('base', 'copy'), 1);
  assert.deepEqual(index.signatureOf('base'), hasher.signature(base));
  assert.throws(() => index.insert('base', hasher.signature(base)), RangeError);
  assert.throws(() => index.query(new Uint32Array(64)), RangeError);
  assert.throws(() => index.similarity('base', 'missing'), RangeError);
  assert.throws(() => new MinHashLsh({ numPerm: 128, params: { bands: 20, rows: 7 } }), RangeError);
});

test('MinHashLsh grows past its initial capacity and keeps every bucket', () => {
  const hasher = createMinHasher({ numPerm: 32 });
  const index = new MinHashLsh<number>({ numPerm: 32, params: { bands: 8, rows: 4 } });
  const texts = randomTexts(3000, 12, 4);
  texts.forEach((text, position) => index.insert(position, hasher.signature(text)));
  for (const position of [0, 1023, 1024, 2999]) assert.ok(index.query(hasher.signature(texts[position]!)).includes(position));
});

test('findNearDuplicates finds planted near-duplicates and pairs no unrelated texts', () => {
  const texts = randomTexts(400, 30, 21);
  const planted = [
    { a: 3, b: 400, text: `${texts[3]!.toUpperCase()}!!` },
    { a: 10, b: 401, text: texts[10]!.replace(/\S+$/, 'changed') },
    { a: 10, b: 402, text: `${texts[10]!} extra` },
    { a: 57, b: 403, text: `intro ${texts[57]!}` },
  ];
  const all = [...texts, ...planted.map(({ text }) => text)];
  for (const { a, b } of planted) assert.ok(exactJaccard(all[a]!, all[b]!) >= 0.85, `planted pair ${a}-${b}`);
  const result = findNearDuplicates(all, { threshold: 0.8 });
  assert.deepEqual(
    result.pairs.map(({ a, b }) => [a, b]),
    [[3, 400], [10, 401], [10, 402], [57, 403], [401, 402]],
  );
  for (const { similarity } of result.pairs) assert.ok(similarity >= 0.8);
  assert.deepEqual(result.clusters, [[3, 400], [10, 401, 402], [57, 403]]);
  assert.deepEqual(findNearDuplicates(all, { threshold: 0.8 }), result, 'deterministic');
});

test('findNearDuplicates without verification keeps every LSH candidate, a superset of the verified pairs', () => {
  // Pairs with shingle Jaccard about 0.6, under the 0.7 threshold: some still share a band.
  const texts = randomTexts(60, 40, 8).flatMap((text) => {
    const tokens = text.split(' ');
    return [text, [...tokens.slice(0, 30), ...tokens.slice(30).map((token) => `${token}x`)].join(' ')];
  });
  const verified = findNearDuplicates(texts, { threshold: 0.7 });
  const unverified = findNearDuplicates(texts, { threshold: 0.7, verify: false });
  const key = ({ a, b }: { a: number; b: number }): string => `${a}-${b}`;
  const unverifiedKeys = new Set(unverified.pairs.map(key));
  for (const pair of verified.pairs) assert.ok(unverifiedKeys.has(key(pair)));
  assert.ok(unverified.pairs.some(({ similarity }) => similarity < 0.7), 'some candidate falls under the threshold');
  assert.ok(verified.pairs.every(({ similarity }) => similarity >= 0.7));
  assert.deepEqual(findNearDuplicates([]), { pairs: [], clusters: [] });
});
