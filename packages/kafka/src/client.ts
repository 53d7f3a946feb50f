import './codecs';
import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
import type { Logger } from 'pino';

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** kafkajs' own log level; it is chatty at INFO. */
  kafkaLogLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** Extra kafkajs settings (ssl, sasl, timeouts). */
  config?: Omit<KafkaConfig, 'brokers' | 'clientId' | 'logCreator' | 'logLevel'>;
}

const LEVELS = { error: logLevel.ERROR, warn: logLevel.WARN, info: logLevel.INFO, debug: logLevel.DEBUG };

/** A kafkajs client whose logs go through pino. */
export function createKafka({
  brokers,
  clientId,
  logger,
  kafkaLogLevel = 'warn',
  config,
}: KafkaClientOptions): Kafka {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return new Kafka({
    ...config,
    brokers,
    clientId,
    logLevel: LEVELS[kafkaLogLevel],
    logCreator:
      () =>
      ({ level, namespace, log }: LogEntry) => {
        const { message, ...extra } = log;
        const fields = { namespace, ...extra };
        if (level === logLevel.ERROR) kafkaLogger.error(fields, message);
        else if (level === logLevel.WARN) kafkaLogger.warn(fields, message);
        else if (level === logLevel.INFO) kafkaLogger.info(fields, message);
        else kafkaLogger.debug(fields, message);
      },
  });
}
