import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../adapters/config-file.ts';
import { pullCatalogModel, resolveLocalModel, type ResolvedBaseModel } from '../adapters/models/acquire.ts';
import { requantizedBase } from '../adapters/models/requantize.ts';
import { compileResolvedChatTemplate, resolveChatTemplate, type ResolvedChatTemplate } from '../adapters/models/chat-template-source.ts';
import { openStore } from '../adapters/store/sqlite-store.ts';
import { ensureWorkerEnvironment, type SetupProgress } from '../adapters/worker/python-env.ts';
import type { WorkerEvent } from '../contracts/worker.ts';
import { fillTemplate } from '../core/templates.ts';
import { classificationMessages, prepareClassificationData } from './prepare-data.ts';
import { trainSft, type TrainResult } from './train.ts';
import { compareCandidates, runCandidates, summarizeCandidate, type Candidate, type CandidateOutput, type CandidateSummary, type Comparison } from './evaluate.ts';
import { buildEvalReport } from './slice-report.ts';
import { renderEvalReportHtml } from './report-html.ts';

export interface SliceHooks {
  onSetup?: (progress: SetupProgress) => void;
  onModel?: (message: string) => void;
  onTrainEvent?: (event: WorkerEvent) => void;
  onWorkerLog?: (line: string) => void;
  onEvalProgress?: (candidate: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SliceResult {
  workspace: string;
  databaseFile: string;
  reportFile: string;
  base: { name: string; sha256: string; path: string };
  /** The chat template the adapter was trained and both candidates were served with. */
  chatTemplate: Pick<ResolvedChatTemplate, 'origin' | 'family' | 'sha256'>;
  data: { trainDatasetId: string; trainHash: string; trainExamples: number; evalDatasetId: string; evalHash: string; evalExamples: number; droppedForOverlap: number };
  training: Pick<TrainResult, 'seconds' | 'trainLoss' | 'trainTokens' | 'tokensPerSecond' | 'steps' | 'truncatedExamples' | 'bestStep' | 'bestEvalLoss' | 'stoppedEarly'> & {
    runId: string;
    adapterId: string;
    adapterSha256: string;
    adapterPath: string;
  };
  candidates: CandidateSummary[];
  comparison: Comparison;
  evalId: string;
  evalHash: string;
  setupSeconds: number;
  totalSeconds: number;
}

export const BASELINE_CANDIDATE = 'prompted-base';
export const TUNED_CANDIDATE = 'tuned-adapter';

export async function resolveBaseModel(loaded: LoadedConfig, onMessage?: (message: string) => void): Promise<ResolvedBaseModel> {
  const base = loaded.config.baseModel;
  if ('catalog' in base) {
    const pulled = await pullCatalogModel(base.catalog, { onProgress: (progress) => onMessage?.(progress.message) });
    return base.requantize === undefined ? pulled : requantizedBase(pulled, onMessage);
  }
  const ggufPath = path.resolve(loaded.directory, base.ggufPath);
  return resolveLocalModel(ggufPath, 'hfDir' in base ? path.resolve(loaded.directory, base.hfDir) : undefined);
}

/** The base's chat template: the GGUF's own, else the family the catalog entry (or the config) names. */
export function resolveBaseChatTemplate(loaded: LoadedConfig, base: ResolvedBaseModel): Promise<ResolvedChatTemplate> {
  const configured = loaded.config.baseModel;
  const family = base.catalog?.chatTemplate ?? ('chatTemplate' in configured ? configured.chatTemplate : undefined);
  return resolveChatTemplate(base.ggufPath, { family });
}

/**
 * The first real slice, end to end: worker environment, base model, a stratified held-out
 * sample and a decontaminated training sample, LoRA SFT, then prompted base vs tuned adapter on
 * the held-out sample with paired statistics, stored and written to an HTML report.
 */
export async function runSlice(loaded: LoadedConfig, workspace: string, hooks: SliceHooks & { threads?: number } = {}): Promise<SliceResult> {
  const started = Date.now();
  mkdirSync(workspace, { recursive: true });
  const databaseFile = path.join(workspace, 'understudy.db');
  const store = openStore(databaseFile);
  try {
    const environment = await ensureWorkerEnvironment({ onProgress: hooks.onSetup });
    const setupSeconds = (Date.now() - started) / 1000;
    const base = await resolveBaseModel(loaded, hooks.onModel);
    const chatTemplate = await resolveBaseChatTemplate(loaded, base);
    hooks.onModel?.(`chat template: ${chatTemplate.origin === 'gguf' ? 'the GGUF\'s own' : `built-in ${chatTemplate.family ?? ''}`} (sha256 ${chatTemplate.sha256.slice(0, 12)})`);
    const compiledTemplate = compileResolvedChatTemplate(chatTemplate);
    const data = prepareClassificationData(loaded, store);
    const { config, labels } = loaded;

    const training = await trainSft({
      store,
      python: environment.python,
      base,
      chatTemplate,
      datasetId: data.train.dataset.id,
      training: config.training,
      runsDir: path.join(workspace, 'runs'),
      threads: hooks.threads,
      signal: hooks.signal,
      onEvent: hooks.onTrainEvent,
      onStderr: hooks.onWorkerLog,
    });

    const baselinePrompt = fillTemplate(config.task.baselinePrompt, { labels: labels.join('\n') });
    const candidates: Candidate[] = [
      { name: BASELINE_CANDIDATE, modelPath: base.ggufPath, chatTemplate: compiledTemplate, messagesFor: (input) => classificationMessages(baselinePrompt, input) },
      {
        name: TUNED_CANDIDATE,
        modelPath: base.ggufPath,
        adapterPath: training.adapter.ggufPath,
        chatTemplate: compiledTemplate,
        messagesFor: (input) => classificationMessages(config.task.systemPrompt, input),
      },
    ];
    const outputs = await runCandidates({
      candidates,
      examples: data.eval.examples,
      labels,
      constrainToLabels: config.evaluation.constrainToLabels,
      maxTokens: config.evaluation.maxTokens,
      threads: hooks.threads,
      onProgress: hooks.onEvalProgress,
    });
    const baselineRows = outputs.get(BASELINE_CANDIDATE)!;
    const tunedRows = outputs.get(TUNED_CANDIDATE)!;
    const summaries = [summarizeCandidate(BASELINE_CANDIDATE, baselineRows, labels), summarizeCandidate(TUNED_CANDIDATE, tunedRows, labels)];
    const comparison = compareCandidates(baselineRows, tunedRows, { iterations: config.evaluation.bootstrapIterations, seed: config.evaluation.seed });

    const evalConfig = {
      candidates: candidates.map((candidate) => ({ name: candidate.name, adapterSha256: candidate.adapterPath === undefined ? null : training.adapter.ggufSha256 })),
      baseSha256: base.sha256,
      chatTemplateSha256: chatTemplate.sha256,
      constrainToLabels: config.evaluation.constrainToLabels,
      maxTokens: config.evaluation.maxTokens,
      decoding: 'greedy',
    };
    const allRows: CandidateOutput[] = [...baselineRows, ...tunedRows];
    const savedEval = store.saveEval({ datasetId: data.eval.dataset.id, config: evalConfig, summary: { summaries, comparison }, results: allRows });

    const result: SliceResult = {
      workspace,
      databaseFile,
      reportFile: path.join(workspace, 'report.html'),
      base: { name: base.name, sha256: base.sha256, path: base.ggufPath },
      chatTemplate: { origin: chatTemplate.origin, family: chatTemplate.family, sha256: chatTemplate.sha256 },
      data: {
        trainDatasetId: data.train.dataset.id,
        trainHash: data.train.dataset.contentHash,
        trainExamples: data.train.examples.length,
        evalDatasetId: data.eval.dataset.id,
        evalHash: data.eval.dataset.contentHash,
        evalExamples: data.eval.examples.length,
        droppedForOverlap: data.droppedForOverlap,
      },
      training: {
        runId: training.run.id,
        adapterId: training.adapter.id,
        adapterSha256: training.adapter.ggufSha256,
        adapterPath: training.adapter.ggufPath,
        seconds: training.seconds,
        trainLoss: training.trainLoss,
        trainTokens: training.trainTokens,
        tokensPerSecond: training.tokensPerSecond,
        steps: training.steps,
        truncatedExamples: training.truncatedExamples,
        bestStep: training.bestStep,
        bestEvalLoss: training.bestEvalLoss,
        stoppedEarly: training.stoppedEarly,
      },
      candidates: summaries,
      comparison,
      evalId: savedEval.id,
      evalHash: savedEval.contentHash,
      setupSeconds,
      totalSeconds: 0,
    };
    result.totalSeconds = (Date.now() - started) / 1000;
    const html = renderEvalReportHtml(buildEvalReport({ result, config, labels, baselineRows, tunedRows, lossCurve: training.lossCurve }));
    const temporary = `${result.reportFile}.tmp`;
    writeFileSync(temporary, html);
    renameSync(temporary, result.reportFile);
    return result;
  } finally {
    store.close();
  }
}
