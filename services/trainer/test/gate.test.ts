import { describe, expect, it } from '@jest/globals';
import { evaluate } from '@hitl/model';
import {
  alignProbabilities,
  bootstrapMacroF1Difference,
  gateMetrics,
  holmAdjusted,
  macroF1,
  majorityBaseline,
  mcNemarWorse,
  predictedLabels,
  promotionDecision,
  type GateInput,
  type GateOptions,
} from '../src/gate';

const options: GateOptions = { alpha: 0.05, minEvalExamples: 10 };

/** Probability rows that predict the given labels with confidence 0.9. */
function rows(predicted: readonly string[], classes: readonly string[]): number[][] {
  return predicted.map((p) => classes.map((c) => (c === p ? 0.9 : 0.1 / (classes.length - 1))));
}

/** `n` copies of a label. */
const times = (label: string, n: number): string[] => Array<string>(n).fill(label);

/**
 * The gate's input for true labels and each model's predicted labels (the champion's null for a
 * first version), evaluated the way the training round does.
 */
function gateInput(
  classes: readonly string[],
  truth: readonly string[],
  candidate: readonly string[],
  champion: readonly string[] | null,
): GateInput {
  return {
    candidate: evaluate(classes, rows(candidate, classes), truth),
    champion: champion && { version: 3, evaluation: evaluate(classes, rows(champion, classes), truth) },
    examples: truth.map((label, i) => ({
      truth: label,
      candidate: candidate[i]!,
      champion: champion?.[i] ?? null,
    })),
  };
}

/**
 * Predictions for `truth` that are wrong exactly at the given indices (answering the next class
 * there, so the errors spread over the other classes' precision as real ones do).
 */
function wrongAt(classes: readonly string[], truth: readonly string[], wrong: Iterable<number>): string[] {
  const errors = new Set(wrong);
  return truth.map((label, i) =>
    errors.has(i) ? classes[(classes.indexOf(label) + 1) % classes.length]! : label,
  );
}

/** Indices of the first `n` examples of a class after skipping `skip` of them. */
function examplesOf(truth: readonly string[], label: string, n: number, skip = 0): number[] {
  return truth
    .map((l, i) => [l, i] as const)
    .filter(([l]) => l === label)
    .slice(skip, skip + n)
    .map(([, i]) => i);
}

describe('promotionDecision: a first version', () => {
  const three = ['a', 'b', 'c'];
  const truth = [...times('a', 4), ...times('b', 4), ...times('c', 4)];

  it('is promoted when 12 examples of 3 classes are all right: (1/3)^12 is no chance', () => {
    const decision = promotionDecision(gateInput(three, truth, truth, null), options);
    expect(decision).toMatchObject({ promote: true, rule: 'baseline', comparison: null });
    expect(decision.baseline).toEqual({
      label: 'a',
      share: 1 / 3,
      examples: 12,
      correct: 12,
      pNotBetter: expect.closeTo(Math.pow(1 / 3, 12), 12) as unknown,
    });
    expect(decision.reason).toBe(
      'first version: accuracy 1.000 beats the majority-class baseline 0.333 ("a") on 12 evaluation examples (12 right; binomial p = 1.9e-6 for no better, alpha 0.05)',
    );
  });

  it('is rejected when it does no better than always answering the commonest class', () => {
    const decision = promotionDecision(gateInput(three, truth, times('a', 12), null), options);
    expect(decision).toMatchObject({ promote: false, rule: 'baseline', baseline: { correct: 4 } });
    expect(decision.reason).toContain('does not beat the majority-class baseline 0.333 ("a") significantly');
  });

  it('is rejected when it is better than the majority class, but not significantly on so few examples', () => {
    // 9 of 12 against a majority share of 8/12: P(X >= 9 | 12, 2/3) = 0.39.
    const skewed = [...times('a', 8), ...times('b', 4)];
    const predicted = wrongAt(['a', 'b'], skewed, [8, 9, 10]);
    const decision = promotionDecision(gateInput(['a', 'b'], skewed, predicted, null), options);
    expect(decision.promote).toBe(false);
    expect(decision.baseline!.pNotBetter).toBeCloseTo(0.3931, 4);
  });

  it('is rejected while the evaluation split is smaller than minEvalExamples', () => {
    const few = ['a', 'b', 'c'];
    const decision = promotionDecision(gateInput(three, few, few, null), options);
    expect(decision).toMatchObject({ promote: false, rule: 'too_few_examples' });
    expect(decision.reason).toBe('the evaluation split has 3 examples; promotion needs at least 10');
  });
});

describe('promotionDecision: a candidate against the champion', () => {
  it('promotes a candidate better overall whose recall of a 13-example class falls by one example', () => {
    // The case that motivated the gate: 10 classes, macro-F1 clearly up, and recall of one class
    // from 11/13 (0.846) to 10/13 (0.769): one example, which no test can call significant.
    const classes = Array.from({ length: 10 }, (_, k) => `class-${k}`);
    const truth = classes.flatMap((c, k) => times(c, k === 0 ? 13 : 18));
    const champion = wrongAt(classes, truth, [
      ...examplesOf(truth, 'class-0', 2),
      ...classes.slice(1).flatMap((c) => examplesOf(truth, c, 3)),
    ]);
    const candidate = wrongAt(classes, truth, [
      ...examplesOf(truth, 'class-0', 3),
      ...classes.slice(1).flatMap((c) => examplesOf(truth, c, 1)),
    ]);
    const input = gateInput(classes, truth, candidate, champion);
    expect(input.candidate.perClass['class-0']!.recall).toBeCloseTo(10 / 13);
    expect(input.champion!.evaluation.perClass['class-0']!.recall).toBeCloseTo(11 / 13);

    const decision = promotionDecision(input, options);
    expect(decision).toMatchObject({ promote: true, rule: 'macro_f1_not_lower' });
    const comparison = decision.comparison!;
    expect(comparison).toMatchObject({ discordantCandidate: 18, discordantChampion: 1 });
    expect(comparison.candidateMacroF1).toBeGreaterThan(comparison.championMacroF1);
    expect(comparison.classes.find((t) => t.label === 'class-0')).toMatchObject({
      discordantCandidate: 0,
      discordantChampion: 1,
      pWorse: expect.closeTo(0.5, 12),
      pAdjusted: null,
      significant: false,
    });
    expect(decision.reason).toMatch(
      /^macro-F1 0\.\d{3} vs champion version 3 0\.\d{3} on 175 evaluation examples \(95% interval of the difference [+−]0\.\d{3} to \+0\.\d{3}\); candidate right where the champion was wrong 18, the reverse 1 \(McNemar p = 1\.000 for worse\); no class significantly worse \(0 of 10 classes tested, Holm; too few differing examples to test "class-0", "class-1", "class-2" and 7 more\); promoted: macro-F1 at least the champion's$/,
    );
  });

  it('rejects a candidate truly worse on one class, better elsewhere, and names the class', () => {
    const classes = ['ham', 'spam', 'other'];
    const truth = [...times('ham', 60), ...times('spam', 30), ...times('other', 60)];
    // The champion misses 10 ham and 10 other; the candidate gets those right but 10 of the 30
    // spam wrong.
    const champion = wrongAt(classes, truth, [
      ...examplesOf(truth, 'ham', 10),
      ...examplesOf(truth, 'other', 10),
    ]);
    const candidate = wrongAt(classes, truth, examplesOf(truth, 'spam', 10));
    const input = gateInput(classes, truth, candidate, champion);
    expect(macroF1(input.candidate)).toBeGreaterThan(macroF1(input.champion!.evaluation));

    const decision = promotionDecision(input, options);
    expect(decision).toMatchObject({ promote: false, rule: 'worse_on_class' });
    const comparison = decision.comparison!;
    expect(comparison).toMatchObject({ discordantCandidate: 20, discordantChampion: 10 });
    expect(comparison.pWorse).toBeGreaterThan(0.05);
    const spam = comparison.classes.find((t) => t.label === 'spam')!;
    expect(spam).toMatchObject({ discordantCandidate: 0, discordantChampion: 10, significant: true });
    expect(spam.pWorse).toBeCloseTo(0.5 ** 10);
    // Three classes tested (each has 10 differing examples): Holm multiplies the smallest by 3.
    expect(spam.pAdjusted).toBeCloseTo(3 * 0.5 ** 10);
    expect(decision.reason).toContain(
      'significantly worse on "spam" (recall 1.000 → 0.667, right 0 vs 10 where they differ, Holm p = 0.003)',
    );
    expect(decision.reason).toMatch(/; rejected: significantly worse on "spam" at alpha 0\.05$/);
  });

  it('rejects a candidate significantly worse overall', () => {
    const classes = ['a', 'b', 'c'];
    const truth = [...times('a', 30), ...times('b', 30), ...times('c', 30)];
    const champion = truth;
    const candidate = wrongAt(classes, truth, [
      ...examplesOf(truth, 'a', 3),
      ...examplesOf(truth, 'b', 3),
      ...examplesOf(truth, 'c', 2),
    ]);
    const decision = promotionDecision(gateInput(classes, truth, candidate, champion), options);
    expect(decision).toMatchObject({ promote: false, rule: 'worse_overall' });
    expect(decision.comparison!.pWorse).toBeCloseTo(0.5 ** 8);
    expect(decision.reason).toMatch(
      /the reverse 8 \(McNemar p = 0\.004 for worse\).*; rejected: significantly worse overall at alpha 0\.05$/,
    );
  });

  it('promotes a candidate worse by exactly one example: one example never decides alone', () => {
    const classes = ['ham', 'spam'];
    const truth = [...times('ham', 20), ...times('spam', 20)];
    const champion = wrongAt(classes, truth, examplesOf(truth, 'ham', 1));
    const candidate = wrongAt(classes, truth, examplesOf(truth, 'spam', 2));
    const input = gateInput(classes, truth, candidate, champion);
    expect(macroF1(input.candidate)).toBeLessThan(macroF1(input.champion!.evaluation));

    const decision = promotionDecision(input, options);
    expect(decision).toMatchObject({ promote: true, rule: 'one_example_tie' });
    expect(decision.comparison).toMatchObject({ discordantCandidate: 1, discordantChampion: 2 });
    expect(decision.reason).toMatch(
      /; promoted: macro-F1 lower but the models differ by 1 example overall, and a tie goes to the candidate, trained on more labels$/,
    );
  });

  it('promotes a candidate exactly as good as the champion', () => {
    const classes = ['ham', 'spam'];
    const truth = [...times('ham', 20), ...times('spam', 20)];
    const same = wrongAt(classes, truth, examplesOf(truth, 'ham', 2));
    const decision = promotionDecision(gateInput(classes, truth, same, same), options);
    expect(decision).toMatchObject({ promote: true, rule: 'macro_f1_not_lower' });
    expect(decision.comparison).toMatchObject({ discordantCandidate: 0, discordantChampion: 0, pWorse: 1 });
  });

  it('rejects a candidate worse by several examples, though not significantly', () => {
    const classes = ['a', 'b', 'c'];
    const truth = [...times('a', 30), ...times('b', 30), ...times('c', 30)];
    const champion = wrongAt(classes, truth, [...examplesOf(truth, 'a', 1), ...examplesOf(truth, 'b', 1)]);
    const candidate = wrongAt(
      classes,
      truth,
      classes.flatMap((c) => examplesOf(truth, c, 2, 5)),
    );
    const decision = promotionDecision(gateInput(classes, truth, candidate, champion), options);
    expect(decision).toMatchObject({ promote: false, rule: 'worse_in_point_estimate' });
    const comparison = decision.comparison!;
    expect(comparison).toMatchObject({ discordantCandidate: 2, discordantChampion: 6 });
    // P(X >= 6 | 8, 1/2) = 37/256.
    expect(comparison.pWorse).toBeCloseTo(37 / 256);
    expect(comparison.classes.every((t) => t.pAdjusted === null)).toBe(true);
    expect(decision.reason).toMatch(
      /; rejected: macro-F1 lower and 4 more examples wrong, though not significantly worse$/,
    );
  });

  it('reports a bootstrap interval that is the same on every run and holds the point estimate', () => {
    const classes = ['ham', 'spam', 'other'];
    const truth = [...times('ham', 40), ...times('spam', 25), ...times('other', 35)];
    const champion = wrongAt(classes, truth, [
      ...examplesOf(truth, 'ham', 6),
      ...examplesOf(truth, 'spam', 4),
      ...examplesOf(truth, 'other', 5),
    ]);
    const candidate = wrongAt(classes, truth, [
      ...examplesOf(truth, 'ham', 2, 3),
      ...examplesOf(truth, 'spam', 3, 2),
      ...examplesOf(truth, 'other', 1),
    ]);
    const input = gateInput(classes, truth, candidate, champion);
    const first = promotionDecision(input, options).comparison!.macroF1Difference;
    const again = promotionDecision(input, options).comparison!.macroF1Difference;
    expect(again).toEqual(first);
    const estimate = macroF1(input.candidate) - macroF1(input.champion!.evaluation);
    expect(first.estimate).toBeCloseTo(estimate, 12);
    expect(first.low).toBeLessThanOrEqual(estimate);
    expect(first.high).toBeGreaterThanOrEqual(estimate);
    expect(first.low).toBeLessThan(first.high);
    expect(first).toMatchObject({ level: 0.95, resamples: 1_000 });

    // Another seed draws other resamples: the interval moves, a little.
    const paired = input.examples.map((e) => ({ ...e, champion: e.champion! }));
    const reseeded = bootstrapMacroF1Difference(paired, { seed: 7 });
    expect(reseeded.estimate).toBe(first.estimate);
    expect(reseeded.low).not.toBe(first.low);
    expect(Math.abs(reseeded.low - first.low)).toBeLessThan(0.05);
  });

  it('keeps the reason within the record schema for many long class names', () => {
    const classes = Array.from({ length: 12 }, (_, k) => `${String(k).padStart(3, '0')}-${'x'.repeat(196)}`);
    const truth = classes.flatMap((c) => times(c, 10));
    const candidate = wrongAt(
      classes,
      truth,
      classes.flatMap((c) => examplesOf(truth, c, 8)),
    );
    const decision = promotionDecision(gateInput(classes, truth, candidate, truth), options);
    expect(decision).toMatchObject({ promote: false, rule: 'worse_overall' });
    expect(decision.comparison!.classes.filter((t) => t.significant)).toHaveLength(12);
    expect(decision.reason.length).toBeLessThan(2_000);
    expect(decision.reason).toContain('and 9 more classes');
  });

  it('refuses examples that do not match the evaluation', () => {
    const input = gateInput(['a', 'b'], times('a', 12), times('a', 12), times('a', 12));
    expect(() => promotionDecision({ ...input, examples: input.examples.slice(1) }, options)).toThrow(
      RangeError,
    );
    const noChampion = input.examples.map((e) => ({ ...e, champion: null }));
    expect(() => promotionDecision({ ...input, examples: noChampion }, options)).toThrow(
      /has no champion prediction/,
    );
  });
});

describe('gateMetrics', () => {
  it('flattens the figures into finite numbers with fixed names', () => {
    const classes = ['ham', 'spam', 'other'];
    const truth = [...times('ham', 60), ...times('spam', 30), ...times('other', 60)];
    const champion = wrongAt(classes, truth, [
      ...examplesOf(truth, 'ham', 10),
      ...examplesOf(truth, 'other', 10),
    ]);
    const candidate = wrongAt(classes, truth, examplesOf(truth, 'spam', 10));
    const decision = promotionDecision(gateInput(classes, truth, candidate, champion), options);
    const metrics = gateMetrics(decision);
    expect(metrics).toMatchObject({
      'gate.alpha': 0.05,
      'gate.discordantCandidate': 20,
      'gate.discordantChampion': 10,
      'gate.classesTested': 3,
      'gate.classesWorse': 1,
      'gate.classPWorseMin': expect.closeTo(3 * 0.5 ** 10, 10) as unknown,
    });
    expect(Object.values(metrics).every(Number.isFinite)).toBe(true);
    expect(metrics['gate.macroF1DiffLow']).toBeLessThanOrEqual(metrics['gate.macroF1Diff']!);

    const first = promotionDecision(gateInput(classes, truth, truth, null), options);
    expect(Object.keys(gateMetrics(first)).sort()).toEqual(['gate.alpha', 'gate.pNotBetterThanBaseline']);
  });
});

describe('the exact tests', () => {
  it("McNemar's one-sided p: 14 for the candidate and 3 against is nowhere near worse", () => {
    // P(X >= 3 | 17, 1/2) = 1 − (1 + 17 + 136) / 2^17.
    expect(mcNemarWorse(14, 3)).toBeCloseTo(1 - 154 / 131_072, 12);
    expect(mcNemarWorse(0, 5)).toBeCloseTo(1 / 32);
    expect(mcNemarWorse(0, 0)).toBe(1);
  });

  it("Holm's adjustment is monotone in the sorted order and capped at 1", () => {
    expect(holmAdjusted([0.01, 0.04, 0.03]).map((p) => Number(p.toFixed(10)))).toEqual([0.03, 0.06, 0.06]);
    expect(holmAdjusted([0.9, 0.8])).toEqual([1, 1]);
    expect(holmAdjusted([])).toEqual([]);
  });
});

describe('predictedLabels', () => {
  it('takes the first of the highest probabilities, as evaluate does', () => {
    expect(
      predictedLabels(
        ['a', 'b', 'c'],
        [
          [0.2, 0.5, 0.3],
          [0.4, 0.4, 0.2],
        ],
      ),
    ).toEqual(['b', 'a']);
    expect(() => predictedLabels(['a', 'b'], [[1]])).toThrow(RangeError);
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
    const classes = ['ham', 'spam', 'other'];
    const evaluation = evaluate(classes, rows(['ham', 'spam'], classes), ['ham', 'spam']);
    expect(evaluation.macroF1).toBeCloseTo(2 / 3);
    expect(macroF1(evaluation)).toBe(1);
    expect(majorityBaseline(evaluation)).toEqual({ label: 'ham', share: 0.5 });
  });
});
