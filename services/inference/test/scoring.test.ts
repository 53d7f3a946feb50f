import { createValidator, exampleRecords, Prediction } from '@hitl/contracts';
import { describe, expect, it } from '@jest/globals';
import {
  InputErrorCode,
  inputMisfit,
  nonFiniteFeatures,
  predictionOf,
  summarize,
  type ModelShape,
} from '../src';

const textModel: ModelShape = {
  ref: { id: 'm', version: 3 },
  classes: ['ham', 'spam'],
  inputKind: 'text',
  featureWidth: null,
};
const featuresModel: ModelShape = { ...textModel, inputKind: 'features', featureWidth: 3 };
const validPrediction = createValidator(Prediction);

describe('summarize', () => {
  it('names the top class, its probability, the margin to the second and the entropy', () => {
    const s = summarize(['a', 'b', 'c', 'd', 'e'], [0.1, 0.5, 0.2, 0.15, 0.05]);
    expect(s.label).toBe('b');
    expect(s.confidence).toBe(0.5);
    expect(s.margin).toBeCloseTo(0.3, 12);
    const entropy = -[0.1, 0.5, 0.2, 0.15, 0.05].reduce((sum, p) => sum + p * Math.log(p), 0);
    expect(s.entropy).toBeCloseTo(entropy, 12);
    expect(s.probabilities).toEqual({ a: 0.1, b: 0.5, c: 0.2, d: 0.15, e: 0.05 });
  });

  it.each([
    { row: [0.5, 0.5], label: 'x', margin: 0, entropy: Math.log(2) },
    { row: [1, 0], label: 'x', margin: 1, entropy: 0 },
    { row: [0, 1], label: 'y', margin: 1, entropy: 0 },
    // float32 softmax can stray a hair outside [0, 1]
    { row: [1.0000001, -1e-9], label: 'x', margin: 1, entropy: 0 },
  ])('handles the edge row $row', ({ row, label, margin, entropy }) => {
    const s = summarize(['x', 'y'], row);
    expect(s.label).toBe(label);
    expect(s.margin).toBeCloseTo(margin, 12);
    expect(s.entropy).toBeCloseTo(entropy, 12);
    expect(s.confidence).toBeLessThanOrEqual(1);
    expect(Object.values(s.probabilities).every((p) => p >= 0 && p <= 1)).toBe(true);
  });

  it('refuses a row of the wrong length or with NaN', () => {
    expect(() => summarize(['x', 'y'], [1])).toThrow('expected 2 probabilities');
    expect(() => summarize(['x', 'y'], [NaN, 1])).toThrow('NaN');
  });
});

describe('inputMisfit', () => {
  it.each([
    { model: textModel, input: { text: 'hi' }, code: null },
    { model: textModel, input: { text: '' }, code: null },
    { model: textModel, input: { features: [1, 2, 3] }, code: InputErrorCode.noText },
    { model: featuresModel, input: { features: [1, 2, 3] }, code: null },
    { model: featuresModel, input: { text: 'hi', features: [1, 2, 3] }, code: null },
    { model: featuresModel, input: { text: 'hi' }, code: InputErrorCode.noFeatures },
    { model: featuresModel, input: { features: [1, 2] }, code: InputErrorCode.featureWidth },
    { model: featuresModel, input: { features: [1, 2, 3, 4] }, code: InputErrorCode.featureWidth },
    { model: featuresModel, input: { features: [1, NaN, 3] }, code: InputErrorCode.notFinite },
    { model: featuresModel, input: { features: [1, 2, -Infinity] }, code: InputErrorCode.notFinite },
  ])('$model.inputKind model, input $input → $code', ({ model, input, code }) => {
    expect(inputMisfit(input, model)?.code ?? null).toBe(code);
  });

  it('flags non-finite features in a record that failed its schema, and nothing else', () => {
    const record = (features: unknown) => ({ data: { input: { features } } });
    expect(nonFiniteFeatures(record([1, Infinity]))).toMatchObject({ code: InputErrorCode.notFinite });
    expect(nonFiniteFeatures(record([1, 2]))).toBeUndefined();
    expect(nonFiniteFeatures(record('nope'))).toBeUndefined();
    expect(nonFiniteFeatures(null)).toBeUndefined();
  });
});

describe('predictionOf', () => {
  const event = exampleRecords.events;
  const at = '2026-02-01T00:00:00.000Z';

  it('makes a valid prediction naming the model version', () => {
    const p = predictionOf(
      event.data,
      { model: textModel, scores: summarize(['ham', 'spam'], [0.2, 0.8]) },
      at,
    );
    expect(validPrediction.issues(p)).toEqual([]);
    expect(p.data).toMatchObject({
      eventId: event.data.eventId,
      attributes: event.data.attributes,
      model: { id: 'm', version: 3 },
      classes: ['ham', 'spam'],
      label: 'spam',
      confidence: 0.8,
      scoredAt: at,
    });
  });

  it('makes a valid prediction without a model on cold start', () => {
    const p = predictionOf(event.data, null, at);
    expect(validPrediction.issues(p)).toEqual([]);
    expect(p.data).toMatchObject({ model: null, label: null, classes: [], probabilities: {} });
  });
});
