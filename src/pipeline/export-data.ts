import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Document } from 'yaml';
import type { FilterRunRecord, HeldoutVersion, PoolExample } from '../adapters/store/curation-store.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import { runWorker } from '../adapters/worker/worker-process.ts';
import type { ExampleSource, ReviewState } from '../contracts/curation.ts';
import { ExportDatasetSpecSchema, type ChatMessage, type PromptCompletionRecord, type WorkerEvent } from '../contracts/worker.ts';
import { contentHash, sha256Hex } from '../core/content-hash.ts';
import { InvalidInputError } from '../core/errors.ts';
import { openAiFineTuningJsonl, axolotlDataset } from './export-formats.ts';
import { messagesWithAnswer, promptMessages } from './review-queue.ts';

/**
 * `understudy data export`: the curated train set (split train, kept by the newest filter run, not rejected), mixed
 * to a chosen share of synthetic examples, and the held-out set, written in the formats other trainers read, with a
 * manifest of counts, sources and file hashes. Everything is written to a temporary folder and renamed into place.
 */

export const DATA_EXPORT_FORMATS = ['openai', 'trl-prompt-completion', 'trl-messages', 'axolotl', 'hf-datasets'] as const;
export type DataExportFormat = (typeof DATA_EXPORT_FORMATS)[number];

/** Parse `--to openai,axolotl` (or `all`), naming the first unknown format. */
export function parseDataExportFormats(value: string): DataExportFormat[] {
  const names = value.split(',').map((name) => name.trim()).filter(Boolean);
  if (names.length === 1 && names[0] === 'all') return [...DATA_EXPORT_FORMATS];
  if (names.length === 0) throw new InvalidInputError('--to needs at least one format', { field: '--to' });
  for (const name of names) {
    if (!(DATA_EXPORT_FORMATS as readonly string[]).includes(name)) {
      throw new InvalidInputError(`unknown data export format ${JSON.stringify(name)}; expected ${DATA_EXPORT_FORMATS.join(', ')} or all`, { field: '--to' });
    }
  }
  return [...new Set(names)] as DataExportFormat[];
}

export interface MixingOptions {
  /** The share of synthetic examples in the exported train set, 0..1; undefined: take everything. */
  syntheticRatio?: number;
  /** At most this many examples per answer (label). */
  maxPerLabel?: number;
  /** The order examples are taken in: a hash of (seed, input key, id). */
  seed: number;
}

type SourceCounts = Record<ExampleSource, number>;
const zeroCounts = (): SourceCounts => ({ human: 0, synthetic: 0, log: 0 });
const countSources = (examples: readonly PoolExample[]): SourceCounts => {
  const counts = zeroCounts();
  for (const example of examples) counts[example.source] += 1;
  return counts;
};

/** What mixing took and left out. "Human" in the ratio means every non-synthetic example (human and log). */
export interface MixingSummary {
  syntheticRatio: number | null;
  maxPerLabel: number | null;
  seed: number;
  /** Candidates before the per-label cap and the ratio. */
  available: SourceCounts;
  /** Left out by the per-label cap. */
  droppedByLabelCap: SourceCounts;
  /** Left out to reach the ratio. */
  droppedByRatio: SourceCounts;
  taken: SourceCounts;
  /** The synthetic share of what was taken (0 when nothing was). */
  syntheticShare: number;
}

/** Deterministic order for taking examples: the same seed and pool always give the same selection. */
function hashOrder(examples: readonly PoolExample[], seed: number, salt: string): PoolExample[] {
  const key = (example: PoolExample): string => sha256Hex(`${seed}:${salt}:${example.inputKey}:${example.id}`);
  return examples.map((example) => ({ example, key: key(example) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((entry) => entry.example);
}

/** A count from a float that should be whole (9 * 0.25 / 0.75), without losing one to rounding error. */
const wholeDown = (value: number): number => Math.floor(value + 1e-9);

/**
 * Choose the train set: first the per-label cap (examples taken in hash order within each label), then the
 * synthetic share. With H non-synthetic and S synthetic candidates and ratio r, take floor(H·r/(1−r)) synthetic
 * examples when there are that many (all H kept), else all S synthetic and floor(S·(1−r)/r) non-synthetic ones.
 * r = 0 drops every synthetic example, r = 1 every other one. The result is sorted by id.
 */
export function mixTrainSet(candidates: readonly PoolExample[], options: MixingOptions, labelOf: (example: PoolExample) => string): { taken: PoolExample[]; summary: MixingSummary } {
  const { syntheticRatio, maxPerLabel, seed } = options;
  if (syntheticRatio !== undefined && !(syntheticRatio >= 0 && syntheticRatio <= 1)) {
    throw new InvalidInputError(`the synthetic ratio must be between 0 and 1, got ${syntheticRatio}`, { field: '--synthetic-ratio' });
  }
  if (maxPerLabel !== undefined && (!Number.isInteger(maxPerLabel) || maxPerLabel <= 0)) {
    throw new InvalidInputError(`the per-label cap must be a positive integer, got ${maxPerLabel}`, { field: '--max-per-label' });
  }
  let pool = [...candidates];
  const droppedByLabelCap = zeroCounts();
  if (maxPerLabel !== undefined) {
    const byLabel = new Map<string, PoolExample[]>();
    for (const example of pool) byLabel.set(labelOf(example), [...(byLabel.get(labelOf(example)) ?? []), example]);
    pool = [];
    for (const [label, examples] of byLabel) {
      const ordered = hashOrder(examples, seed, `label:${label}`);
      pool.push(...ordered.slice(0, maxPerLabel));
      for (const dropped of ordered.slice(maxPerLabel)) droppedByLabelCap[dropped.source] += 1;
    }
  }
  const synthetic = hashOrder(pool.filter((example) => example.source === 'synthetic'), seed, 'synthetic');
  const other = hashOrder(pool.filter((example) => example.source !== 'synthetic'), seed, 'other');
  let takeSynthetic = synthetic.length;
  let takeOther = other.length;
  if (syntheticRatio !== undefined) {
    if (syntheticRatio === 0) takeSynthetic = 0;
    else if (syntheticRatio === 1) takeOther = 0;
    else {
      const wanted = wholeDown((other.length * syntheticRatio) / (1 - syntheticRatio));
      if (synthetic.length >= wanted) takeSynthetic = wanted;
      else takeOther = Math.min(other.length, wholeDown((synthetic.length * (1 - syntheticRatio)) / syntheticRatio));
    }
  }
  const taken = [...synthetic.slice(0, takeSynthetic), ...other.slice(0, takeOther)].sort((a, b) => a.id - b.id);
  const droppedByRatio = countSources([...synthetic.slice(takeSynthetic), ...other.slice(takeOther)]);
  const takenCounts = countSources(taken);
  return {
    taken,
    summary: {
      syntheticRatio: syntheticRatio ?? null,
      maxPerLabel: maxPerLabel ?? null,
      seed,
      available: countSources(candidates),
      droppedByLabelCap,
      droppedByRatio,
      taken: takenCounts,
      syntheticShare: taken.length === 0 ? 0 : takenCounts.synthetic / taken.length,
    },
  };
}

export interface DataExportInput {
  store: Pick<Store, 'curation'>;
  task: string;
  /** The task's system prompt: the conversation of an example without a user turn is rebuilt with it. */
  systemPrompt: string;
  /** True for a label task: counts by label in the manifest and the per-label cap go by the answer. */
  labelTask: boolean;
  workspace: string;
  formats: readonly DataExportFormat[];
  /** Default `<workspace>/data-export/<task>-<hash of the selection>/`. */
  outDir?: string;
  syntheticRatio?: number;
  maxPerLabel?: number;
  /** Only accepted and edited examples (else pending ones too). */
  reviewedOnly?: boolean;
  seed?: number;
  /** The worker venv's python; needed for hf-datasets. */
  python?: string;
  onFormat?: (format: DataExportFormat, state: 'start' | 'done') => void;
  onWorkerEvent?: (event: WorkerEvent) => void;
  onWorkerLog?: (line: string) => void;
}

/** One written file, relative to the export folder. */
export interface ExportedDataFile {
  path: string;
  sha256: string;
  bytes: number;
  /** The format it belongs to, or `manifest`. */
  format: DataExportFormat | 'manifest';
}

interface SetCounts {
  total: number;
  /** By answer for a label task; null otherwise. */
  byLabel: Record<string, number> | null;
  bySource: SourceCounts;
}

export interface DataExportManifest {
  task: string;
  createdAt: string;
  formats: DataExportFormat[];
  train: SetCounts & { exampleIds: number[] };
  heldout: SetCounts & { version: number; contentHash: string; exampleIds: number[]; excludedRejected: number; excludedUnlabeled: number };
  filterRunId: string | null;
  reviewedOnly: boolean;
  mixing: MixingSummary;
  /** Train-side examples not exported, by why. */
  excluded: { rejected: number; droppedByFilters: number; unlabeled: number; notReviewed: number; overlapsHeldout: number };
  files: Omit<ExportedDataFile, 'format'>[];
}

export interface DataExportResult {
  outDir: string;
  manifest: DataExportManifest;
  /** Every file including manifest.json, with its sha256. */
  files: ExportedDataFile[];
}

const ALL_REVIEWS: ReviewState[] = ['pending', 'accepted', 'rejected', 'edited'];

function setCounts(examples: readonly PoolExample[], labelTask: boolean): SetCounts {
  const byLabel: Record<string, number> = {};
  if (labelTask) for (const example of examples) byLabel[example.answer!] = (byLabel[example.answer!] ?? 0) + 1;
  return { total: examples.length, byLabel: labelTask ? Object.fromEntries(Object.entries(byLabel).sort(([a], [b]) => a.localeCompare(b))) : null, bySource: countSources(examples) };
}

const jsonl = (rows: readonly unknown[]): string => rows.map((row) => `${JSON.stringify(row)}\n`).join('');

/** Sorted relative paths of every file under a folder. */
function listFiles(root: string, relative = ''): string[] {
  const entries = readdirSync(path.join(root, relative), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  return entries.flatMap((entry) => {
    const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
    return entry.isDirectory() ? listFiles(root, child) : [child];
  });
}

/** The Axolotl `datasets`/`test_datasets` entries for chat-format JSONL (Axolotl's chat_template dataset type). */
function axolotlDatasetsYaml(trainPath: string, evalPath: string, task: string): string {
  const document = new Document({ datasets: [axolotlDataset(trainPath)], test_datasets: [axolotlDataset(evalPath)], val_set_size: 0 });
  document.commentBefore = [
    ` Axolotl dataset settings for Understudy's curated data of task "${task}" (merge them into your Axolotl config).`,
    ' test_datasets is the held-out set: evaluate on it, never train on it.',
  ].join('\n');
  return document.toString({ lineWidth: 0 });
}

/** Replace `finalDir` by `stagedDir`: a previous export (it has a manifest) or an empty folder may be replaced, nothing else. */
function publishFolder(stagedDir: string, finalDir: string): void {
  if (existsSync(finalDir)) {
    if (!statSync(finalDir).isDirectory()) throw new InvalidInputError(`${finalDir} exists and is not a folder`, { field: '--out' });
    const entries = readdirSync(finalDir);
    if (entries.length > 0 && !entries.includes('manifest.json')) {
      throw new InvalidInputError(`${finalDir} holds files that are not an Understudy data export; choose another --out`, { field: '--out' });
    }
    const retired = `${finalDir}.retired-${process.pid}-${Date.now().toString(36)}`;
    renameSync(finalDir, retired);
    renameSync(stagedDir, finalDir);
    rmSync(retired, { recursive: true, force: true });
    return;
  }
  renameSync(stagedDir, finalDir);
}

/**
 * Export the curated train set and the held-out set. Throws InvalidInputError when the task has no held-out set yet
 * (run `understudy data split`) or the selection is empty.
 */
export async function exportCuratedData(input: DataExportInput): Promise<DataExportResult> {
  const { store, task, labelTask } = input;
  const formats = [...new Set(input.formats)];
  if (formats.length === 0) throw new InvalidInputError('no export format given', { field: '--to' });
  const heldout: HeldoutVersion | undefined = store.curation.latestHeldout(task);
  if (heldout === undefined) throw new InvalidInputError(`task ${task} has no held-out set yet`, { hint: 'run `understudy data split` first' });
  const filterRun: FilterRunRecord | undefined = store.curation.latestFilterRun(task);
  const reviewedOnly = input.reviewedOnly === true;
  const seed = input.seed ?? 42;

  const heldoutIds = new Set(heldout.exampleIds);
  const heldoutAll = heldout.exampleIds.map((id) => store.curation.getExample(id)).filter((example): example is PoolExample => example !== undefined);
  const heldoutExamples = heldoutAll.filter((example) => example.review !== 'rejected' && example.answer !== null);
  const heldoutKeys = new Set(heldoutAll.map((example) => example.inputKey));

  const trainSide = store.curation.listPool(task, { split: 'train', review: ALL_REVIEWS }).filter((example) => !heldoutIds.has(example.id));
  const keptIds = new Set(store.curation.listPool(task, { split: 'train', keptByFilters: true }).map((example) => example.id));
  const excluded = { rejected: 0, droppedByFilters: 0, unlabeled: 0, notReviewed: 0, overlapsHeldout: 0 };
  const candidates: PoolExample[] = [];
  for (const example of trainSide) {
    if (!keptIds.has(example.id)) excluded.droppedByFilters += 1;
    else if (example.review === 'rejected') excluded.rejected += 1;
    else if (reviewedOnly && example.review === 'pending') excluded.notReviewed += 1;
    else if (example.answer === null) excluded.unlabeled += 1;
    else if (heldoutKeys.has(example.inputKey)) excluded.overlapsHeldout += 1;
    else candidates.push(example);
  }
  const { taken, summary } = mixTrainSet(candidates, { syntheticRatio: input.syntheticRatio, maxPerLabel: input.maxPerLabel, seed }, (example) => example.answer!);
  if (taken.length === 0) {
    throw new InvalidInputError(`the curated train set of task ${task} is empty (${candidates.length} candidates before mixing)`, {
      hint: reviewedOnly ? 'review some examples (understudy data review) or drop --reviewed-only' : 'import or generate examples and run `understudy data split`',
    });
  }

  const record = (example: PoolExample): { messages: ChatMessage[]; promptCompletion: PromptCompletionRecord } => {
    const messages = messagesWithAnswer(example, example.answer!, input.systemPrompt);
    return { messages, promptCompletion: { prompt: promptMessages(messages), completion: [messages.at(-1)!] } };
  };
  const trainRecords = taken.map(record);
  const heldoutRecords = heldoutExamples.map(record);

  const outDir = path.resolve(input.outDir ?? path.join(input.workspace, 'data-export', `${task}-${contentHash({
    train: taken.map((example) => [example.id, example.answer]),
    heldout: heldout.contentHash,
    heldoutKept: heldoutExamples.map((example) => [example.id, example.answer]),
    formats: [...formats].sort(),
  }).slice(0, 10)}`));
  mkdirSync(path.dirname(outDir), { recursive: true });
  const staging = `${outDir}.tmp-${process.pid}-${Date.now().toString(36)}`;
  mkdirSync(staging, { recursive: true });
  const formatOf = new Map<string, DataExportFormat>();
  try {
    const write = (format: DataExportFormat, name: string, text: string): void => {
      mkdirSync(path.join(staging, format), { recursive: true });
      writeFileSync(path.join(staging, format, name), text);
    };
    for (const format of formats) {
      input.onFormat?.(format, 'start');
      formatOf.set(format, format);
      if (format === 'openai') {
        write(format, 'train.jsonl', openAiFineTuningJsonl(trainRecords.map((item) => item.promptCompletion)));
        write(format, 'eval.jsonl', openAiFineTuningJsonl(heldoutRecords.map((item) => item.promptCompletion)));
      } else if (format === 'trl-prompt-completion') {
        write(format, 'train.jsonl', jsonl(trainRecords.map((item) => item.promptCompletion)));
        write(format, 'eval.jsonl', jsonl(heldoutRecords.map((item) => item.promptCompletion)));
      } else if (format === 'trl-messages') {
        write(format, 'train.jsonl', jsonl(trainRecords.map((item) => ({ messages: item.messages }))));
        write(format, 'eval.jsonl', jsonl(heldoutRecords.map((item) => ({ messages: item.messages }))));
      } else if (format === 'axolotl') {
        write(format, 'train.jsonl', openAiFineTuningJsonl(trainRecords.map((item) => item.promptCompletion)));
        write(format, 'eval.jsonl', openAiFineTuningJsonl(heldoutRecords.map((item) => item.promptCompletion)));
        write(format, 'axolotl-datasets.yaml', axolotlDatasetsYaml(path.join(outDir, 'axolotl', 'train.jsonl'), path.join(outDir, 'axolotl', 'eval.jsonl'), task));
      } else {
        if (input.python === undefined) throw new InvalidInputError('hf-datasets needs the Python worker environment', { field: '--to', hint: 'run `understudy setup`' });
        const source = path.join(staging, '.hf-source');
        mkdirSync(source, { recursive: true });
        writeFileSync(path.join(source, 'train.jsonl'), jsonl(trainRecords.map((item) => item.promptCompletion)));
        writeFileSync(path.join(source, 'test.jsonl'), jsonl(heldoutRecords.map((item) => item.promptCompletion)));
        await runWorker({
          python: input.python,
          spec: ExportDatasetSpecSchema.parse({
            command: 'export-dataset',
            splits: [{ name: 'train', path: path.join(source, 'train.jsonl') }, { name: 'test', path: path.join(source, 'test.jsonl') }],
            outputDir: path.join(staging, format),
          }),
          onEvent: input.onWorkerEvent,
          onStderr: input.onWorkerLog,
          timeoutMs: 30 * 60_000,
        });
        rmSync(source, { recursive: true, force: true });
      }
      input.onFormat?.(format, 'done');
    }

    const files: ExportedDataFile[] = listFiles(staging).map((relative) => {
      const bytes = readFileSync(path.join(staging, relative));
      return { path: relative, sha256: sha256Hex(bytes), bytes: bytes.length, format: formatOf.get(relative.split('/')[0]!) ?? 'manifest' };
    });
    const manifest: DataExportManifest = {
      task,
      createdAt: new Date().toISOString(),
      formats,
      train: { ...setCounts(taken, labelTask), exampleIds: taken.map((example) => example.id) },
      heldout: {
        ...setCounts(heldoutExamples, labelTask),
        version: heldout.version,
        contentHash: heldout.contentHash,
        exampleIds: heldoutExamples.map((example) => example.id),
        excludedRejected: heldoutAll.filter((example) => example.review === 'rejected').length,
        excludedUnlabeled: heldoutAll.filter((example) => example.review !== 'rejected' && example.answer === null).length,
      },
      filterRunId: filterRun?.id ?? null,
      reviewedOnly,
      mixing: summary,
      excluded,
      files: files.map(({ path: file, sha256, bytes }) => ({ path: file, sha256, bytes })),
    };
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
    writeFileSync(path.join(staging, 'manifest.json'), manifestText);
    files.push({ path: 'manifest.json', sha256: sha256Hex(manifestText), bytes: Buffer.byteLength(manifestText), format: 'manifest' });
    publishFolder(staging, outDir);
    return { outDir, manifest, files };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
