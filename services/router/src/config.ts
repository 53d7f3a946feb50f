import { topics } from '@hitl/contracts';
import {
  kafkaConnectionConfig,
  kafkaSecurityConfigSpec,
  kafkaSecurityProblems,
  type KafkaConnectionConfig,
} from '@hitl/kafka';
import { hostname } from 'node:os';
import { LOG_LEVELS, int, list, oneOf, parseConfig, str, url, type ConfigOf } from '@hitl/service-kit';

export const routerConfigSpec = {
  kafkaBrokers: list('KAFKA_BROKERS'),
  /** KAFKA_SSL*, KAFKA_SASL_*: how to reach a secured listener (see @hitl/kafka security.ts). */
  ...kafkaSecurityConfigSpec,
  databaseUrl: url('DATABASE_URL', { protocols: ['postgres:', 'postgresql:'], secret: true }),
  /**
   * The routing policy of predictions whose stream the stream registry does not have (all of them
   * while it is empty): by convention the id of the model whose predictions it routes. A
   * registered stream's predictions are routed by the policy the registry names for it.
   */
  policyName: str('POLICY_NAME', { default: 'default' }),
  groupId: str('GROUP_ID', { default: 'hitl-router' }),
  /** Stable and unique per replica: the transactional id is derived from it. */
  instanceId: str('INSTANCE_ID', { default: hostname() }),
  batchSize: int('BATCH_SIZE', { default: 500, min: 1, max: 10_000 }),
  /** Partitions handled at once, committed together in one transaction. */
  concurrentPartitions: int('CONCURRENT_PARTITIONS', { default: 6, min: 1, max: 64 }),
  /**
   * How often the stream registry's revision and the current version of each policy in use are
   * read; a change applies from the next batch.
   */
  policyPollMs: int('POLICY_POLL_MS', { default: 2_000, min: 50 }),
  httpPort: int('HTTP_PORT', { default: 8082, min: 0, max: 65_535 }),
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { default: 'info' }),
  predictionsTopic: str('PREDICTIONS_TOPIC', { default: topics.predictions.name }),
  decisionsTopic: str('DECISIONS_TOPIC', { default: topics.decisions.name }),
  reviewRequestsTopic: str('REVIEW_REQUESTS_TOPIC', { default: topics.reviewRequests.name }),
  deadLetterTopic: str('DLQ_TOPIC', { default: topics.deadLetters.name }),
};

export type RouterConfig = ConfigOf<typeof routerConfigSpec> & {
  /** createKafka's ssl and sasl options, its PEM files read at start-up. */
  readonly kafkaConnection: KafkaConnectionConfig;
};

/** The router's settings, from the environment. */
export function loadRouterConfig(env: NodeJS.ProcessEnv): RouterConfig {
  const config = parseConfig(routerConfigSpec, env, { check: kafkaSecurityProblems });
  return Object.freeze({ ...config, kafkaConnection: kafkaConnectionConfig(config) });
}
