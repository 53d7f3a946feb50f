import { describe, expect, it } from '@jest/globals';
import { applyTemperature } from '@hitl/model';
import { mulberry32 } from '@hitl/model/random';
import { certifyThresholds } from '@hitl/policy';
import {
  buildTrainingSet,
  calibrationHalves,
  crossFitFolds,
  certificationRows,
  chooseInputShape,
  classesFor,
  type SplitRows,
  type TrainingExample,
} from '../src/dataset';

const text = (eventId: string, label: string, split: 'train' | 'eval' = 'train'): TrainingExample => ({
  eventId,
  input: { text: `${label} words` },
  label,
  split,
});
const features = (eventId: string, values: number[], label: string): TrainingExample => ({
  eventId,
  input: { features: values },
  label,
  split: 'train',
});

describe('chooseInputShape', () => {
  it('takes text when most examples have it, else the commonest feature width', () => {
    expect(chooseInputShape([text('a', 'x'), features('b', [1], 'y')], null)).toEqual({ kind: 'text' });
    expect(
      chooseInputShape([text('a', 'x'), features('b', [1, 2], 'y'), features('c', [3, 4], 'y')], null),
    ).toEqual({ kind: 'features', featureWidth: 2 });
    expect(chooseInputShape([], null)).toBeNull();
  });

  it("keeps the champion's input", () => {
    const champion = { classes: ['x', 'y'], inputKind: 'features' as const, featureWidth: 3 };
    expect(chooseInputShape([text('a', 'x')], champion)).toEqual({ kind: 'features', featureWidth: 3 });
  });
});

describe('classesFor', () => {
  it("keeps the champion's classes in order and adds new labels sorted", () => {
    expect(classesFor(['spam', 'other', 'ham', 'alpha'], ['spam', 'ham'])).toEqual([
      'spam',
      'ham',
      'alpha',
      'other',
    ]);
    expect(classesFor(['b', 'a', 'b'])).toEqual(['a', 'b']);
  });
});

describe('buildTrainingSet', () => {
  it('splits fitting examples in event id order and counts the ones left out', () => {
    const set = buildTrainingSet(
      [
        text('c', 'spam'),
        text('a', 'ham'),
        text('b', 'ham', 'eval'),
        features('d', [1, 2], 'spam'),
        text('e', 'other', 'eval'),
      ],
      null,
    );
    if ('skip' in set) throw new Error(set.skip);
    expect(set.shape).toEqual({ kind: 'text' });
    expect(set.classes).toEqual(['ham', 'other', 'spam']);
    expect(set.train.eventIds).toEqual(['a', 'c']);
    expect(set.eval.eventIds).toEqual(['b', 'e']);
    expect(set.train.inputs).toEqual({ kind: 'text', texts: ['ham words', 'spam words'] });
    expect(set.dropped).toBe(1);
  });

  it('skips when the training split has fewer than two classes', () => {
    expect(buildTrainingSet([text('a', 'ham'), text('b', 'spam', 'eval')], null)).toEqual({
      skip: 'the training split has 1 examples with text and 1 distinct label(s); a model needs two',
    });
    expect(buildTrainingSet([], null)).toEqual({ skip: 'there are no labelled examples yet' });
  });
});

describe('certificationRows', () => {
  const rows = (n: number): SplitRows => ({
    eventIds: Array.from({ length: n }, (_, i) => `e-${i}`),
    inputs: { kind: 'text', texts: Array.from({ length: n }, () => 'x') },
    labels: Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'a' : 'b')),
    weights: Array.from({ length: n }, () => 1),
  });

  it('takes the whole evaluation split with two classes, and the half calibration did not fit with more', () => {
    const evalRows = rows(40);
    const halves = calibrationHalves(evalRows);
    expect(certificationRows(['a', 'b'], evalRows, halves)).toEqual(evalRows.labels.map((_, i) => i));
    expect(certificationRows(['a', 'b', 'c'], evalRows, halves)).toEqual(halves.holdout);
  });

  it('rests on a fact: with two classes a temperature changes nothing the certification counts', () => {
    const random = mulberry32(4);
    const classes = ['a', 'b'];
    const raw = Array.from({ length: 2_000 }, () => {
      const p = random();
      return [p, 1 - p];
    });
    // Right more often where the model is surer, as a real model is.
    const truth = raw.map((row) => {
      const predicted = row[0]! >= row[1]! ? 0 : 1;
      return random() < Math.max(...row) + 0.05 ? classes[predicted]! : classes[1 - predicted]!;
    });
    const counts = (probabilities: number[][]) =>
      Object.values(
        certifyThresholds({ classes, probabilities, truth, targetAccuracy: 0.9, confidenceLevel: 0.9 })
          .perClass,
      ).map(({ decisions, correct, predicted }) => ({ decisions, correct, predicted }));
    const uncalibrated = counts(raw);
    expect(uncalibrated.some((c) => c.decisions > 0)).toBe(true);
    for (const temperature of [0.5, 1.7, 4]) {
      expect(counts(applyTemperature(raw, temperature))).toEqual(uncalibrated);
    }
  });

  it('and that with three classes a temperature can reorder two predictions', () => {
    // The first is the surer before, the second after: their rest is spread differently.
    const flat = [0.61, 0.195, 0.195];
    const peaked = [0.6, 0.39, 0.01];
    const [flatHot, peakedHot] = applyTemperature([flat, peaked], 3).map((row) => Math.max(...row));
    expect(flatHot).toBeLessThan(peakedHot!);
  });
});

describe('crossFitFolds', () => {
  const rows = (n: number) => ({
    eventIds: Array.from({ length: n }, (_, i) => `event-${i}`),
    inputs: { kind: 'text' as const, texts: [] },
    labels: [],
    weights: [],
  });

  it('puts each event in one of the folds by its id, about evenly and the same every time', () => {
    const folds = crossFitFolds(rows(3_000), 3);
    expect(folds).toEqual(crossFitFolds(rows(3_000), 3));
    for (const fold of [0, 1, 2]) {
      const share = folds.filter((f) => f === fold).length / folds.length;
      expect(share).toBeGreaterThan(0.3);
      expect(share).toBeLessThan(0.37);
    }
    expect(folds.every((f) => Number.isInteger(f) && f >= 0 && f < 3)).toBe(true);
  });

  it('needs two folds or more', () => {
    expect(() => crossFitFolds(rows(10), 1)).toThrow('cross-fitting needs 2 folds or more, not 1');
    expect(() => crossFitFolds(rows(10), 2.5)).toThrow(RangeError);
  });
});
