import assert from 'node:assert/strict';
import test from 'node:test';
import { analyzeExperiment, mixtureSequentialTest, sampleRatioCheck, type ArmOutcome } from '../src/core/ab-analysis.ts';
import { createRandom } from '../src/core/random.ts';

const outcome = (arm: ArmOutcome['arm'], at: number, quality: number | null, extra: Partial<ArmOutcome> = {}): ArmOutcome => ({ arm, at, quality, costUsd: arm === 'candidate' ? 0.00002 : 0.0001, latencyMs: arm === 'candidate' ? 200 : 600, error: false, fallback: false, shadow: false, ...extra });

/** n outcomes per arm, interleaved in time, with the given quality sequences. */
function interleaved(n: number, incumbent: (index: number) => number, candidate: (index: number) => number): ArmOutcome[] {
  return Array.from({ length: n }, (_, index) => [outcome('incumbent', 2 * index, incumbent(index)), outcome('candidate', 2 * index + 1, candidate(index))]).flat();
}

test('sample ratio check: chi-square with one degree of freedom, as scipy.stats.chi2.sf gives', () => {
  assert.equal(sampleRatioCheck(500, 500, 0.5).pValue, 1);
  // chi2.sf(10, 1) = 0.0015654022580025
  const near = sampleRatioCheck(550, 450, 0.5);
  assert.ok(Math.abs(near.chiSquare - 10) < 1e-12);
  assert.ok(Math.abs(near.pValue - 0.0015654022580025) < 1e-6, String(near.pValue));
  assert.equal(near.mismatch, false);
  assert.equal(sampleRatioCheck(600, 400, 0.5).mismatch, true);
  // 10% weight: 900 / 100 is on target.
  assert.ok(sampleRatioCheck(900, 100, 0.1).pValue > 0.99);
});

test('the mixture SPRT finds a real difference, stays quiet on A/A traffic even when peeked at after every request', () => {
  const better = analyzeExperiment(interleaved(200, (index) => index % 2, () => 1), { expectedCandidateShare: () => 0.5 });
  assert.equal(better.recommendation, 'PROMOTE');
  assert.ok(better.sequential!.pValue < 1e-6 && Math.abs(better.sequential!.difference - 0.5) < 1e-12);
  const worse = analyzeExperiment(interleaved(200, () => 1, (index) => index % 2), { expectedCandidateShare: () => 0.5 });
  assert.equal(worse.recommendation, 'ROLL BACK');
  // Same quality: not enough evidence at 200 per arm; non-inferior and cheaper at 5,000 per arm (interval above -2 points).
  assert.equal(analyzeExperiment(interleaved(200, (index) => index % 2, (index) => index % 2), { expectedCandidateShare: () => 0.5 }).recommendation, 'KEEP RUNNING');
  const held = analyzeExperiment(interleaved(5000, (index) => index % 2, (index) => index % 2), { expectedCandidateShare: () => 0.5 });
  assert.equal(held.recommendation, 'PROMOTE');
  assert.match(held.reason, /quality held .* cheaper and faster/);

  // A/A: 200 experiments of 300 outcomes per arm at 70% quality; an always-valid test may be read after every
  // outcome and still rejects in at most about alpha of them.
  const random = createRandom(7);
  let rejected = 0;
  for (let experiment = 0; experiment < 200; experiment++) {
    const outcomes = interleaved(300, () => (random() < 0.7 ? 1 : 0), () => (random() < 0.7 ? 1 : 0));
    if (mixtureSequentialTest(outcomes, 0.1)!.pValue < 0.05) rejected += 1;
  }
  assert.ok(rejected <= 10, `${rejected} of 200 A/A experiments rejected`);
});

test('fallbacks count as candidate units for the split and candidate failures as zero quality; a broken split stops any recommendation', () => {
  const outcomes = [
    ...interleaved(100, () => 1, () => 1),
    outcome('candidate', 1000, null, { error: true }),
    outcome('incumbent', 1000, 1, { fallback: true }),
  ];
  const analysis = analyzeExperiment(outcomes, { expectedCandidateShare: () => 0.5 });
  assert.deepEqual([analysis.srm!.incumbent, analysis.srm!.candidate], [100, 101]);
  assert.deepEqual(analysis.sequential!.n, { incumbent: 100, candidate: 101 });
  assert.equal(analysis.arms.candidate.errors, 1);
  assert.equal(analysis.arms.incumbent.fallbacks, 1);
  const skewed = analyzeExperiment(interleaved(300, () => 1, () => 1).concat(Array.from({ length: 200 }, (_, index) => outcome('incumbent', 10_000 + index, 1))), { expectedCandidateShare: () => 0.5 });
  assert.equal(skewed.recommendation, 'KEEP RUNNING');
  assert.match(skewed.reason, /sample ratio mismatch/);
});

test('with units logged the split counts each user once, in the arm of its first request: heavy users do not fake a mismatch', () => {
  // 40 users each way (sticky); each incumbent user sends 10 requests, each candidate user 1.
  const outcomes = [
    ...Array.from({ length: 40 }, (_, user) => Array.from({ length: 10 }, (_, turn) => ({ ...outcome('incumbent', user * 100 + turn, 1), unit: `i${user}` }))).flat(),
    ...Array.from({ length: 40 }, (_, user) => ({ ...outcome('candidate', user * 100 + 50, 1), unit: `c${user}` })),
  ];
  const byUnit = analyzeExperiment(outcomes, { expectedCandidateShare: () => 0.5 });
  assert.deepEqual([byUnit.srm!.counting, byUnit.srm!.incumbent, byUnit.srm!.candidate, byUnit.srm!.mismatch], ['units', 40, 40, false]);
  assert.equal(byUnit.srm!.pValue, 1);
  // The same traffic without units (an older log) can only count requests, and 400 vs 40 is a mismatch there.
  const byRequest = analyzeExperiment(outcomes.map(({ unit: _unit, ...rest }) => rest), { expectedCandidateShare: () => 0.5 });
  assert.deepEqual([byRequest.srm!.counting, byRequest.srm!.incumbent, byRequest.srm!.candidate, byRequest.srm!.mismatch], ['requests', 400, 40, true]);
  assert.match(byRequest.reason, /400 incumbent requests/);
  // A unit that a ramp moved to the candidate counts once, where it started.
  const moved = analyzeExperiment([...outcomes, { ...outcome('candidate', 99_999, 1), unit: 'i0' }], { expectedCandidateShare: () => 0.5 });
  assert.deepEqual([moved.srm!.incumbent, moved.srm!.candidate], [40, 40]);
});
