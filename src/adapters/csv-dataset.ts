import { existsSync, readFileSync } from 'node:fs';
import { CsvSyntaxError, parseCsv } from '../core/csv.ts';
import { InvalidInputError } from '../core/errors.ts';

/** One labelled row of a CSV data source, with where it came from. */
export interface LabelledRow {
  input: string;
  label: string;
  file: string;
  line: number;
}

/**
 * Read a CSV of (input, label) rows. Every problem — a missing column, an empty input, a label
 * outside the task's label set, broken quoting — is reported with the file, line and column.
 */
export function readLabelledCsv(file: string, options: { inputColumn: string; labelColumn: string; labels?: readonly string[] }): LabelledRow[] {
  if (!existsSync(file)) throw new InvalidInputError('CSV file not found', { file });
  let records;
  try {
    records = parseCsv(readFileSync(file, 'utf8'));
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw new InvalidInputError(`malformed CSV: ${error.message}`, { file, line: error.line, cause: error });
    throw error;
  }
  const header = records[0];
  if (header === undefined) throw new InvalidInputError('CSV file is empty', { file });
  const inputIndex = header.fields.indexOf(options.inputColumn);
  const labelIndex = header.fields.indexOf(options.labelColumn);
  for (const [column, index, field] of [[options.inputColumn, inputIndex, 'data.inputColumn'], [options.labelColumn, labelIndex, 'data.labelColumn']] as const) {
    if (index < 0) {
      throw new InvalidInputError(`column "${column}" not in the header (columns: ${header.fields.join(', ')})`, { file, line: header.line, field });
    }
  }
  const allowed = options.labels === undefined || options.labels.length === 0 ? undefined : new Set(options.labels);
  return records.slice(1).map((record) => {
    if (record.fields.length !== header.fields.length) {
      throw new InvalidInputError(`expected ${header.fields.length} fields, found ${record.fields.length}`, { file, line: record.line });
    }
    const input = record.fields[inputIndex]!.trim();
    const label = record.fields[labelIndex]!.trim();
    if (input === '') throw new InvalidInputError('empty input', { file, line: record.line, field: options.inputColumn });
    if (label === '') throw new InvalidInputError('empty label', { file, line: record.line, field: options.labelColumn });
    if (allowed !== undefined && !allowed.has(label)) {
      throw new InvalidInputError(`label "${label}" is not in the task's label set`, { file, line: record.line, field: options.labelColumn });
    }
    return { input, label, file, line: record.line };
  });
}
