/**
 * Seeded, label-stratified sampling and train/test splitting.
 *
 * Within each label, items are put in a seeded random order derived from the seed and the label
 * (so one label's picks do not change when another label is added or removed), and the first k
 * of that order are taken. Results keep the input order of the items, so the same input and seed
 * always give the same output, and a larger `perLabel` gives a superset of a smaller one.
 */
import { seedFrom, shuffle, type Seed } from './random.ts';

/** How many items to draw: a fixed count per label, or a total spread over labels by size. */
export type StratifiedSampleOptions = { perLabel: number; seed: Seed } | { total: number; seed: Seed };

/** How much goes to the test side: a fraction of every label, or a fixed count per label. */
export type StratifiedSplitOptions = { testFraction: number; seed: Seed } | { testPerLabel: number; seed: Seed };

/** The two disjoint sides of a split, each in input order. */
export interface StratifiedSplit<T> {
  train: T[];
  test: T[];
}

/**
 * Draw a stratified sample.
 * - `perLabel`: min(perLabel, size of label) items from every label.
 * - `total`: exactly `total` items, allocated to labels in proportion to their size (largest
 *   remainder, ties by label order); when `total` is at least the number of labels, every label
 *   gets at least one item, taken from the labels that are most over their exact quota (then
 *   from the largest labels).
 * Throws a RangeError when `total` exceeds the number of items.
 */
export function stratifiedSample<T>(items: readonly T[], labelOf: (item: T) => string, options: StratifiedSampleOptions): T[] {
  const groups = groupByLabel(items, labelOf);
  let counts: Map<string, number>;
  if ('perLabel' in options) {
    assertCount(options.perLabel, 'perLabel');
    counts = new Map([...groups].map(([label, indices]) => [label, Math.min(options.perLabel, indices.length)]));
  } else {
    assertCount(options.total, 'total');
    if (options.total > items.length) throw new RangeError(`cannot sample ${options.total} items from ${items.length}`);
    counts = proportionalAllocation(groups, options.total, options.total >= groups.size);
  }
  const chosen = chooseWithinLabels(groups, counts, options.seed);
  return items.filter((_, index) => chosen.has(index));
}

/**
 * Split items into disjoint train and test sides, stratified by label.
 * - `testFraction`: round(fraction × items) test items, allocated to labels in proportion to
 *   their size (largest remainder), so a label with very few items may have none on the test side.
 * - `testPerLabel`: min(testPerLabel, size of label) test items per label; a label with no more
 *   items than that has none left for training. The test side equals
 *   `stratifiedSample(items, labelOf, { perLabel: testPerLabel, seed })`.
 * Every item lands on exactly one side.
 */
export function stratifiedSplit<T>(items: readonly T[], labelOf: (item: T) => string, options: StratifiedSplitOptions): StratifiedSplit<T> {
  const groups = groupByLabel(items, labelOf);
  let counts: Map<string, number>;
  if ('testPerLabel' in options) {
    assertCount(options.testPerLabel, 'testPerLabel');
    counts = new Map([...groups].map(([label, indices]) => [label, Math.min(options.testPerLabel, indices.length)]));
  } else {
    if (!(options.testFraction >= 0 && options.testFraction <= 1)) throw new RangeError(`testFraction must be in [0, 1], got ${options.testFraction}`);
    counts = proportionalAllocation(groups, Math.round(options.testFraction * items.length), false);
  }
  const chosen = chooseWithinLabels(groups, counts, options.seed);
  const split: StratifiedSplit<T> = { train: [], test: [] };
  items.forEach((item, index) => (chosen.has(index) ? split.test : split.train).push(item));
  return split;
}

/** Item indices per label, labels in sorted (UTF-16 code unit) order. */
function groupByLabel<T>(items: readonly T[], labelOf: (item: T) => string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  items.forEach((item, index) => {
    const label = labelOf(item);
    const group = groups.get(label);
    if (group === undefined) groups.set(label, [index]);
    else group.push(index);
  });
  return new Map([...groups].sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0)));
}

function chooseWithinLabels(groups: ReadonlyMap<string, readonly number[]>, counts: ReadonlyMap<string, number>, seed: Seed): Set<number> {
  const chosen = new Set<number>();
  for (const [label, indices] of groups) {
    const order = shuffle(indices, seedFrom(seed, label));
    for (const index of order.slice(0, counts.get(label) ?? 0)) chosen.add(index);
  }
  return chosen;
}

/**
 * Split `total` over labels in proportion to their sizes by the largest-remainder method, never
 * more than a label holds. With `atLeastOne`, labels left at zero get one item each, taken from
 * the labels whose allocation most exceeds their exact quota (then the largest labels).
 */
function proportionalAllocation(groups: ReadonlyMap<string, readonly number[]>, total: number, atLeastOne: boolean): Map<string, number> {
  const size = [...groups.values()].reduce((sum, indices) => sum + indices.length, 0);
  const entries = [...groups].map(([label, indices], order) => {
    const quota = size === 0 ? 0 : (total * indices.length) / size;
    return { label, order, quota, count: Math.floor(quota), available: indices.length };
  });
  let remaining = total - entries.reduce((sum, entry) => sum + entry.count, 0);
  const byRemainder = [...entries].sort((left, right) => right.quota - right.count - (left.quota - left.count) || left.order - right.order);
  for (const entry of byRemainder) {
    if (remaining === 0) break;
    if (entry.count < entry.available) {
      entry.count += 1;
      remaining -= 1;
    }
  }
  if (atLeastOne) {
    for (const entry of entries) {
      if (entry.count > 0 || entry.available === 0) continue;
      const donor = entries
        .filter((candidate) => candidate.count > 1)
        .sort((left, right) => right.count - right.quota - (left.count - left.quota) || right.quota - left.quota || left.order - right.order)[0];
      if (donor === undefined) break;
      donor.count -= 1;
      entry.count = 1;
    }
  }
  return new Map(entries.map((entry) => [entry.label, entry.count]));
}

function assertCount(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}
