/**
 * Classification metrics over parallel arrays of gold and predicted labels.
 *
 * Conventions (the same as scikit-learn's `precision_recall_fscore_support` with
 * `zero_division=0`, which is what its default `"warn"` returns):
 * - The label set defaults to the sorted union of gold and predicted labels, as
 *   `sklearn.utils.multiclass.unique_labels` gives. Sorting is by UTF-16 code units.
 * - A label that is predicted but never gold has recall 0/0 := 0, precision 0 (every prediction
 *   of it is wrong), so F1 0: answering outside the gold set lowers macro-F1.
 * - A label that is gold but never predicted has precision 0/0 := 0, recall 0, F1 0.
 * - With an explicit `labels` list, a listed label with no gold and no predictions gets F1 0 (a
 *   0/0 case), and pairs whose gold or prediction is outside the list count for no label.
 * - F1 = 2·tp / (2·tp + fp + fn), equal to the harmonic mean of precision and recall whenever
 *   that is defined.
 */

/** Precision, recall and F1 for one label. */
export interface LabelMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** How many examples have this gold label. */
  support: number;
  /** How many examples were predicted as this label. */
  predictedCount: number;
  truePositives: number;
}

/** Options shared by the label-set metrics. */
export interface LabelOptions {
  /** The labels to score, in order; defaults to the sorted union of gold and predicted labels. */
  labels?: readonly string[];
}

/** Counts with gold labels on rows and predicted labels on columns. */
export interface ConfusionMatrix {
  labels: string[];
  /** `counts[goldIndex][predictedIndex]`. */
  counts: number[][];
}

/** One off-diagonal cell of a confusion matrix. */
export interface Confusion {
  gold: string;
  predicted: string;
  count: number;
}

/** Fraction of positions where the prediction equals the gold label; 0 for no examples. */
export function accuracy(gold: readonly string[], predicted: readonly string[]): number {
  assertParallel(gold, predicted);
  if (gold.length === 0) return 0;
  let correct = 0;
  for (let index = 0; index < gold.length; index += 1) if (gold[index] === predicted[index]) correct += 1;
  return correct / gold.length;
}

/** The sorted union of labels appearing in any of the arrays (UTF-16 code-unit order). */
export function labelUnion(...labelArrays: readonly (readonly string[])[]): string[] {
  const labels = new Set<string>();
  for (const array of labelArrays) for (const label of array) labels.add(label);
  return [...labels].sort(compareCodeUnits);
}

/** Per-label precision, recall, F1, support and prediction counts, in label order. */
export function perLabelMetrics(gold: readonly string[], predicted: readonly string[], options: LabelOptions = {}): LabelMetrics[] {
  assertParallel(gold, predicted);
  const labels = options.labels ?? labelUnion(gold, predicted);
  const truePositives = new Map<string, number>();
  const support = new Map<string, number>();
  const predictedCount = new Map<string, number>();
  for (let index = 0; index < gold.length; index += 1) {
    const goldLabel = gold[index]!;
    const predictedLabel = predicted[index]!;
    support.set(goldLabel, (support.get(goldLabel) ?? 0) + 1);
    predictedCount.set(predictedLabel, (predictedCount.get(predictedLabel) ?? 0) + 1);
    if (goldLabel === predictedLabel) truePositives.set(goldLabel, (truePositives.get(goldLabel) ?? 0) + 1);
  }
  return labels.map((label) => {
    const tp = truePositives.get(label) ?? 0;
    const labelSupport = support.get(label) ?? 0;
    const labelPredicted = predictedCount.get(label) ?? 0;
    const falsePositives = labelPredicted - tp;
    const falseNegatives = labelSupport - tp;
    const f1Denominator = 2 * tp + falsePositives + falseNegatives;
    return {
      label,
      precision: labelPredicted === 0 ? 0 : tp / labelPredicted,
      recall: labelSupport === 0 ? 0 : tp / labelSupport,
      f1: f1Denominator === 0 ? 0 : (2 * tp) / f1Denominator,
      support: labelSupport,
      predictedCount: labelPredicted,
      truePositives: tp,
    };
  });
}

/**
 * Unweighted mean of per-label F1 over the label set (see the module conventions: by default the
 * union of gold and predicted labels, like scikit-learn's `f1_score(average="macro")`).
 * 0 when there are no labels.
 */
export function macroF1(gold: readonly string[], predicted: readonly string[], options: LabelOptions = {}): number {
  const metrics = perLabelMetrics(gold, predicted, options);
  if (metrics.length === 0) return 0;
  return metrics.reduce((sum, metric) => sum + metric.f1, 0) / metrics.length;
}

/**
 * Gold-by-predicted counts over the label set (default: sorted union of gold and predicted).
 * Pairs with a label outside an explicit list are left out, as scikit-learn does.
 */
export function confusionMatrix(gold: readonly string[], predicted: readonly string[], options: LabelOptions = {}): ConfusionMatrix {
  assertParallel(gold, predicted);
  const labels = [...(options.labels ?? labelUnion(gold, predicted))];
  const indexOf = new Map(labels.map((label, index) => [label, index]));
  const counts = labels.map(() => labels.map(() => 0));
  for (let index = 0; index < gold.length; index += 1) {
    const row = indexOf.get(gold[index]!);
    const column = indexOf.get(predicted[index]!);
    if (row === undefined || column === undefined) continue;
    counts[row]![column]! += 1;
  }
  return { labels, counts };
}

/**
 * The off-diagonal cells with the highest counts, largest first (ties by gold then predicted
 * label), at most `limit` of them; cells with count 0 are never returned.
 */
export function topConfusions(matrix: ConfusionMatrix, limit: number): Confusion[] {
  const confusions: Confusion[] = [];
  matrix.counts.forEach((row, rowIndex) => {
    row.forEach((count, columnIndex) => {
      if (rowIndex !== columnIndex && count > 0) confusions.push({ gold: matrix.labels[rowIndex]!, predicted: matrix.labels[columnIndex]!, count });
    });
  });
  confusions.sort((left, right) => right.count - left.count || compareCodeUnits(left.gold, right.gold) || compareCodeUnits(left.predicted, right.predicted));
  return confusions.slice(0, Math.max(0, limit));
}

function compareCodeUnits(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

function assertParallel(gold: readonly string[], predicted: readonly string[]): void {
  if (gold.length !== predicted.length) throw new RangeError(`gold and predicted differ in length (${gold.length} vs ${predicted.length})`);
}
