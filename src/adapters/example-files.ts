import { existsSync, readFileSync, statSync } from 'node:fs';
import type { TaskOutput } from '../contracts/config.ts';
import type { CandidateExample, ExampleSource, ImportProblem } from '../contracts/curation.ts';
import type { ChatMessage } from '../contracts/worker.ts';
import { sha256Hex } from '../core/content-hash.ts';
import { CsvSyntaxError, parseCsv } from '../core/csv.ts';
import { InvalidInputError } from '../core/errors.ts';

/**
 * Reading example files for `understudy data import`: each format becomes candidate examples (the conversation
 * in the task's chat roles, its input, its answer, tags and where it came from) plus the rows that could not be
 * read, each with its file, line and field. Whether an example suits the task (its label, its schema, its length)
 * is checked afterwards by `core/example-validation.ts`.
 */

/**
 * - `csv`: one example per row, columns chosen by a mapping (input, optional label, optional `;`-separated tags).
 * - `openai`: JSONL in OpenAI's chat fine-tuning format, `{"messages": [{role, content}, ...]}`.
 * - `trl-prompt-completion`: JSONL `{"prompt": messages | text, "completion": messages | text}`.
 * - `trl-messages`: JSONL `{"messages": [...]}` (TRL's conversational format).
 * - `nlupp`: an NLU++ fold file, a JSON array of `{text, intents?, slots?}` (json-schema tasks only).
 * - `gateway-logs`: not a file format: the gateway's calls are read from the workspace store by `data import --from-logs`.
 */
export const EXAMPLE_FILE_FORMATS = ['csv', 'openai', 'trl-prompt-completion', 'trl-messages', 'nlupp', 'gateway-logs'] as const;
export type ExampleFileFormat = (typeof EXAMPLE_FILE_FORMATS)[number];

/** Which CSV columns hold what. */
export interface CsvColumnMapping {
  inputColumn: string;
  /** Absent: every row is imported unlabeled (answer null), to be labeled later. */
  labelColumn?: string;
  /** Tags of the row, separated by `;`. */
  tagsColumn?: string;
}

/** The tag an example gets when its file brought a system prompt other than the task's. */
export const CUSTOM_SYSTEM_PROMPT_TAG = 'custom-system-prompt';

export interface ReadExampleFileOptions {
  /** The path as given (relative to the working directory, or absolute); recorded as is in each example's provenance. */
  file: string;
  format: ExampleFileFormat;
  task: { systemPrompt: string; output: TaskOutput };
  /** Required for `csv`. */
  mapping?: CsvColumnMapping;
  /** Added to every example. */
  tags?: readonly string[];
  /** Default `human`. */
  source?: ExampleSource;
}

/** One example read from a file and the line it starts on. */
export interface ReadExample {
  line: number;
  example: CandidateExample;
}

export interface ExampleFileContents {
  examples: ReadExample[];
  /** Rows that could not be read as an example; nothing of them is in `examples`. */
  problems: ImportProblem[];
  /** sha256 (hex) of the file's bytes: the identity re-imports are detected by. */
  sha256: string;
}

/**
 * Refuse what cannot be imported at all, before any model is loaded or anything written: a format that is not
 * available or does not suit the task, a missing file, a CSV without the mapped columns. Each error names the file
 * and the field (`format`, `file`, `inputColumn`, ...).
 */
export function checkExampleFile(options: Pick<ReadExampleFileOptions, 'file' | 'format' | 'task' | 'mapping'>): void {
  const { file, format } = options;
  if (!(EXAMPLE_FILE_FORMATS as readonly string[]).includes(format)) {
    throw new InvalidInputError(`unknown format ${JSON.stringify(format)} (formats: ${EXAMPLE_FILE_FORMATS.join(', ')})`, { file, field: 'format' });
  }
  if (format === 'gateway-logs') {
    throw new InvalidInputError('gateway logs are not read from a file: the gateway records its calls in the workspace store', {
      file,
      field: 'format',
      hint: 'understudy data import --from-logs [--route r --arm a --since t --feedback corrected]',
    });
  }
  if (format === 'nlupp' && options.task.output.type !== 'json-schema') {
    throw new InvalidInputError('the nlupp format needs a json-schema task: an NLU++ example has several intents and slots, which a single label cannot hold', {
      file,
      field: 'format',
      hint: 'set task.output to {type: json-schema, schema: ...} with "intents" and "slots" properties (see src/adapters/example-files.ts)',
    });
  }
  if (!existsSync(file) || !statSync(file).isFile()) throw new InvalidInputError('the file to import does not exist', { file, field: 'file' });
  if (format === 'csv') csvHeader(file, readFileSync(file, 'utf8'), options.mapping);
}

/** Read `file` as `format`. Throws only when nothing can be read (see `checkExampleFile`, a CSV syntax error, an nlupp file that is not a JSON array). */
export function readExampleFile(options: ReadExampleFileOptions): ExampleFileContents {
  checkExampleFile(options);
  const bytes = readFileSync(options.file);
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  const build = exampleBuilder(options);
  const read = options.format === 'csv' ? readCsv(options, text, build) : options.format === 'nlupp' ? readNlupp(options, text, build) : readJsonLines(options, text, build);
  return { ...read, sha256: sha256Hex(bytes) };
}

/**
 * How a validation field is called in the file: for CSV, `input` and `answer` are the mapped column names, so a
 * problem reads `train.csv:12 category: ...`; other formats keep the field as is.
 */
export function fieldInFile(field: string, format: ExampleFileFormat, mapping?: CsvColumnMapping): string {
  if (format !== 'csv' || mapping === undefined) return field;
  if (field === 'input') return mapping.inputColumn;
  if (field === 'answer' && mapping.labelColumn !== undefined) return mapping.labelColumn;
  return field;
}

type Builder = (line: number, messages: ChatMessage[], rowTags?: readonly string[]) => ReadExample;

/**
 * The example of a conversation read at `line`: without a system message the task's system prompt is put first, so
 * the example trains in the format the model is served with; a different system prompt is kept and tagged
 * `custom-system-prompt`. `input` is the last user turn, `answer` the final assistant turn (null when the
 * conversation ends on the user).
 */
function exampleBuilder(options: ReadExampleFileOptions): Builder {
  return (line, messages, rowTags = []) => {
    const tags = [...(options.tags ?? []), ...rowTags];
    let conversation = messages;
    if (messages[0]?.role !== 'system') conversation = [{ role: 'system', content: options.task.systemPrompt }, ...messages];
    else if (messages[0].content !== options.task.systemPrompt) tags.push(CUSTOM_SYSTEM_PROMPT_TAG);
    const last = conversation.at(-1)!;
    const lastUser = [...conversation].reverse().find((message) => message.role === 'user');
    return {
      line,
      example: {
        input: lastUser?.content ?? '',
        answer: last.role === 'assistant' ? last.content : null,
        messages: conversation,
        source: options.source ?? 'human',
        tags: [...new Set(tags.filter((tag) => tag !== ''))],
        provenance: { file: options.file, line, format: options.format },
      },
    };
  };
}

interface Read {
  examples: ReadExample[];
  problems: ImportProblem[];
}

function csvHeader(file: string, text: string, mapping: CsvColumnMapping | undefined): { fields: string[]; line: number; records: ReturnType<typeof parseCsv> } {
  if (mapping === undefined || mapping.inputColumn === '') {
    throw new InvalidInputError('a CSV import needs the column that holds the input', { file, field: 'inputColumn', hint: 'pass --input-column <name> (and --label-column <name> for labeled rows)' });
  }
  let records;
  try {
    records = parseCsv(text);
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw new InvalidInputError(`malformed CSV: ${error.message}`, { file, line: error.line, cause: error });
    throw error;
  }
  const header = records[0];
  if (header === undefined) throw new InvalidInputError('the CSV file is empty (no header row)', { file, line: 1 });
  const mapped: [string, string | undefined][] = [['inputColumn', mapping.inputColumn], ['labelColumn', mapping.labelColumn], ['tagsColumn', mapping.tagsColumn]];
  for (const [field, column] of mapped) {
    if (column !== undefined && !header.fields.includes(column)) {
      throw new InvalidInputError(`column ${JSON.stringify(column)} is not in the header (columns: ${header.fields.join(', ')})`, { file, line: header.line, field });
    }
  }
  return { fields: header.fields, line: header.line, records };
}

function readCsv(options: ReadExampleFileOptions, text: string, build: Builder): Read {
  const mapping = options.mapping!;
  const { fields, records } = csvHeader(options.file, text, mapping);
  const column = (name: string | undefined): number => (name === undefined ? -1 : fields.indexOf(name));
  const inputIndex = column(mapping.inputColumn);
  const labelIndex = column(mapping.labelColumn);
  const tagsIndex = column(mapping.tagsColumn);
  const read: Read = { examples: [], problems: [] };
  for (const record of records.slice(1)) {
    const problem = (reason: string, field?: string): void => {
      read.problems.push({ file: options.file, line: record.line, ...(field === undefined ? {} : { field }), reason });
    };
    if (record.fields.length !== fields.length) {
      problem(`expected ${fields.length} fields, found ${record.fields.length}`);
      continue;
    }
    const input = record.fields[inputIndex]!.trim();
    const messages: ChatMessage[] = [{ role: 'user', content: input }];
    if (labelIndex >= 0) {
      const label = record.fields[labelIndex]!.trim();
      if (label === '') {
        problem('the label is empty (leave out --label-column to import inputs unlabeled)', mapping.labelColumn);
        continue;
      }
      messages.push({ role: 'assistant', content: label });
    }
    const tags = tagsIndex < 0 ? [] : record.fields[tagsIndex]!.split(';').map((tag) => tag.trim()).filter((tag) => tag !== '');
    read.examples.push(build(record.line, messages, tags));
  }
  return read;
}

/** A row's problem: what is wrong and in which field. */
class RowProblem extends Error {
  constructor(readonly field: string | undefined, reason: string) {
    super(reason);
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function readJsonLines(options: ReadExampleFileOptions, text: string, build: Builder): Read {
  const read: Read = { examples: [], problems: [] };
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const content = raw.replace(/\r$/, '');
    if (content.trim() === '') return;
    try {
      let record: unknown;
      try {
        record = JSON.parse(content);
      } catch (error) {
        throw new RowProblem(undefined, `not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (!isRecord(record)) throw new RowProblem(undefined, 'each line must be a JSON object');
      read.examples.push(build(line, jsonLineMessages(record, options.format)));
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error;
      read.problems.push({ file: options.file, line, ...(error.field === undefined ? {} : { field: error.field }), reason: error.message });
    }
  });
  return read;
}

function jsonLineMessages(record: Record<string, unknown>, format: ExampleFileFormat): ChatMessage[] {
  for (const key of ['tools', 'functions']) {
    if (key in record) throw new RowProblem(key, 'tool and function definitions are not supported: Understudy trains a task that answers in text (a label or JSON)');
  }
  if (format === 'trl-prompt-completion') {
    if (!('prompt' in record)) throw new RowProblem('prompt', 'missing');
    if (!('completion' in record)) throw new RowProblem('completion', 'missing');
    const prompt = typeof record.prompt === 'string' ? [{ role: 'user' as const, content: record.prompt }] : messageList(record.prompt, 'prompt', false);
    const completion = typeof record.completion === 'string' ? [{ role: 'assistant' as const, content: record.completion }] : messageList(record.completion, 'completion', false);
    return [...prompt, ...completion];
  }
  if (!('messages' in record)) throw new RowProblem('messages', 'missing');
  return messageList(record.messages, 'messages', format === 'openai');
}

/** Chat messages from a JSON list; `weights`: OpenAI's optional per-assistant-message `weight` (0 or 1) is accepted and ignored. */
function messageList(value: unknown, field: string, weights: boolean): ChatMessage[] {
  if (!Array.isArray(value)) throw new RowProblem(field, 'must be a list of messages (or a string)');
  if (value.length === 0) throw new RowProblem(field, 'the list of messages is empty');
  return value.map((message, index): ChatMessage => {
    const at = `${field}[${index}]`;
    if (!isRecord(message)) throw new RowProblem(at, 'a message must be an object with role and content');
    const role = message.role;
    if (role === 'tool' || role === 'function' || 'tool_calls' in message || 'function_call' in message) {
      const key = role === 'tool' || role === 'function' ? `${at}.role` : `${at}.${'tool_calls' in message ? 'tool_calls' : 'function_call'}`;
      throw new RowProblem(key, 'tool calls are not supported: Understudy trains a task that answers in text (a label or JSON)');
    }
    if (role !== 'system' && role !== 'user' && role !== 'assistant') throw new RowProblem(`${at}.role`, `role must be system, user or assistant, got ${JSON.stringify(role)}`);
    if ('weight' in message) {
      if (!weights || role !== 'assistant') throw new RowProblem(`${at}.weight`, 'weight is only allowed on assistant messages in the openai format');
      if (message.weight !== 0 && message.weight !== 1) throw new RowProblem(`${at}.weight`, `weight must be 0 or 1, got ${JSON.stringify(message.weight)}`);
    }
    return { role, content: messageContent(message.content, `${at}.content`) };
  });
}

/** A string, or OpenAI's list of content parts when every part is text (joined). */
function messageContent(content: unknown, field: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content) && content.every((part) => isRecord(part) && part.type === 'text' && typeof part.text === 'string')) {
    return content.map((part) => (part as { text: string }).text).join('');
  }
  if (content === undefined || content === null) throw new RowProblem(field, 'missing');
  throw new RowProblem(field, 'must be a string (or a list of text parts); images and audio are not supported');
}

/**
 * NLU++ fold file: a JSON array of `{text, intents?, slots?}`. The answer is the canonical JSON text
 * `{"intents": [...], "slots": {...}}`: `intents` the record's intent names, deduplicated and sorted (an absent list is
 * `[]`); `slots` maps each slot name to the text span it covers (`slots.<name>.text`, NLU++'s resolved `value`/`values`
 * and `span` are left out), keys sorted (absent: `{}`). Sorting makes one example's answer a single string, so equal
 * annotations compare equal and the model learns one order. The task's schema should accept this shape, e.g.
 * `{type: object, properties: {intents: {type: array, items: {enum: [...]}}, slots: {type: object, additionalProperties: {type: string}}}, required: [intents, slots]}`.
 */
export function nluppAnswer(record: { intents?: readonly string[]; slots?: Record<string, { text: string }> }): string {
  const intents = [...new Set(record.intents ?? [])].sort();
  const slots = Object.fromEntries(Object.entries(record.slots ?? {}).sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0)).map(([name, slot]) => [name, slot.text]));
  return JSON.stringify({ intents, slots });
}

function readNlupp(options: ReadExampleFileOptions, text: string, build: Builder): Read {
  let records: unknown;
  try {
    records = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`not valid JSON: ${error instanceof Error ? error.message : String(error)}`, { file: options.file, cause: error });
  }
  if (!Array.isArray(records)) throw new InvalidInputError('an NLU++ file must be a JSON array of {text, intents, slots} records', { file: options.file, line: 1 });
  const lines = arrayElementLines(text);
  const read: Read = { examples: [], problems: [] };
  records.forEach((record, index) => {
    const line = lines[index] ?? 1;
    try {
      if (!isRecord(record)) throw new RowProblem(undefined, 'each record must be an object');
      if (typeof record.text !== 'string') throw new RowProblem('text', 'must be a string');
      const intents = record.intents ?? [];
      if (!Array.isArray(intents) || !intents.every((intent) => typeof intent === 'string')) throw new RowProblem('intents', 'must be a list of intent names');
      const slots = record.slots ?? {};
      if (!isRecord(slots)) throw new RowProblem('slots', 'must be an object of slot name to {text, ...}');
      for (const [name, slot] of Object.entries(slots)) {
        if (!isRecord(slot) || typeof slot.text !== 'string') throw new RowProblem(`slots.${name}.text`, 'must be a string');
      }
      const answer = nluppAnswer({ intents: intents as string[], slots: slots as Record<string, { text: string }> });
      read.examples.push(build(line, [{ role: 'user', content: record.text.trim() }, { role: 'assistant', content: answer }]));
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error;
      read.problems.push({ file: options.file, line, ...(error.field === undefined ? {} : { field: error.field }), reason: error.message });
    }
  });
  return read;
}

/** The 1-based line each element of a top-level JSON array starts on (the text is known to be valid JSON). */
function arrayElementLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index]!;
    if (char === '\n') line += 1;
    if (inString) {
      if (char === '\\') index += 1;
      else if (char === '"') inString = false;
      continue;
    }
    if (char === ' ' || char === '\t' || char === '\r' || char === '\n') continue;
    if (depth === 1 && expectElement && char !== ']') {
      lines.push(line);
      expectElement = false;
    }
    if (char === '"') inString = true;
    else if (char === '[' || char === '{') {
      depth += 1;
      if (depth === 1) expectElement = true;
    } else if (char === ']' || char === '}') depth -= 1;
    else if (char === ',' && depth === 1) expectElement = true;
  }
  return lines;
}
