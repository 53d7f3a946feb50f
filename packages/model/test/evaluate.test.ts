import { describe, expect, it } from '@jest/globals';
import { evaluate } from '../src/evaluate';

describe('evaluate', () => {
  const classes = ['ham', 'spam'];

  it('computes accuracy, per-class precision/recall/F1 and macro-F1 from a known confusion', () => {
    // truth:     ham ham ham spam spam
    // predicted: ham ham spam spam ham
    const probabilities = [
      [0.9, 0.1],
      [0.8, 0.2],
      [0.4, 0.6],
      [0.3, 0.7],
      [0.6, 0.4],
    ];
    const truth = ['ham', 'ham', 'ham', 'spam', 'spam'];
    const e = evaluate(classes, probabilities, truth);
    expect(e.accuracy).toBeCloseTo(3 / 5);
    expect(e.perClass.ham!.precision).toBeCloseTo(2 / 3);
    expect(e.perClass.ham!.recall).toBeCloseTo(2 / 3);
    expect(e.perClass.ham!.f1).toBeCloseTo(2 / 3);
    expect(e.perClass.ham!.support).toBe(3);
    expect(e.perClass.spam!.precision).toBeCloseTo(1 / 2);
    expect(e.perClass.spam!.recall).toBeCloseTo(1 / 2);
    expect(e.macroF1).toBeCloseTo((2 / 3 + 1 / 2) / 2);
    expect(e.confusion).toEqual({ ham: { ham: 2, spam: 1 }, spam: { ham: 1, spam: 1 } });
    const expectedLogLoss =
      -(Math.log(0.9) + Math.log(0.8) + Math.log(0.4) + Math.log(0.7) + Math.log(0.4)) / 5;
    expect(e.logLoss).toBeCloseTo(expectedLogLoss, 10);
  });

  it('gives zero calibration error to a perfectly calibrated bin and the gap otherwise', () => {
    // Ten predictions at confidence 0.8, eight of them right: calibrated.
    const rows = Array.from({ length: 10 }, () => [0.8, 0.2]);
    const truth = [...Array<string>(8).fill('ham'), 'spam', 'spam'];
    expect(evaluate(classes, rows, truth).ece).toBeCloseTo(0, 10);
    // All right at confidence 0.6: the gap is 0.4.
    expect(
      evaluate(
        classes,
        Array.from({ length: 4 }, () => [0.6, 0.4]),
        Array<string>(4).fill('ham'),
      ).ece,
    ).toBeCloseTo(0.4, 10);
  });

  it('handles more than two classes and a class never predicted', () => {
    const e = evaluate(
      ['a', 'b', 'c'],
      [
        [0.7, 0.2, 0.1],
        [0.1, 0.8, 0.1],
        [0.5, 0.4, 0.1],
      ],
      ['a', 'b', 'c'],
    );
    expect(e.accuracy).toBeCloseTo(2 / 3);
    expect(e.perClass.c).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(e.perClass.a!.precision).toBeCloseTo(1 / 2);
  });

  it('refuses a label outside the classes and mismatched lengths', () => {
    expect(() => evaluate(classes, [[0.5, 0.5]], ['eggs'])).toThrow(/not one of the classes/);
    expect(() => evaluate(classes, [[0.5, 0.5]], [])).toThrow(/1 probability rows for 0 labels/);
  });
});
