/**
 * A small, dependency-free language check for short texts: the share of a text's words that are
 * frequent function words of each language, plus the script. It tells English from German, French,
 * Spanish, Italian, Portuguese and Dutch, and any Latin-script text from Cyrillic, Greek, Arabic,
 * Hebrew, CJK, Devanagari, Thai or Korean. Too short to tell (under three words): `undetermined`.
 */

const FUNCTION_WORDS: Record<string, readonly string[]> = {
  en: ['the', 'a', 'an', 'and', 'or', 'is', 'are', 'was', 'to', 'of', 'in', 'on', 'for', 'my', 'i', 'you', 'it', 'how', 'what', 'why', 'can', 'do', 'does', 'did', 'have', 'has', 'with', 'this', 'that', 'me', 'be', 'not', 'from', 'your', 'will', 'there', 'when', 'been', 'get', 'at', 'as', 'so', 'if', 'no', 'by', 'up', 'any', 'all', 'just', 'am', 'we', 'they', 'our', 'which', 'where', 'should', 'would', 'could', 'need', 'want', 'please', 'still', 'why', 'much', 'many'],
  de: ['der', 'die', 'das', 'und', 'ist', 'nicht', 'ich', 'mein', 'meine', 'ein', 'eine', 'zu', 'mit', 'auf', 'für', 'wie', 'was', 'warum', 'kann', 'habe', 'hat', 'wurde', 'von', 'den', 'dem', 'es', 'sie', 'wir', 'noch', 'bei', 'auch', 'oder', 'aber', 'mir', 'mich'],
  fr: ['le', 'la', 'les', 'et', 'est', 'je', 'mon', 'ma', 'mes', 'un', 'une', 'des', 'de', 'du', 'pour', 'avec', 'pas', 'ne', 'comment', 'pourquoi', 'que', 'qui', 'sur', 'dans', 'au', 'aux', 'il', 'elle', 'vous', 'nous', 'ai', 'mais', 'ou', 'ce', 'cette'],
  es: ['el', 'la', 'los', 'las', 'y', 'es', 'mi', 'mis', 'un', 'una', 'de', 'del', 'para', 'con', 'no', 'por', 'cómo', 'como', 'qué', 'que', 'en', 'se', 'lo', 'me', 'yo', 'su', 'al', 'pero', 'está', 'tengo', 'puedo', 'hay', 'muy', 'cuando', 'porque'],
  it: ['il', 'lo', 'la', 'gli', 'le', 'e', 'è', 'mio', 'mia', 'un', 'una', 'di', 'del', 'della', 'per', 'con', 'non', 'come', 'che', 'perché', 'in', 'si', 'mi', 'io', 'ho', 'sono', 'ma', 'anche', 'questo', 'questa', 'nel', 'alla', 'al', 'posso', 'ancora'],
  pt: ['o', 'a', 'os', 'as', 'e', 'é', 'meu', 'minha', 'um', 'uma', 'de', 'do', 'da', 'para', 'com', 'não', 'como', 'que', 'por', 'em', 'no', 'na', 'se', 'eu', 'mas', 'está', 'tenho', 'posso', 'foi', 'ao', 'dos', 'das', 'você', 'isso', 'meus'],
  nl: ['de', 'het', 'een', 'en', 'is', 'niet', 'ik', 'mijn', 'van', 'te', 'met', 'op', 'voor', 'hoe', 'wat', 'waarom', 'kan', 'heb', 'heeft', 'was', 'zijn', 'je', 'u', 'dat', 'die', 'er', 'naar', 'om', 'maar', 'of', 'nog', 'ook', 'bij', 'wordt', 'geen'],
};

// A word in two lists ("a", "as", "de", "la") tells no language apart: each set keeps only its own words.
const OCCURRENCES = new Map<string, number>();
for (const words of Object.values(FUNCTION_WORDS)) for (const word of new Set(words)) OCCURRENCES.set(word, (OCCURRENCES.get(word) ?? 0) + 1);
const WORD_SETS = new Map(Object.entries(FUNCTION_WORDS).map(([language, words]) => [language, new Set(words.filter((word) => OCCURRENCES.get(word) === 1))]));

/** Non-Latin scripts, by the language code the check reports (a script, where several languages share it). */
const SCRIPTS: readonly [string, RegExp][] = [
  ['cyrillic', /\p{Script=Cyrillic}/u],
  ['el', /\p{Script=Greek}/u],
  ['arabic', /\p{Script=Arabic}/u],
  ['he', /\p{Script=Hebrew}/u],
  ['ko', /\p{Script=Hangul}/u],
  ['ja', /[\p{Script=Hiragana}\p{Script=Katakana}]/u],
  ['zh', /\p{Script=Han}/u],
  ['devanagari', /\p{Script=Devanagari}/u],
  ['th', /\p{Script=Thai}/u],
];

export interface LanguageGuess {
  /** ISO 639-1 code, a script name for non-Latin text, or `undetermined`. */
  language: string;
  /** Share of words (or letters, for a script) that support the guess, 0..1. */
  confidence: number;
}

/** Guess the language of a short text. */
export function detectLanguage(text: string): LanguageGuess {
  const letters = [...text].filter((character) => /\p{L}/u.test(character));
  if (letters.length === 0) return { language: 'undetermined', confidence: 0 };
  for (const [language, pattern] of SCRIPTS) {
    const share = letters.filter((character) => pattern.test(character)).length / letters.length;
    if (share >= 0.5) return { language, confidence: share };
  }
  const words = text.toLowerCase().normalize('NFC').split(/[^\p{L}']+/u).filter((word) => word.length > 0);
  if (words.length < 3) return { language: 'undetermined', confidence: 0 };
  let best: LanguageGuess = { language: 'undetermined', confidence: 0 };
  let bestHits = 0;
  for (const [language, set] of WORD_SETS) {
    const hits = words.filter((word) => set.has(word)).length;
    if (hits / words.length > best.confidence) {
      best = { language, confidence: hits / words.length };
      bestHits = hits;
    }
  }
  // One function word (or none: a list of nouns) is too little to tell a language by.
  return bestHits < 2 ? { language: 'undetermined', confidence: 0 } : best;
}

/**
 * True when the text is in `expected`, or too short or too bare to tell: only a confident guess of
 * another language counts against it.
 */
export function isInLanguage(text: string, expected: string): { ok: boolean; guess: LanguageGuess } {
  const guess = detectLanguage(text);
  if (guess.language === 'undetermined' || guess.language === expected) return { ok: true, guess };
  if (SCRIPTS.some(([language]) => language === guess.language)) return { ok: false, guess };
  // Another Latin-script language must clearly beat the expected one.
  const expectedSet = WORD_SETS.get(expected);
  const words = text.toLowerCase().split(/[^\p{L}']+/u).filter((word) => word.length > 0);
  const expectedShare = expectedSet === undefined ? 0 : words.filter((word) => expectedSet.has(word)).length / words.length;
  return { ok: guess.confidence < 0.2 || guess.confidence <= expectedShare * 1.5, guess };
}
