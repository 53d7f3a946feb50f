import { describe, expect, it } from '@jest/globals';
import { mulberry32 } from '@hitl/model/random';
import {
  binomialTail,
  certifyHeldOut,
  certifyThresholds,
  clopperPearsonLower,
  fewestDecisionsToCertify,
  heldOutDecisions,
  lowerBoundsAtThresholds,
  thresholdsForTarget,
  type HeldOutDecisions,
} from '../src/thresholds';

// Bound once: global lookups are slow inside jest's sandbox, and these loops are hot.
const { exp, log, log1p } = Math;

/** P(X >= k) for X ~ Binomial(n, p), summed in log space: the definition the bound inverts. */
function summedBinomialTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  const logTerms: number[] = [];
  let logChoose = 0; // log C(n, k), built up to k first
  for (let j = 1; j <= k; j++) logChoose += log((n - k + j) / j);
  for (let i = k; i <= n; i++) {
    logTerms.push(logChoose + i * log(p) + (n - i) * log1p(-p));
    logChoose += log((n - i) / (i + 1));
  }
  const top = Math.max(...logTerms);
  return exp(top) * logTerms.reduce((sum, l) => sum + exp(l - top), 0);
}

/** The Clopper–Pearson lower bound by a second method: bisection on P(X >= k | n, p) = alpha. */
function lowerByBinomialTail(k: number, n: number, confidenceLevel: number): number {
  const alpha = 1 - confidenceLevel;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (summedBinomialTail(k, n, mid) < alpha) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

interface Draw {
  label: string;
  confidence: number;
  right: boolean;
}

/**
 * Probability rows predicting each draw's label with its confidence (the rest shared by the other
 * classes; confidences above 1/2 keep it the highest), and true labels that agree when it is right.
 */
function heldOut(classes: readonly string[], draws: readonly Draw[]) {
  const probabilities = draws.map(({ label, confidence }) =>
    classes.map((c) => (c === label ? confidence : (1 - confidence) / (classes.length - 1))),
  );
  const truth = draws.map(({ label, right }) =>
    right ? label : classes[(classes.indexOf(label) + 1) % classes.length]!,
  );
  return { classes, probabilities, truth };
}

const classes = ['ham', 'spam', 'phish'];

describe('clopperPearsonLower', () => {
  it('is alpha^(1/n) when all n are right: 0.74113 for 10 of 10 at 95%', () => {
    expect(clopperPearsonLower(10, 10, 0.95)).toBeCloseTo(0.05 ** (1 / 10), 10);
    expect(clopperPearsonLower(10, 10, 0.95)).toBeCloseTo(0.74113, 5);
    for (const confidenceLevel of [0.8, 0.9, 0.95, 0.99, 0.999]) {
      for (const n of [1, 2, 5, 30, 298, 299, 1000, 20_000]) {
        expect(clopperPearsonLower(n, n, confidenceLevel)).toBeCloseTo((1 - confidenceLevel) ** (1 / n), 10);
      }
    }
  });

  it('gives 0.89775 for 95 of 100 at 95%, as the binomial tail does', () => {
    const bound = clopperPearsonLower(95, 100, 0.95);
    expect(bound).toBeCloseTo(0.89775, 5);
    expect(Math.abs(bound - lowerByBinomialTail(95, 100, 0.95))).toBeLessThan(1e-9);
  });

  it('agrees with bisection on the exact binomial tail to 1e-9 over many counts', () => {
    for (const confidenceLevel of [0.9, 0.95, 0.99]) {
      for (const n of [1, 3, 7, 40, 250, 2000]) {
        for (const k of new Set([1, Math.floor(n / 3), Math.floor(n / 2), Math.floor(0.9 * n), n - 1, n])) {
          if (k < 1) continue;
          const bound = clopperPearsonLower(k, n, confidenceLevel);
          expect(Math.abs(bound - lowerByBinomialTail(k, n, confidenceLevel))).toBeLessThan(1e-9);
        }
      }
    }
  });

  it('is 0 without a right answer and rises with every right answer', () => {
    expect(clopperPearsonLower(0, 0, 0.95)).toBe(0);
    expect(clopperPearsonLower(0, 60, 0.95)).toBe(0);
    for (let k = 1; k <= 60; k++) {
      expect(clopperPearsonLower(k, 60, 0.95)).toBeGreaterThan(clopperPearsonLower(k - 1, 60, 0.95));
    }
    // And falls as the same right answers are spread over more decisions.
    expect(clopperPearsonLower(50, 51, 0.95)).toBeLessThan(clopperPearsonLower(50, 50, 0.95));
  });

  it('refuses counts that are not counts and confidence levels outside (0, 1)', () => {
    expect(() => clopperPearsonLower(11, 10, 0.95)).toThrow(RangeError);
    expect(() => clopperPearsonLower(2.5, 10, 0.95)).toThrow(RangeError);
    expect(() => clopperPearsonLower(-1, 10, 0.95)).toThrow(RangeError);
    expect(() => clopperPearsonLower(5, 10, 1)).toThrow(RangeError);
    expect(() => clopperPearsonLower(5, 10, 0)).toThrow(RangeError);
  });
});

describe('fewestDecisionsToCertify', () => {
  it('is 299 for 0.99 at 95%: 298 all right fall short, 299 reach it', () => {
    expect(fewestDecisionsToCertify(0.99, 0.95)).toBe(299);
    expect(0.05 ** (1 / 298)).toBeLessThan(0.99);
    expect(0.05 ** (1 / 299)).toBeGreaterThanOrEqual(0.99);
    expect(clopperPearsonLower(298, 298, 0.95)).toBeLessThan(0.99);
    expect(clopperPearsonLower(299, 299, 0.95)).toBeGreaterThanOrEqual(0.99);
  });

  it('is ln(alpha) / ln(target) rounded up for other targets', () => {
    expect(fewestDecisionsToCertify(0.9, 0.95)).toBe(29);
    expect(fewestDecisionsToCertify(0.95, 0.95)).toBe(59);
    expect(fewestDecisionsToCertify(0.99, 0.99)).toBe(459);
    expect(fewestDecisionsToCertify(1, 0.95)).toBe(Infinity);
  });
});

describe('certifyThresholds', () => {
  it('gives a well-separated class with thousands of examples a threshold its decisions meet', () => {
    const random = mulberry32(7);
    const draws = Array.from({ length: 4000 }, (): Draw => {
      const confidence = 0.5 + 0.5 * random();
      return { label: 'spam', confidence, right: random() < (confidence >= 0.8 ? 0.999 : 0.6) };
    });
    // 1000 decisions in the first test let it absorb the odd error at the top.
    const result = certifyThresholds({
      ...heldOut(classes, draws),
      targetAccuracy: 0.99,
      confidenceLevel: 0.95,
      minDecisions: 1000,
    });
    const spam = result.perClass.spam!;
    expect(spam.threshold).not.toBeNull();
    // Near the edge of the accurate region, not far above it.
    expect(spam.threshold!).toBeGreaterThan(0.77);
    expect(spam.threshold!).toBeLessThan(0.83);
    const decided = draws.filter((d) => d.confidence >= spam.threshold!);
    expect(spam.decisions).toBe(decided.length);
    expect(spam.correct).toBe(decided.filter((d) => d.right).length);
    expect(spam.correct / spam.decisions).toBeGreaterThanOrEqual(0.99);
    expect(spam.lowerBound!).toBeGreaterThanOrEqual(0.99);
    expect(spam.lowerBound!).toBeCloseTo(clopperPearsonLower(spam.correct, spam.decisions, 0.95), 9);
    expect(result.examples).toBe(4000);
    expect(spam.predicted).toBe(4000);
    expect(spam.reason).toMatch(
      /^"spam": threshold 0\.\d+: \d+ of \d+ held-out decisions at or above it right, accuracy at least 0\.99\d\d with 95% confidence \(target 0\.99\); at the next lower confidence 0\.\d+, \d+ of \d+ right show only 0\.98\d\d, so testing stopped there$/,
    );
  });

  it('gives null to a class that is right 9 times in 10 at every confidence, for a 0.99 target', () => {
    const random = mulberry32(11);
    const draws = Array.from({ length: 3000 }, (): Draw => ({
      label: 'ham',
      confidence: 0.5 + 0.5 * random(),
      right: random() < 0.9,
    }));
    const data = heldOut(classes, draws);
    const ham = certifyThresholds({ ...data, targetAccuracy: 0.99, confidenceLevel: 0.95 }).perClass.ham!;
    expect(ham).toMatchObject({
      threshold: null,
      decisions: 0,
      correct: 0,
      lowerBound: null,
      predicted: 3000,
    });
    expect(ham.reason).toMatch(
      /^"ham": no threshold qualifies, people decide it: at the highest confidence tested, 0\.\d+, \d+ of 299 held-out decisions at or above it right show accuracy at least 0\.\d+ with 95% confidence \(target 0\.99\)$/,
    );
    // The same decisions do qualify for a target they meet.
    expect(
      certifyThresholds({ ...data, targetAccuracy: 0.85, confidenceLevel: 0.95 }).perClass.ham!.threshold,
    ).not.toBeNull();
  });

  it('gives null to 50 examples all right for 0.99 at 95% (299 needed) but a threshold for 0.9', () => {
    const draws = Array.from({ length: 50 }, (_, i): Draw => ({
      label: 'spam',
      confidence: 0.99 - i * 0.005,
      right: true,
    }));
    const data = heldOut(classes, draws);
    const strict = certifyThresholds({ ...data, targetAccuracy: 0.99, confidenceLevel: 0.95 }).perClass.spam!;
    expect(strict.threshold).toBeNull();
    expect(strict.reason).toBe(
      '"spam": no threshold qualifies, people decide it: only 50 held-out examples were predicted as it, and even all right, 0.99 at 95% confidence needs at least 299',
    );
    const loose = certifyThresholds({ ...data, targetAccuracy: 0.9, confidenceLevel: 0.95 }).perClass.spam!;
    // Every step down passes, so the threshold is the lowest confidence seen.
    expect(loose).toMatchObject({ threshold: 0.99 - 49 * 0.005, decisions: 50, correct: 50 });
    expect(loose.lowerBound!).toBeCloseTo(0.05 ** (1 / 50), 9);
    expect(loose.reason).toBe(
      '"spam": threshold 0.745: 50 of 50 held-out decisions at or above it right, accuracy at least 0.9418 with 95% confidence (target 0.9); no lower confidence was predicted as it',
    );
  });

  it('stops at the first failure even when a lower threshold would pass again', () => {
    // 100 right at the top, then 20 wrong, then 2000 right: the whole set would pass.
    const draws: Draw[] = [
      ...Array.from({ length: 100 }, (_, i): Draw => ({
        label: 'spam',
        confidence: 0.99 - i * 1e-4,
        right: true,
      })),
      ...Array.from({ length: 20 }, (_, i): Draw => ({
        label: 'spam',
        confidence: 0.97 - i * 1e-4,
        right: false,
      })),
      ...Array.from({ length: 2000 }, (_, i): Draw => ({
        label: 'spam',
        confidence: 0.9 - i * 1e-4,
        right: true,
      })),
    ];
    expect(clopperPearsonLower(2100, 2120, 0.95)).toBeGreaterThan(0.9);
    // The last step that passes: 100 right of 100 + w.
    let wrongAdmitted = 0;
    while (clopperPearsonLower(100, 100 + wrongAdmitted + 1, 0.95) >= 0.9) wrongAdmitted++;
    expect(wrongAdmitted).toBeGreaterThan(0);
    expect(wrongAdmitted).toBeLessThan(20);

    const spam = certifyThresholds({ ...heldOut(classes, draws), targetAccuracy: 0.9, confidenceLevel: 0.95 })
      .perClass.spam!;
    expect(spam.threshold).toBe(draws[100 + wrongAdmitted - 1]!.confidence);
    expect(spam.threshold!).toBeGreaterThan(draws[100 + wrongAdmitted]!.confidence);
    expect(spam).toMatchObject({ decisions: 100 + wrongAdmitted, correct: 100 });
    expect(spam.reason).toContain(
      `at the next lower confidence ${draws[100 + wrongAdmitted]!.confidence}, 100 of ${101 + wrongAdmitted} right show only`,
    );
  });

  it('takes examples with the same confidence together', () => {
    // 95 of 100 right at exactly 0.97, then 100 wrong at 0.8.
    const draws: Draw[] = [
      ...Array.from({ length: 100 }, (_, i): Draw => ({ label: 'ham', confidence: 0.97, right: i >= 5 })),
      ...Array.from({ length: 100 }, (): Draw => ({ label: 'ham', confidence: 0.8, right: false })),
    ];
    const ham = certifyThresholds({ ...heldOut(classes, draws), targetAccuracy: 0.85, confidenceLevel: 0.95 })
      .perClass.ham!;
    expect(ham).toMatchObject({ threshold: 0.97, decisions: 100, correct: 95 });
    expect(ham.lowerBound!).toBeCloseTo(0.89775, 5);
  });

  it('starts lower with minDecisions, so one error at the top does not end the testing', () => {
    const draws = Array.from({ length: 2000 }, (_, i): Draw => ({
      label: 'spam',
      confidence: 0.999 - i * 1e-4,
      right: i !== 0,
    }));
    const data = heldOut(classes, draws);
    const byDefault = certifyThresholds({ ...data, targetAccuracy: 0.99, confidenceLevel: 0.95 }).perClass
      .spam!;
    expect(byDefault.threshold).toBeNull();
    expect(byDefault.reason).toContain('298 of 299 held-out decisions at or above it right');
    const started = certifyThresholds({
      ...data,
      targetAccuracy: 0.99,
      confidenceLevel: 0.95,
      minDecisions: 1000,
    }).perClass.spam!;
    expect(started).toMatchObject({ threshold: draws[1999]!.confidence, decisions: 2000, correct: 1999 });

    const few = certifyThresholds({
      ...data,
      targetAccuracy: 0.99,
      confidenceLevel: 0.95,
      minDecisions: 5000,
    }).perClass.spam!;
    expect(few.reason).toBe(
      '"spam": no threshold qualifies, people decide it: only 2000 held-out examples were predicted as it, fewer than the 5000 decisions a threshold must rest on (minDecisions)',
    );
  });

  it('says so for a class nobody predicted, and counts labels outside the classes as wrong', () => {
    const draws = Array.from({ length: 40 }, (_, i): Draw => ({
      label: 'spam',
      confidence: 0.9 - i * 0.001,
      right: true,
    }));
    const data = heldOut(classes, draws);
    // The lowest: a wrong answer at the top would end the testing at once.
    const truth = data.truth.map((t, i) => (i === 39 ? 'not-a-class' : t));
    const result = certifyThresholds({ ...data, truth, targetAccuracy: 0.8, confidenceLevel: 0.95 });
    expect(result.perClass.phish).toEqual({
      threshold: null,
      predicted: 0,
      decisions: 0,
      correct: 0,
      lowerBound: null,
      reason: '"phish": no threshold qualifies, people decide it: no held-out example was predicted as it',
    });
    expect(result.perClass.spam).toMatchObject({ decisions: 40, correct: 39 });
  });

  it('refuses rows that do not fit the classes and targets outside their range', () => {
    const data = heldOut(classes, [{ label: 'ham', confidence: 0.9, right: true }]);
    const ok = { ...data, targetAccuracy: 0.9, confidenceLevel: 0.95 };
    expect(() => certifyThresholds({ ...ok, truth: [] })).toThrow(RangeError);
    expect(() => certifyThresholds({ ...ok, probabilities: [[0.9, 0.1]] })).toThrow(RangeError);
    expect(() => certifyThresholds({ ...ok, probabilities: [[Number.NaN, 0.1, 0.1]] })).toThrow(RangeError);
    expect(() => certifyThresholds({ ...ok, targetAccuracy: 0 })).toThrow(RangeError);
    expect(() => certifyThresholds({ ...ok, confidenceLevel: 1 })).toThrow(RangeError);
    expect(() => certifyThresholds({ ...ok, minDecisions: 0 })).toThrow(RangeError);
    expect(certifyThresholds({ ...ok, targetAccuracy: 1 }).perClass.ham!.reason).toBe(
      '"ham": no threshold qualifies, people decide it: only 1 held-out examples were predicted as it, and no number of decisions shows an accuracy of 1',
    );
  });
});

describe('lowerBoundsAtThresholds', () => {
  it('bounds the accuracy of the decisions new labels show at the chosen thresholds', () => {
    const draws: Draw[] = [
      ...Array.from({ length: 30 }, (_, i): Draw => ({ label: 'spam', confidence: 0.95, right: i !== 0 })),
      { label: 'spam', confidence: 0.9, right: true }, // at the threshold: decided
      { label: 'spam', confidence: 0.85, right: false }, // below it: people decided
      ...Array.from({ length: 10 }, (): Draw => ({ label: 'ham', confidence: 0.99, right: true })),
      { label: 'phish', confidence: 0.99, right: true },
    ];
    const data = heldOut(classes, draws);
    const truth = data.truth.map((t, i) => (i === 1 ? 'unknown' : t)); // a label outside: wrong
    const checks = lowerBoundsAtThresholds({
      ...data,
      truth,
      thresholds: { spam: 0.9, ham: null },
      confidenceLevel: 0.95,
    });
    expect(checks.spam).toEqual({
      threshold: 0.9,
      decisions: 31,
      correct: 29,
      lowerBound: clopperPearsonLower(29, 31, 0.95),
    });
    expect(checks.ham).toEqual({ threshold: null, decisions: 0, correct: 0, lowerBound: null });
    expect(checks.phish).toEqual({ threshold: null, decisions: 0, correct: 0, lowerBound: null });
  });
});

describe('certified thresholds hold their confidence level (simulation)', () => {
  const draws = 200;
  const binary = ['yes', 'no'];

  it('certifies a class that is just below the target in at most about alpha of the held-out sets', () => {
    // Right 94.9% of the time at every confidence: any threshold certified for 0.95 is an error.
    const random = mulberry32(2024);
    let wrongClaims = 0;
    for (let d = 0; d < draws; d++) {
      const sample = Array.from({ length: 1000 }, (): Draw => ({
        label: 'yes',
        confidence: 0.5 + 0.5 * random(),
        right: random() < 0.949,
      }));
      const yes = certifyThresholds({
        ...heldOut(binary, sample),
        targetAccuracy: 0.95,
        confidenceLevel: 0.95,
      }).perClass.yes!;
      if (yes.threshold !== null) wrongClaims++;
    }
    expect(wrongClaims / draws).toBeLessThanOrEqual(0.1);
  });

  it('keeps the true accuracy above the chosen threshold at the target in about 95% of the sets', () => {
    // Confidence uniform on [0.5, 1], right with probability 0.6 + 0.4 × confidence, so the true
    // accuracy at or above t is 0.8 + 0.2 t: at least 0.95 exactly for t >= 0.75.
    const trueAccuracyAbove = (t: number) => 0.8 + 0.2 * t;
    const random = mulberry32(99);
    let wrongClaims = 0;
    let certified = 0;
    for (let d = 0; d < draws; d++) {
      const sample = Array.from({ length: 2000 }, (): Draw => {
        const confidence = 0.5 + 0.5 * random();
        return { label: 'yes', confidence, right: random() < 0.6 + 0.4 * confidence };
      });
      const yes = certifyThresholds({
        ...heldOut(binary, sample),
        targetAccuracy: 0.95,
        confidenceLevel: 0.95,
        minDecisions: 200,
      }).perClass.yes!;
      if (yes.threshold === null) continue;
      certified++;
      if (trueAccuracyAbove(yes.threshold) < 0.95) wrongClaims++;
    }
    expect(wrongClaims / draws).toBeLessThanOrEqual(0.1);
    // And it is not valid by refusing everything: most sets do get a threshold.
    expect(certified / draws).toBeGreaterThan(0.9);
  });
});

describe('binomialTail', () => {
  it('binomialTail is the upper tail of the binomial, exact in small cases', () => {
    expect(binomialTail(1, 1, 0.5)).toBeCloseTo(0.5, 14);
    expect(binomialTail(0, 10, 0.3)).toBe(1);
    expect(binomialTail(11, 10, 0.3)).toBe(0);
    expect(binomialTail(3, 4, 0.5)).toBeCloseTo(5 / 16);
    expect(binomialTail(5, 10, 1)).toBe(1);
    // Large n neither overflows nor underflows.
    expect(binomialTail(5_000, 10_000, 0.5)).toBeCloseTo(0.504, 3);
    expect(binomialTail(6_000, 10_000, 0.5)).toBeLessThan(1e-80);
    // The incomplete beta agrees with the term-by-term sum it replaces.
    for (const [k, n, p] of [
      [3, 17, 0.5],
      [290, 300, 0.97],
      [40, 1000, 0.05],
    ] as const) {
      expect(binomialTail(k, n, p)).toBeCloseTo(summedBinomialTail(k, n, p), 12);
    }
  });
});

describe('certifyHeldOut', () => {
  it('certifies from the held-out decisions a version keeps exactly as from the probabilities', () => {
    const random = mulberry32(5);
    const classes = ['a', 'b', 'c'];
    const probabilities: number[][] = [];
    const truth: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const predicted = Math.floor(random() * 3);
      const confidence = 0.4 + 0.6 * random();
      const row = [0, 0, 0].map((_, c) => (c === predicted ? confidence : (1 - confidence) / 2));
      probabilities.push(row);
      // Right with probability rising with confidence, so that thresholds exist and differ.
      truth.push(random() < confidence + 0.1 ? classes[predicted]! : classes[(predicted + 1) % 3]!);
    }
    const settings = { targetAccuracy: 0.95, confidenceLevel: 0.9 };
    const direct = certifyThresholds({ classes, probabilities, truth, ...settings });
    const kept = heldOutDecisions(classes, probabilities, truth);
    expect(kept.decisions).toHaveLength(3000);
    const again = certifyHeldOut(JSON.parse(JSON.stringify(kept)) as HeldOutDecisions, settings);
    expect(again).toEqual(direct);
    expect(Object.values(again.perClass).some((c) => c.threshold !== null)).toBe(true);
  });

  it('refuses a kept decision that names a class the version does not have', () => {
    expect(() =>
      certifyHeldOut(
        { classes: ['a', 'b'], decisions: [[2, 0.9, 1]] },
        { targetAccuracy: 0.9, confidenceLevel: 0.9 },
      ),
    ).toThrow(/names class 2 of 2/);
  });
});

describe('thresholdsForTarget', () => {
  const heldOut: HeldOutDecisions = {
    classes: ['a', 'b'],
    decisions: Array.from({ length: 600 }, (_, i): [number, number, 0 | 1] => [i % 2, 0.5 + i / 1200, 1]),
  };
  const target = { targetAccuracy: 0.95, confidenceLevel: 0.9 };
  const stored = certifyHeldOut(heldOut, target);

  it('applies the stored thresholds when they were certified for the same target and confidence', () => {
    expect(thresholdsForTarget({ thresholds: stored, heldOut: null }, target)).toEqual({
      source: 'stored',
      certified: stored,
    });
  });

  it('certifies again from the held-out predictions for another target, or gives none without them', () => {
    const other = { targetAccuracy: 0.99, confidenceLevel: 0.95 };
    expect(thresholdsForTarget({ thresholds: stored, heldOut }, other)).toEqual({
      source: 'recertified',
      certified: certifyHeldOut(heldOut, other),
    });
    expect(thresholdsForTarget({ thresholds: stored, heldOut: null }, other)).toBeNull();
    expect(thresholdsForTarget({ thresholds: null, heldOut: null }, target)).toBeNull();
  });
});
