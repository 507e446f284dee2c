import type { LoadedConfig } from '../adapters/config-file.ts';
import { HARDWARE_PRICES, HARDWARE_PRICES_COMPILED, type HardwarePrice } from '../adapters/pricing/hardware-prices.ts';
import { createHostedPricer } from '../adapters/pricing/hosted-prices.ts';
import type { Store } from '../adapters/store/sqlite-store.ts';
import type { EvalCandidate } from '../contracts/config.ts';
import {
  computeEconomics,
  costCurve,
  mixView,
  sensitivityTable,
  type CostCurvePoint,
  type EconomicsInput,
  type EconomicsResult,
  type MixResult,
  type SensitivityRow,
} from '../core/economics.ts';
import { InvalidInputError } from '../core/errors.ts';
import { mean } from '../core/statistics.ts';
import type { EvalCandidateResult, EvalRunResult } from './eval-run.ts';
import { describeRun } from './run-records.ts';

/** The candidates whose measurements price both paths: the prompt the hosted model gets, and the tuned model's serving. */
export const ECONOMICS_CANDIDATES = { prompted: 'prompted-zero-shot', tuned: 'tuned-adapter', tunedPrompt: 'tuned-prompt' } as const;

export interface EconomicsReport {
  input: EconomicsInput;
  result: EconomicsResult;
  sensitivity: SensitivityRow[];
  curve: CostCurvePoint[];
  mix: MixResult | null;
  hardware: { training: HardwarePrice; serving: HardwarePrice; compiled: string };
  /** Where each figure came from that was estimated rather than measured, in words. */
  notes: string[];
}

/** A machine by id: the user's `economics.hardware` entries win over the dated table. */
export function resolveHardware(loaded: LoadedConfig, id: string, field: string): HardwarePrice {
  const override = loaded.config.economics.hardware.find((entry) => entry.id === id);
  const listed = HARDWARE_PRICES.find((entry) => entry.id === id);
  if (override !== undefined) {
    return {
      ...(listed ?? { vendor: 'configured', accelerator: null, acceleratorCount: 0, acceleratorMemoryGb: null, vcpus: null, terms: 'configured' }),
      id,
      description: override.description ?? listed?.description ?? id,
      usdPerHour: override.usdPerHour,
      source: override.source ?? `economics.hardware in ${loaded.file}`,
      asOf: listed?.asOf ?? 'configured',
    };
  }
  if (listed !== undefined) return listed;
  throw new InvalidInputError(`no machine ${JSON.stringify(id)} in the hardware price table`, {
    file: loaded.file,
    field,
    hint: `add it under economics.hardware with its usdPerHour, or choose one of: ${HARDWARE_PRICES.map((entry) => entry.id).join(', ')}`,
  });
}

/** Fail before any measuring when a configured machine is unknown. */
export function checkEconomicsConfig(loaded: LoadedConfig): void {
  resolveHardware(loaded, loaded.config.economics.training.hardware, 'economics.training.hardware');
  resolveHardware(loaded, loaded.config.economics.serving.hardware, 'economics.serving.hardware');
}

/** The eval candidates `economics` and `decide` measure with: zero-shot prompt, the tuned model (or its prompt on the base), the hosted candidate. */
export function economicsCandidates(loaded: LoadedConfig, store: Store): EvalCandidate[] {
  const specs: EvalCandidate[] = [{ kind: 'prompted-base', name: ECONOMICS_CANDIDATES.prompted, shots: 0 }];
  const hasAdapter = store.listRuns().some((run) => run.status === 'succeeded' && store.getAdapterForRun(run.id) !== undefined);
  specs.push(
    hasAdapter
      ? { kind: 'adapter', name: ECONOMICS_CANDIDATES.tuned, run: 'latest' }
      : { kind: 'prompted-base', name: ECONOMICS_CANDIDATES.tunedPrompt, shots: 0, prompt: loaded.config.task.systemPrompt },
  );
  const hostedName = loaded.config.economics.hosted.candidate;
  if (hostedName !== undefined) {
    const hosted = loaded.config.evaluation.candidates?.find((candidate) => candidate.name === hostedName);
    if (hosted === undefined || hosted.kind !== 'provider') {
      throw new InvalidInputError(`economics.hosted.candidate ${JSON.stringify(hostedName)} is not a provider candidate under evaluation.candidates`, { file: loaded.file, field: 'economics.hosted.candidate' });
    }
    specs.push(hosted);
  }
  return specs;
}

export interface EconomicsOverrides {
  tasksPerMonth?: number;
  horizonMonths?: number;
}

/**
 * Every input of the economics, measured where the workspace can measure it: token counts and latency from the
 * evaluation, training tokens and throughput from the newest finished run, the teacher's spend from the pool.
 * Configured values win; whatever is neither measured nor configured is an error that says how to get it.
 */
export function buildEconomics(loaded: LoadedConfig, store: Store, evaluation: Pick<EvalRunResult, 'candidates' | 'gate'>, overrides: EconomicsOverrides = {}): EconomicsReport {
  const settings = loaded.config.economics;
  const notes: string[] = [];
  const candidate = (name: string): EvalCandidateResult | undefined => evaluation.candidates.find((entry) => entry.name === name);

  // Hosted path.
  let hosted: EconomicsInput['hosted'];
  if (settings.hosted.candidate !== undefined) {
    const measured = candidate(settings.hosted.candidate);
    if (measured === undefined) throw new InvalidInputError(`the evaluation has no candidate ${settings.hosted.candidate}`, { file: loaded.file, field: 'economics.hosted.candidate' });
    if (measured.costPer1000Usd === null) {
      throw new InvalidInputError(`${settings.hosted.candidate}'s calls have no known price`, { file: loaded.file, field: 'economics.hosted.candidate', hint: 'add the model under pricing.overrides' });
    }
    hosted = {
      usdPerTask: measured.costPer1000Usd / 1000,
      promptTokens: measured.promptTokensMean,
      completionTokens: measured.completionTokensMean,
      source: `${measured.describe}: measured on ${measured.n} held-out tasks`,
    };
  } else {
    const model = settings.hosted.model;
    if (model === undefined) throw new InvalidInputError('economics.hosted needs a candidate or a model to price', { file: loaded.file, field: 'economics.hosted' });
    const prompted = candidate(ECONOMICS_CANDIDATES.prompted);
    const promptTokens = settings.hosted.promptTokens ?? prompted?.promptTokensMean;
    const completionTokens = settings.hosted.completionTokens ?? prompted?.completionTokensMean;
    if (promptTokens === undefined || completionTokens === undefined) {
      throw new InvalidInputError('no token counts for the hosted path', { file: loaded.file, field: 'economics.hosted.promptTokens' });
    }
    const pricer = createHostedPricer({ provider: settings.hosted.priceAs ?? 'hosted', ...(settings.hosted.priceAs === undefined ? {} : { catalogProvider: settings.hosted.priceAs }), overrides: loaded.config.pricing.overrides });
    // Priced per 1,000 tasks so that fractional mean token counts keep their precision.
    const costOf1000 = pricer({ promptTokens: Math.round(promptTokens * 1000), completionTokens: Math.round(completionTokens * 1000) }, model);
    if (costOf1000.kind !== 'priced') throw new InvalidInputError(`cannot price the hosted model: ${costOf1000.reason}`, { file: loaded.file, field: 'economics.hosted.model' });
    const cost = { ...costOf1000, usd: costOf1000.usd / 1000 };
    const tokensFrom =
      settings.hosted.promptTokens !== undefined && settings.hosted.completionTokens !== undefined
        ? 'configured token counts'
        : `${Math.round(promptTokens)} prompt + ${Math.round(completionTokens)} completion tokens per task, measured with the baseline prompt on ${prompted?.n ?? 0} held-out tasks by the base model's tokenizer`;
    hosted = { usdPerTask: cost.usd, promptTokens, completionTokens, source: `${model} at ${cost.source} prices (${cost.detail}); ${tokensFrom}` };
    if (settings.hosted.promptTokens === undefined) notes.push("hosted token counts come from the base model's tokenizer; the hosted model's own tokenizer may count 10-30% differently");
  }

  // Fine-tune one-off.
  const trainingMachine = resolveHardware(loaded, settings.training.hardware, 'economics.training.hardware');
  // The local fine-tune's throughput prices training; a hosted fine-tune's run has no local throughput.
  const latestRun = store.listRuns().find((run) => run.status === 'succeeded' && run.method !== 'dpo' && store.getAdapterForRun(run.id) !== undefined);
  const run = latestRun === undefined ? undefined : describeRun(store, latestRun.id);
  const runEpochs = typeof run?.spec.training?.epochs === 'number' && run.spec.training.epochs > 0 ? run.spec.training.epochs : 1;
  const tokensPerSecond = settings.training.tokensPerSecond ?? run?.tokensPerSecond ?? undefined;
  const trainTokensPerEpoch = settings.training.trainTokens ?? (run?.trainTokens === null || run?.trainTokens === undefined ? undefined : run.trainTokens / runEpochs);
  if (tokensPerSecond === undefined || trainTokensPerEpoch === undefined) {
    throw new InvalidInputError('no training throughput to price the fine-tune: this workspace has no finished run', {
      file: loaded.file,
      field: 'economics.training.tokensPerSecond',
      hint: 'train once (`understudy train`), or set economics.training.tokensPerSecond and trainTokens (npm run bench:train measures a machine)',
    });
  }
  const epochs = settings.training.epochs ?? runEpochs;
  const teacherSpend = settings.training.dataGenerationUsd ?? store.curation
    .listBatches(loaded.config.task.name)
    .filter((batch) => batch.kind === 'generate' || batch.kind === 'relabel')
    .reduce((sum, batch) => sum + (typeof batch.source.costUsd === 'number' ? batch.source.costUsd : 0), 0);
  const fineTune: EconomicsInput['fineTune'] = {
    trainTokens: trainTokensPerEpoch,
    epochs,
    tokensPerSecond,
    usdPerHour: trainingMachine.usdPerHour,
    dataGenerationUsd: teacherSpend,
    otherUsd: settings.training.otherUsd,
    source: [
      settings.training.tokensPerSecond === undefined ? `${tokensPerSecond.toFixed(1)} tokens/s measured by ${run!.id}` : `${tokensPerSecond} tokens/s configured`,
      settings.training.trainTokens === undefined ? `${Math.round(trainTokensPerEpoch)} tokens per epoch from ${run!.id}` : 'configured training tokens',
      `${epochs} epoch(s) on ${trainingMachine.id} ($${trainingMachine.usdPerHour}/h)`,
      settings.training.dataGenerationUsd === undefined ? `teacher spend $${teacherSpend.toFixed(2)} from the pool's generation records` : 'configured data cost',
    ].join('; '),
  };
  if (settings.training.tokensPerSecond === undefined) notes.push(`training throughput was measured on the machine that ran ${run!.id}; it holds for ${trainingMachine.id} only if that is the same kind of machine`);

  // Serving.
  const servingMachine = resolveHardware(loaded, settings.serving.hardware, 'economics.serving.hardware');
  const tuned = candidate(ECONOMICS_CANDIDATES.tuned) ?? candidate(ECONOMICS_CANDIDATES.tunedPrompt);
  const secondsPerTask = settings.serving.secondsPerTask ?? (tuned === undefined ? undefined : mean(tuned.latenciesMs) / 1000);
  if (secondsPerTask === undefined) throw new InvalidInputError('no serving latency measured', { file: loaded.file, field: 'economics.serving.secondsPerTask' });
  const serving: EconomicsInput['serving'] = {
    usdPerHour: servingMachine.usdPerHour,
    secondsPerTask,
    utilization: settings.serving.utilization,
    opsOverhead: settings.serving.opsOverhead,
    minInstances: settings.serving.minInstances,
    source:
      settings.serving.secondsPerTask === undefined
        ? `${(secondsPerTask * 1000).toFixed(0)} ms per task: mean latency of ${tuned!.describe}, one request at a time on this machine, over ${tuned!.n} held-out tasks; ${servingMachine.id} at $${servingMachine.usdPerHour}/h`
        : `${secondsPerTask} s per task configured; ${servingMachine.id} at $${servingMachine.usdPerHour}/h`,
  };
  if (settings.serving.secondsPerTask === undefined) notes.push(`serving time was measured on this machine; it holds for ${servingMachine.id} only if that is the same kind of machine (set economics.serving.secondsPerTask otherwise)`);

  const input: EconomicsInput = {
    hosted,
    fineTune,
    serving,
    tasksPerMonth: overrides.tasksPerMonth ?? settings.tasksPerMonth,
    horizonMonths: overrides.horizonMonths ?? settings.horizonMonths,
  };
  const result = computeEconomics(input);
  const tunedPerTask = result.per1000.tunedServingUsd / 1000;
  const mix =
    settings.subtasks.length === 0
      ? null
      : mixView(
          [
            {
              name: loaded.config.task.name,
              tasksPerMonth: input.tasksPerMonth,
              hostedUsdPerTask: hosted.usdPerTask,
              tunedUsdPerTask: tunedPerTask,
              oneOffUsd: result.oneOff.totalUsd,
              qualityOk: evaluation.gate === null ? null : evaluation.gate.pass,
            },
            ...settings.subtasks.map((subtask) => ({
              name: subtask.name,
              tasksPerMonth: subtask.tasksPerMonth,
              hostedUsdPerTask: subtask.hostedUsdPer1000 / 1000,
              tunedUsdPerTask: subtask.tunedUsdPer1000 === undefined ? tunedPerTask : subtask.tunedUsdPer1000 / 1000,
              oneOffUsd: subtask.oneOffUsd ?? result.oneOff.totalUsd,
              qualityOk: subtask.qualityOk ?? null,
            })),
          ],
          input.horizonMonths,
        );
  return {
    input,
    result,
    sensitivity: sensitivityTable(input),
    curve: costCurve(input, result),
    mix,
    hardware: { training: trainingMachine, serving: servingMachine, compiled: HARDWARE_PRICES_COMPILED },
    notes,
  };
}
