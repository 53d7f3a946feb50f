import { describe, expect, it } from '@jest/globals';
import { readOnnxMetadata, toOnnx, trainLinearClassifier } from '../src';
import { accuracy, featureTensor, gaussianBlobs, maxAbsDiff, runOnnx } from './helpers';

describe.each([2, 5])('linear classifier with %i classes', (classCount) => {
  const width = 6;
  const { features, labels } = gaussianBlobs(classCount, 80, width, 300 + classCount);
  const model = trainLinearClassifier({ features, labels, l2: 1e-3, epochs: 40, seed: 5 });

  it('learns separable blobs', () => {
    expect(model.classes).toHaveLength(classCount);
    expect(model.featureWidth).toBe(width);
    expect(accuracy(model.predictProba(features), labels, model.classes)).toBeGreaterThan(0.9);
  });

  it('matches onnxruntime to within 1e-4', async () => {
    const held = gaussianBlobs(classCount, 30, width, 900 + classCount).features;
    const batch = [...held, new Array<number>(width).fill(0)];
    const bytes = toOnnx(model, { modelId: `linear-${classCount}` });
    const diff = maxAbsDiff(
      await runOnnx(bytes, { features: featureTensor(batch) }),
      model.predictProba(batch),
    );
    console.log(
      `linear ${classCount} classes: max abs diff ${diff.toExponential(3)} over ${batch.length} rows`,
    );
    expect(diff).toBeLessThan(1e-4);
    const single = [held[0]!];
    expect(
      maxAbsDiff(await runOnnx(bytes, { features: featureTensor(single) }), model.predictProba(single)),
    ).toBeLessThan(1e-4);
  });

  it('writes metadata_props', () => {
    const meta = readOnnxMetadata(toOnnx(model, { modelId: 'lin', version: 4 }));
    expect(meta).toEqual({
      'hitl.classes': JSON.stringify(model.classes),
      'hitl.input_kind': 'features',
      'hitl.feature_width': String(width),
      'hitl.model_id': 'lin',
      'hitl.model_version': '4',
    });
  });
});

describe('linear training', () => {
  const { features, labels } = gaussianBlobs(3, 40, 4, 77);

  it('is deterministic for a seed', () => {
    const a = trainLinearClassifier({ features, labels, l2: 1e-3, epochs: 5, seed: 3 });
    const b = trainLinearClassifier({ features, labels, l2: 1e-3, epochs: 5, seed: 3 });
    const c = trainLinearClassifier({ features, labels, l2: 1e-3, epochs: 5, seed: 4 });
    expect(b.weights).toEqual(a.weights);
    expect(b.bias).toEqual(a.bias);
    expect(c.weights).not.toEqual(a.weights);
  });

  it('handles a constant column and rejects ragged rows', () => {
    const withConstant = features.map((r) => [...r, 2.5]);
    const m = trainLinearClassifier({ features: withConstant, labels, epochs: 5, seed: 1 });
    expect(m.scale[4]).toBe(1);
    expect(() => trainLinearClassifier({ features: [[1, 2], [3]], labels: ['a', 'b'] })).toThrow(/width/);
    expect(() => m.predictProba([[1, 2]])).toThrow(/expected 5 features/);
  });
});

describe('sample weights', () => {
  const { features, labels } = gaussianBlobs(2, 60, 4, 77);

  it('leave the model as it is when every weight is 1', () => {
    const plain = trainLinearClassifier({ features, labels, epochs: 10, seed: 3 });
    const ones = trainLinearClassifier({
      features,
      labels,
      epochs: 10,
      seed: 3,
      sampleWeights: labels.map(() => 1),
    });
    expect(ones.weights).toEqual(plain.weights);
    expect(ones.bias).toEqual(plain.bias);
  });

  it('let a sure label outweigh an unsure one of the same input', () => {
    // The same point twice with both labels: the weights decide which the model leans to.
    const point = [0.5, -0.5, 0.25, 0];
    const both = { features: [point, point], labels: ['a', 'b'], epochs: 200, l2: 0, seed: 1 };
    const leanA = trainLinearClassifier({ ...both, sampleWeights: [1, 0.2] }).predictProba([point])[0]!;
    const leanB = trainLinearClassifier({ ...both, sampleWeights: [0.2, 1] }).predictProba([point])[0]!;
    // Weighted log-loss is least at p(a) = 1 / (1 + 0.2) ≈ 0.83.
    expect(leanA[0]).toBeGreaterThan(0.7);
    expect(leanB[1]).toBeGreaterThan(0.7);
  });

  it('are refused outside (0, 1] or in the wrong number', () => {
    expect(() => trainLinearClassifier({ features, labels, sampleWeights: [1] })).toThrow(
      `1 sample weights for ${labels.length} rows`,
    );
    for (const bad of [0, -1, 1.5, NaN]) {
      expect(() =>
        trainLinearClassifier({ features, labels, sampleWeights: labels.map((_, i) => (i === 3 ? bad : 1)) }),
      ).toThrow('a sample weight must be in (0, 1]');
    }
  });
});
