import { emitKeypressEvents, createInterface } from 'node:readline';
import type { PoolExample } from '../../../adapters/store/curation-store.ts';
import { ExampleSourceSchema, type ExampleSource } from '../../../contracts/curation.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { applyReview, checkAnswer, matchLabel, reviewQueue, reviewSnapshot, restoreSnapshot, type ReviewSnapshot, type ReviewSplit, type ReviewTask } from '../../../pipeline/review-queue.ts';
import type { Output } from '../output.ts';
import { openDataContext, type DataCommandOptions } from './data-context.ts';

export interface DataReviewOptions extends DataCommandOptions {
  split?: string;
  source?: string;
  limit?: string;
}

/** Where the reviewer's keys come from: raw keypresses on a terminal, or one command per line from a pipe. */
interface ReviewInput {
  /** The next command key, or undefined when the input has ended. */
  nextCommand(): Promise<string | undefined>;
  /** One line of text (an edited answer), or undefined when the input has ended. */
  readLine(prompt: string): Promise<string | undefined>;
  close(): void;
}

/** Piped stdin: each line is one command; after `e`, the next line is the new answer. */
function lineInput(): ReviewInput {
  const lines = createInterface({ input: process.stdin, terminal: false, crlfDelay: Infinity });
  const iterator = lines[Symbol.asyncIterator]();
  const next = async (): Promise<string | undefined> => {
    const item = await iterator.next();
    return item.done === true ? undefined : item.value.replace(/\r$/, '');
  };
  return {
    async nextCommand() {
      for (;;) {
        const line = await next();
        if (line === undefined) return undefined;
        if (line.trim() !== '') return line.trim();
      }
    },
    readLine: () => next(),
    close: () => lines.close(),
  };
}

/**
 * A terminal: single keypresses in raw mode; an edit reads a whole line in cooked mode. Ctrl-C and Ctrl-D quit.
 * Keys are queued as they arrive, so keys typed ahead (or pasted) are not lost.
 */
function keypressInput(): ReviewInput {
  const stdin = process.stdin;
  emitKeypressEvents(stdin);
  stdin.setRawMode(true);
  const pending: string[] = [];
  let waiting: ((key: string) => void) | undefined;
  const onKey = (text: string | undefined, key: { name?: string; ctrl?: boolean } | undefined): void => {
    const command = key?.ctrl === true && (key.name === 'c' || key.name === 'd') ? 'q' : (text ?? key?.name ?? '');
    if (waiting !== undefined) {
      const resolve = waiting;
      waiting = undefined;
      resolve(command);
    } else {
      pending.push(command);
    }
  };
  stdin.on('keypress', onKey);
  stdin.resume();
  return {
    nextCommand() {
      const queued = pending.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    async readLine(prompt) {
      // Keys typed ahead after `e` are the start of the answer.
      const typedAhead = pending.splice(0).filter((key) => key.length === 1 && key >= ' ').join('');
      stdin.off('keypress', onKey);
      stdin.setRawMode(false);
      const lines = createInterface({ input: stdin, output: process.stderr, terminal: true });
      try {
        return await new Promise<string | undefined>((resolve) => {
          lines.once('close', () => resolve(undefined));
          lines.question(prompt, resolve);
          if (typedAhead !== '') lines.write(typedAhead);
        });
      } finally {
        lines.close();
        stdin.setRawMode(true);
        stdin.on('keypress', onKey);
        stdin.resume();
      }
    },
    close() {
      stdin.off('keypress', onKey);
      stdin.setRawMode(false);
      stdin.pause();
    },
  };
}

const HELP = [
  'a  accept the answer as it is',
  'r  reject the example (it is never exported or trained on)',
  'e  edit the answer (a label, a unique label prefix, or JSON); an empty line cancels',
  's  skip: leave it pending',
  'u  undo the last decision or skip, and show that example again',
  'q  quit (Ctrl-C too); ?  this help',
];

function provenanceText(example: PoolExample): string {
  const { provenance } = example;
  if (provenance.file !== undefined) return `${provenance.file}${provenance.line === undefined ? '' : `:${provenance.line}`}`;
  if (provenance.generator !== undefined) return `generator ${provenance.generator}${provenance.model === undefined ? '' : ` (${provenance.model})`}`;
  if (provenance.logId !== undefined) return `gateway log ${provenance.logId}`;
  return '(unknown)';
}

const indent = (text: string): string => text.split('\n').map((line) => `    ${line}`).join('\n');

function card(example: PoolExample, position: number, total: number): string[] {
  return [
    '',
    `[${position}/${total}] example #${example.id}  ${example.source}  from ${provenanceText(example)}${example.tags.length > 0 ? `  tags: ${example.tags.join(', ')}` : ''}`,
    `  split ${example.split ?? '(none)'}  review ${example.review}`,
    '  input:',
    indent(example.input),
    '  answer:',
    indent(example.answer ?? '(none)'),
    '  a accept  r reject  e edit  s skip  u undo  q quit  ? help',
  ];
}

type Step = 'accept' | 'reject' | 'edit' | 'skip';
const COUNTER: Record<Step, 'accepted' | 'rejected' | 'edited' | 'skipped'> = { accept: 'accepted', reject: 'rejected', edit: 'edited', skip: 'skipped' };

function parseOptions(options: DataReviewOptions): { split: ReviewSplit; source?: ExampleSource; limit?: number } {
  const split = options.split ?? 'train';
  if (!['train', 'eval', 'all'].includes(split)) throw new InvalidInputError(`--split must be train, eval or all, got ${JSON.stringify(split)}`, { field: '--split' });
  let source: ExampleSource | undefined;
  if (options.source !== undefined) {
    const parsed = ExampleSourceSchema.safeParse(options.source);
    if (!parsed.success) throw new InvalidInputError(`--source must be human, synthetic or log, got ${JSON.stringify(options.source)}`, { field: '--source' });
    source = parsed.data;
  }
  let limit: number | undefined;
  if (options.limit !== undefined) {
    limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit <= 0) throw new InvalidInputError(`--limit must be a positive integer, got ${JSON.stringify(options.limit)}`, { field: '--limit' });
  }
  return { split: split as ReviewSplit, source, limit };
}

/**
 * `understudy data review`: go through the pending examples one by one (synthetic first, then logs, then human;
 * by id within each) and accept, reject, edit or skip each, with undo. Keys on a terminal; one command per line
 * when stdin is a pipe (`e` then the new answer on the next line), so a review can be scripted.
 */
export async function runDataReview(options: DataReviewOptions, output: Output): Promise<void> {
  const { split, source, limit } = parseOptions(options);
  const context = openDataContext(options);
  const { store, task, loaded } = context;
  const reviewTask: ReviewTask = { systemPrompt: loaded.config.task.systemPrompt, output: loaded.config.task.output, labels: loaded.labels };
  const input = process.stdin.isTTY === true ? keypressInput() : lineInput();
  const counts = { accepted: 0, rejected: 0, edited: 0, skipped: 0, undone: 0 };
  const decisions = new Map<number, Step>();
  const history: { index: number; step: Step; snapshot: ReviewSnapshot }[] = [];
  try {
    const queue = reviewQueue(store, task, { split, source, limit });
    if (queue.length === 0) output.info(`nothing to review: no pending examples in the ${split} ${split === 'all' ? 'pool' : 'split'}${source === undefined ? '' : ` from ${source}`} of task ${task}`);
    let index = 0;
    let quit = false;
    /** Undo the newest decision or skip; returns the queue position to show next. */
    const undo = (): number => {
      const last = history.pop();
      if (last === undefined) {
        output.info('  nothing to undo');
        return index;
      }
      if (last.step !== 'skip') restoreSnapshot(store, last.snapshot);
      counts[COUNTER[last.step]] -= 1;
      counts.undone += 1;
      decisions.delete(last.snapshot.id);
      output.info(`  undid ${last.step} of #${last.snapshot.id}`);
      return last.index;
    };
    while (!quit && queue.length > 0) {
      if (index >= queue.length) {
        // The end of the queue: the last decision can still be undone before the session ends.
        output.info('');
        output.info(`end of the queue: u undo the last decision, any other key to finish`);
        const command = await input.nextCommand();
        if (command?.toLowerCase() !== 'u') break;
        index = undo();
        continue;
      }
      const example = store.curation.getExample(queue[index]!.id)!;
      for (const line of card(example, index + 1, queue.length)) output.info(line);
      const command = await input.nextCommand();
      if (command === undefined) break;
      const decide = (step: Step, apply: () => void): void => {
        const snapshot = reviewSnapshot(example);
        apply();
        history.push({ index, step, snapshot });
        counts[COUNTER[step]] += 1;
        decisions.set(example.id, step);
        index += 1;
      };
      switch (command.toLowerCase()) {
        case 'a':
          decide('accept', () => applyReview(store, example.id, { kind: 'accept' }, reviewTask));
          output.info(`  accepted #${example.id}`);
          break;
        case 'r':
          decide('reject', () => applyReview(store, example.id, { kind: 'reject' }, reviewTask));
          output.info(`  rejected #${example.id}`);
          break;
        case 's':
          decide('skip', () => undefined);
          break;
        case 'e': {
          const answer = await readAnswer(input, reviewTask, output);
          if (answer === undefined) {
            quit = true;
            break;
          }
          if (answer === '') {
            output.info('  edit cancelled');
            break;
          }
          if (answer === example.answer) {
            // Nothing changed: that is an accept, and a DPO pair of two equal answers would prefer nothing.
            decide('accept', () => applyReview(store, example.id, { kind: 'accept' }, reviewTask));
            output.info(`  same answer as before: accepted #${example.id}`);
            break;
          }
          decide('edit', () => applyReview(store, example.id, { kind: 'edit', answer }, reviewTask));
          output.info(`  edited #${example.id}: ${example.answer ?? '(none)'} -> ${answer}`);
          break;
        }
        case 'u':
          index = undo();
          break;
        case 'q':
          quit = true;
          break;
        case '?':
        case 'h':
          for (const line of HELP) output.info(`  ${line}`);
          break;
        default:
          output.info(`  unknown key ${JSON.stringify(command)}; ? for help`);
      }
    }
    const remaining = reviewQueue(store, task, { split, source }).length;
    const summary = { accepted: counts.accepted, rejected: counts.rejected, edited: counts.edited, skipped: counts.skipped, undone: counts.undone, remaining };
    if (!output.json) {
      output.info('');
      output.info(`reviewed ${counts.accepted + counts.rejected + counts.edited} of ${queue.length}: ${counts.accepted} accepted, ${counts.rejected} rejected, ${counts.edited} edited, ${counts.skipped} skipped; ${remaining} still pending`);
    }
    output.result({
      ok: true,
      task,
      split,
      source: source ?? null,
      queue: queue.length,
      ...summary,
      decisions: [...decisions].map(([id, step]) => ({ id, decision: step })),
    });
  } finally {
    input.close();
    store.close();
  }
}

/**
 * Read the new answer after `e`. Label tasks take a label, a case-insensitive match or a unique prefix; an
 * ambiguous or unknown one shows the candidates and asks again. '' cancels; undefined: the input ended.
 */
async function readAnswer(input: ReviewInput, task: ReviewTask, output: Output): Promise<string | undefined> {
  const labelTask = task.output.type === 'labels';
  for (;;) {
    const line = await input.readLine(labelTask ? '  new label (a unique prefix is enough; empty cancels): ' : '  new answer as JSON (empty cancels): ');
    if (line === undefined) return undefined;
    const text = line.trim();
    if (text === '') return '';
    if (!labelTask) {
      try {
        return checkAnswer(text, task);
      } catch (error) {
        if (!(error instanceof InvalidInputError)) throw error;
        output.info(`  ${error.message}; try again`);
        continue;
      }
    }
    const match = matchLabel(text, task.labels);
    if (match.kind === 'match') return match.label;
    if (match.kind === 'ambiguous') {
      output.info(`  "${text}" matches ${match.candidates.length} labels: ${match.candidates.slice(0, 12).join(', ')}${match.candidates.length > 12 ? ', ...' : ''}`);
    } else {
      output.info(`  no label matches "${text}"`);
    }
  }
}
