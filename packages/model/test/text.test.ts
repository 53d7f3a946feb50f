import { describe, expect, it } from '@jest/globals';
import { readOnnxMetadata, softmax, toOnnx, tokenize, trainTextClassifier, textNgrams } from '../src';
import { accuracy, maxAbsDiff, runOnnx, syntheticTexts, textTensor } from './helpers';

const ODD_TEXTS = [
  'zzzz qqqq xylophone', // no known n-gram
  '',
  '!!! ... ???',
  'ÉCOLE café Ünïcode naïve APPLE',
  "It's a GOAL!!! Don't STOP the Striker...",
  'apple,banana;cherry—grape… «melon» pear/plum',
  'İstanbul ΑΘΗΝΑ Straße KERNEL',
  'tab\tseparated\nnew line\r\nKERNEL mutex',
  'emoji 🍎 apple 🍌 banana',
];

describe('tokenize', () => {
  it("lowercases ASCII only and splits on everything but [a-zA-Z0-9']", () => {
    expect(tokenize("It's ÉCOLE, Straße-42 x_y")).toEqual(["it's", 'cole', 'stra', 'e', '42', 'x', 'y']);
    expect(textNgrams('A b A')).toEqual(['a', 'b', 'a', 'a b', 'b a']);
    expect(tokenize('')).toEqual([]);
  });
});

describe.each([2, 5])('text classifier with %i classes', (classCount) => {
  const { texts, labels } = syntheticTexts(classCount, 60, 1000 + classCount);
  const model = trainTextClassifier({ texts, labels, l2: 1e-4, epochs: 30, seed: 7 });

  it('learns the training data', () => {
    expect(model.classes).toHaveLength(classCount);
    expect(accuracy(model.predictProba(texts), labels, model.classes)).toBeGreaterThan(0.9);
  });

  it('matches onnxruntime to within 1e-4, odd texts included', async () => {
    const held = syntheticTexts(classCount, 20, 2000 + classCount).texts;
    const batch = [...held, ...ODD_TEXTS];
    const bytes = toOnnx(model, { modelId: `text-${classCount}`, version: 3 });
    const onnxProbs = await runOnnx(bytes, { text: textTensor(batch) });
    const tsProbs = model.predictProba(batch);
    const diff = maxAbsDiff(onnxProbs, tsProbs);
    console.log(
      `text ${classCount} classes: max abs diff ${diff.toExponential(3)} over ${batch.length} rows`,
    );
    expect(diff).toBeLessThan(1e-4);

    const prior = softmax(model.bias);
    for (const odd of ['zzzz qqqq xylophone', '', '!!! ... ???']) {
      const i = batch.indexOf(odd);
      expect(maxAbsDiff([tsProbs[i]!], [prior])).toBeLessThan(1e-12);
      expect(maxAbsDiff([onnxProbs[i]!], [prior])).toBeLessThan(1e-4);
    }
  });

  it('matches onnxruntime on single rows and on a batch of only unknown texts', async () => {
    const bytes = toOnnx(model, { modelId: 'single' });
    for (const batch of [[texts[0]!], ['']]) {
      const diff = maxAbsDiff(await runOnnx(bytes, { text: textTensor(batch) }), model.predictProba(batch));
      expect(diff).toBeLessThan(1e-4);
    }
  });

  it('writes metadata_props', () => {
    const meta = readOnnxMetadata(toOnnx(model, { modelId: 'm-1', version: 'v2' }));
    expect(meta).toEqual({
      'hitl.classes': JSON.stringify(model.classes),
      'hitl.input_kind': 'text',
      'hitl.model_id': 'm-1',
      'hitl.model_version': 'v2',
    });
  });
});

describe('text training', () => {
  const { texts, labels } = syntheticTexts(3, 30, 42);

  it('is deterministic for a seed', () => {
    const a = trainTextClassifier({ texts, labels, l2: 1e-3, epochs: 5, seed: 11 });
    const b = trainTextClassifier({ texts, labels, l2: 1e-3, epochs: 5, seed: 11 });
    const c = trainTextClassifier({ texts, labels, l2: 1e-3, epochs: 5, seed: 12 });
    expect(b.vocabulary).toEqual(a.vocabulary);
    expect(b.weights).toEqual(a.weights);
    expect(b.bias).toEqual(a.bias);
    expect(c.weights).not.toEqual(a.weights);
    expect(Buffer.from(toOnnx(a, { modelId: 'x' })).equals(Buffer.from(toOnnx(b, { modelId: 'x' })))).toBe(
      true,
    );
  });

  it('caps the vocabulary by document frequency, unigrams first', () => {
    const m = trainTextClassifier({ texts, labels, maxFeatures: 25, epochs: 1, seed: 1 });
    expect(m.vocabulary).toHaveLength(25);
    expect(m.vocabulary.slice(0, m.unigramCount).every((g) => !g.includes(' '))).toBe(true);
    expect(m.vocabulary.slice(m.unigramCount).every((g) => g.includes(' '))).toBe(true);
  });

  it('honours an explicit class order and rejects unknown labels', () => {
    const m = trainTextClassifier({ texts, labels, classes: ['class_2', 'class_0', 'class_1'], epochs: 1 });
    expect(m.classes).toEqual(['class_2', 'class_0', 'class_1']);
    expect(() => trainTextClassifier({ texts, labels, classes: ['class_0', 'class_1'], epochs: 1 })).toThrow(
      /not one of the classes/,
    );
    expect(() => trainTextClassifier({ texts: ['a'], labels: ['x'], epochs: 1 })).toThrow(/two classes/);
  });
});
