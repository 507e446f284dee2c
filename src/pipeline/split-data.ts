import type { LoadedConfig } from '../adapters/config-file.ts';
import type { HeldoutVersion } from '../adapters/store/curation-store.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import { planSplit, type SplitRule } from '../core/hash-split.ts';

export interface SplitResult {
  /** The held-out version in force after this split (new when the held-out set changed). */
  heldout: HeldoutVersion | null;
  /** True when this split created a new held-out version. */
  newVersion: boolean;
  trainCount: number;
  evalCount: number;
  /** Examples that got a side now (new since the last split). */
  assigned: number;
  /** How many examples joined the held-out set now (the new version's note says so). */
  addedToEval: number;
  /** Eval-side examples whose input is already in the held-out set: never trained on, not added again. */
  copiesOfHeldOut: number;
  evalByLabel: Record<string, number>;
  rule: SplitRule;
  warnings: string[];
}

function isSplitRule(value: unknown): value is SplitRule {
  if (typeof value !== 'object' || value === null) return false;
  const rule = value as Record<string, unknown>;
  return typeof rule.salt === 'string' && typeof rule.evalFraction === 'number' && typeof rule.defaultThreshold === 'number' && typeof rule.thresholds === 'object' && rule.thresholds !== null;
}

/**
 * Give every pool example a side. The first split draws stratified per-label thresholds and freezes the held-out
 * set as version 1; later splits keep every side already given and assign new examples by the frozen rule, and a
 * held-out set that grew becomes a new version whose note says by how much. Nothing ever leaves the held-out set.
 * Synthetic examples never join it: they go to train, unless they repeat a held-out input (then they stay off train).
 */
export function splitPool(loaded: LoadedConfig, store: Store): SplitResult {
  const task = loaded.config.task.name;
  const settings = loaded.config.curation.split;
  const labelled = loaded.config.task.output.type === 'labels';
  const pool = store.curation.listPool(task);
  const previous = store.curation.latestHeldout(task);
  const frozenRule = previous !== undefined && isSplitRule(previous.rule) ? previous.rule : undefined;
  const plan = planSplit(
    // The held-out set is real data only: synthetic examples are trained on, never evaluated on.
    pool.map((example) => ({ id: example.id, inputKey: example.inputKey, label: labelled ? example.answer : null, split: example.split, evalEligible: example.source !== 'synthetic' })),
    settings,
    frozenRule,
  );
  // The held-out set holds each input once: a later copy of a held-out input goes to the eval side (it may never be
  // trained on) but does not join the set.
  const byId = new Map(pool.map((example) => [example.id, example]));
  const heldOutKeys = new Set<string>();
  const heldOutIds: number[] = [];
  for (const id of [...plan.evalIds].sort((a, b) => a - b)) {
    const key = byId.get(id)!.inputKey;
    if (heldOutKeys.has(key)) continue;
    heldOutKeys.add(key);
    heldOutIds.push(id);
  }
  const previousIds = new Set(previous?.exampleIds ?? []);
  const addedToEval = heldOutIds.filter((id) => !previousIds.has(id)).length;
  const copiesOfHeldOut = plan.evalIds.length - heldOutIds.length;
  const note = previous === undefined
    ? `frozen: ${heldOutIds.length} of ${pool.length} examples, stratified by ${labelled ? 'label' : 'input hash'} at ${(plan.rule.evalFraction * 100).toFixed(1)}%`
    : `+${addedToEval} new examples assigned to eval by the frozen rule of version ${previous.version}`;
  const heldout = store.curation.assignSplits(task, plan.assignments, heldOutIds.length === 0 ? null : { exampleIds: heldOutIds, rule: { ...plan.rule }, note });
  const evalByLabel: Record<string, number> = {};
  for (const id of heldOutIds) {
    const label = (labelled ? byId.get(id)?.answer : null) ?? '(unlabeled)';
    evalByLabel[label] = (evalByLabel[label] ?? 0) + 1;
  }
  return {
    heldout: heldout ?? previous ?? null,
    newVersion: heldout !== null && heldout.version !== previous?.version,
    trainCount: pool.length - plan.evalIds.length,
    evalCount: heldOutIds.length,
    copiesOfHeldOut,
    assigned: plan.assignments.length,
    addedToEval,
    evalByLabel,
    rule: plan.rule,
    warnings: plan.warnings,
  };
}
