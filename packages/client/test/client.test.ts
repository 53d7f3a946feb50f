// Every method of the client against the real review API (Postgres, Kafka, the outbox relay).
import { generateApiKey, registerModelVersion } from '@hitl/db';
import { uniqueName, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { ReviewApiError, ReviewClient, type PolicySpec } from '../src';
import { ensureModelsTopic, person, reviewRequest, startApi, testDatabase, type RunningApi } from './helpers';

let db: TestDatabase;
let pool: Pool;
const cleanups: (() => Promise<unknown>)[] = [];

// A database per test: outbox rows one test leaves unpublished, bound for its deleted topics, would
// otherwise hold up the relay of the next (a relay takes every unpublished row, whoever wrote it).
beforeEach(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await pool.end();
  await db.drop();
});

async function setup(extra: Record<string, string> = {}): Promise<RunningApi> {
  const running = await startApi(db, extra);
  cleanups.push(() => running.stop());
  return running;
}

/** The ReviewApiError a call fails with. */
async function failure(call: Promise<unknown>): Promise<ReviewApiError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ReviewApiError);
  return error as ReviewApiError;
}

const spec: PolicySpec = {
  classes: ['ham', 'spam'],
  threshold: 0.85,
  classThresholds: { spam: 0.95 },
  alwaysReview: [],
  auditRate: 0.05,
  requiredReviewers: 1,
};

describe('coverage', () => {
  it('has a method for every route in the server’s OpenAPI document', async () => {
    const { url } = await setup();
    const methods: Record<string, keyof ReviewClient> = {
      'GET /v1/me': 'me',
      'POST /v1/tasks/claim': 'claim',
      'GET /v1/tasks/{eventId}': 'getTask',
      'POST /v1/tasks/{eventId}/lease': 'extendLease',
      'DELETE /v1/tasks/{eventId}/lease': 'releaseLease',
      'POST /v1/tasks/{eventId}/skip': 'skip',
      'POST /v1/tasks/{eventId}/answers': 'answer',
      'GET /v1/tasks': 'listTasks',
      'GET /v1/stats': 'stats',
      'GET /v1/export': 'exportLabels',
      'GET /v1/admin/reviewers': 'listReviewers',
      'POST /v1/admin/reviewers': 'createReviewer',
      'GET /v1/admin/reviewers/{reviewerId}/keys': 'listKeys',
      'POST /v1/admin/reviewers/{reviewerId}/keys': 'createKey',
      'DELETE /v1/admin/keys/{keyId}': 'revokeKey',
      'POST /v1/admin/reviewers/{reviewerId}/disable': 'disableReviewer',
      'POST /v1/admin/reviewers/{reviewerId}/enable': 'enableReviewer',
      'GET /v1/admin/policy': 'getPolicy',
      'GET /v1/admin/policy/history': 'policyHistory',
      'PUT /v1/admin/policy': 'setPolicy',
      'GET /v1/admin/models/{modelId}': 'listModelVersions',
      'POST /v1/admin/models/{modelId}/versions/{version}/promote': 'promote',
      'POST /v1/admin/models/{modelId}/rollback': 'rollback',
      'POST /v1/admin/models/{modelId}/train': 'requestTraining',
      'GET /v1/admin/models/{modelId}/trainings': 'listTrainings',
      'GET /v1/admin/learning': 'learning',
      'POST /v1/admin/gold': 'importGold',
      'GET /v1/admin/gold': 'listGold',
      'POST /v1/admin/gold/{goldId}/disable': 'disableGold',
      'POST /v1/admin/gold/{goldId}/enable': 'enableGold',
      'POST /v1/admin/streams': 'addStream',
      'GET /v1/admin/streams': 'listStreams',
      'GET /v1/admin/streams/{stream}': 'getStream',
      'PATCH /v1/admin/streams/{stream}': 'updateStream',
    };
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(routes.sort()).toEqual(Object.keys(methods).sort());
    for (const method of Object.values(methods))
      expect(typeof ReviewClient.prototype[method]).toBe('function');
  });
});

describe('reviewer methods', () => {
  it('claims, reads, extends, releases, skips and answers a task', async () => {
    const { api, url } = await setup({ LEASE_SECONDS: '30' });
    const stream = uniqueName('mail');
    const alice = await person(pool, url);
    const bob = await person(pool, url);

    expect(await alice.client.me()).toEqual({
      id: alice.id,
      name: `reviewer ${alice.id}`,
      role: 'reviewer',
      keyId: alice.keyId,
      settings: { hideSuggestion: false, featureNames: [] },
    });
    expect(await alice.client.claim({ stream })).toBeNull();

    // An event id that needs escaping in a path.
    const id = `${uniqueName('mail')}#1/2?x=%25&y`;
    await api.tasks.ingest(reviewRequest(id, { stream, text: 'Win a prize' }).data, []);
    const task = await alice.client.claim({ stream });
    expect(task).toMatchObject({
      eventId: id,
      stream,
      status: 'open',
      reason: 'low_confidence',
      classes: ['ham', 'spam'],
      input: { text: 'Win a prize' },
      prediction: { model: { id: 'spam', version: 1 }, label: 'spam', confidence: 0.6 },
      lease: { owner: alice.id },
    });
    expect(await alice.client.getTask(id)).toEqual(task);

    await new Promise((resolve) => setTimeout(resolve, 50));
    const lease = await alice.client.extendLease(id);
    expect(lease).toMatchObject({ eventId: id, owner: alice.id });
    expect(Date.parse(lease.expiresAt)).toBeGreaterThan(Date.parse(task!.lease!.expiresAt));

    await alice.client.releaseLease(id);
    // Given back, it is no longer alice's to see; an admin sees it without a lease.
    await expect(alice.client.getTask(id)).rejects.toMatchObject({ status: 404 });
    const admin = await person(pool, url, 'admin');
    expect((await admin.client.getTask(id)).lease).toBeNull();
    expect((await alice.client.claim({ stream }))?.eventId).toBe(id);
    await alice.client.skip(id);
    // Skipped: never offered to alice again, but to bob.
    expect(await alice.client.claim({ stream })).toBeNull();
    expect((await bob.client.claim({ stream }))?.eventId).toBe(id);

    const result = await bob.client.answer(
      id,
      { label: 'ham', comment: 'a newsletter' },
      { idempotencyKey: 'k-1' },
    );
    expect(result).toEqual({ eventId: id, status: 'decided', finalLabel: 'ham', answers: 1, needed: 1 });
    // The same key again: the first result, not a second answer.
    expect(await bob.client.answer(id, { label: 'ham' }, { idempotencyKey: 'k-1' })).toEqual(result);
    // A new key (the default): a second answer, refused.
    const again = await failure(bob.client.answer(id, { label: 'ham' }));
    expect(again).toMatchObject({ status: 409, code: 'HITL_ERR_ALREADY_ANSWERED' });
    expect(await bob.client.getTask(id)).toMatchObject({
      status: 'decided',
      finalLabel: 'ham',
      answers: 1,
    });
    // Alice skipped it: what bob decided is not hers to read.
    await expect(alice.client.getTask(id)).rejects.toMatchObject({ status: 404 });
  });

  it('maps refusals to ReviewApiError with the server’s status, code and details', async () => {
    const { api, url } = await setup();
    const stream = uniqueName('mail');
    const alice = await person(pool, url);
    const bob = await person(pool, url);
    const id = uniqueName('refused');
    await api.tasks.ingest(reviewRequest(id, { stream }).data, []);

    expect(await failure(alice.client.getTask(uniqueName('none')))).toMatchObject({
      status: 404,
      code: 'HITL_ERR_NOT_FOUND',
    });
    expect(await failure(alice.client.extendLease(id))).toMatchObject({
      status: 409,
      code: 'HITL_ERR_LEASE_NOT_HELD',
    });
    await alice.client.claim({ stream });
    const foreign = [
      () => bob.client.releaseLease(id),
      () => bob.client.skip(id),
      () => bob.client.answer(id, { label: 'ham' }),
    ];
    for (const call of foreign) {
      expect(await failure(call())).toMatchObject({ status: 409, code: 'HITL_ERR_LEASE_NOT_HELD' });
    }
    const unknown = await failure(alice.client.answer(id, { label: 'eggs' }));
    expect(unknown).toMatchObject({
      status: 422,
      code: 'HITL_ERR_LABEL_UNKNOWN',
      details: { classes: ['ham', 'spam'] },
    });
    expect(unknown.message).toContain('eggs');
    expect(await failure(alice.client.answer(id, { label: '' }))).toMatchObject({
      status: 400,
      code: 'HITL_ERR_VALIDATION',
    });
    // One idempotency key, two events.
    const other = uniqueName('other');
    await api.tasks.ingest(reviewRequest(other, { stream, priority: 0 }).data, []);
    await alice.client.answer(id, { label: 'spam' }, { idempotencyKey: 'shared' });
    expect((await alice.client.claim({ stream }))?.eventId).toBe(other);
    expect(
      await failure(alice.client.answer(other, { label: 'spam' }, { idempotencyKey: 'shared' })),
    ).toMatchObject({ status: 422, code: 'HITL_ERR_IDEMPOTENCY_CONFLICT' });
    expect(await failure(alice.client.skip(id))).toMatchObject({
      status: 409,
      code: 'HITL_ERR_TASK_DECIDED',
    });

    const stranger = new ReviewClient({ baseUrl: url, apiKey: `hitl_0000000000000000_${'x'.repeat(43)}` });
    expect(await failure(stranger.me())).toMatchObject({ status: 401, code: 'HITL_ERR_UNAUTHENTICATED' });
    expect(await failure(alice.client.listReviewers())).toMatchObject({
      status: 403,
      code: 'HITL_ERR_FORBIDDEN',
    });
  });

  it('gets 429 from a rate-limited key, retries after Retry-After, and gives up after maxRetries', async () => {
    const { url } = await setup({ RATE_LIMIT_PER_MINUTE: '3' });
    let requests = 0;
    const counting: typeof fetch = (input, init) => {
      requests++;
      return fetch(input, init);
    };
    // The server asks for up to a minute; the cap keeps the test short.
    const alice = await person(pool, url, 'reviewer', {
      fetch: counting,
      maxRetries: 2,
      maxRetryDelayMs: 100,
    });
    for (let i = 0; i < 3; i++) await alice.client.me();
    requests = 0;
    const limited = await failure(alice.client.me());
    expect(limited).toMatchObject({ status: 429, code: 'HITL_ERR_RATE_LIMITED' });
    expect(requests).toBe(3);
  });

  it('works with the ADMIN_KEY an operator gives the server', async () => {
    const adminKey = generateApiKey();
    const { url } = await setup({ ADMIN_KEY: adminKey });
    const admin = new ReviewClient({ baseUrl: url, apiKey: adminKey });
    expect(await admin.me()).toMatchObject({ id: 'admin', role: 'admin' });
  });
});

describe('query methods', () => {
  /** Tasks on a stream of their own; the first `decided` of them answered by `who`. */
  async function tasksOn(api: RunningApi['api'], who: ReviewClient, count: number, decided: number) {
    const stream = uniqueName('mail');
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = uniqueName(`q${i}`);
      ids.push(id);
      await api.tasks.ingest(reviewRequest(id, { stream, priority: count - i }).data, []);
    }
    for (let i = 0; i < decided; i++) {
      const task = await who.claim({ stream });
      await who.answer(task!.eventId, { label: i % 2 === 0 ? 'ham' : 'spam' });
    }
    return { stream, ids };
  }

  it('lists tasks a page at a time, with filters', async () => {
    const { api, url } = await setup();
    const alice = await person(pool, url);
    const { stream, ids } = await tasksOn(api, alice.client, 5, 1);
    // Every task is for an admin to list; a reviewer lists the ones they hold or answered.
    const admin = await person(pool, url, 'admin');
    expect((await alice.client.listTasks({ stream })).items.map((t) => t.eventId)).toEqual([ids[0]]);

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await admin.client.listTasks({ stream, limit: 2, ...(cursor ? { cursor } : {}) });
      pages++;
      seen.push(...page.items.map((t) => t.eventId));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual([...ids].sort());
    const decided = await alice.client.listTasks({ stream, status: 'decided' });
    expect(decided).toEqual({
      items: [expect.objectContaining({ eventId: ids[0], finalLabel: 'ham' })],
      nextCursor: null,
    });
    expect(await failure(alice.client.listTasks({ cursor: 'garbage' }))).toMatchObject({
      status: 400,
      code: 'HITL_ERR_VALIDATION',
    });
  });

  it('gives the queue and agreement figures', async () => {
    const { api, url } = await setup();
    const alice = await person(pool, url);
    await tasksOn(api, alice.client, 3, 2);
    const stats = await alice.client.stats();
    expect(stats.queue.open).toBeGreaterThanOrEqual(1);
    expect(stats.decisions.lastHour).toBeGreaterThanOrEqual(2);
    expect(stats.reviewers).toContainEqual(
      expect.objectContaining({ reviewerId: alice.id, answers: 2, answersToday: 2 }),
    );
  });

  it('exports the labelled data as it streams, lets the caller stop early, and is for admins only', async () => {
    const { api, url } = await setup();
    const alice = await person(pool, url);
    const admin = await person(pool, url, 'admin');
    const { stream, ids } = await tasksOn(api, alice.client, 4, 3);

    const exported = [];
    for await (const line of admin.client.exportLabels({ stream })) exported.push(line);
    expect(exported.map((l) => l.eventId)).toEqual(ids.slice(0, 3));
    expect(exported[0]).toEqual({
      eventId: ids[0],
      stream,
      input: { text: `text of ${ids[0]}` },
      label: 'ham',
      reviewerLabels: [{ reviewerId: alice.id, label: 'ham' }],
      reviewReason: 'low_confidence',
      modelPrediction: { model: { id: 'spam', version: 1 }, label: 'spam', confidence: 0.6 },
      decidedAt: expect.any(String),
    });
    expect(await failure(admin.client.exportLabels({ stream, since: 'yesterday' }).next())).toMatchObject({
      status: 400,
      code: 'HITL_ERR_VALIDATION',
    });
    const since = exported[1]!.decidedAt;
    const later = [];
    for await (const line of admin.client.exportLabels({ stream, since })) later.push(line.eventId);
    expect(later).toEqual(ids.slice(1, 3));

    for await (const line of admin.client.exportLabels({ stream })) {
      expect(line.eventId).toBe(ids[0]);
      break;
    }
    expect(await failure(alice.client.exportLabels().next())).toMatchObject({
      status: 403,
      code: 'HITL_ERR_FORBIDDEN',
    });
  });
});

describe('admin methods', () => {
  it('adds reviewers, creates, lists and revokes their keys', async () => {
    const { url } = await setup();
    const admin = await person(pool, url, 'admin');
    const id = uniqueName('carol');

    const carol = await admin.client.createReviewer({ id, name: 'Carol', role: 'reviewer' });
    expect(carol).toMatchObject({ id, name: 'Carol', role: 'reviewer', disabledAt: null });
    expect(await failure(admin.client.createReviewer({ id, role: 'reviewer' }))).toMatchObject({
      status: 409,
      code: 'HITL_ERR_REVIEWER_EXISTS',
    });
    expect((await admin.client.listReviewers()).map((r) => r.id)).toEqual(
      expect.arrayContaining([admin.id, id]),
    );

    const created = await admin.client.createKey(id);
    expect(created.key).toMatch(/^hitl_[0-9a-f]{16}_/);
    expect(created.info).toMatchObject({ reviewerId: id, revokedAt: null });
    const carolClient = new ReviewClient({ baseUrl: url, apiKey: created.key });
    expect(await carolClient.me()).toMatchObject({
      id,
      name: 'Carol',
      role: 'reviewer',
      keyId: created.info.id,
    });
    expect(await admin.client.listKeys(id)).toEqual([expect.objectContaining({ id: created.info.id })]);
    expect(await failure(admin.client.listKeys(uniqueName('nobody')))).toMatchObject({
      status: 404,
      code: 'HITL_ERR_NOT_FOUND',
    });
    expect(await failure(admin.client.createKey(uniqueName('nobody')))).toMatchObject({
      status: 404,
      code: 'HITL_ERR_REVIEWER_NOT_FOUND',
    });

    const revoked = await admin.client.revokeKey(created.info.id);
    expect(revoked.revokedAt).not.toBeNull();
    expect(await admin.client.revokeKey(created.info.id)).toEqual(revoked);
    expect(await failure(carolClient.me())).toMatchObject({ status: 401, code: 'HITL_ERR_UNAUTHENTICATED' });
    expect(await failure(admin.client.revokeKey('nokey'))).toMatchObject({
      status: 404,
      code: 'HITL_ERR_API_KEY_NOT_FOUND',
    });
  });

  it('reads, sets and lists the routing policy, and refuses an invalid one with its problems', async () => {
    const { url } = await setup();
    const admin = await person(pool, url, 'admin');
    expect(await failure(admin.client.getPolicy())).toMatchObject({
      status: 404,
      code: 'HITL_ERR_POLICY_NOT_FOUND',
    });
    expect(await admin.client.policyHistory()).toEqual([]);

    const first = await admin.client.setPolicy(spec, 'spam costs more when wrong');
    expect(first).toMatchObject({
      ...spec,
      // Left out, so the defaults.
      targetAccuracy: null,
      confidenceLevel: 0.95,
      hideSuggestion: false,
      featureNames: [],
      version: 1,
      createdBy: admin.id,
      reason: 'spam costs more when wrong',
    });
    const second = await admin.client.setPolicy({ ...spec, threshold: 0.8, targetAccuracy: 0.99 });
    expect(second).toMatchObject({ version: 2, threshold: 0.8, targetAccuracy: 0.99, reason: null });
    expect(await admin.client.getPolicy()).toEqual(second);
    expect((await admin.client.policyHistory()).map((p) => p.version)).toEqual([1, 2]);

    const invalid = await failure(
      admin.client.setPolicy({ ...spec, threshold: 7, classThresholds: { eggs: 0.5 } }, 'typo'),
    );
    expect(invalid).toMatchObject({ status: 422, code: 'HITL_ERR_POLICY_INVALID' });
    expect((invalid.details as { problems: unknown[] }).problems.length).toBeGreaterThanOrEqual(2);
    expect((await admin.client.getPolicy()).version).toBe(2);

    // The reviewer settings reach every key through me().
    const third = await admin.client.setPolicy({ ...spec, hideSuggestion: true, featureNames: ['a', 'b'] });
    expect(third).toMatchObject({ version: 3, hideSuggestion: true, featureNames: ['a', 'b'] });
    expect((await admin.client.me()).settings).toEqual({ hideSuggestion: true, featureNames: ['a', 'b'] });
  });

  it('reads the learning view, for the days asked or the default, and refuses days out of range', async () => {
    const { url } = await setup();
    const admin = await person(pool, url, 'admin');
    const fortnight = await admin.client.learning();
    expect(fortnight).toEqual({
      from: expect.any(String),
      to: expect.any(String),
      // Nothing yet: buckets the size the whole window needs (14 days: 57 of 6 hours).
      bucketMinutes: 360,
      points: [],
      promotions: [],
    });
    const day = await admin.client.learning(1);
    expect(Date.parse(day.to) - Date.parse(day.from)).toBeLessThan(25 * 3_600_000);
    expect(day.bucketMinutes).toBe(15);
    expect(Date.parse(fortnight.to) - Date.parse(fortnight.from)).toBeGreaterThanOrEqual(14 * 86_400_000);
    expect(await failure(admin.client.learning(91))).toMatchObject({
      status: 400,
      code: 'HITL_ERR_VALIDATION',
    });
  });

  it('lists, promotes and rolls back model versions', async () => {
    await ensureModelsTopic();
    const { url } = await setup();
    const admin = await person(pool, url, 'admin');
    const modelId = uniqueName('client-spam');
    for (let i = 0; i < 2; i++) {
      await registerModelVersion(pool, {
        modelId,
        onnx: new Uint8Array([1, 2, 3, i]),
        classes: ['ham', 'spam'],
        inputKind: 'text',
        metrics: { f1: 0.8 + i / 10 },
      });
    }
    expect(await admin.client.listModelVersions(modelId)).toEqual([
      expect.objectContaining({
        modelId,
        version: 1,
        status: 'candidate',
        classes: ['ham', 'spam'],
        thresholds: null,
      }),
      expect.objectContaining({ modelId, version: 2, status: 'candidate', metrics: { f1: 0.9 } }),
    ]);

    expect(await admin.client.promote(modelId, 1)).toMatchObject({ version: 1, status: 'promoted' });
    expect(await admin.client.promote(modelId, 2, 'better f1')).toMatchObject({
      version: 2,
      status: 'promoted',
    });
    // Promoting the promoted version changes nothing.
    expect(await admin.client.promote(modelId, 2)).toMatchObject({ version: 2, status: 'promoted' });
    expect(await admin.client.rollback(modelId, 'precision dropped')).toMatchObject({
      version: 1,
      status: 'promoted',
    });
    expect((await admin.client.listModelVersions(modelId)).map((m) => [m.version, m.status])).toEqual([
      [1, 'promoted'],
      [2, 'rolled_back'],
    ]);

    expect(await failure(admin.client.rollback(modelId))).toMatchObject({
      status: 409,
      code: 'HITL_ERR_MODEL_NO_PREVIOUS',
    });
    expect(await admin.client.requestTraining(modelId)).toMatchObject({ modelId, id: expect.any(String) });
    expect(await admin.client.listTrainings(modelId)).toEqual([]);
    expect(await failure(admin.client.promote(modelId, 2))).toMatchObject({
      status: 409,
      code: 'HITL_ERR_MODEL_ROLLED_BACK',
    });
    expect(await failure(admin.client.promote(modelId, 9))).toMatchObject({
      status: 404,
      code: 'HITL_ERR_MODEL_NOT_FOUND',
    });
  });

  it('adds, reads, lists and changes streams, and refuses a bad one with its problems', async () => {
    const { url } = await setup();
    const admin = await person(pool, url, 'admin');
    const alice = await person(pool, url);
    // An id that needs escaping in a path.
    const id = `${uniqueName('mail')}/eu#1?x=%25`;
    const added = await admin.client.addStream({
      id,
      classes: ['ham', 'spam'],
      inputKind: 'text',
      reviewers: [alice.id],
    });
    expect(added).toMatchObject({ id, modelId: id, policyName: id, version: 1, createdBy: admin.id });
    expect(await admin.client.getStream(id)).toEqual(added);
    const list = await admin.client.listStreams();
    expect(list).toEqual({ revision: added.revision, streams: [added] });

    const changed = await admin.client.updateStream(id, { allReviewers: true, expectedVersion: 1 });
    expect(changed).toMatchObject({ allReviewers: true, version: 2, revision: added.revision + 1 });
    expect(
      await failure(admin.client.updateStream(id, { allReviewers: false, expectedVersion: 1 })),
    ).toMatchObject({
      status: 409,
      code: 'HITL_ERR_STREAM_VERSION_CONFLICT',
    });
    expect(
      await failure(admin.client.addStream({ id, classes: ['a', 'b'], inputKind: 'text' })),
    ).toMatchObject({
      status: 409,
      code: 'HITL_ERR_STREAM_EXISTS',
    });
    const invalid = await failure(
      admin.client.addStream({
        id: uniqueName('x'),
        classes: ['a', 'b'],
        inputKind: 'features',
      }),
    );
    expect(invalid).toMatchObject({ status: 422, code: 'HITL_ERR_STREAM_INVALID' });
    expect((invalid.details as { problems: unknown[] }).problems).toEqual([
      { field: 'featureWidth', problem: expect.stringContaining('must be an integer') },
    ]);
    // A stream id with whitespace cannot name its model.
    expect(
      await failure(admin.client.addStream({ id: 'mail eu', classes: ['a', 'b'], inputKind: 'text' })),
    ).toMatchObject({ status: 422, message: expect.stringContaining('modelId must be given') });
    expect(await failure(admin.client.getStream('none'))).toMatchObject({
      status: 404,
      code: 'HITL_ERR_STREAM_NOT_FOUND',
    });
    expect(await failure(alice.client.listStreams())).toMatchObject({
      status: 403,
      code: 'HITL_ERR_FORBIDDEN',
    });
  });
});
