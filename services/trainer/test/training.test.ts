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

  it('cross-fits: each training row is scored by a model trained without its fold', async () => {
    const input = textInput();
    const { texts, labels } =
      input.train.inputs.kind === 'text'
        ? { texts: input.train.inputs.texts, labels: [...input.train.labels] }
        : { texts: [], labels: [] };
    // Row 0 is ham, but its words are spam words and one word no other row has, labelled ham
    // eight times over in its own fold only: what the full model learned from it, a model
    // that never saw the fold cannot know.
    const marked = texts.map((t, i) => (i % 3 === 0 && i < 48 ? 'qqmarker winner prize free cash' : t));
    const markedLabels = labels.map((l, i) => (i % 3 === 0 && i < 48 ? 'ham' : l));
    const folds = marked.map((_, i) => (i % 3 === 0 && i < 48 ? 0 : 1 + (Math.floor(i / 2) % 2)));
    const trained = await trainExportVerify({
      ...input,
      train: { inputs: { kind: 'text', texts: marked }, labels: markedLabels },
      verify: { kind: 'text', texts: ['qqmarker winner prize free cash'] },
      crossFit: { folds },
    });
    const outOfFold = trained.outOfFold!;
    expect(outOfFold).toHaveLength(marked.length);
    for (const row of outOfFold) {
      expect(row).toHaveLength(2);
      expect(row![0]! + row![1]!).toBeCloseTo(1, 9);
    }
    // The full model trained on the marked rows calls them ham; the model without their fold, spam.
    expect(trained.probabilities[0]![0]).toBeGreaterThan(0.5);
    expect(outOfFold[0]![1]).toBeGreaterThan(0.5);
    // The other folds' rows are ordinary: mostly right out of fold.
    const right = outOfFold.filter(
      (p, i) => folds[i] !== 0 && (p![0]! > p![1]! ? 'ham' : 'spam') === markedLabels[i],
    );
    expect(right.length).toBeGreaterThan(0.9 * folds.filter((f) => f !== 0).length);
    expect((await trainExportVerify(input)).outOfFold).toBeNull();
  });

  it('leaves a row unscored when its fold leaves one class to train on', async () => {
    const input = textInput();
    const labels = input.train.labels;
    // Fold 0 holds every spam row: the rest is all ham, and no model can be trained without it.
    const folds = labels.map((l, i) => (l === 'spam' ? 0 : 1 + (Math.floor(i / 2) % 2)));
    const trained = await trainExportVerify({ ...input, crossFit: { folds } });
    labels.forEach((l, i) =>
      l === 'spam' ? expect(trained.outOfFold![i]).toBeNull() : expect(trained.outOfFold![i]).toHaveLength(2),
    );
    await expect(trainExportVerify({ ...input, crossFit: { folds: [0, 1] } })).rejects.toThrow(
      '2 folds given for 120 training rows',
    );
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
