import { createHash } from 'node:crypto';

/**
 * The train / held-out split, decided by a hash of the normalized input: the same input always lands
 * on the same side, whoever adds it and whenever. Stratified by label: each label's eval share is set
 * by a per-label hash threshold chosen when the held-out set is first frozen; later examples are
 * assigned by the frozen thresholds, so adding data never moves an example silently.
 */

/** One pool example as the split sees it. */
export interface SplitCandidate {
  id: number;
  /** sha256 of the normalized input (`inputKeyOf`). */
  inputKey: string;
  /** The label (classification), or null: unlabeled and open tasks form one stratum. */
  label: string | null;
  /** Its current side, if it has one: kept as is. */
  split: 'train' | 'eval' | null;
  /** False for data that must not be evaluated on (synthetic data): train, unless its input is already held out. */
  evalEligible?: boolean;
}

/** The rule a frozen held-out set assigns new inputs by. */
export interface SplitRule {
  salt: string;
  /** The eval share the thresholds were drawn for. */
  evalFraction: number;
  /** An input goes to eval when its score is below its label's threshold. */
  thresholds: Record<string, number>;
  /** For a label the rule has not seen. */
  defaultThreshold: number;
}

export interface SplitOptions {
  evalFraction: number;
  evalMin: number;
  evalMax: number;
  salt: string;
}

export interface SplitPlan {
  /** Only examples whose side is new. */
  assignments: { id: number; split: 'train' | 'eval' }[];
  rule: SplitRule;
  /** Every example on the eval side after this plan. */
  evalIds: number[];
  /** Things the reader should know (a pool too small for `evalMin`, ...). */
  warnings: string[];
}

const NO_LABEL = '\u0000unlabeled';

/** A uniform number in [0, 1) from the input key and the salt. */
export function splitScore(inputKey: string, salt: string): number {
  const digest = createHash('sha256').update(salt).update('\u0000').update(inputKey).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/**
 * Plan the split. Without a `rule` (the first freeze) the thresholds are drawn per label so that each label
 * sends `evalFraction` of its distinct inputs to eval (lowered to keep the set within evalMax; a set under evalMin
 * is kept and warned about);
 * with a `rule`, examples that already have a side keep it and only new ones are assigned by the rule. Inputs
 * sharing a key always share a side, across labels too. Candidates not eligible for eval go to train (unless
 * their input is already on the eval side) and do not count when the thresholds are drawn.
 */
export function planSplit(candidates: readonly SplitCandidate[], options: SplitOptions, rule?: SplitRule): SplitPlan {
  const warnings: string[] = [];
  const sideOfKey = new Map<string, 'train' | 'eval'>();
  for (const candidate of candidates) {
    if (candidate.split !== null && !sideOfKey.has(candidate.inputKey)) sideOfKey.set(candidate.inputKey, candidate.split);
  }
  const effectiveRule = rule ?? drawRule(candidates, options, warnings);

  const assignments: { id: number; split: 'train' | 'eval' }[] = [];
  const evalIds: number[] = [];
  for (const candidate of candidates) {
    let side = candidate.split ?? sideOfKey.get(candidate.inputKey);
    if (side === undefined && candidate.evalEligible === false) side = 'train';
    if (side === undefined) {
      const threshold = effectiveRule.thresholds[candidate.label ?? NO_LABEL] ?? effectiveRule.defaultThreshold;
      side = splitScore(candidate.inputKey, effectiveRule.salt) < threshold ? 'eval' : 'train';
      sideOfKey.set(candidate.inputKey, side);
    }
    if (candidate.split !== side) assignments.push({ id: candidate.id, split: side });
    if (side === 'eval') evalIds.push(candidate.id);
  }
  if (rule === undefined && evalIds.length < options.evalMin) {
    warnings.push(`the held-out set has ${evalIds.length} examples, under the ${options.evalMin} a trustworthy eval needs: add data before relying on it`);
  }
  return { assignments, rule: effectiveRule, evalIds, warnings };
}

function drawRule(all: readonly SplitCandidate[], options: SplitOptions, warnings: string[]): SplitRule {
  const candidates = all.filter((candidate) => candidate.evalEligible !== false);
  const keysByLabel = new Map<string, Set<string>>();
  for (const candidate of candidates) {
    const label = candidate.label ?? NO_LABEL;
    let keys = keysByLabel.get(label);
    if (keys === undefined) keysByLabel.set(label, (keys = new Set()));
    keys.add(candidate.inputKey);
  }
  const distinct = new Set(candidates.map((candidate) => candidate.inputKey)).size;
  let fraction = options.evalFraction;
  if (distinct > 0 && distinct * fraction > options.evalMax) {
    fraction = options.evalMax / distinct;
    warnings.push(`eval share lowered from ${options.evalFraction} to ${fraction.toFixed(4)} to keep the held-out set at ${options.evalMax} examples`);
  }
  // Under `evalMin` the share is not raised (that would take training data silently): `planSplit` warns instead.
  const thresholds: Record<string, number> = {};
  for (const [label, keys] of [...keysByLabel].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const scores = [...keys].map((key) => splitScore(key, options.salt)).sort((a, b) => a - b);
    // Round to the nearest count, but give every label with two or more inputs at least one eval input.
    const count = Math.min(scores.length - 1, Math.max(scores.length >= 2 ? 1 : 0, Math.round(scores.length * fraction)));
    // The threshold sits between the last eval score and the first train score.
    // A label too small for an eval input now keeps it on train and sends later ones at the overall share.
    thresholds[label] = count <= 0 ? Math.min(fraction, scores[0] ?? fraction) : (scores[count - 1]! + scores[count]!) / 2;
  }
  return { salt: options.salt, evalFraction: fraction, thresholds, defaultThreshold: fraction };
}
