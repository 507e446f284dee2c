import { cachedModelPath, pullCatalogModel, pulledModelPath, requirePullableModel } from '../../../adapters/models/acquire.ts';
import { existsSync } from 'node:fs';
import { MODEL_CATALOG, findCatalogModel, requireCatalogModel, type CatalogModel } from '../../../adapters/models/catalog.ts';
import { requantizedPath, requantizeGguf } from '../../../adapters/models/requantize.ts';
import { ensureWorkerEnvironment } from '../../../adapters/worker/python-env.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { formatTable, type Output } from '../output.ts';

/** `understudy models list`: the catalog as a table, and whether each offline model is pulled already. */
export async function runModelsList(_options: { json?: boolean }, output: Output): Promise<void> {
  const rows = MODEL_CATALOG.map((model) => ({ model, pulledPath: pulledModelPath(model) }));
  if (!output.json) {
    const table = [
      ['id', 'params', 'context', 'licence', 'template', 'offline', 'pulled'],
      ...rows.map(({ model, pulledPath }) => [
        model.id,
        formatParameters(model.parametersMillions),
        formatContext(model.contextLength),
        model.licence,
        model.chatTemplate,
        model.offline === undefined ? 'no (hub)' : `yes ${model.offline.quantization}`,
        model.offline === undefined ? '-' : pulledPath === undefined ? 'no' : 'yes',
      ]),
    ];
    for (const line of formatTable(table, [false, true, true, false, false, false, false])) output.info(line);
    output.info('');
    output.info('details: understudy models info <id>    pull an offline model: understudy models pull <id>');
  }
  output.result({ ok: true, command: 'models list', models: rows.map(({ model, pulledPath }) => ({ ...model, pulledPath: pulledPath ?? null })) });
}

/** `understudy models info <id>`: every fact the catalog holds about one model, with its sources. */
export async function runModelsInfo(_options: { json?: boolean }, output: Output, args: string[]): Promise<void> {
  const model = requireCatalogModel(args[0] ?? '');
  const pulledPath = pulledModelPath(model);
  if (!output.json) for (const line of describeModel(model, pulledPath)) output.info(line);
  output.result({ ok: true, command: 'models info', model, cachePath: cachedModelPath(model) ?? null, pulledPath: pulledPath ?? null });
}

/** `understudy models pull <id>`: download, join, verify and cache an offline model's GGUF, with progress per step. */
export async function runModelsPull(_options: { json?: boolean }, output: Output, args: string[]): Promise<void> {
  // Checked here first so a bad id is reported as the command's argument, not as a config field.
  const id = requirePullableModel(args[0] ?? '').id;
  const task = output.task(`pull ${id}`, 1, 'steps');
  let cached = false;
  const model = await pullCatalogModel(id, {
    verifyCached: true,
    onProgress: (progress) => {
      if (progress.phase === 'cached') cached = true;
      task.update(progress.step, { phase: progress.message }, progress.totalSteps);
    },
  });
  task.done(`${cached ? 'already pulled' : 'pulled'}: ${model.ggufPath} (sha256 ${model.sha256.slice(0, 16)}…)`);
  output.result({ ok: true, command: 'models pull', id: model.name, path: model.ggufPath, sha256: model.sha256, cached, catalog: model.catalog });
}

/**
 * `understudy models requantize <id | file.gguf> [--out file]`: a Q4_0 copy of a model GGUF, which llama.cpp's CPU
 * backend repacks for its batched kernels (on the 2-core EPYC: about 2x batched decoding and prefill against Q4_1).
 * Without --out the copy sits beside the original (for a catalog model, in its cache folder) and is reused.
 */
export async function runModelsRequantize(options: { json?: boolean; out?: string }, output: Output, args: string[]): Promise<void> {
  const argument = args[0] ?? '';
  const catalog = findCatalogModel(argument);
  let inputPath = argument;
  if (catalog !== undefined) inputPath = (await pullCatalogModel(requirePullableModel(catalog.id).id, { onProgress: (progress) => output.info(progress.message) })).ggufPath;
  else if (!existsSync(inputPath)) throw new InvalidInputError(`${JSON.stringify(argument)} is neither a catalog id nor a GGUF file`, { field: 'model', hint: 'understudy models list' });
  const outputPath = options.out ?? requantizedPath(inputPath);
  if (options.out === undefined && existsSync(outputPath)) {
    output.info(`already requantized: ${outputPath}`);
    output.result({ ok: true, command: 'models requantize', input: inputPath, path: outputPath, cached: true });
    return;
  }
  const { python } = await ensureWorkerEnvironment({ onProgress: (progress) => output.info(progress.message) });
  const task = output.task('requantize to Q4_0', 1, 'tensors');
  const result = await requantizeGguf({ python, inputPath, outputPath, onProgress: (done, total) => task.update(done, {}, total) });
  const converted = Object.entries(result.convertedTensors).map(([type, count]) => `${count} ${type}`).join(', ');
  task.done(`${outputPath}: ${converted} matrices to Q4_0, ${result.keptTensors} tensors kept; relative RMS change of the weights ${(result.relativeRmsChange * 100).toFixed(2)}%`);
  output.info('train adapters on this file (baseModel.ggufPath) rather than moving ones trained on the original onto it');
  output.result({ ok: true, command: 'models requantize', input: inputPath, path: outputPath, cached: false, ...result });
}

function describeModel(model: CatalogModel, pulledPath: string | undefined): string[] {
  const facts: [string, string][] = [
    ['parameters', `${formatParameters(model.parametersMillions)} (${model.parametersMillions.toLocaleString('en-US')} million)`],
    ['context', `${model.contextLength.toLocaleString('en-US')} tokens`],
    ['licence', `${model.licence}  ${model.licenceUrl}`],
    ['chat template', model.chatTemplate],
    ['tuning', model.instructionTuned ? 'instruction-tuned' : 'pretrained base'],
    ['architecture', `${model.architecture} (llama.cpp GGUF name)`],
    ['hub id', model.hubId],
    ['model card', model.modelCard],
  ];
  if (model.note !== undefined) facts.push(['note', model.note]);
  const offline = model.offline;
  if (offline === undefined) {
    facts.push(['offline', `no: download a GGUF of ${model.hubId} yourself and set baseModel.ggufPath to it`]);
  } else {
    if (offline.kind === 'pypi-wheel') facts.push(['offline', `PyPI ${offline.package}==${offline.version}, file ${offline.member}`]);
    else {
      facts.push(['offline', `PyPI, ${offline.parts.length} part wheels joined in order`]);
      for (const [index, part] of offline.parts.entries()) facts.push([`  part ${index + 1}`, `${part.package}==${part.version}, file ${part.member}`]);
    }
    facts.push(
      ['file', `${offline.fileName}, ${offline.quantization}, ${offline.sizeBytes.toLocaleString('en-US')} bytes`],
      ['sha256', offline.sha256],
      ['template in GGUF', offline.ggufHasChatTemplate ? 'yes' : `no (Understudy supplies the ${model.chatTemplate} template)`],
      ['provenance', offline.provenance],
      ['pulled', pulledPath ?? `no: understudy models pull ${model.id}`],
    );
  }
  const width = Math.max(...facts.map(([label]) => label.length));
  return [`${model.displayName} (${model.id})`, ...facts.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)];
}

/** 135 -> "135M", 1230 -> "1.23B", 8000 -> "8B". */
export function formatParameters(millions: number): string {
  return millions < 1000 ? `${millions}M` : `${Number((millions / 1000).toFixed(2))}B`;
}

/** 8192 -> "8K", 131072 -> "128K"; lengths that are not a whole number of K are written out. */
export function formatContext(tokens: number): string {
  return tokens % 1024 === 0 ? `${tokens / 1024}K` : tokens.toLocaleString('en-US');
}
