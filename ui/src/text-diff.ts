/** One piece of an answer: text the reference also has at that place, or text it does not. */
export interface DiffPart {
  text: string;
  changed: boolean;
}

/** Words and the separators between them (spaces, underscores, JSON punctuation), separators kept. */
const tokens = (text: string): string[] => text.split(/([\s_{}[\]":,]+)/).filter((token) => token !== '');

/**
 * `answer` split into the parts shared with `reference` (a longest common subsequence of words) and the parts that
 * differ. Long texts beyond `maxTokens` are compared as a whole.
 */
export function diffAgainst(reference: string, answer: string, maxTokens = 400): DiffPart[] {
  if (reference === answer) return [{ text: answer, changed: false }];
  const a = tokens(reference);
  const b = tokens(answer);
  if (a.length > maxTokens || b.length > maxTokens) return [{ text: answer, changed: true }];
  // lengths[i][j]: LCS of a[i..] and b[j..].
  const lengths = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) lengths[i]![j] = a[i] === b[j] ? lengths[i + 1]![j + 1]! + 1 : Math.max(lengths[i + 1]![j]!, lengths[i]![j + 1]!);
  }
  const parts: DiffPart[] = [];
  const push = (text: string, changed: boolean) => {
    const last = parts.at(-1);
    if (last !== undefined && last.changed === changed) last.text += text;
    else parts.push({ text, changed });
  };
  let i = 0;
  let j = 0;
  while (j < b.length) {
    if (i < a.length && a[i] === b[j]) {
      push(b[j]!, false);
      i += 1;
      j += 1;
    } else if (i < a.length && lengths[i + 1]![j]! >= lengths[i]![j + 1]!) i += 1;
    else {
      push(b[j]!, true);
      j += 1;
    }
  }
  return parts;
}
