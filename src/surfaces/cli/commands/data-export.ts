import { ensureWorkerEnvironment } from '../../../adapters/worker/python-env.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { exportCuratedData, parseDataExportFormats, type DataExportFormat } from '../../../pipeline/export-data.ts';
import type { Output, ProgressTask } from '../output.ts';
import { openDataContext, type DataCommandOptions } from './data-context.ts';

export interface DataExportOptions extends DataCommandOptions {
  to: string;
  out?: string;
  syntheticRatio?: string;
  maxPerLabel?: string;
  reviewedOnly?: boolean;
  seed?: string;
}

function parseNumber(value: string | undefined, option: string, check: (number: number) => boolean, expected: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || !check(number)) throw new InvalidInputError(`${option} must be ${expected}, got ${JSON.stringify(value)}`, { field: option });
  return number;
}

/**
 * `understudy data export --to <formats>`: the curated train set (mixed to `--synthetic-ratio`) and the held-out set
 * as OpenAI JSONL, TRL prompt-completion or messages JSONL, Axolotl JSONL + dataset YAML, or a Hugging Face
 * DatasetDict, with a manifest.json of counts, the held-out version, the filter run and each file's sha256.
 */
export async function runDataExport(options: DataExportOptions, output: Output): Promise<void> {
  const formats = parseDataExportFormats(options.to);
  const syntheticRatio = parseNumber(options.syntheticRatio, '--synthetic-ratio', (number) => number >= 0 && number <= 1, 'a number from 0 to 1');
  const maxPerLabel = parseNumber(options.maxPerLabel, '--max-per-label', (number) => Number.isInteger(number) && number > 0, 'a positive integer');
  const context = openDataContext(options);
  const { store, task, loaded, workspace } = context;
  const seed = parseNumber(options.seed, '--seed', Number.isInteger, 'an integer') ?? loaded.config.training.seed ?? 42;
  try {
    const python = formats.includes('hf-datasets') ? (await ensureWorkerEnvironment()).python : undefined;
    const tasks = new Map<DataExportFormat, ProgressTask>();
    const result = await exportCuratedData({
      store,
      task,
      systemPrompt: loaded.config.task.systemPrompt,
      labelTask: loaded.config.task.output.type === 'labels',
      workspace,
      formats,
      outDir: options.out,
      syntheticRatio,
      maxPerLabel,
      reviewedOnly: options.reviewedOnly === true,
      seed,
      python,
      onFormat: (format, state) => {
        if (state === 'start') tasks.set(format, output.task(`export ${format}`, 1, 'format'));
        else {
          tasks.get(format)?.update(1);
          tasks.get(format)?.done();
        }
      },
      onWorkerLog: () => undefined,
    });
    const { manifest } = result;
    if (!output.json) {
      const sources = (counts: Record<string, number>): string => Object.entries(counts).filter(([, count]) => count > 0).map(([source, count]) => `${count} ${source}`).join(', ') || 'none';
      output.info(`train: ${manifest.train.total} examples (${sources(manifest.train.bySource)}), synthetic share ${(manifest.mixing.syntheticShare * 100).toFixed(1)}%`);
      output.info(`  left out by the ratio: ${sources(manifest.mixing.droppedByRatio)}; by the per-label cap: ${sources(manifest.mixing.droppedByLabelCap)}`);
      const excluded = Object.entries(manifest.excluded).filter(([, count]) => count > 0).map(([why, count]) => `${count} ${why}`).join(', ');
      if (excluded !== '') output.info(`  not exported: ${excluded}`);
      output.info(`held-out: ${manifest.heldout.total} examples (version ${manifest.heldout.version}, ${manifest.heldout.contentHash.slice(0, 12)})`);
      output.info(`written to ${result.outDir}`);
      for (const file of result.files) output.info(`  ${file.path.padEnd(44)} ${file.sha256.slice(0, 16)}`);
    }
    output.result({ ok: true, task, outDir: result.outDir, formats, train: manifest.train.total, heldout: manifest.heldout.total, mixing: manifest.mixing, excluded: manifest.excluded, files: result.files });
  } finally {
    store.close();
  }
}
