import { topics } from '@hitl/contracts';
import {
  kafkaConnectionConfig,
  kafkaSecurityConfigSpec,
  kafkaSecurityProblems,
  type KafkaConnectionConfig,
} from '@hitl/kafka';
import { retentionConfigSpec, type RetentionConfig } from '@hitl/db';
import { list, LOG_LEVELS, oneOf, parseConfig, str, url, type ConfigOf } from '@hitl/service-kit';

const databaseSettings = {
  databaseUrl: url('DATABASE_URL', { protocols: ['postgres:', 'postgresql:'], secret: true }),
  // A command's output is its stdout lines; logs (on stderr) stay quiet unless asked for.
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { default: 'warn' }),
};

const kafkaSettings = {
  kafkaBrokers: list('KAFKA_BROKERS'),
  kafkaClientId: str('KAFKA_CLIENT_ID', { default: 'hitl-cli' }),
  /** The outbox relay's names: the review API's OUTBOX_RELAY_ID for the same database. */
  outboxRelayId: str('OUTBOX_RELAY_ID', { default: 'hitl-outbox-relay' }),
  /** The dead-letter topic the dlq commands read: the services' DLQ_TOPIC. */
  dlqTopic: str('DLQ_TOPIC', { default: topics.deadLetters.name }),
  ...kafkaSecurityConfigSpec,
};

export type HitlConfig = ConfigOf<typeof databaseSettings> & {
  /** HITL_RETENTION_*; present when loaded with `retention: true` (hitl prune). */
  readonly retention?: RetentionConfig;
  /** Absent when loaded with `kafka: false`, for commands that never publish. */
  readonly kafka?: {
    readonly brokers: string[];
    readonly clientId: string;
    readonly outboxRelayId: string;
    readonly dlqTopic: string;
    /** TLS and SASL for kafkajs (KAFKA_SSL*, KAFKA_SASL*). */
    readonly connection: KafkaConnectionConfig;
  };
};

export interface LoadHitlConfigOptions {
  /** Whether KAFKA_BROKERS is required and read (default true). */
  kafka?: boolean;
  /** Whether the HITL_RETENTION_* settings are read (default false). */
  retention?: boolean;
}

/** Settings of the hitl command. */
export function loadHitlConfig(env: NodeJS.ProcessEnv, opts: LoadHitlConfigOptions = {}): HitlConfig {
  if (opts.retention === true) {
    const { databaseUrl, logLevel, ...retention } = parseConfig(
      { ...databaseSettings, ...retentionConfigSpec },
      env,
    );
    return Object.freeze({ databaseUrl, logLevel, retention });
  }
  if (opts.kafka === false) return parseConfig(databaseSettings, env);
  const parsed = parseConfig({ ...databaseSettings, ...kafkaSettings }, env, {
    check: kafkaSecurityProblems,
  });
  const { databaseUrl, logLevel, kafkaBrokers, kafkaClientId, outboxRelayId, dlqTopic } = parsed;
  return Object.freeze({
    databaseUrl,
    logLevel,
    kafka: {
      brokers: kafkaBrokers,
      clientId: kafkaClientId,
      outboxRelayId,
      dlqTopic,
      connection: kafkaConnectionConfig(parsed),
    },
  });
}
