import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveSftSettings, validationCount } from '../src/core/sft-defaults.ts';

test('defaults scale with the dataset size and say why', () => {
  const small = resolveSftSettings({}, { examples: 150, labelCount: 10 });
  assert.equal(small.validationExamples, 15);
  assert.equal(small.trainExamples, 135);
  assert.deepEqual(
    { r: small.settings.lora.r, alpha: small.settings.lora.alpha, dropout: small.settings.lora.dropout, batch: small.settings.batchSize, epochs: small.settings.epochs, warmup: small.settings.warmupRatio },
    { r: 8, alpha: 16, dropout: 0.1, batch: 4, epochs: 3, warmup: 0.1 },
  );
  // 135 examples / batch 4 = 34 steps per epoch, 3 epochs; ~10 validations.
  assert.equal(small.totalSteps, 102);
  assert.equal(small.settings.evalSteps, 10);
  assert.equal(small.settings.saveSteps, 10);
  assert.equal(small.settings.earlyStoppingPatience, 3);
  assert.equal(small.settings.accuracySample, 15);
  assert.match(small.reasons['lora.r']!, /135 training examples/);

  const large = resolveSftSettings({}, { examples: 20_000, labelCount: 77 });
  assert.equal(large.validationExamples, 200, 'validation is capped at 200');
  assert.deepEqual([large.settings.lora.r, large.settings.batchSize, large.settings.epochs, large.settings.lora.dropout], [32, 16, 1, 0.05]);
  assert.equal(large.settings.accuracySample, 32);
  assert.equal(large.settings.lora.targetModules, 'all-linear');
  assert.equal(large.settings.gradientCheckpointing, false);
  assert.equal(large.settings.groupByLength, true);
});

test('what the config sets wins, and is reported as set', () => {
  const resolved = resolveSftSettings({ batchSize: 32, lora: { r: 4 }, evalSteps: 5, saveSteps: 7 }, { examples: 1000, labelCount: 0 });
  assert.equal(resolved.settings.batchSize, 32);
  assert.equal(resolved.settings.lora.r, 4);
  assert.equal(resolved.settings.lora.alpha, 8, 'alpha follows the configured rank');
  assert.equal(resolved.reasons.batchSize, 'set in the config');
  assert.equal(resolved.reasons['lora.alpha'], 'alpha = 2 x rank');
  // saveSteps must be a multiple of evalSteps so the kept best checkpoint is a validated one.
  assert.equal(resolved.settings.saveSteps, 5);
  assert.match(resolved.reasons.saveSteps!, /multiple of evalSteps/);
  assert.equal(resolved.settings.accuracySample, 0, 'no labels: loss only');
});

test('no validation split means no validation, checkpoints or early stopping by default', () => {
  const resolved = resolveSftSettings({ validationFraction: 0 }, { examples: 500, labelCount: 5 });
  assert.equal(resolved.validationExamples, 0);
  assert.deepEqual([resolved.settings.evalSteps, resolved.settings.saveSteps, resolved.settings.earlyStoppingPatience, resolved.settings.accuracySample], [0, 0, 0, 0]);
});

test('a tiny dataset is warned about before training', () => {
  const resolved = resolveSftSettings({ batchSize: 8 }, { examples: 3, labelCount: 3 });
  assert.equal(resolved.validationExamples, 1);
  assert.equal(resolved.warnings.length, 2);
  assert.match(resolved.warnings[0]!, /only 2 training examples/);
  assert.match(resolved.warnings[1]!, /less than one batch of 8/);
  assert.deepEqual(resolveSftSettings({}, { examples: 5000, labelCount: 77 }).warnings, []);
});

test('the validation split never takes more than half, and gives every task at least one example', () => {
  assert.equal(validationCount(3, 0.1, 2), 1);
  assert.equal(validationCount(4, 0.9, 0), 2);
  assert.equal(validationCount(1, 0.1, 1), 0);
  assert.equal(validationCount(100, 0, 5), 0);
});
