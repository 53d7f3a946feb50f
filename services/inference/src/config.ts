import { topics } from '@hitl/contracts';
import {
  kafkaConnectionConfig,
  kafkaSecurityConfigSpec,
  kafkaSecurityProblems,
  type KafkaConnectionConfig,
} from '@hitl/kafka';
import { hostname } from 'node:os';
import { LOG_LEVELS, bool, int, list, oneOf, parseConfig, str, url, type ConfigOf } from '@hitl/service-kit';

export const inferenceConfigSpec = {
  kafkaBrokers: list('KAFKA_BROKERS'),
  /** KAFKA_SSL*, KAFKA_SASL_*: how to reach a secured listener (see @hitl/kafka security.ts). */
  ...kafkaSecurityConfigSpec,
  databaseUrl: url('DATABASE_URL', { protocols: ['postgres:', 'postgresql:'], secret: true }),
  /** The registry model this deployment serves (its promoted version). */
  modelId: str('MODEL_ID', { default: 'default' }),
  groupId: str('GROUP_ID', { default: 'hitl-inference' }),
  /**
   * Stable and unique per replica (a StatefulSet pod name): the transactional id is derived from
   * it, so a restarted replica fences its predecessor's unfinished transaction.
   */
  instanceId: str('INSTANCE_ID', { default: hostname() }),
  /** Most events scored in one onnxruntime call. */
  batchSize: int('BATCH_SIZE', { default: 256, min: 1, max: 10_000 }),
  /**
   * Partitions handled at once; their outputs and offsets are committed together in one
   * transaction, so more of them means fewer, larger transactions under load.
   */
  concurrentPartitions: int('CONCURRENT_PARTITIONS', { default: 6, min: 1, max: 64 }),
  /** Score in a worker thread, off the event loop that does the Kafka I/O (default true). */
  scoringWorker: bool('SCORING_WORKER', { default: true }),
  intraOpThreads: int('INTRA_OP_THREADS', { default: 1, min: 1, max: 64 }),
  /** How often the registry is checked for a new promoted version besides hitl.models.v1 (0: never). */
  modelPollMs: int('MODEL_POLL_MS', { default: 10_000, min: 0 }),
  /**
   * How often the stream registry's revision is checked (0: only at start and when an event names
   * a stream the service does not know). A change loads the models of added streams and unloads
   * those no stream uses.
   */
  streamsPollMs: int('STREAMS_POLL_MS', { default: 1_000, min: 0 }),
  /**
   * Most values of the `model` and of the `stream` label of the service's metrics: the first ones
   * seen keep their series, later ones are counted under `other`.
   */
  metricLabelLimit: int('METRIC_LABEL_LIMIT', { default: 50, min: 1, max: 10_000 }),
  httpPort: int('HTTP_PORT', { default: 8081, min: 0, max: 65_535 }),
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { default: 'info' }),
  eventsTopic: str('EVENTS_TOPIC', { default: topics.events.name }),
  predictionsTopic: str('PREDICTIONS_TOPIC', { default: topics.predictions.name }),
  modelsTopic: str('MODELS_TOPIC', { default: topics.models.name }),
  deadLetterTopic: str('DLQ_TOPIC', { default: topics.deadLetters.name }),
  /**
   * Score the waiting review tasks the review API sends back after a promotion or rollback, from
   * RESCORE_REQUESTS_TOPIC to RESCORED_TOPIC (false: no such consumer).
   */
  rescoring: bool('RESCORING', { default: true }),
  rescoreRequestsTopic: str('RESCORE_REQUESTS_TOPIC', { default: topics.rescoreRequests.name }),
  rescoredTopic: str('RESCORED_TOPIC', { default: topics.rescored.name }),
};

export type InferenceConfig = ConfigOf<typeof inferenceConfigSpec> & {
  /** createKafka's ssl and sasl options, its PEM files read at start-up. */
  readonly kafkaConnection: KafkaConnectionConfig;
};

/** The inference service's settings, from the environment. */
export function loadInferenceConfig(env: NodeJS.ProcessEnv): InferenceConfig {
  const config = parseConfig(inferenceConfigSpec, env, { check: kafkaSecurityProblems });
  return Object.freeze({ ...config, kafkaConnection: kafkaConnectionConfig(config) });
}
