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
import { createEmbeddedProvider } from '../src/adapters/llm/embedded-provider.ts';
import { createLlamaCppEngine } from '../src/adapters/llm/llama-cpp-engine.ts';
import { createOpenAiCompatibleProvider } from '../src/adapters/llm/openai-compatible-provider.ts';
import { HARDWARE_PRICES } from '../src/adapters/pricing/hardware-prices.ts';
import { createHostedPricer } from '../src/adapters/pricing/hosted-prices.ts';
import { openStore } from '../src/adapters/store/sqlite-store.ts';
import type { GatewayLogRecord } from '../src/contracts/gateway.ts';
import { gatewayErrorRecord, gatewayLogRecord } from '../src/pipeline/gateway-log.ts';
import { testModelPath } from './helpers/assets.ts';
import { sendCompletion, startOpenAiCompatibleServer } from './helpers/openai-compatible-server.ts';

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

/** The CLI without blocking this process (a test double served from here must answer it). */
async function cliAsync(command: string, args: string[]): Promise<{ status: number | null; last: Record<string, unknown>; stderr: string }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [CLI, command, ...args, '--json'], { cwd: directory });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const lines = stdout.trim().split('\n').filter((line) => line.startsWith('{') && !line.startsWith('{"progress"'));
  return { status, last: JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>, stderr };
}

interface DecideJson {
  verdict: string;
  summary: string;
  bar: number;
  conditions: Record<'prompting' | 'retrieval' | 'volume', { holds: boolean; reason: string }>;
  prompting: { metric: string; best: string; variants: { name: string; value: number; low: number; high: number }[]; gain: { difference: number; pValue: number } | null };
  failures: { failures: number; classified: number; counts: Record<string, number>; judged: boolean; examples: Record<string, { by: string; why: string }[]> };
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

test('economics --actual recomputes the figures from logged calls: real embedded answers and a hosted double, next to the prediction', async () => {
  const config = writeConfig();
  // The hosted model cannot run here: a TEST DOUBLE, a local OpenAI-compatible server that answers with the usage a
  // 77-label prompt gets (620 prompt tokens); the client prices it as gpt-4o-mini from the genai-prices catalog.
  const hostedDouble = await startOpenAiCompatibleServer((_request, response) => sendCompletion(response, { text: 'card_arrival', model: 'gpt-4o-mini', usage: { prompt_tokens: 620, completion_tokens: 4 } }));
  const hosted = createOpenAiCompatibleProvider({ id: 'openai', baseUrl: hostedDouble.baseUrl, model: 'gpt-4o-mini', price: createHostedPricer({ provider: 'openai', catalogProvider: 'openai' }) });
  const engine = await createLlamaCppEngine({ modelPath: testModelPath(), contextSize: 1024 });
  const tuned = createEmbeddedProvider({ engine, serving: { usdPerHour: 0.1008 } });
  const records: GatewayLogRecord[] = [];
  const inputs = ['Where is my new card?', 'What rate do you use for euros?', 'My top-up failed', 'I lost my card'];
  try {
    const started = Date.now();
    for (const [index, input] of inputs.entries()) {
      // Half an hour of traffic compressed: each pair of calls is stamped 10 minutes after the last.
      const createdAt = new Date(started + index * 600_000);
      const messages = [{ role: 'system' as const, content: 'Classify the banking message.' }, { role: 'user' as const, content: input }];
      records.push(gatewayLogRecord(await hosted.complete({ messages, maxTokens: 8 }), { route: 'support-router', path: 'hosted', experiment: 'exp-1', arm: 'incumbent', createdAt }));
      records.push(gatewayLogRecord(await tuned.complete({ messages, maxTokens: 8 }), { route: 'support-router', path: 'tuned', experiment: 'exp-1', arm: 'candidate', createdAt: new Date(createdAt.getTime() + 1000) }));
    }
    records.push(gatewayErrorRecord(new Error('timeout'), 5000, { route: 'support-router', path: 'tuned', experiment: 'exp-1', arm: 'candidate', provider: 'embedded', model: 'smollm2', createdAt: new Date(started + 1_801_000) }));
  } finally {
    await tuned.close();
    await engine.dispose();
    await hosted.close();
    await hostedDouble.close();
  }
  const store = openStore(path.join(directory, 'understudy.db'));
  store.logGatewayRequests(records);
  store.close();

  const run = cli('economics', ['--config', config, '--workspace', directory, '--actual', '--route', 'support-router']);
  assert.equal(run.status, 0, run.stderr);
  const actual = run.last.actual as { calls: number; hosted: { calls: number; usdPerTask: number }; tuned: { calls: number; errors: number; meanLatencyMs: number }; measuredInput: { tasksPerMonth: number; serving: { secondsPerTask: number } }; figures: { figure: string; predicted: number | null; measured: number | null; ratio: number | null }[]; notes: string[] };
  assert.equal(actual.calls, 9);
  assert.deepEqual([actual.hosted.calls, actual.tuned.calls, actual.tuned.errors], [4, 5, 1]);
  // gpt-4o-mini: 620 × $0.15 + 4 × $0.60 per million tokens.
  assert.ok(Math.abs(actual.hosted.usdPerTask - (620 * 0.15 + 4 * 0.6) / 1e6) < 1e-12, String(actual.hosted.usdPerTask));
  const tunedLatencies = records.filter((record) => record.path === 'tuned' && record.status === 'ok').map((record) => record.latencyMs);
  assert.ok(Math.abs(actual.tuned.meanLatencyMs - tunedLatencies.reduce((sum, value) => sum + value, 0) / 4) < 1e-9);
  assert.ok(Math.abs(actual.measuredInput.serving.secondsPerTask - actual.tuned.meanLatencyMs / 1000) < 1e-12);
  // 8 successful calls from minute 0 to minute 30 (+1 s): 7 gaps over that window, per month.
  const hours = (1_801_000 - 0) / 3_600_000;
  assert.ok(Math.abs(actual.measuredInput.tasksPerMonth - (7 / hours) * 730.5) < 1e-6 * actual.measuredInput.tasksPerMonth);
  const figure = (name: string) => actual.figures.find((entry) => entry.figure === name)!;
  assert.ok(figure('hosted $ per 1,000 tasks').ratio! > 0);
  assert.equal(figure('hosted prompt tokens per task').measured, 620);
  assert.ok(actual.notes.some((note) => /less than a day/.test(note)));
  assert.ok(readFileSync(String(run.last.report), 'utf8').includes('id="actual"'));

  const none = cli('economics', ['--config', config, '--workspace', directory, '--actual', '--route', 'no-such-route']);
  assert.equal(none.status, 2);
  assert.match(String(none.last.error), /no gateway calls are logged/);
});

test('with a judge that finds missing knowledge in the failures, decide says ADD RETRIEVAL/TOOLS, and a re-run asks the judge nothing', async () => {
  const config = writeConfig();
  // The judge is a hosted model: a TEST DOUBLE, a local OpenAI-compatible server that answers the decide judge's
  // question in its JSON shape: every failure it sees needs knowledge the input lacks (it names the input it read).
  const judge = await startOpenAiCompatibleServer((request, response) => {
    const user = (request.body as { messages: { content: string }[] }).messages.at(-1)!.content;
    const input = /Input: (.*)\n/.exec(user)?.[1] ?? '';
    sendCompletion(response, { text: JSON.stringify({ needsKnowledge: input !== '', reason: `needs the account's records for: ${input}` }), model: 'judge-model' });
  });
  try {
    const judged = path.join(directory, 'judged.yaml');
    writeFileSync(
      judged,
      readFileSync(config, 'utf8')
        .replace('  knowledgeFile: knowledge.md\n', '  judge: judge\n')
        .replace(/\nproviders: \{\}\n/, `\nproviders:\n  judge: { kind: openai-compatible, baseUrl: "${judge.baseUrl}", model: judge-model }\n`),
    );
    const first = await cliAsync('decide', ['--config', judged, '--workspace', directory, '--tasks-per-month', '50000000']);
    assert.equal(first.status, 0, first.stderr);
    const decision = first.last as unknown as DecideJson;
    assert.equal(decision.failures.judged, true);
    // Every failure went to the judge (fewer than judgeSample), and it found missing knowledge in each: retrieval, not training.
    assert.equal(decision.failures.classified, decision.failures.failures);
    assert.equal(decision.failures.counts['missing-knowledge'], decision.failures.failures);
    assert.ok(decision.failures.examples['missing-knowledge']!.every((example) => example.by === 'judge' && /needs the account's records for: ./.test(example.why)));
    assert.equal(judge.requests.length, decision.failures.failures, 'one judge call per failure');
    assert.equal(decision.verdict, 'ADD RETRIEVAL/TOOLS');
    assert.match(decision.conditions.retrieval.reason, /100.0% of the failures need knowledge the input does not carry/);
    const again = await cliAsync('decide', ['--config', judged, '--workspace', directory, '--tasks-per-month', '50000000']);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual((again.last as unknown as DecideJson).failures.counts, decision.failures.counts);
    assert.equal(judge.requests.length, decision.failures.failures, 'the verdicts came from the cache');
  } finally {
    await judge.close();
  }
});
