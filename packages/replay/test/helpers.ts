// The real review API, started in-process on a fresh database with topics of its own (as the
// client's tests start it: @hitl/review-api/testing), and reviewers with keys.
import type { ReviewRequest } from '@hitl/contracts';
import { createApiKey, createPool, createReviewer, migrate, type Role } from '@hitl/db';
import { createTestDatabase, testLogger as logger, uniqueName, type TestDatabase } from '@hitl/testkit';
import type { Pool } from 'pg';

export async function testDatabase(): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await createTestDatabase('hitl_replay');
  await migrate({ databaseUrl: db.url, logger });
  return { db, pool: createPool({ connectionString: db.url, max: 5 }) };
}

export {
  startInProcessReviewApi as startApi,
  type InProcessReviewApi as RunningApi,
} from '@hitl/review-api/testing';

/** A reviewer (or admin) with a fresh key. */
export async function person(pool: Pool, role: Role = 'reviewer'): Promise<{ id: string; key: string }> {
  const id = uniqueName(role);
  await createReviewer(pool, { id, name: `${role} ${id}`, role });
  const { key } = await createApiKey(pool, id);
  return { id, key };
}

/** A review request as the router writes it: a model 60% sure of `predicted`, over `classes`. */
export function reviewRequest(
  eventId: string,
  opts: { stream: string; predicted: string; classes: string[] },
): ReviewRequest['data'] {
  const at = new Date().toISOString();
  const rest = opts.classes.filter((c) => c !== opts.predicted);
  const probabilities = Object.fromEntries([
    [opts.predicted, 0.6],
    ...rest.map((c) => [c, 0.4 / rest.length]),
  ]) as Record<string, number>;
  return {
    eventId,
    prediction: {
      eventId,
      stream: opts.stream,
      occurredAt: at,
      input: { text: `text of ${eventId}` },
      scoredAt: at,
      model: { id: 'replay-test', version: 1 },
      classes: opts.classes,
      label: opts.predicted,
      probabilities,
      confidence: 0.6,
      margin: 0.2,
      entropy: 0.9,
    },
    reason: 'low_confidence',
    priority: 0.4,
    policyVersion: 1,
    requiredReviewers: 1,
    requestedAt: at,
  };
}
