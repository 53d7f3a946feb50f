// `pnpm topics [create|list|warm]`: creates the catalog's topics that are missing, lists them
// with their partitions, or (warm) creates them and waits until the broker's group and
// transaction coordinators answer, so that the first real client does not pay for their loading.
// Reads KAFKA_BROKERS (default 127.0.0.1:9092), KAFKA_REPLICATION_FACTOR (1), KAFKA_TOPIC_RETENTION_MS
// (retention.ms per topic over the catalog's, see topic-retention.ts), and KAFKA_SSL* and
// KAFKA_SASL_* for a secured listener (a bad one exits 78, as a service does).
import { allTopics, topics } from '@hitl/contracts';
import { ConfigResourceTypes, type Kafka } from 'kafkajs';
import { pino } from 'pino';
import { ConfigError } from '@hitl/service-kit';
import { createKafka } from './client';
import { ensureTopics } from './admin';
import { loadKafkaConnectionConfig } from './security';
import { loadTopicRetention } from './topic-retention';

async function warmCoordinators(kafka: Kafka): Promise<void> {
  const groupId = `hitl-warm-${process.pid}-${Date.now()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.subscribe({ topic: topics.models.name, fromBeginning: false });
  await consumer.run({ eachMessage: async () => {} });
  await joined;
  await consumer.disconnect();
  const producer = kafka.producer({ transactionalId: groupId, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const transaction = await producer.transaction();
  await transaction.abort();
  await producer.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteGroups([groupId]).catch(() => undefined);
  await admin.disconnect();
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const command = argv[0] ?? 'create';
  const brokers = (env.KAFKA_BROKERS ?? '127.0.0.1:9092')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const replicationFactor = Number(env.KAFKA_REPLICATION_FACTOR ?? '1');
  if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
    console.error(
      `KAFKA_REPLICATION_FACTOR must be a positive integer, got "${env.KAFKA_REPLICATION_FACTOR}"`,
    );
    return 2;
  }
  let connection;
  let retentionMs;
  try {
    connection = loadKafkaConnectionConfig(env);
    retentionMs = loadTopicRetention(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${error.code}: ${error.message}`);
    return 78;
  }
  const logger = pino({ level: 'info' });
  const kafka = createKafka({ brokers, clientId: 'hitl-topics', logger, config: connection });
  if (command === 'create') {
    const created = await ensureTopics({ kafka, logger, replicationFactor, retentionMs });
    console.log(created.length > 0 ? `created ${created.join(', ')}` : 'all topics exist');
    return 0;
  }
  if (command === 'warm') {
    const started = Date.now();
    await ensureTopics({ kafka, logger, replicationFactor, retentionMs });
    await warmCoordinators(kafka);
    console.log(`broker warm in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  }
  if (command === 'list') {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: allTopics.map((t) => t.name) });
      const { resources } = await admin.describeConfigs({
        resources: topics.map((t) => ({
          type: ConfigResourceTypes.TOPIC,
          name: t.name,
          configNames: ['retention.ms'],
        })),
        includeSynonyms: false,
      });
      for (const t of topics) {
        const retention = resources.find((r) => r.resourceName === t.name)?.configEntries[0]?.configValue;
        console.log(`${t.name}\t${t.partitions.length} partitions\tretention.ms=${retention ?? '?'}`);
      }
    } finally {
      await admin.disconnect();
    }
    return 0;
  }
  console.error(`usage: topics [create|list|warm]`);
  return 2;
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
