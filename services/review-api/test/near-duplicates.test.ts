// Near-duplicate groups and the varied claim order on the real stack: near-duplicates share a group
// only under a policy version that opts in, never audit or class-rule tasks; one answer decides
// them with exactly one decision per event, also while new near-duplicates arrive; and claims of
// about the same priority are spread across groups.
import type { Correction, Decision, ReviewReason, ReviewRequest } from '@hitl/contracts';
import { createPolicyVersion } from '@hitl/db';
import { DEFAULT_POLICY_SPEC, estimatedSimilarity, minHashSignature } from '@hitl/policy';
import { TopicReader, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import type { ReviewApi } from '../src';
import { TaskStore } from '../src/tasks';
import {
  client,
  person,
  reviewRequest,
  reviewTopics,
  decisionsByEvent,
  sendReviewRequests,
  startApi,
  testDatabase,
  testKafka,
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

/**
 * A policy whose version 1 leaves near-duplicates apart and version 2 groups them at 0.9, and a
 * task store that reads it. The store ingests into the API's database as the API's own consumer
 * does (the same TaskStore.ingestMany); claims, answers and decisions go through the API.
 */
async function nearDuplicatePolicy(t: ReviewTopics): Promise<{ store: TaskStore; off: number; on: number }> {
  const name = uniqueName('policy');
  const spec = { ...DEFAULT_POLICY_SPEC, classes: ['ham', 'spam'] };
  const off = await createPolicyVersion(pool, name, spec);
  const on = await createPolicyVersion(pool, name, { ...spec, nearDuplicates: { minSimilarity: 0.9 } });
  expect(on.nearDuplicates).toEqual({ minSimilarity: 0.9 });
  const store = new TaskStore({
    pool,
    leaseSeconds: 300,
    maxExtraRounds: 2,
    topics: { decisions: t.decisions, corrections: t.corrections },
    policyName: name,
  });
  return { store, off: off.version, on: on.version };
}

const CAMPAIGN = (
  'Dear valued customer we are pleased to tell you that your account has been selected for an ' +
  'exclusive reward please confirm your details within two days by following the secure link ' +
  'below to claim the voucher worth five hundred dollars before the offer expires at midnight ' +
  'thank you for banking with us kind regards from the rewards team'
).split(' ');

/** The campaign with word `i` changed (none for -1): a near-duplicate of every other variant. */
function variant(i: number): string {
  return CAMPAIGN.map((w, j) => (j === i ? `changed${i}` : w)).join(' ');
}

function request(
  eventId: string,
  text: string,
  opts: { stream: string; policyVersion: number; priority?: number; reason?: ReviewReason },
): ReviewRequest {
  const r = reviewRequest(eventId, opts);
  r.data.prediction.input = { text };
  r.data.policyVersion = opts.policyVersion;
  return r;
}

async function groupKeys(stream: string): Promise<Map<string, string | null>> {
  const { rows } = await pool.query<{ event_id: string; group_key: string | null }>(
    'SELECT event_id, group_key FROM review_tasks WHERE stream = $1',
    [stream],
  );
  return new Map(rows.map((r) => [r.event_id, r.group_key]));
}

/** Claims and answers every task of the stream left to this reviewer; returns their event ids. */
async function answerAll(who: Client, stream: string, label = 'spam'): Promise<string[]> {
  const done: string[] = [];
  for (;;) {
    const claimed = await who('POST', '/v1/tasks/claim', { stream });
    if (claimed.status === 204) return done;
    const eventId = (claimed.body as { eventId: string }).eventId;
    const answered = await who('POST', `/v1/tasks/${eventId}/answers`, { label });
    // A copy the group decided between the claim and the answer is refused, and says so.
    if (answered.status === 409) {
      expect(answered.body).toMatchObject({ error: { code: 'HITL_ERR_TASK_DECIDED' } });
    } else {
      expect(answered.body).toMatchObject({ status: 'decided' });
      done.push(eventId);
    }
  }
}

describe('near-duplicate groups', () => {
  it('measures the test texts as near-duplicates, and others not', () => {
    const base = minHashSignature(variant(-1))!;
    for (let i = 0; i < 10; i++) {
      expect(estimatedSimilarity(base, minHashSignature(variant(i * 5))!)).toBeGreaterThanOrEqual(0.9);
    }
    const far = CAMPAIGN.map((w, j) => (j % 4 === 0 ? `other${j}` : w)).join(' ');
    expect(estimatedSimilarity(base, minHashSignature(far)!)).toBeLessThan(0.9);
  });

  it('groups near-duplicates only under a policy version that opts in, never audit or class-rule tasks', async () => {
    const t = await reviewTopics(1);
    cleanups.push(t.cleanup);
    const { store, off, on } = await nearDuplicatePolicy(t);
    const stream = uniqueName('near');
    const id = (name: string) => `${stream}-${name}`;
    const far = CAMPAIGN.map((w, j) => (j % 4 === 0 ? `other${j}` : w)).join(' ');
    // Two batches: a group's first text is found in the table as well as within a batch.
    await store.ingestMany(
      [
        request(id('first'), variant(-1), { stream, policyVersion: on }),
        request(id('v1'), variant(5), { stream, policyVersion: on }),
      ].map((r) => r.data),
      [],
    );
    await store.ingestMany(
      [
        request(id('v2'), variant(10), { stream, policyVersion: on }),
        request(id('v2-copy'), `  ${variant(10).toUpperCase()}\n`, { stream, policyVersion: on }),
        request(id('no-model'), variant(15), { stream, policyVersion: on, reason: 'no_model' }),
        request(id('audit'), variant(20), { stream, policyVersion: on, reason: 'audit_sample' }),
        request(id('rule'), variant(25), { stream, policyVersion: on, reason: 'class_rule' }),
        request(id('off'), variant(30), { stream, policyVersion: off }),
        request(id('far'), far, { stream, policyVersion: on }),
        request(id('elsewhere'), variant(35), { stream: `${stream}-x`, policyVersion: on }),
      ].map((r) => r.data),
      [],
    );
    // A store that knows no policy (as without POLICY_NAME) never groups near-duplicates.
    const plain = new TaskStore({
      pool,
      leaseSeconds: 300,
      maxExtraRounds: 2,
      topics: { decisions: t.decisions, corrections: t.corrections },
    });
    await plain.ingest(request(id('plain'), variant(40), { stream, policyVersion: on }).data, []);

    const keys = await groupKeys(stream);
    const group = keys.get(id('first'))!;
    expect(group).toMatch(/^[0-9a-f]{64}$/);
    for (const name of ['v1', 'v2', 'v2-copy', 'no-model'])
      expect([name, keys.get(id(name))]).toEqual([name, group]);
    expect(keys.get(id('audit'))).toBeNull();
    expect(keys.get(id('rule'))).toBeNull();
    for (const name of ['off', 'far', 'plain']) {
      expect(keys.get(id(name))).toMatch(/^[0-9a-f]{64}$/);
      expect([name, keys.get(id(name))]).not.toEqual([name, group]);
    }
    const { rows } = await pool.query<{ group_key: string }>(
      'SELECT group_key FROM review_tasks WHERE event_id = $1',
      [id('elsewhere')],
    );
    expect(rows[0]!.group_key).not.toBe(group);
    // Only a group's first text carries what finds it: one per group.
    const { rows: banded } = await pool.query<{ event_id: string }>(
      'SELECT event_id FROM review_tasks WHERE stream LIKE $1 AND near_bands IS NOT NULL ORDER BY event_id',
      [`${stream}%`],
    );
    expect(banded.map((r) => r.event_id)).toEqual([id('elsewhere'), id('far'), id('first')].sort());
  });

  it('decides near-duplicates with one answer: one decision per event, one correction, the audit copy stays with people', async () => {
    const { t, api } = await setup();
    const decisions = await reader(t.decisions);
    const corrections = await reader(t.corrections);
    const { store, on } = await nearDuplicatePolicy(t);
    const stream = uniqueName('campaign');
    const first = `${stream}-first`;
    const copies = Array.from({ length: 9 }, (_, i) => `${stream}-${i}`);
    const audit = `${stream}-audit`;
    await store.ingestMany(
      [
        request(first, variant(-1), { stream, policyVersion: on, priority: 0.6 }),
        ...copies.map((id, i) => request(id, variant(i * 6), { stream, policyVersion: on, priority: 0.5 })),
        request(audit, variant(3), { stream, policyVersion: on, priority: 0.5, reason: 'audit_sample' }),
      ].map((r) => r.data),
      [],
    );
    const alice = await person(pool);
    const a = client(api.url(), alice.key);
    // The copies are one group: while Alice holds the first, Bob gets only the audit copy.
    expect((await a('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({ eventId: first });
    const bob = client(api.url(), (await person(pool)).key);
    expect((await bob('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({ eventId: audit });
    expect((await bob('POST', '/v1/tasks/claim', { stream }, { 'idempotency-key': 'more' })).status).toBe(
      204,
    );
    expect((await a('POST', `/v1/tasks/${first}/answers`, { label: 'spam' })).body).toMatchObject({
      status: 'decided',
      finalLabel: 'spam',
    });
    await decisions.waitForCount(10, { settleMs: 1_000 });
    await corrections.waitForCount(1, { settleMs: 500 });
    const by = decisionsByEvent(decisions.values<Decision>());
    expect([...by.keys()].sort()).toEqual([first, ...copies].sort());
    expect([...by.values()].filter((d) => d.length !== 1)).toEqual([]);
    expect(by.get(first)![0]!.throughGroup).toBeUndefined();
    for (const id of copies) {
      expect(by.get(id)![0]).toMatchObject({
        label: 'spam',
        decidedBy: 'human',
        reviewers: [alice.id],
        throughGroup: first,
      });
    }
    expect(corrections.values<Correction>().map((c) => c.data.eventId)).toEqual([first]);
    // The audit copy is decided by its own reviewer, once.
    expect((await bob('POST', `/v1/tasks/${audit}/answers`, { label: 'ham' })).body).toMatchObject({
      status: 'decided',
      finalLabel: 'ham',
    });
    await decisions.waitForCount(11, { settleMs: 1_000 });
    const all = decisionsByEvent(decisions.values<Decision>());
    expect(all.get(audit)).toEqual([expect.objectContaining({ label: 'ham', eventId: audit })]);
    expect(all.get(audit)![0]!.throughGroup).toBeUndefined();
  });

  it('gives every event exactly one decision when near-duplicates arrive while their group is decided', async () => {
    const { t, api } = await setup();
    const decisions = await reader(t.decisions);
    const { store, on } = await nearDuplicatePolicy(t);
    const alice = client(api.url(), (await person(pool)).key);
    const bob = client(api.url(), (await person(pool)).key);
    const all: string[] = [];
    for (let round = 0; round < 4; round++) {
      const stream = uniqueName(`arriving-${round}`);
      const first = `${stream}-first`;
      all.push(first);
      await store.ingest(request(first, variant(-1), { stream, policyVersion: on, priority: 0.9 }).data, []);
      expect((await alice('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({ eventId: first });
      // Near-duplicates in batches of their own, at the moment Alice's answer decides the group.
      const batches = Array.from({ length: 4 }, (_, b) =>
        Array.from({ length: 3 }, (_, i) => {
          const id = `${stream}-${b}-${i}`;
          all.push(id);
          return request(id, variant(b * 3 + i + round), { stream, policyVersion: on, priority: 0.5 }).data;
        }),
      );
      const [answered] = await Promise.all([
        alice('POST', `/v1/tasks/${first}/answers`, { label: 'spam' }),
        ...batches.map((batch) => store.ingestMany(batch, [])),
      ]);
      expect(answered.body).toMatchObject({ status: 'decided' });
      // Whatever the answer did not close is left to people, and decided once.
      await answerAll(bob, stream, 'ham');
      const { rows } = await pool.query<{ open: string; total: string }>(
        `SELECT count(*) FILTER (WHERE status <> 'decided') AS open, count(*) AS total FROM review_tasks WHERE stream = $1`,
        [stream],
      );
      expect(rows[0]).toEqual({ open: '0', total: '13' });
    }
    await decisions.waitForCount(all.length, { settleMs: 1_000 });
    const by = decisionsByEvent(decisions.values<Decision>());
    expect([...by.keys()].sort()).toEqual([...all].sort());
    expect([...by.entries()].filter(([, d]) => d.length !== 1)).toEqual([]);
    // A decision through the group names the task people answered.
    for (const [, [d]] of by) {
      if (d!.throughGroup !== undefined) expect(by.get(d!.throughGroup)![0]!.throughGroup).toBeUndefined();
    }
  });
});

describe('a varied queue', () => {
  it('spreads one reviewer’s claims across groups among tasks of about the same priority', async () => {
    const { t, api } = await setup(1);
    const stream = uniqueName('varied');
    // Items of a class that always needs review never group: three campaigns of them, within 0.05
    // of priority but each above the next, so the strict order would hand each out in a run; and
    // an urgent and a routine task of their own.
    const texts = {
      a: 'Limited offer on cheap watches, today only',
      b: 'Your parcel is waiting at the depot, pay the fee to release it',
      c: 'The meeting moved to Thursday at noon',
    };
    const counts = { a: 4, b: 4, c: 2 };
    const base = { a: 0.41, b: 0.4, c: 0.39 };
    const requests: ReviewRequest[] = [];
    for (const family of ['a', 'b', 'c'] as const) {
      for (let i = 0; i < counts[family]; i++) {
        const r = reviewRequest(`${stream}-${family}-${i}`, {
          stream,
          reason: 'class_rule',
          priority: base[family] + i / 1_000,
        });
        r.data.prediction.input = { text: texts[family] };
        requests.push(r);
      }
    }
    const routine = reviewRequest(`${stream}-routine`, { stream, priority: 0.1 });
    const urgent = reviewRequest(`${stream}-urgent`, { stream, priority: 0.95 });
    requests.push(routine, urgent);
    await sendReviewRequests(testKafka(), t.reviewRequests, requests);
    await waitFor(
      async () => (await Promise.all(requests.map((r) => api.tasks.get(r.data.eventId)))).every(Boolean),
      { message: 'a task for every request' },
    );
    const reviewer = client(api.url(), (await person(pool)).key);
    const order = await answerAll(reviewer, stream, 'spam');
    const family = (id: string) => id.slice(stream.length + 1).split('-')[0];
    // The most urgent first and the routine one last, as always; in between, the family given
    // longest ago first, so no two items of one campaign follow each other while another is left.
    expect(order.map(family)).toEqual([
      'urgent',
      'a',
      'b',
      'c',
      'a',
      'b',
      'c',
      'a',
      'b',
      'a',
      'b',
      'routine',
    ]);
    // Within a family, the most urgent first.
    expect(order.filter((id) => family(id) === 'a')).toEqual([3, 2, 1, 0].map((i) => `${stream}-a-${i}`));
  });

  it('keeps the strict priority order beyond the window', async () => {
    const { t, api } = await setup(1);
    const stream = uniqueName('strict');
    const requests: ReviewRequest[] = [];
    // One campaign at priorities a window apart, and one task of another item just below each.
    for (let i = 0; i < 3; i++) {
      const r = reviewRequest(`${stream}-a-${i}`, { stream, reason: 'class_rule', priority: 0.9 - i / 10 });
      r.data.prediction.input = { text: 'Limited offer on cheap watches, today only' };
      requests.push(r, reviewRequest(`${stream}-other-${i}`, { stream, priority: 0.9 - i / 10 - 0.06 }));
    }
    await sendReviewRequests(testKafka(), t.reviewRequests, requests);
    await waitFor(
      async () => (await Promise.all(requests.map((r) => api.tasks.get(r.data.eventId)))).every(Boolean),
      { message: 'a task for every request' },
    );
    const reviewer = client(api.url(), (await person(pool)).key);
    const order = await answerAll(reviewer, stream, 'spam');
    expect(order).toEqual([0, 1, 2].flatMap((i) => [`${stream}-a-${i}`, `${stream}-other-${i}`]));
  });
});
