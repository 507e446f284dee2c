import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { openStore, type Store } from '../../src/adapters/store/sqlite-store.ts';
import type { ExampleSource } from '../../src/contracts/curation.ts';
import { PACKAGE_ROOT } from '../../src/adapters/paths.ts';
import { classificationMessages } from '../../src/pipeline/prepare-data.ts';
import { embeddedDemoConfig } from '../../src/surfaces/cli/commands/demo.ts';

/** The embedded Banking77 config the data commands use without --config. */
export const demoConfig = embeddedDemoConfig(false);
export const TASK = demoConfig.config.task.name;
export const SYSTEM_PROMPT = demoConfig.config.task.systemPrompt;

/** One example to seed: its input, label, source and side (`heldout` goes into the held-out version). */
export interface SeedExample {
  input: string;
  label: string;
  source: ExampleSource;
  side: 'train' | 'heldout' | 'none';
}

/** A temp workspace whose pool holds `examples`, split and held out as given. Returns the ids in `examples` order. */
export function seedPool(examples: readonly SeedExample[]): { workspace: string; ids: number[]; store: Store } {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-curated-'));
  const store = openStore(path.join(workspace, 'understudy.db'));
  const ids: number[] = new Array<number>(examples.length);
  for (const source of ['human', 'synthetic', 'log'] as const) {
    const positions = examples.map((example, index) => ({ example, index })).filter(({ example }) => example.source === source);
    if (positions.length === 0) continue;
    store.curation.addBatch({
      task: TASK,
      kind: source === 'synthetic' ? 'generate' : 'import',
      source: { test: source },
      examples: positions.map(({ example, index }) => ({
        input: example.input,
        answer: example.label,
        messages: classificationMessages(SYSTEM_PROMPT, example.input, example.label),
        source,
        tags: source === 'synthetic' ? ['teacher'] : [],
        provenance: source === 'synthetic' ? { generator: 'label-conditioned', model: 'test-teacher' } : { file: 'seed.csv', line: index + 2 },
      })),
    });
    const added = store.curation.listPool(TASK, { source });
    positions.forEach(({ index }, position) => {
      ids[index] = added[added.length - positions.length + position]!.id;
    });
  }
  const assignments = examples.flatMap((example, index) => (example.side === 'none' ? [] : [{ id: ids[index]!, split: example.side === 'heldout' ? 'eval' as const : 'train' as const }]));
  const heldoutIds = examples.flatMap((example, index) => (example.side === 'heldout' ? [ids[index]!] : []));
  store.curation.assignSplits(TASK, assignments, heldoutIds.length === 0 ? null : { exampleIds: heldoutIds, rule: { test: true }, note: 'seeded by the test' });
  return { workspace, ids, store };
}

export const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');

/** Run the real CLI with `stdin` piped in; resolves with the exit code, stdout, stderr and the last stdout line as JSON. */
export function runCli(args: string[], stdin = ''): Promise<{ status: number | null; stdout: string; stderr: string; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').at(-1) ?? '';
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(last) as Record<string, unknown>;
      } catch {
        // not JSON: the caller asserts on stdout/stderr
      }
      resolve({ status, stdout, stderr, json });
    });
    child.stdin.end(stdin);
  });
}
