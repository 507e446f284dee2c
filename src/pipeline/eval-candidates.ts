import type { LoadedConfig } from '../adapters/config-file.ts';
import { createEmbeddedProvider } from '../adapters/llm/embedded-provider.ts';
import { BASE_MODEL_NAME, createLlamaCppEngine, threadLayout } from '../adapters/llm/llama-cpp-engine.ts';
import type { ResolvedBaseModel } from '../adapters/models/acquire.ts';
import type { ResolvedChatTemplate } from '../adapters/models/chat-template-source.ts';
import { createHostedModelProvider } from '../adapters/finetune/hosted-model-provider.ts';
import type { HostedModelRecord, Store, StoredExample } from '../adapters/store/sqlite-store.ts';
import type { EvalCandidate } from '../contracts/config.ts';
import type { ChatProvider, ChatRequest, ChatResult } from '../contracts/provider.ts';
import type { ChatMessage } from '../contracts/worker.ts';
import { contentHash } from '../core/content-hash.ts';
import { InvalidInputError } from '../core/errors.ts';
import { mapConcurrently } from '../core/map-concurrently.ts';
import { seedFrom, shuffle } from '../core/random.ts';
import { fillTemplate } from '../core/templates.ts';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createBm25Index, splitPassages } from '../core/bm25.ts';
import type { CandidateOutput } from './evaluate.ts';
import { selectTeacher, type TeacherModel } from './teacher-provider.ts';

/** The default comparison: the prompted base, zero-shot, against the newest tuned adapter. */
export const DEFAULT_EVAL_CANDIDATES: EvalCandidate[] = [
  { kind: 'prompted-base', name: 'prompted-base', shots: 0 },
  { kind: 'adapter', name: 'tuned-adapter', run: 'latest' },
];

/** A candidate ready to answer: how it builds each conversation, and a fingerprint of everything behind its answers. */
export interface ResolvedEvalCandidate {
  name: string;
  kind: EvalCandidate['kind'];
  /** sha256 of the model (and adapter), chat template, prompt, shots and decoding: a cached answer is reused only under the same one. */
  fingerprint: string;
  /** A one-line description for reports: `SmolLM2 + adapter run_x (sha 1a2b…)`. */
  describe: string;
  messagesFor(input: string): ChatMessage[];
  adapterPath?: string;
  adapterSha256?: string;
  runId?: string;
  provider?: string;
  /** A run fine-tuned at a hosted service: answered there, through the OpenAI-compatible protocol, not on the engine. */
  hosted?: HostedModelRecord;
}

export interface EvalOutput extends CandidateOutput {
  /** The call's priced cost; null when the model has no known price. */
  costUsd: number | null;
  /** Answered from the eval cache (no model call). */
  cached: boolean;
}

interface CandidateContext {
  loaded: LoadedConfig;
  store: Store;
  base: ResolvedBaseModel;
  chatTemplate: ResolvedChatTemplate;
  /** Where few-shot examples come from: the training data, never the held-out set. */
  trainExamples: readonly StoredExample[];
  /**
   * Parallel sequences of the embedded engine (the eval's concurrency). Part of an embedded candidate's fingerprint:
   * batched decoding rounds differently and can flip a near-tied greedy answer (bench:eval: 0-3 of 400), so answers
   * decoded one at a time and answers decoded in a batch are never mixed in the cache.
   */
  sequences: number;
  /** llama.cpp contexts the sequences are split over (`evaluation.engineContexts`, at most `sequences`); default: the engine's layout. */
  contexts?: number;
  /** The engine's CPU threads; default: the engine's layout. */
  threads?: number;
}

/** The engine settings in an embedded candidate's fingerprint; `contexts` only when above 1, so older caches still match. */
const engineFingerprint = (context: CandidateContext): { sequences: number; contexts?: number } => {
  const { contexts } = threadLayout(engineLayoutOptions(context), context.sequences);
  return contexts > 1 ? { sequences: context.sequences, contexts } : { sequences: context.sequences };
};

/** The engine's thread options from the eval's: contexts at most the sequences; unset ones left to the engine. */
const engineLayoutOptions = (context: Pick<CandidateContext, 'contexts' | 'threads' | 'sequences'>): { parallelContexts?: number; threads?: number } => ({
  ...(context.contexts === undefined ? {} : { parallelContexts: Math.min(context.contexts, context.sequences) }),
  ...(context.threads === undefined ? {} : { threads: context.threads }),
});

/** Turn configured candidates into runnable ones: find each adapter's run, build prompts and few-shot examples. */
export function resolveEvalCandidates(context: CandidateContext, specs: readonly EvalCandidate[]): ResolvedEvalCandidate[] {
  const { loaded, store, base, chatTemplate } = context;
  const { config, labels } = loaded;
  const names = new Set<string>();
  const decoding = { temperature: 0, maxTokens: config.evaluation.maxTokens, constrainToLabels: config.evaluation.constrainToLabels };
  const baselinePrompt = fillTemplate(config.task.baselinePrompt, { labels: labels.join('\n') });
  const shotsFor = (count: number, seed: string): ChatMessage[] => {
    if (count === 0) return [];
    const pool = context.trainExamples.filter((example) => example.label !== null);
    if (pool.length < count) throw new InvalidInputError(`${count} shots need ${count} labelled training examples; there are ${pool.length}`, { field: 'evaluation.candidates.shots' });
    return shuffle(pool, seedFrom('shots', seed)).slice(0, count).flatMap((example): ChatMessage[] => [
      { role: 'user', content: example.input },
      { role: 'assistant', content: example.label! },
    ]);
  };
  /** A candidate's system prompt, and the retrieved-context step when it has a knowledge file. */
  const promptOf = (spec: Extract<EvalCandidate, { kind: 'prompted-base' | 'provider' }>, index: number): { system: string; knowledge: { sha256: string; k: number; context(input: string): string } | undefined } => {
    const system = spec.prompt === undefined ? baselinePrompt : fillTemplate(spec.prompt, { labels: labels.join('\n') });
    if (spec.knowledgeFile === undefined) return { system, knowledge: undefined };
    const file = path.resolve(loaded.directory, spec.knowledgeFile);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new InvalidInputError(`cannot read the knowledge file ${file}: ${error instanceof Error ? error.message : String(error)}`, { file: loaded.file, field: `evaluation.candidates[${index}].knowledgeFile` });
    }
    const passages = splitPassages(text);
    if (passages.length === 0) throw new InvalidInputError(`the knowledge file ${file} has no text`, { file, field: `evaluation.candidates[${index}].knowledgeFile` });
    const index_ = createBm25Index(passages);
    const k = spec.retrieve ?? 3;
    return {
      system,
      knowledge: {
        sha256: contentHash(passages),
        k,
        context: (input) => {
          const found = index_.search(input, k);
          return found.length === 0 ? input : `Context:\n${found.map((entry) => `- ${entry.passage}`).join('\n')}\n\nInput: ${input}`;
        },
      },
    };
  };
  return specs.map((spec, index) => {
    if (names.has(spec.name)) throw new InvalidInputError(`two candidates are named ${JSON.stringify(spec.name)}`, { file: loaded.file, field: `evaluation.candidates[${index}].name` });
    names.add(spec.name);
    if (spec.kind === 'prompted-base') {
      const shots = shotsFor(spec.shots, spec.name);
      const { system, knowledge } = promptOf(spec, index);
      return {
        name: spec.name,
        kind: spec.kind,
        fingerprint: contentHash({
          base: base.sha256,
          template: chatTemplate.sha256,
          system,
          shots,
          decoding,
          engine: engineFingerprint(context),
          ...(knowledge === undefined ? {} : { knowledge: { sha256: knowledge.sha256, k: knowledge.k } }),
        }),
        describe: `${base.name} prompted${spec.shots > 0 ? `, ${spec.shots}-shot` : ', zero-shot'}${spec.prompt === undefined ? '' : ', own prompt'}${knowledge === undefined ? '' : `, ${knowledge.k} retrieved passages`}`,
        messagesFor: (input) => [{ role: 'system', content: system }, ...shots, { role: 'user', content: knowledge === undefined ? input : knowledge.context(input) }],
      };
    }
    if (spec.kind === 'adapter') {
      // A finished run has a local adapter or, when it was fine-tuned at a hosted service, a hosted model.
      const finished = (runId: string): boolean => store.getAdapterForRun(runId) !== undefined || store.getHostedModelForRun(runId) !== undefined;
      const run = spec.run === 'latest' ? store.listRuns().find((candidate) => candidate.status === 'succeeded' && finished(candidate.id)) : store.getRun(spec.run) ?? store.listRuns().find((candidate) => candidate.id.startsWith(spec.run));
      const hosted = run === undefined ? undefined : store.getHostedModelForRun(run.id);
      if (run !== undefined && hosted !== undefined) {
        return {
          name: spec.name,
          kind: spec.kind,
          fingerprint: contentHash({ hosted: { service: hosted.service, baseUrl: hosted.baseUrl, model: hosted.model }, system: config.task.systemPrompt, decoding }),
          describe: `${hosted.model} (${hosted.service} fine-tune of ${hosted.baseModel}, run ${run.id})`,
          messagesFor: (input) => [{ role: 'system', content: config.task.systemPrompt }, { role: 'user', content: input }],
          runId: run.id,
          hosted,
        };
      }
      const adapter = run === undefined ? undefined : store.getAdapterForRun(run.id);
      if (run === undefined || adapter === undefined) {
        throw new InvalidInputError(spec.run === 'latest' ? 'no finished training run in this workspace' : `no finished run ${spec.run}`, { file: loaded.file, field: `evaluation.candidates[${index}].run`, hint: 'train one with `understudy train`, or see `understudy runs list`' });
      }
      if (adapter.baseSha256 !== base.sha256) {
        throw new InvalidInputError(`run ${run.id} was trained on another base (${adapter.baseSha256.slice(0, 12)}), not ${base.name} (${base.sha256.slice(0, 12)})`, { field: `evaluation.candidates[${index}].run` });
      }
      return {
        name: spec.name,
        kind: spec.kind,
        fingerprint: contentHash({ base: base.sha256, adapter: adapter.ggufSha256, template: chatTemplate.sha256, system: config.task.systemPrompt, decoding, engine: engineFingerprint(context) }),
        describe: `${base.name} + adapter of ${run.id} (${adapter.ggufSha256.slice(0, 12)})`,
        messagesFor: (input) => [{ role: 'system', content: config.task.systemPrompt }, { role: 'user', content: input }],
        adapterPath: adapter.ggufPath,
        adapterSha256: adapter.ggufSha256,
        runId: run.id,
      };
    }
    const provider = config.providers[spec.provider];
    if (provider === undefined) throw new InvalidInputError(`no provider named ${JSON.stringify(spec.provider)}`, { file: loaded.file, field: `evaluation.candidates[${index}].provider` });
    const shots = shotsFor(spec.shots, spec.name);
    const { system, knowledge } = promptOf(spec, index);
    return {
      name: spec.name,
      kind: spec.kind,
      fingerprint: contentHash({
        provider: spec.provider,
        baseUrl: provider.baseUrl,
        model: provider.model,
        system,
        shots,
        decoding,
        ...(knowledge === undefined ? {} : { knowledge: { sha256: knowledge.sha256, k: knowledge.k } }),
      }),
      describe: `${spec.provider} ${provider.model}${spec.shots > 0 ? `, ${spec.shots}-shot` : ''}${spec.prompt === undefined ? '' : ', own prompt'}${knowledge === undefined ? '' : `, ${knowledge.k} retrieved passages`}`,
      messagesFor: (input) => [{ role: 'system', content: system }, ...shots, { role: 'user', content: knowledge === undefined ? input : knowledge.context(input) }],
      provider: spec.provider,
    };
  });
}

/**
 * Every candidate answers every example, `concurrency` requests at a time per candidate, through the provider
 * interface: the embedded candidates share one llama.cpp engine (each adapter chosen per request), provider
 * candidates go to their endpoint. An answer already in the eval cache under the candidate's fingerprint and the
 * conversation's hash is reused without a call, so re-running a report costs nothing.
 */
export async function runEvalCandidates(input: CandidateContext & {
  candidates: readonly ResolvedEvalCandidate[];
  examples: readonly StoredExample[];
  concurrency: number;
  signal?: AbortSignal;
  onProgress?: (candidate: string, done: number, total: number) => void;
}): Promise<Map<string, EvalOutput[]>> {
  const { loaded, store, candidates, examples } = input;
  const { config, labels } = loaded;
  const outputs = new Map<string, EvalOutput[]>();
  const request = (candidate: ResolvedEvalCandidate, messages: ChatMessage[], model: string | undefined): ChatRequest => ({
    ...(model === undefined ? {} : { model }),
    messages,
    temperature: 0,
    maxTokens: config.evaluation.maxTokens,
    ...(config.evaluation.constrainToLabels && config.task.output.type === 'labels' ? { constraint: { kind: 'labels' as const, labels: [...labels] } } : {}),
    ...(config.task.output.type === 'json-schema' ? { constraint: { kind: 'json-schema' as const, schema: config.task.output.schema } } : {}),
  });
  const answerAll = async (candidate: ResolvedEvalCandidate, provider: ChatProvider, model: string | undefined): Promise<void> => {
    let done = 0;
    const rows = await mapConcurrently(examples, Math.max(1, input.concurrency), async (example): Promise<EvalOutput> => {
      const messages = candidate.messagesFor(example.input);
      const inputHash = contentHash(messages);
      const cached = store.cachedEvalOutput(candidate.fingerprint, inputHash);
      let output: string;
      let usage: ChatResult['usage'] | null;
      let cost: ChatResult['cost'] | null;
      let latencyMs: number;
      if (cached !== undefined) {
        output = cached.output;
        usage = cached.usage as ChatResult['usage'];
        cost = cached.cost as ChatResult['cost'];
        latencyMs = cached.latencyMs;
      } else {
        const result = await provider.complete(request(candidate, messages, model), input.signal === undefined ? {} : { signal: input.signal });
        output = result.text.trim();
        usage = result.usage;
        cost = result.cost;
        latencyMs = result.latency.totalMs;
        store.cacheEvalOutput({ fingerprint: candidate.fingerprint, inputHash, output, usage, cost, latencyMs });
      }
      done += 1;
      input.onProgress?.(candidate.name, done, examples.length);
      return {
        candidate: candidate.name,
        exampleId: example.id,
        input: example.input,
        gold: example.label ?? '',
        output,
        correct: isCorrect(output, example.label, config.task.output.type),
        promptTokens: usage?.promptTokens ?? 0,
        completionTokens: usage?.completionTokens ?? 0,
        latencyMs,
        costUsd: cost?.kind === 'priced' ? cost.usd : null,
        cached: cached !== undefined,
      };
    });
    outputs.set(candidate.name, rows);
  };

  const embedded = candidates.filter((candidate) => candidate.kind !== 'provider' && candidate.hosted === undefined);
  const everyAnswerCached = (candidate: ResolvedEvalCandidate): boolean =>
    examples.every((example) => store.cachedEvalOutput(candidate.fingerprint, contentHash(candidate.messagesFor(example.input))) !== undefined);
  // Everything cached: no engine to load, no endpoint to call.
  const idle: ChatProvider = {
    id: 'cache',
    complete: () => Promise.reject(new Error('every answer should have come from the cache')),
    stream: () => {
      throw new Error('not used');
    },
    close: () => Promise.resolve(),
  };
  if (embedded.length > 0 && !embedded.every(everyAnswerCached)) {
    const adapterName = (index: number): string => `candidate-${index}`;
    const engine = await createLlamaCppEngine({
      modelPath: input.base.ggufPath,
      chatTemplate: input.chatTemplate.source,
      sequences: input.concurrency,
      ...engineLayoutOptions({ ...input, sequences: input.concurrency }),
      adapters: embedded.flatMap((candidate, index) => (candidate.adapterPath === undefined ? [] : [{ name: adapterName(index), path: candidate.adapterPath }])),
    });
    const serving = config.pricing.serving;
    const provider = createEmbeddedProvider({ engine, ...(serving === undefined ? {} : { serving }) });
    try {
      for (const [index, candidate] of embedded.entries()) await answerAll(candidate, provider, candidate.adapterPath === undefined ? BASE_MODEL_NAME : adapterName(index));
    } finally {
      await provider.close();
      await engine.dispose();
    }
  } else {
    for (const candidate of embedded) await answerAll(candidate, idle, undefined);
  }
  for (const candidate of candidates) {
    const hosted = candidate.hosted;
    if (hosted === undefined) continue;
    const provider = everyAnswerCached(candidate) ? idle : createHostedModelProvider(hosted, config.pricing, { targets: config.targets });
    try {
      await answerAll(candidate, provider, undefined);
    } finally {
      await provider.close();
    }
  }
  for (const candidate of candidates.filter((entry) => entry.kind === 'provider')) {
    let teacher: TeacherModel | undefined;
    try {
      teacher = await selectTeacher(loaded, candidate.provider);
      await answerAll(candidate, teacher.provider, teacher.requestModel);
    } finally {
      await teacher?.close();
    }
  }
  return new Map(candidates.map((candidate) => [candidate.name, outputs.get(candidate.name)!]));
}

/** A label task's answer is right when it is the gold label; a JSON task's when it equals the gold JSON. */
function isCorrect(output: string, gold: string | null, kind: 'labels' | 'json-schema'): boolean {
  if (gold === null) return false;
  if (kind === 'labels') return output === gold;
  try {
    return contentHash(JSON.parse(output)) === contentHash(JSON.parse(gold));
  } catch {
    return false;
  }
}
