// Reviewers' reliability on the real stack: estimated from gold answers, stored as versions,
// shown to admins, and used by a policy's weighted consensus: a reviewer who always answers
// wrongly is flagged and outvoted, a trusted one decides alone, an unknown one needs company.
import type { Correction, Decision } from '@hitl/contracts';
import { ensurePolicy } from '@hitl/db';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy';
import { TopicReader, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
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

async function reader(topic: string): Promise<TopicReader> {
  const r = await TopicReader.start(topic);
  cleanups.push(() => r.stop());
  return r;
}

/** Imports 20 gold items of the stream, half of each class; their labels by text. */
async function importTwentyGold(url: string, adminKey: string, stream: string): Promise<Map<string, string>> {
  const truth = new Map<string, string>();
  const lines = Array.from({ length: 20 }, (_, i) => {
    const label = i % 2 === 0 ? 'ham' : 'spam';
    truth.set(`gold item ${i}`, label);
    return JSON.stringify({ stream, input: { text: `gold item ${i}` }, label });
  });
  const imported = await fetch(`${url}/v1/admin/gold`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/x-ndjson' },
    body: lines.join('\n'),
  });
  expect(await imported.json()).toEqual({ imported: 20, unchanged: 0 });
  return truth;
}

/** Answers every gold task this reviewer is handed until none is left for them. */
async function answerAllGold(as: Client, truth: Map<string, string>, wrong: boolean): Promise<number> {
  let answered = 0;
  let empty = 0;
  // With nothing else queued, a claim is a gold task half the time (goldRate 0.5) while one is left.
  while (empty < 30) {
    const reply = await as('POST', '/v1/tasks/claim', {});
    if (reply.status === 204) {
      empty++;
      continue;
    }
    empty = 0;
    const task = reply.body!;
    const right = truth.get((task.input as { text: string }).text)!;
    const label = wrong ? (right === 'ham' ? 'spam' : 'ham') : right;
    expect((await as('POST', `/v1/tasks/${String(task.eventId)}/answers`, { label })).status).toBe(200);
    answered++;
  }
  return answered;
}

type Stats = {
  reviewers: {
    reviewerId: string;
    goldAccuracy: number | null;
    reliability?: { stream: string; accuracy: number; answers: number; goldAnswers: number }[];
    flagged?: boolean;
  }[];
};

describe('weighted consensus', () => {
  it('flags and outvotes a reviewer who is always wrong; one trusted answer decides, an unknown one does not', async () => {
    const t = await reviewTopics(3);
    cleanups.push(t.cleanup);
    const policyName = 'spam';
    await ensurePolicy(pool, policyName, {
      ...DEFAULT_POLICY_SPEC,
      classes: ['ham', 'spam'],
      auditRate: 0,
      goldRate: 0.5,
      consensusConfidence: 0.95,
    });
    const api = await startApi(t, db, { POLICY_NAME: policyName, RELIABILITY_INTERVAL_MS: '200' });
    cleanups.push(() => api.stop());
    const stream = uniqueName('mail');
    const adminKey = (await person(pool, 'admin')).key;
    const admin = client(api.url(), adminKey);

    // 20 gold items, half of each class.
    const truth = await importTwentyGold(api.url(), adminKey, stream);

    const good = await person(pool);
    const bad = await person(pool);
    const asGood = client(api.url(), good.key);
    const asBad = client(api.url(), bad.key);
    expect(await answerAllGold(asGood, truth, false)).toBe(20);
    expect(await answerAllGold(asBad, truth, true)).toBe(20);

    // The estimate follows: the wrong-way reviewer is flagged, the other trusted.
    let stats: Stats | undefined;
    await waitFor(
      async () => {
        stats = (await admin('GET', '/v1/stats')).body as unknown as Stats;
        const of = (id: string) => stats!.reviewers.find((r) => r.reviewerId === id);
        return (
          of(bad.id)?.reliability?.[0]?.goldAnswers === 20 &&
          of(good.id)?.reliability?.[0]?.goldAnswers === 20
        );
      },
      { message: 'a reliability estimate over both reviewers’ gold answers' },
    );
    const of = (id: string) => stats!.reviewers.find((r) => r.reviewerId === id)!;
    expect(of(bad.id)).toMatchObject({ goldAccuracy: 0, flagged: true });
    // 10 answers per class against the prior's 4 at 0.9: (0 + 3.6) / 14 = 0.26 and (10 + 3.6) / 14 = 0.97.
    expect(of(bad.id).reliability![0]!.accuracy).toBeLessThan(0.3);
    expect(of(good.id)).toMatchObject({ goldAccuracy: 1, flagged: false });
    expect(of(good.id).reliability![0]!.accuracy).toBeGreaterThan(0.95);
    const { rows: versions } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM reliability_estimates',
    );
    expect(versions[0]!.n).toBeGreaterThanOrEqual(1);

    const decisions = await reader(t.decisions);
    const corrections = await reader(t.corrections);
    const id = (name: string) => `${stream}-${name}`;
    await ingestAll(api, t.reviewRequests, [
      reviewRequest(id('outvoted'), { stream, priority: 3 }),
      reviewRequest(id('trusted'), { stream, priority: 2 }),
      reviewRequest(id('unknown'), { stream, priority: 1 }),
    ]);
    const real = { reason: 'low_confidence' };

    // The wrong-way reviewer answers first: not enough; the trusted one then decides against them.
    expect((await asBad('POST', '/v1/tasks/claim', real)).body).toMatchObject({ eventId: id('outvoted') });
    expect(
      (await asBad('POST', `/v1/tasks/${id('outvoted')}/answers`, { label: 'spam' })).body,
    ).toMatchObject({
      status: 'open',
      needed: 2,
    });
    expect((await asGood('POST', '/v1/tasks/claim', real)).body).toMatchObject({ eventId: id('outvoted') });
    expect(
      (await asGood('POST', `/v1/tasks/${id('outvoted')}/answers`, { label: 'ham' })).body,
    ).toMatchObject({
      status: 'decided',
      finalLabel: 'ham',
    });

    // One trusted answer decides alone.
    expect((await asGood('POST', '/v1/tasks/claim', real)).body).toMatchObject({ eventId: id('trusted') });
    expect(
      (await asGood('POST', `/v1/tasks/${id('trusted')}/answers`, { label: 'spam' })).body,
    ).toMatchObject({
      status: 'decided',
      finalLabel: 'spam',
    });

    // A reviewer with no record (the prior, 0.9) does not decide alone; a trusted second does.
    const asNew = client(api.url(), (await person(pool)).key);
    expect((await asNew('POST', '/v1/tasks/claim', real)).body).toMatchObject({ eventId: id('unknown') });
    expect((await asNew('POST', `/v1/tasks/${id('unknown')}/answers`, { label: 'ham' })).body).toMatchObject({
      status: 'open',
      needed: 2,
    });
    expect((await asGood('POST', '/v1/tasks/claim', real)).body).toMatchObject({ eventId: id('unknown') });
    expect((await asGood('POST', `/v1/tasks/${id('unknown')}/answers`, { label: 'ham' })).body).toMatchObject(
      {
        status: 'decided',
        finalLabel: 'ham',
      },
    );

    // Each decision and correction carries the label's posterior as its confidence.
    await decisions.waitForCount(3, { settleMs: 1_000 });
    await corrections.waitForCount(3, { settleMs: 1_000 });
    const decided = new Map(decisions.values<Decision>().map((d) => [d.data.eventId, d.data]));
    expect([...decided.keys()].sort()).toEqual([id('outvoted'), id('trusted'), id('unknown')].sort());
    expect(decided.get(id('outvoted'))).toMatchObject({ label: 'ham', reviewers: [good.id] });
    for (const d of decided.values()) expect(d.confidence).toBeGreaterThanOrEqual(0.95);
    for (const c of corrections.values<Correction>()) {
      expect(c.data.confidence).toBeGreaterThanOrEqual(0.95);
      expect(c.data.confidence).toBeLessThanOrEqual(1);
    }
  });

  it('decides an escalated task once a new estimate trusts its reviewer; admins claim escalations on their own', async () => {
    const t = await reviewTopics(3);
    cleanups.push(t.cleanup);
    const policyName = 'spam';
    await ensurePolicy(pool, policyName, {
      ...DEFAULT_POLICY_SPEC,
      classes: ['ham', 'spam'],
      auditRate: 0,
      goldRate: 0.5,
      consensusConfidence: 0.95,
    });
    // No extra round: an answer that does not reach 0.95 goes straight to an admin.
    const api = await startApi(t, db, {
      POLICY_NAME: policyName,
      RELIABILITY_INTERVAL_MS: '200',
      MAX_EXTRA_ROUNDS: '0',
    });
    cleanups.push(() => api.stop());
    const stream = uniqueName('mail');
    const adminKey = (await person(pool, 'admin')).key;
    const admin = client(api.url(), adminKey);
    const truth = await importTwentyGold(api.url(), adminKey, stream);

    const decisions = await reader(t.decisions);
    const eventId = `${stream}-waiting`;
    await ingestAll(api, t.reviewRequests, [reviewRequest(eventId, { stream })]);
    const careful = await person(pool);
    const asCareful = client(api.url(), careful.key);
    const real = { reason: 'low_confidence' };

    // At the prior (0.9) one answer is not enough, and there is no extra round: escalated.
    expect((await asCareful('POST', '/v1/tasks/claim', real)).body).toMatchObject({ eventId });
    expect((await asCareful('POST', `/v1/tasks/${eventId}/answers`, { label: 'ham' })).body).toMatchObject({
      status: 'escalated',
    });

    // Escalations are claimed by admins, on their own with escalated: true; a reviewer may not ask.
    const refused = await asCareful('POST', '/v1/tasks/claim', { escalated: true });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: 'HITL_ERR_FORBIDDEN' } });
    expect((await admin('POST', '/v1/tasks/claim', { ...real, escalated: false })).status).toBe(204);
    expect((await admin('POST', '/v1/tasks/claim', { escalated: true })).body).toMatchObject({
      eventId,
      status: 'escalated',
    });
    expect((await admin('DELETE', `/v1/tasks/${eventId}/lease`)).status).toBe(204);

    // The reviewer proves careful on gold; the next estimate trusts them, and their answer decides.
    expect(await answerAllGold(asCareful, truth, false)).toBe(20);
    await waitFor(async () => (await admin('GET', `/v1/tasks/${eventId}`)).body?.status === 'decided', {
      message: 'the escalated task decided under a newer estimate',
    });
    expect((await admin('GET', `/v1/tasks/${eventId}`)).body).toMatchObject({ finalLabel: 'ham' });
    await decisions.waitForCount(1, { settleMs: 1_000 });
    const [decision] = decisions.values<Decision>();
    expect(decision!.data).toMatchObject({ eventId, label: 'ham', reviewers: [careful.id] });
    expect(decision!.data.confidence).toBeGreaterThanOrEqual(0.95);
    expect((await admin('POST', '/v1/tasks/claim', { escalated: true })).status).toBe(204);
  });

  it('takes the model as the prior of a low-confidence task when the policy says so, never of an audit', async () => {
    const t = await reviewTopics(3);
    cleanups.push(t.cleanup);
    const policyName = 'spam';
    await ensurePolicy(pool, policyName, {
      ...DEFAULT_POLICY_SPEC,
      classes: ['ham', 'spam'],
      auditRate: 0,
      consensusConfidence: 0.95,
      consensusUsesModel: true,
    });
    const api = await startApi(t, db, { POLICY_NAME: policyName });
    cleanups.push(() => api.stop());
    const stream = uniqueName('mail');
    const id = (name: string) => `${stream}-${name}`;
    // The model said spam at 0.9 each time.
    await ingestAll(api, t.reviewRequests, [
      reviewRequest(id('agrees'), { stream, confidence: 0.9, priority: 3 }),
      reviewRequest(id('disagrees'), { stream, confidence: 0.9, priority: 2 }),
      reviewRequest(id('audit'), { stream, confidence: 0.9, priority: 1, reason: 'audit_sample' }),
    ]);
    // A reviewer with no record (0.9) who agrees with the model: 0.81 / 0.82, decided alone.
    const as = client(api.url(), (await person(pool)).key);
    expect((await as('POST', '/v1/tasks/claim', {})).body).toMatchObject({ eventId: id('agrees') });
    expect((await as('POST', `/v1/tasks/${id('agrees')}/answers`, { label: 'spam' })).body).toMatchObject({
      status: 'decided',
      finalLabel: 'spam',
    });
    // Against the model, the same answer is a coin toss: another reviewer is asked.
    expect((await as('POST', '/v1/tasks/claim', {})).body).toMatchObject({ eventId: id('disagrees') });
    expect((await as('POST', `/v1/tasks/${id('disagrees')}/answers`, { label: 'ham' })).body).toMatchObject({
      status: 'open',
      needed: 2,
    });
    // An audit sample judges the model, so the model has no say in its label: 0.9 is not enough.
    expect((await as('POST', '/v1/tasks/claim', {})).body).toMatchObject({ eventId: id('audit') });
    expect((await as('POST', `/v1/tasks/${id('audit')}/answers`, { label: 'spam' })).body).toMatchObject({
      status: 'open',
      needed: 2,
    });
  });

  it('holds a flagged reviewer back to tasks others answer too, when RESTRICT_FLAGGED_REVIEWERS is on', async () => {
    const t = await reviewTopics(3);
    cleanups.push(t.cleanup);
    const policyName = 'spam';
    await ensurePolicy(pool, policyName, {
      ...DEFAULT_POLICY_SPEC,
      classes: ['ham', 'spam'],
      auditRate: 0,
      goldRate: 0.5,
      consensusConfidence: 0.95,
    });
    const api = await startApi(t, db, {
      POLICY_NAME: policyName,
      RELIABILITY_INTERVAL_MS: '200',
      RESTRICT_FLAGGED_REVIEWERS: 'true',
    });
    cleanups.push(() => api.stop());
    const stream = uniqueName('mail');
    const adminKey = (await person(pool, 'admin')).key;
    const admin = client(api.url(), adminKey);
    const truth = await importTwentyGold(api.url(), adminKey, stream);
    const bad = await person(pool);
    const asBad = client(api.url(), bad.key);
    expect(await answerAllGold(asBad, truth, true)).toBe(20);
    await waitFor(
      async () => {
        const stats = (await admin('GET', '/v1/stats')).body as unknown as Stats;
        return stats.reviewers.find((r) => r.reviewerId === bad.id)?.flagged === true;
      },
      { message: 'the wrong-way reviewer flagged' },
    );

    const id = (name: string) => `${stream}-${name}`;
    await ingestAll(api, t.reviewRequests, [
      reviewRequest(id('alone'), { stream, priority: 3 }),
      reviewRequest(id('pair'), { stream, priority: 1, requiredReviewers: 2 }),
    ]);
    const real = { reason: 'low_confidence' };
    // The more urgent task would be theirs alone to answer: they get the one that needs two answers.
    expect((await asBad('POST', '/v1/tasks/claim', real)).body).toMatchObject({ eventId: id('pair') });
    expect((await asBad('POST', `/v1/tasks/${id('pair')}/answers`, { label: 'ham' })).body).toMatchObject({
      status: 'open',
    });
    expect((await asBad('POST', '/v1/tasks/claim', real)).status).toBe(204);
    // Others see both; once someone has answered the first, the flagged reviewer may add to it.
    const good = client(api.url(), (await person(pool)).key);
    expect((await good('POST', '/v1/tasks/claim', real)).body).toMatchObject({ eventId: id('alone') });
    expect((await good('POST', `/v1/tasks/${id('alone')}/answers`, { label: 'spam' })).body).toMatchObject({
      status: 'open',
    });
    // (One unknown reviewer's answer, 0.9 at the prior, does not reach 0.95: it waits for a second.)
    expect((await asBad('POST', '/v1/tasks/claim', real)).body).toMatchObject({ eventId: id('alone') });
  });
});
