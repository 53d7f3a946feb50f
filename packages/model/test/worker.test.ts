import { describe, expect, it } from '@jest/globals';
import { onnx } from 'onnx-proto';
import { loadOnnxClassifier, toOnnx, trainLinearClassifier, trainTextClassifier } from '../src';
import { gaussianBlobs, syntheticTexts } from './helpers';

describe('scoring in a worker thread', () => {
  it('gives exactly the main-thread probabilities for a text model, under concurrent calls', async () => {
    const { texts, labels } = syntheticTexts(3, 40, 5);
    const bytes = toOnnx(trainTextClassifier({ texts, labels, epochs: 10, seed: 5 }), { modelId: 'w' });
    const main = await loadOnnxClassifier(bytes);
    const worker = await loadOnnxClassifier(bytes, {}, { worker: true });
    try {
      const batches = [texts.slice(0, 50), texts.slice(50, 51), texts.slice(51)];
      const fromWorker = await Promise.all(batches.map((b) => worker.predictProba(b)));
      for (let i = 0; i < batches.length; i++) {
        expect(fromWorker[i]).toEqual(await main.predictProba(batches[i]!));
      }
    } finally {
      await main.close();
      await worker.close();
    }
  });

  it('gives exactly the main-thread probabilities for a features model, and reports bad rows', async () => {
    const { features, labels } = gaussianBlobs(5, 30, 6, 8);
    const bytes = toOnnx(trainLinearClassifier({ features, labels, epochs: 10, seed: 8 }), { modelId: 'w' });
    const main = await loadOnnxClassifier(bytes);
    const worker = await loadOnnxClassifier(bytes, {}, { worker: true });
    try {
      expect(await worker.predictProba(features)).toEqual(await main.predictProba(features));
      await expect(worker.predictProba([[1, 2]])).rejects.toThrow('arrays of 6 numbers');
      // The worker is still serving after a refused call.
      expect(await worker.predictProba(features.slice(0, 2))).toHaveLength(2);
    } finally {
      await main.close();
      await worker.close();
    }
  });

  it('refuses a model onnxruntime cannot load with the session code', async () => {
    const { features, labels } = gaussianBlobs(2, 10, 3, 1);
    const bytes = toOnnx(trainLinearClassifier({ features, labels, epochs: 2, seed: 1 }), { modelId: 'w' });
    // A graph that inspects fine but names an operator no runtime has.
    const model = onnx.ModelProto.decode(bytes);
    model.graph!.node![0]!.opType = 'NoSuchOperator';
    const broken = onnx.ModelProto.encode(model).finish();
    await expect(loadOnnxClassifier(broken, {}, { worker: true })).rejects.toMatchObject({
      code: 'HITL_ERR_MODEL_SESSION',
    });
  });
});
