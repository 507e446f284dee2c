/**
 * The statistics behind every comparison Understudy reports: paired bootstrap intervals, the
 * exact McNemar test, Wilson intervals, Holm's correction for several comparisons, sample-size
 * estimates, percentiles and the normal CDF and its inverse. Pure and seeded: the same inputs and
 * seed always give the same numbers.
 */
import { createRandom, randomInt, type Seed } from './random.ts';

/** A point estimate with a two-sided percentile interval. */
export interface BootstrapInterval {
  /** The statistic on the full sample (for paired designs: b minus a). */
  difference: number;
  low: number;
  high: number;
  iterations: number;
  confidenceLevel: number;
}

/** Options shared by the bootstrap functions. */
export interface BootstrapOptions {
  /** Resamples to draw; default 10000. */
  iterations?: number;
  seed: Seed;
  /** Two-sided coverage of the interval; default 0.95. */
  confidenceLevel?: number;
}

/** Two paired samples: `a[i]` and `b[i]` were measured on the same example `i`. */
export interface PairedBootstrapOptions extends BootstrapOptions {
  a: readonly number[];
  b: readonly number[];
  /** Summary of one sample; default the mean (so 0/1 correctness gives accuracy). */
  statistic?: (values: readonly number[]) => number;
}

/** A metric of a resample, given the example indices drawn (with repeats) for it. */
export interface IndexBootstrapOptions extends BootstrapOptions {
  /** Number of examples; indices run from 0 to n − 1. */
  n: number;
  /**
   * The quantity to bootstrap for a set of example indices, e.g. macro-F1 of b minus macro-F1 of
   * a over those examples. The array is reused between calls: read it, don't keep it.
   */
  metric: (indices: readonly number[]) => number;
}

/** The exact McNemar test on paired correctness. */
export interface McNemarResult {
  /** Examples that a got wrong and b got right. */
  b01: number;
  /** Examples that a got right and b got wrong. */
  b10: number;
  /** Exact two-sided p-value: min(1, 2·P(X ≤ min(b01, b10))) with X ~ Bin(b01 + b10, 1/2). */
  pValue: number;
}

/** A proportion with its confidence interval. */
export interface ProportionInterval {
  estimate: number;
  low: number;
  high: number;
}

const DEFAULT_ITERATIONS = 10_000;
const DEFAULT_CONFIDENCE = 0.95;

/**
 * Paired percentile bootstrap of statistic(b) − statistic(a). Each resample draws n example
 * indices with replacement and uses them for both samples, which keeps the pairing (the
 * per-example correlation between a and b) and makes the interval much tighter than an
 * unpaired one when a and b succeed on the same examples.
 */
export function pairedBootstrap(options: PairedBootstrapOptions): BootstrapInterval {
  const { a, b, statistic } = options;
  if (a.length !== b.length) throw new RangeError(`paired samples differ in length (${a.length} vs ${b.length})`);
  if (statistic === undefined) {
    // Means of a resample, summed directly: no arrays per resample.
    const difference = b.map((value, index) => value - a[index]!);
    return pairedBootstrapOverIndices({
      ...options,
      n: a.length,
      metric: (indices) => {
        let sum = 0;
        for (const index of indices) sum += difference[index]!;
        return sum / indices.length;
      },
    });
  }
  return pairedBootstrapOverIndices({
    ...options,
    n: a.length,
    metric: (indices) => statistic(indices.map((index) => b[index]!)) - statistic(indices.map((index) => a[index]!)),
  });
}

/**
 * Percentile bootstrap of any metric of example indices: `difference` is the metric over all
 * examples in order, `low`/`high` the percentiles of the metric over `iterations` resamples of
 * n indices drawn with replacement. Use it for paired differences of metrics that are not means
 * of per-example values, such as macro-F1.
 */
export function pairedBootstrapOverIndices(options: IndexBootstrapOptions): BootstrapInterval {
  const { n, metric } = options;
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  const confidenceLevel = options.confidenceLevel ?? DEFAULT_CONFIDENCE;
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`the bootstrap needs at least one example, got n=${n}`);
  if (!Number.isInteger(iterations) || iterations <= 0) throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
  assertConfidence(confidenceLevel);

  const all = Array.from({ length: n }, (_, index) => index);
  const difference = metric(all);
  const random = createRandom(options.seed);
  const indices = new Array<number>(n).fill(0);
  const replicates = new Float64Array(iterations);
  for (let iteration = 0; iteration < iterations; iteration += 1) {
    for (let draw = 0; draw < n; draw += 1) indices[draw] = randomInt(random, n);
    replicates[iteration] = metric(indices);
  }
  replicates.sort();
  const tail = (1 - confidenceLevel) / 2;
  return {
    difference,
    low: percentileOfSorted(replicates, 100 * tail),
    high: percentileOfSorted(replicates, 100 * (1 - tail)),
    iterations,
    confidenceLevel,
  };
}

/**
 * Exact (binomial) McNemar test of whether a and b have the same error rate on paired examples.
 * Only discordant pairs carry information; with none, p = 1. Tails are summed in log space, so
 * thousands of pairs neither overflow nor underflow midway (a p-value below ~1e-308 is 0).
 */
export function mcnemarExact(aCorrect: readonly boolean[], bCorrect: readonly boolean[]): McNemarResult {
  if (aCorrect.length !== bCorrect.length) throw new RangeError(`paired samples differ in length (${aCorrect.length} vs ${bCorrect.length})`);
  let b01 = 0;
  let b10 = 0;
  for (let index = 0; index < aCorrect.length; index += 1) {
    if (!aCorrect[index] && bCorrect[index]) b01 += 1;
    else if (aCorrect[index] && !bCorrect[index]) b10 += 1;
  }
  const discordant = b01 + b10;
  if (discordant === 0) return { b01, b10, pValue: 1 };
  const tail = Math.exp(logBinomialCdf(Math.min(b01, b10), discordant, 0.5));
  return { b01, b10, pValue: Math.min(1, 2 * tail) };
}

/** P(X ≤ k) for X ~ Binomial(n, p). */
export function binomialCdf(k: number, n: number, p: number): number {
  return Math.exp(logBinomialCdf(k, n, p));
}

/** ln P(X ≤ k) for X ~ Binomial(n, p), summed with log-sum-exp so no term under- or overflows. */
export function logBinomialCdf(k: number, n: number, p: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`p must be in [0, 1], got ${p}`);
  if (k < 0) return -Infinity;
  const top = Math.min(Math.floor(k), n);
  if (top === n) return 0;
  if (p === 0) return 0;
  if (p === 1) return -Infinity;
  const logP = Math.log(p);
  const logQ = Math.log1p(-p);
  const logNFactorial = logGamma(n + 1);
  const terms: number[] = [];
  let largest = -Infinity;
  for (let i = 0; i <= top; i += 1) {
    const term = logNFactorial - logGamma(i + 1) - logGamma(n - i + 1) + i * logP + (n - i) * logQ;
    terms.push(term);
    largest = Math.max(largest, term);
  }
  let sum = 0;
  for (const term of terms) sum += Math.exp(term - largest);
  return Math.min(0, largest + Math.log(sum));
}

/**
 * ln Γ(x) for x > 0: the Stirling series to the x⁻¹³ term after shifting x up to at least 10,
 * accurate to about 1e-15 relative.
 */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`logGamma needs x > 0, got ${x}`);
  let shifted = x;
  let product = 1;
  while (shifted < 10) {
    product *= shifted;
    shifted += 1;
  }
  const inverse = 1 / shifted;
  const inverseSquared = inverse * inverse;
  const series = inverse * (1 / 12 + inverseSquared * (-1 / 360 + inverseSquared * (1 / 1260 + inverseSquared * (-1 / 1680 + inverseSquared * (1 / 1188 + inverseSquared * (-691 / 360360 + inverseSquared * (1 / 156)))))));
  const stirling = (shifted - 0.5) * Math.log(shifted) - shifted + 0.5 * Math.log(2 * Math.PI) + series;
  return stirling - Math.log(product);
}

/**
 * Wilson score interval for a binomial proportion (Newcombe 1998, method 3), the same numbers as
 * `scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`. With n = 0 it is [0, 1].
 */
export function wilsonInterval(successes: number, n: number, confidenceLevel: number = DEFAULT_CONFIDENCE): ProportionInterval {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(successes) || successes < 0 || successes > n) throw new RangeError(`successes must be an integer in [0, ${n}], got ${successes}`);
  assertConfidence(confidenceLevel);
  if (n === 0) return { estimate: 0, low: 0, high: 1 };
  const estimate = successes / n;
  const z = normalQuantile(0.5 + 0.5 * confidenceLevel);
  const zSquared = z * z;
  const denominator = 2 * (n + zSquared);
  const center = (2 * n * estimate + zSquared) / denominator;
  const delta = (z / denominator) * Math.sqrt(4 * n * estimate * (1 - estimate) + zSquared);
  return {
    estimate,
    low: successes === 0 ? 0 : Math.max(0, center - delta),
    high: successes === n ? 1 : Math.min(1, center + delta),
  };
}

/** Arithmetic mean; throws on an empty array rather than returning NaN. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('the mean of no values is undefined');
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/**
 * The p-th percentile (p in [0, 100]) with linear interpolation between the two nearest ranks,
 * the same as `numpy.percentile(values, p)` (method "linear"). Throws on an empty array.
 */
export function percentile(values: readonly number[], p: number): number {
  return percentileOfSorted(sortedCopy(values), p);
}

/** The median and 95th percentile (numpy's linear method), sorting once. */
export function p50p95(values: readonly number[]): { p50: number; p95: number } {
  const sorted = sortedCopy(values);
  return { p50: percentileOfSorted(sorted, 50), p95: percentileOfSorted(sorted, 95) };
}

/**
 * Inverse of the standard normal CDF (the probit), by Wichura's algorithm AS 241 (PPND16,
 * Applied Statistics 37, 1988), about 1e-16 relative accuracy. Returns ∓Infinity at 0 and 1.
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`normalQuantile needs p in [0, 1], got ${p}`);
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * polynomial(r, CENTRAL_NUMERATOR)) / polynomial(r, CENTRAL_DENOMINATOR);
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let value: number;
  if (r <= 5) {
    r -= 1.6;
    value = polynomial(r, INTERMEDIATE_NUMERATOR) / polynomial(r, INTERMEDIATE_DENOMINATOR);
  } else {
    r -= 5;
    value = polynomial(r, TAIL_NUMERATOR) / polynomial(r, TAIL_DENOMINATOR);
  }
  return q < 0 ? -value : value;
}

// AS 241 coefficients (the published values rounded to the nearest double), lowest order first.
const CENTRAL_NUMERATOR = [
  3.3871328727963665, 133.14166789178438, 1971.5909503065513, 13731.69376550946, 45921.95393154987, 67265.7709270087,
  33430.57558358813, 2509.0809287301227,
];
const CENTRAL_DENOMINATOR = [
  1, 42.31333070160091, 687.1870074920579, 5394.196021424751, 21213.794301586597, 39307.89580009271, 28729.085735721943,
  5226.495278852546,
];
const INTERMEDIATE_NUMERATOR = [
  1.4234371107496835, 4.630337846156546, 5.769497221460691, 3.6478483247632045, 1.2704582524523684, 0.2417807251774506,
  0.022723844989269184, 0.0007745450142783414,
];
const INTERMEDIATE_DENOMINATOR = [
  1, 2.053191626637759, 1.6763848301838038, 0.6897673349851, 0.14810397642748008, 0.015198666563616457,
  0.0005475938084995345, 1.0507500716444169e-9,
];
const TAIL_NUMERATOR = [
  6.657904643501103, 5.463784911164114, 1.7848265399172913, 0.29656057182850487, 0.026532189526576124, 0.0012426609473880784,
  2.7115555687434876e-5, 2.0103343992922881e-7,
];
const TAIL_DENOMINATOR = [
  1, 0.599832206555888, 0.1369298809227358, 0.014875361290850615, 0.0007868691311456133, 1.8463183175100548e-5,
  1.421511758316446e-7, 2.0442631033899397e-15,
];

/** Horner evaluation of coefficients given lowest order first. */
function polynomial(x: number, coefficients: readonly number[]): number {
  let value = 0;
  for (let index = coefficients.length - 1; index >= 0; index -= 1) value = value * x + coefficients[index]!;
  return value;
}

function sortedCopy(values: readonly number[]): Float64Array {
  if (values.length === 0) throw new RangeError('the percentile of no values is undefined');
  for (const value of values) if (Number.isNaN(value)) throw new RangeError('percentile input contains NaN');
  return Float64Array.from(values).sort();
}

function percentileOfSorted(sorted: Float64Array, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile needs p in [0, 100], got ${p}`);
  const position = ((sorted.length - 1) * p) / 100;
  const lowerIndex = Math.floor(position);
  const lower = sorted[lowerIndex]!;
  const upper = sorted[Math.min(lowerIndex + 1, sorted.length - 1)]!;
  const fraction = position - lowerIndex;
  if (lower === upper) return lower;
  // numpy interpolates from whichever end is nearer, which keeps the result monotone in p.
  return fraction >= 0.5 ? upper - (upper - lower) * (1 - fraction) : lower + (upper - lower) * fraction;
}

function assertConfidence(confidenceLevel: number): void {
  if (!(confidenceLevel > 0 && confidenceLevel < 1)) throw new RangeError(`confidenceLevel must be in (0, 1), got ${confidenceLevel}`);
}

/** Options of `pairedPermutationTest`. */
export interface PairedPermutationOptions {
  /** Number of paired examples. */
  n: number;
  /**
   * The statistic when the examples flagged in `swapped` have their a and b outputs exchanged,
   * e.g. F1(b) − F1(a) with those examples' outputs traded. The array is reused: read it, don't keep it.
   */
  statistic: (swapped: readonly boolean[]) => number;
  /** Random relabellings when 2^n is larger; default 10000. Every relabelling is enumerated when 2^n ≤ iterations. */
  iterations?: number;
  seed: Seed;
}

/** A two-sided paired permutation test's result. */
export interface PermutationTestResult {
  /** The statistic with nothing swapped. */
  observed: number;
  pValue: number;
  /** Whether all 2^n relabellings were enumerated (then `pValue` is exact). */
  exact: boolean;
  iterations: number;
}

/**
 * Paired permutation (approximate randomization) test of "a and b are exchangeable": under that null hypothesis each
 * example's two outputs could have come from either system, so swapping them at random gives the statistic's null
 * distribution. Two-sided: p = share of relabellings with |statistic| ≥ |observed| (a 1e-12 relative tolerance counts
 * ties as extreme). Exact when 2^n ≤ iterations (every relabelling, as `scipy.stats.permutation_test(...,
 * permutation_type="samples")` does then); otherwise Monte Carlo with p = (k + 1) / (iterations + 1), which is never 0.
 * Use it for metrics that are not a per-example pass/fail (F1, macro-F1), where McNemar does not apply.
 */
export function pairedPermutationTest(options: PairedPermutationOptions): PermutationTestResult {
  const { n, statistic } = options;
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`the permutation test needs at least one example, got n=${n}`);
  if (!Number.isInteger(iterations) || iterations <= 0) throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
  const swapped = new Array<boolean>(n).fill(false);
  const observed = statistic(swapped);
  const threshold = Math.abs(observed) * (1 - 1e-12) - 1e-15;
  const extreme = (value: number): boolean => Math.abs(value) >= threshold;
  if (n <= 30 && 2 ** n <= iterations) {
    const total = 2 ** n;
    let count = 0;
    for (let mask = 0; mask < total; mask += 1) {
      for (let index = 0; index < n; index += 1) swapped[index] = ((mask >>> index) & 1) === 1;
      if (extreme(statistic(swapped))) count += 1;
    }
    return { observed, pValue: count / total, exact: true, iterations: total };
  }
  const random = createRandom(options.seed);
  let count = 0;
  for (let iteration = 0; iteration < iterations; iteration += 1) {
    for (let index = 0; index < n; index += 1) swapped[index] = random() < 0.5;
    if (extreme(statistic(swapped))) count += 1;
  }
  return { observed, pValue: (count + 1) / (iterations + 1), exact: false, iterations };
}

/**
 * Holm–Bonferroni step-down adjusted p-values, in the order given: sort ascending, multiply the
 * i-th smallest (0-based) by (m − i), carry the running maximum forward so the adjusted values
 * keep the order of the raw ones, and cap at 1. Reject hypothesis j at level α when
 * `adjusted[j] ≤ α`; this controls the family-wise error rate at α for any dependence between the
 * tests. The same numbers as `statsmodels.stats.multitest.multipletests(p, method="holm")[1]`.
 * Use it when one baseline is compared with several candidates (one McNemar p-value each).
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  for (const [index, value] of pValues.entries()) {
    if (!(value >= 0 && value <= 1)) throw new RangeError(`p-values must be in [0, 1], got ${value} at index ${index}`);
  }
  const m = pValues.length;
  const order = pValues.map((_, index) => index).sort((left, right) => pValues[left]! - pValues[right]! || left - right);
  const adjusted = new Array<number>(m).fill(0);
  let runningMaximum = 0;
  order.forEach((original, rank) => {
    runningMaximum = Math.max(runningMaximum, Math.min(1, (m - rank) * pValues[original]!));
    adjusted[original] = runningMaximum;
  });
  return adjusted;
}

/** How many examples a comparison needs to detect a difference; see `pairedSampleSize` and `unpairedSampleSize`. */
export interface SampleSizeEstimate {
  /** `paired`: both candidates answer the same examples; `unpaired`: each answers its own set. */
  design: 'paired' | 'unpaired';
  /** Examples needed, rounded up. Paired: examples in the one shared set; unpaired: examples per candidate. */
  examples: number;
  /** The solution before rounding up. */
  unrounded: number;
  /** The accuracy difference to detect (candidate minus baseline), as a fraction: 0.03 is 3 points. */
  difference: number;
  /** Two-sided significance level. */
  alpha: number;
  /** Probability of detecting the difference when it is real. */
  power: number;
}

/** A paired estimate also says which discordant rate it assumed. */
export interface PairedSampleSizeEstimate extends SampleSizeEstimate {
  design: 'paired';
  /** ψ: the fraction of examples where exactly one of the two candidates is right. */
  discordantRate: number;
  /** `given`: the caller's ψ; `upper-bound`: the largest ψ the two accuracies allow (the most examples). */
  discordantRateSource: 'given' | 'upper-bound';
  /**
   * Examples needed at the smallest possible ψ = |difference| (the candidate never loses an example
   * the baseline got right): nobody can need fewer. Paired with `examples` it brackets the answer
   * when ψ is unknown.
   */
  fewestExamples: number;
}

/** Inputs of `pairedSampleSize`. */
export interface PairedSampleSizeOptions {
  /** Accuracy of the baseline, p_A, in [0, 1]. */
  baselineAccuracy: number;
  /** The difference to detect, δ = p_B − p_A (0.03 is 3 points); non-zero, and p_A + δ must be in [0, 1]. */
  difference: number;
  /**
   * ψ = P(exactly one candidate is right), in [|δ|, min(p_A + p_B, 2 − p_A − p_B)]. A previous run
   * gives it as (b01 + b10) / n from `mcnemarExact`. Unknown: the upper bound is used, which is
   * conservative (real fine-tunes usually disagree with their base far less often).
   */
  discordantRate?: number;
  /** Two-sided significance level; default 0.05. */
  alpha?: number;
  /** Default 0.8; must be in [0.5, 1). */
  power?: number;
}

/**
 * Examples needed for a McNemar test of paired correctness to detect an accuracy difference δ,
 * by the normal approximation of Connor (1987, Biometrics 43:207–211):
 *
 *     n = ( z_{1−α/2} · √ψ + z_{power} · √(ψ − δ²) )² / δ²
 *
 * where ψ = p01 + p10 is the discordant rate and δ = p01 − p10. Assumptions: examples are
 * independent, the two candidates answer the same examples, and the test is two-sided. Only ψ
 * and δ matter, not the accuracies themselves, except that they bound ψ when it is not given.
 * It approximates the exact (binomial) test that `mcnemarExact` runs, which is conservative: at
 * the returned n the exact test's power can fall up to about 2.5 points short of the power asked
 * (0.776 for 0.8 in the worst fixture case; see `exactTestPower` in
 * test/fixtures/scipy/expected.json), so treat n as "about".
 */
export function pairedSampleSize(options: PairedSampleSizeOptions): PairedSampleSizeEstimate {
  const { baselineAccuracy, difference } = options;
  const alpha = options.alpha ?? 0.05;
  const power = options.power ?? 0.8;
  assertAlphaPower(alpha, power);
  if (!(baselineAccuracy >= 0 && baselineAccuracy <= 1)) throw new RangeError(`baselineAccuracy must be in [0, 1], got ${baselineAccuracy}`);
  const candidateAccuracy = baselineAccuracy + difference;
  if (!Number.isFinite(difference) || difference === 0) throw new RangeError(`difference must be a non-zero number, got ${difference}`);
  if (!(candidateAccuracy >= -1e-12 && candidateAccuracy <= 1 + 1e-12)) {
    throw new RangeError(`baselineAccuracy + difference must be in [0, 1], got ${baselineAccuracy} + ${difference}`);
  }
  const smallest = Math.abs(difference);
  const largest = Math.min(baselineAccuracy + candidateAccuracy, 2 - baselineAccuracy - candidateAccuracy);
  const given = options.discordantRate;
  if (given !== undefined && !(given >= smallest - 1e-12 && given <= largest + 1e-12)) {
    throw new RangeError(
      `discordantRate must be in [${formatRate(smallest)}, ${formatRate(largest)}] for accuracies ${formatRate(baselineAccuracy)} and ${formatRate(candidateAccuracy)}, got ${given}`,
    );
  }
  const discordantRate = given ?? largest;
  const zAlpha = normalQuantile(1 - alpha / 2);
  const zPower = normalQuantile(power);
  const connor = (psi: number): number => (zAlpha * Math.sqrt(psi) + zPower * Math.sqrt(Math.max(0, psi - difference * difference))) ** 2 / (difference * difference);
  const unrounded = connor(discordantRate);
  return {
    design: 'paired',
    examples: Math.ceil(unrounded),
    unrounded,
    difference,
    alpha,
    power,
    discordantRate,
    discordantRateSource: given === undefined ? 'upper-bound' : 'given',
    fewestExamples: Math.ceil(connor(smallest)),
  };
}

/**
 * Examples per candidate for a two-sided test of two independent proportions p1 and p2, by the
 * normal approximation on Cohen's arcsine effect size h = |2·asin√p2 − 2·asin√p1| (which
 * stabilizes the variance of a proportion): the n solving
 *
 *     power = Φ(h·√(n/2) − z_{1−α/2}) + Φ(−h·√(n/2) − z_{1−α/2})
 *
 * (close to n = 2·((z_{1−α/2} + z_{power}) / h)²). The same numbers as statsmodels'
 * `NormalIndPower().solve_power(proportion_effectsize(p1, p2), alpha=α, power=power, ratio=1)`.
 * For candidates that answer the same examples, `pairedSampleSize` needs far fewer.
 */
export function unpairedSampleSize(p1: number, p2: number, alpha = 0.05, power = 0.8): SampleSizeEstimate {
  assertAlphaPower(alpha, power);
  for (const [name, value] of [['p1', p1], ['p2', p2]] as const) if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${value}`);
  const effect = Math.abs(2 * Math.asin(Math.sqrt(p2)) - 2 * Math.asin(Math.sqrt(p1)));
  if (effect === 0) throw new RangeError(`p1 and p2 must differ, both are ${p1}`);
  const critical = normalQuantile(1 - alpha / 2);
  // Solve for the noncentrality d = h·√(n/2) by Newton's method; the power is increasing in d > 0.
  let noncentrality = critical + normalQuantile(power);
  for (let step = 0; step < 50; step += 1) {
    const reached = normalCdf(noncentrality - critical) + normalCdf(-noncentrality - critical);
    const slope = normalDensity(noncentrality - critical) - normalDensity(noncentrality + critical);
    const change = (reached - power) / slope;
    noncentrality -= change;
    if (Math.abs(change) <= 1e-14 * noncentrality) break;
  }
  const unrounded = 2 * (noncentrality / effect) ** 2;
  return { design: 'unpaired', examples: Math.ceil(unrounded), unrounded, difference: p2 - p1, alpha, power };
}

/**
 * A sample-size estimate in plain words, e.g. "To detect a 3-point difference at 80% power you
 * need about 3,225 examples (paired: both candidates answer the same examples; two-sided α = 0.05)."
 * A paired estimate made without a discordant rate says it assumed the worst case and gives the
 * fewest examples that could do.
 */
export function sampleSizeSentence(estimate: SampleSizeEstimate | PairedSampleSizeEstimate): string {
  const points = formatPoints(Math.abs(estimate.difference) * 100);
  const count = estimate.examples.toLocaleString('en-US');
  const head = `To detect a ${points}-point difference at ${formatPoints(estimate.power * 100)}% power you need about ${count} examples`;
  const level = `two-sided α = ${estimate.alpha}`;
  if (estimate.design === 'unpaired') return `${head} per candidate (each on its own examples; ${level}).`;
  const paired = estimate as PairedSampleSizeEstimate;
  if (paired.discordantRateSource === 'given') {
    return `${head} (paired: both candidates answer the same examples, and they disagree on ${formatPoints(paired.discordantRate * 100)}% of them; ${level}).`;
  }
  return `${head} (paired; ${level}). That assumes the candidates disagree as often as their accuracies allow (${formatPoints(paired.discordantRate * 100)}% of examples); if they rarely disagree, as few as ${paired.fewestExamples.toLocaleString('en-US')} can do.`;
}

/**
 * The standard normal CDF Φ(x), with full relative accuracy in the lower tail (Φ(−30) ≈ 4.9e-198;
 * below about −38.5 it underflows to 0). A positive-term series for erf near 0, Lentz's continued
 * fraction for erfc in the tails.
 */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) throw new RangeError('normalCdf of NaN');
  const z = Math.abs(x) / Math.SQRT2;
  if (z < 2) {
    const erf = errorFunctionSeries(z);
    return x >= 0 ? 0.5 + 0.5 * erf : 0.5 - 0.5 * erf;
  }
  const halfComplement = 0.5 * complementaryErrorFunctionFraction(z);
  return x >= 0 ? 1 - halfComplement : halfComplement;
}

/** The standard normal density φ(x). */
export function normalDensity(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/** erf(z) = 2/√π · e^(−z²) · Σ 2ⁿ z^(2n+1) / (1·3·…·(2n+1)): positive terms, no cancellation; z ≥ 0. */
function errorFunctionSeries(z: number): number {
  const zSquared = z * z;
  let term = z;
  let sum = z;
  for (let n = 1; n < 200; n += 1) {
    term *= (2 * zSquared) / (2 * n + 1);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return ((2 / Math.sqrt(Math.PI)) * Math.exp(-zSquared) * sum);
}

/** erfc(z) for z ≥ 2 from the continued fraction e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …)))), by modified Lentz. */
function complementaryErrorFunctionFraction(z: number): number {
  const tiny = 1e-300;
  let value = z;
  let c = z;
  let d = 0;
  for (let k = 1; k < 500; k += 1) {
    const a = k / 2;
    d = z + a * d;
    d = d === 0 ? tiny : d;
    c = z + a / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    value *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-z * z) / (Math.sqrt(Math.PI) * value);
}

function assertAlphaPower(alpha: number, power: number): void {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  if (!(power >= 0.5 && power < 1)) throw new RangeError(`power must be in [0.5, 1), got ${power}`);
}

function formatRate(value: number): string {
  return String(Math.round(value * 1e6) / 1e6);
}

/** 3 → "3", 2.5 → "2.5", 3.333 → "3.3". */
function formatPoints(value: number): string {
  return String(Math.round(value * 10) / 10);
}
