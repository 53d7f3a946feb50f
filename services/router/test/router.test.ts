import type { Decision, Prediction, ReviewRequest } from '@hitl/contracts';
import { createPolicyVersion, registerModelVersion } from '@hitl/db';
import { certifyHeldOut, reviewReason, type HeldOutDecisions, type Policy } from '@hitl/policy';
import { TopicReader, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { createRouterService } from '../src';
import {
  confidenceOf,
  logger,
  prediction,
  routerConfig,
  routerTopics,
  sendPredictions,
  testDatabase,
  testKafka,
  type RouterTopics,
} from './helpers';

let db: TestDatabase;
let pool: Pool;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

const spec = (overrides: Partial<Policy> = {}) => ({
  classes: ['ham', 'spam'],
  threshold: 0.9,
  classThresholds: {},
  alwaysReview: [],
  auditRate: 0.1,
  requiredReviewers: 2,
  ...overrides,
});

async function setup() {
  const t = await routerTopics();
  cleanups.push(t.cleanup);
  return t;
}

async function startRouter(t: RouterTopics, policyName: string, env: Record<string, string> = {}) {
  const registry = new Registry();
  const service = createRouterService(routerConfig(t, db.url, policyName, env), {
    logger,
    registry,
    kafka: testKafka(),
  });
  cleanups.push(() => service.stop());
  await service.start();
  await waitFor(() => service.ready(), { message: 'router ready' });
  return { service, registry };
}

/** Both output topics, read as one stream of routed records. */
async function outputs(t: RouterTopics) {
  const decisions = await TopicReader.start(t.decisions);
  const reviews = await TopicReader.start(t.reviewRequests);
  cleanups.push(
    () => decisions.stop(),
    () => reviews.stop(),
  );
  return {
    get count() {
      return decisions.records.length + reviews.records.length;
    },
    async waitFor(count: number, settleMs = 0) {
      await waitFor(() => this.count >= count, { timeoutMs: 60_000, message: `${count} routed records` });
      if (settleMs) await new Promise((resolve) => setTimeout(resolve, settleMs));
    },
    decisions: () => decisions.values<Decision>(),
    reviews: () => reviews.values<ReviewRequest>(),
  };
}

type Outputs = Awaited<ReturnType<typeof outputs>>;

/** Event id → how many outputs it has, over both topics. */
function countsById(out: Outputs): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of [
    ...out.decisions().map((d) => d.data.eventId),
    ...out.reviews().map((r) => r.data.eventId),
  ]) {
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

function expectExactlyOnce(out: Outputs, total: number): void {
  const counts = countsById(out);
  expect([...counts].filter(([, n]) => n !== 1)).toEqual([]);
  expect(counts.size).toBe(total);
  expect(out.count).toBe(total);
}

/** Checks every output against the policy version it names. */
function expectPolicyFollowed(
  out: Outputs,
  predictions: Map<string, Prediction>,
  policies: Map<number, Policy>,
) {
  for (const d of out.decisions()) {
    const policy = policies.get(d.data.policyVersion)!;
    expect(reviewReason(predictions.get(d.data.eventId)!.data, policy)).toBeNull();
    expect(d.data).toMatchObject({ decidedBy: 'model', label: 'spam', reviewers: [] });
  }
  for (const r of out.reviews()) {
    const policy = policies.get(r.data.policyVersion)!;
    expect(r.data.reason).toBe(reviewReason(predictions.get(r.data.eventId)!.data, policy));
    expect(r.data.requiredReviewers).toBe(policy.requiredReviewers);
  }
}

describe('router', () => {
  it('writes exactly one output per prediction, split as the policy says', async () => {
    const name = uniqueName('split');
    const policy = await createPolicyVersion(pool, name, spec(), { actor: 'test' });
    const t = await setup();
    const { registry } = await startRouter(t, name);
    const out = await outputs(t);
    const records = Array.from({ length: 1_000 }, (_, i) => prediction(`split-${i}`, confidenceOf(i)));
    await sendPredictions(testKafka(), t.predictions, records);
    await out.waitFor(records.length, 1_000);

    expectExactlyOnce(out, records.length);
    expectPolicyFollowed(out, new Map(records.map((r) => [r.data.eventId, r])), new Map([[1, policy]]));
    const reasons = new Set(out.reviews().map((r) => r.data.reason));
    expect(reasons).toEqual(new Set(['no_model', 'low_confidence', 'audit_sample']));
    expect(out.decisions().length).toBeGreaterThan(0);
    expect([...out.decisions(), ...out.reviews()].every((o) => o.data.policyVersion === 1)).toBe(true);
    const metrics = await registry.getSingleMetricAsString('hitl_router_routed_total');
    // No stream is registered: all are counted as unregistered (routed by POLICY_NAME).
    expect(metrics).toContain('outcome="review",reason="no_model",class="none",stream="unregistered"} 100');
    expect(await registry.getSingleMetricAsString('hitl_router_policy_version')).toMatch(/ 1$/m);
  });

  it('gives an event id sent twice one output, and counts the repeat', async () => {
    const name = uniqueName('repeat');
    await createPolicyVersion(pool, name, spec(), { actor: 'test' });
    const t = await setup();
    const { registry } = await startRouter(t, name);
    const out = await outputs(t);
    const ids = Array.from({ length: 5 }, (_, i) => uniqueName(`repeat-${i}`));
    // Once, then all again (as a producer that retried), one of them twice within a send.
    await sendPredictions(
      testKafka(),
      t.predictions,
      ids.map((id, i) => prediction(id, confidenceOf(i))),
    );
    await out.waitFor(ids.length);
    await sendPredictions(testKafka(), t.predictions, [
      ...ids.map((id, i) => prediction(id, confidenceOf(i + 1))),
      prediction(ids[0]!, 0.99),
    ]);
    const repeats = async () =>
      Number(/ (\d+)$/m.exec(await registry.getSingleMetricAsString('hitl_router_repeats_total'))?.[1] ?? 0);
    await waitFor(async () => (await repeats()) === 6, { timeoutMs: 60_000, message: '6 repeats dropped' });
    // A new event after them still goes through.
    const later = uniqueName('repeat-later');
    await sendPredictions(testKafka(), t.predictions, [prediction(later, 0.5)]);
    await out.waitFor(ids.length + 1);
    expectExactlyOnce(out, ids.length + 1);
    expect(await repeats()).toBe(6);
  });

  it('applies a policy change while a stream runs, without restart; outputs name the version in force', async () => {
    const name = uniqueName('change');
    const v1 = await createPolicyVersion(pool, name, spec({ auditRate: 0 }), { actor: 'test' });
    const t = await setup();
    const { service } = await startRouter(t, name);
    const out = await outputs(t);
    const kafka = testKafka();
    const total = 2_000;
    const records = Array.from({ length: total }, (_, i) => prediction(`change-${i}`, confidenceOf(i)));
    const sentAfterChange = new Set<string>();
    let changed = false;
    const sending = (async () => {
      for (let i = 0; i < total; i += 50) {
        const chunk = records.slice(i, i + 50);
        await sendPredictions(kafka, t.predictions, chunk);
        if (changed) for (const r of chunk) sentAfterChange.add(r.data.eventId);
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    })();
    await out.waitFor(300);
    const v2 = await createPolicyVersion(
      pool,
      name,
      spec({ auditRate: 0, threshold: 0.6, requiredReviewers: 1 }),
      {
        actor: 'test',
        reason: 'fewer reviews',
      },
    );
    const changedAt = Date.now();
    await waitFor(() => service.policy.current.version === 2, { message: 'policy version 2 in force' });
    // POLICY_POLL_MS is 100 here: the change is picked up well within a second.
    expect(Date.now() - changedAt).toBeLessThan(2_000);
    changed = true;
    await sending;
    await out.waitFor(total, 1_000);

    expectExactlyOnce(out, total);
    expectPolicyFollowed(
      out,
      new Map(records.map((r) => [r.data.eventId, r])),
      new Map([
        [1, v1],
        [2, v2],
      ]),
    );
    const all = [...out.decisions(), ...out.reviews()];
    expect(all.some((o) => o.data.policyVersion === 1)).toBe(true);
    expect(all.some((o) => o.data.policyVersion === 2)).toBe(true);
    expect(sentAfterChange.size).toBeGreaterThan(0);
    for (const o of all) if (sentAfterChange.has(o.data.eventId)) expect(o.data.policyVersion).toBe(2);
  });

  it('loses and doubles nothing while a second instance joins and leaves', async () => {
    const name = uniqueName('rebalance');
    await createPolicyVersion(pool, name, spec(), { actor: 'test' });
    const t = await setup();
    const groupId = uniqueName('router');
    await startRouter(t, name, { GROUP_ID: groupId, INSTANCE_ID: 'a' });
    const out = await outputs(t);
    const kafka = testKafka();
    // The stream runs until both rebalances are behind it.
    let sent = 0;
    let streaming = true;
    const sending = (async () => {
      while (streaming) {
        const chunk = Array.from({ length: 50 }, (_, i) =>
          prediction(`rb-${sent + i}`, confidenceOf(sent + i)),
        );
        await sendPredictions(kafka, t.predictions, chunk);
        sent += chunk.length;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await out.waitFor(500);
    const second = await startRouter(t, name, { GROUP_ID: groupId, INSTANCE_ID: 'b' });
    // The second instance takes partitions over and routes part of the stream itself.
    await waitFor(
      async () =>
        /outcome="processed"[^\n]* [1-9]/.test(
          await second.registry.getSingleMetricAsString('hitl_consumer_records_total'),
        ),
      { timeoutMs: 30_000, message: 'the second instance routing records' },
    );
    await out.waitFor(out.count + 300);
    await second.service.stop();
    await out.waitFor(out.count + 300);
    streaming = false;
    await sending;
    await out.waitFor(sent, 2_000);
    expectExactlyOnce(out, sent);
  });

  it('with a target accuracy, routes each prediction by the thresholds certified for the version that made it', async () => {
    const name = uniqueName('target');
    // Held-out predictions that are all right from confidence 0.75 up and mostly wrong below.
    const heldOut: HeldOutDecisions = {
      classes: ['ham', 'spam'],
      decisions: Array.from({ length: 2_000 }, (_, i): [number, number, 0 | 1] => {
        const confidence = 0.5 + (0.5 * i) / 2_000;
        return [i % 2, confidence, confidence >= 0.75 || i % 3 === 0 ? 1 : 0];
      }),
    };
    const target = { targetAccuracy: 0.95, confidenceLevel: 0.9 };
    const certified = certifyHeldOut(heldOut, target);
    const spamThreshold = certified.perClass['spam']!.threshold!;
    expect(spamThreshold).toBeGreaterThan(0.7);
    expect(spamThreshold).toBeLessThan(0.8);
    const register = (extra: object) =>
      registerModelVersion(pool, {
        modelId: name,
        onnx: new Uint8Array([1, 2, 3]),
        classes: ['ham', 'spam'],
        inputKind: 'text',
        ...extra,
      });
    // 1: certified for this target; 2: certified for another, so certified again from its
    // held-out predictions; 3: neither (registered by hand).
    await register({ heldOut, thresholds: certified });
    const other = certifyHeldOut(heldOut, { targetAccuracy: 0.99, confidenceLevel: 0.95 });
    await register({ heldOut, thresholds: other });
    await register({});
    const policy = await createPolicyVersion(pool, name, spec({ auditRate: 0, threshold: 0.5, ...target }), {
      actor: 'test',
    });
    const t = await setup();
    await startRouter(t, name);
    const out = await outputs(t);
    const records = Array.from({ length: 300 }, (_, i) => {
      const p = prediction(`target-${i}`, 0.5 + ((i * 7919) % 500) / 1000);
      p.data.model = { id: name, version: 1 + (i % 3) };
      return p;
    });
    await sendPredictions(testKafka(), t.predictions, records);
    await out.waitFor(records.length);

    const byClass = Object.fromEntries(
      Object.entries(certified.perClass).map(([label, c]) => [label, c.threshold]),
    );
    const expected = (p: Prediction) =>
      reviewReason(p.data, policy, (model) => (model.version === 3 ? null : byClass));
    const predictions = new Map(records.map((r) => [r.data.eventId, r]));
    for (const d of out.decisions()) expect(expected(predictions.get(d.data.eventId)!)).toBeNull();
    for (const r of out.reviews()) {
      expect(r.data.reason).toBe('low_confidence');
      expect(expected(predictions.get(r.data.eventId)!)).toBe('low_confidence');
    }
    expectExactlyOnce(out, records.length);
    // Versions 1 and 2 decide above the certified threshold (not the policy's 0.5); 3 decides nothing.
    const decided = out.decisions().map((d) => predictions.get(d.data.eventId)!.data);
    expect(decided.length).toBeGreaterThan(50);
    expect(decided.every((p) => p.model!.version !== 3 && p.confidence >= spamThreshold)).toBe(true);
    expect(new Set(decided.map((p) => p.model!.version))).toEqual(new Set([1, 2]));
  });
});
