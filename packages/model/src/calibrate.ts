// Temperature scaling, pure. A softmax model's probabilities are softmax(z), z = W·x + b; dividing
// z by one scalar T keeps every prediction's ranking and only changes how sure the model says it
// is. T is fitted by log-loss on held-out human labels, then folded into the parameters
// (W/T, b/T) rather than applied at serving time, so that every consumer of the ONNX file (the
// inference service, an operator with onnxruntime, a notebook) gets calibrated probabilities with
// no extra step to forget. The fit has a Gaussian prior on ln T centred on T = 1: a young model
// judged on a few labels it got all right would otherwise be driven to T → 0 and made overconfident.
//
// Why a grid scan before golden-section search: the summed NLL is convex in 1/T, hence unimodal in
// u = ln T, but it is not convex in u (negative curvature shows up at large T) and adding the prior
// need not keep it unimodal; a 33-point scan followed by a local golden-section refinement finds
// the global minimum on the clamp interval without relying on either property.
import { linearPredictor, textPredictor, type Classifier } from './train';
import type { OnnxClassifier } from './load';

export interface TemperatureFitOptions {
  /** Lower clamp on T (default 0.2). */
  minTemperature?: number;
  /** Upper clamp on T (default 5). */
  maxTemperature?: number;
  /** Weight w of the prior w·(ln T)²/2 added to the summed negative log-likelihood (default 2). */
  priorWeight?: number;
  /** Fewer held-out rows than this and T stays 1 (default 20). */
  minExamples?: number;
}

export interface TemperatureFit {
  temperature: number;
  examples: number;
  /** Mean negative log-likelihood of the true class at T = 1 and at the fitted T. */
  logLossBefore: number;
  logLossAfter: number;
  /** False when there were too few examples to fit; temperature is then 1. */
  fitted: boolean;
  /** A sentence with the figures, for the training round's log and the model card. */
  reason: string;
}

/** Probabilities are clipped here before the log, as `evaluate` clips them for its log-loss. */
const PROBABILITY_FLOOR = 1e-15;
const SCAN_POINTS = 33;
const GOLDEN = (Math.sqrt(5) - 1) / 2;
const U_TOLERANCE = 1e-7;

function checkTemperature(temperature: number): void {
  if (!Number.isFinite(temperature) || temperature <= 0) {
    throw new RangeError(`temperature must be a finite number above 0, got ${temperature}`);
  }
}

function logRow(row: readonly number[]): number[] {
  return row.map((p) => Math.log(Math.max(PROBABILITY_FLOOR, p)));
}

function softmaxScaled(logits: readonly number[], temperature: number): number[] {
  let max = -Infinity;
  for (const z of logits) if (z > max) max = z;
  const exps = logits.map((z) => Math.exp((z - max) / temperature));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/**
 * softmax(log(p)/T) per row. log p differs from the model's logits by a constant per row, which
 * the softmax cancels, so this is softmax(z/T): what the model would say with its W and b divided
 * by T. T > 1 flattens the rows, T < 1 sharpens them.
 */
export function applyTemperature(
  probabilities: readonly (readonly number[])[],
  temperature: number,
): number[][] {
  checkTemperature(temperature);
  return probabilities.map((row) => softmaxScaled(logRow(row), temperature));
}

/**
 * Summed negative log-likelihood of the true classes at temperature e^u. The log-sum-exp is taken as
 * log1p of the terms other than the largest, which keeps its digits when the model is very sure
 * (a loss of 1e-10 per row would otherwise vanish into 1 + 1e-10 and flatten the objective).
 */
function summedNll(logits: readonly (readonly number[])[], truth: readonly number[], u: number): number {
  const inverse = Math.exp(-u);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const row = logits[i]!;
    let top = 0;
    for (let c = 1; c < row.length; c++) if (row[c]! > row[top]!) top = c;
    const max = row[top]!;
    let rest = 0;
    for (let c = 0; c < row.length; c++) if (c !== top) rest += Math.exp((row[c]! - max) * inverse);
    total += Math.log1p(rest) + (max - row[truth[i]!]!) * inverse;
  }
  return total;
}

function figure(x: number): string {
  return String(Number(x.toPrecision(3)));
}

/**
 * Fits the temperature that minimises the log-loss of `probabilities` (rows from the model being
 * calibrated, on held-out examples) against `truth` (the true class index of each row), under a
 * prior pulling ln T towards 0 and with T clamped to [minTemperature, maxTemperature].
 */
export function fitTemperature(
  probabilities: readonly (readonly number[])[],
  truth: readonly number[],
  options: TemperatureFitOptions = {},
): TemperatureFit {
  const { minTemperature = 0.2, maxTemperature = 5, priorWeight = 2, minExamples = 20 } = options;
  if (!(minTemperature > 0) || !(maxTemperature >= minTemperature) || !Number.isFinite(maxTemperature)) {
    throw new RangeError(
      `need 0 < minTemperature ≤ maxTemperature < ∞, got ${minTemperature} and ${maxTemperature}`,
    );
  }
  if (!(priorWeight >= 0)) throw new RangeError(`priorWeight must be at least 0, got ${priorWeight}`);
  if (probabilities.length !== truth.length) {
    throw new RangeError(`${probabilities.length} probability rows for ${truth.length} labels`);
  }
  truth.forEach((t, i) => {
    const width = probabilities[i]!.length;
    if (!Number.isInteger(t) || t < 0 || t >= width) {
      throw new RangeError(`row ${i}: true class index ${t} is not one of its ${width} columns`);
    }
  });

  const examples = probabilities.length;
  const logits = probabilities.map(logRow);
  const meanLogLoss = (u: number): number => (examples === 0 ? 0 : summedNll(logits, truth, u) / examples);
  const logLossBefore = meanLogLoss(0);
  if (examples < minExamples) {
    return {
      temperature: 1,
      examples,
      logLossBefore,
      logLossAfter: logLossBefore,
      fitted: false,
      reason: `temperature left at 1: ${examples} held-out labels, fewer than the ${minExamples} needed to fit one`,
    };
  }

  const objective = (u: number): number => summedNll(logits, truth, u) + (priorWeight * u * u) / 2;
  const low = Math.log(minTemperature);
  const high = Math.log(maxTemperature);
  const step = (high - low) / (SCAN_POINTS - 1);
  let best = 0;
  let bestValue = Infinity;
  for (let k = 0; k < SCAN_POINTS; k++) {
    const value = objective(low + k * step);
    if (value < bestValue) {
      bestValue = value;
      best = k;
    }
  }
  // Golden-section search between the scan's neighbours of its best point.
  let a = low + Math.max(0, best - 1) * step;
  let b = low + Math.min(SCAN_POINTS - 1, best + 1) * step;
  let c = b - GOLDEN * (b - a);
  let d = a + GOLDEN * (b - a);
  let fc = objective(c);
  let fd = objective(d);
  while (b - a > U_TOLERANCE) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - GOLDEN * (b - a);
      fc = objective(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + GOLDEN * (b - a);
      fd = objective(d);
    }
  }
  let u = (a + b) / 2;
  // The scan's grid point (the clamp bounds included) stands if the refinement did no better.
  if (objective(u) > bestValue) u = low + best * step;
  // A minimum within the search's tolerance of a bound is that bound, reported exactly.
  const atLow = u - low <= 2 * U_TOLERANCE;
  const atHigh = !atLow && high - u <= 2 * U_TOLERANCE;
  const temperature = atLow ? minTemperature : atHigh ? maxTemperature : Math.exp(u);
  const logLossAfter = meanLogLoss(Math.log(temperature));
  const clamp = atLow
    ? ` (held at the lower bound ${figure(minTemperature)})`
    : atHigh
      ? ` (held at the upper bound ${figure(maxTemperature)})`
      : '';
  return {
    temperature,
    examples,
    logLossBefore,
    logLossAfter,
    fitted: true,
    reason: `temperature ${figure(temperature)}${clamp} fitted by log-loss on ${examples} held-out labels: log-loss ${figure(logLossBefore)} → ${figure(logLossAfter)}`,
  };
}

/**
 * A copy of `model` with its weights and bias divided by `temperature`, so its predictProba (and
 * its ONNX export) give the calibrated probabilities. Values are rounded to float32 like the
 * trained parameters, so the graph holds exactly the numbers predictProba uses. The copy's
 * `temperature` is the total divided in so far: calibrating a calibrated model multiplies them.
 */
export function withTemperature<M extends Classifier>(model: M, temperature: number): M {
  checkTemperature(temperature);
  const weights = model.weights.map((row) => row.map((w) => Math.fround(w / temperature)));
  const bias = model.bias.map((v) => Math.fround(v / temperature));
  const total = (model.temperature ?? 1) * temperature;
  // The spread keeps every other field (vocabulary, idf, mean, scale, ...); each branch replaces
  // predictProba with the one of its own kind over the new parameters.
  if (model.kind === 'text') {
    const predictProba = textPredictor({ ...model, weights, bias });
    return { ...model, weights, bias, temperature: total, predictProba };
  }
  const predictProba = linearPredictor({ featureWidth: model.featureWidth, weights, bias });
  return { ...model, weights, bias, temperature: total, predictProba };
}

/**
 * The classifier with a calibration temperature applied to its probabilities: for a model whose
 * ONNX file does not carry its calibration (an imported one), as the registry keeps it.
 */
export function withTemperatureApplied(classifier: OnnxClassifier, temperature: number): OnnxClassifier {
  checkTemperature(temperature);
  return {
    description: classifier.description,
    predictProba: async (inputs) => applyTemperature(await classifier.predictProba(inputs), temperature),
    close: () => classifier.close(),
  };
}
