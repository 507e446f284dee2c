import type { ChatMessage } from '../contracts/worker.ts';
import { createEmbeddedProvider } from '../adapters/llm/embedded-provider.ts';
import { BASE_MODEL_NAME, createCpuLlama, createLlamaCppEngine } from '../adapters/llm/llama-cpp-engine.ts';
import type { ChatTemplate } from '../core/chat-template.ts';
import type { EvalResultRow, StoredExample } from '../adapters/store/sqlite-store.ts';
import { accuracy, macroF1 } from '../core/classification-metrics.ts';
import { mcnemarExact, mean, pairedBootstrap, pairedBootstrapOverIndices, percentile, wilsonInterval } from '../core/statistics.ts';

/** One system under test: a model (+ adapter) with the instruction it gets. */
export interface Candidate {
  name: string;
  modelPath: string;
  adapterPath?: string;
  /** The model's chat template (the one its adapter was trained with): renders the conversation to the prompt. */
  chatTemplate: ChatTemplate;
  /** Builds the conversation for one input. */
  messagesFor(input: string): ChatMessage[];
}

export interface CandidateOutput extends EvalResultRow {
  gold: string;
  input: string;
}

export interface CandidateSummary {
  name: string;
  n: number;
  accuracy: number;
  accuracyInterval: { low: number; high: number };
  macroF1: number;
  /** Answers outside the label set (only possible without constrained decoding). */
  invalidAnswers: number;
  promptTokensMean: number;
  completionTokensMean: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
}

export interface Comparison {
  baseline: string;
  candidate: string;
  accuracyDifference: { difference: number; low: number; high: number };
  macroF1Difference: { difference: number; low: number; high: number };
  mcnemar: { b01: number; b10: number; pValue: number };
  bootstrapIterations: number;
}

/**
 * Run every candidate over the examples with greedy decoding, through the provider interface: the candidates on one
 * base share one embedded engine (the base weights loaded once), each adapter chosen per request by name.
 */
export async function runCandidates(input: {
  candidates: readonly Candidate[];
  examples: readonly StoredExample[];
  labels: readonly string[];
  constrainToLabels: boolean;
  maxTokens: number;
  threads?: number;
  onProgress?: (candidate: string, done: number, total: number) => void;
}): Promise<Map<string, CandidateOutput[]>> {
  const outputs = new Map<string, CandidateOutput[]>();
  // One llama.cpp backend for all candidates: starting it (and its binary check) once, not per candidate.
  const llama = await createCpuLlama();
  try {
    const byBase = new Map<string, Candidate[]>();
    for (const candidate of input.candidates) byBase.set(candidate.modelPath, [...(byBase.get(candidate.modelPath) ?? []), candidate]);
    for (const [modelPath, candidates] of byBase) {
      const adapterName = (index: number): string => `candidate-${index}`;
      const engine = await createLlamaCppEngine({
        llama,
        modelPath,
        threads: input.threads,
        chatTemplate: candidates[0]!.chatTemplate.source,
        adapters: candidates.flatMap((candidate, index) => (candidate.adapterPath === undefined ? [] : [{ name: adapterName(index), path: candidate.adapterPath }])),
      });
      const provider = createEmbeddedProvider({ engine });
      try {
        for (const [index, candidate] of candidates.entries()) {
          const rows: CandidateOutput[] = [];
          for (const example of input.examples) {
            const result = await provider.complete({
              model: candidate.adapterPath === undefined ? BASE_MODEL_NAME : adapterName(index),
              messages: candidate.messagesFor(example.input),
              maxTokens: input.maxTokens,
              ...(input.constrainToLabels ? { constraint: { kind: 'labels' as const, labels: [...input.labels] } } : {}),
            });
            const output = result.text.trim();
            rows.push({
              candidate: candidate.name,
              exampleId: example.id,
              input: example.input,
              gold: example.label ?? '',
              output,
              correct: output === example.label,
              promptTokens: result.usage?.promptTokens ?? 0,
              completionTokens: result.usage?.completionTokens ?? 0,
              latencyMs: result.latency.totalMs,
            });
            input.onProgress?.(candidate.name, rows.length, input.examples.length);
          }
          outputs.set(candidate.name, rows);
        }
      } finally {
        await provider.close();
        await engine.dispose();
      }
    }
  } finally {
    await llama.dispose();
  }
  return outputs;
}

export function summarizeCandidate(name: string, rows: readonly CandidateOutput[], labels: readonly string[]): CandidateSummary {
  const gold = rows.map((row) => row.gold);
  const predicted = rows.map((row) => row.output);
  const correct = rows.filter((row) => row.correct).length;
  const labelSet = new Set(labels);
  const interval = wilsonInterval(correct, rows.length, 0.95);
  const latencies = rows.map((row) => row.latencyMs);
  return {
    name,
    n: rows.length,
    accuracy: accuracy(gold, predicted),
    accuracyInterval: { low: interval.low, high: interval.high },
    macroF1: macroF1(gold, predicted),
    invalidAnswers: predicted.filter((label) => !labelSet.has(label)).length,
    promptTokensMean: mean(rows.map((row) => row.promptTokens)),
    completionTokensMean: mean(rows.map((row) => row.completionTokens)),
    latencyP50Ms: percentile(latencies, 50),
    latencyP95Ms: percentile(latencies, 95),
  };
}

/** Paired comparison of `candidate` against `baseline` on the same examples in the same order. */
export function compareCandidates(baselineRows: readonly CandidateOutput[], candidateRows: readonly CandidateOutput[], options: { iterations: number; seed: number }): Comparison {
  if (baselineRows.length !== candidateRows.length || baselineRows.some((row, index) => row.exampleId !== candidateRows[index]!.exampleId)) {
    throw new Error('paired comparison needs both candidates scored on the same examples in the same order');
  }
  const a = baselineRows.map((row) => (row.correct ? 1 : 0));
  const b = candidateRows.map((row) => (row.correct ? 1 : 0));
  const gold = baselineRows.map((row) => row.gold);
  const accuracyDifference = pairedBootstrap({ a, b, iterations: options.iterations, seed: options.seed });
  const macroF1Difference = pairedBootstrapMetric(gold, baselineRows.map((row) => row.output), candidateRows.map((row) => row.output), options);
  const mcnemar = mcnemarExact(baselineRows.map((row) => row.correct), candidateRows.map((row) => row.correct));
  return {
    baseline: baselineRows[0]?.candidate ?? 'baseline',
    candidate: candidateRows[0]?.candidate ?? 'candidate',
    accuracyDifference: { difference: accuracyDifference.difference, low: accuracyDifference.low, high: accuracyDifference.high },
    macroF1Difference,
    mcnemar: { b01: mcnemar.b01, b10: mcnemar.b10, pValue: mcnemar.pValue },
    bootstrapIterations: options.iterations,
  };
}

function pairedBootstrapMetric(gold: string[], baseline: string[], candidate: string[], options: { iterations: number; seed: number }): { difference: number; low: number; high: number } {
  const result = pairedBootstrapOverIndices({
    n: gold.length,
    metric: (indices) => {
      const pick = (values: string[]): string[] => indices.map((index) => values[index]!);
      const goldSample = pick(gold);
      return macroF1(goldSample, pick(candidate)) - macroF1(goldSample, pick(baseline));
    },
    iterations: options.iterations,
    seed: options.seed,
  });
  return { difference: result.difference, low: result.low, high: result.high };
}

