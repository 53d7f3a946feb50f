// `pnpm topics [create|list]`: creates the catalog's topics that are missing, or lists them with
// their partitions. Reads KAFKA_BROKERS (default 127.0.0.1:9092) and KAFKA_REPLICATION_FACTOR (1).
import { allTopics } from '@hitl/contracts';
import { pino } from 'pino';
import { createKafka } from './client';
import { ensureTopics } from './admin';

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
  const logger = pino({ level: 'info' });
  const kafka = createKafka({ brokers, clientId: 'hitl-topics', logger });
  if (command === 'create') {
    const created = await ensureTopics({ kafka, logger, replicationFactor });
    console.log(created.length > 0 ? `created ${created.join(', ')}` : 'all topics exist');
    return 0;
  }
  if (command === 'list') {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: allTopics.map((t) => t.name) });
      for (const t of topics) console.log(`${t.name}\t${t.partitions.length} partitions`);
    } finally {
      await admin.disconnect();
    }
    return 0;
  }
  console.error(`usage: topics [create|list]`);
  return 2;
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
