// Per-class confidence thresholds certified for a target accuracy: the model decides a class only
// at confidences where held-out labels show, with the asked confidence, that its decisions are at
// least that accurate; everything else goes to people. Pure, so the statistics are tested alone.
//
// The labels used here must not also have fitted the model or its calibration (the caller splits
// them): on labels it learned from, a model looks more accurate than it is, and the claim is void.
// What is certified, per class c, is the accuracy of "predicted c with confidence at or above t"
// on traffic like the held-out examples; drift breaks it, hence `lowerBoundsAtThresholds`, which
// keeps checking the chosen thresholds on labels gathered after promotion (the audit sample).
//
// Procedure (Learn then Test, fixed-sequence testing). Each candidate t is a test of "accuracy at
// or above t is below the target", rejected when the Clopper–Pearson lower bound of its k right out
// of n decisions reaches the target, i.e. P(X >= k | n, target) <= alpha. The candidates are the
// distinct confidences of the class's held-out predictions, tested from the highest down, and the
// first failure ends the testing. Why no correction for testing many thresholds: the order is
// fixed before any answer is looked at, so a wrong certification needs the first wrong hypothesis
// in that order to be rejected (everything above it was certified), and that one test errs with
// probability at most alpha. A lower threshold that would pass again after a failure is never
// reached: going on would spend alpha a second time. Two notes on that argument:
// - The candidates are the data's own confidences rather than a grid fixed in advance. The order
//   depends on the confidences only, never on right or wrong; where accuracy falls with confidence
//   (the usual case), the first candidate past the edge of the target adds examples no more accurate
//   than the edge, so the level still holds. The simulation in the tests checks it.
// - A candidate whose set is too small for even all-right answers to reach the target is left out
//   of the sequence rather than counted a failure: otherwise the highest candidate, one decision,
//   would stop everything. With all n right the bound is alpha^(1/n), so a class needs
//   n >= ln(alpha) / ln(target) held-out decisions all right before any threshold can qualify:
//   reaching 0.99 at 95% takes exactly 299 (0.05^(1/298) = 0.98999 < 0.99 <= 0.05^(1/299) = 0.99003),
//   and one wrong answer among them ends the testing. `minDecisions` starts the sequence lower, on a
//   larger set that can absorb a few errors; it is chosen from counts alone as well.
// The guarantee holds for each class on its own; for all classes at once, pass a confidence level
// of 1 - alpha / classes (Bonferroni).

/** One class's certified threshold and the held-out figures behind it. */
export interface ClassThreshold {
  /** Decide this class at confidences at or above this; null: people decide it. */
  threshold: number | null;
  /** Held-out examples predicted as this class, at any confidence. */
  predicted: number;
  /** Held-out decisions at or above the threshold (0 without one). */
  decisions: number;
  /** How many of those were right. */
  correct: number;
  /** Clopper–Pearson lower bound of their accuracy; null without a threshold. */
  lowerBound: number | null;
  /** What happened, with the figures, as one sentence. */
  reason: string;
}

export interface CertifiedThresholds {
  targetAccuracy: number;
  confidenceLevel: number;
  /** Held-out examples used. */
  examples: number;
  perClass: Record<string, ClassThreshold>;
}

export interface CertifyThresholdsInput {
  classes: readonly string[];
  /** One row per held-out example, columns in `classes` order. */
  probabilities: readonly (readonly number[])[];
  /** True labels; one that is not among `classes` counts as wrong. */
  truth: readonly string[];
  /** Accuracy the model's decisions must have, above 0 and at most 1 (e.g. 0.99). */
  targetAccuracy: number;
  /** Confidence of the claim, above 0 and below 1 (e.g. 0.95). */
  confidenceLevel: number;
  /**
   * Fewest held-out decisions a tested threshold may rest on (default 1). Testing never starts
   * below fewestDecisionsToCertify; a larger figure lets the first test absorb a few errors.
   */
  minDecisions?: number;
}

/**
 * What certification rests on, kept with a model version so that its thresholds can be certified
 * again for another target or confidence without the labels: one row per held-out example,
 * [index of the predicted class in `classes`, its confidence, 1 if right else 0].
 */
export interface HeldOutDecisions {
  classes: string[];
  decisions: [number, number, 0 | 1][];
}

/** A class's decisions on new labelled examples at its chosen threshold. */
export interface ThresholdCheck {
  threshold: number | null;
  /** New examples the model decided: predicted as this class at or above the threshold. */
  decisions: number;
  correct: number;
  /** Clopper–Pearson lower bound of their accuracy; null when there were none. */
  lowerBound: number | null;
}

export interface ThresholdCheckInput {
  classes: readonly string[];
  probabilities: readonly (readonly number[])[];
  truth: readonly string[];
  /** Chosen thresholds by class; a class missing or null is never decided by the model. */
  thresholds: Readonly<Record<string, number | null>>;
  confidenceLevel: number;
}

// Bound once: under a VM context (jest's sandbox) every global lookup of Math in these loops costs
// several times the arithmetic it names.
const { abs, exp, log, log1p } = Math;

// Lanczos approximation (g = 7, 9 terms): about 15 significant digits for x > 0.
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

function logGamma(x: number): number {
  if (x < 0.5) return log(Math.PI / abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return 0.5 * log(2 * Math.PI) + (z + 0.5) * log(t) - t + log(sum);
}

const TINY = 1e-300;
const CONVERGED = 1e-15;

/** Continued fraction of the incomplete beta function, by the modified Lentz method (NR's betacf). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  // It converges in O(sqrt(max(a, b))) steps where it is used (x below the mean); far more is a bug.
  const maxSteps = 1000 + 20 * Math.ceil(Math.sqrt(Math.max(a, b)));
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= maxSteps; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (abs(c) < TINY) c = TINY;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (abs(step - 1) < CONVERGED) return h;
  }
  throw new RangeError(`incomplete beta did not converge for x = ${x}, a = ${a}, b = ${b}`);
}

/** The regularised incomplete beta function I_x(a, b), for a, b > 0 and x in [0, 1]. */
function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const logFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * log(x) + b * log1p(-x);
  // The fraction converges fast below the mean a / (a + b); above it, use I_x(a, b) = 1 - I_{1-x}(b, a).
  if (x < (a + 1) / (a + b + 2)) return (exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (exp(logFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/**
 * The p-quantile of Beta(a, b) within [low, high]: Newton's method on I_x(a, b) = p, kept inside a
 * bracket that every evaluation narrows, and bisection whenever a Newton step would leave it.
 */
function betaQuantile(p: number, a: number, b: number, low = 0, high = 1): number {
  const logBeta = logGamma(a) + logGamma(b) - logGamma(a + b);
  let lo = low;
  let hi = high;
  let x = (lo + hi) / 2;
  for (let i = 0; i < 200; i++) {
    const excess = regularizedIncompleteBeta(x, a, b) - p;
    if (excess < 0) lo = x;
    else hi = x;
    const density = exp((a - 1) * log(x) + (b - 1) * log1p(-x) - logBeta);
    const newton = x - excess / density;
    const next = newton > lo && newton < hi ? newton : (lo + hi) / 2;
    if (abs(next - x) < 1e-14 || hi - lo < 1e-15) return next;
    x = next;
  }
  return x;
}

function checkConfidenceLevel(confidenceLevel: number): void {
  if (!(confidenceLevel > 0 && confidenceLevel < 1)) {
    throw new RangeError(`confidence level ${confidenceLevel} is not between 0 and 1`);
  }
}

function checkCounts(k: number, n: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || k > n) {
    throw new RangeError(`${k} right of ${n} is not a count of right answers`);
  }
}

/**
 * One-sided Clopper–Pearson lower bound of an accuracy from k right out of n: the alpha quantile
 * of Beta(k, n - k + 1), alpha = 1 - confidenceLevel, which is the p with P(X >= k | n, p) = alpha.
 * 0 when k = 0 (and so when n = 0).
 */
export function clopperPearsonLower(k: number, n: number, confidenceLevel: number): number {
  checkCounts(k, n);
  checkConfidenceLevel(confidenceLevel);
  if (k === 0) return 0;
  return betaQuantile(1 - confidenceLevel, k, n - k + 1);
}

/**
 * P(X >= k) for X ~ Binomial(n, p): I_p(k, n - k + 1), one incomplete beta however large n is
 * (the promotion gate's exact tests and the certification here share it).
 */
export function binomialTail(k: number, n: number, p: number): number {
  if (!Number.isInteger(k) || !Number.isInteger(n) || n < 0) {
    throw new RangeError(`P(X >= ${k}) of Binomial(${n}, p) needs whole numbers`);
  }
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  return regularizedIncompleteBeta(p, k, n - k + 1);
}

/**
 * Whether k right of n show accuracy of at least the target: P(X >= k | n, target) <= alpha,
 * the same as clopperPearsonLower(k, n) >= target, with one incomplete beta instead of a search.
 */
function reachesTarget(k: number, n: number, targetAccuracy: number, alpha: number): boolean {
  return k > 0 && regularizedIncompleteBeta(targetAccuracy, k, n - k + 1) <= alpha;
}

/**
 * The fewest decisions, all right, whose lower bound reaches the target: the smallest n with
 * alpha^(1/n) >= target (299 for 0.99 at 95%). Infinity for a target of 1. Below it no threshold
 * can qualify.
 */
export function fewestDecisionsToCertify(targetAccuracy: number, confidenceLevel: number): number {
  checkTarget(targetAccuracy);
  checkConfidenceLevel(confidenceLevel);
  if (targetAccuracy === 1) return Infinity;
  const alpha = 1 - confidenceLevel;
  let n = Math.max(1, Math.ceil(log(alpha) / log(targetAccuracy)));
  // The logarithms can land a hair off an exact integer: settle it on the bound itself.
  while (alpha ** (1 / n) < targetAccuracy) n++;
  while (n > 1 && alpha ** (1 / (n - 1)) >= targetAccuracy) n--;
  return n;
}

function checkTarget(targetAccuracy: number): void {
  if (!(targetAccuracy > 0 && targetAccuracy <= 1)) {
    throw new RangeError(`target accuracy ${targetAccuracy} is not above 0 and at most 1`);
  }
}

interface Row {
  predicted: number;
  confidence: number;
  right: boolean;
}

/** The predicted class index and confidence of each row: the first of the highest, as evaluate. */
function predictions(
  classes: readonly string[],
  probabilities: readonly (readonly number[])[],
  truth: readonly string[],
): Row[] {
  if (probabilities.length !== truth.length) {
    throw new RangeError(`${probabilities.length} probability rows for ${truth.length} labels`);
  }
  if (new Set(classes).size !== classes.length) throw new RangeError('the classes repeat a name');
  const index = new Map(classes.map((c, i) => [c, i]));
  return probabilities.map((row, i) => {
    if (row.length !== classes.length) {
      throw new RangeError(`row ${i} has ${row.length} probabilities for ${classes.length} classes`);
    }
    let best = 0;
    for (let c = 0; c < row.length; c++) {
      if (!Number.isFinite(row[c])) throw new RangeError(`row ${i} has a probability ${row[c]}`);
      if (row[c]! > row[best]!) best = c;
    }
    return { predicted: best, confidence: row[best]!, right: index.get(truth[i]!) === best };
  });
}

const percent = (confidenceLevel: number) => `${Number((confidenceLevel * 100).toFixed(4))}%`;
// A lower bound is shown rounded down, so that 0.98999 never reads as reaching 0.99.
const bound4 = (bound: number) => (Math.floor(bound * 1e4) / 1e4).toFixed(4);
const confidence4 = (t: number) => {
  const shown = Number(t.toFixed(4));
  return shown === 1 && t < 1 ? String(t) : String(shown);
};

/** A step of the sequence: a candidate threshold and the decisions at or above it. */
interface Step {
  threshold: number;
  decisions: number;
  correct: number;
}

/**
 * Certifies, for each class, the lowest confidence threshold at which the model's held-out
 * decisions show at least `targetAccuracy` with `confidenceLevel` confidence (see the opening
 * comment for the procedure); a class where none qualifies gets null: people decide it.
 */
export function certifyThresholds(input: CertifyThresholdsInput): CertifiedThresholds {
  const { classes, probabilities, truth, ...settings } = input;
  return certifyRows(classes, predictions(classes, probabilities, truth), settings);
}

/** The held-out predictions to keep with a version (see HeldOutDecisions). */
export function heldOutDecisions(
  classes: readonly string[],
  probabilities: readonly (readonly number[])[],
  truth: readonly string[],
): HeldOutDecisions {
  return {
    classes: [...classes],
    decisions: predictions(classes, probabilities, truth).map((r) => [
      r.predicted,
      r.confidence,
      r.right ? 1 : 0,
    ]),
  };
}

/** certifyThresholds from the held-out predictions a version keeps. */
export function certifyHeldOut(
  heldOut: HeldOutDecisions,
  settings: Pick<CertifyThresholdsInput, 'targetAccuracy' | 'confidenceLevel' | 'minDecisions'>,
): CertifiedThresholds {
  const rows = heldOut.decisions.map(([predicted, confidence, right], i): Row => {
    if (!Number.isInteger(predicted) || predicted < 0 || predicted >= heldOut.classes.length) {
      throw new RangeError(`held-out decision ${i} names class ${predicted} of ${heldOut.classes.length}`);
    }
    if (!(confidence >= 0 && confidence <= 1)) {
      throw new RangeError(`held-out decision ${i} has a confidence ${confidence}`);
    }
    return { predicted, confidence, right: right === 1 };
  });
  return certifyRows(heldOut.classes, rows, settings);
}

function certifyRows(
  classes: readonly string[],
  rows: readonly Row[],
  settings: Pick<CertifyThresholdsInput, 'targetAccuracy' | 'confidenceLevel' | 'minDecisions'>,
): CertifiedThresholds {
  const { targetAccuracy, confidenceLevel, minDecisions = 1 } = settings;
  checkTarget(targetAccuracy);
  checkConfidenceLevel(confidenceLevel);
  if (!Number.isInteger(minDecisions) || minDecisions < 1) {
    throw new RangeError(`minDecisions ${minDecisions} is not a whole number of at least 1`);
  }
  const alpha = 1 - confidenceLevel;
  const fewest = fewestDecisionsToCertify(targetAccuracy, confidenceLevel);
  const start = Math.max(fewest, minDecisions);
  const claim = `with ${percent(confidenceLevel)} confidence (target ${targetAccuracy})`;

  // Object.fromEntries, not assignment, so that a class named "__proto__" is just a class.
  const certifyClass = (label: string, c: number): ClassThreshold => {
    const name = JSON.stringify(label);
    const mine = rows.filter((r) => r.predicted === c).sort((x, y) => y.confidence - x.confidence);
    const none = (reason: string): ClassThreshold => ({
      threshold: null,
      predicted: mine.length,
      decisions: 0,
      correct: 0,
      lowerBound: null,
      reason: `${name}: no threshold qualifies, people decide it: ${reason}`,
    });
    if (mine.length === 0) return none('no held-out example was predicted as it');
    if (mine.length < start) {
      return none(
        `only ${mine.length} held-out examples were predicted as it, ` +
          (fewest === Infinity
            ? 'and no number of decisions shows an accuracy of 1'
            : fewest >= minDecisions
              ? `and even all right, ${targetAccuracy} at ${percent(confidenceLevel)} confidence needs at least ${fewest}`
              : `fewer than the ${minDecisions} decisions a threshold must rest on (minDecisions)`),
      );
    }

    // Distinct confidences from the highest, each with every decision at or above it.
    const steps: Step[] = [];
    let correct = 0;
    mine.forEach((r, i) => {
      if (r.right) correct++;
      const next = mine[i + 1];
      if (next === undefined || next.confidence < r.confidence) {
        steps.push({ threshold: r.confidence, decisions: i + 1, correct });
      }
    });

    let certified: Step | null = null;
    let failed: Step | null = null;
    for (const step of steps) {
      if (step.decisions < start) continue;
      if (!reachesTarget(step.correct, step.decisions, targetAccuracy, alpha)) {
        failed = step;
        break;
      }
      certified = step;
    }

    const figures = (s: Step) => `${s.correct} of ${s.decisions} held-out decisions at or above it right`;
    if (certified === null) {
      // The first step tested failed: there is one, since the class has at least `start` examples.
      const first = failed!;
      return none(
        `at the highest confidence tested, ${confidence4(first.threshold)}, ${figures(first)} show ` +
          `accuracy at least ${bound4(clopperPearsonLower(first.correct, first.decisions, confidenceLevel))} ` +
          claim,
      );
    }
    // Certified means the bound is at least the target: search only there, so the figure agrees.
    const lowerBound = betaQuantile(
      alpha,
      certified.correct,
      certified.decisions - certified.correct + 1,
      targetAccuracy,
      1,
    );
    const stopped =
      failed === null
        ? 'no lower confidence was predicted as it'
        : `at the next lower confidence ${confidence4(failed.threshold)}, ${failed.correct} of ` +
          `${failed.decisions} right show only ` +
          `${bound4(clopperPearsonLower(failed.correct, failed.decisions, confidenceLevel))}, so testing stopped there`;
    return {
      threshold: certified.threshold,
      predicted: mine.length,
      decisions: certified.decisions,
      correct: certified.correct,
      lowerBound,
      reason:
        `${name}: threshold ${confidence4(certified.threshold)}: ${figures(certified)}, ` +
        `accuracy at least ${bound4(lowerBound)} ${claim}; ${stopped}`,
    };
  };

  return {
    targetAccuracy,
    confidenceLevel,
    examples: rows.length,
    perClass: Object.fromEntries(classes.map((label, c) => [label, certifyClass(label, c)])),
  };
}

/**
 * The model's decisions on new labelled examples (e.g. the audit sample after promotion) at
 * thresholds already chosen, per class: how many, how many right, and the Clopper–Pearson lower
 * bound of their accuracy, for a gauge that keeps checking the certified claim.
 */
export function lowerBoundsAtThresholds(input: ThresholdCheckInput): Record<string, ThresholdCheck> {
  const { classes, probabilities, truth, thresholds, confidenceLevel } = input;
  checkConfidenceLevel(confidenceLevel);
  const rows = predictions(classes, probabilities, truth);
  return Object.fromEntries(
    classes.map((label, c) => {
      const threshold = Object.hasOwn(thresholds, label) ? (thresholds[label] ?? null) : null;
      const decided =
        threshold === null ? [] : rows.filter((r) => r.predicted === c && r.confidence >= threshold);
      const correct = decided.filter((r) => r.right).length;
      const check: ThresholdCheck = {
        threshold,
        decisions: decided.length,
        correct,
        lowerBound:
          decided.length === 0 ? null : clopperPearsonLower(correct, decided.length, confidenceLevel),
      };
      return [label, check];
    }),
  );
}

/** What a model version keeps about its certification (the registry's thresholds and held_out). */
export interface KeptCertification {
  thresholds: CertifiedThresholds | null;
  heldOut: HeldOutDecisions | null;
}

/**
 * The thresholds that apply to a version under a target accuracy and confidence level: those it
 * was certified with when they are for the same, else certified again from the held-out
 * predictions it keeps; null when it keeps neither (people decide all it predicts). The router
 * routes by these, and `hitl policy show` shows them.
 */
export function thresholdsForTarget(
  kept: KeptCertification,
  target: { targetAccuracy: number; confidenceLevel: number },
): { source: 'stored' | 'recertified'; certified: CertifiedThresholds } | null {
  const stored = kept.thresholds;
  if (
    stored &&
    stored.targetAccuracy === target.targetAccuracy &&
    stored.confidenceLevel === target.confidenceLevel
  ) {
    return { source: 'stored', certified: stored };
  }
  if (!kept.heldOut) return null;
  return { source: 'recertified', certified: certifyHeldOut(kept.heldOut, target) };
}
