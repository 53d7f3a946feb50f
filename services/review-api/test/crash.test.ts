import type { Decision } from '@hitl/contracts';
import { generateApiKey } from '@hitl/db';
import { ProcessGroup, TopicReader, freePort, uniqueName, type TestDatabase } from '@hitl/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { TaskStore } from '../src';
import { client, person, reviewEnv, reviewRequest, reviewTopics, testDatabase } from './helpers';

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

describe('review API process', () => {
  // Its own work takes time: the service process starts four times (tsx compiles it each time)
  // while reviewers decide 600 tasks over HTTP and the outbox publishes them. 45 s on a quiet
  // 2-core machine, 51 s with the other core busy, past 60 s in a CI run under more load: so it
  // has a deadline of its own.
  it('publishes each decision exactly once across kill -9 and restarts', async () => {
    const t = await reviewTopics();
    cleanups.push(t.cleanup);
    const port = await freePort();
    const env = {
      ...reviewEnv(t, db.url, { API_PORT: String(port), ADMIN_KEY: generateApiKey(), LEASE_SECONDS: '2' }),
      LOG_LEVEL: 'info',
    };
    const decisions = await TopicReader.start(t.decisions);
    cleanups.push(() => decisions.stop());
    const store = new TaskStore({
      pool,
      leaseSeconds: 2,
      maxExtraRounds: 2,
      topics: { decisions: t.decisions, corrections: t.corrections },
    });
    const prefix = uniqueName('k');
    const total = 600;
    await store.ingestMany(
      Array.from({ length: total }, (_, i) => reviewRequest(`${prefix}-${i}`).data),
      [],
    );
    const reviewers = await Promise.all(Array.from({ length: 4 }, () => person(pool)));
    const start = () => processes.start(join(root, 'src', 'main.ts'), { cwd: root, env });
    const decided = async () =>
      Number(
        (
          await pool.query<{ n: string }>(
            `SELECT count(*) AS n FROM review_tasks WHERE status = 'decided' AND event_id LIKE $1`,
            [`${prefix}-%`],
          )
        ).rows[0]!.n,
      );

    // Reviewers work through the queue while the service is killed three times.
    let running = true;
    const work = Promise.all(
      reviewers.map(async (r) => {
        const call = client(`http://127.0.0.1:${port}`, r.key);
        while (running) {
          try {
            const claimed = await call('POST', '/v1/tasks/claim', {});
            if (claimed.status === 204) {
              if ((await decided()) >= total) return;
              continue;
            }
            if (claimed.status !== 200) continue;
            const { eventId } = claimed.body as { eventId: string };
            await call(
              'POST',
              `/v1/tasks/${eventId}/answers`,
              { label: 'spam' },
              { 'idempotency-key': `${r.id}-${eventId}` },
            );
          } catch {
            // The service is down: wait for it to come back.
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
      }),
    );
    for (let kill = 0; kill < 3; kill++) {
      const child = await start();
      // The API serves reviewers while its consumer still joins the group, so by the time it says
      // it started they may have decided much of what is left: never wait past the total.
      const target = Math.min(total, (await decided()) + 120);
      while ((await decided()) < target) await new Promise((resolve) => setTimeout(resolve, 20));
      await ProcessGroup.stop(child, 'SIGKILL');
    }
    await start();
    await work;
    running = false;
    expect(await decided()).toBe(total);
    await decisions.waitForCount(total, { timeoutMs: 60_000, settleMs: 3_000 });
    const ids = decisions.values<Decision>().map((d) => d.data.eventId);
    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);
  }, 180_000);
});
