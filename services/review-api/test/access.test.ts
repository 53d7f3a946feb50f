// Who may do what, and how much of it: the limit on key guessing, keys that stop working on every
// replica at once, reviewers who see only their own work, claims that can be repeated, caps on
// leases, routes closed unless they say otherwise, and queries that cannot run for ever.
import { createApiKey, listApiKeys, revokeApiKey } from '@hitl/db';
import { uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import type { Pool } from 'pg';
import type { ReviewApi } from '../src';
import { Authenticator } from '../src/auth';
import { createHttp } from '../src/http';
import { ANSWERS_BY_REVIEWER, taskListQuery } from '../src/queries';
import {
  client,
  logger,
  person,
  reviewRequest,
  reviewTopics,
  startApi,
  testDatabase,
  type ReviewTopics,
} from './helpers';

let db: TestDatabase;
let pool: Pool;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await pool.end();
  await db.drop();
});

let topics: ReviewTopics | undefined;
async function api(extra: Record<string, string> = {}): Promise<ReviewApi> {
  if (!topics) {
    const t = await reviewTopics();
    topics = t;
    cleanups.push(async () => {
      topics = undefined;
      await t.cleanup();
    });
  }
  const started = await startApi(topics, db, extra);
  cleanups.push(() => started.stop());
  return started;
}

/** Tasks straight into the store (the consumer's path is tested elsewhere). */
async function tasks(api: ReviewApi, count: number, opts: { requiredReviewers?: number } = {}) {
  const ids = Array.from({ length: count }, (_, i) => `${uniqueName('e')}-${i}`);
  await api.tasks.ingestMany(
    ids.map((id, i) => reviewRequest(id, { priority: 1 - i / 100, ...opts }).data),
    [],
  );
  return ids;
}

const code = (reply: { body: Record<string, unknown> | null }) =>
  (reply.body as { error?: { code?: string } } | null)?.error?.code;

describe('guessing keys', () => {
  it('refuses a flood of made-up keys from one address with 429 before looking them up, while a real key keeps working', async () => {
    const review = await api({ AUTH_ATTEMPTS_PER_MINUTE: '50' });
    const real = await person(pool, 'reviewer');
    const statuses = new Map<number, number>();
    let realOk = 0;
    for (let i = 0; i < 1_000; i++) {
      const made = `hitl_${i.toString(16).padStart(16, '0')}_${'k'.repeat(43)}`;
      const reply = await review.http.inject({
        method: 'GET',
        url: '/v1/me',
        headers: { authorization: `Bearer ${made}` },
      });
      statuses.set(reply.statusCode, (statuses.get(reply.statusCode) ?? 0) + 1);
      if (i === 0) expect(reply.headers['retry-after']).toBeUndefined();
      if (reply.statusCode === 429) {
        expect(reply.json()).toMatchObject({ error: { code: 'HITL_ERR_RATE_LIMITED' } });
        expect(Number(reply.headers['retry-after'])).toBeGreaterThan(0);
      }
      if (i % 100 === 0) {
        const mine = await review.http.inject({
          method: 'GET',
          url: '/v1/me',
          headers: { authorization: `Bearer ${real.key}` },
        });
        expect(mine.statusCode).toBe(200);
        realOk++;
      }
    }
    // 49 made-up keys were looked up: with the real key's first use, the 50 attempts allowed.
    expect(Object.fromEntries(statuses)).toEqual({ 401: 49, 429: 951 });
    expect(realOk).toBe(10);
  });

  it('counts by the address a trusted proxy forwards, and only then', async () => {
    const trusting = await api({ AUTH_ATTEMPTS_PER_MINUTE: '2', TRUST_PROXY: '127.0.0.1' });
    const bad = { authorization: `Bearer hitl_${'0'.repeat(16)}_${'k'.repeat(43)}` };
    const from = (address: string) =>
      trusting.http.inject({
        method: 'GET',
        url: '/v1/me',
        headers: { ...bad, 'x-forwarded-for': address },
      });
    expect((await from('10.0.0.1')).statusCode).toBe(401);
    expect((await from('10.0.0.1')).statusCode).toBe(401);
    expect((await from('10.0.0.1')).statusCode).toBe(429);
    // Another client behind the same proxy has its own count.
    expect((await from('10.0.0.2')).statusCode).toBe(401);

    // Without TRUST_PROXY the header is the client's word, and is not believed.
    const plain = await api({ AUTH_ATTEMPTS_PER_MINUTE: '2' });
    const direct = (address: string) =>
      plain.http.inject({ method: 'GET', url: '/v1/me', headers: { ...bad, 'x-forwarded-for': address } });
    expect((await direct('10.0.0.1')).statusCode).toBe(401);
    expect((await direct('10.0.0.2')).statusCode).toBe(401);
    expect((await direct('10.0.0.3')).statusCode).toBe(429);
  });

  it('refuses a TRUST_PROXY it cannot read', async () => {
    await expect(api({ TRUST_PROXY: 'the ingress' })).rejects.toThrow(/TRUST_PROXY/);
  });
});

describe('keys across replicas', () => {
  it('stops a revoked key, an expired key and a disabled reviewer on every replica at once', async () => {
    const a = await api();
    const b = await api();
    const admin = client(a.url(), (await person(pool, 'admin')).key);
    const viaApi = await person(pool, 'reviewer');
    const viaSql = await person(pool, 'reviewer');
    const expiring = await person(pool, 'reviewer');
    const disabled = await person(pool, 'reviewer');
    const onB = (key: string) => client(b.url(), key)('GET', '/v1/me');
    // B has checked each key and keeps it.
    for (const p of [viaApi, viaSql, expiring, disabled]) expect((await onB(p.key)).status).toBe(200);

    const dropped = (id: string) =>
      new Promise<void>((resolve) => {
        const listener = (what: string) => {
          if (what === id) {
            b.authenticator.off('invalidated', listener);
            resolve();
          }
        };
        b.authenticator.on('invalidated', listener);
      });

    // Revoked through replica A's API: B hears of it when it commits.
    let heard = dropped(viaApi.keyId);
    expect((await admin('DELETE', `/v1/admin/keys/${viaApi.keyId}`)).status).toBe(200);
    await heard;
    expect(await onB(viaApi.key)).toMatchObject({
      status: 401,
      body: { error: { message: 'this API key was revoked' } },
    });

    // Revoked as `hitl keys revoke` does, in plain SQL.
    heard = dropped(viaSql.keyId);
    await revokeApiKey(pool, viaSql.keyId);
    await heard;
    expect((await onB(viaSql.key)).status).toBe(401);

    // Its expiry moved into the past.
    heard = dropped(expiring.keyId);
    await pool.query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      expiring.keyId,
    ]);
    await heard;
    const expired = await onB(expiring.key);
    expect(expired.status).toBe(401);
    expect(code(expired)).toBe('HITL_ERR_UNAUTHENTICATED');
    expect((expired.body as { error: { message: string } }).error.message).toMatch(/expired at/);

    // A reviewer disabled: their key stops, the task they hold goes back, and enabling undoes it.
    const [held] = await tasks(b, 1);
    expect((await client(b.url(), disabled.key)('POST', '/v1/tasks/claim', {})).body).toMatchObject({
      eventId: held,
    });
    heard = dropped(`reviewer:${disabled.id}`);
    const off = await admin('POST', `/v1/admin/reviewers/${disabled.id}/disable`);
    expect(off.status).toBe(200);
    expect((off.body as { disabledAt: string | null }).disabledAt).not.toBeNull();
    await heard;
    expect(await onB(disabled.key)).toMatchObject({ status: 401 });
    const other = client(b.url(), (await person(pool, 'reviewer')).key);
    expect((await other('POST', '/v1/tasks/claim', {})).body).toMatchObject({ eventId: held });
    heard = dropped(`reviewer:${disabled.id}`);
    expect((await admin('POST', `/v1/admin/reviewers/${disabled.id}/enable`)).status).toBe(200);
    await heard;
    expect((await onB(disabled.key)).status).toBe(200);
    expect((await admin('POST', '/v1/admin/reviewers/nobody/disable')).status).toBe(404);
  });

  it('makes keys that expire, records who made them and when they were last used', async () => {
    const review = await api();
    const adminPerson = await person(pool, 'admin');
    const admin = client(review.url(), adminPerson.key);
    const reviewer = await person(pool, 'reviewer');
    const made = await admin('POST', `/v1/admin/reviewers/${reviewer.id}/keys`, { expiresInDays: 30 });
    expect(made.status).toBe(201);
    const { key, info } = made.body as {
      key: string;
      info: { id: string; expiresAt: string; createdBy: string; lastUsedAt: string | null };
    };
    expect(info.createdBy).toBe(adminPerson.id);
    const days = (Date.parse(info.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
    expect(info.lastUsedAt).toBeNull();
    expect((await client(review.url(), key)('GET', '/v1/me')).status).toBe(200);
    // last_used_at is written beside the request, not in its way: wait for it.
    await waitFor(async () => (await listApiKeys(pool, reviewer.id)).some((k) => k.lastUsedAt !== null));
    // The hitl command's keys have no maker recorded and may expire too.
    const cli = await createApiKey(pool, reviewer.id, { expiresInDays: 1 });
    expect(cli.info.createdBy).toBeNull();
    expect(cli.info.expiresAt).not.toBeNull();

    for (const expiresInDays of [0, -1, 3_651, 'soon', null]) {
      const refused = await admin('POST', `/v1/admin/reviewers/${reviewer.id}/keys`, { expiresInDays });
      expect(refused.status).toBe(400);
      expect(code(refused)).toBe('HITL_ERR_VALIDATION');
    }
    await expect(createApiKey(pool, reviewer.id, { expiresInDays: Number.NaN })).rejects.toMatchObject({
      code: 'HITL_ERR_API_KEY_INVALID',
    });
  });

  it('falls back to a 5 s trust when it cannot listen, and listens again when it can', async () => {
    const authenticator = new Authenticator({ pool, logger, fallbackTtlMs: 5_000 });
    const listening = once(authenticator, 'listening');
    await authenticator.start();
    await listening;
    cleanups.push(() => authenticator.stop());
    // Kill its listening connection from the server side: it must notice and listen again.
    const relisten = once(authenticator, 'listening');
    await pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
    );
    await relisten;
    const reviewer = await person(pool, 'reviewer');
    const header = `Bearer ${reviewer.key}`;
    await authenticator.authenticate(header);
    const heard = once(authenticator, 'invalidated');
    await revokeApiKey(pool, reviewer.keyId);
    await heard;
    expect(authenticator.cached(header)).toBeUndefined();
    await expect(authenticator.authenticate(header)).rejects.toMatchObject({ statusCode: 401 });
  });
});

describe('what a reviewer sees', () => {
  it('shows a reviewer only the tasks they hold or answered, and only their own figures', async () => {
    const review = await api();
    const [first, second, third] = await tasks(review, 3);
    const alice = await person(pool, 'reviewer');
    const bob = await person(pool, 'reviewer');
    const asAlice = client(review.url(), alice.key);
    const asBob = client(review.url(), bob.key);
    const admin = client(review.url(), (await person(pool, 'admin')).key);

    expect((await asAlice('POST', '/v1/tasks/claim', {})).body).toMatchObject({ eventId: first });
    expect((await asAlice('POST', `/v1/tasks/${first}/answers`, { label: 'spam' })).status).toBe(200);
    expect((await asBob('POST', '/v1/tasks/claim', {})).body).toMatchObject({ eventId: second });
    const held = await asAlice('POST', '/v1/tasks/claim', {});
    expect(held.body).toMatchObject({ eventId: third });

    const ids = async (call: typeof asAlice, query = '') =>
      ((await call('GET', `/v1/tasks?limit=50${query}`)).body as { items: { eventId: string }[] }).items
        .map((t) => t.eventId)
        .sort();
    expect(await ids(asAlice)).toEqual([first, third].sort());
    expect(await ids(asAlice, '&status=decided')).toEqual([first]);
    expect(await ids(asBob)).toEqual([second]);
    expect(await ids(asBob, '&status=decided')).toEqual([]);
    expect(await ids(admin)).toEqual([first, second, third].sort());

    // One task: Bob's is not there for Alice, and a decided one she did not answer neither.
    expect((await asAlice('GET', `/v1/tasks/${second}`)).status).toBe(404);
    expect((await asBob('GET', `/v1/tasks/${first}`)).status).toBe(404);
    expect((await asAlice('GET', `/v1/tasks/${first}`)).status).toBe(200);
    expect((await admin('GET', `/v1/tasks/${second}`)).body).toMatchObject({ lease: { owner: bob.id } });

    const reviewersIn = async (call: typeof asAlice) =>
      ((await call('GET', '/v1/stats')).body as { reviewers: { reviewerId: string }[] }).reviewers.map(
        (r) => r.reviewerId,
      );
    expect(await reviewersIn(asAlice)).toEqual([alice.id]);
    expect(await reviewersIn(asBob)).toEqual([]);
    expect(await reviewersIn(admin)).toEqual([alice.id]);
  });
});

describe('claims and leases', () => {
  it('gives a reviewer who claims again the task they hold, and a claim key its own task', async () => {
    const review = await api({ MAX_LEASES_PER_REVIEWER: '2' });
    const [first, second] = await tasks(review, 4);
    const reviewer = await person(pool, 'reviewer');
    const call = client(review.url(), reviewer.key);
    const claim = (key?: string) =>
      call('POST', '/v1/tasks/claim', {}, key ? { 'idempotency-key': key } : {});

    // A claim whose answer was lost is simply made again: the same task comes back.
    expect((await claim()).body).toMatchObject({ eventId: first });
    expect((await claim()).body).toMatchObject({ eventId: first });
    // A claim key asks for a task of its own, and a retry of that key gets it again.
    expect((await claim('next-1')).body).toMatchObject({ eventId: second });
    expect((await claim('next-1')).body).toMatchObject({ eventId: second });
    // Two leases is the cap here: a third claim is refused, and says which tasks are held.
    const refused = await claim('next-2');
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      error: { code: 'HITL_ERR_LEASE_LIMIT', details: { held: [first, second] } },
    });
    // Answering one makes room.
    expect((await call('POST', `/v1/tasks/${first}/answers`, { label: 'ham' })).status).toBe(200);
    expect((await claim('next-2')).status).toBe(200);
    // Filters still apply to a held task: asking for another stream does not return it.
    expect((await call('POST', '/v1/tasks/claim', { stream: 'elsewhere' })).status).toBe(409);
  });

  it('extends a lease only up to MAX_LEASE_SECONDS after its claim', async () => {
    const review = await api({ LEASE_SECONDS: '300', MAX_LEASE_SECONDS: '3600' });
    const [eventId] = await tasks(review, 1);
    const call = client(review.url(), (await person(pool, 'reviewer')).key);
    expect((await call('POST', '/v1/tasks/claim', {})).body).toMatchObject({ eventId });
    const extended = await call('POST', `/v1/tasks/${eventId}/lease`);
    expect(extended.status).toBe(200);

    // Claimed 59 minutes and 50 seconds ago: the lease can run 10 s more, not another 300 s.
    await pool.query(
      `UPDATE review_tasks SET leased_at = now() - interval '3590 seconds',
              lease_expires_at = now() + interval '5 seconds' WHERE event_id = $1`,
      [eventId],
    );
    const capped = await call('POST', `/v1/tasks/${eventId}/lease`);
    expect(capped.status).toBe(200);
    const until = Date.parse((capped.body as { expiresAt: string }).expiresAt);
    expect(until - Date.now()).toBeLessThan(11_000);
    const refused = await call('POST', `/v1/tasks/${eventId}/lease`);
    expect(refused.status).toBe(409);
    expect(code(refused)).toBe('HITL_ERR_LEASE_EXTENSION_LIMIT');
  });
});

describe('routes and queries', () => {
  it('closes a route that names no role to all but admins, and keeps the documentation public', async () => {
    const authenticator = new Authenticator({ pool, logger });
    const app = await createHttp({
      logger,
      authenticator,
      rateLimitPerMinute: 1_000,
      authAttemptsPerMinute: 1_000,
      trustProxy: false,
      bodyLimitBytes: 1_048_576,
      version: 'test',
    });
    app.get('/v1/unmarked', async () => ({ ok: true }));
    cleanups.push(() => app.close());
    const reviewer = await person(pool, 'reviewer');
    const admin = await person(pool, 'admin');
    const get = (url: string, key?: string) =>
      app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });
    expect((await get('/v1/unmarked')).statusCode).toBe(401);
    expect((await get('/v1/unmarked', reviewer.key)).statusCode).toBe(403);
    expect((await get('/v1/unmarked', admin.key)).statusCode).toBe(200);
    // A path with no route at all is a 404 for anyone, in the API's error shape.
    const missing = await get('/v1/nothing-here');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'HITL_ERR_NOT_FOUND' } });
    expect((await get('/docs/json')).statusCode).toBe(200);
    expect((await get('/openapi.json')).statusCode).toBe(200);
  });

  it('answers what fastify refuses before routing in the API’s own error shape', async () => {
    const review = await api();
    const admin = client(review.url(), (await person(pool, 'admin')).key);
    const malformed = await admin('GET', '/v1/tasks/%zz');
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toMatch(/^application\/json/);
    expect(code(malformed)).toBe('HITL_ERR_VALIDATION');
    const long = await admin('GET', `/v1/tasks/${'x'.repeat(5_000)}`);
    expect(long.status).toBe(414);
    expect(code(long)).toMatch(/^HITL_ERR_/);
  });

  it('answers 503 when a query runs past STATEMENT_TIMEOUT_MS, instead of waiting for ever', async () => {
    const review = await api({ STATEMENT_TIMEOUT_MS: '300' });
    const admin = client(review.url(), (await person(pool, 'admin')).key);
    expect((await admin('GET', '/v1/tasks')).status).toBe(200);
    // Another session holds the table: without a timeout the list would wait for it.
    const blocker = await pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE review_tasks IN ACCESS EXCLUSIVE MODE');
      const slow = await admin('GET', '/v1/tasks');
      expect(slow.status).toBe(503);
      expect(code(slow)).toBe('HITL_ERR_UNAVAILABLE');
      expect(slow.headers.get('retry-after')).toBe('1');
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    expect((await admin('GET', '/v1/tasks')).status).toBe(200);
  });

  it('pages tasks and counts answers from indexes, never from a sort or scan of everything', async () => {
    const explain = async (text: string, values: unknown[]) => {
      const c = await pool.connect();
      try {
        // The tables of a test are small; make the planner show what it does on big ones.
        await c.query('SET enable_seqscan = off');
        const { rows } = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, values);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      } finally {
        await c.query('RESET enable_seqscan');
        c.release();
      }
    };
    const list = taskListQuery({ limit: 50 });
    const listPlan = await explain(list.text, list.values);
    expect(listPlan).toMatch(/Index Scan using review_tasks_requested_idx/);
    expect(listPlan).not.toMatch(/Sort/);
    const statsPlan = await explain(ANSWERS_BY_REVIEWER, [null]);
    expect(statsPlan).toMatch(/review_answers_answered_idx/);
  });
});
