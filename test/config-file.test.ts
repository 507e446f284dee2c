import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultConfigText, loadConfigFile, parseConfigText, writeDefaultConfig } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { InvalidInputError, UnderstudyError } from '../src/core/errors.ts';

const dataDir = path.relative(PACKAGE_ROOT, EXAMPLES_BANKING77_DIR);

function expectConfigError(text: string, check: { line?: number; field?: string; message?: RegExp }): void {
  assert.throws(() => parseConfigText(text, '/work/understudy.yaml', PACKAGE_ROOT), (error: unknown) => {
    assert.ok(UnderstudyError.isInstance(error), 'a typed error');
    assert.equal(error.file, '/work/understudy.yaml');
    if (check.line !== undefined) assert.equal(error.line, check.line, `line for ${error.describe()}`);
    if (check.field !== undefined) assert.equal(error.field, check.field);
    if (check.message !== undefined) assert.match(error.message, check.message);
    return true;
  });
}

test('the default config loads and resolves the 77 Banking77 labels', () => {
  const loaded = parseConfigText(defaultConfigText(dataDir), 'defaults', PACKAGE_ROOT);
  assert.equal(loaded.labels.length, 77);
  assert.equal(loaded.config.training.lora.targetModules, 'all-linear');
  assert.equal(loaded.config.evaluation.constrainToLabels, true);
});

test('a wrong type names the field, its line and what was expected', () => {
  const text = defaultConfigText(dataDir).replace('    r: 16', '    r: sixteen');
  const line = text.split('\n').findIndex((content) => content.includes('r: sixteen')) + 1;
  expectConfigError(text, { line, field: 'training.lora.r', message: /expected number, got "sixteen"/ });
});

test('a missing field points at its parent and says it is missing', () => {
  // (Most training settings may be left out and are then chosen from the data size; examplesPerLabel may not.)
  const text = defaultConfigText(dataDir).replace(/ {2}examplesPerLabel: [^\n]+\n/, '');
  expectConfigError(text, { field: 'training.examplesPerLabel', message: /missing/ });
});

test('an unknown field (a typo) is rejected', () => {
  const text = defaultConfigText(dataDir).replace(/^ {2}epochs: /m, '  epoch: ');
  expectConfigError(text, { field: 'training', message: /unknown field\(s\): epoch/ });
});

test('YAML syntax errors carry a line number', () => {
  expectConfigError('version: 1\ntask: [unclosed\n', { message: /YAML syntax error/ });
});

test('a labels file that is missing is named', () => {
  const text = defaultConfigText('no/such/dir');
  expectConfigError(text, { field: 'task.output.labelsFile', message: /labels file not found/ });
});

test('init writes a commented config and refuses to overwrite without force', () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-init-'));
  const file = writeDefaultConfig(directory);
  assert.match(readFileSync(file, 'utf8'), /^# Understudy workspace config/);
  assert.throws(() => writeDefaultConfig(directory), InvalidInputError);
  writeDefaultConfig(directory, { force: true, dataDir: EXAMPLES_BANKING77_DIR });
  assert.equal(loadConfigFile(directory).labels.length, 77);
  writeFileSync(file, 'version: 2\n');
  assert.throws(() => loadConfigFile(file), (error: unknown) => UnderstudyError.isInstance(error) && error.field === 'version' && error.line === 1 && /expected one of 1, got 2/.test(error.message));
});
