// Who sees which stream's tasks: a registered stream is open to the reviewers it names, the members
// of the groups it names, or everyone if it says so; admins see all; a stream the registry does not
// have is open to everyone. Checked under concurrent claims on the real stack.
import { addStream, ensurePolicy, setReviewerGroups } from '@hitl/db';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy';
import { uniqueName, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import {
  client,
  ingestAll,
  person,
  reviewRequest,
  reviewTopics,
  startApi,
  testDatabase,
  type Client,
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

/** Claims and answers until the queue has nothing more for this reviewer; the streams of its tasks. */
async function drain(as: Client): Promise<string[]> {
  const streams: string[] = [];
  for (;;) {
    const claimed = await as('POST', '/v1/tasks/claim', {});
    if (claimed.status === 204) return streams;
    expect(claimed.status).toBe(200);
    const task = claimed.body as { eventId: string; stream: string };
    streams.push(task.stream);
    const answered = await as('POST', `/v1/tasks/${task.eventId}/answers`, { label: 'ham' });
    expect(answered.status).toBe(200);
  }
}

describe('stream access', () => {
  it('hands each reviewer only the streams open to them, under concurrent claims', async () => {
    const t = await reviewTopics(3);
    cleanups.push(t.cleanup);
    const api = await startApi(t, db);
    cleanups.push(() => api.stop());
    // Two reviewers of each kind, each claiming in a loop of its own, all at once.
    const people = await Promise.all(Array.from({ length: 6 }, () => person(pool)));
    const admin = await person(pool, 'admin');
    // 0 and 1 are named by the mail stream, 2 and 3 are in the billing group, 4 and 5 neither.
    const id = (i: number) => people[i]!.id;
    await setReviewerGroups(pool, id(2), ['billing']);
    await setReviewerGroups(pool, id(3), ['billing', 'other']);
    const mail = uniqueName('mail');
    const invoices = uniqueName('invoices');
    const open = uniqueName('open');
    const unregistered = uniqueName('unregistered');
    const spec = { classes: ['ham', 'spam'], inputKind: 'text' as const };
    await addStream(pool, { ...spec, id: mail, reviewers: [id(0), id(1)] });
    await addStream(pool, { ...spec, id: invoices, reviewerGroups: ['billing'] });
    await addStream(pool, { ...spec, id: open, allReviewers: true });

    const requests = [mail, invoices, open, unregistered].flatMap((stream, s) =>
      Array.from({ length: s < 2 ? 12 : 3 }, (_, i) =>
        reviewRequest(`${stream}-${i}`, { stream, priority: (i * 7 + s) % 10 }),
      ),
    );
    await ingestAll(api, t.reviewRequests, requests);

    const got = await Promise.all(people.map((p) => drain(client(api.url(), p.key))));
    const pair = (i: number) => [...got[i]!, ...got[i + 1]!];
    const [byAlice, byBob, byCarol] = [pair(0), pair(2), pair(4)];
    const only = (streams: string[], allowed: string[]) =>
      expect(streams.filter((s) => !allowed.includes(s))).toEqual([]);
    only(byAlice, [mail, open, unregistered]);
    only(byBob, [invoices, open, unregistered]);
    only(byCarol, [open, unregistered]);
    const count = (streams: string[], stream: string) => streams.filter((s) => s === stream).length;
    // Each closed stream's tasks all went to the reviewers it is open to.
    expect(count(byAlice, mail)).toBe(12);
    expect(count(byBob, invoices)).toBe(12);
    // And every task was handed out once.
    expect(byAlice.length + byBob.length + byCarol.length).toBe(requests.length);

    // An admin sees every stream: a new task of a closed stream goes to them, not to carol.
    await ingestAll(api, t.reviewRequests, [reviewRequest(`${mail}-late`, { stream: mail })]);
    expect((await client(api.url(), people[4]!.key)('POST', '/v1/tasks/claim', {})).status).toBe(204);
    expect((await client(api.url(), admin.key)('POST', '/v1/tasks/claim', {})).body).toMatchObject({
      eventId: `${mail}-late`,
    });
  });

  it('offers a registered stream’s classes on a task with no model, and the policy’s on others', async () => {
    const t = await reviewTopics(3);
    cleanups.push(t.cleanup);
    await ensurePolicy(pool, 'spam', { ...DEFAULT_POLICY_SPEC, classes: ['ham', 'spam'] });
    const api = await startApi(t, db, { POLICY_NAME: 'spam' });
    cleanups.push(() => api.stop());
    const wine = uniqueName('wine');
    await addStream(pool, { id: wine, classes: ['1', '2', '3'], inputKind: 'features', featureWidth: 13 });
    const mail = uniqueName('mail');
    await ingestAll(api, t.reviewRequests, [
      reviewRequest(`${wine}-a`, { stream: wine, label: null }),
      reviewRequest(`${mail}-a`, { stream: mail, label: null }),
    ]);
    expect((await api.tasks.get(`${wine}-a`))?.classes).toEqual(['1', '2', '3']);
    expect((await api.tasks.get(`${mail}-a`))?.classes).toEqual(['ham', 'spam']);
  });
});
