import { topics } from '@hitl/contracts';
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
  /** New or replaced labels since the last finished training that start the next one. */
  retrainEvery: int('RETRAIN_EVERY', { default: 200, min: 1 }),
  /** How often a replica looks whether a training is due. */
  checkIntervalMs: int('CHECK_INTERVAL_MS', { default: 2_000, min: 10 }),
  /** How much higher the candidate's macro-F1 must be than the champion's to be promoted. */
  promoteMargin: num('PROMOTE_MARGIN', { default: 0.005, min: 0, max: 1 }),
  /** How far any class's recall may fall below the champion's for the candidate to be promoted. */
  recallTolerance: num('RECALL_TOLERANCE', { default: 0.05, min: 0, max: 1 }),
  /** Evaluation examples needed before a version is promoted. */
  minEvalExamples: int('MIN_EVAL_EXAMPLES', { default: 30, min: 1 }),
  /** Vocabulary size of text models (unigrams and bigrams). */
  maxFeatures: int('MAX_FEATURES', { default: 20_000, min: 1, max: 1_000_000 }),
  /**
   * Inverse strength of the L2 penalty on the sum of the training losses, as scikit-learn's
   * LogisticRegression C: the penalty per example is 1/(C·n), so a model trained on few labels is
   * held closer to zero, less sure of itself, and sends more of what it sees to people.
   */
  regularizationC: num('REGULARIZATION_C', { default: 10, min: 1e-6, max: 1e9 }),
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

export type TrainerConfig = ConfigOf<typeof trainerConfigSpec>;

function check(config: TrainerConfig): ConfigProblem[] {
  if (config.evalShare <= 0 || config.evalShare >= 1) {
    return [{ variable: 'EVAL_SHARE', problem: `must be above 0 and below 1, got ${config.evalShare}` }];
  }
  return [];
}

/** The trainer's settings, from the environment. */
export function loadTrainerConfig(env: NodeJS.ProcessEnv): TrainerConfig {
  return parseConfig(trainerConfigSpec, env, { check });
}
