import { describe, expect, it } from '@jest/globals';
import {
  labelStep,
  notReadyBecause,
  scheduledStart,
  type LabelProgress,
  type ScheduleOptions,
} from '../src/schedule';

const options: ScheduleOptions = {
  retrainEvery: 200,
  minLabelsPerClass: 5,
  minEvalExamples: 10,
  gateAlpha: 0.05,
  retrainAfterMs: 900_000,
};

const progress = (p: Partial<LabelProgress>): LabelProgress => ({
  newLabels: 0,
  labelsAtLastRun: null,
  oldestNewLabelMs: null,
  pendingRequests: 0,
  ...p,
});

/** The label counts at which a stream of labels, one at a time, would train. */
function trainingsAt(totalLabels: number, retrainEvery: number, firstAt: number): number[] {
  const at: number[] = [];
  let last: number | null = null;
  for (let n = firstAt; n <= totalLabels; n++) {
    const start = scheduledStart(progress({ newLabels: n - (last ?? 0), labelsAtLastRun: last }), {
      ...options,
      retrainEvery,
    });
    if (start) {
      at.push(n);
      last = n;
    }
  }
  return at;
}

describe('scheduledStart', () => {
  it('trains first as soon as there are labels, then each time they double, then every RETRAIN_EVERY', () => {
    expect(trainingsAt(1_000, 200, 25)).toEqual([25, 50, 100, 200, 400, 600, 800, 1_000]);
    // A small set still trains several times: the step never waits for RETRAIN_EVERY.
    expect(trainingsAt(178, 200, 40)).toEqual([40, 80, 160]);
    expect(trainingsAt(50, 10, 10)).toEqual([10, 20, 30, 40, 50]);
  });

  it('says why each training starts', () => {
    expect(scheduledStart(progress({ newLabels: 30 }), options)).toEqual({
      trigger: 'first',
      because: 'first training, on 30 labels',
    });
    expect(scheduledStart(progress({ newLabels: 50, labelsAtLastRun: 50 }), options)).toEqual({
      trigger: 'doubled',
      because: '50 new labels since the last run read 50: the labels doubled',
    });
    expect(scheduledStart(progress({ newLabels: 200, labelsAtLastRun: 900 }), options)).toEqual({
      trigger: 'every',
      because: '200 new labels since the last run, at least RETRAIN_EVERY (200)',
    });
    expect(scheduledStart(progress({ pendingRequests: 2 }), options)).toEqual({
      trigger: 'request',
      because: '2 training requests pending',
    });
  });

  it('trains labels that waited longer than RETRAIN_AFTER_MS, and nothing without new labels', () => {
    const waiting = progress({ newLabels: 3, labelsAtLastRun: 900, oldestNewLabelMs: 899_999 });
    expect(scheduledStart(waiting, options)).toBeNull();
    expect(scheduledStart({ ...waiting, oldestNewLabelMs: 900_000 }, options)).toEqual({
      trigger: 'waited',
      because: '3 new labels, the oldest waiting 15 min (RETRAIN_AFTER_MS is 15 min)',
    });
    expect(scheduledStart(progress({ labelsAtLastRun: 900 }), options)).toBeNull();
  });

  it('never waits for a step of zero', () => {
    expect(labelStep(0, 200)).toBe(1);
    expect(labelStep(70, 200)).toBe(70);
    expect(labelStep(7_000, 200)).toBe(200);
  });
});

describe('notReadyBecause', () => {
  it('waits for two classes, enough training labels in each, and an evaluation split to judge by', () => {
    expect(notReadyBecause({ train: { ham: 40 }, eval: { ham: 10 } }, options)).toBe(
      '1 class labelled; a model needs two',
    );
    expect(notReadyBecause({ train: { a: 9, b: 4, c: 0 }, eval: { a: 5, b: 3, c: 2 } }, options)).toBe(
      'classes with fewer than 5 training labels: "b" 4, "c" 0',
    );
    expect(notReadyBecause({ train: { a: 9, b: 5 }, eval: { a: 5, b: 4 } }, options)).toBe(
      'the evaluation split has 9 examples; judging a model needs 10',
    );
    expect(notReadyBecause({ train: { a: 9, b: 5 }, eval: { a: 5, b: 5 } }, options)).toBeNull();
  });

  it('waits until a first version right on every evaluation example could beat the commonest label', () => {
    const few = { ...options, minEvalExamples: 1 };
    // Balanced: 0.5^5 = 0.031 can pass at 0.05, 0.5^4 = 0.0625 cannot.
    expect(notReadyBecause({ train: { a: 9, b: 5 }, eval: { a: 2, b: 2 } }, few)).toBe(
      'the evaluation split has 4 examples, 2 of them "a": even all right, a model could not be shown ' +
        'better than always answering "a" (p = 0.063 > GATE_ALPHA 0.05)',
    );
    expect(notReadyBecause({ train: { a: 9, b: 5 }, eval: { a: 3, b: 2 } }, few)).toMatch(/p = 0\.078/);
    expect(notReadyBecause({ train: { a: 9, b: 5 }, eval: { a: 3, b: 3 } }, few)).toBeNull();
    // Three classes: 0.4^5 = 0.010 can pass with five examples; 0.5^4 cannot with four.
    expect(notReadyBecause({ train: { a: 5, b: 5, c: 5 }, eval: { a: 2, b: 2, c: 1 } }, few)).toBeNull();
    expect(notReadyBecause({ train: { a: 5, b: 5, c: 5 }, eval: { a: 2, b: 1, c: 1 } }, few)).toMatch(
      /p = 0\.063/,
    );
    // Imbalanced: nine in ten of one label needs 29 examples (0.9^29 = 0.047).
    expect(notReadyBecause({ train: { a: 50, b: 5 }, eval: { a: 18, b: 2 } }, few)).toMatch(/p = 0\.122/);
    expect(notReadyBecause({ train: { a: 50, b: 5 }, eval: { a: 27, b: 3 } }, few)).toBeNull();
  });
});
