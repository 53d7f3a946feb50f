// Re-scoring on promotion on the real stack: a promotion sends the waiting, unanswered tasks back
// to be scored; a new score the policy is sure of closes its task as a model decision, the others
// only move in the queue; and answers racing new scores still give each event one decision.
import {
  topics,
  type Decision,
  type ModelLifecycle,
  type Prediction,
  type RescoreRequest,
  type ReviewReason,
  type TopicSpec,
} from '@hitl/contracts';
import { ensurePolicy } from '@hitl/db';
import { TypedProducer, type ConsumedRecord } from '@hitl/kafka';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy';
import { TopicReader, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { reviewApiMetrics } from '../src/metrics';
import { Rescoring } from '../src/rescore';
import {
  client,
  logger,
  person,
  reviewRequest,
  reviewTopics,
  decisionsByEvent,
  ingestAll,
  startApi,
  testDatabase,
  testKafka,
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

const MODEL = 'spam';

/** The API on its own topics, under a policy of two classes with no audit sample. */
async function setup(extra: Record<string, string> = {}) {
  const t = await reviewTopics(3);
  cleanups.push(t.cleanup);
  // The policy is named after the model it routes (each test has a database of its own).
  const policyName = MODEL;
  const policy = await ensurePolicy(pool, policyName, {
    ...DEFAULT_POLICY_SPEC,
    classes: ['ham', 'spam'],
    auditRate: 0,
  });
  const api = await startApi(t, db, { POLICY_NAME: policyName, ...extra });
  cleanups.push(() => api.stop());
  return { t, api, policy };
}

async function reader(topic: string): Promise<TopicReader> {
  const r = await TopicReader.start(topic);
  cleanups.push(() => r.stop());
  return r;
}

async function send(spec: TopicSpec, name: string, values: readonly unknown[]): Promise<void> {
  const producer = new TypedProducer({ kafka: testKafka() });
  await producer.connect();
  try {
    await producer.send(
      { ...spec, name },
      values.map((value) => ({ value })),
    );
  } finally {
    await producer.disconnect();
  }
}

function promoted(version: number, id = MODEL): ModelLifecycle {
  return {
    type: 'model.promoted',
    version: 1,
    producedAt: new Date().toISOString(),
    data: {
      model: { id, version },
      parentVersion: version - 1,
      classes: ['ham', 'spam'],
      inputKind: 'text',
      metrics: {},
    },
  };
}

/** The new prediction for an event, by `version`. */
function scored(eventId: string, label: 'ham' | 'spam', confidence: number, version = 2): Prediction {
  const at = new Date().toISOString();
  return {
    type: 'prediction.scored',
    version: 1,
    producedAt: at,
    data: {
      eventId,
      stream: 'email',
      occurredAt: at,
      input: { text: `text of ${eventId}` },
      model: { id: MODEL, version },
      classes: ['ham', 'spam'],
      label,
      probabilities: {
        ham: label === 'ham' ? confidence : 1 - confidence,
        spam: label === 'spam' ? confidence : 1 - confidence,
      },
      confidence,
      margin: Math.abs(2 * confidence - 1),
      entropy: 0.2,
      scoredAt: at,
    },
  };
}

interface Row {
  event_id: string;
  status: string;
  decided_by: string;
  reason: ReviewReason;
  priority: number;
  predicted_label: string | null;
  final_label: string | null;
}

async function rows(stream: string): Promise<Map<string, Row>> {
  const { rows } = await pool.query<Row>(
    `SELECT event_id, status, decided_by, reason, priority, predicted_label, final_label
       FROM review_tasks WHERE stream = $1 ORDER BY event_id`,
    [stream],
  );
  return new Map(rows.map((r) => [r.event_id, r]));
}

describe('re-scoring on promotion', () => {
  it('sends back the waiting tasks nobody answered, of the promoted model or of none, once per promotion', async () => {
    const { t, api } = await setup();
    const requests = await reader(t.rescoreRequests);
    const stream = uniqueName('wait');
    const id = (name: string) => `${stream}-${name}`;
    await ingestAll(api, t.reviewRequests, [
      reviewRequest(id('low-1'), { stream }),
      reviewRequest(id('low-2'), { stream }),
      reviewRequest(id('cold'), { stream, label: null, reason: 'no_model' }),
      reviewRequest(id('audit'), { stream, confidence: 0.97, reason: 'audit_sample' }),
      reviewRequest(id('rule'), { stream, confidence: 0.97, reason: 'class_rule' }),
      reviewRequest(id('answered'), { stream, requiredReviewers: 2, priority: 2 }),
    ]);
    // One of two answers given: it is being decided by people.
    const alice = client(api.url(), (await person(pool)).key);
    expect((await alice('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({
      eventId: id('answered'),
    });
    expect(
      (await alice('POST', `/v1/tasks/${id('answered')}/answers`, { label: 'spam' })).body,
    ).toMatchObject({
      status: 'open',
    });

    await send(topics.models, t.models, [promoted(2), promoted(3, 'another-model')]);
    await requests.waitForCount(3, { settleMs: 1_500 });
    const sent = requests.values<RescoreRequest>();
    expect(sent.map((r) => r.data.eventId).sort()).toEqual([id('cold'), id('low-1'), id('low-2')]);
    for (const r of sent) {
      expect(r.data.model).toEqual({ id: MODEL, version: 2 });
      expect(r.data.input).toEqual({ text: `text of ${r.data.eventId}` });
    }
    const { rows: rounds } = await pool.query(
      `SELECT model_id, version, step, tasks FROM rescore_rounds ORDER BY "offset"`,
    );
    // Another model's promotion concerns other tasks.
    expect(rounds).toEqual([{ model_id: MODEL, version: 2, step: 'model.promoted', tasks: 3 }]);

    // The same lifecycle record read again (a restart before its offset was committed) asks for nothing.
    const rescoring = new Rescoring({
      kafka: testKafka(),
      pool,
      logger,
      registry: new Registry(),
      metrics: reviewApiMetrics(new Registry(), {
        sampleQueue: async () => [],
        sampleStreams: async () => [],
        logger,
      }),
      groupId: uniqueName('unused'),
      policyName: MODEL,
      maxTasks: 100,
      topics: {
        models: t.models,
        rescoreRequests: t.rescoreRequests,
        rescored: t.rescored,
        decisions: t.decisions,
        deadLetters: t.deadLetters,
      },
      onOutbox: () => undefined,
    });
    const { rows: place } = await pool.query<{ partition: number; offset: string }>(
      `SELECT "partition", "offset" FROM rescore_rounds WHERE model_id = $1`,
      [MODEL],
    );
    const again: ConsumedRecord<ModelLifecycle> = {
      topic: t.models,
      partition: place[0]!.partition,
      offset: place[0]!.offset,
      key: MODEL,
      value: promoted(2),
      headers: {},
      timestamp: String(Date.now()),
    };
    expect(await rescoring.onLifecycle(again)).toBe(0);
    expect(await rescoring.onLifecycle({ ...again, offset: String(Number(again.offset) + 100) })).toBe(3);
  });

  it('closes a task its new score is sure of as a model decision, and reorders the others', async () => {
    const { t, api, policy } = await setup();
    const decisions = await reader(t.decisions);
    const stream = uniqueName('apply');
    const id = (name: string) => `${stream}-${name}`;
    await ingestAll(api, t.reviewRequests, [
      reviewRequest(id('sure'), { stream, confidence: 0.6 }),
      reviewRequest(id('unsure'), { stream, confidence: 0.55 }),
      reviewRequest(id('cold'), { stream, label: null, reason: 'no_model' }),
      reviewRequest(id('audit'), { stream, confidence: 0.95, reason: 'audit_sample', priority: 0.01 }),
      reviewRequest(id('leased'), { stream, confidence: 0.6, priority: 5 }),
    ]);
    const alice = await person(pool);
    const a = client(api.url(), alice.key);
    expect((await a('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({ eventId: id('leased') });

    await send(topics.rescored, t.rescored, [
      scored(id('sure'), 'spam', 0.97),
      scored(id('unsure'), 'ham', 0.7),
      scored(id('cold'), 'ham', 0.95),
      scored(id('audit'), 'spam', 0.99),
      scored(id('leased'), 'spam', 0.99),
    ]);
    await decisions.waitForCount(2, { settleMs: 1_500 });
    const made = decisions.values<Decision>().map((d) => d.data);
    expect(made.map((d) => d.eventId).sort()).toEqual([id('cold'), id('sure')]);
    for (const d of made) {
      expect(d).toMatchObject({
        decidedBy: 'model',
        reason: 'rescored',
        model: { id: MODEL, version: 2 },
        policyVersion: policy.version,
        reviewers: [],
      });
    }
    expect(made.find((d) => d.eventId === id('sure'))).toMatchObject({ label: 'spam', confidence: 0.97 });

    await waitFor(async () => (await rows(stream)).get(id('leased'))!.predicted_label === 'spam', {
      message: 'every new score applied',
    });
    const after = await rows(stream);
    expect(after.get(id('sure'))).toMatchObject({
      status: 'decided',
      decided_by: 'model',
      final_label: 'spam',
    });
    expect(after.get(id('cold'))).toMatchObject({
      status: 'decided',
      decided_by: 'model',
      final_label: 'ham',
    });
    // Still unsure: the new prediction and its priority.
    expect(after.get(id('unsure'))).toMatchObject({
      status: 'open',
      predicted_label: 'ham',
      reason: 'low_confidence',
    });
    expect(after.get(id('unsure'))!.priority).toBeCloseTo(0.3, 10);
    // The audit item stays with people as it was.
    expect(after.get(id('audit'))).toMatchObject({ status: 'open', reason: 'audit_sample', priority: 0.01 });
    // A task a reviewer holds is not taken from them; the answer decides it.
    expect(after.get(id('leased'))).toMatchObject({ status: 'open', decided_by: 'human' });
    expect((await a('POST', `/v1/tasks/${id('leased')}/answers`, { label: 'ham' })).body).toMatchObject({
      status: 'decided',
      finalLabel: 'ham',
    });
    await decisions.waitForCount(3, { settleMs: 500 });
    // The reviewer sees the model's new view; the queue serves the unsure item before the audit.
    const claimed = await a('POST', '/v1/tasks/claim', { stream });
    expect(claimed.body).toMatchObject({
      eventId: id('unsure'),
      prediction: { label: 'ham', confidence: 0.7, model: { id: MODEL, version: 2 } },
    });
    // Model decisions are no person's labels: the export leaves them out.
    const admin = await person(pool, 'admin');
    const exported = await fetch(`${api.url()}/v1/export?stream=${stream}`, {
      headers: { authorization: `Bearer ${admin.key}` },
    });
    const labels = (await exported.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { eventId: string });
    expect(labels.map((l) => l.eventId)).toEqual([id('leased')]);
  });

  it('answers 409 naming the model when a lapsed lease finds its task decided by a new score', async () => {
    const { t, api } = await setup({ LEASE_SECONDS: '1' });
    const stream = uniqueName('lapsed');
    const eventId = `${stream}-0`;
    await ingestAll(api, t.reviewRequests, [reviewRequest(eventId, { stream })]);
    const a = client(api.url(), (await person(pool)).key);
    expect((await a('POST', '/v1/tasks/claim', { stream })).body).toMatchObject({ eventId });
    await waitFor(
      async () =>
        (
          await pool.query(`SELECT 1 FROM review_tasks WHERE event_id = $1 AND lease_expires_at < now()`, [
            eventId,
          ])
        ).rowCount === 1,
      { message: 'the lease lapsed' },
    );
    await send(topics.rescored, t.rescored, [scored(eventId, 'spam', 0.98, 4)]);
    await waitFor(async () => (await rows(stream)).get(eventId)!.status === 'decided', {
      message: 'decided',
    });
    const answer = await a('POST', `/v1/tasks/${eventId}/answers`, { label: 'ham' });
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({
      error: {
        code: 'HITL_ERR_TASK_DECIDED',
        details: { decidedBy: 'model', model: { id: MODEL, version: 4 }, finalLabel: 'spam' },
      },
    });
  });

  it('gives every event exactly one decision when people answer tasks while new scores arrive', async () => {
    const { t, api } = await setup({ LEASE_SECONDS: '2' });
    const decisions = await reader(t.decisions);
    const stream = uniqueName('race');
    const ids = Array.from({ length: 40 }, (_, i) => `${stream}-${String(i).padStart(2, '0')}`);
    await ingestAll(
      api,
      t.reviewRequests,
      ids.map((id, i) => reviewRequest(id, { stream, priority: 1 - i / 100 })),
    );
    const reviewers = await Promise.all([person(pool), person(pool), person(pool)]);
    const outcomes = new Map<number, number>();
    const work = reviewers.map(async (r) => {
      const c = client(api.url(), r.key);
      for (;;) {
        const claim = await c('POST', '/v1/tasks/claim', { stream });
        if (claim.status === 204) return;
        const eventId = (claim.body as { eventId: string }).eventId;
        const answer = await c('POST', `/v1/tasks/${eventId}/answers`, { label: 'ham' });
        outcomes.set(answer.status, (outcomes.get(answer.status) ?? 0) + 1);
      }
    });
    // Meanwhile, sure new scores for every task, in a few batches, the later tasks first.
    const scores = [...ids].reverse().map((id) => scored(id, 'spam', 0.99));
    for (let i = 0; i < scores.length; i += 8)
      await send(topics.rescored, t.rescored, scores.slice(i, i + 8));
    await Promise.all(work);
    await decisions.waitForCount(ids.length, { settleMs: 2_000 });
    const by = decisionsByEvent(decisions.values<Decision>());
    expect([...by.keys()].sort()).toEqual(ids);
    expect([...by.values()].filter((d) => d.length !== 1)).toEqual([]);
    // Each decision matches the task's record of who decided it.
    const after = await rows(stream);
    for (const [eventId, [d]] of by) {
      const row = after.get(eventId)!;
      expect({ eventId, by: row.decided_by, label: row.final_label }).toEqual({
        eventId,
        by: d!.decidedBy,
        label: d!.label,
      });
      // People answered ham; the new scores said spam.
      expect(d!.label).toBe(d!.decidedBy === 'model' ? 'spam' : 'ham');
    }
    // Only answers that were accepted or refused for a clear reason.
    expect([...outcomes.keys()].every((status) => status === 200 || status === 409)).toBe(true);
    const human = [...by.values()].filter(([d]) => d!.decidedBy === 'human').length;
    expect(human).toBe(outcomes.get(200) ?? 0);
  });
});
