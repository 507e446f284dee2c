// `npm run bench:data [-- --size N] [-- --rounds R]`: Understudy's MinHash LSH near-duplicate search against
// datasketch's MinHashLSH on the same texts, same shingles (word 3-shingles of normalized text), numPerm 128 and
// threshold 0.8, each in its own child process, alternating which goes first over the rounds.
//
// Data: Banking77 training queries (CC BY 4.0, bundled). Distinct texts join three different queries; planted
// groups take such a text and add one or two variants with 1–3 word edits (replace, insert, delete, swap). Every
// planted pair's true Jaccard is computed exactly from string shingle sets; those at or above the threshold are the
// positives. Recall: the share of positives a system reports. Precision: the share of reported pairs whose exact
// Jaccard reaches the threshold (planted or not). Seconds: signatures + index + query + verification, from loaded
// texts to the pair list. Peak memory: the child's own maximum RSS (Node: process.resourceUsage().maxRSS; Python:
// resource.getrusage(RUSAGE_SELF).ru_maxrss), runtime and loaded texts included.
// Progress goes to stderr; stdout gets the table and, last, one JSON line.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuModel } from './bench-machine.ts';
import { cacheDir, EXAMPLES_BANKING77_DIR } from '../src/adapters/paths.ts';
import { findPython, workerRequirements } from '../src/adapters/worker/python-env.ts';
import { parseCsv } from '../src/core/csv.ts';
import { normalizeForOverlap } from '../src/core/decontaminate.ts';
import { findNearDuplicates, lshParameters } from '../src/core/minhash.ts';
import { createRandom, randomInt, seedFrom, shuffle, type RandomSource } from '../src/core/random.ts';

const THRESHOLD = 0.8;
const NUM_PERM = 128;
const SHINGLE_SIZE = 3;
const MINHASH_SEED = 1;
const DATA_SEED = 77;
/** Positives this far above the threshold are found almost surely; recall over them shows misses that are not luck. */
const CLEAR_JACCARD = 0.9;
const DATASKETCH_VERSION = '2.0.0';
/** One planted group per this many texts; a group is a base text and one or two edited variants. */
const TEXTS_PER_GROUP = 10;
const SCRIPT = fileURLToPath(import.meta.url);
const PYTHON_SCRIPT = path.join(path.dirname(SCRIPT), 'bench_data_datasketch.py');

type SystemName = 'understudy' | 'datasketch';

interface SystemRun {
  system: SystemName;
  seconds: number;
  peakKiB: number;
  bands: number;
  rows: number;
  shingles?: number;
  version?: string;
  /** Flat [a0, b0, a1, b1, ...] with a < b. */
  pairs: number[];
}

interface PlantedPair {
  a: number;
  b: number;
  jaccard: number;
  edits: number;
}

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '2' },
    child: { type: 'string' },
    input: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
const log = (message: string): void => {
  process.stderr.write(`[bench:data] ${message}\n`);
};

/** The Understudy side, in its own process so its peak RSS is its own. */
function runChild(system: string, input: string | undefined): void {
  if (system !== 'understudy' || input === undefined) throw new Error('usage: --child understudy --input texts.json');
  const texts = JSON.parse(readFileSync(input, 'utf8')) as string[];
  const started = performance.now();
  const result = findNearDuplicates(texts, { threshold: THRESHOLD, numPerm: NUM_PERM, shingleSize: SHINGLE_SIZE, unit: 'word', seed: MINHASH_SEED, verify: true });
  const seconds = (performance.now() - started) / 1000;
  const pairs = result.pairs.flatMap(({ a, b }) => [a, b]);
  const { bands, rows } = lshParameters(THRESHOLD, NUM_PERM);
  const run: SystemRun = { system: 'understudy', seconds, peakKiB: process.resourceUsage().maxRSS, bands, rows, pairs };
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

async function main(size: number, rounds: number): Promise<void> {
  const machine = { cpu: cpuModel(), cores: os.availableParallelism(), memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  log(`building ${size} texts from Banking77`);
  const dataset = buildDataset(size);
  const positives = dataset.planted.filter(({ jaccard }) => jaccard >= THRESHOLD);
  log(`${dataset.texts.length} texts, ${dataset.planted.length} planted pairs, ${positives.length} with Jaccard >= ${THRESHOLD}`);

  const workspace = mkdtempSync(path.join(os.tmpdir(), 'understudy-bench-data-'));
  try {
    const input = path.join(workspace, 'texts.json');
    writeFileSync(input, JSON.stringify(dataset.texts));
    const python = ensureDatasketch();

    const runs: SystemRun[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const order: SystemName[] = round % 2 === 0 ? ['understudy', 'datasketch'] : ['datasketch', 'understudy'];
      for (const system of order) {
        log(`round ${round + 1}/${rounds}: ${system}`);
        const run = system === 'understudy' ? await runUnderstudy(input) : await runDatasketch(python, input);
        log(`  ${run.seconds.toFixed(2)} s, ${(run.peakKiB / 1024).toFixed(0)} MiB, ${run.pairs.length / 2} pairs`);
        runs.push(run);
      }
    }

    const shingleSets = new ShingleSets(dataset.texts);
    const summaries = (['understudy', 'datasketch'] as const).map((system) => summarize(system, runs.filter((run) => run.system === system), dataset.planted, shingleSets));
    const [understudy, datasketch] = summaries as [Summary, Summary];
    const datasketchRun = runs.find((run) => run.system === 'datasketch')!;
    const shinglesAgree = datasketchRun.shingles === shingleSets.totalShingles();

    const table = [
      ['system', 'seconds (mean)', 'seconds (each round)', 'peak MiB', 'pairs reported', 'recall', `recall (J >= ${CLEAR_JACCARD})`, 'precision', 'bands x rows'],
      ...summaries.map((summary) => [
        summary.system === 'datasketch' ? `datasketch ${datasketchRun.version ?? ''}`.trim() : 'understudy',
        summary.seconds.toFixed(2),
        summary.secondsPerRound.map((seconds) => seconds.toFixed(2)).join(' / '),
        summary.peakMiB.toFixed(0),
        String(summary.pairsReported),
        summary.recall.toFixed(4),
        summary.recallClear.toFixed(4),
        summary.precision.toFixed(4),
        `${summary.bands} x ${summary.rows}`,
      ]),
    ];
    const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
    const speedRatio = datasketch.seconds / understudy.seconds;
    const targetMet = speedRatio >= 1 && understudy.recall >= datasketch.recall;
    const lines = [
      `bench:data — near-duplicate search, ${dataset.texts.length} texts derived from Banking77 (CC BY 4.0)`,
      `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`,
      `settings: word ${SHINGLE_SIZE}-shingles of normalized text, numPerm ${NUM_PERM}, threshold ${THRESHOLD}, verified by estimated Jaccard >= threshold, ${rounds} round(s) alternating order`,
      `planted: ${dataset.planted.length} pairs in ${dataset.groups} groups (1-3 word edits), ${positives.length} positives (exact Jaccard >= ${THRESHOLD}, ${dataset.planted.filter(({ jaccard }) => jaccard >= CLEAR_JACCARD).length} of them >= ${CLEAR_JACCARD}); shingle sets agree between the two systems: ${shinglesAgree ? 'yes' : 'NO'} (${shingleSets.totalShingles()} shingles)`,
      `recall = positives reported / positives; precision = reported pairs with exact Jaccard >= ${THRESHOLD} / pairs reported; seconds = signatures + index + query + verify; peak = the child's maxRSS`,
      '',
      ...table.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')),
      '',
      `speed ratio (datasketch seconds / understudy seconds): ${speedRatio.toFixed(2)}; target (no slower at equal or better recall): ${targetMet ? 'met' : 'NOT met'}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const figures = {
      bench: 'data',
      texts: dataset.texts.length,
      plantedPairs: dataset.planted.length,
      positives: positives.length,
      clearPositives: dataset.planted.filter(({ jaccard }) => jaccard >= CLEAR_JACCARD).length,
      threshold: THRESHOLD,
      numPerm: NUM_PERM,
      shingles: `word-${SHINGLE_SIZE}`,
      rounds,
      shinglesAgree,
      understudy: summaryFigures(understudy),
      datasketch: { ...summaryFigures(datasketch), version: datasketchRun.version },
      speedRatio: round3(speedRatio),
      memoryRatio: round3(datasketch.peakMiB / understudy.peakMiB),
      targetMet,
      machine,
    };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

interface Summary {
  system: SystemName;
  seconds: number;
  secondsPerRound: number[];
  peakMiB: number;
  pairsReported: number;
  truePositives: number;
  recall: number;
  /** Recall over the positives with exact Jaccard >= CLEAR_JACCARD, away from the threshold's coin flips. */
  recallClear: number;
  precision: number;
  accidental: number;
  bands: number;
  rows: number;
}

function summarize(system: SystemName, runs: readonly SystemRun[], planted: readonly PlantedPair[], shingleSets: ShingleSets): Summary {
  const first = runs[0]!;
  for (const run of runs.slice(1)) {
    if (run.pairs.length !== first.pairs.length || run.pairs.some((value, index) => value !== first.pairs[index])) throw new Error(`${system} reported different pairs in different rounds`);
  }
  const plantedByKey = new Map(planted.map((pair) => [pairKey(pair.a, pair.b), pair]));
  const positives = planted.filter(({ jaccard }) => jaccard >= THRESHOLD).length;
  const clearPositives = planted.filter(({ jaccard }) => jaccard >= CLEAR_JACCARD).length;
  let clearFound = 0;
  let truePositives = 0;
  let correct = 0;
  let accidental = 0;
  for (let index = 0; index < first.pairs.length; index += 2) {
    const a = first.pairs[index]!;
    const b = first.pairs[index + 1]!;
    const plantedPair = plantedByKey.get(pairKey(a, b));
    const jaccard = plantedPair?.jaccard ?? shingleSets.jaccard(a, b);
    if (jaccard >= THRESHOLD) {
      correct += 1;
      if (plantedPair !== undefined) truePositives += 1;
      else accidental += 1;
      if (plantedPair !== undefined && jaccard >= CLEAR_JACCARD) clearFound += 1;
    }
  }
  const pairsReported = first.pairs.length / 2;
  const secondsPerRound = runs.map((run) => run.seconds);
  return {
    system,
    seconds: secondsPerRound.reduce((sum, seconds) => sum + seconds, 0) / runs.length,
    secondsPerRound,
    peakMiB: Math.max(...runs.map((run) => run.peakKiB)) / 1024,
    pairsReported,
    truePositives,
    recall: positives === 0 ? 1 : truePositives / positives,
    recallClear: clearPositives === 0 ? 1 : clearFound / clearPositives,
    precision: pairsReported === 0 ? 1 : correct / pairsReported,
    accidental,
    bands: first.bands,
    rows: first.rows,
  };
}

function summaryFigures(summary: Summary): Record<string, number | number[]> {
  return {
    seconds: round3(summary.seconds),
    secondsPerRound: summary.secondsPerRound.map((seconds) => round3(seconds)),
    peakMiB: round3(summary.peakMiB),
    pairsReported: summary.pairsReported,
    truePositives: summary.truePositives,
    accidentalNearDuplicates: summary.accidental,
    recall: round3(summary.recall, 4),
    recallAtJaccard09: round3(summary.recallClear, 4),
    precision: round3(summary.precision, 4),
    bands: summary.bands,
    rows: summary.rows,
  };
}

/** Exact word-shingle sets as strings (independent of either system's hashing), built lazily. */
class ShingleSets {
  private readonly sets = new Map<number, Set<string>>();
  constructor(private readonly texts: readonly string[]) {}

  of(index: number): Set<string> {
    let set = this.sets.get(index);
    if (set === undefined) {
      set = exactShingles(this.texts[index]!);
      this.sets.set(index, set);
    }
    return set;
  }

  jaccard(a: number, b: number): number {
    return jaccardOf(this.of(a), this.of(b));
  }

  totalShingles(): number {
    let total = 0;
    for (const text of this.texts) total += exactShingles(text).size;
    return total;
  }
}

function exactShingles(text: string): Set<string> {
  const normalized = normalizeForOverlap(text);
  if (normalized === '') return new Set();
  const tokens = normalized.split(' ');
  if (tokens.length < SHINGLE_SIZE) return new Set([normalized]);
  const set = new Set<string>();
  for (let start = 0; start + SHINGLE_SIZE <= tokens.length; start += 1) set.add(tokens.slice(start, start + SHINGLE_SIZE).join(' '));
  return set;
}

function jaccardOf(left: Set<string>, right: Set<string>): number {
  let shared = 0;
  for (const shingle of left) if (right.has(shingle)) shared += 1;
  const union = left.size + right.size - shared;
  return union === 0 ? 1 : shared / union;
}

/**
 * `size` texts: planted groups (a base text plus one or two variants with 1–3 word edits) and distinct texts,
 * each base or distinct text three different Banking77 queries joined, no combination used twice; then shuffled.
 */
function buildDataset(size: number): { texts: string[]; planted: PlantedPair[]; groups: number } {
  const queries = bankingQueries();
  const vocabulary = [...new Set(queries.flatMap((query) => normalizeForOverlap(query).split(' ')))].sort();
  const random = createRandom(seedFrom('bench-data', DATA_SEED));
  const usedCombinations = new Set<string>();
  const combination = (): string => {
    for (;;) {
      const picks = [randomInt(random, queries.length), randomInt(random, queries.length), randomInt(random, queries.length)];
      if (new Set(picks).size < 3) continue;
      const key = picks.join(',');
      if (usedCombinations.has(key)) continue;
      usedCombinations.add(key);
      return picks.map((pick) => queries[pick]!).join(' ');
    }
  };

  interface Member {
    text: string;
    group: number;
    edits: number;
  }
  const members: Member[] = [];
  const groupCount = Math.max(1, Math.floor(size / TEXTS_PER_GROUP));
  for (let group = 0; group < groupCount && members.length + 2 <= size; group += 1) {
    const base = combination();
    members.push({ text: base, group, edits: 0 });
    const variants = Math.min(1 + randomInt(random, 2), size - members.length);
    for (let variant = 0; variant < variants; variant += 1) {
      const edits = 1 + randomInt(random, 3);
      members.push({ text: editWords(base, edits, vocabulary, random), group, edits });
    }
  }
  const groups = members.length === 0 ? 0 : members.at(-1)!.group + 1;
  while (members.length < size) members.push({ text: combination(), group: -1, edits: 0 });

  const shuffled = shuffle(members, seedFrom('bench-data-order', DATA_SEED));
  const positionsByGroup = new Map<number, number[]>();
  shuffled.forEach((member, position) => {
    if (member.group < 0) return;
    const positions = positionsByGroup.get(member.group) ?? [];
    positions.push(position);
    positionsByGroup.set(member.group, positions);
  });
  const planted: PlantedPair[] = [];
  for (const positions of positionsByGroup.values()) {
    for (let left = 0; left < positions.length; left += 1) {
      for (let right = left + 1; right < positions.length; right += 1) {
        const a = Math.min(positions[left]!, positions[right]!);
        const b = Math.max(positions[left]!, positions[right]!);
        const jaccard = jaccardOf(exactShingles(shuffled[a]!.text), exactShingles(shuffled[b]!.text));
        planted.push({ a, b, jaccard, edits: shuffled[a]!.edits + shuffled[b]!.edits });
      }
    }
  }
  planted.sort((left, right) => left.a - right.a || left.b - right.b);
  return { texts: shuffled.map((member) => member.text), planted, groups };
}

/** Apply `edits` random word edits (replace, insert, delete, swap with the next word) to a text's words. */
function editWords(text: string, edits: number, vocabulary: readonly string[], random: RandomSource): string {
  const words = text.split(/\s+/);
  for (let edit = 0; edit < edits; edit += 1) {
    const position = randomInt(random, words.length);
    const word = vocabulary[randomInt(random, vocabulary.length)]!;
    switch (randomInt(random, 4)) {
      case 0:
        words[position] = word;
        break;
      case 1:
        words.splice(position, 0, word);
        break;
      case 2:
        if (words.length > SHINGLE_SIZE + 1) words.splice(position, 1);
        else words[position] = word;
        break;
      default: {
        const next = (position + 1) % words.length;
        [words[position], words[next]] = [words[next]!, words[position]!];
      }
    }
  }
  return words.join(' ');
}

/** The Banking77 training queries, one per distinct normalized form. */
function bankingQueries(): string[] {
  const records = parseCsv(readFileSync(path.join(EXAMPLES_BANKING77_DIR, 'train.csv'), 'utf8'));
  const textColumn = records[0]!.fields.indexOf('text');
  if (textColumn < 0) throw new Error('examples/banking77/train.csv has no text column');
  const seen = new Set<string>();
  const queries: string[] = [];
  for (const record of records.slice(1)) {
    const query = record.fields[textColumn]?.trim() ?? '';
    const key = normalizeForOverlap(query);
    if (key === '' || seen.has(key)) continue;
    seen.add(key);
    queries.push(query);
  }
  return queries;
}

function runUnderstudy(input: string): Promise<SystemRun> {
  return runJsonChild(process.execPath, ['--import', 'tsx', SCRIPT, '--child', 'understudy', '--input', input]);
}

function runDatasketch(python: string, input: string): Promise<SystemRun> {
  return runJsonChild(python, [PYTHON_SCRIPT, '--input', input, '--threshold', String(THRESHOLD), '--num-perm', String(NUM_PERM), '--shingle-size', String(SHINGLE_SIZE), '--seed', String(MINHASH_SEED)]);
}

function runJsonChild(executable: string, args: string[]): Promise<SystemRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`${path.basename(executable)} ${path.basename(args.find((arg) => arg.endsWith('.ts') || arg.endsWith('.py')) ?? '')} exited with ${code}:\n${stderr}`));
        return;
      }
      const last = Buffer.concat(chunks).toString('utf8').trim().split('\n').at(-1) ?? '';
      resolve(JSON.parse(last) as SystemRun);
    });
  });
}

/**
 * The Python with datasketch: the worker's virtual environment when `understudy setup` made one, else a small
 * venv for this bench made with the interpreter findPython picks (`$UNDERSTUDY_PYTHON`, python3, python).
 * datasketch is installed into it on first use.
 */
function ensureDatasketch(): string {
  const workerPython = (['cpu', 'cuda'] as const)
    .map((torch) => path.join(cacheDir(), `venv-${torch}-${workerRequirements(torch).hash}`, 'bin', 'python'))
    .find((candidate) => existsSync(candidate));
  let python = workerPython;
  if (python === undefined) {
    const venv = path.join(cacheDir(), 'bench-datasketch-venv');
    python = path.join(venv, 'bin', 'python');
    if (!existsSync(python)) {
      const system = findPython();
      log(`creating ${venv} with ${system.executable} ${system.version}`);
      runOrThrow(system.executable, ['-m', 'venv', venv]);
    }
  }
  const probe = spawnSync(python, ['-c', 'import datasketch; print(datasketch.__version__)'], { encoding: 'utf8' });
  if (probe.status === 0 && probe.stdout.trim() === DATASKETCH_VERSION) return python;
  log(`installing datasketch==${DATASKETCH_VERSION} into ${path.dirname(path.dirname(python))} (pip)`);
  runOrThrow(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', `datasketch==${DATASKETCH_VERSION}`]);
  return python;
}

function runOrThrow(executable: string, args: string[]): void {
  const result = spawnSync(executable, args, { encoding: 'utf8', stdio: ['ignore', 2, 'pipe'] });
  if (result.status !== 0) throw new Error(`${executable} ${args.join(' ')} failed (exit ${result.status}): ${result.stderr.slice(-2000)}`);
}

function pairKey(a: number, b: number): number {
  return a * 4294967296 + b;
}

function round3(value: number, digits = 3): number {
  return Number(value.toFixed(digits));
}

function positiveInteger(text: string | undefined, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} must be a positive integer, got ${text}`);
  return value;
}

// Last, so every declaration above is initialized before it runs.
if (values.help) {
  process.stdout.write('usage: npm run bench:data -- [--size N (default 100000)] [--rounds R (default 2)]\n');
} else if (values.child !== undefined) {
  runChild(values.child, values.input);
} else {
  await main(positiveInteger(values.size, '--size'), positiveInteger(values.rounds, '--rounds'));
}
