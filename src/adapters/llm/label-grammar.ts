/**
 * A GBNF string literal for llama.cpp's grammar parser: backslash, double quote and the common
 * control characters get their named escapes, any other control character a `\xHH` escape.
 * Everything else (including non-ASCII text) is written as UTF-8, which the parser reads as is.
 */
export function gbnfStringLiteral(text: string): string {
  let body = '';
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0;
    if (character === '\\') body += '\\\\';
    else if (character === '"') body += '\\"';
    else if (character === '\n') body += '\\n';
    else if (character === '\r') body += '\\r';
    else if (character === '\t') body += '\\t';
    else if (code < 0x20 || code === 0x7f) body += `\\x${code.toString(16).padStart(2, '0')}`;
    else body += character;
  }
  return `"${body}"`;
}

/**
 * A GBNF grammar whose only sentences are the given labels, exactly (`root ::= "a" | "b" ...`).
 * Duplicates are dropped; an empty label list or an empty label is a programming error.
 */
export function labelSetGrammar(labels: readonly string[]): string {
  if (labels.length === 0) throw new RangeError('a label grammar needs at least one label');
  if (labels.some((label) => label.length === 0)) throw new RangeError('a label grammar cannot contain an empty label');
  return `root ::= ${[...new Set(labels)].map(gbnfStringLiteral).join(' | ')}\n`;
}
