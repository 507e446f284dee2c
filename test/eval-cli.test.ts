// `understudy eval` as a user runs it: the real CLI, the real SmolLM2 GGUF on the embedded llama.cpp engine, a real
// SQLite workspace, and held-out samples of Banking77 and NLU++ banking (both CC BY 4.0, examples/*/LICENSE). The
// LLM judge is the one part that cannot run here (a hosted model): it is a TEST DOUBLE, a local OpenAI-compatible
// server on 127.0.0.1 that speaks the chat completions protocol and answers like a judge that compares the response
// with the reference answer shown to it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { defaultConfigText } from '../src/adapters/config-file.ts';
import { readLabelledCsv } from '../src/adapters/csv-dataset.ts';
import { EXAMPLES_BANKING77_DIR, EXAMPLES_NLUPP_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { sendCompletion, startOpenAiCompatibleServer, type OpenAiCompatibleTestServer, type RecordedRequest } from './helpers/openai-compatible-server.ts';

const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');
const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-eval-'));
after(() => rmSync(directory, { recursive: true, force: true }));

/**
 * The judge double: a rubric request gets 5 when the response equals the reference answer and 1 otherwise; a
 * pairwise request prefers the response that equals the reference (a tie when both or neither do).
 */
function judgeReply(request: RecordedRequest): string {
  const body = request.body as { messages: { role: string; content: string }[] };
  const user = body.messages.at(-1)!.content;
  // The judges' prompts are sections `Header:\ntext` separated by blank lines (the inputs here have none).
  const sections = new Map(user.split('\n\n').map((part) => [part.slice(0, part.indexOf(':\n')), part.slice(part.indexOf(':\n') + 2)] as const));
  const section = (name: string): string | undefined => sections.get(name);
  const reference = section('Reference answer (a correct answer, for guidance)');
  const rated = section('Response to rate');
  if (rated !== undefined) return JSON.stringify({ reasoning: 'compared with the reference', score: rated.trim() === reference?.trim() ? 5 : 1 });
  const first = section('First response')?.trim() === reference?.trim();
  const second = section('Second response')?.trim() === reference?.trim();
  return JSON.stringify({ reasoning: 'compared with the reference', verdict: first === second ? 'tie' : first ? 'first' : 'second' });
}

let judge: OpenAiCompatibleTestServer | undefined;
after(async () => judge?.close());

async function writeConfig(): Promise<string> {
  judge ??= await startOpenAiCompatibleServer((request, response) => sendCompletion(response, { text: judgeReply(request), model: 'judge-double' }));
  writeFileSync(path.join(directory, 'starts-like-gold.mjs'), 'export default (output, gold) => ({ score: output.slice(0, 4) === gold.slice(0, 4) ? 1 : 0, detail: "first four letters" });\n');
  const text = defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR))
    .replace(/sampleSize: \d+.*\n/, 'sampleSize: 24\n')
    .replace('constrainToLabels: true', [
      'constrainToLabels: true',
      '  candidates:',
      '    - { kind: prompted-base, name: zero-shot }',
      '    - { kind: prompted-base, name: two-shot, shots: 2 }',
      '    - { kind: prompted-base, name: zero-shot-again }',
      '  scorers:',
      '    - { kind: regex, name: label-charset, pattern: "^[A-Za-z_?]+$" }',
      '    - { kind: contains, name: mentions-card, value: card }',
      '    - { kind: custom, name: starts-like-gold, module: starts-like-gold.mjs }',
      '    - { kind: judge, name: judge, provider: judge, rubric: "The label is the customer\'s intent." }',
      '  pairwiseJudge: { provider: judge, criteria: "Which label fits the message better?" }',
    ].join('\n'))
    .replace(/\nproviders: \{\}\n/, `\nproviders:\n  judge: { kind: openai-compatible, baseUrl: "${judge.baseUrl}", model: judge-model }\n`);
  assert.match(text, /judge: \{ kind: openai-compatible/);
  const file = path.join(directory, 'understudy.yaml');
  writeFileSync(file, text);
  return file;
}

/** The CLI in a child process without blocking this one (the judge double answers from this process). */
async function cliAsync(args: string[]): Promise<{ status: number | null; last: Record<string, unknown>; stderr: string }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [CLI, 'eval', ...args, '--json'], { cwd: directory });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const lines = stdout.trim().split('\n').filter((line) => line.startsWith('{') && !line.startsWith('{"progress"'));
  return { status, last: JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>, stderr };
}

function cli(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, 'eval', ...args, '--json'], { cwd: directory, encoding: 'utf8', timeout: 300_000 });
  const lines = result.stdout.trim().split('\n').filter((line) => line.startsWith('{') && !line.startsWith('{"progress"'));
  return { status: result.status, last: JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>, stderr: result.stderr };
}

interface Estimate { value: number; low: number; high: number }
interface CandidateJson { name: string; n: number; accuracy: number; accuracyInterval: { low: number; high: number }; costPer1000Usd: number | null; cachedAnswers: number; latencyP50Ms: number; invalidAnswers: number; metrics: Record<string, Estimate> }
interface ComparisonJson {
  candidate: string;
  mcnemar: { b01: number; b10: number; pValue: number };
  holmPValue: number;
  accuracyDifference: { difference: number; low: number; high: number };
  metrics: Record<string, Estimate & { difference: number; pValue: number; test: string }>;
}

test('eval scores every candidate with intervals, compares them with Holm-adjusted tests, caches answers, and the gate says no to a candidate no better than the baseline', async () => {
  const config = await writeConfig();
  const first = await cliAsync(['--config', config, '--workspace', directory, '--gate', '--candidate', 'zero-shot-again', '--baseline', 'zero-shot']);
  // The same model and prompt under another name is exactly as good: the gate must say no, and exit 1.
  assert.equal(first.status, 1, first.stderr);
  const candidates = first.last.candidates as CandidateJson[];
  assert.deepEqual(candidates.map((candidate) => candidate.name), ['zero-shot', 'two-shot', 'zero-shot-again']);
  for (const candidate of candidates) {
    assert.equal(candidate.n, 24);
    assert.ok(candidate.accuracyInterval.low <= candidate.accuracy && candidate.accuracy <= candidate.accuracyInterval.high);
    assert.ok(candidate.costPer1000Usd !== null && candidate.costPer1000Usd > 0, 'local answers are priced by the serving cost model');
  }
  // zero-shot-again shares zero-shot's fingerprint: every one of its answers came from the cache.
  assert.equal(candidates[0]!.cachedAnswers, 0);
  assert.equal(candidates[2]!.cachedAnswers, 24);
  const comparisons = first.last.comparisons as ComparisonJson[];
  assert.deepEqual(comparisons.map((comparison) => comparison.candidate), ['two-shot', 'zero-shot-again']);
  const same = comparisons[1]!;
  assert.deepEqual([same.mcnemar.b01, same.mcnemar.b10, same.accuracyDifference.difference], [0, 0, 0]);
  for (const comparison of comparisons) assert.ok(comparison.holmPValue >= comparison.mcnemar.pValue);

  // Every metric, the task's and each scorer's, has an interval per candidate and a paired test per comparison.
  const metricIds = (first.last.metrics as { id: string }[]).map((metric) => metric.id);
  assert.deepEqual(metricIds, ['accuracy', 'macroF1', 'scorer:label-charset', 'scorer:mentions-card', 'scorer:starts-like-gold', 'scorer:judge']);
  for (const candidate of candidates) {
    for (const id of metricIds) assert.ok(candidate.metrics[id]!.low <= candidate.metrics[id]!.value && candidate.metrics[id]!.value <= candidate.metrics[id]!.high, `${candidate.name} ${id}`);
    assert.equal(candidate.metrics['scorer:label-charset']!.value, 1, 'answers are constrained to the label set (letters, _ and one ?)');
    assert.ok(candidate.metrics['scorer:starts-like-gold']!.value >= candidate.accuracy);
    // The judge double rates an answer 5 exactly when it equals the reference: its pass rate is the accuracy.
    assert.equal(candidate.metrics['scorer:judge']!.value, candidate.accuracy);
  }
  for (const comparison of comparisons) {
    assert.deepEqual(Object.keys(comparison.metrics), metricIds);
    assert.equal(comparison.metrics.accuracy!.test, 'mcnemar');
    assert.equal(comparison.metrics.macroF1!.test, 'permutation');
    assert.equal(comparison.metrics.accuracy!.pValue, comparison.mcnemar.pValue);
  }
  assert.deepEqual([same.metrics.macroF1!.difference, same.metrics.macroF1!.pValue], [0, 1]);
  const scorers = first.last.scorers as { name: string; calls: number; agreementWithReference?: { n: number; agreement: number } }[];
  const judged = scorers.find((scorer) => scorer.name === 'judge')!;
  assert.deepEqual([judged.agreementWithReference?.n, judged.agreementWithReference?.agreement], [72, 1]);
  // zero-shot-again gives zero-shot's answers: the judge was asked about 48 distinct (input, answer) pairs at most.
  assert.ok(judged.calls <= 48, `judge calls ${judged.calls}`);
  const pairwise = first.last.pairwise as { candidate: string; aWins: number; bWins: number; ties: number; n: number; winRate: Estimate }[];
  assert.deepEqual(pairwise.map((entry) => entry.candidate), ['two-shot', 'zero-shot-again']);
  const pairedTwoShot = comparisons[0]!.mcnemar;
  assert.deepEqual([pairwise[0]!.bWins, pairwise[0]!.aWins], [pairedTwoShot.b01, pairedTwoShot.b10], 'the double prefers the answer equal to the reference');
  assert.deepEqual([pairwise[1]!.ties, pairwise[1]!.winRate.value], [24, 0.5]);
  const gate = first.last.gate as { pass: boolean; reason: string };
  assert.equal(gate.pass, false);
  assert.match(gate.reason, /^NO-GO: zero-shot-again/);
  assert.equal(first.last.ok, false);
  // The HTML report is written next to the database: self-contained, with the gate's reason and every candidate.
  const html = readFileSync(first.last.report as string, 'utf8');
  assert.equal(first.last.report, path.join(directory, 'eval-report.html'));
  assert.match(html, /NO-GO: zero-shot-again/);
  for (const name of ['zero-shot', 'two-shot', 'zero-shot-again']) assert.ok(html.includes(`>${name}<`), `report names ${name}`);
  for (const plot of ['plot-metric-primary', 'plot-forest', 'plot-cost', 'plot-latency', 'plot-confusion-0']) assert.ok(html.includes(`id="${plot}"`), `report has ${plot}`);
  assert.doesNotMatch(html, /<script/);

  // Again: nothing is recomputed.
  const judgeCalls = judge!.requests.length;
  const second = await cliAsync(['--config', config, '--workspace', directory, '--candidates', 'zero-shot,two-shot']);
  assert.equal(second.status, 0, second.stderr);
  const again = second.last.candidates as CandidateJson[];
  assert.deepEqual(again.map((candidate) => candidate.cachedAnswers), [24, 24]);
  assert.deepEqual(again.map((candidate) => candidate.accuracy), candidates.slice(0, 2).map((candidate) => candidate.accuracy));
  assert.equal(second.last.gate, null);
  assert.equal(judge!.requests.length, judgeCalls, 'judge verdicts come from the cache too');

  // Bad input: an unknown candidate, and a gate on one candidate.
  const unknown = cli(['--config', config, '--workspace', directory, '--candidates', 'zero-shot,gpt-9']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown candidate "gpt-9"/);
  const lonely = cli(['--config', config, '--workspace', directory, '--candidates', 'zero-shot', '--gate', '--candidate', 'zero-shot']);
  assert.equal(lonely.status, 2);
});

test('eval on a JSON extraction task (NLU++ intents and slots): field-level F1 with intervals, permutation p-values, schema validity, and the gate on field F1', () => {
  const nlupp = path.join(directory, 'nlupp');
  const records = (JSON.parse(readFileSync(path.join(EXAMPLES_NLUPP_DIR, 'banking.json'), 'utf8')) as unknown[]).slice(0, 80);
  writeFileSync(path.join(directory, 'nlupp-80.json'), JSON.stringify(records));
  const config = path.join(directory, 'nlupp.yaml');
  writeFileSync(config, readFileSync(path.join(EXAMPLES_NLUPP_DIR, 'understudy.yaml'), 'utf8')
    .replace(/ {2}candidates:\n(?: {4}- .*\n)+/, '  candidates:\n    - { kind: prompted-base, name: zero-shot }\n    - { kind: prompted-base, name: zero-shot-again }\n  scorers:\n    - { kind: regex, name: names-an-intent, pattern: "\\"intents\\": \\\\[\\"" }\n')
    .replace(/ {2}gate: .*\n/, '  gate: { candidate: zero-shot-again, baseline: zero-shot, metric: fieldF1 }\n')
    .replace(/ {2}split: .*\n/, '  split: { evalFraction: 0.15, evalMin: 10, evalMax: 1000 }\n'));
  const run = (command: string[]) => spawnSync(process.execPath, [CLI, ...command, '--config', config, '--workspace', nlupp, '--json'], { cwd: directory, encoding: 'utf8', timeout: 300_000 });
  assert.equal(run(['data', 'import', 'nlupp-80.json', '--format', 'nlupp']).status, 0);
  assert.equal(run(['data', 'split']).status, 0);
  const result = spawnSync(process.execPath, [CLI, 'eval', '--data', 'curated', '--gate', '--config', config, '--workspace', nlupp, '--json'], { cwd: directory, encoding: 'utf8', timeout: 300_000 });
  const last = JSON.parse(result.stdout.trim().split('\n').filter((line) => line.startsWith('{') && !line.startsWith('{"progress"')).at(-1) ?? '{}') as Record<string, unknown>;
  assert.equal(result.status, 1, result.stderr);
  assert.deepEqual((last.metrics as { id: string }[]).map((metric) => metric.id), ['exactMatch', 'fieldF1', 'intentsF1', 'slotsF1', 'schemaValid', 'scorer:names-an-intent']);
  assert.equal(last.primaryMetric, 'fieldF1');
  const candidates = last.candidates as CandidateJson[];
  const held = (last.data as { examples: number }).examples;
  assert.ok(held >= 10 && held <= 20, `held-out examples ${held}`);
  for (const candidate of candidates) {
    // Decoding follows the schema, but SmolLM2 prompted zero-shot rambles past maxTokens: cut-off JSON is invalid.
    assert.equal(candidate.invalidAnswers, Math.round((1 - candidate.metrics.schemaValid!.value) * held));
    const f1 = candidate.metrics.fieldF1!;
    assert.ok(f1.low <= f1.value && f1.value <= f1.high && f1.value >= 0 && f1.value <= 1);
    assert.equal(candidate.accuracy, candidate.metrics.exactMatch!.value);
  }
  const extraction = last.extraction as Record<string, { byField: Record<string, { precision: number; recall: number; f1: number }>; perKey: { field: string; key: string }[] }>;
  assert.deepEqual(Object.keys(extraction['zero-shot']!.byField), ['intents', 'slots']);
  assert.ok(extraction['zero-shot']!.perKey.some((entry) => entry.field === 'intents'));
  const comparison = (last.comparisons as ComparisonJson[])[0]!;
  assert.deepEqual([comparison.metrics.fieldF1!.difference, comparison.metrics.fieldF1!.pValue, comparison.metrics.fieldF1!.test], [0, 1, 'permutation']);
  const gate = last.gate as { pass: boolean; metric: string; reason: string };
  assert.deepEqual([gate.pass, gate.metric], [false, 'fieldF1']);
  assert.match(gate.reason, /^NO-GO: zero-shot-again is not better than zero-shot by zero on field F1/);

  // A gate metric the task does not report is refused before any model runs.
  const wrong = spawnSync(process.execPath, [CLI, 'eval', '--data', 'curated', '--gate', '--metric', 'macroF1', '--config', config, '--workspace', nlupp, '--json'], { cwd: directory, encoding: 'utf8', timeout: 60_000 });
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /the gate's metric "macroF1" is not reported for this task[\s\S]*exactMatch, fieldF1, intentsF1, slotsF1, schemaValid/);
});

test('a hosted frontier model is a candidate like any other: priced from genai-prices, compared with the prompted base, and the gate says GO on a real difference', async () => {
  // The frontier model is a TEST DOUBLE (a local OpenAI-compatible server): it answers the reference label, except
  // for inputs whose length is a multiple of 4, where it says card_arrival.
  const gold = new Map(readLabelledCsv(path.join(EXAMPLES_BANKING77_DIR, 'test.csv'), { inputColumn: 'text', labelColumn: 'category' }).map((row) => [row.input, row.label]));
  const frontier = await startOpenAiCompatibleServer((request, response) => {
    const input = (request.body as { messages: { content: string }[] }).messages.at(-1)!.content;
    const label = input.length % 4 === 0 ? 'card_arrival' : gold.get(input) ?? 'card_arrival';
    sendCompletion(response, { text: JSON.stringify({ label }), model: 'gpt-4o-mini-2024-07-18', usage: { prompt_tokens: 700, completion_tokens: 8 } });
  });
  try {
    const file = path.join(directory, 'frontier.yaml');
    writeFileSync(file, defaultConfigText(path.relative(directory, EXAMPLES_BANKING77_DIR))
      .replace(/sampleSize: \d+.*\n/, 'sampleSize: 24\n')
      .replace('constrainToLabels: true', ['constrainToLabels: true', '  candidates:', '    - { kind: prompted-base, name: zero-shot }', '    - { kind: provider, name: frontier, provider: frontier }', '  gate: { candidate: frontier, baseline: zero-shot, metric: accuracy, minDifference: 0.1 }'].join('\n'))
      .replace(/\nproviders: \{\}\n/, `\nproviders:\n  frontier: { kind: openai-compatible, baseUrl: "${frontier.baseUrl}", model: gpt-4o-mini, priceAs: openai }\n`));
    const result = await cliAsync(['--config', file, '--workspace', directory, '--gate']);
    assert.equal(result.status, 0, result.stderr);
    const [base, hosted] = result.last.candidates as CandidateJson[];
    assert.equal(frontier.requests.length, 24);
    assert.ok(hosted!.accuracy > 0.5 && hosted!.accuracy < 1, `frontier accuracy ${hosted!.accuracy}`);
    // 700 prompt and 8 completion tokens per call at gpt-4o-mini's price: about $0.11 per 1,000 tasks.
    assert.ok(hosted!.costPer1000Usd !== null && hosted!.costPer1000Usd > 0.05 && hosted!.costPer1000Usd < 0.5, `cost ${hosted!.costPer1000Usd}`);
    assert.equal(base!.cachedAnswers, 24, 'the prompted base answers come from the first test\'s cache');
    const gate = result.last.gate as { pass: boolean; reason: string; low: number };
    assert.equal(gate.pass, true);
    assert.ok(gate.low > 0.1);
    assert.match(gate.reason, /^GO: frontier beats zero-shot on accuracy by \d+\.\d points \(95% interval .*McNemar p = .*\); the whole interval is above the required 10\.0 points\.$/);
  } finally {
    await frontier.close();
  }
});
