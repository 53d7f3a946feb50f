import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { pino, type Logger } from 'pino';
import { kafkaBrokers } from './env';

/** A logger for code under test: silent unless TEST_LOG_LEVEL says otherwise. */
export const testLogger: Logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A kafkajs client on the test broker; kafkajs' own logs off (tests see real errors anyway). */
export function testKafka(config: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({ clientId: 'hitl-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING, ...config });
}
