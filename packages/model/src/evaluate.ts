/** Figures for one class. */
export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** How many examples truly are this class. */
  support: number;
}

export interface Evaluation {
  examples: number;
  accuracy: number;
  macroF1: number;
  /** Mean negative log-likelihood of the true class, probabilities clipped to [1e-15, 1]. */
  logLoss: number;
  /** Expected calibration error over equal-width confidence bins. */
  ece: number;
  perClass: Record<string, ClassMetrics>;
  /** confusion[truth][predicted] = count. */
  confusion: Record<string, Record<string, number>>;
}

export interface EvaluateOptions {
  /** Confidence bins for the calibration error (default 10). */
  bins?: number;
}

const EPSILON = 1e-15;

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

/**
 * Scores predicted probability rows (one per example, columns in `classes` order) against the
 * true labels. The trainer's promotion gate and the benchmarks use this same code.
 */
export function evaluate(
  classes: readonly string[],
  probabilities: readonly (readonly number[])[],
  truth: readonly string[],
  { bins = 10 }: EvaluateOptions = {},
): Evaluation {
  if (probabilities.length !== truth.length) {
    throw new RangeError(`${probabilities.length} probability rows for ${truth.length} labels`);
  }
  const index = new Map(classes.map((c, i) => [c, i]));
  const confusion: Record<string, Record<string, number>> = {};
  for (const t of classes) confusion[t] = Object.fromEntries(classes.map((p) => [p, 0]));
  const binCount = new Array<number>(bins).fill(0);
  const binConfidence = new Array<number>(bins).fill(0);
  const binCorrect = new Array<number>(bins).fill(0);
  let correct = 0;
  let logLoss = 0;

  probabilities.forEach((row, i) => {
    const label = truth[i]!;
    const trueIndex = index.get(label);
    if (trueIndex === undefined) throw new RangeError(`label "${label}" is not one of the classes`);
    if (row.length !== classes.length) {
      throw new RangeError(`row ${i} has ${row.length} probabilities for ${classes.length} classes`);
    }
    let best = 0;
    for (let c = 1; c < row.length; c++) if (row[c]! > row[best]!) best = c;
    const predicted = classes[best]!;
    confusion[label]![predicted]!++;
    const hit = best === trueIndex;
    if (hit) correct++;
    logLoss -= Math.log(Math.min(1, Math.max(EPSILON, row[trueIndex]!)));
    const confidence = row[best]!;
    const bin = Math.min(bins - 1, Math.floor(confidence * bins));
    binCount[bin]!++;
    binConfidence[bin]! += confidence;
    if (hit) binCorrect[bin]!++;
  });

  const n = truth.length;
  const perClass: Record<string, ClassMetrics> = {};
  for (const c of classes) {
    const tp = confusion[c]![c]!;
    const support = classes.reduce((sum, p) => sum + confusion[c]![p]!, 0);
    const predictedAs = classes.reduce((sum, t) => sum + confusion[t]![c]!, 0);
    const precision = ratio(tp, predictedAs);
    const recall = ratio(tp, support);
    perClass[c] = { precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    if (binCount[b] === 0) continue;
    ece += (binCount[b]! / n) * Math.abs(binCorrect[b]! / binCount[b]! - binConfidence[b]! / binCount[b]!);
  }
  return {
    examples: n,
    accuracy: ratio(correct, n),
    macroF1: ratio(
      classes.reduce((sum, c) => sum + perClass[c]!.f1, 0),
      classes.length,
    ),
    logLoss: ratio(logLoss, n),
    ece,
    perClass,
    confusion,
  };
}
