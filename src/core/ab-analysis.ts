import { normalCdf, normalQuantile, percentile, wilsonInterval } from './statistics.ts';

/** One served (or attempted) call of an experiment, reduced to what the analysis needs. */
export interface ArmOutcome {
  arm: 'incumbent' | 'candidate';
  /** Milliseconds since the epoch. */
  at: number;
  /** 0-1 (feedback score, or 1/0 for an answer that passes/fails the task's validator); null: unknown. */
  quality: number | null;
  costUsd: number | null;
  latencyMs: number;
  error: boolean;
  /** The incumbent answered because the candidate failed: the unit was assigned to the candidate. */
  fallback: boolean;
  shadow: boolean;
  /** The experiment unit (a hash of the user or session key the arm was assigned by); absent: count requests. */
  unit?: string | null;
}

export interface ArmSummary {
  calls: number;
  errors: number;
  fallbacks: number;
  scored: number;
  quality: number | null;
  qualityLow: number | null;
  qualityHigh: number | null;
  costPer1000Usd: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
}

export interface SampleRatioCheck {
  /** What is counted: assignment units (users or sessions, each once, in the arm of its first request), or requests where the log has no units. */
  counting: 'units' | 'requests';
  incumbent: number;
  candidate: number;
  expectedCandidateShare: number;
  chiSquare: number;
  pValue: number;
  /** p < 0.001: the assignment is broken somewhere (a filter, a crash on one arm, a breaker); do not trust the comparison. */
  mismatch: boolean;
}

export interface SequentialTest {
  /** Candidate minus incumbent quality. */
  difference: number;
  /** 95% interval of the difference at this sample (normal approximation). */
  low: number;
  high: number;
  /** Always-valid p-value of the mixture SPRT: safe to read after every request (peeking does not inflate errors). */
  pValue: number;
  /** Scored outcomes per arm. */
  n: { incumbent: number; candidate: number };
  tau: number;
}

export type Recommendation = 'PROMOTE' | 'KEEP RUNNING' | 'ROLL BACK';

export interface ExperimentAnalysis {
  arms: { incumbent: ArmSummary; candidate: ArmSummary };
  srm: SampleRatioCheck | null;
  sequential: SequentialTest | null;
  recommendation: Recommendation;
  reason: string;
}

export interface AnalysisOptions {
  /** The candidate's configured share at a time (ramp-aware); null in shadow mode (no split to check). */
  expectedCandidateShare: ((at: number) => number) | null;
  alpha?: number;
  /** Mixing scale of the mSPRT prior on the difference (a plausible effect size). */
  tau?: number;
  /** Scored outcomes per arm before a non-inferior candidate may be promoted. */
  minPerArm?: number;
  /** The quality the candidate may lose and still be promoted when it is cheaper or faster (non-inferiority margin). */
  margin?: number;
}

function summarize(outcomes: readonly ArmOutcome[]): ArmSummary {
  const answered = outcomes.filter((outcome) => !outcome.error);
  const scored = outcomes.flatMap((outcome) => (outcome.quality === null ? [] : [outcome.quality]));
  const priced = answered.flatMap((outcome) => (outcome.costUsd === null ? [] : [outcome.costUsd]));
  const latencies = answered.map((outcome) => outcome.latencyMs);
  let quality: number | null = null;
  let low: number | null = null;
  let high: number | null = null;
  if (scored.length > 0) {
    quality = scored.reduce((sum, value) => sum + value, 0) / scored.length;
    if (scored.every((value) => value === 0 || value === 1)) {
      const interval = wilsonInterval(scored.filter((value) => value === 1).length, scored.length);
      low = interval.low;
      high = interval.high;
    } else {
      const variance = scored.reduce((sum, value) => sum + (value - quality!) ** 2, 0) / Math.max(1, scored.length - 1);
      const half = 1.959964 * Math.sqrt(variance / scored.length);
      low = Math.max(0, quality - half);
      high = Math.min(1, quality + half);
    }
  }
  return {
    calls: outcomes.length,
    errors: outcomes.length - answered.length,
    fallbacks: outcomes.filter((outcome) => outcome.fallback).length,
    scored: scored.length,
    quality,
    qualityLow: low,
    qualityHigh: high,
    costPer1000Usd: priced.length === 0 ? null : (priced.reduce((sum, value) => sum + value, 0) / priced.length) * 1000,
    latencyP50Ms: latencies.length === 0 ? null : percentile(latencies, 50),
    latencyP95Ms: latencies.length === 0 ? null : percentile(latencies, 95),
  };
}

/** Chi-square goodness of fit (1 degree of freedom) of the observed split against the configured one. */
export function sampleRatioCheck(incumbent: number, candidate: number, expectedCandidateShare: number, counting: SampleRatioCheck['counting'] = 'units'): SampleRatioCheck {
  const total = incumbent + candidate;
  const expectedCandidate = total * expectedCandidateShare;
  const expectedIncumbent = total - expectedCandidate;
  let chiSquare = 0;
  if (expectedCandidate > 0) chiSquare += (candidate - expectedCandidate) ** 2 / expectedCandidate;
  else if (candidate > 0) chiSquare = Number.POSITIVE_INFINITY;
  if (expectedIncumbent > 0) chiSquare += (incumbent - expectedIncumbent) ** 2 / expectedIncumbent;
  else if (incumbent > 0) chiSquare = Number.POSITIVE_INFINITY;
  const pValue = Number.isFinite(chiSquare) ? 2 * (1 - normalCdf(Math.sqrt(chiSquare))) : 0;
  return { counting, incumbent, candidate, expectedCandidateShare, chiSquare, pValue, mismatch: pValue < 0.001 };
}

/**
 * The mixture sequential probability ratio test for a difference of two means (Johari, Pekelis and Walsh, "Always
 * valid inference", 2017), with a normal mixing distribution N(0, tau²) on the difference: after each scored outcome,
 * Λ = sqrt(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²))), with θ̂ the difference of means and V its variance; the
 * always-valid p-value is the running minimum of 1/Λ.
 */
export function mixtureSequentialTest(outcomes: readonly ArmOutcome[], tau: number): SequentialTest | null {
  const scored = outcomes.filter((outcome) => outcome.quality !== null).sort((left, right) => left.at - right.at);
  const sums = { incumbent: { n: 0, sum: 0, squares: 0 }, candidate: { n: 0, sum: 0, squares: 0 } };
  let pValue = 1;
  const varianceOf = (arm: { n: number; sum: number; squares: number }): number => {
    const meanValue = arm.sum / arm.n;
    const sample = arm.n > 1 ? (arm.squares - arm.n * meanValue * meanValue) / (arm.n - 1) : 0.25;
    // Smoothed so that an arm with all-equal scores early on does not claim zero variance.
    const smoothed = ((arm.sum + 0.5) / (arm.n + 1)) * (1 - (arm.sum + 0.5) / (arm.n + 1));
    return Math.max(sample, smoothed, 1e-6);
  };
  for (const outcome of scored) {
    const arm = sums[outcome.arm];
    arm.n += 1;
    arm.sum += outcome.quality!;
    arm.squares += outcome.quality! ** 2;
    if (sums.incumbent.n < 2 || sums.candidate.n < 2) continue;
    const theta = sums.candidate.sum / sums.candidate.n - sums.incumbent.sum / sums.incumbent.n;
    const variance = varianceOf(sums.candidate) / sums.candidate.n + varianceOf(sums.incumbent) / sums.incumbent.n;
    const logLambda = 0.5 * Math.log(variance / (variance + tau * tau)) + (tau * tau * theta * theta) / (2 * variance * (variance + tau * tau));
    pValue = Math.min(pValue, Math.min(1, Math.exp(-logLambda)));
  }
  if (sums.incumbent.n < 2 || sums.candidate.n < 2) return null;
  const difference = sums.candidate.sum / sums.candidate.n - sums.incumbent.sum / sums.incumbent.n;
  const variance = varianceOf(sums.candidate) / sums.candidate.n + varianceOf(sums.incumbent) / sums.incumbent.n;
  const half = normalQuantile(0.975) * Math.sqrt(variance);
  return { difference, low: difference - half, high: difference + half, pValue, n: { incumbent: sums.incumbent.n, candidate: sums.candidate.n }, tau };
}

/** Each unit's first outcome (by time). */
function firstPerUnit(outcomes: readonly ArmOutcome[]): ArmOutcome[] {
  const first = new Map<string, ArmOutcome>();
  for (const outcome of outcomes) {
    const seen = first.get(outcome.unit!);
    if (seen === undefined || outcome.at < seen.at) first.set(outcome.unit!, outcome);
  }
  return [...first.values()];
}

export function analyzeExperiment(outcomes: readonly ArmOutcome[], options: AnalysisOptions): ExperimentAnalysis {
  const alpha = options.alpha ?? 0.05;
  const minPerArm = options.minPerArm ?? 100;
  const margin = options.margin ?? 0.02;
  const incumbent = outcomes.filter((outcome) => outcome.arm === 'incumbent');
  const candidate = outcomes.filter((outcome) => outcome.arm === 'candidate');
  const arms = { incumbent: summarize(incumbent), candidate: summarize(candidate) };

  let srm: SampleRatioCheck | null = null;
  if (options.expectedCandidateShare !== null) {
    // Assignments, not answers served: a fallback answer belongs to a candidate unit, already counted by its failed attempt.
    const assigned = outcomes.filter((outcome) => !outcome.shadow && !(outcome.arm === 'incumbent' && outcome.fallback));
    // With sticky assignment the independent draws are the units (a user's requests all go one way): count each unit
    // once, in the arm and at the time of its first request. Requests only when the log has no units.
    const byUnit = assigned.every((outcome) => typeof outcome.unit === 'string');
    const counted = byUnit ? firstPerUnit(assigned) : assigned;
    const share = counted.length === 0 ? 0 : counted.reduce((sum, outcome) => sum + options.expectedCandidateShare!(outcome.at), 0) / counted.length;
    srm = sampleRatioCheck(counted.filter((outcome) => outcome.arm === 'incumbent').length, counted.filter((outcome) => outcome.arm === 'candidate').length, share, byUnit ? 'units' : 'requests');
  }
  // The comparison: candidate attempts (failures score 0) against the incumbent's own units.
  const compared = outcomes
    .filter((outcome) => !(outcome.arm === 'incumbent' && outcome.fallback))
    .map((outcome) => (outcome.arm === 'candidate' && outcome.error ? { ...outcome, quality: 0 } : outcome));
  const sequential = mixtureSequentialTest(compared, options.tau ?? 0.1);

  const pct = (value: number): string => `${(value * 100).toFixed(1)} points`;
  let recommendation: Recommendation = 'KEEP RUNNING';
  let reason: string;
  if (srm?.mismatch === true) {
    reason = `sample ratio mismatch: ${srm.candidate} candidate vs ${srm.incumbent} incumbent ${srm.counting} where ${(srm.expectedCandidateShare * 100).toFixed(1)}% should be candidate (p = ${srm.pValue.toPrecision(2)}); find the cause before trusting any comparison`;
  } else if (sequential === null) {
    reason = 'not enough scored outcomes on both arms yet (feedback or automatic scoring)';
  } else if (sequential.pValue < alpha && sequential.difference < 0) {
    recommendation = 'ROLL BACK';
    reason = `the candidate is worse: ${pct(sequential.difference)} quality (always-valid p = ${sequential.pValue.toPrecision(2)})`;
  } else if (sequential.pValue < alpha && sequential.difference > 0) {
    recommendation = 'PROMOTE';
    reason = `the candidate is better: +${pct(sequential.difference)} quality (always-valid p = ${sequential.pValue.toPrecision(2)})`;
  } else if (sequential.n.candidate >= minPerArm && sequential.n.incumbent >= minPerArm && sequential.low > -margin) {
    const cheaper = arms.candidate.costPer1000Usd !== null && arms.incumbent.costPer1000Usd !== null && arms.candidate.costPer1000Usd < arms.incumbent.costPer1000Usd;
    const faster = arms.candidate.latencyP50Ms !== null && arms.incumbent.latencyP50Ms !== null && arms.candidate.latencyP50Ms < arms.incumbent.latencyP50Ms;
    if (cheaper || faster) {
      recommendation = 'PROMOTE';
      reason = `quality held (difference ${pct(sequential.difference)}, interval above −${pct(margin)}) and the candidate is ${[cheaper ? 'cheaper' : '', faster ? 'faster' : ''].filter(Boolean).join(' and ')}`;
    } else reason = `quality held, but the candidate is neither cheaper nor faster`;
  } else {
    reason = `no decision yet: difference ${pct(sequential.difference)} [${pct(sequential.low)}, ${pct(sequential.high)}], always-valid p = ${sequential.pValue.toPrecision(2)}, ${sequential.n.candidate} / ${sequential.n.incumbent} scored`;
  }
  return { arms, srm, sequential, recommendation, reason };
}
