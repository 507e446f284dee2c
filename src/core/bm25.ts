/**
 * Okapi BM25 over passages of a knowledge file: what `understudy decide` retrieves into the prompt to test
 * whether missing facts, rather than wrong behaviour, are why prompting fails.
 */

export interface Bm25Index {
  passages: readonly string[];
  /** The `k` best passages for `query`, best first; passages sharing no term with it are never returned. */
  search(query: string, k: number): { passage: string; index: number; score: number }[];
}

/** Lowercased word tokens (letters and digits, any script). */
export function tokenizeForSearch(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Split a knowledge file into passages: blank-line separated paragraphs, long ones cut at `maxWords` words. */
export function splitPassages(text: string, maxWords = 120): string[] {
  const passages: string[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    const words = paragraph.trim().split(/\s+/).filter((word) => word.length > 0);
    for (let start = 0; start < words.length; start += maxWords) passages.push(words.slice(start, start + maxWords).join(' '));
  }
  return passages;
}

/** BM25 with the usual k1 = 1.2, b = 0.75, and the non-negative idf log(1 + (N − df + 0.5) / (df + 0.5)). */
export function createBm25Index(passages: readonly string[], options: { k1?: number; b?: number } = {}): Bm25Index {
  const k1 = options.k1 ?? 1.2;
  const b = options.b ?? 0.75;
  const documents = passages.map((passage) => {
    const counts = new Map<string, number>();
    const tokens = tokenizeForSearch(passage);
    for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
    return { counts, length: tokens.length };
  });
  const documentFrequency = new Map<string, number>();
  for (const document of documents) for (const token of document.counts.keys()) documentFrequency.set(token, (documentFrequency.get(token) ?? 0) + 1);
  const averageLength = documents.reduce((sum, document) => sum + document.length, 0) / Math.max(1, documents.length);
  const idf = (token: string): number => {
    const df = documentFrequency.get(token) ?? 0;
    return Math.log(1 + (documents.length - df + 0.5) / (df + 0.5));
  };
  return {
    passages,
    search(query, k) {
      const terms = [...new Set(tokenizeForSearch(query))];
      const scored = documents.map((document, index) => {
        let score = 0;
        for (const term of terms) {
          const frequency = document.counts.get(term) ?? 0;
          if (frequency === 0) continue;
          score += (idf(term) * frequency * (k1 + 1)) / (frequency + k1 * (1 - b + (b * document.length) / (averageLength || 1)));
        }
        return { passage: passages[index]!, index, score };
      });
      return scored.filter((entry) => entry.score > 0).sort((left, right) => right.score - left.score || left.index - right.index).slice(0, k);
    },
  };
}
