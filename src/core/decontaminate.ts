/** Lowercase, strip punctuation and collapse whitespace: two inputs that differ only in these are the same. */
export function normalizeForOverlap(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/**
 * Drop every candidate whose normalized input also appears in the held-out set, so no eval input
 * (nor a trivial variant of it) is ever trained on.
 */
export function removeOverlap<T>(candidates: readonly T[], heldOut: readonly T[], inputOf: (item: T) => string): { kept: T[]; dropped: T[] } {
  const heldOutKeys = new Set(heldOut.map((item) => normalizeForOverlap(inputOf(item))));
  const kept: T[] = [];
  const dropped: T[] = [];
  for (const item of candidates) (heldOutKeys.has(normalizeForOverlap(inputOf(item))) ? dropped : kept).push(item);
  return { kept, dropped };
}
