// `understudy train`, `train --resume` after SIGKILL, `train --method dpo`, `train --accelerate`, `runs` and
// `export`, as a user runs them: the real CLI, the real worker, real TRL steps on SmolLM2-135M and Banking77.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { defaultConfigText } from '../src/adapters/config-file.ts';
import { EXAMPLES_BANKING77_DIR, PACKAGE_ROOT } from '../src/adapters/paths.ts';
import { processAlive } from '../src/pipeline/train.ts';

const CLI = path.join(PACKAGE_ROOT, 'bin', 'understudy.js');

/** The embedded Banking77 config with a small, checkpointed SFT run: 77 examples, ~8 held out for validation. */
function writeConfig(directory: string): string {
  const text = defaultConfigText(EXAMPLES_BANKING77_DIR).replace(/\ntraining:\n(?: {2}.*\n|\s*#.*\n)*/, `
training:
  examplesPerLabel: 1
  maxSteps: 6
  batchSize: 8
  learningRate: 0.0005
  maxLength: 256
  validationFraction: 0.1
  evalSteps: 2
  saveSteps: 2
  accuracySample: 4
  earlyStoppingPatience: 0
  lora:
    r: 8
    dropout: 0.1
  dpo:
    learningRate: 0.00005
    batchSize: 4
    maxSteps: 4
`);
  assert.match(text, /examplesPerLabel: 1/);
  const file = path.join(directory, 'understudy.yaml');
  writeFileSync(file, text);
  return file;
}

interface TrainJson {
  ok: boolean;
  run: { id: string; status: string };
  adapter: { ggufPath: string; peftPath: string };
  steps: number;
  trainLoss: number;
  bestStep: number | null;
  bestEvalLoss: number | null;
  resumedFromStep: number | null;
  validationCurve: { step: number; evalLoss: number; accuracy: number }[];
  lossCurve: { step: number; loss: number }[];
  settings: { lora: { r: number; alpha: number }; evalSteps: number; batchSize: number };
  reasons: Record<string, string>;
}

function cli(args: string[], timeout = 600_000): { status: number | null; stdout: string; stderr: string; json: unknown } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout });
  const last = run.stdout.trim().split('\n').at(-1);
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, json: last === undefined || last === '' ? undefined : JSON.parse(last) };
}

let directory: string;
let config: string;
let reference: TrainJson;

before(() => {
  directory = mkdtempSync(path.join(os.tmpdir(), 'understudy-train-cli-'));
  config = writeConfig(directory);
  const run = cli(['train', '--json', '--config', config, '--workspace', path.join(directory, 'reference')]);
  assert.equal(run.status, 0, run.stderr.slice(-3000));
  reference = run.json as TrainJson;
});

test('train: unset settings come from the data size with reasons; validation, best checkpoint, adapter', () => {
  assert.equal(reference.ok, true);
  assert.equal(reference.run.status, 'succeeded');
  assert.equal(reference.steps, 6);
  assert.equal(reference.settings.lora.r, 8);
  assert.equal(reference.settings.lora.alpha, 16, 'alpha defaults to 2 x rank');
  assert.equal(reference.reasons['lora.alpha'], 'alpha = 2 x rank');
  assert.equal(reference.reasons.batchSize, 'set in the config');
  assert.deepEqual(reference.validationCurve.map((point) => point.step), [2, 4, 6]);
  const best = reference.validationCurve.reduce((a, b) => (b.evalLoss < a.evalLoss ? b : a));
  assert.equal(reference.bestStep, best.step);
  for (const point of reference.validationCurve) assert.ok(point.accuracy >= 0 && point.accuracy <= 1);
  assert.ok(existsSync(reference.adapter.ggufPath) && existsSync(path.join(reference.adapter.peftPath, 'adapter_model.safetensors')));
});

test('train --resume continues a run killed with SIGKILL and ends at the same loss', async () => {
  const workspace = path.join(directory, 'killed');
  const child = spawn(process.execPath, [CLI, 'train', '--json', '--config', config, '--workspace', workspace], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const killedAt = await new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const steps = [...stderr.matchAll(/checkpoint at step (\d+)/g)].map((match) => Number(match[1]));
      if (steps.length > 0 && Math.max(...steps) >= 4) {
        child.kill('SIGKILL');
        resolve(Math.max(...steps));
      }
    });
    child.on('exit', () => reject(new Error(`train ended before a checkpoint at step 4:\n${stderr.slice(-2000)}`)));
  });
  await new Promise((resolve) => child.once('close', resolve));
  assert.equal(killedAt, 4);
  // The CLI is gone; its worker notices within a second and stops, leaving the run `running` with checkpoints.
  const runsDir = path.join(workspace, 'runs');
  const lockFile = path.join(runsDir, readdirSync(runsDir)[0]!, 'run.lock');
  const { workerPid } = JSON.parse(readFileSync(lockFile, 'utf8')) as { workerPid: number };
  for (let waited = 0; processAlive(workerPid); waited += 200) {
    assert.ok(waited < 30_000, 'the orphaned worker stops by itself');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const listed = cli(['runs', 'list', '--json', '--workspace', workspace], 60_000).json as { runs: { id: string; status: string }[] };
  assert.equal(listed.runs[0]!.status, 'running');

  const resumed = cli(['train', '--resume', '--json', '--workspace', workspace]);
  assert.equal(resumed.status, 0, resumed.stderr.slice(-3000));
  const result = resumed.json as TrainJson;
  assert.equal(result.run.id, listed.runs[0]!.id);
  assert.equal(result.resumedFromStep, 4);
  assert.equal(result.steps, 6);
  assert.ok(Math.abs(result.trainLoss - reference.trainLoss) <= 1e-3 * Math.abs(reference.trainLoss), `resumed ${result.trainLoss} vs uninterrupted ${reference.trainLoss}`);
  const lastEval = result.validationCurve.at(-1)!;
  const referenceEval = reference.validationCurve.at(-1)!;
  assert.ok(Math.abs(lastEval.evalLoss - referenceEval.evalLoss) <= 1e-3 * referenceEval.evalLoss);

  const again = cli(['train', '--resume', '--json', '--workspace', workspace], 60_000);
  assert.equal(again.status, 2);
  assert.match((again.json as { error: string }).error, /no unfinished SFT run/);
});

test('runs list and runs show: the record, with the loss curves in an HTML report', () => {
  const workspace = path.join(directory, 'reference');
  const listed = cli(['runs', 'list', '--json', '--workspace', workspace], 60_000);
  assert.equal(listed.status, 0, listed.stderr);
  const runs = (listed.json as { runs: { id: string; status: string }[] }).runs;
  assert.equal(runs[0]!.id, reference.run.id);
  const shown = cli(['runs', 'show', reference.run.id, '--json', '--workspace', workspace], 60_000);
  assert.equal(shown.status, 0, shown.stderr);
  const { reportFile, run } = shown.json as { reportFile: string; run: { dataset: { contentHash: string }; base: { sha256: string }; lossCurve: unknown[]; validationCurve: unknown[] } };
  assert.equal(run.validationCurve.length, 3);
  assert.ok(run.lossCurve.length >= 2);
  const html = readFileSync(reportFile, 'utf8');
  assert.ok(html.includes(run.dataset.contentHash) && html.includes(run.base.sha256), 'the report names the data and the base by hash');
  assert.match(html, /data-series="train-loss"/);
  assert.match(html, /data-series="validation-loss"/);
});

test('train --method dpo starts from the SFT adapter and moves the held-out preference margin', () => {
  const workspace = path.join(directory, 'reference');
  const run = cli(['train', '--method', 'dpo', '--json', '--config', config, '--workspace', workspace]);
  assert.equal(run.status, 0, run.stderr.slice(-3000));
  const result = run.json as { ok: boolean; sftRunId: string; marginBefore: number; marginAfter: number; evalPairs: number; steps: number; adapter: { ggufPath: string } };
  assert.equal(result.sftRunId, reference.run.id);
  assert.equal(result.steps, 4);
  assert.ok(result.evalPairs >= 7 && result.evalPairs <= 8, `${result.evalPairs} held-out pairs: the SFT run's validation split`);
  assert.ok(result.marginAfter > result.marginBefore, `margin ${result.marginBefore} -> ${result.marginAfter}`);
  assert.ok(existsSync(result.adapter.ggufPath));
});

test('export --to all writes every format and records each with its hash', () => {
  const workspace = path.join(directory, 'reference');
  const run = cli(['export', '--to', 'all', '--run', reference.run.id, '--json', '--workspace', workspace]);
  assert.equal(run.status, 0, run.stderr.slice(-3000));
  const { files } = run.json as { files: { format: string; path: string; sha256: string }[] };
  // The first file of each format (openai-jsonl writes the training file, then the validation file).
  const byFormat = new Map([...files].reverse().map((file) => [file.format, file]));
  for (const format of ['peft', 'gguf', 'merged', 'ollama', 'vllm', 'axolotl', 'openai-jsonl']) assert.ok(byFormat.has(format), `${format} exported`);
  const merged = byFormat.get('merged')!.path;
  assert.ok(existsSync(path.join(merged, 'model.safetensors')) && existsSync(path.join(merged, 'config.json')) && existsSync(path.join(merged, 'tokenizer_config.json')));
  const modelfile = readFileSync(byFormat.get('ollama')!.path, 'utf8');
  assert.match(modelfile, /^FROM .+\.gguf$/m);
  assert.match(modelfile, /^ADAPTER .+\.gguf$/m);
  assert.match(readFileSync(byFormat.get('vllm')!.path, 'utf8'), /--enable-lora[\s\\]+--lora-modules/);
  const jsonl = readFileSync(byFormat.get('openai-jsonl')!.path, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { messages: { role: string }[] });
  const validationLines = readFileSync(path.join(path.dirname(byFormat.get('openai-jsonl')!.path), 'validation.messages.jsonl'), 'utf8').trim().split('\n').length;
  assert.equal(jsonl.length + validationLines, 77, 'every training example, split as the run split it');
  assert.equal(jsonl[0]!.messages.at(-1)!.role, 'assistant');
  const unknown = cli(['export', '--to', 'onnx', '--json', '--workspace', workspace], 60_000);
  assert.equal(unknown.status, 2);
  assert.match((unknown.json as { error: string }).error, /unknown export format "onnx"/);
});

test('train --accelerate launches the same worker under accelerate launch (one CPU process)', () => {
  const workspace = path.join(directory, 'accelerate');
  const run = cli(['train', '--accelerate', '--cpu', '--max-steps', '2', '--json', '--config', config, '--workspace', workspace]);
  assert.equal(run.status, 0, run.stderr.slice(-3000));
  const result = run.json as TrainJson;
  assert.equal(result.steps, 2);
  assert.match(run.stderr, /accelerate config: .*accelerate-config\.yaml \(accelerate launch \(NO, 1 process, cpu\)\)/);
  const configText = readFileSync(path.join(workspace, 'accelerate-config.yaml'), 'utf8');
  assert.match(configText, /distributed_type: "NO"/);
  assert.match(configText, /mixed_precision: "no"/);
  assert.match(configText, /use_cpu: true/);
  const shown = cli(['runs', 'show', result.run.id, '--json', '--workspace', workspace], 60_000).json as { run: { spec: { launch?: string; extra?: { launch?: string } } } };
  assert.match(JSON.stringify(shown.run.spec), /accelerate launch/);
});
