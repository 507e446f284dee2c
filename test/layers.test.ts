import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../src/adapters/paths.ts';

// The layers of docs/architecture.md: imports point downward only.
const LAYERS = ['contracts', 'core', 'adapters', 'pipeline', 'surfaces'] as const;
const SOURCE = path.join(PACKAGE_ROOT, 'src');

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((match) => match[1]!);
}

const layerOf = (file: string): number => LAYERS.indexOf(path.relative(SOURCE, file).split(path.sep)[0] as (typeof LAYERS)[number]);

test('every source file sits in a known layer', () => {
  for (const file of sourceFiles(SOURCE)) assert.notEqual(layerOf(file), -1, `${file} is outside the layers`);
});

test('imports point downward only; contracts import only zod; core does no I/O', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(SOURCE)) {
    const layer = layerOf(file);
    for (const specifier of importsOf(file)) {
      if (specifier.startsWith('.')) {
        const target = layerOf(path.resolve(path.dirname(file), specifier));
        if (target > layer) violations.push(`${path.relative(SOURCE, file)} imports ${specifier} (a higher layer)`);
      } else if (LAYERS[layer] === 'contracts' && specifier !== 'zod') {
        violations.push(`${path.relative(SOURCE, file)} (contracts) imports ${specifier}`);
      } else if (LAYERS[layer] === 'core' && !['zod', 'node:crypto', '@huggingface/jinja'].includes(specifier)) {
        violations.push(`${path.relative(SOURCE, file)} (core) imports ${specifier}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});
