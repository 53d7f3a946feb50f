// GET /v1/admin/learning on the real stack: the model's decisions counted from the decisions topic
// exactly once (also when a batch comes again), people's decisions and the audit sample from the
// review tasks, promotions from the registry; and the reviewer settings and daily answers.
import type { Learning } from '@hitl/api-contract';
import { topics, type Decision } from '@hitl/contracts';
import { promoteModelVersion, registerModelVersion } from '@hitl/db';
import { TypedProducer, ensureTopics } from '@hitl/kafka';
import { uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { createReviewApi, loadReviewApiConfig, type ReviewApi } from '../src';
import { chooseBucketMinutes, countDecisions, readDecision } from '../src/learning';
import type { ReviewStats } from '../src/queries';
import {
  client,
  logger,
  person,
  reviewEnv,
  reviewRequest,
  reviewTopics,
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

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The start of the bucket of `minutes` holding `t`, counted from the Unix epoch as the API bins. */
const binOf = (t: number, minutes: number) =>
  new Date(Math.floor(t / (minutes * MINUTE)) * (minutes * MINUTE)).toISOString();

type Field = 'modelDecisions' | 'humanDecisions' | 'audited' | 'auditedCorrect';

/** The points the API should give for this activity (a time and what it adds) in buckets of `minutes`. */
function pointsOf(activity: readonly { at: number; field: Field; n?: number }[], minutes: number) {
  const byStart = new Map<string, Record<Field, number>>();
  for (const { at, field, n } of activity) {
    const start = binOf(at, minutes);
    const row = byStart.get(start) ?? { modelDecisions: 0, humanDecisions: 0, audited: 0, auditedCorrect: 0 };
    row[field] += n ?? 1;
    byStart.set(start, row);
  }
  return [...byStart.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([start, counts]) => ({ start, ...counts }));
}

interface Running {
  api: ReviewApi;
  registry: Registry;
}

/** The API on the test's topics and database, with a registry the test can read. */
async function start(t: ReviewTopics, env: Record<string, string>): Promise<Running> {
  const registry = new Registry();
  const api = await createReviewApi(loadReviewApiConfig(reviewEnv(t, db.url, env)), {
    logger,
    registry,
    kafka: testKafka(),
  });
  cleanups.push(() => api.stop());
  await api.start();
  return { api, registry };
}

/** Topics with one partition, so the records are read in the order they were sent. */
async function topicsOfOne(): Promise<ReviewTopics> {
  const t = await reviewTopics(1);
  cleanups.push(t.cleanup);
  return t;
}

function decision(
  eventId: string,
  decidedAt: Date,
  opts: { by?: 'model' | 'human'; version?: number } = {},
): Decision {
  const by = opts.by ?? 'model';
  return {
    type: 'decision.made',
    version: 1,
    producedAt: decidedAt.toISOString(),
    data: {
      eventId,
      label: 'spam',
      decidedBy: by,
      model: { id: 'spam', version: opts.version ?? 1 },
      policyVersion: 1,
      reviewers: by === 'model' ? [] : ['someone'],
      confidence: by === 'model' ? 0.97 : null,
      decidedAt: decidedAt.toISOString(),
    },
  };
}

async function publish(topic: string, records: Decision[]): Promise<void> {
  const producer = new TypedProducer({ kafka: testKafka() });
  await producer.connect();
  try {
    await producer.send(
      { ...topics.decisions, name: topic },
      records.map((value) => ({ value })),
    );
  } finally {
    await producer.disconnect();
  }
}

/** Records no decision schema accepts, as a stranger could write them. */
async function publishGarbage(topic: string, values: (string | null)[]): Promise<void> {
  const producer = testKafka().producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: values.map((value) => ({ key: 'junk', value })) });
  } finally {
    await producer.disconnect();
  }
}

async function modelDecisionsCounted(): Promise<number> {
  const { rows } = await pool.query<{ n: string | null }>(
    'SELECT sum(decisions) AS n FROM model_decision_counts',
  );
  return Number(rows[0]!.n ?? 0);
}

async function metricValue(registry: Registry, name: string): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

/** Claims the task (in its own stream) and answers it. */
async function decide(api: ReviewApi, key: string, id: string, label: string): Promise<void> {
  const call = client(api.url(), key);
  const { stream } = (await api.tasks.get(id))!;
  expect((await call('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({ eventId: id });
  expect((await call('POST', `/v1/tasks/${encodeURIComponent(id)}/answers`, { label })).body).toMatchObject({
    status: 'decided',
  });
}

describe('GET /v1/admin/learning', () => {
  it('counts the model’s decisions per minute beside people’s, the audit sample and the promotions', async () => {
    await ensureTopics({ kafka: testKafka(), logger, topics: [topics.models] });
    const t = await topicsOfOne();
    const modelId = uniqueName('learning-model');
    const { api, registry } = await start(t, { POLICY_NAME: modelId });
    const admin = client(api.url(), (await person(pool, 'admin')).key);
    const reviewer = await person(pool, 'reviewer');

    // The model's decisions: three hours ago (two versions), two hours ago, now, and one 20 days
    // ago (outside the default 14 days); a human decision and unreadable records count for nothing.
    const now = Date.now();
    const at = (ms: number) => new Date(ms);
    const ids = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => uniqueName(`${prefix}${i}`));
    await publishGarbage(t.decisions, ['not json', '{"type":"decision.made"}', null]);
    const sent = [
      ...ids(3, 'a').map((id) => decision(id, at(now - 3 * HOUR))),
      ...ids(2, 'b').map((id) => decision(id, at(now - 3 * HOUR), { version: 2 })),
      ...ids(4, 'c').map((id) => decision(id, at(now - 2 * HOUR))),
      decision(uniqueName('d'), at(now)),
      decision(uniqueName('old'), at(now - 20 * 24 * HOUR)),
      decision(uniqueName('h'), at(now), { by: 'human' }),
    ];
    await publish(t.decisions, sent);
    await waitFor(async () => (await modelDecisionsCounted()) === 11, { message: 'model decisions counted' });
    await waitFor(async () => (await metricValue(registry, 'hitl_review_learning_undecodable_total')) === 3, {
      message: 'unreadable records skipped and counted',
    });

    // People's decisions, all decided now: two audits the model labelled (one agreed with), an
    // audit of an event no model scored, and a low-confidence task.
    const stream = uniqueName('learning');
    const tasks = [
      {
        id: `${stream}-right`,
        reason: 'audit_sample' as const,
        label: 'spam' as string | null,
        answer: 'spam',
      },
      { id: `${stream}-wrong`, reason: 'audit_sample' as const, label: 'spam', answer: 'ham' },
      { id: `${stream}-nomodel`, reason: 'audit_sample' as const, label: null, answer: 'ham' },
      { id: `${stream}-unsure`, reason: 'low_confidence' as const, label: 'spam', answer: 'ham' },
    ];
    for (const task of tasks) {
      await api.tasks.ingest(
        reviewRequest(task.id, { stream, reason: task.reason, label: task.label, confidence: 0.95 }).data,
        ['ham', 'spam'],
      );
      await decide(api, reviewer.key, task.id, task.answer);
    }

    // Two promotions of the policy's model.
    for (const onnx of [[1], [2]]) {
      const v = await registerModelVersion(pool, {
        modelId,
        onnx: new Uint8Array(onnx),
        classes: ['ham', 'spam'],
        inputKind: 'text',
      });
      await promoteModelVersion(pool, modelId, v.version);
    }
    const { rows: promoted } = await pool.query<{ version: number; at: Date }>(
      `SELECT version, at FROM model_events WHERE model_id = $1 AND event = 'promoted' ORDER BY id`,
      [modelId],
    );

    // What each bucket should hold, from when the tasks were actually decided.
    const { rows: decided } = await pool.query<{ event_id: string; decided_at: Date }>(
      'SELECT event_id, decided_at FROM review_tasks WHERE stream = $1',
      [stream],
    );
    const activity: { at: number; field: Field }[] = [
      ...Array.from({ length: 5 }, () => ({ at: now - 3 * HOUR, field: 'modelDecisions' as const })),
      ...Array.from({ length: 4 }, () => ({ at: now - 2 * HOUR, field: 'modelDecisions' as const })),
      { at: now, field: 'modelDecisions' },
    ];
    for (const row of decided) {
      const at = row.decided_at.getTime();
      activity.push({ at, field: 'humanDecisions' });
      if (row.event_id.endsWith('-right') || row.event_id.endsWith('-wrong'))
        activity.push({ at, field: 'audited' });
      if (row.event_id.endsWith('-right')) activity.push({ at, field: 'auditedCorrect' });
    }

    // Activity over the last three hours: some 181 buckets of a minute.
    const view = await admin('GET', '/v1/admin/learning');
    expect(view.status).toBe(200);
    expect(view.body).toEqual({
      from: expect.any(String),
      to: expect.any(String),
      bucketMinutes: 1,
      points: pointsOf(activity, 1),
      promotions: promoted.map((p) => ({ version: p.version, promotedAt: p.at.toISOString() })),
    });
    const byModel = pointsOf(activity, 1).filter((p) => p.modelDecisions > 0);
    expect(byModel.map((p) => p.modelDecisions)).toEqual([5, 4, 1]);
    expect(promoted.map((p) => p.version)).toEqual([1, 2]);
    const { from, to } = view.body as { from: string; to: string };
    expect(Date.parse(from)).toBe(Math.floor((Date.parse(to) - 14 * DAY) / MINUTE) * MINUTE);

    // A longer window takes in the decision of 20 days ago: 20 days need buckets of 6 hours
    // (480 of an hour would be too many).
    const month = (await admin('GET', '/v1/admin/learning?days=30')).body as Learning;
    expect(month.bucketMinutes).toBe(360);
    expect(month.points).toEqual(
      pointsOf([{ at: now - 20 * DAY, field: 'modelDecisions' }, ...activity], 360),
    );
    expect(month.points[0]).toEqual({
      start: binOf(now - 20 * DAY, 360),
      modelDecisions: 1,
      humanDecisions: 0,
      audited: 0,
      auditedCorrect: 0,
    });
  });

  it('does not count a batch twice when it comes again from an older Kafka offset', async () => {
    const t = await topicsOfOne();
    const groupId = uniqueName('review-api');
    const env = { GROUP_ID: groupId };
    const first = await start(t, env);
    await publish(
      t.decisions,
      Array.from({ length: 20 }, (_, i) => decision(uniqueName(`x${i}`), new Date())),
    );
    await waitFor(async () => (await modelDecisionsCounted()) === 20, { message: 'first count' });
    await first.api.stop();

    // As after a crash between the Postgres commit and the Kafka commit, and more: the group
    // starts over from the beginning of the topic.
    const admin = testKafka().admin();
    await admin.connect();
    try {
      await admin.resetOffsets({ groupId: `${groupId}-learning`, topic: t.decisions, earliest: true });
    } finally {
      await admin.disconnect();
    }
    await start(t, env);
    // One more decision behind the twenty: once it is counted, the twenty have been read again.
    await publish(t.decisions, [decision(uniqueName('last'), new Date())]);
    await waitFor(async () => (await modelDecisionsCounted()) >= 21, {
      message: 'the last decision counted',
    });
    expect(await modelDecisionsCounted()).toBe(21);
    const { rows } = await pool.query<{ next_offset: string }>(
      'SELECT next_offset FROM model_decision_count_offsets WHERE topic = $1',
      [t.decisions],
    );
    expect(rows).toEqual([{ next_offset: '21' }]);
  });

  it('adds nothing for records below the stored next offset, and moves it only forward', async () => {
    const topic = uniqueName('direct');
    const records = [0, 1, 2].map((offset) =>
      readDecision({
        offset: String(offset),
        value: Buffer.from(JSON.stringify(decision(uniqueName('e'), new Date('2026-01-01T10:20:00Z')))),
      }),
    );
    expect((await countDecisions(pool, topic, 0, records, 2n)).fresh).toHaveLength(3);
    // The same batch again, then one that overlaps it.
    expect((await countDecisions(pool, topic, 0, records, 2n)).fresh).toHaveLength(0);
    expect((await countDecisions(pool, topic, 0, records.slice(1), 2n)).fresh).toHaveLength(0);
    const { rows } = await pool.query(
      'SELECT minute, model_id, model_version, decisions FROM model_decision_counts',
    );
    expect(rows).toEqual([
      { minute: new Date('2026-01-01T10:20:00Z'), model_id: 'spam', model_version: 1, decisions: '3' },
    ]);
    const next = await pool.query('SELECT next_offset FROM model_decision_count_offsets WHERE topic = $1', [
      topic,
    ]);
    expect(next.rows).toEqual([{ next_offset: '3' }]);
  });

  it('chooses the smallest bucket that gives at most 200 from the first activity in the window on', async () => {
    const t = await topicsOfOne();
    const { api } = await start(t, { LEARNING_COUNTS: 'false' });
    const admin = client(api.url(), (await person(pool, 'admin')).key);
    const reviewer = await person(pool, 'reviewer');
    const view = async (days?: number) =>
      (await admin('GET', `/v1/admin/learning${days === undefined ? '' : `?days=${days}`}`)).body as Learning;

    // No activity: the size the whole window would need (14 days: 57 of 6 hours; a day: 97 of 15 minutes).
    expect(await view()).toMatchObject({ bucketMinutes: 360, points: [] });
    expect(await view(1)).toMatchObject({ bucketMinutes: 15, points: [] });

    // The model's counts, written as the consumer writes them: two versions 10 minutes ago, one now.
    const { rows: minutes } = await pool.query<{ minute: Date }>(
      `INSERT INTO model_decision_counts (minute, model_id, model_version, decisions)
       SELECT date_trunc('minute', now() - make_interval(mins => ago), 'UTC'), 'spam', v, n
         FROM (VALUES (10, 1, 3), (10, 2, 2), (0, 2, 4)) AS c (ago, v, n)
       RETURNING minute`,
    );
    const recent: { at: number; field: Field; n: number }[] = [
      { at: minutes[0]!.minute.getTime(), field: 'modelDecisions', n: 3 },
      { at: minutes[1]!.minute.getTime(), field: 'modelDecisions', n: 2 },
      { at: minutes[2]!.minute.getTime(), field: 'modelDecisions', n: 4 },
    ];
    // A short span: a bucket a minute, the two versions' counts summed.
    expect(await view()).toMatchObject({ bucketMinutes: 1, points: pointsOf(recent, 1) });
    expect(pointsOf(recent, 1).map((p) => p.modelDecisions)).toEqual([5, 4]);

    // An audit people agreed with, decided two days ago: 2 days are 193 or so buckets of 15 minutes
    // (576 of 5 would be too many).
    const stream = uniqueName('bucket');
    const id = `${stream}-audit`;
    await api.tasks.ingest(
      reviewRequest(id, { stream, reason: 'audit_sample', label: 'spam', confidence: 0.95 }).data,
      ['ham', 'spam'],
    );
    await decide(api, reviewer.key, id, 'spam');
    const { rows: moved } = await pool.query<{ decided_at: Date }>(
      `UPDATE review_tasks SET decided_at = now() - interval '2 days' WHERE event_id = $1 RETURNING decided_at`,
      [id],
    );
    const old = moved[0]!.decided_at.getTime();
    const withAudit = [
      { at: old, field: 'humanDecisions' as const, n: 1 },
      { at: old, field: 'audited' as const, n: 1 },
      { at: old, field: 'auditedCorrect' as const, n: 1 },
      ...recent,
    ];
    const fortnight = await view();
    expect(fortnight).toMatchObject({ bucketMinutes: 15, points: pointsOf(withAudit, 15) });
    expect(fortnight.points[0]).toEqual({
      start: binOf(old, 15),
      modelDecisions: 0,
      humanDecisions: 1,
      audited: 1,
      auditedCorrect: 1,
    });
    // A day's window leaves it out, and is back to minutes.
    expect(await view(1)).toMatchObject({ bucketMinutes: 1, points: pointsOf(recent, 1) });

    // Counts 60 days ago: too many buckets of 6 hours (240), so a bucket a UTC day.
    const { rows: older } = await pool.query<{ minute: Date }>(
      `INSERT INTO model_decision_counts (minute, model_id, model_version, decisions)
       VALUES (date_trunc('minute', now() - interval '60 days', 'UTC'), 'spam', 1, 7) RETURNING minute`,
    );
    const quarter = await view(90);
    expect(quarter.bucketMinutes).toBe(1440);
    expect(quarter.points).toEqual(
      pointsOf([{ at: older[0]!.minute.getTime(), field: 'modelDecisions', n: 7 }, ...withAudit], 1440),
    );
    expect(quarter.points[0]!.start).toMatch(/T00:00:00\.000Z$/);
    expect((await view()).bucketMinutes).toBe(15);
  });

  it('counts the buckets from the one holding the first activity to the one holding the end', () => {
    expect(chooseBucketMinutes(0, 199 * MINUTE)).toBe(1);
    expect(chooseBucketMinutes(0, 200 * MINUTE)).toBe(5);
    expect(chooseBucketMinutes(4 * MINUTE, 999 * MINUTE)).toBe(5);
    expect(chooseBucketMinutes(0, 1000 * MINUTE)).toBe(15);
    expect(chooseBucketMinutes(0, 200 * HOUR - 1)).toBe(60);
    expect(chooseBucketMinutes(0, 200 * HOUR)).toBe(360);
    expect(chooseBucketMinutes(0, 50 * DAY - 1)).toBe(360);
    expect(chooseBucketMinutes(0, 50 * DAY)).toBe(1440);
    expect(chooseBucketMinutes(Date.now() - 90 * DAY, Date.now())).toBe(1440);
  });

  it('refuses days out of range with HITL_ERR_VALIDATION, and reviewers with HITL_ERR_FORBIDDEN', async () => {
    const t = await topicsOfOne();
    const { api } = await start(t, { LEARNING_COUNTS: 'false' });
    const admin = client(api.url(), (await person(pool, 'admin')).key);
    for (const days of ['0', '91', '1.5', 'x', '-1']) {
      const refused = await admin('GET', `/v1/admin/learning?days=${days}`);
      expect({ days, status: refused.status, body: refused.body }).toMatchObject({
        status: 400,
        body: { error: { code: 'HITL_ERR_VALIDATION' } },
      });
    }
    expect((await admin('GET', '/v1/admin/learning?days=90')).status).toBe(200);
    expect((await admin('GET', '/v1/admin/learning?days=1&other=1')).status).toBe(400);
    const reviewer = client(api.url(), (await person(pool, 'reviewer')).key);
    expect(await reviewer('GET', '/v1/admin/learning')).toMatchObject({
      status: 403,
      body: { error: { code: 'HITL_ERR_FORBIDDEN' } },
    });
    expect((await client(api.url())('GET', '/v1/admin/learning')).status).toBe(401);
  });
});

describe('what reviewers see', () => {
  it('gives the routing policy’s reviewer settings in /v1/me, the defaults before any policy', async () => {
    const t = await topicsOfOne();
    const { api } = await start(t, { LEARNING_COUNTS: 'false' });
    const reviewer = client(api.url(), (await person(pool, 'reviewer')).key);
    const admin = client(api.url(), (await person(pool, 'admin')).key);
    expect((await reviewer('GET', '/v1/me')).body).toMatchObject({
      role: 'reviewer',
      settings: { hideSuggestion: false, featureNames: [] },
    });
    const spec = {
      classes: ['ham', 'spam'],
      threshold: 0.9,
      classThresholds: {},
      alwaysReview: [],
      auditRate: 0.02,
      requiredReviewers: 1,
    };
    const set = await admin('PUT', '/v1/admin/policy', {
      spec: { ...spec, hideSuggestion: true, featureNames: ['alcohol', 'malic acid'] },
    });
    expect(set.body).toMatchObject({
      version: 1,
      hideSuggestion: true,
      featureNames: ['alcohol', 'malic acid'],
    });
    for (const who of [reviewer, admin]) {
      expect(((await who('GET', '/v1/me')).body as { settings: unknown }).settings).toEqual({
        hideSuggestion: true,
        featureNames: ['alcohol', 'malic acid'],
      });
    }
    // Left out of a later version: the defaults again.
    await admin('PUT', '/v1/admin/policy', { spec });
    expect(((await reviewer('GET', '/v1/me')).body as { settings: unknown }).settings).toEqual({
      hideSuggestion: false,
      featureNames: [],
    });
    // Bounded like the rest of the policy, with its own code.
    const refused = await admin('PUT', '/v1/admin/policy', {
      spec: { ...spec, featureNames: ['a', 'a'], hideSuggestion: 'yes' },
    });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({
      error: {
        code: 'HITL_ERR_POLICY_INVALID',
        details: { problems: [{ field: 'hideSuggestion' }, { field: 'featureNames' }] },
      },
    });
  });

  it('counts each reviewer’s answers since midnight UTC', async () => {
    const t = await topicsOfOne();
    const { api } = await start(t, { LEARNING_COUNTS: 'false' });
    const me = await person(pool, 'reviewer');
    const stream = uniqueName('today');
    for (const n of [1, 2, 3]) {
      const id = `${stream}-${n}`;
      await api.tasks.ingest(reviewRequest(id, { stream }).data, ['ham', 'spam']);
      await decide(api, me.key, id, 'ham');
    }
    // One of them answered a minute before midnight, UTC.
    await pool.query(
      `UPDATE review_answers SET answered_at = date_trunc('day', now(), 'UTC') - interval '1 minute'
        WHERE event_id = $1`,
      [`${stream}-1`],
    );
    const stats = (await client(api.url(), me.key)('GET', '/v1/stats')).body as unknown as ReviewStats;
    expect(stats.reviewers).toEqual([
      expect.objectContaining({ reviewerId: me.id, answers: 3, answersToday: 2 }),
    ]);
  });
});
