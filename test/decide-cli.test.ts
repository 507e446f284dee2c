// `understudy decide` and `understudy economics` as a user runs them: the real CLI, the real SmolLM2 GGUF on the
// embedded llama.cpp engine, a real SQLite workspace, and a held-out sample of Banking77 (CC BY 4.0,
// examples/banking77/LICENSE). The hosted model is priced from the genai-prices catalog (gpt-4o-mini); training
// throughput is configured (this test trains nothing), so every other figure is measured here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { defaultConfigText } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { HARDWARE_PRICES } from '../src/adapters/pricing/hardware-prices.ts';

const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');
const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-decide-'));
after(() => rmSync(directory, { recursive: true, force: true }));

/** What Banking77 training measured on this machine (`understudy train`, 770 examples, 1 epoch), set as configured figures. */
const TRAIN_TOKENS = 80_000;
const TOKENS_PER_SECOND = 100;
const OTHER_USD = 500;

function writeConfig(): string {
  writeFileSync(
    path.join(directory, 'knowledge.md'),
    [
      'A card that has not arrived yet: cards arrive within 3-5 working days of the order; the tracking link is in the app.',
      'Exchange rates are set by the interbank rate at the moment of the payment, with a 0.5% mark-up on weekends.',
      'A top-up by bank transfer takes up to 2 working days; a top-up by card is instant.',
    ].join('\n\n'),
  );
  const text = defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR))
    .replace(/sampleSize: \d+.*\n/, 'sampleSize: 24\n')
    .replace(/decide:\n {2}bar: 0\.9.*\n/, 'decide:\n  bar: 0.9\n  shots: 2\n  knowledgeFile: knowledge.md\n')
    .replace(
      /training: \{ hardware: cpu-2vcpu-aws-m7i\.large, otherUsd: 0 \}.*\n/,
      `training: { hardware: cpu-2vcpu-aws-m7i.large, tokensPerSecond: ${TOKENS_PER_SECOND}, trainTokens: ${TRAIN_TOKENS}, otherUsd: ${OTHER_USD} }\n`,
    )
    .replace('#  subtasks:', '  subtasks:')
    .replace('#    - { name: support-router', '    - { name: support-router')
    .replace('#    - { name: answer-synthesis', '    - { name: answer-synthesis');
  assert.match(text, /knowledgeFile: knowledge\.md/);
  assert.match(text, /tokensPerSecond: 100/);
  assert.match(text, /\n {2}subtasks:.*\n {4}- \{ name: support-router/);
  const file = path.join(directory, 'understudy.yaml');
  writeFileSync(file, text);
  return file;
}

function cli(command: string, args: string[]) {
  const result = spawnSync(process.execPath, [CLI, command, ...args, '--json'], { cwd: directory, encoding: 'utf8', timeout: 600_000 });
  const lines = result.stdout.trim().split('\n').filter((line) => line.startsWith('{') && !line.startsWith('{"progress"'));
  return { status: result.status, last: JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>, stderr: result.stderr };
}

interface DecideJson {
  verdict: string;
  summary: string;
  bar: number;
  conditions: Record<'prompting' | 'retrieval' | 'volume', { holds: boolean; reason: string }>;
  prompting: { metric: string; best: string; variants: { name: string; value: number; low: number; high: number }[]; gain: { difference: number; pValue: number } | null };
  failures: { failures: number; classified: number; counts: Record<string, number> };
  retrieval: { with: string; valueWith: number; valueWithout: number; pValue: number } | null;
  economics: EconomicsJson;
  report: string;
}
interface EconomicsJson {
  input: { hosted: { usdPerTask: number; promptTokens: number; completionTokens: number }; serving: { secondsPerTask: number; usdPerHour: number }; tasksPerMonth: number; horizonMonths: number };
  result: { oneOff: { trainingUsd: number; totalUsd: number }; per1000: { hostedUsd: number; tunedServingUsd: number }; savingPerTask: number; crossoverTasks: number | null; paybackMonths: number | null; paysBack: boolean };
  sensitivity: unknown[];
  mix: { subtasks: { name: string; move: boolean }[]; monthlySavingUsd: number } | null;
}

test('decide runs the prompt variants, classifies the failures, tries retrieval and prices both paths: FINE-TUNE at high volume, STAY HOSTED at low, KEEP PROMPTING when the bar is reached', () => {
  const config = writeConfig();
  const high = cli('decide', ['--config', config, '--workspace', directory, '--tasks-per-month', '50000000']);
  assert.equal(high.status, 0, high.stderr);
  const decision = high.last as unknown as DecideJson;
  assert.deepEqual(decision.prompting.variants.map((variant) => variant.name), ['prompted-zero-shot', 'prompted-2-shot', 'prompted-strict', 'prompted-strict-2-shot']);
  for (const variant of decision.prompting.variants) assert.ok(variant.low <= variant.value && variant.value <= variant.high && variant.high < 0.9, JSON.stringify(variant));
  const best = decision.prompting.variants.find((variant) => variant.name === decision.prompting.best)!;
  assert.equal(best.value, Math.max(...decision.prompting.variants.map((variant) => variant.value)));
  // Labels are grammar-constrained, so every failure is a valid but wrong label.
  assert.equal(decision.failures.failures, Math.round(24 * (1 - best.value)));
  assert.equal(decision.failures.counts['label-confusion'], decision.failures.failures);
  assert.ok(decision.retrieval !== null && decision.retrieval.with === `${decision.prompting.best}+retrieval`);
  assert.deepEqual([decision.conditions.prompting.holds, decision.conditions.retrieval.holds, decision.conditions.volume.holds], [true, true, true]);
  assert.equal(decision.verdict, 'FINE-TUNE');

  // The hosted path: gpt-4o-mini at $0.15 / $0.60 per million tokens, on the measured token counts.
  const { input, result } = decision.economics;
  assert.ok(input.hosted.promptTokens > 500, 'the baseline prompt lists all 77 labels');
  const hostedPerTask = (input.hosted.promptTokens * 0.15 + input.hosted.completionTokens * 0.6) / 1e6;
  assert.ok(Math.abs(input.hosted.usdPerTask - hostedPerTask) < 1e-9 + hostedPerTask * 0.01, `${input.hosted.usdPerTask} vs ${hostedPerTask}`);
  // The one-off: 80,000 tokens / 100 tokens/s = 800 s on the m7i.large, plus $500 of people's time.
  const machine = HARDWARE_PRICES.find((entry) => entry.id === 'cpu-2vcpu-aws-m7i.large')!;
  assert.ok(Math.abs(result.oneOff.trainingUsd - (800 / 3600) * machine.usdPerHour) < 1e-12);
  assert.ok(Math.abs(result.oneOff.totalUsd - result.oneOff.trainingUsd - OTHER_USD) < 1e-9);
  // Serving: measured latency on this machine, priced at the table's rate, 50% utilization, 20% operations.
  assert.ok(input.serving.secondsPerTask > 0 && input.serving.secondsPerTask < 10);
  assert.ok(Math.abs(result.per1000.tunedServingUsd - ((input.serving.secondsPerTask * machine.usdPerHour) / 3600 / 0.5) * 1.2 * 1000) < 1e-12);
  assert.ok(result.crossoverTasks !== null && Math.abs(result.crossoverTasks - result.oneOff.totalUsd / result.savingPerTask) < 1e-6 * result.crossoverTasks);
  assert.ok(result.crossoverTasks < 50_000_000 * 12);
  assert.equal(decision.economics.sensitivity.length, 13);
  assert.deepEqual(decision.economics.mix!.subtasks.map((subtask) => subtask.name), ['banking77-intent', 'support-router', 'answer-synthesis']);
  assert.equal(decision.economics.mix!.subtasks[2]!.move, false, 'answer-synthesis failed its quality gate');

  const html = readFileSync(decision.report, 'utf8');
  for (const id of ['plot-cost-curve', 'line-hosted', 'line-tuned', 'marker-crossover', 'id="conditions"', 'id="sensitivity"', 'id="mix"']) assert.ok(html.includes(id), id);
  assert.ok(!html.includes('NaN'));

  // Below the crossover: the same measurements (every answer from the cache), the other verdict.
  const lowVolume = Math.floor((result.crossoverTasks / 12) * 0.5);
  const low = cli('decide', ['--config', config, '--workspace', directory, '--tasks-per-month', String(lowVolume)]);
  assert.equal(low.status, 0, low.stderr);
  const lowDecision = low.last as unknown as DecideJson;
  assert.equal(lowDecision.verdict, 'STAY HOSTED');
  assert.match(lowDecision.conditions.volume.reason, /short of the crossover/);
  assert.equal(lowDecision.economics.result.crossoverTasks !== null && Math.abs(lowDecision.economics.result.crossoverTasks - result.crossoverTasks) < 1e-6 * result.crossoverTasks, true);

  // A bar the best prompt already reaches: keep prompting, whatever the volume.
  const reached = cli('decide', ['--config', config, '--workspace', directory, '--tasks-per-month', '50000000', '--bar', String(Math.max(1, Math.floor(best.value * 100)))]);
  assert.equal(reached.status, 0, reached.stderr);
  assert.equal((reached.last as unknown as DecideJson).verdict, 'KEEP PROMPTING');
  assert.match((reached.last as unknown as DecideJson).conditions.prompting.reason, /already reaches the bar/);
});

test('economics prints the same figures as decide, and bad settings name the field', () => {
  const config = writeConfig();
  const run = cli('economics', ['--config', config, '--workspace', directory, '--tasks-per-month', '3000000', '--horizon', '6']);
  assert.equal(run.status, 0, run.stderr);
  const report = run.last as unknown as EconomicsJson & { report: string };
  assert.equal(report.input.tasksPerMonth, 3_000_000);
  assert.equal(report.input.horizonMonths, 6);
  assert.ok(report.result.per1000.hostedUsd > report.result.per1000.tunedServingUsd);
  assert.ok(readFileSync(report.report, 'utf8').includes('plot-cost-curve'));

  const broken = path.join(directory, 'broken.yaml');
  writeFileSync(broken, readFileSync(config, 'utf8').replace('serving: { hardware: cpu-2vcpu-aws-m7i.large', 'serving: { hardware: no-such-machine'));
  const failed = cli('economics', ['--config', broken, '--workspace', directory]);
  assert.equal(failed.status, 2);
  assert.equal(failed.last.field, 'economics.serving.hardware');
  assert.match(String(failed.last.error), /no machine "no-such-machine"/);
});
