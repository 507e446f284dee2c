/**
 * The three-things-true test: fine-tune only when (1) prompting fails consistently at scale, (2) the failures
 * are wrong behaviour that retrieval or tools would not fix, and (3) the volume pays the fine-tune back. The
 * first condition that does not hold decides the verdict, in that order, because training too early (prompting
 * still had room) is the most common mistake and training without the volume the second.
 */

export type Verdict = 'FINE-TUNE' | 'KEEP PROMPTING' | 'ADD RETRIEVAL/TOOLS' | 'STAY HOSTED';

/** One prompt variant's score on the primary metric with its 95% interval. */
export interface PromptVariantScore {
  name: string;
  describe: string;
  value: number;
  low: number;
  high: number;
}

/** The best variant against the plain zero-shot prompt: paired difference with its interval and p-value. */
export interface PromptingGain {
  from: string;
  to: string;
  difference: number;
  low: number;
  high: number;
  pValue: number;
}

export interface PromptingEvidence {
  metric: string;
  bar: number;
  variants: PromptVariantScore[];
  best: string;
  /** Best vs zero-shot; null when the zero-shot variant is the best. */
  gain: PromptingGain | null;
}

export interface ConditionOutcome {
  holds: boolean;
  reason: string;
}

/**
 * Prompting fails consistently when even the best variant's whole interval lies below the bar, and better
 * prompting has stopped paying: a significant gain that is at least the remaining gap says one more round of
 * prompt work may reach the bar, so training now would be early.
 */
export function promptingFails(evidence: PromptingEvidence, alpha = 0.05): ConditionOutcome {
  const best = evidence.variants.find((variant) => variant.name === evidence.best);
  if (best === undefined) throw new RangeError(`the best variant ${evidence.best} is not among the variants`);
  const pct = (value: number): string => `${(value * 100).toFixed(1)}%`;
  const scored = `${best.name} scores ${pct(best.value)} ${evidence.metric} [${pct(best.low)}, ${pct(best.high)}]`;
  if (best.value >= evidence.bar) return { holds: false, reason: `prompting already reaches the bar: ${scored}, bar ${pct(evidence.bar)}` };
  if (best.high >= evidence.bar) {
    return { holds: false, reason: `prompting does not fail consistently: ${scored}, and the interval still reaches the bar ${pct(evidence.bar)}; evaluate more examples to tell` };
  }
  const gap = evidence.bar - best.value;
  const gain = evidence.gain;
  if (gain !== null && gain.pValue < alpha && gain.difference > 0 && gain.difference >= gap) {
    return {
      holds: false,
      reason: `better prompting still moves it: ${gain.to} gained ${pct(gain.difference)} over ${gain.from} (p = ${gain.pValue.toPrecision(2)}), as much as the ${pct(gap)} left to the bar; try more shots or a sharper instruction first`,
    };
  }
  const moved =
    gain === null
      ? 'no prompt variant beat zero-shot'
      : gain.pValue < alpha && gain.difference > 0
        ? `the best variant gained ${pct(gain.difference)} over zero-shot (p = ${gain.pValue.toPrecision(2)}), less than the ${pct(gap)} still missing`
        : `the variants did not move it significantly (${pct(gain.difference)}, p = ${gain.pValue.toPrecision(2)})`;
  return { holds: true, reason: `prompting fails consistently: ${scored}, the whole interval below the bar ${pct(evidence.bar)}; ${moved}` };
}

export type FailureKind = 'format' | 'label-confusion' | 'wrong-fields' | 'missing-knowledge';

export interface ClassifiedFailure {
  input: string;
  expected: string;
  output: string;
  kind: FailureKind;
  /** `rule` or `judge`, and why. */
  by: 'rule' | 'judge';
  why: string;
}

export interface FailureBreakdown {
  failures: number;
  /** Failures looked at (a sample when a judge is used). */
  classified: number;
  counts: Record<FailureKind, number>;
  wrongBehaviourShare: number;
  missingKnowledgeShare: number;
  examples: Partial<Record<FailureKind, ClassifiedFailure[]>>;
  judged: boolean;
}

export function summarizeFailures(failures: number, classified: readonly ClassifiedFailure[], judged: boolean, examplesPerKind = 3): FailureBreakdown {
  const counts: Record<FailureKind, number> = { format: 0, 'label-confusion': 0, 'wrong-fields': 0, 'missing-knowledge': 0 };
  const examples: Partial<Record<FailureKind, ClassifiedFailure[]>> = {};
  for (const failure of classified) {
    counts[failure.kind] += 1;
    const list = (examples[failure.kind] ??= []);
    if (list.length < examplesPerKind) list.push(failure);
  }
  const total = Math.max(1, classified.length);
  return {
    failures,
    classified: classified.length,
    counts,
    missingKnowledgeShare: counts['missing-knowledge'] / total,
    wrongBehaviourShare: (classified.length - counts['missing-knowledge']) / total,
    examples,
    judged,
  };
}

/** Retrieved context against the same prompt without it, paired on the same examples. */
export interface RetrievalTrial {
  without: string;
  with: string;
  valueWithout: number;
  valueWith: number;
  difference: number;
  low: number;
  high: number;
  pValue: number;
}

/**
 * Retrieval and tools do not fix it when most failures are wrong behaviour and, where a knowledge file was
 * tried, retrieved context neither reaches the bar nor closes at least half of the gap significantly.
 */
export function retrievalDoesNotFix(breakdown: FailureBreakdown, trial: RetrievalTrial | null, bar: number, alpha = 0.05): ConditionOutcome {
  const pct = (value: number): string => `${(value * 100).toFixed(1)}%`;
  if (trial !== null && trial.pValue < alpha && trial.difference > 0) {
    const gap = bar - trial.valueWithout;
    if (trial.valueWith >= bar || trial.difference >= gap / 2) {
      return {
        holds: false,
        reason: `retrieved context fixes much of it: ${trial.with} ${pct(trial.valueWith)} vs ${pct(trial.valueWithout)} without (${pct(trial.difference)} [${pct(trial.low)}, ${pct(trial.high)}], p = ${trial.pValue.toPrecision(2)})`,
      };
    }
  }
  if (breakdown.classified > 0 && breakdown.missingKnowledgeShare > 0.5) {
    return { holds: false, reason: `${pct(breakdown.missingKnowledgeShare)} of the failures need knowledge the input does not carry: give the model that knowledge (retrieval, a tool) before training behaviour into it` };
  }
  const kinds = (['format', 'label-confusion', 'wrong-fields'] as const).filter((kind) => breakdown.counts[kind] > 0).map((kind) => `${breakdown.counts[kind]} ${kind}`);
  const tried =
    trial === null
      ? 'no knowledge file was given to try retrieval'
      : `retrieved context moved it ${pct(trial.difference)} [${pct(trial.low)}, ${pct(trial.high)}] (p = ${trial.pValue.toPrecision(2)}), not enough`;
  return {
    holds: true,
    reason: `the failures are wrong behaviour (${pct(breakdown.wrongBehaviourShare)} of ${breakdown.classified} looked at: ${kinds.join(', ') || 'none'}${breakdown.judged ? '' : '; no judge configured, so missing knowledge was only checked by rule'}); ${tried}`,
  };
}

export interface VerdictResult {
  verdict: Verdict;
  conditions: { prompting: ConditionOutcome; retrieval: ConditionOutcome; volume: ConditionOutcome };
  /** One sentence: the verdict and the first condition that decided it. */
  summary: string;
}

export function decideVerdict(prompting: ConditionOutcome, retrieval: ConditionOutcome, volume: ConditionOutcome): VerdictResult {
  const conditions = { prompting, retrieval, volume };
  if (!prompting.holds) return { verdict: 'KEEP PROMPTING', conditions, summary: `KEEP PROMPTING: ${prompting.reason}` };
  if (!retrieval.holds) return { verdict: 'ADD RETRIEVAL/TOOLS', conditions, summary: `ADD RETRIEVAL/TOOLS: ${retrieval.reason}` };
  if (!volume.holds) return { verdict: 'STAY HOSTED', conditions, summary: `STAY HOSTED: ${volume.reason}` };
  return { verdict: 'FINE-TUNE', conditions, summary: 'FINE-TUNE: prompting fails consistently, the failures are behaviour, and the volume pays the fine-tune back' };
}

/** Rules for one failure of a label task: an answer outside the label set is a format failure, any other a confusion. */
export function classifyLabelFailure(output: string, labels: readonly string[]): { kind: FailureKind; why: string } {
  if (!labels.includes(output.trim())) return { kind: 'format', why: 'the answer is not one of the labels' };
  return { kind: 'label-confusion', why: 'a valid label, but not the right one' };
}

/**
 * Rules for one failure of a JSON task: unparseable or schema-invalid output is a format failure; a reference
 * string value that appears nowhere in the input could not have been extracted from it (missing knowledge);
 * anything else is wrong fields.
 */
export function classifyJsonFailure(output: string, expected: string, input: string, schemaValid: boolean): { kind: FailureKind; why: string } {
  try {
    JSON.parse(output);
  } catch {
    return { kind: 'format', why: 'the answer is not JSON' };
  }
  if (!schemaValid) return { kind: 'format', why: 'the answer is JSON but not valid under the schema' };
  const strings: string[] = [];
  const collect = (value: unknown, key: string | undefined): void => {
    if (typeof value === 'string' && key !== undefined && !/^(intent|intents|label|labels)$/i.test(key)) strings.push(value);
    else if (Array.isArray(value)) for (const item of value) collect(item, key);
    else if (value !== null && typeof value === 'object') for (const [childKey, child] of Object.entries(value)) collect(child, childKey);
  };
  try {
    collect(JSON.parse(expected), undefined);
  } catch {
    // An unparseable reference is the data's problem, not the model's: count it as wrong fields.
  }
  const normalized = input.toLowerCase();
  const absent = strings.filter((value) => value.trim().length > 0 && !normalized.includes(value.toLowerCase()));
  if (absent.length > 0) return { kind: 'missing-knowledge', why: `the reference holds ${absent.map((value) => JSON.stringify(value)).join(', ')}, which the input does not contain` };
  return { kind: 'wrong-fields', why: 'valid JSON with the wrong values' };
}
