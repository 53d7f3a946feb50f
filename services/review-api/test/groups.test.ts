// Exact-duplicate groups on the real stack: one human answer decides every open copy of an item,
// each event still gets exactly one decision, and no two people review one item at once.
import type { Correction, Decision, ReviewReason, ReviewRequest } from '@hitl/contracts';
import { TopicReader, uniqueName, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import type { ReviewApi } from '../src';
import { groupKey, normaliseText } from '../src/groups';
import {
  client,
  person,
  reviewRequest,
  reviewTopics,
  decisionsByEvent,
  ingestAll,
  sendReviewRequests,
  startApi,
  testDatabase,
  testKafka,
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

async function setup(partitions = 3): Promise<{ t: ReviewTopics; api: ReviewApi }> {
  const t = await reviewTopics(partitions);
  cleanups.push(t.cleanup);
  const api = await startApi(t, db);
  cleanups.push(() => api.stop());
  return { t, api };
}

async function reader(topic: string): Promise<TopicReader> {
  const r = await TopicReader.start(topic);
  cleanups.push(() => r.stop());
  return r;
}

/** A review request for an event whose input is `text`. */
function request(
  eventId: string,
  text: string,
  opts: { stream: string; priority?: number; reason?: ReviewReason; requiredReviewers?: number },
): ReviewRequest {
  const r = reviewRequest(eventId, opts);
  r.data.prediction.input = { text };
  return r;
}

/** The same campaign text, in varied case and whitespace. */
function variant(i: number): string {
  const words = ['Win', 'a', 'FREE', 'cruise', 'today!'];
  const cased = words.map((w, j) =>
    (i + j) % 3 === 0 ? w.toUpperCase() : (i + j) % 3 === 1 ? w.toLowerCase() : w,
  );
  const gaps = [' ', '  ', '\t', '\n ', ' \u00a0'];
  return `${' '.repeat(i % 3)}${cased.map((w, j) => w + (j < cased.length - 1 ? gaps[(i + j) % gaps.length] : '')).join('')}${i % 2 ? '\n' : ''}`;
}

describe('group keys', () => {
  it('are equal for inputs equal after NFKC, case and whitespace, and absent for audit and class-rule tasks', () => {
    expect(normaliseText('  Ｗin\tA\n\n FREE   cruise ')).toBe('win a free cruise');
    const stream = 's';
    const key = (text: string, reason: ReviewReason = 'low_confidence', classes = ['ham', 'spam']) =>
      groupKey(request('e', text, { stream, reason }).data, classes);
    const keys = new Set(Array.from({ length: 20 }, (_, i) => key(variant(i))));
    expect(keys.size).toBe(1);
    expect(key(variant(0), 'no_model')).toBe(key(variant(1)));
    expect(key('win a free cruise today')).not.toBe(key(variant(0)));
    expect(key(variant(0), 'low_confidence', ['spam', 'ham', 'other'])).not.toBe(key(variant(0)));
    expect(key(variant(0), 'audit_sample')).toBeNull();
    expect(key(variant(0), 'class_rule')).toBeNull();
    const features = (values: number[]) => {
      const r = reviewRequest('f', { stream });
      r.data.prediction.input = { features: values };
      return groupKey(r.data, ['ham', 'spam']);
    };
    expect(features([1, 2.5])).toBe(features([1, 2.5]));
    expect(features([1, 2.5])).not.toBe(features([1, 2.5000001]));
  });
});

describe('exact-duplicate groups', () => {
  it('decides a campaign of 20 copies with one answer: 20 decisions, one correction, the audit copy stays with people', async () => {
    const { t, api } = await setup();
    const decisions = await reader(t.decisions);
    const corrections = await reader(t.corrections);
    const stream = uniqueName('campaign');
    const ids = Array.from({ length: 20 }, (_, i) => `${stream}-${i}`);
    const audit = `${stream}-audit`;
    await ingestAll(api, t.reviewRequests, [
      ...ids.map((id, i) => request(id, variant(i), { stream, priority: 0.5 + i / 100 })),
      request(audit, variant(3), { stream, priority: 0.1, reason: 'audit_sample' }),
    ]);
    const { rows: keys } = await pool.query<{ event_id: string; group_key: string | null }>(
      'SELECT event_id, group_key FROM review_tasks WHERE stream = $1',
      [stream],
    );
    expect(new Set(keys.filter((k) => k.event_id !== audit).map((k) => k.group_key)).size).toBe(1);
    expect(keys.find((k) => k.event_id === audit)!.group_key).toBeNull();

    const alice = await person(pool);
    const a = client(api.url(), alice.key);
    const claimed = await a('POST', '/v1/tasks/claim', { stream });
    // The most urgent copy, as without groups.
    const answered = ids[19]!;
    expect(claimed.body).toMatchObject({ eventId: answered });
    expect((await a('POST', `/v1/tasks/${answered}/answers`, { label: 'spam' })).body).toMatchObject({
      eventId: answered,
      status: 'decided',
      finalLabel: 'spam',
    });

    await decisions.waitForCount(20, { settleMs: 1_000 });
    await corrections.waitForCount(1, { settleMs: 500 });
    const by = decisionsByEvent(decisions.values<Decision>());
    expect([...by.keys()].sort()).toEqual([...ids].sort());
    expect([...by.values()].filter((d) => d.length !== 1)).toEqual([]);
    const own = by.get(answered)![0]!;
    expect(own).toMatchObject({ label: 'spam', decidedBy: 'human', reviewers: [alice.id] });
    expect(own.throughGroup).toBeUndefined();
    const copies = ids.filter((id) => id !== answered).map((id) => by.get(id)![0]!);
    expect(copies).toHaveLength(19);
    for (const copy of copies) {
      expect(copy).toMatchObject({
        label: 'spam',
        decidedBy: 'human',
        reviewers: [alice.id],
        throughGroup: answered,
        confidence: null,
      });
    }
    // One training example: the copies would only weigh it several times.
    expect(corrections.values<Correction>().map((c) => c.data.eventId)).toEqual([answered]);

    // The audit copy is still open, and the only task left to claim.
    const bob = client(api.url(), (await person(pool)).key);
    expect((await bob('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({
      eventId: audit,
      status: 'open',
    });
    expect((await a('POST', '/v1/tasks/claim', { stream })).status).toBe(204);
    const { rows } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM review_tasks WHERE stream = $1 AND status = 'decided' AND decided_through = $2`,
      [stream, answered],
    );
    expect(rows[0]!.n).toBe('19');
    // The labelled export has the answered item once, not its copies.
    const admin = await person(pool, 'admin');
    const exported = await fetch(`${api.url()}/v1/export?stream=${stream}`, {
      headers: { authorization: `Bearer ${admin.key}` },
    });
    expect((await exported.text()).trim().split('\n')).toHaveLength(1);
  });

  it('hands no copy to another reviewer while one is leased or being decided', async () => {
    const { t, api } = await setup();
    const stream = uniqueName('leased');
    const ids = [0, 1, 2].map((i) => `${stream}-${i}`);
    const lone = `${stream}-lone`;
    await ingestAll(api, t.reviewRequests, [
      ...ids.map((id, i) =>
        request(id, variant(i), { stream, priority: 0.9 - i / 100, requiredReviewers: 2 }),
      ),
      request(lone, 'something else entirely', { stream, priority: 0.1 }),
    ]);
    const [alice, bob, carol] = await Promise.all([person(pool), person(pool), person(pool)]);
    const a = client(api.url(), alice.key);
    const b = client(api.url(), bob.key);
    const c = client(api.url(), carol.key);
    expect((await a('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({ eventId: ids[0] });
    // Bob gets the next group's task, not another copy, and then nothing.
    expect((await b('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({ eventId: lone });
    expect((await b('POST', '/v1/tasks/claim', { stream }, { 'idempotency-key': 'second' })).status).toBe(
      204,
    );
    // Once Alice gives it back, the group is free again, in the usual order.
    expect((await a('DELETE', `/v1/tasks/${ids[0]}/lease`)).status).toBe(204);
    expect((await c('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({ eventId: ids[0] });
    // Carol answers one of the two answers it needs: the group is being decided, and only that
    // task is handed out (to someone who has not answered it).
    expect((await c('POST', `/v1/tasks/${ids[0]}/answers`, { label: 'ham' })).body).toMatchObject({
      status: 'open',
    });
    expect((await c('POST', '/v1/tasks/claim', { stream })).status).toBe(204);
    expect((await a('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({ eventId: ids[0] });
    expect((await a('POST', `/v1/tasks/${ids[0]}/answers`, { label: 'ham' })).body).toMatchObject({
      status: 'decided',
      finalLabel: 'ham',
    });
    const { rows } = await pool.query<{ event_id: string; status: string; decided_through: string | null }>(
      'SELECT event_id, status, decided_through FROM review_tasks WHERE stream = $1 ORDER BY event_id',
      [stream],
    );
    expect(rows).toEqual([
      { event_id: ids[0], status: 'decided', decided_through: null },
      { event_id: ids[1], status: 'decided', decided_through: ids[0] },
      { event_id: ids[2], status: 'decided', decided_through: ids[0] },
      { event_id: lone, status: 'open', decided_through: null },
    ]);
  });

  it('gives every event exactly one decision when copies of a group are answered concurrently', async () => {
    const { t, api } = await setup();
    const decisions = await reader(t.decisions);
    const [alice, bob, carol] = await Promise.all([person(pool), person(pool), person(pool)]);
    const a = client(api.url(), alice.key);
    const b = client(api.url(), bob.key);
    const c = client(api.url(), carol.key);
    const rounds = 6;
    const copies = 6;
    const all: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const stream = uniqueName(`race-${round}`);
      const ids = Array.from({ length: copies }, (_, i) => `${stream}-${i}`);
      all.push(...ids);
      await ingestAll(
        api,
        t.reviewRequests,
        ids.map((id, i) => request(id, variant(i + round), { stream, priority: 0.9 - i / 100 })),
      );
      let aliceHolds: string;
      let bobHolds: string;
      if (round % 2 === 0) {
        // Bob's lease written straight into the table, as a claim racing Alice's would leave it.
        aliceHolds = ((await a('POST', '/v1/tasks/claim', { stream })).body as { eventId: string }).eventId;
        bobHolds = ids.find((id) => id !== aliceHolds)!;
        await pool.query(
          `UPDATE review_tasks SET lease_owner = $2, lease_expires_at = now() + interval '60 seconds', leased_at = now()
            WHERE event_id = $1`,
          [bobHolds, bob.id],
        );
      } else {
        // Two claims at the same moment: each may see the other's lease yet uncommitted.
        const [ca, cb] = await Promise.all([
          a('POST', '/v1/tasks/claim', { stream }),
          b('POST', '/v1/tasks/claim', { stream }),
        ]);
        aliceHolds = (ca.body as { eventId?: string } | null)?.eventId ?? '';
        bobHolds = (cb.body as { eventId?: string } | null)?.eventId ?? '';
        // The group lets one of them through at least; the other may have lost the race to it.
        expect(aliceHolds || bobHolds).toBeTruthy();
      }
      // Carol's lease on a third copy ran out: her late answer must not decide it a second time.
      const carolHeld = ids.find((id) => id !== aliceHolds && id !== bobHolds)!;
      await pool.query(
        `UPDATE review_tasks SET lease_owner = $2, lease_expires_at = now() - interval '1 second',
                leased_at = now() - interval '61 seconds'
          WHERE event_id = $1`,
        [carolHeld, carol.id],
      );
      const answers = await Promise.all([
        aliceHolds ? a('POST', `/v1/tasks/${aliceHolds}/answers`, { label: 'spam' }) : null,
        bobHolds ? b('POST', `/v1/tasks/${bobHolds}/answers`, { label: 'ham' }) : null,
      ]);
      for (const reply of answers) {
        if (reply === null) continue;
        // The loser either decided only its own task (its lease kept it out of the group's close)
        // or is told clearly that the group decided it.
        if (reply.status === 200) expect(reply.body).toMatchObject({ status: 'decided' });
        else expect(reply.body).toMatchObject({ error: { code: 'HITL_ERR_TASK_DECIDED' } });
      }
      const late = await c('POST', `/v1/tasks/${carolHeld}/answers`, { label: 'ham' });
      expect(late.status).toBe(409);
      expect(late.body).toMatchObject({
        error: {
          code: 'HITL_ERR_TASK_DECIDED',
          details: { throughGroup: expect.stringMatching(new RegExp(`^${stream}-`)) },
        },
      });
      const { rows } = await pool.query<{ open: string }>(
        `SELECT count(*) FILTER (WHERE status <> 'decided') AS open FROM review_tasks WHERE stream = $1`,
        [stream],
      );
      expect(rows[0]!.open).toBe('0');
    }
    await decisions.waitForCount(all.length, { settleMs: 1_000 });
    const by = decisionsByEvent(decisions.values<Decision>());
    expect([...by.keys()].sort()).toEqual([...all].sort());
    expect([...by.entries()].filter(([, d]) => d.length !== 1)).toEqual([]);
    // A copy decided through its group names a copy that people answered.
    for (const [, [d]] of by) {
      if (d!.throughGroup !== undefined) expect(by.get(d!.throughGroup)![0]!.throughGroup).toBeUndefined();
    }
    const { rows: answers } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM review_answers WHERE event_id = ANY($1)`,
      [all],
    );
    expect(Number(answers[0]!.n)).toBeLessThanOrEqual(2 * rounds);
  });

  it('makes one task and one decision of an event id sent twice', async () => {
    // One partition: a request sent after another is consumed after it.
    const { t, api } = await setup(1);
    const decisions = await reader(t.decisions);
    const stream = uniqueName('twice');
    const id = `${stream}-e`;
    const sentinel = async (n: number) => {
      const s = request(`${stream}-sentinel-${n}`, `sentinel ${n}`, { stream: `${stream}-other` });
      await ingestAll(api, t.reviewRequests, [s]);
    };
    await sendReviewRequests(testKafka(), t.reviewRequests, [
      request(id, 'Hello there', { stream }),
      request(id, 'Hello there, again', { stream, priority: 0.99 }),
    ]);
    await sentinel(1);
    const reviewer = client(api.url(), (await person(pool)).key);
    expect((await reviewer('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({
      eventId: id,
      input: { text: 'Hello there' },
    });
    expect((await reviewer('POST', `/v1/tasks/${id}/answers`, { label: 'ham' })).body).toMatchObject({
      status: 'decided',
    });
    // A redelivery after the decision changes nothing either.
    await sendReviewRequests(testKafka(), t.reviewRequests, [request(id, 'Hello there', { stream })]);
    await sentinel(2);
    expect((await reviewer('POST', '/v1/tasks/claim', { stream })).status).toBe(204);
    const { rows } = await pool.query('SELECT status FROM review_tasks WHERE event_id = $1', [id]);
    expect(rows).toEqual([{ status: 'decided' }]);
    await decisions.waitForCount(1, { settleMs: 1_000 });
    expect(decisions.values<Decision>().map((d) => d.data.eventId)).toEqual([id]);
  });
});
