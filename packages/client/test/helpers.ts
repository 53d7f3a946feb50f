// The real review API, started in-process on a fresh database with topics of its own (as the
// review API's own tests start it), and the people and tasks the tests need.
import { topics, type Prediction, type ReviewReason, type ReviewRequest } from '@hitl/contracts';
import { createApiKey, createPool, createReviewer, migrate, type Role } from '@hitl/db';
import { TypedProducer, ensureTopics } from '@hitl/kafka';
import { createTestDatabase, uniqueName, type TestDatabase } from '@hitl/testkit';
import { PassThrough } from 'node:stream';
import type { Pool } from 'pg';
import { ReviewClient, type ReviewClientOptions } from '../src';

import { testKafka, testLogger } from '@hitl/testkit';

export { testKafka, testLogger as logger };

export async function testDatabase(): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await createTestDatabase('hitl_client');
  await migrate({ databaseUrl: db.url, logger: testLogger });
  return { db, pool: createPool({ connectionString: db.url, max: 5 }) };
}

/**
 * Model promotions and rollbacks go to hitl.models.v1 whatever the API's settings (the registry
 * writes them there), so that topic must exist; tests use model ids of their own on it.
 */
export async function ensureModelsTopic(): Promise<void> {
  await ensureTopics({ kafka: testKafka(), logger: testLogger, topics: [topics.models] });
}

export {
  startInProcessReviewApi as startApi,
  type InProcessReviewApi as RunningApi,
} from '@hitl/review-api/testing';

/** A reviewer (or admin) with a fresh key, and a client for them. */
export async function person(
  pool: Pool,
  url: string,
  role: Role = 'reviewer',
  opts: Partial<ReviewClientOptions> = {},
) {
  const id = uniqueName(role);
  await createReviewer(pool, { id, name: `${role} ${id}`, role });
  const { key, info } = await createApiKey(pool, id);
  return { id, key, keyId: info.id, client: new ReviewClient({ baseUrl: url, apiKey: key, ...opts }) };
}

/** A review request as the router writes it: by default a spam model 60% sure of `spam`. */
export function reviewRequest(
  eventId: string,
  opts: {
    stream?: string;
    text?: string;
    label?: string | null;
    confidence?: number;
    reason?: ReviewReason;
    requiredReviewers?: number;
    priority?: number;
  } = {},
): ReviewRequest {
  const at = new Date().toISOString();
  const label = opts.label === undefined ? 'spam' : opts.label;
  const confidence = opts.confidence ?? 0.6;
  const common = {
    eventId,
    stream: opts.stream ?? 'email',
    occurredAt: at,
    input: { text: opts.text ?? `text of ${eventId}` },
    scoredAt: at,
  };
  const prediction: Prediction['data'] =
    label === null
      ? {
          ...common,
          model: null,
          classes: [],
          label: null,
          probabilities: {},
          confidence: 0,
          margin: 0,
          entropy: 0,
        }
      : {
          ...common,
          model: { id: 'spam', version: 1 },
          classes: ['ham', 'spam'],
          label,
          probabilities: {
            ham: label === 'ham' ? confidence : 1 - confidence,
            spam: label === 'spam' ? confidence : 1 - confidence,
          },
          confidence,
          margin: Math.abs(2 * confidence - 1),
          entropy: 0.6,
        };
  return {
    type: 'review.requested',
    version: 1,
    producedAt: at,
    data: {
      eventId,
      prediction,
      reason: opts.reason ?? 'low_confidence',
      priority: opts.priority ?? 1 - confidence,
      policyVersion: 1,
      requiredReviewers: opts.requiredReviewers ?? 1,
      requestedAt: at,
    },
  };
}

/** Review requests through Kafka, as the router sends them. */
export async function sendReviewRequests(topic: string, records: ReviewRequest[]): Promise<void> {
  const producer = new TypedProducer({ kafka: testKafka() });
  await producer.connect();
  try {
    await producer.send(
      { ...topics.reviewRequests, name: topic },
      records.map((value) => ({ value })),
    );
  } finally {
    await producer.disconnect();
  }
}

/** A terminal for the terminal reviewer: keys go in, everything written comes out as text. */
export function fakeTerminal() {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    input,
    output,
    /** Everything written so far. */
    text: () => text,
    /** Everything written after `mark` (a length of text() taken earlier). */
    since: (mark: number) => text.slice(mark),
    press: (keys: string) => input.write(keys),
  };
}
