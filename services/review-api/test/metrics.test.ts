import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { createReviewApi, loadReviewApiConfig } from '../src';
import { boundedStreams } from '../src/metrics';
import {
  client,
  logger,
  person,
  reviewEnv,
  reviewRequest,
  reviewTopics,
  sendReviewRequests,
  testDatabase,
  testKafka,
} from './helpers';

let db: TestDatabase;
let pool: Pool;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** The metric's series as `label=value,…` → value (a scrape: collect hooks run). */
async function series(registry: Registry, name: string): Promise<Map<string, number>> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return new Map(
    values.map((v) => [
      Object.entries(v.labels)
        .map(([k, l]) => `${k}=${String(l)}`)
        .join(','),
      v.value,
    ]),
  );
}

describe('review API metrics', () => {
  it('reports the queue from Postgres, and counts decisions and audit outcomes', async () => {
    const t = await reviewTopics();
    cleanups.push(t.cleanup);
    const registry = new Registry();
    const api = await createReviewApi(loadReviewApiConfig(reviewEnv(t, db.url)), {
      logger,
      registry,
      kafka: testKafka(),
    });
    await api.start();
    cleanups.push(() => api.stop());

    const prefix = uniqueName('m');
    await sendReviewRequests(testKafka(), t.reviewRequests, [
      reviewRequest(`${prefix}-audit-1`, { reason: 'audit_sample', label: 'spam', confidence: 0.97 }),
      reviewRequest(`${prefix}-audit-2`, { reason: 'audit_sample', label: 'spam', confidence: 0.98 }),
      reviewRequest(`${prefix}-low`, { reason: 'low_confidence', label: 'spam', confidence: 0.6 }),
      reviewRequest(`${prefix}-none`, { reason: 'no_model', label: null }),
    ]);
    const queued = async () =>
      [...(await series(registry, 'hitl_review_queue_depth')).values()].reduce((n, v) => n + v, 0);
    await waitFor(async () => (await queued()) === 4, { timeoutMs: 30_000, message: 'four tasks queued' });
    const depth = await series(registry, 'hitl_review_queue_depth');
    expect(Object.fromEntries(depth)).toEqual({
      'status=open,reason=no_model': 1,
      'status=open,reason=low_confidence': 1,
      'status=open,reason=class_rule': 0,
      'status=open,reason=audit_sample': 2,
      'status=escalated,reason=no_model': 0,
      'status=escalated,reason=low_confidence': 0,
      'status=escalated,reason=class_rule': 0,
      'status=escalated,reason=audit_sample': 0,
    });
    // By stream: every request here is of the stream "email".
    expect(Object.fromEntries(await series(registry, 'hitl_review_queue_stream_depth'))).toEqual({
      'stream=email,status=open': 4,
    });
    expect(
      (await series(registry, 'hitl_review_queue_stream_oldest_age_seconds')).get('stream=email,status=open'),
    ).toBeGreaterThan(0);
    // The requests were stamped before they were sent, so the oldest has some age already.
    const age = await series(registry, 'hitl_review_queue_oldest_age_seconds');
    expect(age.get('status=open,reason=audit_sample')).toBeGreaterThan(0);
    expect(age.get('status=open,reason=class_rule')).toBe(0);

    // A reviewer answers both audit samples: agrees with the model once, overturns it once.
    const reviewer = client(api.url(), (await person(pool)).key);
    for (const label of ['spam', 'ham']) {
      const claimed = await reviewer('POST', '/v1/tasks/claim', { reason: 'audit_sample' });
      expect(claimed.status).toBe(200);
      const { eventId } = claimed.body as { eventId: string };
      const answered = await reviewer('POST', `/v1/tasks/${eventId}/answers`, { label });
      expect(answered.body).toMatchObject({ status: 'decided', finalLabel: label });
    }

    expect(Object.fromEntries(await series(registry, 'hitl_review_decisions_total'))).toEqual({
      'decided_by=human,reason=audit_sample': 2,
    });
    expect(Object.fromEntries(await series(registry, 'hitl_review_corrections_total'))).toEqual({
      'reason=audit_sample,outcome=agreed': 1,
      'reason=audit_sample,outcome=overturned': 1,
    });
    const after = await series(registry, 'hitl_review_queue_depth');
    expect(after.get('status=open,reason=audit_sample')).toBe(0);
    expect(after.get('status=open,reason=low_confidence')).toBe(1);
    expect(Object.fromEntries(await series(registry, 'hitl_review_queue_stream_depth'))).toEqual({
      'stream=email,status=open': 2,
    });
    expect(
      (await series(registry, 'hitl_review_queue_oldest_age_seconds')).get('status=open,reason=audit_sample'),
    ).toBe(0);
    // The text a scrape returns carries the same figures.
    expect(await registry.metrics()).toContain(
      'hitl_review_queue_depth{status="open",reason="low_confidence"} 1',
    );
  });
});

describe('boundedStreams', () => {
  it('keeps the busiest streams and adds up the rest as other', () => {
    const row = (stream: string, status: 'open' | 'escalated', tasks: number, oldestAgeSeconds = tasks) => ({
      stream,
      status,
      tasks,
      oldestAgeSeconds,
    });
    const rows = [
      row('a', 'open', 5),
      row('b', 'open', 3),
      row('b', 'escalated', 3, 90),
      row('c', 'open', 1, 50),
    ];
    expect(boundedStreams(rows, 2)).toEqual([
      row('a', 'open', 5),
      row('b', 'open', 3),
      row('b', 'escalated', 3, 90),
      row('other', 'open', 1, 50),
    ]);
    // b has 6 in all, a 5: b stays, a and c add up.
    expect(boundedStreams(rows, 1)).toEqual([
      row('b', 'open', 3),
      row('b', 'escalated', 3, 90),
      row('other', 'open', 6, 50),
    ]);
    expect(boundedStreams([], 1)).toEqual([]);
  });
});
