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
});
