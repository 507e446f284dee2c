import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inputKeyOf } from '../src/adapters/store/curation-store.ts';
import { contaminationDrops, exactDuplicateDrops, languageDrops, lengthAndFormatDrops, nearDuplicateDrops, wordGrams, type FilterItem } from '../src/core/curation-filters.ts';
import { detectLanguage, isInLanguage } from '../src/core/language-detect.ts';

let nextId = 1;
function item(input: string, answer: string | null = 'card_lost', source: FilterItem['source'] = 'human'): FilterItem {
  return { id: nextId++, input, answer, source, inputKey: inputKeyOf(input) };
}
const near = { threshold: 0.7, numPerm: 128, shingleSize: 2, unit: 'word' as const };

describe('curation filters', () => {
  it('length and format: no answer, too short, too long', () => {
    const items = [item('I lost my card yesterday'), item('hi'), item('x'.repeat(50)), item('where is my refund', null), item('03_2304675699_24_01'), item('a_country'), item('Why is there a $1 fee on my £20 top-up?'), item('do_you_have_a_fee'), item('email@youremail.com')];
    const drops = lengthAndFormatDrops(items, { minInputChars: 3, maxInputChars: 40, minWords: 2, maxSymbolShare: 0.3 });
    assert.deepEqual(drops.map((drop) => [drop.exampleId, drop.reason]), [[items[1]!.id, 'too-short'], [items[2]!.id, 'too-long'], [items[3]!.id, 'no-answer'], [items[4]!.id, 'not-text'], [items[5]!.id, 'not-text'], [items[7]!.id, 'not-text'], [items[8]!.id, 'not-text']]);
  });

  it('exact dedup keeps human over synthetic and flags conflicting answers', () => {
    const synthetic = item('I lost my card!', 'card_lost', 'synthetic');
    const human = item('i LOST my card', 'card_lost', 'human');
    const conflict = item('I lost my card.', 'refund', 'synthetic');
    const other = item('Where is my refund?', 'refund');
    const drops = exactDuplicateDrops([synthetic, human, conflict, other]);
    assert.equal(drops.length, 2);
    const byId = new Map(drops.map((drop) => [drop.exampleId, drop]));
    assert.equal(byId.get(synthetic.id)?.reason, 'duplicate');
    assert.equal(byId.get(synthetic.id)?.detail?.keptId, human.id);
    assert.equal(byId.get(conflict.id)?.reason, 'conflicting-answer');
  });

  it('near dedup drops the near copies of a cluster and keeps unrelated inputs', () => {
    const base = item('I would like to know why my card payment was declined at the shop today');
    const variant = item('I would like to know why my card payment was declined at the store today', 'card_lost', 'synthetic');
    const variant2 = item('I would like to know why my card payment was declined at the shop', 'card_lost', 'synthetic');
    const unrelated = item('How long does a bank transfer from abroad take to arrive in my account');
    const drops = nearDuplicateDrops([variant, base, variant2, unrelated], near);
    assert.deepEqual(drops.map((drop) => drop.exampleId).sort((a, b) => a - b), [variant.id, variant2.id].sort((a, b) => a - b));
    assert.ok(drops.every((drop) => drop.detail?.keptId === base.id && typeof drop.detail.similarity === 'number'));
  });

  it('language: drops confident other languages, keeps English and too-short text', () => {
    const items = [item('Why was my card declined at the shop?'), item('Warum wurde meine Karte nicht akzeptiert und ich habe kein Geld?'), item('Pourquoi ma carte est bloquée et je ne peux pas payer ?'), item('карта заблокирована'), item('top up')];
    const drops = languageDrops(items, 'en');
    assert.deepEqual(drops.map((drop) => drop.reason), ['language-de', 'language-fr', 'language-cyrillic']);
    assert.equal(detectLanguage('¿Por qué no puedo usar mi tarjeta en el cajero?').language, 'es');
    assert.equal(isInLanguage('card', 'en').ok, true);
    assert.equal(detectLanguage('email youremail com').language, 'undetermined', 'one function word is too little');
  });

  it('decontamination catches eval copies, n-gram overlap and MinHash neighbours, and names the eval example', () => {
    const heldOut = [item('Can you tell me why my transfer to my friend has not arrived yet?'), item('What are the fees for exchanging currency with my card?')];
    const copy = item('can you tell me why my transfer to my friend has not arrived yet');
    const overlapping = item('Hello! Can you tell me why my transfer to my friend has not arrived yet? Thanks');
    const similar = item('What are the fees for exchanging currency with my debit card?');
    const clean = item('I want to close my account');
    const drops = contaminationDrops([copy, overlapping, similar, clean], heldOut, { ngram: 8, ngramOverlap: 0.5, minhashThreshold: 0.6, ...near });
    const byId = new Map(drops.map((drop) => [drop.exampleId, drop]));
    assert.equal(byId.get(copy.id)?.reason, 'eval-copy');
    assert.equal(byId.get(overlapping.id)?.reason, 'ngram-overlap');
    assert.equal(byId.get(overlapping.id)?.detail?.evalId, heldOut[0]!.id);
    assert.ok(byId.get(similar.id) !== undefined, 'the near neighbour of an eval example is removed');
    assert.equal(byId.get(similar.id)?.detail?.evalId, heldOut[1]!.id);
    assert.equal(byId.has(clean.id), false);
  });

  it('word grams of short text are the whole text', () => {
    assert.deepEqual(wordGrams('Top up, please!', 8), ['top up please']);
    assert.deepEqual(wordGrams('a b c d', 3), ['a b c', 'b c d']);
    assert.deepEqual(wordGrams('  ', 3), []);
  });
});

describe('the filters on real data', () => {
  it('drop none of the 10,003 real English Banking77 training queries for language or format', async () => {
    const { readFileSync } = await import('node:fs');
    const { parseCsv } = await import('../src/core/csv.ts');
    const rows = parseCsv(readFileSync(new URL('../examples/banking77/train.csv', import.meta.url), 'utf8')).slice(1);
    const items = rows.map((record, index) => ({ id: index, input: record.fields[0]!, answer: record.fields[1]!, source: 'human' as const, inputKey: String(index) }));
    assert.equal(items.length, 10003);
    assert.deepEqual(languageDrops(items, 'en'), []);
    assert.deepEqual(lengthAndFormatDrops(items, { minInputChars: 3, maxInputChars: 2000, minWords: 2, maxSymbolShare: 0.4 }), []);
  });
});
