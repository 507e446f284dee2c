import type { WorkspaceConfig } from '../contracts/config.ts';
import { confusionMatrix } from '../core/classification-metrics.ts';
import type { CandidateOutput } from './evaluate.ts';
import type { EvalReport } from './report-html.ts';
import type { SliceResult } from './run-slice.ts';

/** Assemble the HTML report's input from a finished slice, its per-example outputs and the loss curve. */
export function buildEvalReport(input: {
  result: SliceResult;
  config: WorkspaceConfig;
  labels: readonly string[];
  baselineRows: readonly CandidateOutput[];
  tunedRows: readonly CandidateOutput[];
  lossCurve: readonly { step: number; loss: number }[];
}): EvalReport {
  const { result, config, baselineRows, tunedRows } = input;
  const rowsByCandidate = new Map([[baselineRows[0]?.candidate, baselineRows], [tunedRows[0]?.candidate, tunedRows]]);
  const matrix = confusionMatrix(tunedRows.map((row) => row.gold), tunedRows.map((row) => row.output), { labels: [...input.labels] });
  return {
    title: `Understudy: ${config.task.name}: prompted base vs tuned adapter`,
    createdAt: new Date().toISOString(),
    task: { name: config.task.name, labelCount: input.labels.length },
    provenance: {
      dataset: { name: `${config.task.name} (held-out)`, contentHash: result.data.evalHash, id: result.data.evalDatasetId },
      trainDataset: { name: `${config.task.name} (train)`, contentHash: result.data.trainHash, id: result.data.trainDatasetId },
      baseModel: { name: result.base.name, sha256: result.base.sha256 },
      adapter: { id: result.training.adapterId, sha256: result.training.adapterSha256 },
      evalSample: { size: result.data.evalExamples, seed: config.evaluation.seed },
      evaluation: { id: result.evalId, contentHash: result.evalHash },
    },
    candidates: result.candidates.map((summary) => ({
      ...summary,
      latenciesMs: (rowsByCandidate.get(summary.name) ?? []).map((row) => row.latencyMs),
    })),
    comparison: result.comparison,
    training: {
      examples: result.data.trainExamples,
      steps: result.training.steps ?? 0,
      seconds: result.training.seconds,
      tokensPerSecond: result.training.tokensPerSecond ?? 0,
      finalLoss: result.training.trainLoss,
      lossCurve: input.lossCurve,
      epochs: config.training.epochs,
      truncatedExamples: result.training.truncatedExamples ?? undefined,
    },
    confusion: { candidate: tunedRows[0]?.candidate ?? 'tuned', labels: matrix.labels, counts: matrix.counts },
    disagreements: baselineRows.flatMap((row, index) => {
      const tuned = tunedRows[index]!;
      return row.output === tuned.output ? [] : [{ input: row.input, gold: row.gold, baselineOutput: row.output, candidateOutput: tuned.output }];
    }),
    notes: [
      `Decoding: greedy; answers ${config.evaluation.constrainToLabels ? 'constrained to the label set by a grammar' : 'unconstrained'}, for both candidates.`,
      `The prompted base sees all ${input.labels.length} labels in its system prompt; the tuned adapter sees a one-line instruction.`,
      `${result.data.droppedForOverlap} training-pool rows were dropped because their normalized text matches a held-out input.`,
      `Chat template (training and serving): ${result.chatTemplate.origin === 'gguf' ? "the base GGUF's own" : `Understudy's built-in ${result.chatTemplate.family ?? ''} template`}, sha256 ${result.chatTemplate.sha256}.`,
      `LoRA r=${config.training.lora.r}, alpha=${config.training.lora.alpha}, targets ${JSON.stringify(config.training.lora.targetModules)}, ${config.training.epochs} epoch(s), lr ${config.training.learningRate}.`,
    ],
  };
}
