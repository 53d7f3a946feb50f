// When a model trains, and why. Pure: the scheduler reads the counts and applies what this decides.
//
// A fixed step of RETRAIN_EVERY labels never trains a data set smaller than the step, and trains a
// young model far too rarely while each label still moves it a lot. So:
// - the first training comes as soon as the labels can support a model: at least two classes,
//   each with MIN_LABELS_PER_CLASS training labels, and an evaluation split of MIN_EVAL_EXAMPLES
//   large enough that the gate could promote a first version: one that got every example right
//   must be significantly better than always answering the commonest label (p = share^n <=
//   GATE_ALPHA), so an imbalanced split waits for more examples than a balanced one;
// - then each time the labels double (25, 50, 100, ...), until the step reaches RETRAIN_EVERY,
//   then every RETRAIN_EVERY labels;
// - labels that have waited RETRAIN_AFTER_MS start a training whatever the step, so a quiet stream
//   still reaches its model;
// - an admin's request trains at once.
// Label-started trainings wait for the first condition in every case: a model trained on fewer
// labels than that cannot be judged, let alone promoted.

/** Why a training run started. */
export type TrainingTrigger = 'request' | 'first' | 'doubled' | 'every' | 'waited';

export interface ScheduleOptions {
  /** The largest step between trainings, in new or replaced labels. */
  retrainEvery: number;
  /** Training labels each class needs before a label-started training. */
  minLabelsPerClass: number;
  /** Evaluation examples needed before a label-started training. */
  minEvalExamples: number;
  /** The gate's significance level (GATE_ALPHA): the evaluation split must be able to reach it. */
  gateAlpha: number;
  /** Labels waiting longer than this start a training. */
  retrainAfterMs: number;
}

/** What the schedule looks at (the store's TrainingDue). */
export interface LabelProgress {
  /** Labels stored or replaced since the last finished run. */
  newLabels: number;
  /** Labels the last finished run read; null before the first. */
  labelsAtLastRun: number | null;
  /** How long the oldest of the new labels has waited; null when there are none. */
  oldestNewLabelMs: number | null;
  pendingRequests: number;
}

/** Labelled examples per class, in each split. */
export interface ClassCounts {
  train: Readonly<Record<string, number>>;
  eval: Readonly<Record<string, number>>;
}

export interface TrainingStart {
  trigger: TrainingTrigger;
  /** One sentence, stored with the run. */
  because: string;
}

/** The labels to wait for after a run that read `labelsAtLastRun`: as many again, at most retrainEvery. */
export function labelStep(labelsAtLastRun: number, retrainEvery: number): number {
  return Math.max(1, Math.min(labelsAtLastRun, retrainEvery));
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;

/**
 * The training the counts call for, before the labels' readiness is checked (that needs the
 * counts per class, read only when this says yes), or null.
 */
export function scheduledStart(progress: LabelProgress, options: ScheduleOptions): TrainingStart | null {
  if (progress.pendingRequests > 0) {
    return { trigger: 'request', because: `${plural(progress.pendingRequests, 'training request')} pending` };
  }
  const { newLabels, labelsAtLastRun } = progress;
  if (newLabels === 0) return null;
  if (labelsAtLastRun === null) {
    return { trigger: 'first', because: `first training, on ${plural(newLabels, 'label')}` };
  }
  const step = labelStep(labelsAtLastRun, options.retrainEvery);
  if (newLabels >= step) {
    return step < options.retrainEvery
      ? {
          trigger: 'doubled',
          because: `${plural(newLabels, 'new label')} since the last run read ${labelsAtLastRun}: the labels doubled`,
        }
      : {
          trigger: 'every',
          because: `${plural(newLabels, 'new label')} since the last run, at least RETRAIN_EVERY (${options.retrainEvery})`,
        };
  }
  if (progress.oldestNewLabelMs !== null && progress.oldestNewLabelMs >= options.retrainAfterMs) {
    return {
      trigger: 'waited',
      because: `${plural(newLabels, 'new label')}, the oldest waiting ${minutes(progress.oldestNewLabelMs)} (RETRAIN_AFTER_MS is ${minutes(options.retrainAfterMs)})`,
    };
  }
  return null;
}

/**
 * Whether the labels can support a model that the evaluation split can judge; null when they can,
 * else what is missing, as a sentence.
 */
export function notReadyBecause(counts: ClassCounts, options: ScheduleOptions): string | null {
  const classes = [...new Set([...Object.keys(counts.train), ...Object.keys(counts.eval)])].sort();
  if (classes.length < 2) {
    return `${plural(classes.length, 'class', 'classes')} labelled; a model needs two`;
  }
  const short = classes.filter((c) => (counts.train[c] ?? 0) < options.minLabelsPerClass);
  if (short.length > 0) {
    const list = short.map((c) => `"${c}" ${counts.train[c] ?? 0}`).join(', ');
    return `classes with fewer than ${options.minLabelsPerClass} training labels: ${list}`;
  }
  const evalExamples = Object.values(counts.eval).reduce((sum, n) => sum + n, 0);
  if (evalExamples < options.minEvalExamples) {
    return `the evaluation split has ${evalExamples} examples; judging a model needs ${options.minEvalExamples}`;
  }
  const [commonest, most] = Object.entries(counts.eval).reduce((a, b) => (b[1] > a[1] ? b : a));
  const pAllRight = (most / evalExamples) ** evalExamples;
  if (pAllRight > options.gateAlpha) {
    return (
      `the evaluation split has ${evalExamples} examples, ${most} of them "${commonest}": even all right, ` +
      `a model could not be shown better than always answering "${commonest}" ` +
      `(p = ${pAllRight.toFixed(3)} > GATE_ALPHA ${options.gateAlpha})`
    );
  }
  return null;
}
