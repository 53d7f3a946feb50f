import { describe, expect, it } from '@jest/globals';
import { evaluate } from '@hitl/model';
import {
  alignProbabilities,
  macroF1,
  majorityBaseline,
  promotionDecision,
  type GateOptions,
} from '../src/gate';

const options: GateOptions = { promoteMargin: 0.005, recallTolerance: 0.05, minEvalExamples: 4 };
const classes = ['ham', 'spam'];

/** Probability rows that predict the given labels with confidence 0.9. */
function rows(predicted: string[], cls = classes): number[][] {
  return predicted.map((p) => cls.map((c) => (c === p ? 0.9 : 0.1 / (cls.length - 1))));
}

const truth = ['ham', 'ham', 'ham', 'ham', 'spam', 'spam', 'spam', 'spam'];

describe('promotionDecision', () => {
  it('promotes a first version that beats the majority-class baseline', () => {
    const candidate = evaluate(
      classes,
      rows(['ham', 'ham', 'ham', 'ham', 'spam', 'spam', 'spam', 'ham']),
      truth,
    );
    const decision = promotionDecision({ candidate, champion: null }, options);
    expect(decision.promote).toBe(true);
    expect(decision.reason).toContain('majority-class baseline 0.500');
  });

  it('rejects a first version no better than always answering the commonest class', () => {
    const skewed = ['ham', 'ham', 'ham', 'ham', 'ham', 'ham', 'spam', 'spam'];
    const candidate = evaluate(classes, rows(Array<string>(8).fill('ham')), skewed);
    const decision = promotionDecision({ candidate, champion: null }, options);
    expect(decision.promote).toBe(false);
    expect(decision.reason).toContain('does not beat the majority-class baseline 0.750');
  });

  it('rejects anything while the evaluation split is too small', () => {
    const candidate = evaluate(classes, rows(['ham', 'spam']), ['ham', 'spam']);
    const decision = promotionDecision({ candidate, champion: null }, options);
    expect(decision).toMatchObject({ promote: false });
    expect(decision.reason).toBe('the evaluation split has 2 examples; promotion needs at least 4');
  });

  it('promotes a candidate better than the champion by the margin', () => {
    const champion = evaluate(
      classes,
      rows(['ham', 'ham', 'ham', 'ham', 'spam', 'spam', 'ham', 'ham']),
      truth,
    );
    const candidate = evaluate(
      classes,
      rows(['ham', 'ham', 'ham', 'ham', 'spam', 'spam', 'spam', 'ham']),
      truth,
    );
    const decision = promotionDecision(
      { candidate, champion: { version: 3, evaluation: champion } },
      options,
    );
    expect(decision.promote).toBe(true);
    expect(decision.reason).toContain('champion version 3');
  });

  it('rejects a candidate that is only as good as the champion', () => {
    const same = evaluate(classes, rows(['ham', 'ham', 'ham', 'ham', 'spam', 'spam', 'spam', 'ham']), truth);
    const decision = promotionDecision(
      { candidate: same, champion: { version: 1, evaluation: same } },
      options,
    );
    expect(decision.promote).toBe(false);
    expect(decision.reason).toContain('not better by the margin 0.005');
  });

  it('rejects a candidate better overall whose recall of one class falls too far', () => {
    const three = ['a', 'b', 'c'];
    const t = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'c', 'c', 'c', 'c'];
    const champion = evaluate(
      three,
      rows(['a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'c', 'c', 'c', 'c'], three),
      t,
    );
    const candidate = evaluate(
      three,
      rows(['a', 'a', 'a', 'b', 'b', 'b', 'b', 'b', 'c', 'c', 'c', 'c'], three),
      t,
    );
    expect(macroF1(candidate)).toBeGreaterThan(macroF1(champion) + 0.1);
    const decision = promotionDecision(
      { candidate, champion: { version: 1, evaluation: champion } },
      options,
    );
    expect(decision.promote).toBe(false);
    expect(decision.recallDrops).toEqual([{ label: 'a', champion: 1, candidate: 0.75 }]);
    expect(decision.reason).toContain('"a" 1.000 → 0.750');
  });
});

describe('alignProbabilities', () => {
  it('gives the classes a champion does not know probability 0, so their examples are its errors', () => {
    const aligned = alignProbabilities(['spam', 'ham'], ['ham', 'spam', 'other'], [[0.8, 0.2]]);
    expect(aligned).toEqual([[0.2, 0.8, 0]]);
    const evaluation = evaluate(['ham', 'spam', 'other'], aligned, ['other']);
    expect(evaluation.accuracy).toBe(0);
  });

  it('refuses a source class the targets lack', () => {
    expect(() => alignProbabilities(['ham', 'x'], ['ham', 'spam'], [])).toThrow(RangeError);
  });
});

describe('macroF1 and majorityBaseline', () => {
  it('average over the classes the evaluation examples hold', () => {
    const evaluation = evaluate(['ham', 'spam', 'other'], rows(['ham', 'spam'], ['ham', 'spam', 'other']), [
      'ham',
      'spam',
    ]);
    expect(evaluation.macroF1).toBeCloseTo(2 / 3);
    expect(macroF1(evaluation)).toBe(1);
    expect(majorityBaseline(evaluation)).toEqual({ label: 'ham', share: 0.5 });
  });
});
