import path from 'node:path';
import { existsSync } from 'node:fs';
import { resolveLocalModel } from '../../../adapters/models/acquire.ts';
import { openStore } from '../../../adapters/store/sqlite-store.ts';
import { ensureWorkerEnvironment } from '../../../adapters/worker/python-env.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { EXPORT_FORMATS, exportRun, type ExportedFile, type ExportFormat } from '../../../pipeline/export-run.ts';
import type { Output } from '../output.ts';

export interface ExportOptions {
  workspace: string;
  run?: string;
  to: string;
  out?: string;
  dtype?: 'float16' | 'bfloat16' | 'float32';
  json?: boolean;
}

/** Parse `--to peft,gguf,ollama` (or `all`) into known formats, naming the first unknown one. */
export function parseFormats(value: string): ExportFormat[] {
  const names = value.split(',').map((name) => name.trim()).filter(Boolean);
  if (names.length === 1 && names[0] === 'all') return [...EXPORT_FORMATS];
  for (const name of names) {
    if (!(EXPORT_FORMATS as readonly string[]).includes(name)) {
      throw new InvalidInputError(`unknown export format ${JSON.stringify(name)}; expected ${EXPORT_FORMATS.join(', ')} or all`, { field: '--to' });
    }
  }
  if (names.length === 0) throw new InvalidInputError('--to needs at least one format', { field: '--to' });
  return names as ExportFormat[];
}

/**
 * `understudy export --to <formats> [--run <id>]`: a finished run's adapter for other tools — PEFT directory, GGUF
 * LoRA, merged safetensors (vLLM/TGI), Ollama Modelfile, vLLM serve script, Axolotl YAML, OpenAI fine-tuning JSONL.
 */
export async function runExport(options: ExportOptions, output: Output): Promise<void> {
  const formats = parseFormats(options.to);
  const workspace = path.resolve(options.workspace);
  const databaseFile = path.join(workspace, 'understudy.db');
  if (!existsSync(databaseFile)) throw new InvalidInputError('no workspace database here', { file: databaseFile, hint: 'train first (understudy train or understudy demo), or pass --workspace' });
  const store = openStore(databaseFile);
  try {
    const runId = options.run ?? store.listRuns().find((run) => run.status === 'succeeded' && store.getAdapterForRun(run.id) !== undefined)?.id;
    if (runId === undefined) throw new InvalidInputError('the workspace has no finished run with a local adapter to export', { field: '--run' });
    const hosted = store.getHostedModelForRun(runId);
    if (hosted !== undefined) {
      throw new InvalidInputError(`run ${runId} is a hosted fine-tune (${hosted.model}); its weights stay with the service, so there is no adapter to export`, { field: '--run', hint: 'call it through a route or eval candidate instead' });
    }
    const outDir = path.resolve(options.out ?? path.join(workspace, 'exports', runId));
    const needsWorker = formats.includes('merged');
    const python = needsWorker ? (await ensureWorkerEnvironment()).python : undefined;
    const run = store.getRun(runId);
    const baseRecord = run === undefined ? undefined : store.getBaseModel(run.baseSha256);
    const base = needsWorker && baseRecord !== undefined ? await resolveLocalModel(baseRecord.path) : undefined;
    const files: ExportedFile[] = [];
    for (const format of formats) {
      const task = output.task(`export ${format}`, 1, 'file');
      const written = await exportRun({ store, runsDir: path.join(workspace, 'runs'), runId, format, outDir, python, base, dtype: options.dtype });
      task.update(1);
      task.done(written.map((file) => file.path).join(', '));
      files.push(...written);
    }
    if (!output.json) {
      for (const file of files) output.info(`${file.format.padEnd(13)} ${file.path}${file.next === undefined ? '' : `\n${' '.repeat(14)}next: ${file.next}`}`);
    }
    output.result({ ok: true, command: 'export', runId, outDir, files });
  } finally {
    store.close();
  }
}
