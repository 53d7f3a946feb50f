// From stored examples to what a training round trains and evaluates on: which input the model
// takes, which examples fit it, its classes, and the two splits. Pure.
import type { EventInput } from '@hitl/contracts';
import { stableFraction } from '@hitl/datasets';
import type { Split } from './examples';

/** What the model reads: the event's text, or its numeric features of one width. */
export type InputShape = { kind: 'text' } | { kind: 'features'; featureWidth: number };

/** The inputs of a set of rows, in one of the two forms a model takes. */
export type ModelInputs =
  { kind: 'text'; texts: string[] } | { kind: 'features'; featureWidth: number; features: number[][] };

/** Rows of one split: their inputs and labels, in the same order, and their event ids. */
export interface SplitRows {
  eventIds: string[];
  inputs: ModelInputs;
  labels: string[];
  /** Each label's weight in training (its confidence, 1 when it came without one). */
  weights: number[];
}

/** A stored example as a training round reads it. */
export interface TrainingExample {
  eventId: string;
  input: EventInput;
  label: string;
  split: Split;
  /** How sure the label is (the posterior of weighted consensus), in (0, 1]; absent: sure. */
  confidence?: number | null;
}

export interface TrainingSet {
  shape: InputShape;
  /** The model's classes: the champion's, in its order, then the other labels seen, sorted. */
  classes: string[];
  train: SplitRows;
  eval: SplitRows;
  /** Examples left out because their input does not fit the shape. */
  dropped: number;
}

/** The shape of the champion's model (its classes come from the registry). */
export interface ChampionShape {
  classes: readonly string[];
  inputKind: 'text' | 'features';
  featureWidth: number | null;
}

export function fits(input: EventInput, shape: InputShape): boolean {
  if (shape.kind === 'text') return typeof input.text === 'string';
  const { features } = input;
  return (
    Array.isArray(features) &&
    features.length === shape.featureWidth &&
    features.every((v) => Number.isFinite(v))
  );
}

/**
 * The champion's input when there is one (a version the inference service serves must keep taking
 * what it took); otherwise text when at least as many examples have text as have features of the
 * commonest width, else those features.
 */
export function chooseInputShape(
  examples: readonly TrainingExample[],
  champion: ChampionShape | null,
): InputShape | null {
  if (champion) {
    return champion.inputKind === 'text'
      ? { kind: 'text' }
      : { kind: 'features', featureWidth: champion.featureWidth ?? 0 };
  }
  let withText = 0;
  const widths = new Map<number, number>();
  for (const { input } of examples) {
    if (typeof input.text === 'string') withText++;
    if (Array.isArray(input.features) && input.features.length > 0) {
      widths.set(input.features.length, (widths.get(input.features.length) ?? 0) + 1);
    }
  }
  let width = 0;
  let widthCount = 0;
  for (const [w, count] of widths) {
    if (count > widthCount || (count === widthCount && w < width)) [width, widthCount] = [w, count];
  }
  if (withText === 0 && widthCount === 0) return null;
  return withText >= widthCount ? { kind: 'text' } : { kind: 'features', featureWidth: width };
}

/** The champion's classes first, in their order (its outputs keep their columns), then new labels. */
export function classesFor(labels: Iterable<string>, championClasses: readonly string[] = []): string[] {
  const known = new Set(championClasses);
  const added = [...new Set(labels)].filter((label) => !known.has(label)).sort();
  return [...championClasses, ...added];
}

/** How many examples carry each label. */
export function labelDistribution(labels: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const label of [...labels].sort()) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}

function rowsOf(examples: readonly TrainingExample[], shape: InputShape): SplitRows {
  const eventIds = examples.map((e) => e.eventId);
  const labels = examples.map((e) => e.label);
  const weights = examples.map((e) => e.confidence ?? 1);
  const inputs: ModelInputs =
    shape.kind === 'text'
      ? { kind: 'text', texts: examples.map((e) => e.input.text!) }
      : {
          kind: 'features',
          featureWidth: shape.featureWidth,
          features: examples.map((e) => e.input.features!),
        };
  return { eventIds, inputs, labels, weights };
}

/**
 * The training set of a round, or why there is none. Examples are taken in event id order, so the
 * same examples give the same model whatever order the database returns them in.
 */
export function buildTrainingSet(
  examples: readonly TrainingExample[],
  champion: ChampionShape | null,
): TrainingSet | { skip: string } {
  if (examples.length === 0) return { skip: 'there are no labelled examples yet' };
  const shape = chooseInputShape(examples, champion);
  if (!shape) return { skip: 'no labelled example has text or numeric features' };
  const fit = examples
    .filter((e) => fits(e.input, shape))
    .sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
  const what = shape.kind === 'text' ? 'text' : `${shape.featureWidth} features`;
  const train = fit.filter((e) => e.split === 'train');
  const evaluation = fit.filter((e) => e.split === 'eval');
  const trainClasses = new Set(train.map((e) => e.label));
  if (trainClasses.size < 2) {
    return {
      skip: `the training split has ${train.length} examples with ${what} and ${trainClasses.size} distinct label(s); a model needs two`,
    };
  }
  return {
    shape,
    classes: classesFor(
      fit.map((e) => e.label),
      champion?.classes,
    ),
    train: rowsOf(train, shape),
    eval: rowsOf(evaluation, shape),
    dropped: examples.length - fit.length,
  };
}

/** The number of rows of some inputs. */
export function rowCount(inputs: ModelInputs): number {
  return inputs.kind === 'text' ? inputs.texts.length : inputs.features.length;
}

/** The salt that halves the evaluation split: the same event is on the same side every run. */
export const CALIBRATION_SALT = 'hitl.calibration';

/**
 * The evaluation split in two halves by a hash of the event id: `calibration` fits the model's
 * temperature, `holdout` is the rest, on which the calibration itself is judged, so no label both
 * fits the calibration and certifies it. Positions are those of the rows in `rows`.
 */
export function calibrationHalves(rows: SplitRows): { calibration: number[]; holdout: number[] } {
  const calibration: number[] = [];
  const holdout: number[] = [];
  rows.eventIds.forEach((id, i) =>
    (stableFraction(id, CALIBRATION_SALT) < 0.5 ? calibration : holdout).push(i),
  );
  return { calibration, holdout };
}

/**
 * The evaluation rows that certify a version's thresholds: those that did not fit its calibration,
 * except with two classes, where all of them do. With two classes the temperature maps every
 * example's confidence through the same increasing function (the top probability is
 * sigmoid(|logit| / T)), so it changes no set the certification tests ("predicted c with
 * confidence at or above t", in order from the top) and no count of right answers in one: the
 * outcome is the one the uncalibrated model's confidences give, which no evaluation label fitted.
 * With more classes the temperature can reorder examples of different shapes, so the labels that
 * fitted it stay out.
 */
export function certificationRows(
  classes: readonly string[],
  evalRows: SplitRows,
  halves: { holdout: readonly number[] },
): number[] {
  return classes.length === 2 ? evalRows.labels.map((_, i) => i) : [...halves.holdout];
}

/** The salt of the cross-fitting folds: the same event is in the same fold every run. */
export const CROSS_FIT_SALT = 'hitl.crossfit';

/** Each row's cross-fitting fold (0 to folds − 1), by a hash of its event id. */
export function crossFitFolds(rows: SplitRows, folds: number): number[] {
  if (!Number.isInteger(folds) || folds < 2)
    throw new RangeError(`cross-fitting needs 2 folds or more, not ${folds}`);
  return rows.eventIds.map((id) =>
    Math.min(folds - 1, Math.floor(stableFraction(id, CROSS_FIT_SALT) * folds)),
  );
}

/** The inputs at the given positions. */
export function pickInputs(inputs: ModelInputs, positions: readonly number[]): ModelInputs {
  return inputs.kind === 'text'
    ? { kind: 'text', texts: positions.map((i) => inputs.texts[i]!) }
    : { ...inputs, features: positions.map((i) => inputs.features[i]!) };
}

/** The rows at the given positions. */
export function pickRows(rows: SplitRows, positions: readonly number[]): SplitRows {
  return {
    eventIds: positions.map((i) => rows.eventIds[i]!),
    labels: positions.map((i) => rows.labels[i]!),
    weights: positions.map((i) => rows.weights[i]!),
    inputs: pickInputs(rows.inputs, positions),
  };
}
