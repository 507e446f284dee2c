import path from 'node:path';
import type { ChatMessage } from '../contracts/worker.ts';
import type { LoadedConfig } from '../adapters/config-file.ts';
import { readLabelledCsv, type LabelledRow } from '../adapters/csv-dataset.ts';
import type { DatasetRecord, Store, StoredExample } from '../adapters/store/sqlite-store.ts';
import { removeOverlap } from '../core/decontaminate.ts';
import { InvalidInputError } from '../core/errors.ts';
import { stratifiedSample } from '../core/stratified-split.ts';

/** The seed when the config sets none (`core/sft-defaults.ts` trains with the same). */
const DEFAULT_SEED = 42;

export interface PreparedSplit {
  dataset: DatasetRecord & { reused: boolean };
  examples: StoredExample[];
}

export interface PreparedData {
  train: PreparedSplit;
  eval: PreparedSplit;
  /** Training-pool rows dropped because their normalized input is also in the eval sample. */
  droppedForOverlap: number;
  trainPoolSize: number;
  evalPoolSize: number;
}

/** The conversation an example is trained on (or, without the answer, evaluated on). */
export function classificationMessages(systemPrompt: string, input: string, label?: string): ChatMessage[] {
  const messages: ChatMessage[] = [
    { role: 'system', content: systemPrompt },
    { role: 'user', content: input },
  ];
  if (label !== undefined) messages.push({ role: 'assistant', content: label });
  return messages;
}

/**
 * Draw the held-out eval sample (stratified, seeded, from the eval pool only), then the training
 * sample from the training pool minus anything overlapping the eval sample, and store both.
 */
export function prepareClassificationData(loaded: LoadedConfig, store: Store): PreparedData {
  const { config, directory, labels } = loaded;
  if (config.task.output.type !== 'labels') {
    throw new InvalidInputError('this pipeline needs a label-set task', { file: loaded.file, field: 'task.output.type' });
  }
  const columns = { inputColumn: config.data.inputColumn, labelColumn: config.data.labelColumn, labels };
  const trainPath = path.resolve(directory, config.data.trainPath);
  const evalPath = path.resolve(directory, config.data.evalPath);
  const trainPool = readLabelledCsv(trainPath, columns);
  const evalPool = readLabelledCsv(evalPath, columns);
  const labelOf = (row: LabelledRow): string => row.label;

  const evalRows = stratifiedSample(evalPool, labelOf, { total: Math.min(config.evaluation.sampleSize, evalPool.length), seed: config.evaluation.seed });
  const { kept, dropped } = removeOverlap(trainPool, evalRows, (row) => row.input);
  const trainRows = stratifiedSample(kept, labelOf, { perLabel: config.training.examplesPerLabel, seed: config.training.seed ?? DEFAULT_SEED });
  if (trainRows.length === 0) throw new InvalidInputError('no training examples left after sampling', { file: trainPath });

  const provenance = (row: LabelledRow): Record<string, unknown> => ({ file: path.relative(directory, row.file) || row.file, line: row.line });
  const register = (role: 'train' | 'eval', rows: LabelledRow[], withAnswer: boolean): PreparedSplit => {
    const dataset = store.registerDataset({
      name: config.task.name,
      role,
      source: role === 'train'
        ? { file: config.data.trainPath, examplesPerLabel: config.training.examplesPerLabel, seed: config.training.seed ?? DEFAULT_SEED, excludedOverlapWithEval: dropped.length }
        : { file: config.data.evalPath, sampleSize: config.evaluation.sampleSize, seed: config.evaluation.seed, stratifiedBy: config.data.labelColumn },
      examples: rows.map((row) => ({
        input: row.input,
        label: row.label,
        messages: classificationMessages(config.task.systemPrompt, row.input, withAnswer ? row.label : undefined),
        provenance: provenance(row),
      })),
    });
    return { dataset, examples: store.listExamples(dataset.id) };
  };
  return {
    train: register('train', trainRows, true),
    eval: register('eval', evalRows, false),
    droppedForOverlap: dropped.length,
    trainPoolSize: trainPool.length,
    evalPoolSize: evalPool.length,
  };
}
