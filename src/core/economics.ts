/**
 * The economics of moving a sub-task from a hosted model to a tuned small model: what each path costs per task,
 * what the fine-tune costs once, the lifetime volume where the two cumulative cost lines cross, the payback time
 * at the stated traffic, and how those move when prices, volume and utilization move. Pure arithmetic: every
 * figure comes from the inputs, which say where they were measured.
 */

/** Hours in an average month (365.25 × 24 / 12). */
export const HOURS_PER_MONTH = 730.5;

export interface HostedPathInput {
  /** What one task costs on the hosted model today, in US dollars. */
  usdPerTask: number;
  promptTokens: number;
  completionTokens: number;
  /** Where the price and the token counts come from, in words. */
  source: string;
}

export interface FineTuneInput {
  /** Tokens the trainer processes per epoch (chat template included). */
  trainTokens: number;
  epochs: number;
  /** Training throughput on the training machine, tokens per second. */
  tokensPerSecond: number;
  /** The training machine's price per hour. */
  usdPerHour: number;
  /** What the teacher model cost to write and check the training data. */
  dataGenerationUsd: number;
  /** Any other one-off cost the team counts (evaluation runs, review hours, engineering). */
  otherUsd: number;
  source: string;
}

export interface ServingInput {
  /** The serving machine's price per hour. */
  usdPerHour: number;
  /** Machine-seconds one task takes at the measured throughput (all concurrent sequences together). */
  secondsPerTask: number;
  /** Share of paid machine time that does useful work (0-1]: idle capacity is paid for too. */
  utilization: number;
  /** Operations on top of the machine (monitoring, on-call, upgrades), as a fraction of the machine cost. */
  opsOverhead: number;
  /** Machines kept running whatever the traffic (0: scale to zero). */
  minInstances: number;
  source: string;
}

export interface EconomicsInput {
  hosted: HostedPathInput;
  fineTune: FineTuneInput;
  serving: ServingInput;
  /** Stated traffic, tasks per month. */
  tasksPerMonth: number;
  /** How long the tuned model is expected to serve before it is replaced, in months. */
  horizonMonths: number;
}

export interface OneOffCost {
  trainingHours: number;
  trainingUsd: number;
  dataGenerationUsd: number;
  otherUsd: number;
  totalUsd: number;
}

export interface EconomicsResult {
  oneOff: OneOffCost;
  /** Cost per 1,000 tasks: hosted; tuned serving at the stated traffic; tuned with the one-off spread over the horizon. */
  per1000: { hostedUsd: number; tunedServingUsd: number; tunedAllInUsd: number };
  /** Monthly cost at the stated traffic. */
  monthly: { hostedUsd: number; tunedServingUsd: number; savingUsd: number };
  /** Hosted minus tuned serving, per task; ≤ 0 means the tuned path never catches up. */
  savingPerTask: number;
  /** Lifetime tasks where the cumulative costs are equal; null when the tuned path never pays back. */
  crossoverTasks: number | null;
  /** Months of the stated traffic until the one-off cost is paid back; null: never. */
  paybackMonths: number | null;
  lifetime: { tasks: number; hostedUsd: number; tunedUsd: number; savingUsd: number };
  /** The tuned path costs less over the horizon at the stated traffic. */
  paysBack: boolean;
}

/** Check every input, naming the field; all the arithmetic below assumes these hold. */
export function checkEconomicsInput(input: EconomicsInput): string[] {
  const problems: string[] = [];
  const check = (field: string, value: number, rule: 'positive' | 'non-negative' | 'fraction'): void => {
    if (!Number.isFinite(value)) problems.push(`${field} is not a finite number (${value})`);
    else if (rule === 'positive' && value <= 0) problems.push(`${field} must be positive (${value})`);
    else if (rule === 'non-negative' && value < 0) problems.push(`${field} must not be negative (${value})`);
    else if (rule === 'fraction' && (value <= 0 || value > 1)) problems.push(`${field} must be in (0, 1] (${value})`);
  };
  check('hosted.usdPerTask', input.hosted.usdPerTask, 'non-negative');
  check('fineTune.trainTokens', input.fineTune.trainTokens, 'non-negative');
  check('fineTune.epochs', input.fineTune.epochs, 'non-negative');
  check('fineTune.tokensPerSecond', input.fineTune.tokensPerSecond, 'positive');
  check('fineTune.usdPerHour', input.fineTune.usdPerHour, 'non-negative');
  check('fineTune.dataGenerationUsd', input.fineTune.dataGenerationUsd, 'non-negative');
  check('fineTune.otherUsd', input.fineTune.otherUsd, 'non-negative');
  check('serving.usdPerHour', input.serving.usdPerHour, 'non-negative');
  check('serving.secondsPerTask', input.serving.secondsPerTask, 'non-negative');
  check('serving.utilization', input.serving.utilization, 'fraction');
  check('serving.opsOverhead', input.serving.opsOverhead, 'non-negative');
  check('serving.minInstances', input.serving.minInstances, 'non-negative');
  check('tasksPerMonth', input.tasksPerMonth, 'non-negative');
  check('horizonMonths', input.horizonMonths, 'positive');
  return problems;
}

export function oneOffCost(fineTune: FineTuneInput): OneOffCost {
  const trainingHours = (fineTune.trainTokens * fineTune.epochs) / fineTune.tokensPerSecond / 3600;
  const trainingUsd = trainingHours * fineTune.usdPerHour;
  return {
    trainingHours,
    trainingUsd,
    dataGenerationUsd: fineTune.dataGenerationUsd,
    otherUsd: fineTune.otherUsd,
    totalUsd: trainingUsd + fineTune.dataGenerationUsd + fineTune.otherUsd,
  };
}

/**
 * Serving cost for a month of `tasksPerMonth`: busy machine time grossed up by utilization, never below the
 * always-on floor, plus the operations overhead.
 */
export function monthlyServingUsd(serving: ServingInput, tasksPerMonth: number): number {
  const busyUsd = ((tasksPerMonth * serving.secondsPerTask) / 3600) * serving.usdPerHour / serving.utilization;
  const floorUsd = serving.minInstances * HOURS_PER_MONTH * serving.usdPerHour;
  return Math.max(busyUsd, floorUsd) * (1 + serving.opsOverhead);
}

export function computeEconomics(input: EconomicsInput): EconomicsResult {
  const problems = checkEconomicsInput(input);
  if (problems.length > 0) throw new RangeError(`economics input: ${problems.join('; ')}`);
  const oneOff = oneOffCost(input.fineTune);
  const volume = input.tasksPerMonth;
  const hostedMonthly = volume * input.hosted.usdPerTask;
  const servingMonthly = monthlyServingUsd(input.serving, volume);
  const monthlySaving = hostedMonthly - servingMonthly;
  // Per task at the stated traffic (the always-on floor is shared by that traffic); with no traffic, the
  // marginal machine time of one task.
  const tunedPerTask = volume > 0 ? servingMonthly / volume : (input.serving.secondsPerTask / 3600) * input.serving.usdPerHour / input.serving.utilization * (1 + input.serving.opsOverhead);
  const savingPerTask = input.hosted.usdPerTask - tunedPerTask;
  const crossoverTasks = savingPerTask > 0 ? oneOff.totalUsd / savingPerTask : null;
  const paybackMonths = monthlySaving > 0 ? oneOff.totalUsd / monthlySaving : null;
  const lifetimeTasks = volume * input.horizonMonths;
  const lifetimeHosted = hostedMonthly * input.horizonMonths;
  const lifetimeTuned = oneOff.totalUsd + servingMonthly * input.horizonMonths;
  return {
    oneOff,
    per1000: {
      hostedUsd: input.hosted.usdPerTask * 1000,
      tunedServingUsd: tunedPerTask * 1000,
      tunedAllInUsd: lifetimeTasks > 0 ? (lifetimeTuned / lifetimeTasks) * 1000 : Number.POSITIVE_INFINITY,
    },
    monthly: { hostedUsd: hostedMonthly, tunedServingUsd: servingMonthly, savingUsd: monthlySaving },
    savingPerTask,
    crossoverTasks,
    paybackMonths,
    lifetime: { tasks: lifetimeTasks, hostedUsd: lifetimeHosted, tunedUsd: lifetimeTuned, savingUsd: lifetimeHosted - lifetimeTuned },
    paysBack: lifetimeHosted - lifetimeTuned > 0,
  };
}

export interface SensitivityRow {
  /** What was varied, e.g. `hosted price ×0.5`, `volume ×10`, `utilization 25%`. */
  scenario: string;
  hostedPriceFactor: number;
  volumeFactor: number;
  utilization: number;
  per1000HostedUsd: number;
  per1000TunedUsd: number;
  crossoverTasks: number | null;
  paybackMonths: number | null;
  lifetimeSavingUsd: number;
  paysBack: boolean;
}

export const PRICE_FACTORS = [0.5, 1, 1.5] as const;
export const VOLUME_FACTORS = [0.1, 1, 10] as const;
export const UTILIZATIONS = [0.1, 0.25, 0.5, 0.9] as const;

/**
 * The verdict's robustness: hosted price ±50% crossed with volume ×0.1, ×1, ×10 (nine rows), then the
 * serving utilization alone at 10%, 25%, 50% and 90%.
 */
export function sensitivityTable(input: EconomicsInput): SensitivityRow[] {
  const rows: SensitivityRow[] = [];
  const row = (scenario: string, hostedPriceFactor: number, volumeFactor: number, utilization: number): SensitivityRow => {
    const varied: EconomicsInput = {
      ...input,
      hosted: { ...input.hosted, usdPerTask: input.hosted.usdPerTask * hostedPriceFactor },
      serving: { ...input.serving, utilization },
      tasksPerMonth: input.tasksPerMonth * volumeFactor,
    };
    const result = computeEconomics(varied);
    return {
      scenario,
      hostedPriceFactor,
      volumeFactor,
      utilization,
      per1000HostedUsd: result.per1000.hostedUsd,
      per1000TunedUsd: result.per1000.tunedServingUsd,
      crossoverTasks: result.crossoverTasks,
      paybackMonths: result.paybackMonths,
      lifetimeSavingUsd: result.lifetime.savingUsd,
      paysBack: result.paysBack,
    };
  };
  for (const price of PRICE_FACTORS) {
    for (const volume of VOLUME_FACTORS) rows.push(row(`hosted price ×${price}, volume ×${volume}`, price, volume, input.serving.utilization));
  }
  for (const utilization of UTILIZATIONS) rows.push(row(`utilization ${Math.round(utilization * 100)}%`, 1, 1, utilization));
  return rows;
}

export interface CostCurvePoint {
  tasks: number;
  hostedUsd: number;
  tunedUsd: number;
}

/**
 * Cumulative cost of both paths against lifetime volume at the stated traffic, from 0 to past the crossover
 * and the horizon's volume: the plot's two lines.
 */
export function costCurve(input: EconomicsInput, result: EconomicsResult, points = 41): CostCurvePoint[] {
  const ends = [result.lifetime.tasks, result.crossoverTasks === null ? 0 : result.crossoverTasks * 1.5, 1000];
  const end = Math.max(...ends.filter((value) => Number.isFinite(value)));
  const tunedPerTask = result.per1000.tunedServingUsd / 1000;
  return Array.from({ length: points }, (_, index) => {
    const tasks = (end * index) / (points - 1);
    return { tasks, hostedUsd: tasks * input.hosted.usdPerTask, tunedUsd: result.oneOff.totalUsd + tasks * tunedPerTask };
  });
}

/** One sub-task of an application in the mix view: its volume and both paths' costs. */
export interface SubtaskInput {
  name: string;
  tasksPerMonth: number;
  hostedUsdPerTask: number;
  tunedUsdPerTask: number;
  oneOffUsd: number;
  /** The tuned model's quality on this sub-task: true when its eval gate passed; false when it failed; null: not evaluated. */
  qualityOk: boolean | null;
}

export interface SubtaskDecision extends SubtaskInput {
  monthlyHostedUsd: number;
  monthlyTunedUsd: number;
  monthlySavingUsd: number;
  paybackMonths: number | null;
  move: boolean;
  reason: string;
}

export interface MixResult {
  subtasks: SubtaskDecision[];
  /** Monthly saving of the sub-tasks that move, after their one-off costs are paid back. */
  monthlySavingUsd: number;
  oneOffUsd: number;
  monthlyHostedTodayUsd: number;
  monthlyAfterUsd: number;
}

/**
 * Which sub-tasks move to a tuned model: those whose quality held (a failed gate keeps a sub-task on the
 * frontier model whatever it saves) and whose one-off cost pays back within the horizon.
 */
export function mixView(subtasks: readonly SubtaskInput[], horizonMonths: number): MixResult {
  const decisions = subtasks.map((subtask): SubtaskDecision => {
    const monthlyHostedUsd = subtask.tasksPerMonth * subtask.hostedUsdPerTask;
    const monthlyTunedUsd = subtask.tasksPerMonth * subtask.tunedUsdPerTask;
    const monthlySavingUsd = monthlyHostedUsd - monthlyTunedUsd;
    const paybackMonths = monthlySavingUsd > 0 ? subtask.oneOffUsd / monthlySavingUsd : null;
    let move = false;
    let reason: string;
    if (subtask.qualityOk === false) reason = 'the tuned model failed its quality gate';
    else if (paybackMonths === null) reason = 'the tuned model costs as much or more per task';
    else if (paybackMonths > horizonMonths) reason = `payback takes ${paybackMonths.toFixed(1)} months, longer than the ${horizonMonths}-month horizon`;
    else {
      move = true;
      reason = `pays back in ${paybackMonths.toFixed(1)} months${subtask.qualityOk === null ? ' (quality not evaluated yet: run its gate first)' : ', quality gate passed'}`;
    }
    return { ...subtask, monthlyHostedUsd, monthlyTunedUsd, monthlySavingUsd, paybackMonths, move, reason };
  });
  const moved = decisions.filter((decision) => decision.move);
  const monthlyHostedTodayUsd = decisions.reduce((sum, decision) => sum + decision.monthlyHostedUsd, 0);
  const monthlySavingUsd = moved.reduce((sum, decision) => sum + decision.monthlySavingUsd, 0);
  return {
    subtasks: decisions,
    monthlySavingUsd,
    oneOffUsd: moved.reduce((sum, decision) => sum + decision.oneOffUsd, 0),
    monthlyHostedTodayUsd,
    monthlyAfterUsd: monthlyHostedTodayUsd - monthlySavingUsd,
  };
}
