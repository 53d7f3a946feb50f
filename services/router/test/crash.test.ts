import { createPolicyVersion } from '@hitl/db';
import { ProcessGroup, TopicReader, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { Pool } from 'pg';
import {
  confidenceOf,
  prediction,
  routerEnv,
  routerTopics,
  sendPredictions,
  testDatabase,
  testKafka,
} from './helpers';

const root = join(__dirname, '..');
const processes = new ProcessGroup();
const cleanups: (() => Promise<unknown>)[] = [];
let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  await processes.stopAll();
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe('router process', () => {
  it('loses and doubles no output across kill -9 and restart', async () => {
    const name = uniqueName('crash');
    await createPolicyVersion(pool, name, {
      classes: [],
      threshold: 0.9,
      classThresholds: {},
      alwaysReview: [],
      auditRate: 0.02,
      requiredReviewers: 1,
    });
    const t = await routerTopics();
    cleanups.push(t.cleanup);
    const env = { ...routerEnv(t, db.url, name, { BATCH_SIZE: '100' }), LOG_LEVEL: 'info' };
    const readers = [await TopicReader.start(t.decisions), await TopicReader.start(t.reviewRequests)];
    cleanups.push(() => Promise.all(readers.map((r) => r.stop())));
    const routed = () => readers.reduce((n, r) => n + r.records.length, 0);
    const total = 4_000;
    const records = Array.from({ length: total }, (_, i) => prediction(`crash-${i}`, confidenceOf(i)));
    const kafka = testKafka();
    const start = () => processes.start(join(root, 'src', 'main.ts'), { cwd: root, env });

    const first = await start();
    const sending = (async () => {
      for (let i = 0; i < total; i += 100) {
        await sendPredictions(kafka, t.predictions, records.slice(i, i + 100));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await waitFor(() => routed() >= 500, { timeoutMs: 30_000, message: 'some outputs before the kill' });
    await ProcessGroup.stop(first, 'SIGKILL');
    const atKill = routed();
    await sending;
    expect(atKill).toBeLessThan(total);

    await start();
    await waitFor(() => routed() >= total, { timeoutMs: 60_000, message: `${total} outputs` });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const counts = new Map<string, number>();
    for (const r of readers) {
      for (const v of r.values<{ data: { eventId: string } }>())
        counts.set(v.data.eventId, (counts.get(v.data.eventId) ?? 0) + 1);
    }
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
    expect(counts.size).toBe(total);
    expect(routed()).toBe(total);
  });
});
