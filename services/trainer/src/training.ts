// Train, export, verify: the one function the trainer (in a worker thread) and bench:trainer run.
// No Kafka, no Postgres: values in, ONNX bytes and figures out.
import {
  fitTemperature,
  loadOnnxClassifier,
  toOnnx,
  trainLinearClassifier,
  trainTextClassifier,
  withTemperature,
  type Classifier,
  type TemperatureFit,
} from '@hitl/model';
import { pickInputs, rowCount, type ModelInputs } from './dataset';
import { TrainerError, TrainerErrorCode } from './errors';

/** Largest difference allowed between the ONNX model's probabilities and the TypeScript model's. */
export const ONNX_TOLERANCE = 1e-4;

// Rows per gradient step (the model package's default) and how many steps a training should get.
const BATCH_SIZE = 64;
const TARGET_STEPS = 600;
const MIN_EPOCHS = 5;
const MAX_EPOCHS = 50;
// When there are no evaluation rows, the export is checked on this many training rows instead.
const FALLBACK_CHECK_ROWS = 256;

export interface TrainExportVerifyInput {
  modelId: string;
  /** At least two; the labels must be among them. */
  classes: readonly string[];
  /** Weights: each label's weight in the loss (its confidence; default 1 each). */
  train: { inputs: ModelInputs; labels: readonly string[]; weights?: readonly number[] };
  /** The rows the ONNX model must score as the TypeScript model does (the evaluation split). */
  verify: ModelInputs;
  /**
   * Held-out labelled rows the model's temperature is fitted on by log-loss and then folded into
   * its weights, so the exported ONNX gives calibrated probabilities. None: not calibrated.
   */
  calibrate?: { inputs: ModelInputs; labels: readonly string[]; minTemperature?: number };
  /** Vocabulary size of a text model (default 20,000). */
  maxFeatures?: number;
  seed?: number;
  /** Default: epochsFor(training rows). */
  epochs?: number;
  /** The L2 penalty's C (see regularization()); default DEFAULT_REGULARIZATION_C. */
  regularizationC?: number;
  /**
   * Cross-fitting: each training row's fold (0 to folds − 1). For every fold a model is trained the
   * same way on the other folds, given the fitted temperature, and scores the fold's rows, so each
   * training row gets probabilities from a model that never saw it (TrainedModel.outOfFold).
   */
  crossFit?: { folds: readonly number[] };
}

export interface TrainedModel {
  onnx: Uint8Array;
  classes: string[];
  inputKind: 'text' | 'features';
  featureWidth: number | null;
  /** Unigrams and bigrams of a text model; the feature width of a linear one. */
  vocabularySize: number;
  epochs: number;
  /** The ONNX model's probabilities of the verify rows, columns in `classes` order. */
  probabilities: number[][];
  /** The temperature fit, when calibration rows were given (temperature 1 when too few). */
  calibration: TemperatureFit | null;
  /**
   * With crossFit: each training row's probabilities from the model of the folds it is not in
   * (columns in `classes` order); null without, or for a row whose fold left too few to train on.
   */
  outOfFold: (number[] | null)[] | null;
  /** Largest |ONNX − TypeScript| over the rows checked. */
  maxAbsDiff: number;
  checkedRows: number;
  seconds: { train: number; export: number; verify: number; total: number };
}

/**
 * Passes over the data: about TARGET_STEPS gradient steps, at least MIN_EPOCHS passes and at most
 * MAX_EPOCHS. Small sets get many passes; large ones few, since building the vocabulary, not the
 * passes, is what a large text set costs.
 */
export const DEFAULT_REGULARIZATION_C = 10;

/**
 * The L2 penalty per example, l2 in @hitl/model's mean-loss terms, for a penalty of ‖W‖²/(2C) on
 * the sum of the losses (scikit-learn's C): 1/(C·rows). It weighs more the fewer the rows, so a
 * model trained on few labels is less sure of itself.
 */
export function regularization(rows: number, c = DEFAULT_REGULARIZATION_C): number {
  return 1 / (c * Math.max(1, rows));
}

export function epochsFor(rows: number): number {
  const stepsPerEpoch = Math.max(1, Math.ceil(rows / BATCH_SIZE));
  return Math.min(MAX_EPOCHS, Math.max(MIN_EPOCHS, Math.ceil(TARGET_STEPS / stepsPerEpoch)));
}

function firstRows(inputs: ModelInputs, n: number): ModelInputs {
  return inputs.kind === 'text'
    ? { kind: 'text', texts: inputs.texts.slice(0, n) }
    : { ...inputs, features: inputs.features.slice(0, n) };
}

function tsProbabilities(model: Classifier, inputs: ModelInputs): number[][] {
  if (model.kind === 'text' && inputs.kind === 'text') return model.predictProba(inputs.texts);
  if (model.kind === 'linear' && inputs.kind === 'features') return model.predictProba(inputs.features);
  throw new TypeError(`a ${model.kind} model cannot score ${inputs.kind} inputs`);
}

const seconds = (from: number, to: number) => (to - from) / 1000;

/** The model with its temperature fitted on the calibration rows folded in (unchanged without). */
function calibrated(
  model: Classifier,
  rows: TrainExportVerifyInput['calibrate'],
): { model: Classifier; calibration: TemperatureFit | null } {
  if (!rows) return { model, calibration: null };
  const known = rows.labels.map((label) => model.classes.indexOf(label));
  const keep = known.flatMap((c, i) => (c >= 0 ? [i] : []));
  const inputs = pickInputs(rows.inputs, keep);
  const calibration = fitTemperature(
    rowCount(inputs) === 0 ? [] : tsProbabilities(model, inputs),
    keep.map((i) => known[i]!),
    rows.minTemperature === undefined ? {} : { minTemperature: rows.minTemperature },
  );
  return { model: calibration.fitted ? withTemperature(model, calibration.temperature) : model, calibration };
}

/** A model trained on some rows, as trainExportVerify trains (input gives the settings). */
function fitModel(
  input: TrainExportVerifyInput,
  rows: { inputs: ModelInputs; labels: readonly string[]; weights?: readonly number[] },
  epochs = input.epochs ?? epochsFor(rows.labels.length),
): Classifier {
  const l2 = regularization(rows.labels.length, input.regularizationC);
  // All weights 1 is the unweighted fit: leave them out.
  const weighted = rows.weights?.some((w) => w !== 1) ? { sampleWeights: rows.weights } : {};
  const common = {
    labels: rows.labels,
    classes: input.classes,
    epochs,
    seed: input.seed ?? 1,
    l2,
    ...weighted,
  };
  return rows.inputs.kind === 'text'
    ? trainTextClassifier({ ...common, texts: rows.inputs.texts, maxFeatures: input.maxFeatures ?? 20_000 })
    : trainLinearClassifier({ ...common, features: rows.inputs.features });
}

/**
 * Each training row's probabilities from a model trained the same way on the other folds (with
 * the temperature fitted for the full model, so that confidences of different folds compare). A
 * fold whose complement has fewer than two labels gets null rows.
 */
function crossFitted(
  input: TrainExportVerifyInput,
  folds: readonly number[],
  temperature: number | null,
): (number[] | null)[] {
  const { train } = input;
  if (folds.length !== train.labels.length) {
    throw new RangeError(`${folds.length} folds given for ${train.labels.length} training rows`);
  }
  const out: (number[] | null)[] = train.labels.map(() => null);
  for (const fold of [...new Set(folds)].sort((a, b) => a - b)) {
    const inside: number[] = [];
    const outside: number[] = [];
    folds.forEach((f, i) => (f === fold ? inside : outside).push(i));
    const labels = outside.map((i) => train.labels[i]!);
    if (new Set(labels).size < 2) continue;
    const fitted = fitModel(input, {
      inputs: pickInputs(train.inputs, outside),
      labels,
      ...(train.weights ? { weights: outside.map((i) => train.weights![i]!) } : {}),
    });
    const model = temperature === null ? fitted : withTemperature(fitted, temperature);
    tsProbabilities(model, pickInputs(train.inputs, inside)).forEach((row, j) => {
      out[inside[j]!] = row;
    });
  }
  return out;
}

/**
 * Trains a text model (TF-IDF over unigrams and bigrams, then softmax regression) on text or a
 * linear model on numeric features, exports it to ONNX, opens the export in onnxruntime and checks
 * that its probabilities match the TypeScript model's on the verify rows (on the first training
 * rows when there are none) to within ONNX_TOLERANCE; throws HITL_ERR_TRAINER_ONNX_MISMATCH if not.
 */
export async function trainExportVerify(input: TrainExportVerifyInput): Promise<TrainedModel> {
  const { train, verify } = input;
  if (train.inputs.kind !== verify.kind) {
    throw new TypeError(`training rows are ${train.inputs.kind} but verify rows are ${verify.kind}`);
  }
  const epochs = input.epochs ?? epochsFor(train.labels.length);
  const started = performance.now();
  const { model, calibration } = calibrated(fitModel(input, train, epochs), input.calibrate);
  const outOfFold = input.crossFit
    ? crossFitted(input, input.crossFit.folds, calibration?.fitted ? calibration.temperature : null)
    : null;
  const trained = performance.now();
  const onnx = toOnnx(model, { modelId: input.modelId });
  const exported = performance.now();

  const check = rowCount(verify) > 0 ? verify : firstRows(train.inputs, FALLBACK_CHECK_ROWS);
  const session = await loadOnnxClassifier(onnx);
  let fromOnnx: number[][];
  try {
    fromOnnx = await session.predictProba(check.kind === 'text' ? check.texts : check.features);
  } finally {
    await session.close();
  }
  const fromTs = tsProbabilities(model, check);
  let maxAbsDiff = 0;
  fromOnnx.forEach((row, i) =>
    row.forEach((p, c) => {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(p - fromTs[i]![c]!));
    }),
  );
  // NaN never compares below the tolerance, so a broken export fails here too.
  if (!(maxAbsDiff < ONNX_TOLERANCE)) {
    throw new TrainerError(
      TrainerErrorCode.onnxMismatch,
      `the exported ONNX model's probabilities differ from the TypeScript model's by up to ${maxAbsDiff} on ${fromOnnx.length} rows (allowed: < ${ONNX_TOLERANCE})`,
    );
  }
  const verified = performance.now();
  return {
    onnx,
    classes: [...model.classes],
    inputKind: model.kind === 'text' ? 'text' : 'features',
    featureWidth: model.kind === 'linear' ? model.featureWidth : null,
    vocabularySize: model.kind === 'text' ? model.vocabulary.length : model.featureWidth,
    epochs,
    calibration,
    outOfFold,
    probabilities: check === verify ? fromOnnx : [],
    maxAbsDiff,
    checkedRows: fromOnnx.length,
    seconds: {
      train: seconds(started, trained),
      export: seconds(trained, exported),
      verify: seconds(exported, verified),
      total: seconds(started, verified),
    },
  };
}
