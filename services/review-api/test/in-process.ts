// The review API started in-process for other packages' tests (`@hitl/review-api/testing`): on a
// free port, on the test's database, with topics, a consumer group, a relay id and a policy name
// of its own.
import {
  kafkaBrokers,
  testKafka,
  testLogger,
  uniqueName,
  uniqueTestTopics,
  type TestDatabase,
} from '@hitl/testkit';
import { Registry } from 'prom-client';
import { createReviewApi, loadReviewApiConfig, type ReviewApi } from '../src';

/** The test's own copies of the topics the review API uses. */
export function reviewTopics(partitions = 3) {
  return uniqueTestTopics({
    reviewRequests: partitions,
    decisions: partitions,
    corrections: partitions,
    models: partitions,
    rescoreRequests: partitions,
    rescored: partitions,
    deadLetters: partitions,
  });
}
export type ReviewTopics = Awaited<ReturnType<typeof reviewTopics>>;

/** The review API's settings on the test's topics and database, with a group, relay id and policy of its own. */
export function reviewEnv(t: ReviewTopics, databaseUrl: string, extra: Record<string, string> = {}) {
  return {
    KAFKA_BROKERS: kafkaBrokers().join(','),
    DATABASE_URL: databaseUrl,
    API_PORT: '0',
    API_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    GROUP_ID: uniqueName('review-api'),
    INSTANCE_ID: 'test-0',
    OUTBOX_RELAY_ID: uniqueName('relay'),
    POLICY_NAME: uniqueName('policy'),
    REVIEW_REQUESTS_TOPIC: t.reviewRequests,
    DECISIONS_TOPIC: t.decisions,
    CORRECTIONS_TOPIC: t.corrections,
    MODELS_TOPIC: t.models,
    RESCORE_REQUESTS_TOPIC: t.rescoreRequests,
    RESCORED_TOPIC: t.rescored,
    DLQ_TOPIC: t.deadLetters,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export interface InProcessReviewApi {
  api: ReviewApi;
  url: string;
  /** The topic it reads review requests from. */
  reviewRequestsTopic: string;
  /** Stops the API and deletes its topics. */
  stop(): Promise<void>;
}

/** Starts the review API; `extra` adds or overrides settings (LEASE_SECONDS, ADMIN_KEY, ...). */
export async function startInProcessReviewApi(
  db: TestDatabase,
  extra: Record<string, string> = {},
): Promise<InProcessReviewApi> {
  const t = await reviewTopics(1);
  const config = loadReviewApiConfig(reviewEnv(t, db.url, extra));
  const api = await createReviewApi(config, {
    logger: testLogger,
    registry: new Registry(),
    kafka: testKafka(),
  });
  try {
    await api.start();
  } catch (error) {
    await api.stop();
    await t.cleanup();
    throw error;
  }
  return {
    api,
    url: api.url(),
    reviewRequestsTopic: t.reviewRequests,
    async stop() {
      await api.stop();
      await t.cleanup();
    },
  };
}
