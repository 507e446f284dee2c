// `understudy data stats`: the real CLI on a seeded SQLite pool with a filter run, tokens counted with the real
// SmolLM2 vocabulary and chat template (the embedded config's base, from the test model cache).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DataStats } from '../src/pipeline/data-stats.ts';
import { runCli, seedPool, TASK } from './helpers/curated-pool.ts';
import { testModelPath } from './helpers/assets.ts';

function seedStatsPool(): string {
  const { workspace, ids, store } = seedPool([
    { input: 'I still have not got my card', label: 'card_arrival', source: 'human', side: 'train' },
    { input: 'I still have not got my card!!', label: 'card_arrival', source: 'human', side: 'train' },
    { input: 'synthetic: when will my card arrive', label: 'card_arrival', source: 'synthetic', side: 'train' },
    { input: 'synthetic: what rate do you use for dollars', label: 'exchange_rate', source: 'synthetic', side: 'train' },
    { input: 'How old do I need to be', label: 'age_limit', source: 'human', side: 'heldout' },
    { input: 'not split yet', label: 'age_limit', source: 'log', side: 'none' },
  ]);
  store.curation.setReview(ids[2]!, 'accepted');
  store.curation.setReview(ids[3]!, 'rejected');
  store.curation.saveFilterRun({
    task: TASK,
    settings: {},
    report: {
      before: 4,
      after: 3,
      steps: [
        { step: 'exact-dedup', settings: {}, before: 4, dropped: 1, after: 3, reasons: { duplicate: 1 }, seconds: 0.01 },
        { step: 'judge', settings: {}, before: 3, dropped: 0, after: 3, reasons: {}, skipped: 'no judge configured', seconds: 0 },
      ],
    },
    drops: [{ exampleId: ids[1]!, step: 'exact-dedup', reason: 'duplicate' }],
  });
  store.close();
  return workspace;
}

test('data stats --json: counts by label x source x split, reviews, the filter report, the held-out set, token lengths', async () => {
  testModelPath();
  const workspace = seedStatsPool();
  const result = await runCli(['data', 'stats', '--workspace', workspace, '--json']);
  assert.equal(result.status, 0, result.stderr);
  const stats = result.json as unknown as DataStats & { ok: boolean };
  assert.equal(stats.ok, true);
  assert.equal(stats.total, 6);
  assert.deepEqual(stats.counts, [
    { label: 'age_limit', source: 'human', split: 'eval', count: 1 },
    { label: 'age_limit', source: 'log', split: 'none', count: 1 },
    { label: 'card_arrival', source: 'human', split: 'train', count: 2 },
    { label: 'card_arrival', source: 'synthetic', split: 'train', count: 1 },
    { label: 'exchange_rate', source: 'synthetic', split: 'train', count: 1 },
  ]);
  assert.deepEqual(stats.bySplit, { train: 4, eval: 1, none: 1 });
  assert.deepEqual(stats.reviews, { pending: 4, accepted: 1, rejected: 1, edited: 0 });
  assert.deepEqual(stats.reviewsBySplit.train, { pending: 2, accepted: 1, rejected: 1, edited: 0 });
  assert.equal(stats.curatedTrain, 2, 'train, kept by the filter run, not rejected');
  assert.equal(stats.filterRun!.before, 4);
  assert.deepEqual(stats.filterRun!.steps.map((step) => [step.step, step.before, step.dropped, step.after, step.skipped]), [['exact-dedup', 4, 1, 3, null], ['judge', 3, 0, 3, 'no judge configured']]);
  assert.deepEqual(stats.filterRun!.steps[0]!.topReasons, [{ reason: 'duplicate', count: 1 }]);
  assert.deepEqual(stats.filterRun!.droppedByStep, { 'exact-dedup': 1 });
  assert.equal(stats.heldout!.version, 1);
  assert.equal(stats.heldout!.size, 1);
  const lengths = stats.lengths!;
  assert.equal(lengths.unit, 'tokens', lengths.how);
  assert.match(lengths.how, /smollm2/);
  assert.equal(lengths.curatedTrain!.count, 2);
  assert.equal(lengths.heldout!.count, 1);
  // The system prompt, the question, the answer and the template's role markers: far more tokens than the question's words.
  assert.ok(lengths.curatedTrain!.min > 20 && lengths.curatedTrain!.min <= lengths.curatedTrain!.p50 && lengths.curatedTrain!.p50 <= lengths.curatedTrain!.max);
});

test('data stats prints readable tables with the filter steps; --no-tokens counts words', async () => {
  const workspace = seedStatsPool();
  const result = await runCli(['data', 'stats', '--workspace', workspace, '--no-tokens']);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, '', 'tables go to stderr; stdout is for --json');
  assert.match(result.stderr, /label\s+eval\/human\s+none\/log\s+train\/human\s+train\/synthetic\s+total/);
  assert.match(result.stderr, /card_arrival\s+0\s+0\s+2\s+1\s+3/);
  assert.match(result.stderr, /exact-dedup\s+4\s+1\s+3\s+duplicate \(1\)/);
  assert.match(result.stderr, /judge\s+3\s+0\s+3\s+skipped: no judge configured/);
  assert.match(result.stderr, /held-out: version 1 of 1, 1 examples/);
  assert.match(result.stderr, /lengths in words \(--no-tokens\)/);

  const json = await runCli(['data', 'stats', '--workspace', workspace, '--no-tokens', '--json']);
  const lengths = (json.json as unknown as DataStats).lengths!;
  assert.equal(lengths.unit, 'words');
  // held out: "How old do I need to be" (6 words) + the system prompt's words + "age_limit" (1 word).
  assert.ok(lengths.heldout!.min > 7);
});
