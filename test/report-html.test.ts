import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accuracy, confusionMatrix, macroF1 } from '../src/core/classification-metrics.ts';
import { createRandom } from '../src/core/random.ts';
import { mcnemarExact, mean, p50p95, pairedBootstrap, pairedBootstrapOverIndices, wilsonInterval } from '../src/core/statistics.ts';
import { escapeHtml, renderEvalReportHtml, REPORT_PLOTS, type EvalReport, type EvalReportCandidate } from '../src/pipeline/report-html.ts';

const LABELS = ['card_arrival', 'card_linking', 'exchange_rate', 'lost_or_stolen_card', 'pin_blocked', 'top_up_failed'];
const INJECTION = '<script>alert("pwned")</script> & <img src=x onerror=alert(1)>';

/** A realistic report: a prompted base and a tuned adapter on 60 held-out Banking77-style examples. */
export function reportFixture(options: { examples?: number; labels?: readonly string[] } = {}): EvalReport {
  const labels = options.labels ?? LABELS;
  const n = options.examples ?? 60;
  const random = createRandom(2024);
  const pick = (): string => labels[Math.floor(random() * labels.length)]!;
  const gold = Array.from({ length: n }, pick);
  const inputs = gold.map((label, index) => (index === 3 ? INJECTION : `Example ${index}: a customer asks about ${label.replaceAll('_', ' ')}.`));
  const base = gold.map((label) => (random() < 0.45 ? label : pick()));
  const tuned = gold.map((label) => (random() < 0.85 ? label : pick()));
  // Example 3 (the HTML-injection input) is one the candidates disagree on.
  base[3] = labels.find((label) => label !== gold[3])!;
  tuned[3] = gold[3]!;
  const latencies = (scale: number): number[] => gold.map(() => scale * Math.exp(random() - 0.5));
  const candidate = (name: string, predicted: string[], latenciesMs: number[], promptTokens: number): EvalReportCandidate => {
    const correct = predicted.filter((label, index) => label === gold[index]).length;
    const interval = wilsonInterval(correct, n);
    const { p50, p95 } = p50p95(latenciesMs);
    return {
      name,
      n,
      accuracy: accuracy(gold, predicted),
      accuracyInterval: { low: interval.low, high: interval.high },
      macroF1: macroF1(gold, predicted),
      invalidAnswers: 0,
      promptTokensMean: promptTokens,
      completionTokensMean: 4.25,
      latencyP50Ms: p50,
      latencyP95Ms: p95,
      latenciesMs,
    };
  };
  const baseCorrect = base.map((label, index) => label === gold[index]);
  const tunedCorrect = tuned.map((label, index) => label === gold[index]);
  const accuracyDifference = pairedBootstrap({ a: baseCorrect.map(Number), b: tunedCorrect.map(Number), seed: 7, iterations: 2000 });
  const macroF1Difference = pairedBootstrapOverIndices({
    n,
    seed: 7,
    iterations: 500,
    metric: (indices) => {
      const subset = (values: readonly string[]): string[] => indices.map((index) => values[index]!);
      return macroF1(subset(gold), subset(tuned)) - macroF1(subset(gold), subset(base));
    },
  });
  const matrix = confusionMatrix(gold, tuned, { labels });
  const disagreements = gold.flatMap((label, index) => (base[index] === tuned[index] ? [] : [{ input: inputs[index]!, gold: label, baselineOutput: base[index]!, candidateOutput: tuned[index]! }]));
  return {
    title: 'Banking77: prompted base vs tuned adapter',
    createdAt: '2025-01-31T12:34:56.000Z',
    task: { name: 'banking77-intents', labelCount: labels.length },
    provenance: {
      dataset: { name: 'banking77-eval', contentHash: 'a'.repeat(64), id: 'ds_eval01' },
      trainDataset: { name: 'banking77-train', contentHash: 'b'.repeat(64), id: 'ds_train01' },
      baseModel: { name: 'qwen2.5-0.5b-instruct-q8_0', sha256: 'c'.repeat(64) },
      adapter: { id: 'ad_0001', sha256: 'd'.repeat(64) },
      evalSample: { size: n, seed: 1234 },
    },
    candidates: [candidate('prompted-base', base, latencies(180), 812.5), candidate('tuned-adapter', tuned, latencies(95), 96.75)],
    comparison: {
      baseline: 'prompted-base',
      candidate: 'tuned-adapter',
      accuracyDifference,
      macroF1Difference,
      mcnemar: mcnemarExact(baseCorrect, tunedCorrect),
      bootstrapIterations: 2000,
    },
    training: {
      examples: 616,
      steps: 77,
      seconds: 412.25,
      tokensPerSecond: 1834.5,
      finalLoss: 0.2113,
      lossCurve: Array.from({ length: 40 }, (_, index) => ({ step: 2 * (index + 1), loss: 0.2 + 2.4 * Math.exp(-index / 8) + 0.05 * Math.sin(index) })),
      epochs: 2,
      truncatedExamples: 0,
    },
    confusion: { candidate: 'tuned-adapter', labels: matrix.labels, counts: matrix.counts },
    disagreements,
    notes: ['Greedy decoding, constrained to the label set.'],
  };
}

const count = (text: string, pattern: RegExp): number => text.match(pattern)?.length ?? 0;

/** Tags inside each <svg> open and close in order (a small XML well-formedness check). */
function assertSvgWellFormed(html: string): void {
  const fragments = html.match(/<svg\b[\s\S]*?<\/svg>/g) ?? [];
  for (const fragment of fragments) {
    const stack: string[] = [];
    for (const match of fragment.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
      const [, closing, name, , selfClosing] = match;
      if (selfClosing === '/') continue;
      if (closing === '/') assert.equal(stack.pop(), name, `closing </${name}> matches its opening tag`);
      else stack.push(name!);
    }
    assert.deepEqual(stack, [], 'every SVG element is closed');
    // Anything that looks like a tag must have matched the pattern above (quoted attributes, no stray '<').
    const tags = count(fragment, /</g);
    const matched = count(fragment, /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g);
    assert.equal(matched, tags, 'no malformed tag or unescaped "<" inside the SVG');
  }
}

const percentText = (value: number): string => `${(value * 100).toFixed(1)}%`;

test('the report has every section and the numbers it was given', () => {
  const report = reportFixture();
  const html = renderEvalReportHtml(report);
  assert.match(html, /^<!DOCTYPE html>/);
  for (const id of ['headline', 'provenance', 'results', 'comparison', 'training', 'latency', 'confusion', 'disagreements', 'method']) {
    assert.ok(html.includes(`<section id="${id}">`), `section ${id}`);
  }
  assert.ok(html.includes('<h1>Banking77: prompted base vs tuned adapter</h1>'));
  assert.ok(html.includes('2025-01-31T12:34:56.000Z'));
  assert.ok(html.includes('banking77-intents'));
  // Provenance.
  for (const text of ['banking77-eval', 'a'.repeat(64), 'b'.repeat(64), 'qwen2.5-0.5b-instruct-q8_0', 'c'.repeat(64), 'ad_0001', 'd'.repeat(64), 'seed 1234', '60 examples']) {
    assert.ok(html.includes(text), `provenance shows ${text}`);
  }
  // Results per candidate.
  for (const candidate of report.candidates) {
    assert.ok(html.includes(escapeHtml(candidate.name)));
    assert.ok(html.includes(percentText(candidate.accuracy)), `accuracy of ${candidate.name}`);
    assert.ok(html.includes(`[${percentText(candidate.accuracyInterval.low)}, ${percentText(candidate.accuracyInterval.high)}]`), `Wilson interval of ${candidate.name}`);
    assert.ok(html.includes(candidate.macroF1.toFixed(3)), `macro-F1 of ${candidate.name}`);
    assert.ok(html.includes(candidate.promptTokensMean.toFixed(1)), `prompt tokens of ${candidate.name}`);
    assert.ok(html.includes(`${candidate.latencyP50Ms.toFixed(1)} ms`) || html.includes(`${Math.round(candidate.latencyP50Ms)} ms`), `p50 of ${candidate.name}`);
    assert.ok(html.includes(`${candidate.latencyP95Ms.toFixed(1)} ms`) || html.includes(`${Math.round(candidate.latencyP95Ms)} ms`), `p95 of ${candidate.name}`);
  }
  assert.ok(html.includes('4.3'), 'completion tokens mean (4.25 → 4.3)');
  // Comparison.
  const { accuracyDifference, macroF1Difference, mcnemar } = report.comparison;
  const points = (value: number): string => `${value < 0 ? '−' : '+'}${Math.abs(value * 100).toFixed(1)}`;
  assert.ok(html.includes(`${points(accuracyDifference.difference)} pp`), 'accuracy difference');
  assert.ok(html.includes(`[${points(accuracyDifference.low)}, ${points(accuracyDifference.high)}] pp`), 'accuracy difference interval');
  const signed = (value: number): string => `${value < 0 ? '−' : '+'}${Math.abs(value).toFixed(3)}`;
  assert.ok(html.includes(`[${signed(macroF1Difference.low)}, ${signed(macroF1Difference.high)}]`), 'macro-F1 difference interval');
  assert.ok(html.includes(signed(macroF1Difference.difference)), 'macro-F1 difference');
  const pText = mcnemar.pValue >= 0.001 ? String(Number(mcnemar.pValue.toPrecision(3))) : mcnemar.pValue.toExponential(2);
  assert.ok(html.includes(`McNemar exact p-value</dt><dd>${pText}</dd>`), `McNemar p ${pText}`);
  assert.ok(html.includes(`tuned-adapter right</dt><dd>${mcnemar.b01}</dd>`), 'b01');
  assert.ok(html.includes(`tuned-adapter wrong</dt><dd>${mcnemar.b10}</dd>`), 'b10');
  // Training.
  for (const text of ['616', '<dd>77</dd>', '412.3 s', '1834.5 tokens/s', '0.2113', '40 logged points']) assert.ok(html.includes(text), `training shows ${text}`);
  // Disagreements table.
  assert.ok(html.includes(`${report.disagreements.length} examples where the answers differ`));
  assert.equal(count(html, /<div class="input">/g), report.disagreements.length);
});

test('all user text is escaped, including an injected script in an example input', () => {
  const report = reportFixture();
  assert.ok(report.disagreements.some((row) => row.input === INJECTION), 'the fixture puts the injection in the disagreement table');
  const hostile = '</title><script>alert(2)</script>';
  const html = renderEvalReportHtml({
    ...report,
    title: hostile,
    task: { name: '<b onmouseover="x">task</b>' },
    notes: ['<iframe src="http://example.com"></iframe>'],
    provenance: { ...report.provenance, baseModel: { name: '"><svg onload=alert(3)>', sha256: '<hash>' } },
  });
  assert.equal(count(html, /<script/gi), 0, 'no script element');
  assert.equal(count(html, /<img/gi), 0, 'no injected image');
  assert.equal(count(html, /<iframe/gi), 0, 'no injected iframe');
  assert.equal(count(html, /<b /g), 0, 'no injected bold');
  assert.ok(html.includes('&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;'));
  assert.ok(html.includes('&lt;/title&gt;&lt;script&gt;alert(2)&lt;/script&gt;'));
  assert.ok(html.includes('&quot;&gt;&lt;svg onload=alert(3)&gt;'));
  assert.equal(count(html, /<svg\b/g), REPORT_PLOTS.length, 'the injected "<svg" did not become an element');
  assert.ok(html.includes(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`), 'a CSP blocks scripts and network loads');
});

test('one inline SVG per plot, well-formed, with no NaN and nothing fetched from outside', () => {
  const html = renderEvalReportHtml(reportFixture());
  assert.equal(REPORT_PLOTS.length, 4);
  assert.equal(count(html, /<svg\b/g), 4);
  assert.equal(count(html, /<\/svg>/g), 4);
  for (const id of REPORT_PLOTS) assert.ok(html.includes(`id="plot-${id}"`), `plot ${id}`);
  assertSvgWellFormed(html);
  assert.equal(count(html, /NaN|Infinity|undefined/g), 0);
  assert.equal(count(html, /<script|<link|@import|url\(|<[a-z][^>]*\s(?:src|href)=/gi), 0, 'no external resources');
  assert.equal(count(html, /https?:\/\//g), count(html, /xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g), 'the only URLs are the SVG namespace');
});

test('77 labels: the heatmap shows the most confused labels with tooltips, the table is capped at 50 rows', () => {
  const labels = Array.from({ length: 77 }, (_, index) => `intent_${String(index).padStart(2, '0')}`);
  const report = reportFixture({ examples: 600, labels });
  assert.ok(report.disagreements.length > 50);
  const html = renderEvalReportHtml(report);
  assert.ok(html.includes('the 20 labels most involved in confusions, of 77'));
  assert.equal(count(html, /<div class="input">/g), 50);
  assert.ok(html.includes(`First 50 of ${report.disagreements.length} examples`));
  const heatmap = html.match(/<svg\b[^>]*id="plot-confusion"[\s\S]*?<\/svg>/)?.[0] ?? '';
  assert.equal(count(heatmap, /<rect /g), 20 * 20, 'a 20 × 20 grid');
  assert.ok(count(heatmap, /<title>gold intent_\d\d → predicted intent_\d\d: \d+<\/title>/g) === 400, 'every cell has a tooltip');
  assertSvgWellFormed(html);
  assert.equal(count(html, /NaN|Infinity|undefined/g), 0);
  const wider = renderEvalReportHtml(report, { confusionLabels: 30, maxDisagreementRows: 10 });
  assert.ok(wider.includes('the 30 labels most involved in confusions, of 77'));
  assert.equal(count(wider, /<div class="input">/g), 10);
});

test('degenerate inputs still give four plots and no NaN', () => {
  const report = reportFixture();
  const perfect = { ...report.confusion, counts: report.confusion.labels.map((_, row) => report.confusion.labels.map((__, column) => (row === column ? 3 : 0))) };
  const html = renderEvalReportHtml({
    ...report,
    candidates: report.candidates.map((candidate) => ({ ...candidate, latenciesMs: [] })),
    training: { ...report.training, lossCurve: [], finalLoss: null },
    confusion: perfect,
    disagreements: [],
  });
  assert.equal(count(html, /<svg\b/g), 4);
  assertSvgWellFormed(html);
  assert.equal(count(html, /NaN|Infinity|undefined/g), 0);
  assert.ok(html.includes('No training loss was logged.'));
  assert.ok(html.includes('No latencies were recorded.'));
  assert.ok(html.includes('No confusions'));
  assert.ok(html.includes('The candidates gave the same answer on every example.'));
  const single = renderEvalReportHtml({ ...report, training: { ...report.training, lossCurve: [{ step: 5, loss: 1.5 }] }, candidates: report.candidates.map((candidate) => ({ ...candidate, latenciesMs: [42, 42] })) });
  assert.equal(count(single, /NaN|Infinity|undefined/g), 0);
  assertSvgWellFormed(single);
  assert.ok(mean([1]) === 1);
});
