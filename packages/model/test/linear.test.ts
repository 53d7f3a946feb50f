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
