/** One parsed CSV record, with the 1-based line it starts on. */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/** A CSV syntax problem at a line. */
export class CsvSyntaxError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
    this.name = 'CsvSyntaxError';
  }
}

/**
 * Parse RFC 4180 CSV (quoted fields, doubled quotes, newlines inside quotes, CRLF or LF).
 * Each record keeps the line it started on, so errors can point at it.
 */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let inQuotes = false;
  let fieldWasQuoted = false;
  let index = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const endField = (): void => {
    fields.push(field);
    field = '';
    fieldWasQuoted = false;
  };
  const endRecord = (): void => {
    endField();
    if (!(fields.length === 1 && fields[0] === '')) records.push({ line: recordLine, fields });
    fields = [];
  };

  for (; index < text.length; index += 1) {
    const char = text[index]!;
    if (inQuotes) {
      if (char === '"') {
        if (text[index + 1] === '"') {
          field += '"';
          index += 1;
        } else {
          inQuotes = false;
        }
      } else {
        if (char === '\n') line += 1;
        field += char;
      }
      continue;
    }
    if (char === '"') {
      if (field !== '' || fieldWasQuoted) throw new CsvSyntaxError('a quote inside an unquoted field', line);
      inQuotes = true;
      fieldWasQuoted = true;
    } else if (char === ',') {
      endField();
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[index + 1] === '\n') index += 1;
      endRecord();
      line += 1;
      recordLine = line;
    } else {
      if (fieldWasQuoted) throw new CsvSyntaxError('text after a closing quote', line);
      field += char;
    }
  }
  if (inQuotes) throw new CsvSyntaxError('a quoted field is never closed', recordLine);
  if (field !== '' || fields.length > 0) endRecord();
  return records;
}
