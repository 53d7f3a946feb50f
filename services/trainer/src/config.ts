import { topics } from '@hitl/contracts';
import {
  kafkaConnectionConfig,
  kafkaSecurityConfigSpec,
  kafkaSecurityProblems,
  type KafkaConnectionConfig,
} from '@hitl/kafka';
import { hostname } from 'node:os';
import {
  LOG_LEVELS,
  bool,
  int,
  list,
  num,
  oneOf,
  parseConfig,
  str,
  url,
  type ConfigOf,
  type ConfigProblem,
} from '@hitl/service-kit';

export const trainerConfigSpec = {
  kafkaBrokers: list('KAFKA_BROKERS'),
  /** KAFKA_SSL*, KAFKA_SASL_*: how to reach a secured listener (see @hitl/kafka security.ts). */
  ...kafkaSecurityConfigSpec,
  databaseUrl: url('DATABASE_URL', { protocols: ['postgres:', 'postgresql:'], secret: true }),
  /** The registry model this trainer trains (the inference service's MODEL_ID). */
  modelId: str('MODEL_ID', { default: 'default' }),
  groupId: str('GROUP_ID', { default: 'hitl-trainer' }),
  /** Names the replica in its training runs. */
  instanceId: str('INSTANCE_ID', { default: hostname() }),
  /**
   * The outbox relay's Kafka transactional id and marker group: the same for every service that
   * relays this database's outbox (the review API's OUTBOX_RELAY_ID), different per database.
   */
  outboxRelayId: str('OUTBOX_RELAY_ID', { default: 'hitl-outbox-relay' }),
  /** Share of events (by a hash of the event id) held out for evaluation; they never train. */
  evalShare: num('EVAL_SHARE', { default: 0.2, min: 0, max: 1 }),
  /**
   * The largest step between trainings in new or replaced labels. Below it the step grows with the
   * labels: a training each time they double since the first.
   */
  retrainEvery: int('RETRAIN_EVERY', { default: 200, min: 1 }),
  /** Training labels every class needs before the first training (with MIN_EVAL_EXAMPLES held out). */
  minLabelsPerClass: int('MIN_LABELS_PER_CLASS', { default: 5, min: 1 }),
  /** Labels that have waited this long start a training before the step is reached. */
  retrainAfterMs: int('RETRAIN_AFTER_MS', { default: 900_000, min: 1_000 }),
  /** How often a replica looks whether a training is due. */
  checkIntervalMs: int('CHECK_INTERVAL_MS', { default: 500, min: 10 }),
  /**
   * Significance level of the promotion gate's tests: a candidate significantly worse than the
   * champion (overall, or on a class) at this level is rejected (see gate.ts).
   */
  gateAlpha: num('GATE_ALPHA', { default: 0.05, min: 0, max: 1 }),
  /**
   * Evaluation examples needed before a version is trained or promoted. Low, because the gate's
   * tests say themselves whether the split is big enough for a difference to count (and the first
   * training also waits until a first version could pass its test; see schedule.ts): 5 all right
   * is the fewest that beats a coin at 0.05.
   */
  minEvalExamples: int('MIN_EVAL_EXAMPLES', { default: 5, min: 1 }),
  /** Vocabulary size of text models (unigrams and bigrams). */
  maxFeatures: int('MAX_FEATURES', { default: 20_000, min: 1, max: 1_000_000 }),
  /**
   * Inverse strength of the L2 penalty on the sum of the training losses, as scikit-learn's
   * LogisticRegression C: the penalty per example is 1/(C·n), so a model trained on few labels is
   * held closer to zero, less sure of itself, and sends more of what it sees to people.
   */
  regularizationC: num('REGULARIZATION_C', { default: 10, min: 1e-6, max: 1e9 }),
  /**
   * The lowest temperature calibration may fit (default 1: it may soften a model, never sharpen
   * it). The labels it is fitted on come mostly from what the model was unsure of, where people
   * were asked; a temperature below 1 fitted there would raise the model's confidence in the
   * region it decides alone, which those labels never checked. 0.2 lets it fit freely.
   */
  calibrationMinTemperature: num('CALIBRATION_MIN_TEMPERATURE', { default: 1, min: 0.2, max: 5 }),
  /**
   * While the policy states a target accuracy, the training split is also cut in this many folds
   * and each training label gets the prediction of a model trained the same way without its fold;
   * those predictions certify thresholds beside the evaluation split's, several times the labels.
   * 0 or 1: only the evaluation split certifies. Each fold costs one more training.
   */
  certifyFolds: int('CERTIFY_FOLDS', { default: 3, min: 0, max: 20 }),
  /** Seed of the training's initialisation and shuffling: the same examples give the same model. */
  trainSeed: int('TRAIN_SEED', { default: 1, min: 0 }),
  /**
   * Train in a worker thread (default true), so Kafka, Postgres and /healthz stay served and a
   * shutdown can stop a training; in-process (false), a shutdown waits for the training to end.
   */
  trainingWorker: bool('TRAINING_WORKER', { default: true }),
  httpPort: int('HTTP_PORT', { default: 8084, min: 0, max: 65_535 }),
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { default: 'info' }),
  correctionsTopic: str('CORRECTIONS_TOPIC', { default: topics.corrections.name }),
  modelsTopic: str('MODELS_TOPIC', { default: topics.models.name }),
  deadLetterTopic: str('DLQ_TOPIC', { default: topics.deadLetters.name }),
};

export type TrainerConfig = ConfigOf<typeof trainerConfigSpec> & {
  /** createKafka's ssl and sasl options, its PEM files read at start-up. */
  readonly kafkaConnection: KafkaConnectionConfig;
};

function check(config: ConfigOf<typeof trainerConfigSpec>): ConfigProblem[] {
  const between0And1 = (variable: string, value: number): ConfigProblem[] =>
    value > 0 && value < 1 ? [] : [{ variable, problem: `must be above 0 and below 1, got ${value}` }];
  // A GATE_ALPHA of 0 would find nothing significant, one of 1 everything.
  return [
    ...between0And1('EVAL_SHARE', config.evalShare),
    ...between0And1('GATE_ALPHA', config.gateAlpha),
    ...kafkaSecurityProblems(config),
  ];
}

/** The trainer's settings, from the environment. */
export function loadTrainerConfig(env: NodeJS.ProcessEnv): TrainerConfig {
  const config = parseConfig(trainerConfigSpec, env, { check });
  return Object.freeze({ ...config, kafkaConnection: kafkaConnectionConfig(config) });
}
