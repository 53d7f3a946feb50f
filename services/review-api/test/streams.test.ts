// The stream registry through the admin API, on the real stack: streams are added, read, listed
// and changed as versions; every change takes the next registry revision and is announced on
// hitl_streams when it commits; bad input is refused with a stable code and stores nothing.
import {
  ensurePolicy,
  listStreamVersions,
  promoteModelVersion,
  registerModelVersion,
  STREAMS_CHANNEL,
  streamsRevision,
} from '@hitl/db';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy';
import { uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import {
  client,
  person,
  reviewTopics,
  startApi,
  testDatabase,
  type Client,
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

async function setup(): Promise<{ t: ReviewTopics; admin: Client; adminId: string; url: string }> {
  const t = await reviewTopics(1);
  cleanups.push(t.cleanup);
  const api = await startApi(t, db);
  cleanups.push(() => api.stop());
  const admin = await person(pool, 'admin');
  return { t, admin: client(api.url(), admin.key), adminId: admin.id, url: api.url() };
}

/** The notifications on hitl_streams from now on, as they arrive. */
async function listen(): Promise<{ revision: number; stream: string }[]> {
  const listener = await pool.connect();
  const seen: { revision: number; stream: string }[] = [];
  listener.on('notification', (n) => {
    if (n.channel === STREAMS_CHANNEL)
      seen.push(JSON.parse(n.payload!) as { revision: number; stream: string });
  });
  await listener.query(`LISTEN ${STREAMS_CHANNEL}`);
  cleanups.push(async () => {
    await listener.query(`UNLISTEN ${STREAMS_CHANNEL}`);
    listener.release();
  });
  return seen;
}

const errorCode = (body: Record<string, unknown> | null) => (body as { error: { code: string } }).error.code;

describe('the stream registry', () => {
  it('adds, reads, lists and changes streams as versions, each change a revision announced on commit', async () => {
    const { admin, adminId } = await setup();
    const notices = await listen();
    const alice = await person(pool);
    const stream = uniqueName('mail');
    const before = await streamsRevision(pool);

    const added = await admin('POST', '/v1/admin/streams', {
      id: stream,
      classes: ['ham', 'spam'],
      inputKind: 'text',
      reviewers: [alice.id],
      reviewerGroups: ['mail-team'],
      reason: 'spam on the support inbox',
    });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({
      id: stream,
      classes: ['ham', 'spam'],
      inputKind: 'text',
      featureWidth: null,
      // Without them, the stream's id names its model and the model its policy.
      modelId: stream,
      policyName: stream,
      reviewers: [alice.id],
      reviewerGroups: ['mail-team'],
      allReviewers: false,
      version: 1,
      revision: before + 1,
      createdBy: adminId,
      createdAt: expect.any(String),
      updatedBy: adminId,
      updatedAt: expect.any(String),
      reason: 'spam on the support inbox',
    });
    await waitFor(() => notices.length === 1, { message: 'the addition announced' });
    expect(notices).toEqual([{ revision: before + 1, stream }]);

    // A numeric stream served by a model of another name, under a policy of its own.
    const sensors = uniqueName('sensors');
    const numeric = await admin('POST', '/v1/admin/streams', {
      id: sensors,
      classes: ['low', 'mid', 'high'],
      inputKind: 'features',
      featureWidth: 13,
      modelId: 'wine',
      policyName: 'wine-policy',
      allReviewers: true,
    });
    expect(numeric.status).toBe(201);
    expect(numeric.body).toMatchObject({
      featureWidth: 13,
      modelId: 'wine',
      policyName: 'wine-policy',
      version: 1,
    });

    expect((await admin('GET', `/v1/admin/streams/${encodeURIComponent(stream)}`)).body).toEqual(added.body);
    const listed = await admin('GET', '/v1/admin/streams');
    expect(listed.body).toEqual({
      revision: before + 2,
      streams: [added.body, numeric.body].sort((a, b) => ((a!.id as string) < (b!.id as string) ? -1 : 1)),
    });

    // A change: only the fields given, as the next version and revision.
    const changed = await admin('PATCH', `/v1/admin/streams/${stream}`, {
      allReviewers: true,
      reviewers: [],
      expectedVersion: 1,
      reason: 'everyone reviews mail',
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      id: stream,
      classes: ['ham', 'spam'],
      reviewers: [],
      reviewerGroups: ['mail-team'],
      allReviewers: true,
      version: 2,
      revision: before + 3,
      createdAt: added.body!.createdAt,
      reason: 'everyone reviews mail',
    });
    // The same change again changes nothing: no version, no revision, no notice.
    const again = await admin('PATCH', `/v1/admin/streams/${stream}`, { allReviewers: true, reviewers: [] });
    expect(again.body).toEqual(changed.body);
    // Made features, it needs its width; made text again, it drops it.
    const features = await admin('PATCH', `/v1/admin/streams/${stream}`, {
      inputKind: 'features',
      featureWidth: 4,
    });
    expect(features.body).toMatchObject({ inputKind: 'features', featureWidth: 4, version: 3 });
    const text = await admin('PATCH', `/v1/admin/streams/${stream}`, { inputKind: 'text' });
    expect(text.body).toMatchObject({ inputKind: 'text', featureWidth: null, version: 4 });
    expect(await streamsRevision(pool)).toBe(before + 5);
    await waitFor(() => notices.length === 5, { message: 'every change announced' });
    expect(notices.map((n) => n.revision)).toEqual([1, 2, 3, 4, 5].map((n) => before + n));

    const versions = await listStreamVersions(pool, stream);
    expect(
      versions.map((v) => [v.version, v.revision, v.changedBy, v.spec.inputKind, v.spec.allReviewers]),
    ).toEqual([
      [1, before + 1, adminId, 'text', false],
      [2, before + 3, adminId, 'text', true],
      [3, before + 4, adminId, 'features', true],
      [4, before + 5, adminId, 'text', true],
    ]);
    // A stream's versions never change.
    await expect(pool.query('DELETE FROM stream_versions WHERE stream = $1', [stream])).rejects.toThrow(
      /immutable/,
    );
  });

  it('refuses bad input with a stable code and stores nothing', async () => {
    const { admin, url } = await setup();
    const reviewer = client(url, (await person(pool)).key);
    const stream = uniqueName('mail');
    const good = { id: stream, classes: ['ham', 'spam'], inputKind: 'text' };
    const revision = await streamsRevision(pool);

    expect(errorCode((await reviewer('POST', '/v1/admin/streams', good)).body)).toBe('HITL_ERR_FORBIDDEN');
    expect((await reviewer('GET', '/v1/admin/streams')).status).toBe(403);
    expect((await client(url)('GET', '/v1/admin/streams')).status).toBe(401);

    // Out of the document's bounds: 400.
    for (const body of [
      { ...good, id: 'x'.repeat(201) },
      { ...good, id: '' },
      { ...good, classes: ['only'] },
      { ...good, classes: ['ham', 'ham'] },
      { ...good, reviewers: ['alice', 'alice'] },
      { ...good, classes: Array.from({ length: 1_001 }, (_, i) => `c${i}`) },
      { ...good, classes: ['ham', 'x'.repeat(201)] },
      { ...good, inputKind: 'image' },
      { ...good, inputKind: 'features', featureWidth: 100_001 },
      { ...good, modelId: 'has space' },
      { ...good, policyName: 'p'.repeat(201) },
      { ...good, reviewers: ['not/an/id'] },
      { ...good, reviewerGroups: Array.from({ length: 101 }, (_, i) => `g${i}`) },
      { ...good, reason: 'r'.repeat(2_001) },
      { ...good, colour: 'blue' },
    ]) {
      const reply = await admin('POST', '/v1/admin/streams', body);
      expect([reply.status, errorCode(reply.body)]).toEqual([400, 'HITL_ERR_VALIDATION']);
    }

    // What only the registry can say: 422 with every problem.
    const invalid = async (body: unknown, problem: RegExp) => {
      const reply = await admin('POST', '/v1/admin/streams', body);
      expect([reply.status, errorCode(reply.body)]).toEqual([422, 'HITL_ERR_STREAM_INVALID']);
      const { problems } = (
        reply.body as { error: { details: { problems: { field: string; problem: string }[] } } }
      ).error.details;
      expect(problems.map((p) => `${p.field} ${p.problem}`).join('; ')).toMatch(problem);
    };
    await invalid({ ...good, inputKind: 'features' }, /featureWidth must be an integer/);
    await invalid({ ...good, featureWidth: 3 }, /featureWidth is only for input kind features/);
    await invalid({ ...good, reviewers: ['nobody-here'] }, /reviewers names no reviewer nobody-here/);

    // A model already promoted, and a policy declaring classes, must fit the stream.
    const t = await reviewTopics(1);
    cleanups.push(t.cleanup);
    const modelId = uniqueName('spam');
    await registerModelVersion(pool, {
      modelId,
      onnx: new Uint8Array([1, 2, 3]),
      classes: ['ham', 'spam'],
      inputKind: 'text',
    });
    await promoteModelVersion(pool, modelId, 1, { modelsTopic: t.models });
    await invalid(
      { ...good, modelId, classes: ['ham', 'spam', 'phish'] },
      /classes are not those of model .* promoted version 1 \(ham, spam\)/,
    );
    await invalid(
      { ...good, modelId, inputKind: 'features', featureWidth: 3 },
      /inputKind does not fit model .* which takes text/,
    );
    const policyName = uniqueName('policy');
    await ensurePolicy(pool, policyName, { ...DEFAULT_POLICY_SPEC, classes: ['a', 'b'] });
    await invalid({ ...good, policyName }, /classes are not those routing policy .* declares \(a, b\)/);
    expect(await streamsRevision(pool)).toBe(revision);

    // The same id twice: 409. A model that fits (the classes in another order) is taken.
    expect(
      (await admin('POST', '/v1/admin/streams', { ...good, modelId, classes: ['spam', 'ham'] })).status,
    ).toBe(201);
    const twice = await admin('POST', '/v1/admin/streams', good);
    expect([twice.status, errorCode(twice.body)]).toEqual([409, 'HITL_ERR_STREAM_EXISTS']);

    // Unknown streams, stale versions, bad changes.
    const missing = await admin('GET', '/v1/admin/streams/no-such-stream');
    expect([missing.status, errorCode(missing.body)]).toEqual([404, 'HITL_ERR_STREAM_NOT_FOUND']);
    const patchMissing = await admin('PATCH', '/v1/admin/streams/no-such-stream', { allReviewers: true });
    expect([patchMissing.status, errorCode(patchMissing.body)]).toEqual([404, 'HITL_ERR_STREAM_NOT_FOUND']);
    const stale = await admin('PATCH', `/v1/admin/streams/${stream}`, {
      allReviewers: true,
      expectedVersion: 7,
    });
    expect([stale.status, errorCode(stale.body)]).toEqual([409, 'HITL_ERR_STREAM_VERSION_CONFLICT']);
    const wider = await admin('PATCH', `/v1/admin/streams/${stream}`, { classes: ['ham', 'spam', 'phish'] });
    expect([wider.status, errorCode(wider.body)]).toEqual([422, 'HITL_ERR_STREAM_INVALID']);
    const noWidth = await admin('PATCH', `/v1/admin/streams/${stream}`, { inputKind: 'features' });
    expect([noWidth.status, errorCode(noWidth.body)]).toEqual([422, 'HITL_ERR_STREAM_INVALID']);
    const unknownField = await admin('PATCH', `/v1/admin/streams/${stream}`, { id: 'renamed' });
    expect([unknownField.status, errorCode(unknownField.body)]).toEqual([400, 'HITL_ERR_VALIDATION']);
    const longPath = await admin('GET', `/v1/admin/streams/${'x'.repeat(201)}`);
    expect([longPath.status, errorCode(longPath.body)]).toEqual([400, 'HITL_ERR_VALIDATION']);
    const nul = await admin('GET', '/v1/admin/streams/a%00b');
    expect(nul.status).toBe(400);
    expect(((await admin('GET', `/v1/admin/streams/${stream}`)).body as { version: number }).version).toBe(1);
  });

  it('applies concurrent changes one after the other, losing none, in revision order', async () => {
    const { admin } = await setup();
    const notices = await listen();
    const stream = uniqueName('mail');
    await admin('POST', '/v1/admin/streams', { id: stream, classes: ['ham', 'spam'], inputKind: 'text' });
    const groups = Array.from({ length: 8 }, (_, i) => `team-${i}`);
    // Each adds one group to what it read: with expectedVersion, a loser reads again and retries.
    await Promise.all(
      groups.map(async (group) => {
        for (;;) {
          const current = (await admin('GET', `/v1/admin/streams/${stream}`)).body as {
            version: number;
            reviewerGroups: string[];
          };
          const reply = await admin('PATCH', `/v1/admin/streams/${stream}`, {
            reviewerGroups: [...current.reviewerGroups, group],
            expectedVersion: current.version,
          });
          if (reply.status === 200) return;
          expect(errorCode(reply.body)).toBe('HITL_ERR_STREAM_VERSION_CONFLICT');
        }
      }),
    );
    const final = (await admin('GET', `/v1/admin/streams/${stream}`)).body as {
      version: number;
      revision: number;
      reviewerGroups: string[];
    };
    expect([...final.reviewerGroups].sort()).toEqual(groups);
    expect(final.version).toBe(1 + groups.length);
    await waitFor(() => notices.length === 1 + groups.length, { message: 'every change announced' });
    // Announced in commit order, which is revision order, the last being the stream's.
    const revisions = notices.map((n) => n.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(revisions.at(-1)).toBe(final.revision);
    expect(await streamsRevision(pool)).toBe(final.revision);

    // Without expectedVersion, changes of different fields made at once all land.
    const alice = await person(pool);
    const replies = await Promise.all([
      admin('PATCH', `/v1/admin/streams/${stream}`, { allReviewers: true }),
      admin('PATCH', `/v1/admin/streams/${stream}`, { reviewers: [alice.id] }),
      admin('PATCH', `/v1/admin/streams/${stream}`, { policyName: 'mail-policy' }),
      admin('PATCH', `/v1/admin/streams/${stream}`, { modelId: 'mail-model' }),
    ]);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect((await admin('GET', `/v1/admin/streams/${stream}`)).body).toMatchObject({
      allReviewers: true,
      reviewers: [alice.id],
      policyName: 'mail-policy',
      modelId: 'mail-model',
      version: final.version + 4,
    });
  });
});
