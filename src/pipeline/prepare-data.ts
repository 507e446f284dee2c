import path from 'node:path';
import type { ChatMessage } from '../contracts/worker.ts';
import type { LoadedConfig } from '../adapters/config-file.ts';
import { readLabelledCsv, type LabelledRow } from '../adapters/csv-dataset.ts';
import type { DatasetRecord, Store, StoredExample } from '../adapters/store/sqlite-store.ts';
import { removeOverlap } from '../core/decontaminate.ts';
import { InvalidInputError } from '../core/errors.ts';
import { stratifiedSample } from '../core/stratified-split.ts';
import type { PoolExample } from '../adapters/store/curation-store.ts';
import type { ReviewState } from '../contracts/curation.ts';
import { heldoutSet } from './data-stats.ts';
import { mixTrainSet, type MixingSummary } from './export-data.ts';

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
    throw new InvalidInputError('`--data config` reads a label-set task\'s CSV files; a JSON task trains and evaluates from the pool', { file: loaded.file, field: 'task.output.type', hint: 'use --data curated after `understudy data import` and `understudy data split`' });
  }
  const data = config.data;
  if (data === undefined) {
    throw new InvalidInputError('the config has no `data` section (CSV files) to draw from', { file: loaded.file, field: 'data', hint: 'add one, or use --data curated after `understudy data import` and `understudy data split`' });
  }
  const columns = { inputColumn: data.inputColumn, labelColumn: data.labelColumn, labels };
  const trainPath = path.resolve(directory, data.trainPath);
  const evalPath = path.resolve(directory, data.evalPath);
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
        ? { file: data.trainPath, examplesPerLabel: config.training.examplesPerLabel, seed: config.training.seed ?? DEFAULT_SEED, excludedOverlapWithEval: dropped.length }
        : { file: data.evalPath, sampleSize: config.evaluation.sampleSize, seed: config.evaluation.seed, stratifiedBy: data.labelColumn },
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

/** How `train --data curated` takes the pool: the curated train set (or, `unfiltered`, every train-side example). */
export interface CuratedDataOptions {
  /** Share of synthetic examples in the train set (see `mixTrainSet`); absent: all of them. */
  syntheticRatio?: number;
  maxPerLabel?: number;
  /** Only examples a person accepted or edited. */
  reviewedOnly?: boolean;
  /** Ignore the newest filter run (for comparing against the filtered set); rejected examples stay out. */
  unfiltered?: boolean;
  /** Leave out examples carrying any of these tags. */
  excludeTags?: readonly string[];
  seed?: number;
}

/**
 * The pool's curated train set and its frozen held-out set as stored datasets, for training and evaluation. The
 * train set is the train side, kept by the newest filter run, not rejected, mixed by ratio; examples whose input is
 * held out never enter it. The held-out set is the newest held-out version, answers removed for evaluation.
 */
export function prepareCuratedData(loaded: LoadedConfig, store: Store, options: CuratedDataOptions = {}): PreparedData & { mixing: MixingSummary; heldoutVersion: number } {
  const { config } = loaded;
  const task = config.task.name;
  const heldout = store.curation.latestHeldout(task);
  if (heldout === undefined) {
    throw new InvalidInputError(`the pool of task ${task} has no held-out set yet`, { field: '--data', hint: 'run `understudy data split` (and `understudy data filter`) first' });
  }
  const heldOutExamples = heldoutSet(store, task);
  const heldOutKeys = new Set(heldOutExamples.map((example) => example.inputKey));
  const excluded = new Set(options.excludeTags ?? []);
  const reviews: ReviewState[] = options.reviewedOnly === true ? ['accepted', 'edited'] : ['pending', 'accepted', 'edited'];
  const trainSide = store.curation
    .listPool(task, { split: 'train', review: reviews, keptByFilters: options.unfiltered !== true })
    .filter((example) => example.answer !== null && !example.tags.some((tag) => excluded.has(tag)));
  const candidates = trainSide.filter((example) => !heldOutKeys.has(example.inputKey));
  const { taken, summary } = mixTrainSet(candidates, {
    ...(options.syntheticRatio === undefined ? {} : { syntheticRatio: options.syntheticRatio }),
    ...(options.maxPerLabel === undefined ? {} : { maxPerLabel: options.maxPerLabel }),
    seed: options.seed ?? config.training.seed ?? DEFAULT_SEED,
  }, (example) => example.answer ?? '');
  if (taken.length === 0) throw new InvalidInputError(`no curated training examples in the pool of task ${task}`, { field: '--data', hint: 'import or generate data, then `understudy data split` and `understudy data filter`' });
  if (heldOutExamples.length === 0) throw new InvalidInputError(`the held-out set of task ${task} is empty`, { field: '--data' });

  const provenance = (example: PoolExample): Record<string, unknown> => ({ poolId: example.id, source: example.source, ...example.provenance });
  const filterRun = store.curation.latestFilterRun(task);
  const train = store.registerDataset({
    name: task,
    role: 'train',
    source: { pool: task, filterRunId: options.unfiltered === true ? null : filterRun?.id ?? null, heldoutVersion: heldout.version, mixing: summary, excludeTags: [...excluded] },
    examples: taken.map((example) => ({ input: example.input, label: example.answer, messages: example.messages, provenance: provenance(example) })),
  });
  const evalSet = store.registerDataset({
    name: task,
    role: 'eval',
    source: { pool: task, heldoutVersion: heldout.version, heldoutHash: heldout.contentHash },
    examples: heldOutExamples.map((example) => ({
      input: example.input,
      label: example.answer,
      messages: example.messages.filter((message, index) => !(index === example.messages.length - 1 && message.role === 'assistant')),
      provenance: provenance(example),
    })),
  });
  return {
    train: { dataset: train, examples: store.listExamples(train.id) },
    eval: { dataset: evalSet, examples: store.listExamples(evalSet.id) },
    droppedForOverlap: trainSide.length - candidates.length,
    trainPoolSize: candidates.length,
    evalPoolSize: heldOutExamples.length,
    mixing: summary,
    heldoutVersion: heldout.version,
  };
}
