// What bench:review and bench:web share: a review API in its own process on a database and
// topics of the run's own, with a queue of tasks loaded straight into Postgres.
import { createPool, generateApiKey, migrate } from '@hitl/db';
import {
  ProcessGroup,
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  freePort,
  kafkaBrokers,
  uniqueName,
} from '@hitl/testkit';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { UsageMonitor } from './usage';

type Pool = ReturnType<typeof createPool>;

const reviewMain = join(dirname(require.resolve('@hitl/review-api')), 'main.ts');
export const reviewRoot = dirname(dirname(reviewMain));

export interface ReviewBench {
  pool: Pool;
  databaseUrl: string;
  processes: ProcessGroup;
  /** Peak RSS and CPU time of the review API's process, as 'reviewApi'. */
  usage: UsageMonitor;
  /** Starts the review API and returns its port. */
  startApi(env?: Record<string, string>): Promise<number>;
  /** Stops the processes and drops the topics and the database. */
  close(): Promise<void>;
}

export async function reviewBench(): Promise<ReviewBench> {
  const db = await createTestDatabase('hitl_bench');
  const pool = createPool({ connectionString: db.url, max: 8 });
  const processes = new ProcessGroup();
  const usage = new UsageMonitor();
  const names = {
    reviewRequests: uniqueName('bench-review-requests'),
    decisions: uniqueName('bench-decisions'),
    corrections: uniqueName('bench-corrections'),
    models: uniqueName('bench-models'),
    deadLetters: uniqueName('bench-dlq'),
  };
  const close = async () => {
    usage.stop();
    await processes.stopAll('SIGTERM').catch(() => undefined);
    await deleteTestTopics(Object.values(names)).catch(() => undefined);
    await pool.end();
    await db.drop();
  };
  try {
    await migrate({ databaseUrl: db.url, logger: pino({ level: 'silent' }) });
    await createTestTopics(Object.values(names).map((topic) => ({ topic, numPartitions: 6 })));
  } catch (error) {
    await close();
    throw error;
  }
  return {
    pool,
    databaseUrl: db.url,
    processes,
    usage,
    close,
    async startApi(env = {}) {
      const port = await freePort();
      const api = await processes.start(reviewMain, {
        cwd: reviewRoot,
        env: {
          KAFKA_BROKERS: kafkaBrokers().join(','),
          DATABASE_URL: db.url,
          API_PORT: String(port),
          API_HOST: '127.0.0.1',
          HTTP_PORT: '0',
          ADMIN_KEY: generateApiKey(),
          GROUP_ID: uniqueName('bench-review'),
          INSTANCE_ID: 'bench-0',
          REVIEW_REQUESTS_TOPIC: names.reviewRequests,
          DECISIONS_TOPIC: names.decisions,
          CORRECTIONS_TOPIC: names.corrections,
          DLQ_TOPIC: names.deadLetters,
          RESCORE_ON_PROMOTION: 'false',
          RATE_LIMIT_PER_MINUTE: '10000000',
          LOG_LEVEL: 'info',
          ...env,
        },
      });
      usage.watch('reviewApi', api);
      return port;
    },
  };
}

/** Loads `count` open low-confidence tasks (ids t-0, t-1, ...) into the queue, 1,000 a statement. */
export async function preloadReviewTasks(pool: Pool, count: number): Promise<void> {
  const at = new Date().toISOString();
  for (let i = 0; i < count; i += 1_000) {
    const ids = Array.from({ length: Math.min(1_000, count - i) }, (_, j) => `t-${i + j}`);
    await pool.query(
      `INSERT INTO review_tasks (event_id, stream, request, classes, reason, predicted_label, priority,
                                 policy_version, required_reviewers, needed, requested_at)
       SELECT id, 'email', jsonb_build_object(
                'eventId', id, 'reason', 'low_confidence', 'priority', 0.5, 'policyVersion', 1,
                'requiredReviewers', 1, 'requestedAt', $2::text,
                'prediction', jsonb_build_object(
                  'eventId', id, 'stream', 'email', 'occurredAt', $2::text,
                  'input', jsonb_build_object('text', 'Subject: win a prize now ' || id),
                  'model', jsonb_build_object('id', 'spam', 'version', 1),
                  'classes', jsonb_build_array('ham', 'spam'), 'label', 'spam',
                  'probabilities', jsonb_build_object('ham', 0.4, 'spam', 0.6),
                  'confidence', 0.6, 'margin', 0.2, 'entropy', 0.67, 'scoredAt', $2::text)),
              ARRAY['ham', 'spam'], 'low_confidence', 'spam', random(), 1, 1, 1, $2::timestamptz
         FROM unnest($1::text[]) AS id`,
      [ids, at],
    );
  }
}
