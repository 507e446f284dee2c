import { MODEL_CATALOG } from '../../../adapters/models/catalog.ts';
import { pullCatalogModel } from '../../../adapters/models/acquire.ts';
import type { Output } from '../output.ts';

export async function runModelsList(_options: { json?: boolean }, output: Output): Promise<void> {
  if (!output.json) {
    output.info(`${'id'.padEnd(24)} ${'params'.padStart(7)} ${'context'.padStart(8)}  ${'licence'.padEnd(11)} template  quant`);
    for (const model of MODEL_CATALOG) {
      output.info(`${model.id.padEnd(24)} ${`${model.parametersMillions}M`.padStart(7)} ${String(model.contextLength).padStart(8)}  ${model.licence.padEnd(11)} ${model.chatTemplate.padEnd(9)} ${model.quantization}`);
    }
  }
  output.result({ ok: true, command: 'models list', models: MODEL_CATALOG });
}

export async function runModelsPull(options: { json?: boolean }, output: Output, args: string[]): Promise<void> {
  const id = args[0] ?? '';
  const task = output.task(`pull ${id}`, 4, 'steps');
  const phases = ['download', 'extract', 'verify', 'cached'];
  const model = await pullCatalogModel(id, {
    verifyCached: true,
    onProgress: (progress) => task.update(phases.indexOf(progress.phase) + 1, { phase: progress.message }),
  });
  task.done(`${model.ggufPath} (sha256 ${model.sha256.slice(0, 16)}…)`);
  output.result({ ok: true, command: 'models pull', id: model.name, path: model.ggufPath, sha256: model.sha256, catalog: model.catalog });
}
