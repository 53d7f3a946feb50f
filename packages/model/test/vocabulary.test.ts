import { describe, expect, it } from '@jest/globals';
import { isBigram, normalizeText, textNgrams, tokenize, trainTextClassifier } from '../src';
import { mulberry32 } from '../src/random';
import { buildVocabulary } from '../src/train';

/**
 * The vocabulary as it was first defined: every n-gram sorted by document frequency (descending),
 * ties by text, the first maxFeatures kept; then unigrams, then bigrams, each sorted by text.
 */
function sortAllVocabulary(docs: readonly string[][], maxFeatures: number, minDf: number) {
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const df = new Map<string, number>();
  for (const grams of docs) for (const g of new Set(grams)) df.set(g, (df.get(g) ?? 0) + 1);
  const chosen = [...df.entries()]
    .filter(([, count]) => count >= minDf)
    .sort((a, b) => b[1] - a[1] || compare(a[0], b[0]))
    .slice(0, maxFeatures)
    .map(([g]) => g);
  const unigrams = chosen.filter((g) => !isBigram(g)).sort(compare);
  const bigrams = chosen.filter(isBigram).sort(compare);
  const vocabulary = [...unigrams, ...bigrams];
  return { vocabulary, unigramCount: unigrams.length, df: vocabulary.map((g) => df.get(g)!) };
}

/** Texts over a small vocabulary with a skewed word distribution: many n-grams tie on frequency. */
function randomTexts(count: number, words: number, seed: number): string[] {
  const rand = mulberry32(seed);
  const word = (i: number) => `${String.fromCharCode(97 + (i % 26))}${Math.floor(i / 26)}`;
  return Array.from({ length: count }, () => {
    const length = 1 + Math.floor(rand() * 40);
    return Array.from({ length }, () => {
      const w = word(Math.floor(words * rand() ** 2));
      return rand() < 0.1 ? w.toUpperCase() : w;
    }).join(rand() < 0.5 ? ' ' : ', ');
  });
}

describe('buildVocabulary', () => {
  const docs = randomTexts(400, 300, 11).map((t) => textNgrams(t));
  const distinct = new Set(docs.flat()).size;

  it.each([0, 1, 2, 3, 7, 50, 333, 1000, 2500, distinct - 1, distinct, distinct + 5, Infinity, -3, 2.5])(
    'selects the same n-grams in the same order as sorting them all (maxFeatures %p)',
    (maxFeatures) => {
      for (const minDf of [0, 1, 2, 3.5, 10, 1e9]) {
        expect(buildVocabulary(docs, maxFeatures, minDf)).toEqual(
          sortAllVocabulary(docs, maxFeatures, minDf),
        );
      }
    },
  );

  it('agrees on many random corpora, cut anywhere', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const corpus = randomTexts(20 + seed * 3, 10 + seed * 7, seed).map((t) => textNgrams(t));
      const rand = mulberry32(1000 + seed);
      const size = new Set(corpus.flat()).size;
      for (let trial = 0; trial < 5; trial++) {
        const maxFeatures = Math.floor(rand() * (size + 2));
        expect(buildVocabulary(corpus, maxFeatures, 1)).toEqual(sortAllVocabulary(corpus, maxFeatures, 1));
      }
    }
  });

  it('gives trainTextClassifier the vocabulary and idf of sorting them all', () => {
    const texts = [...randomTexts(300, 200, 5), 'a a a a', "A a A'a", '', 'x', 'x y x y x y'];
    const labels = texts.map((_, i) => (i % 3 === 0 ? 'a' : 'b'));
    for (const maxFeatures of [120, 1e9]) {
      const model = trainTextClassifier({ texts, labels, maxFeatures, epochs: 1, seed: 1 });
      const expected = sortAllVocabulary(
        texts.map((t) => textNgrams(t)),
        maxFeatures,
        1,
      );
      expect(model.vocabulary).toEqual(expected.vocabulary);
      expect(model.unigramCount).toBe(expected.unigramCount);
      const n = texts.length;
      expect(model.idf).toEqual(expected.df.map((d) => Math.fround(Math.log((1 + n) / (1 + d)) + 1)));
    }
  });
});

describe('tokenize', () => {
  it('gives the tokens of the normalised text, as the ONNX graph does', () => {
    const texts = [
      ...randomTexts(50, 100, 3),
      "It's ÉCOLE, Straße-42 x_y",
      'İstanbul ΑΘΗΝΑ Straße KERNEL',
      "DON'T stop O'Brien's 4X4 ÀÉÎ",
      'emoji 🍎 APPLE 🍌 banana',
      '',
    ];
    for (const text of texts) {
      expect(tokenize(text)).toEqual(normalizeText(text).match(/[a-zA-Z0-9']+/g) ?? []);
    }
  });
});
