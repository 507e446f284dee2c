import { cpSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { sha256Directory, sha256File } from '../adapters/file-hash.ts';
import type { ResolvedBaseModel } from '../adapters/models/acquire.ts';
import type { RunArtifact, Store } from '../adapters/store/sqlite-store.ts';
import { runWorker } from '../adapters/worker/worker-process.ts';
import type { BaseModelRef, WorkerEvent } from '../contracts/worker.ts';
import { InvalidInputError, WorkerError } from '../core/errors.ts';
import { readPromptCompletionFile, writeAtomic } from './train.ts';
import { axolotlYaml, ollamaModelfile, openAiFineTuningJsonl, vllmServeCommand, type ExportFacts } from './export-formats.ts';

export const EXPORT_FORMATS = ['peft', 'gguf', 'merged', 'ollama', 'vllm', 'axolotl', 'openai-jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportedFile {
  format: ExportFormat;
  path: string;
  sha256: string;
  /** What to run next with it, when there is something to run. */
  next?: string;
}

interface StoredSftSpec {
  base?: BaseModelRef;
  lora?: { r: number; alpha: number; dropout: number; targetModules: 'all-linear' | string[]; useRslora?: boolean };
  training?: Record<string, unknown>;
  chatTemplate?: string;
  chatTemplateOrigin?: 'gguf' | 'built-in';
  fromRun?: string;
}

/** Everything the export writers need about a finished run, from the store and the run folder. */
export function exportFacts(store: Store, runId: string, runsDir: string): { facts: ExportFacts; spec: StoredSftSpec; method: string } {
  const run = store.getRun(runId);
  if (run === undefined) throw new InvalidInputError(`unknown run ${runId}`, { field: '--run', hint: 'see the runs with: understudy runs list' });
  const adapter = store.getAdapterForRun(runId);
  if (run.status !== 'succeeded' || adapter === undefined) throw new InvalidInputError(`run ${runId} is ${run.status}: only a finished run has an adapter to export`, { field: '--run' });
  const spec = (store.getRunSpec(runId) ?? {}) as StoredSftSpec;
  const sftSpec = run.method === 'dpo' && spec.fromRun !== undefined ? ((store.getRunSpec(spec.fromRun) ?? {}) as StoredSftSpec) : spec;
  if (sftSpec.lora === undefined || sftSpec.training === undefined) throw new InvalidInputError(`run ${runId} has no stored LoRA settings`, { field: '--run' });
  const base = store.getBaseModel(run.baseSha256);
  const catalog = (base?.metadata ?? {}) as { hubId?: string; contextLength?: number; chatTemplate?: string; id?: string };
  const training = sftSpec.training;
  const runDir = path.join(runsDir, run.method === 'dpo' && spec.fromRun !== undefined ? spec.fromRun : runId);
  const validationPath = path.join(runDir, 'validation.jsonl');
  const chatTemplate = spec.chatTemplate ?? sftSpec.chatTemplate;
  const facts: ExportFacts = {
    runId,
    adapterName: `${(catalog.id ?? 'understudy').replace(/[^a-z0-9_-]/g, '-')}-${runId.replace(/^run_/, '').slice(0, 8).toLowerCase()}`,
    base: {
      name: base?.name ?? run.baseSha256.slice(0, 12),
      ...(catalog.hubId === undefined ? {} : { hubId: catalog.hubId }),
      ggufPath: base?.path ?? '',
      ...(catalog.contextLength === undefined ? {} : { contextLength: catalog.contextLength }),
      ...(chatTemplate === undefined ? {} : { chatTemplate: { source: chatTemplate, origin: sftSpec.chatTemplateOrigin ?? 'gguf', family: catalog.chatTemplate as never } }),
    },
    adapter: { ggufPath: adapter.ggufPath, peftDir: adapter.peftPath },
    lora: { r: sftSpec.lora.r, alpha: sftSpec.lora.alpha, dropout: sftSpec.lora.dropout, targetModules: sftSpec.lora.targetModules, useRslora: sftSpec.lora.useRslora ?? false },
    training: {
      learningRate: Number(training.learningRate),
      epochs: Number(training.epochs),
      maxSteps: Number(training.maxSteps),
      batchSize: Number(training.batchSize),
      gradientAccumulation: Number(training.gradientAccumulation),
      maxLength: Number(training.maxLength),
      warmupRatio: Number(training.warmupRatio),
      scheduler: training.scheduler as ExportFacts['training']['scheduler'],
      seed: Number(training.seed),
      packing: training.packing === true,
      bf16: training.precision === 'bf16',
      gradientCheckpointing: training.gradientCheckpointing === true,
      evalSteps: Number(training.evalSteps ?? 0),
      saveSteps: Number(training.saveSteps ?? 0),
      earlyStoppingPatience: Number(training.earlyStoppingPatience ?? 0),
    },
    trainPath: path.join(runDir, 'train.jsonl'),
    ...(existsSync(validationPath) ? { validationPath } : {}),
  };
  const firstRecord = existsSync(facts.trainPath) ? readPromptCompletionFile(facts.trainPath)[0] : undefined;
  const system = firstRecord?.prompt.find((message) => message.role === 'system')?.content;
  if (system !== undefined) facts.systemPrompt = system;
  return { facts, spec, method: run.method };
}

/**
 * Export a finished run to one serving or training stack. Files go to `outDir` (created; an existing export of
 * the same format is replaced whole); each is recorded as a run artifact with its sha256.
 */
export async function exportRun(input: {
  store: Store;
  runsDir: string;
  runId: string;
  format: ExportFormat;
  outDir: string;
  python?: string;
  base?: ResolvedBaseModel;
  /** merged: the tensor type of the saved weights. */
  dtype?: 'float16' | 'bfloat16' | 'float32';
  signal?: AbortSignal;
  onEvent?: (event: WorkerEvent) => void;
}): Promise<ExportedFile[]> {
  const { store, runId, format } = input;
  const { facts, spec, method } = exportFacts(store, runId, input.runsDir);
  const outDir = path.resolve(input.outDir);
  mkdirSync(outDir, { recursive: true });
  const exported: ExportedFile[] = [];
  const record = async (file: string, next?: string): Promise<void> => {
    const sha256 = statSync(file).isDirectory() ? await sha256Directory(file) : await sha256File(file);
    const artifact: RunArtifact = store.recordArtifact({ runId, kind: `export:${format}`, path: file, sha256, details: next === undefined ? {} : { next } });
    exported.push({ format, path: artifact.path, sha256: artifact.sha256, ...(next === undefined ? {} : { next }) });
  };

  switch (format) {
    case 'peft': {
      const target = path.join(outDir, 'peft');
      const staging = `${target}.tmp-${process.pid}`;
      rmSync(staging, { recursive: true, force: true });
      cpSync(facts.adapter.peftDir, staging, { recursive: true });
      rmSync(target, { recursive: true, force: true });
      renameSync(staging, target);
      await record(target, `PeftModel.from_pretrained(base, '${target}')`);
      break;
    }
    case 'gguf': {
      const target = path.join(outDir, path.basename(facts.adapter.ggufPath));
      cpSync(facts.adapter.ggufPath, `${target}.tmp-${process.pid}`);
      renameSync(`${target}.tmp-${process.pid}`, target);
      await record(target, `llama-server -m ${facts.base.ggufPath} --lora ${target}`);
      break;
    }
    case 'ollama': {
      const target = path.join(outDir, 'Modelfile');
      writeAtomic(target, ollamaModelfile(facts));
      await record(target, `ollama create ${facts.adapterName} -f ${target}`);
      break;
    }
    case 'vllm': {
      const target = path.join(outDir, 'serve-vllm.sh');
      writeAtomic(target, vllmServeCommand(facts), 0o755);
      await record(target, `sh ${target}`);
      break;
    }
    case 'openai-jsonl':
    case 'axolotl': {
      if (format === 'axolotl' && method !== 'sft') throw new InvalidInputError(`run ${runId} is a ${method} run; the Axolotl export writes the SFT config`, { field: '--to' });
      const train = path.join(outDir, 'train.messages.jsonl');
      writeAtomic(train, openAiFineTuningJsonl(readPromptCompletionFile(facts.trainPath)));
      let validation: string | undefined;
      if (facts.validationPath !== undefined) {
        validation = path.join(outDir, 'validation.messages.jsonl');
        writeAtomic(validation, openAiFineTuningJsonl(readPromptCompletionFile(facts.validationPath)));
      }
      if (format === 'openai-jsonl') {
        await record(train, 'upload with purpose "fine-tune" (OpenAI fine-tuning chat format)');
        if (validation !== undefined) await record(validation);
        break;
      }
      const target = path.join(outDir, 'axolotl.yaml');
      writeAtomic(target, axolotlYaml(facts, { messagesTrainPath: train, ...(validation === undefined ? {} : { messagesValidationPath: validation }), outputDir: path.join(outDir, 'axolotl-output') }));
      await record(target, `axolotl train ${target}`);
      break;
    }
    case 'merged': {
      if (input.python === undefined || input.base === undefined) throw new InvalidInputError('the merged export needs the worker environment and the base model', { field: '--to' });
      if (spec.chatTemplate === undefined && facts.base.chatTemplate === undefined) throw new InvalidInputError(`run ${runId} stored no chat template`, { field: '--run' });
      const target = path.join(outDir, 'merged');
      rmSync(target, { recursive: true, force: true });
      const outcome = await runWorker({
        python: input.python,
        spec: {
          command: 'export-merged',
          base: spec.base ?? { kind: 'gguf', path: input.base.ggufPath },
          adapterDir: facts.adapter.peftDir,
          outputDir: target,
          chatTemplate: facts.base.chatTemplate!.source,
          dtype: input.dtype ?? 'float16',
        },
        signal: input.signal,
        onEvent: input.onEvent,
      });
      const artifact = outcome.events.find((event) => event.event === 'artifact' && event.kind === 'merged-model');
      if (artifact?.event !== 'artifact' || !existsSync(path.join(target, 'model.safetensors'))) throw new WorkerError('the merge finished but model.safetensors is missing', { file: target });
      await record(target, `vllm serve ${target}`);
      break;
    }
  }
  return exported;
}
