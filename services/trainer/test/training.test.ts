import { describe, expect, it } from '@jest/globals';
import { applyTemperature, loadOnnxClassifier, mulberry32, readOnnxMetadata } from '@hitl/model';
import {
  ONNX_TOLERANCE,
  epochsFor,
  trainExportVerify,
  trainInWorker,
  type TrainExportVerifyInput,
} from '../src';

const WORDS: Record<string, string[]> = {
  ham: ['meeting', 'agenda', 'report', 'lunch', 'project', 'notes'],
  spam: ['winner', 'prize', 'free', 'cash', 'offer', 'claim'],
};

function textRows(n: number, seed: number) {
  const rand = mulberry32(seed);
  const labels = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'ham' : 'spam'));
  const texts = labels.map((label) =>
    Array.from({ length: 6 }, () => WORDS[label]![Math.floor(rand() * 6)]!).join(' '),
  );
  return { texts, labels };
}

function textInput(): TrainExportVerifyInput {
  const train = textRows(120, 1);
  const verify = textRows(30, 2);
  return {
    modelId: 'unit',
    classes: ['ham', 'spam'],
    train: { inputs: { kind: 'text', texts: train.texts }, labels: train.labels },
    verify: { kind: 'text', texts: verify.texts },
    seed: 1,
  };
}

describe('trainExportVerify', () => {
  it('trains a text model whose ONNX export scores the verify rows as the TypeScript model does', async () => {
    const trained = await trainExportVerify(textInput());
    expect(trained).toMatchObject({
      classes: ['ham', 'spam'],
      inputKind: 'text',
      featureWidth: null,
      checkedRows: 30,
    });
    expect(trained.maxAbsDiff).toBeLessThan(ONNX_TOLERANCE);
    expect(trained.probabilities).toHaveLength(30);
    expect(readOnnxMetadata(trained.onnx)['hitl.classes']).toBe('["ham","spam"]');
    const session = await loadOnnxClassifier(trained.onnx);
    try {
      expect(await session.predictProba(['free cash prize'])).toEqual([
        expect.arrayContaining([expect.any(Number), expect.any(Number)]),
      ]);
    } finally {
      await session.close();
    }
  });

  it('folds the temperature fitted on the calibration rows into the exported model', async () => {
    const input = textInput();
    const plain = await trainExportVerify(input);
    expect(plain.calibration).toBeNull();
    // Labels that disagree with the words a third of the time: the trained model is overconfident
    // on them, so the fitted temperature flattens it.
    const noisy = textRows(90, 4);
    const labels = noisy.labels.map((l, i) => (i % 3 === 0 ? (l === 'ham' ? 'spam' : 'ham') : l));
    const calibrated = await trainExportVerify({
      ...input,
      calibrate: { inputs: { kind: 'text', texts: noisy.texts }, labels },
    });
    expect(calibrated.calibration).toMatchObject({ fitted: true, examples: 90 });
    expect(calibrated.calibration!.temperature).toBeGreaterThan(1);
    expect(calibrated.calibration!.logLossAfter).toBeLessThan(calibrated.calibration!.logLossBefore);
    expect(calibrated.maxAbsDiff).toBeLessThan(ONNX_TOLERANCE);
    expect(readOnnxMetadata(calibrated.onnx)['hitl.temperature']).toBe(
      String(calibrated.calibration!.temperature),
    );
    // Same argmax, softer probabilities: the ONNX output is the plain model's at that temperature.
    const softened = applyTemperature(plain.probabilities, calibrated.calibration!.temperature);
    calibrated.probabilities.forEach((row, i) =>
      row.forEach((p, c) => expect(Math.abs(p - softened[i]![c]!)).toBeLessThan(1e-4)),
    );
  });

  it('trains a linear model on numeric features, and checks on training rows when none are held out', async () => {
    const rand = mulberry32(3);
    const labels = Array.from({ length: 80 }, (_, i) => (i % 2 === 0 ? 'low' : 'high'));
    const features = labels.map((l) => [rand() + (l === 'high' ? 2 : 0), rand()]);
    const trained = await trainExportVerify({
      modelId: 'unit-linear',
      classes: ['high', 'low', 'unseen'],
      train: { inputs: { kind: 'features', featureWidth: 2, features }, labels },
      verify: { kind: 'features', featureWidth: 2, features: [] },
    });
    expect(trained).toMatchObject({
      inputKind: 'features',
      featureWidth: 2,
      classes: ['high', 'low', 'unseen'],
    });
    expect(trained.probabilities).toEqual([]);
    expect(trained.checkedRows).toBe(80);
    expect(trained.maxAbsDiff).toBeLessThan(ONNX_TOLERANCE);
  });

  it('gives the same model in a worker thread as in-process', async () => {
    const input = textInput();
    const [inProcess, inWorker] = [await trainExportVerify(input), await trainInWorker(input)];
    expect(Buffer.from(inWorker.onnx).equals(Buffer.from(inProcess.onnx))).toBe(true);
    expect(inWorker.probabilities).toEqual(inProcess.probabilities);
  });

  it('stops the worker when aborted', async () => {
    const abort = new AbortController();
    const training = trainInWorker(textInput(), abort.signal);
    abort.abort();
    await expect(training).rejects.toMatchObject({ code: 'HITL_ERR_TRAINER_INTERRUPTED' });
  });

  it('reports training errors from the worker', async () => {
    const input = textInput();
    await expect(trainInWorker({ ...input, classes: ['ham'] })).rejects.toMatchObject({
      code: 'HITL_ERR_TRAINER_WORKER',
      message: expect.stringContaining('need at least two classes') as unknown,
    });
  });
});

describe('epochsFor', () => {
  it('gives small sets many passes and large ones few', () => {
    expect(epochsFor(100)).toBe(50);
    expect(epochsFor(1_000)).toBe(38);
    expect(epochsFor(5_000)).toBe(8);
    expect(epochsFor(20_000)).toBe(5);
  });
});
