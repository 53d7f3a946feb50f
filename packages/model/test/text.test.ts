import { describe, expect, it } from '@jest/globals';
import { onnx } from 'onnx-proto';
import {
  ONNX_IR_VERSION,
  ONNX_OPSET,
  TEXT_ML_OPSET,
  loadOnnxClassifier,
  readOnnxMetadata,
  softmax,
  textNgrams,
  textPredictor,
  textRuns,
  toOnnx,
  tokenize,
  trainTextClassifier,
} from '../src';
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
  // Repeated n-grams (where the two norms differ), the padding value, and a long text.
  'apple apple apple banana apple banana APPLE',
  '# ## apple#banana # kernel #',
  Array.from({ length: 3_000 }, (_, i) => ['kernel', 'mutex', 'apple', 'goal'][i % 4]).join(' '),
];

describe('tokenize', () => {
  it("lowercases ASCII only and splits on everything but [a-zA-Z0-9']", () => {
    expect(tokenize("It's ÉCOLE, Straße-42 x_y")).toEqual(["it's", 'cole', 'stra', 'e', '42', 'x', 'y']);
    expect(textNgrams('A b A')).toEqual(['a', 'b', 'a', 'a b', 'b a']);
    expect(tokenize('')).toEqual([]);
  });
});

describe.each([
  [2, 'distinct', 'sparse'],
  [5, 'distinct', 'sparse'],
  [2, 'distinct', 'dense'],
  [5, 'occurrences', 'sparse'],
] as const)('text classifier with %i classes, norm %s, %s graph', (classCount, norm, textGraph) => {
  const { texts, labels } = syntheticTexts(classCount, 60, 1000 + classCount);
  const model = trainTextClassifier({ texts, labels, l2: 1e-4, epochs: 30, seed: 7, norm });

  it('learns the training data', () => {
    expect(model.classes).toHaveLength(classCount);
    expect(accuracy(model.predictProba(texts), labels, model.classes)).toBeGreaterThan(0.9);
  });

  it('matches onnxruntime to within 1e-4, odd texts included', async () => {
    const held = syntheticTexts(classCount, 20, 2000 + classCount).texts;
    const batch = [...held, ...ODD_TEXTS];
    const bytes = toOnnx(model, { modelId: `text-${classCount}`, version: 3, textGraph });
    const onnxProbs = await runOnnx(bytes, { text: textTensor(batch) });
    const tsProbs = model.predictProba(batch);
    const diff = maxAbsDiff(onnxProbs, tsProbs);
    console.log(
      `text ${classCount} classes, ${norm} norm, ${textGraph} graph: max abs diff ${diff.toExponential(3)} over ${batch.length} rows`,
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
    const bytes = toOnnx(model, { modelId: 'single', textGraph });
    for (const batch of [[texts[0]!], ['']]) {
      const diff = maxAbsDiff(await runOnnx(bytes, { text: textTensor(batch) }), model.predictProba(batch));
      expect(diff).toBeLessThan(1e-4);
    }
  });

  it('writes metadata_props', () => {
    const meta = readOnnxMetadata(toOnnx(model, { modelId: 'm-1', version: 'v2', textGraph }));
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

describe('the text graphs', () => {
  const { texts, labels } = syntheticTexts(3, 30, 43);
  const distinct = trainTextClassifier({ texts, labels, epochs: 5, seed: 3 });
  const occurrences = trainTextClassifier({ texts, labels, epochs: 5, seed: 3, norm: 'occurrences' });
  const opsOf = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType);

  it('scores sparsely by default: no vocabulary-wide TF-IDF row, a dense graph only on request', () => {
    expect(distinct.norm).toBe('distinct');
    const sparse = onnx.ModelProto.decode(toOnnx(distinct, { modelId: 's' }));
    expect(sparse.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([
      ['', ONNX_OPSET],
      ['ai.onnx.ml', TEXT_ML_OPSET],
      ['com.microsoft', 1],
    ]);
    expect(Number(sparse.irVersion)).toBe(ONNX_IR_VERSION);
    expect(opsOf(toOnnx(distinct, { modelId: 's' }))).toEqual(
      expect.arrayContaining(['LabelEncoder', 'Gather']),
    );
    expect(opsOf(toOnnx(distinct, { modelId: 's' }))).not.toContain('TfIdfVectorizer');
    expect(opsOf(toOnnx(occurrences, { modelId: 's' }))).not.toContain('ScatterElements');
    expect(opsOf(toOnnx(distinct, { modelId: 'd', textGraph: 'dense' }))).toContain('TfIdfVectorizer');
    expect(() => toOnnx(occurrences, { modelId: 'd', textGraph: 'dense' })).toThrow(/distinct norm only/);
  });

  it('gives both norms the same probabilities on texts without a repeated n-gram, not on others', () => {
    const once = ['apple banana cherry', 'kernel mutex thread'];
    const twice = ['apple apple apple apple banana'];
    // Same parameters, other norm: only the division differs.
    const other = textPredictor({ ...distinct, norm: 'occurrences' });
    expect(maxAbsDiff(other(once), distinct.predictProba(once))).toBeLessThan(1e-12);
    expect(maxAbsDiff(other(twice), distinct.predictProba(twice))).toBeGreaterThan(1e-6);
  });

  it('scores rows in runs of like length and gives every row its own probabilities back', async () => {
    const lengths = [5, 5_000, 1, 300, 300, 40_000, 0, 7];
    const runs = textRuns(lengths, 3, 6_000);
    expect(runs.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(runs).toEqual([[6, 2, 0], [7, 3, 4], [1], [5]]);
    for (const run of runs) {
      expect(run.length).toBeLessThanOrEqual(3);
      const longest = Math.max(...run.map((i) => lengths[i]!));
      if (run.length > 1) expect(run.length * longest).toBeLessThanOrEqual(6_000);
    }
    // 600 texts of mixed lengths through the served classifier: each row is its own text's.
    const mixed = Array.from({ length: 600 }, (_, i) => texts[i % texts.length]!.repeat(1 + (i % 7) * 40));
    const expected = distinct.predictProba(mixed);
    for (const options of [{}, { worker: true }]) {
      const served = await loadOnnxClassifier(toOnnx(distinct, { modelId: 'runs' }), {}, options);
      try {
        expect(maxAbsDiff(await served.predictProba(mixed), expected)).toBeLessThan(1e-4);
      } finally {
        await served.close();
      }
    }
  });
});
