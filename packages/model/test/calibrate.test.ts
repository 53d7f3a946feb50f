import { describe, expect, it } from '@jest/globals';
import {
  applyTemperature,
  evaluate,
  fitTemperature,
  loadOnnxClassifier,
  readOnnxMetadata,
  toOnnx,
  trainLinearClassifier,
  trainTextClassifier,
  withTemperature,
  type Classifier,
} from '../src';
import { mulberry32 } from '../src/random';
import { gaussianBlobs, maxAbsDiff, syntheticTexts } from './helpers';

const CLASSES = ['a', 'b', 'c'];

/**
 * Rows that put `stated` on a random class while that class is the true one with probability
 * `actual` (otherwise one of the others, uniformly).
 */
function miscalibrated(
  rows: number,
  stated: number,
  actual: number,
  seed: number,
): { probabilities: number[][]; truth: number[] } {
  const rand = mulberry32(seed);
  const C = CLASSES.length;
  const probabilities: number[][] = [];
  const truth: number[] = [];
  for (let i = 0; i < rows; i++) {
    const predicted = Math.floor(rand() * C);
    const row = new Array<number>(C).fill((1 - stated) / (C - 1));
    row[predicted] = stated;
    probabilities.push(row);
    truth.push(rand() < actual ? predicted : (predicted + 1 + Math.floor(rand() * (C - 1))) % C);
  }
  return { probabilities, truth };
}

function ece(probabilities: readonly (readonly number[])[], truth: readonly number[]): number {
  return evaluate(
    CLASSES,
    probabilities,
    truth.map((t) => CLASSES[t]!),
  ).ece;
}

function allCorrect(rows: number, confidence: number): { probabilities: number[][]; truth: number[] } {
  const probabilities = Array.from({ length: rows }, (_, i) => {
    const row = [(1 - confidence) / 2, (1 - confidence) / 2, (1 - confidence) / 2];
    row[i % 3] = confidence;
    return row;
  });
  return { probabilities, truth: probabilities.map((_, i) => i % 3) };
}

describe('applyTemperature', () => {
  const rows = [
    [0.7, 0.2, 0.1],
    [0.25, 0.25, 0.5],
    [1, 0, 0],
    [0.5, 0.5, 0],
  ];

  it('returns the same rows at T = 1', () => {
    expect(maxAbsDiff(applyTemperature(rows, 1), rows)).toBeLessThan(1e-12);
  });

  it('flattens above 1 and sharpens below 1, rows summing to 1', () => {
    const flat = applyTemperature(rows, 2);
    const sharp = applyTemperature(rows, 0.5);
    for (const out of [flat, sharp]) {
      for (const row of out) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
    expect(flat[0]![0]).toBeLessThan(0.7);
    expect(flat[0]![2]).toBeGreaterThan(0.1);
    expect(sharp[0]![0]).toBeGreaterThan(0.7);
    expect(sharp[0]![2]).toBeLessThan(0.1);
    // A zero is clipped at 1e-15, so it stays (nearly) zero instead of turning into NaN.
    expect(flat[2]![1]).toBeLessThan(1e-7);
    expect(Number.isFinite(sharp[3]![2])).toBe(true);
    // Ranking is unchanged.
    expect(flat[1]![2]).toBeGreaterThan(flat[1]![0]!);
  });

  it('refuses a temperature that is not a positive number', () => {
    expect(() => applyTemperature(rows, 0)).toThrow(/above 0/);
    expect(() => applyTemperature(rows, Number.NaN)).toThrow(/above 0/);
  });
});

describe('fitTemperature', () => {
  it('flattens overconfident predictions', () => {
    // Says 0.95, right 75% of the time.
    const { probabilities, truth } = miscalibrated(2000, 0.95, 0.75, 11);
    const fit = fitTemperature(probabilities, truth);
    const calibrated = applyTemperature(probabilities, fit.temperature);
    const before = ece(probabilities, truth);
    const after = ece(calibrated, truth);
    console.log(`overconfident: ${fit.reason}; ECE ${before.toFixed(3)} → ${after.toFixed(3)}`);
    expect(fit.fitted).toBe(true);
    expect(fit.examples).toBe(2000);
    expect(fit.temperature).toBeGreaterThan(1);
    expect(fit.logLossAfter).toBeLessThan(fit.logLossBefore);
    expect(fit.logLossBefore).toBeCloseTo(
      evaluate(
        CLASSES,
        probabilities,
        truth.map((t) => CLASSES[t]!),
      ).logLoss,
      9,
    );
    expect(fit.logLossAfter).toBeCloseTo(
      evaluate(
        CLASSES,
        calibrated,
        truth.map((t) => CLASSES[t]!),
      ).logLoss,
      9,
    );
    expect(before).toBeGreaterThan(0.15);
    expect(after).toBeLessThan(before / 5);
    expect(fit.reason).toMatch(
      /^temperature [\d.]+ fitted by log-loss on 2000 held-out labels: log-loss [\d.]+ → [\d.]+$/,
    );
  });

  it('sharpens underconfident predictions', () => {
    // Says 0.6, right 85% of the time.
    const { probabilities, truth } = miscalibrated(2000, 0.6, 0.85, 12);
    const fit = fitTemperature(probabilities, truth);
    const before = ece(probabilities, truth);
    const after = ece(applyTemperature(probabilities, fit.temperature), truth);
    console.log(`underconfident: ${fit.reason}; ECE ${before.toFixed(3)} → ${after.toFixed(3)}`);
    expect(fit.temperature).toBeLessThan(1);
    expect(fit.logLossAfter).toBeLessThan(fit.logLossBefore);
    expect(after).toBeLessThan(before / 5);
  });

  it('does not fit below minExamples', () => {
    const { probabilities, truth } = allCorrect(5, 0.9);
    const fit = fitTemperature(probabilities, truth);
    expect(fit).toMatchObject({ temperature: 1, examples: 5, fitted: false });
    expect(fit.logLossAfter).toBe(fit.logLossBefore);
    expect(fit.reason).toBe('temperature left at 1: 5 held-out labels, fewer than the 20 needed to fit one');
    expect(fitTemperature(probabilities, truth, { minExamples: 5 }).fitted).toBe(true);
  });

  it('keeps a few all-correct examples from making the model overconfident', () => {
    for (const confidence of [0.6, 0.9, 0.99]) {
      const { probabilities, truth } = allCorrect(30, confidence);
      const fit = fitTemperature(probabilities, truth);
      expect(fit.fitted).toBe(true);
      expect(Number.isFinite(fit.temperature)).toBe(true);
      expect(Number.isFinite(fit.logLossAfter)).toBe(true);
      expect(fit.temperature).toBeGreaterThanOrEqual(0.2);
      expect(fit.temperature).toBeLessThanOrEqual(1);
    }
    // At 0.99 the prior holds T well away from the clamp; without it the fit runs to the clamp.
    const { probabilities, truth } = allCorrect(30, 0.99);
    expect(fitTemperature(probabilities, truth).temperature).toBeGreaterThan(0.5);
    const unheld = fitTemperature(probabilities, truth, { priorWeight: 0 });
    expect(unheld.temperature).toBe(0.2);
    expect(unheld.reason).toMatch(/held at the lower bound 0\.2/);
  });

  it('keeps T = 1 when the rows carry no information, and honours the clamp', () => {
    const uniform = Array.from({ length: 40 }, () => [1 / 3, 1 / 3, 1 / 3]);
    const truth = uniform.map((_, i) => i % 3);
    expect(fitTemperature(uniform, truth).temperature).toBeCloseTo(1, 5);
    const { probabilities, truth: t } = miscalibrated(500, 0.95, 0.75, 13);
    const capped = fitTemperature(probabilities, t, { maxTemperature: 1.5 });
    expect(capped.temperature).toBe(1.5);
    expect(capped.reason).toMatch(/^temperature 1\.5 \(held at the upper bound 1\.5\) fitted/);
  });

  it('refuses mismatched inputs', () => {
    expect(() => fitTemperature([[0.5, 0.5]], [0, 1])).toThrow(/1 probability rows for 2 labels/);
    expect(() => fitTemperature([[0.5, 0.5]], [2])).toThrow(/row 0: true class index 2/);
    expect(() => fitTemperature([[0.5, 0.5]], [0], { minTemperature: 2, maxTemperature: 1 })).toThrow(
      /minTemperature/,
    );
  });
});

async function onnxProbabilities(
  model: Classifier,
  batch: readonly string[] | readonly (readonly number[])[],
): Promise<{ probabilities: number[][]; metadata: Record<string, string> }> {
  const loaded = await loadOnnxClassifier(toOnnx(model, { modelId: 'calibrated' }));
  try {
    return { probabilities: await loaded.predictProba(batch), metadata: loaded.description.metadata };
  } finally {
    await loaded.close();
  }
}

describe('withTemperature on a text model', () => {
  const { texts, labels } = syntheticTexts(3, 20, 501);
  const model = trainTextClassifier({ texts, labels, l2: 1e-4, epochs: 15, seed: 3 });
  const held = [...syntheticTexts(3, 8, 502).texts, 'zzzz unknown words', ''];

  it.each([0.6, 1.8])(
    'at T = %f scores as applyTemperature does, in TypeScript and in onnxruntime',
    async (t) => {
      const weightsBefore = JSON.stringify(model.weights);
      const calibrated = withTemperature(model, t);
      expect(calibrated.kind).toBe('text');
      expect(calibrated.temperature).toBe(t);
      expect(calibrated.vocabulary).toBe(model.vocabulary);
      expect(calibrated.weights.flat().every((w) => Math.fround(w) === w)).toBe(true);
      const expected = applyTemperature(model.predictProba(held), t);
      expect(maxAbsDiff(calibrated.predictProba(held), expected)).toBeLessThan(1e-6);
      const onnx = await onnxProbabilities(calibrated, held);
      expect(maxAbsDiff(onnx.probabilities, calibrated.predictProba(held))).toBeLessThan(1e-4);
      expect(onnx.metadata['hitl.temperature']).toBe(String(t));
      // The original is untouched.
      expect(JSON.stringify(model.weights)).toBe(weightsBefore);
      expect(model.temperature).toBeUndefined();
    },
  );

  it('records no temperature for an uncalibrated model', () => {
    expect(readOnnxMetadata(toOnnx(model, { modelId: 'raw' }))).not.toHaveProperty('hitl.temperature');
  });
});

describe('withTemperature on a linear model', () => {
  const { features, labels } = gaussianBlobs(3, 30, 4, 601);
  const model = trainLinearClassifier({ features, labels, l2: 1e-3, epochs: 20, seed: 4 });
  const held = gaussianBlobs(3, 10, 4, 602).features;

  it.each([0.5, 2.5])(
    'at T = %f scores as applyTemperature does, in TypeScript and in onnxruntime',
    async (t) => {
      const calibrated = withTemperature(model, t);
      expect(calibrated.kind).toBe('linear');
      expect(calibrated.featureWidth).toBe(model.featureWidth);
      const expected = applyTemperature(model.predictProba(held), t);
      expect(maxAbsDiff(calibrated.predictProba(held), expected)).toBeLessThan(1e-6);
      const onnx = await onnxProbabilities(calibrated, held);
      expect(maxAbsDiff(onnx.probabilities, calibrated.predictProba(held))).toBeLessThan(1e-4);
      expect(onnx.metadata['hitl.temperature']).toBe(String(t));
      expect(() => calibrated.predictProba([[1, 2]])).toThrow(/expected 4 features/);
    },
  );

  it('records the product when a calibrated model is calibrated again', () => {
    const twice = withTemperature(withTemperature(model, 2), 1.5);
    expect(twice.temperature).toBe(3);
    expect(maxAbsDiff(twice.predictProba(held), applyTemperature(model.predictProba(held), 3))).toBeLessThan(
      1e-6,
    );
    expect(() => withTemperature(model, -1)).toThrow(/above 0/);
  });
});

describe('fit then fold', () => {
  it('gives the folded model the log-loss the fit reported', () => {
    // Whichever way this small text model is miscalibrated on held-out rows, the folded copy must
    // score exactly as the fit said it would.
    const { texts, labels } = syntheticTexts(3, 15, 701);
    const model = trainTextClassifier({ texts, labels, l2: 1e-4, epochs: 40, seed: 5 });
    const held = syntheticTexts(3, 40, 702);
    const truth = held.labels.map((l) => model.classes.indexOf(l));
    const fit = fitTemperature(model.predictProba(held.texts), truth);
    const calibrated = withTemperature(model, fit.temperature);
    const after = evaluate(model.classes, calibrated.predictProba(held.texts), held.labels);
    console.log(`fit then fold: ${fit.reason}; folded model log-loss ${after.logLoss.toFixed(4)}`);
    expect(fit.fitted).toBe(true);
    expect(after.logLoss).toBeCloseTo(fit.logLossAfter, 5);
    expect(after.logLoss).toBeLessThanOrEqual(fit.logLossBefore);
  });
});
