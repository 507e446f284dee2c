/** A GBNF string literal: quotes, backslashes and control characters escaped. */
function gbnfLiteral(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;
}

/** A GBNF grammar whose only sentences are the given labels, exactly. */
export function labelSetGrammar(labels: readonly string[]): string {
  if (labels.length === 0) throw new Error('a label grammar needs at least one label');
  return `root ::= ${[...new Set(labels)].map(gbnfLiteral).join(' | ')}\n`;
}
