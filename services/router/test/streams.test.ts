// The router routes each prediction by the policy of its stream as the stream registry says, and
// one of a stream the registry does not have by POLICY_NAME.
import type { Decision, Prediction, ReviewRequest } from '@hitl/contracts';
import { addStream, createPolicyVersion, getCurrentPolicy, updateStream } from '@hitl/db';
import { reviewReason, type Policy } from '@hitl/policy';
import { TopicReader, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { createRouterService, streamLabels } from '../src';
import {
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
  auditRate: 0,
  requiredReviewers: 1,
  ...overrides,
});

const addTextStream = (id: string, policyName: string) =>
  addStream(pool, { id, classes: ['ham', 'spam'], inputKind: 'text', policyName }, { actor: 'test' });

async function setup() {
  // One partition: records sent together come to the router in one batch.
  const t = await routerTopics(1);
  cleanups.push(t.cleanup);
  return t;
}

async function startRouter(t: RouterTopics, policyName: string) {
  const registry = new Registry();
  const service = createRouterService(routerConfig(t, db.url, policyName), {
    logger,
    registry,
    kafka: testKafka(),
  });
  cleanups.push(() => service.stop());
  await service.start();
  await waitFor(() => service.ready(), { message: 'router ready' });
  return { service, registry };
}

type Routed = { kind: 'decision'; decision: Decision } | { kind: 'review'; review: ReviewRequest };

/** Both output topics, by event id. */
async function outputs(t: RouterTopics) {
  const decisions = await TopicReader.start(t.decisions);
  const reviews = await TopicReader.start(t.reviewRequests);
  cleanups.push(
    () => decisions.stop(),
    () => reviews.stop(),
  );
  const all = () => {
    const byId = new Map<string, Routed[]>();
    const add = (id: string, routed: Routed) => byId.set(id, [...(byId.get(id) ?? []), routed]);
    for (const d of decisions.values<Decision>()) add(d.data.eventId, { kind: 'decision', decision: d });
    for (const r of reviews.values<ReviewRequest>()) add(r.data.eventId, { kind: 'review', review: r });
    return byId;
  };
  return {
    all,
    /** Waits for the one output of the event. */
    async of(eventId: string): Promise<Routed> {
      await waitFor(() => all().has(eventId), { timeoutMs: 60_000, message: `the output of ${eventId}` });
      return all().get(eventId)![0]!;
    },
  };
}

/** Sends one prediction and waits for its output. */
async function routeOne(t: RouterTopics, out: Awaited<ReturnType<typeof outputs>>, p: Prediction) {
  await sendPredictions(testKafka(), t.predictions, [p]);
  return out.of(p.data.eventId);
}

describe('router with streams', () => {
  it('routes each prediction of one batch by the policy of its stream, and an unregistered stream by POLICY_NAME', async () => {
    const strict = await createPolicyVersion(pool, uniqueName('strict'), spec({ requiredReviewers: 2 }), {
      actor: 'test',
    });
    const lenient = await createPolicyVersion(pool, uniqueName('lenient'), spec({ threshold: 0.8 }), {
      actor: 'test',
    });
    const fallback = await createPolicyVersion(
      pool,
      uniqueName('fallback'),
      spec({ threshold: 0.95, requiredReviewers: 3 }),
      { actor: 'test' },
    );
    const strictStream = uniqueName('strict-stream');
    const lenientStream = uniqueName('lenient-stream');
    const unregistered = uniqueName('unregistered-stream');
    await addTextStream(strictStream, strict.name);
    await addTextStream(lenientStream, lenient.name);
    const policyOf = new Map([
      [strictStream, strict],
      [lenientStream, lenient],
      [unregistered, fallback],
    ]);

    // All sent before the router starts, interleaved, in one send: one batch.
    const t = await setup();
    const confidences = [0.75, 0.85, 0.92, 0.97, null];
    const records = confidences.flatMap((c, i) =>
      [strictStream, lenientStream, unregistered].map((stream) => prediction(`${stream}-${i}`, c, stream)),
    );
    await sendPredictions(testKafka(), t.predictions, records);
    const out = await outputs(t);
    const { service, registry } = await startRouter(t, fallback.name);
    await waitFor(() => out.all().size === records.length, {
      timeoutMs: 60_000,
      message: `${records.length} routed records`,
    });
    expect(service.policy.current).toMatchObject({ name: fallback.name, version: 1 });

    const all = out.all();
    expect([...all.values()].every((o) => o.length === 1)).toBe(true);
    const routedAt = new Set<string>();
    for (const p of records) {
      const policy = policyOf.get(p.data.stream)!;
      const routed = all.get(p.data.eventId)![0]!;
      const reason = reviewReason(p.data, policy);
      if (routed.kind === 'decision') {
        expect(reason).toBeNull();
        expect(routed.decision.data).toMatchObject({ decidedBy: 'model', policyVersion: 1 });
        routedAt.add(routed.decision.data.decidedAt);
      } else {
        expect(routed.review.data).toMatchObject({
          reason,
          requiredReviewers: policy.requiredReviewers,
          policyVersion: 1,
        });
        routedAt.add(routed.review.data.requestedAt);
      }
    }
    // One batch, so one routing time.
    expect(routedAt.size).toBe(1);
    // The same confidence, 0.85: decided in the lenient stream, sent for review in the strict one
    // and in the unregistered one (POLICY_NAME's 0.95).
    expect(all.get(`${lenientStream}-1`)![0]!.kind).toBe('decision');
    expect(all.get(`${strictStream}-1`)![0]).toMatchObject({
      kind: 'review',
      review: { data: { reason: 'low_confidence', requiredReviewers: 2 } },
    });
    expect(all.get(`${unregistered}-1`)![0]).toMatchObject({
      kind: 'review',
      review: { data: { reason: 'low_confidence', requiredReviewers: 3 } },
    });

    // Counted by stream: registered streams under their id, the unregistered one as such.
    const routedMetric = await registry.getSingleMetricAsString('hitl_router_routed_total');
    const series = (stream: string) =>
      `outcome="decision",reason="confident",class="spam",stream="${stream}"}`;
    expect(routedMetric).toContain(`${series(lenientStream)} 3`);
    expect(routedMetric).toContain(`${series(strictStream)} 2`);
    expect(routedMetric).toContain(`${series('unregistered')} 1`);
    expect(routedMetric).not.toContain(`stream="${unregistered}"`);
    expect(routedMetric).toContain(
      `outcome="review",reason="no_model",class="none",stream="${strictStream}"} 1`,
    );
    const versions = await registry.getSingleMetricAsString('hitl_router_policy_version');
    for (const name of [strict.name, lenient.name, fallback.name]) {
      expect(versions).toContain(`policy="${name}"} 1`);
    }
  });

  it('takes a stream added, its policy switched and a new version of that policy while it runs, without restart', async () => {
    const fallback = await createPolicyVersion(
      pool,
      uniqueName('fallback'),
      spec({ threshold: 0.95, requiredReviewers: 3 }),
      { actor: 'test' },
    );
    const lenient = await createPolicyVersion(pool, uniqueName('lenient'), spec({ threshold: 0.8 }), {
      actor: 'test',
    });
    const strict = await createPolicyVersion(pool, uniqueName('strict'), spec({ requiredReviewers: 2 }), {
      actor: 'test',
    });
    const t = await setup();
    const out = await outputs(t);
    const { service, registry } = await startRouter(t, fallback.name);
    const stream = uniqueName('late-stream');
    const at = (n: number) => prediction(`${stream}-${n}`, 0.85, stream);

    // Not registered yet: POLICY_NAME routes it.
    expect(await routeOne(t, out, at(0))).toMatchObject({
      kind: 'review',
      review: { data: { reason: 'low_confidence', requiredReviewers: 3 } },
    });

    // Added with the lenient policy.
    const added = await addTextStream(stream, lenient.name);
    await waitFor(() => service.policy.routing.revision >= added.revision, {
      message: 'the router reading the stream added',
    });
    expect(service.policy.routing.policyNameOf(stream)).toBe(lenient.name);
    expect(await routeOne(t, out, at(1))).toMatchObject({
      kind: 'decision',
      decision: { data: { policyVersion: 1 } },
    });

    // Switched to the strict policy: the lenient one, used by no stream, is dropped.
    const switched = await updateStream(pool, stream, { policyName: strict.name }, { actor: 'test' });
    await waitFor(() => service.policy.routing.revision >= switched.revision, {
      message: 'the router reading the stream changed',
    });
    expect(service.policy.policy(lenient.name)).toBeUndefined();
    expect(await registry.getSingleMetricAsString('hitl_router_policy_version')).not.toContain(
      `policy="${lenient.name}"`,
    );
    expect(await routeOne(t, out, at(2))).toMatchObject({
      kind: 'review',
      review: { data: { reason: 'low_confidence', requiredReviewers: 2, policyVersion: 1 } },
    });

    // A new version of the strict policy.
    await createPolicyVersion(pool, strict.name, spec({ threshold: 0.8, requiredReviewers: 2 }), {
      actor: 'test',
      reason: 'fewer reviews',
    });
    await waitFor(() => service.policy.policy(strict.name)?.version === 2, {
      message: 'the strict policy version 2 in force',
    });
    expect(await routeOne(t, out, at(3))).toMatchObject({
      kind: 'decision',
      decision: { data: { policyVersion: 2 } },
    });

    // A stream naming a policy nobody wrote: the router creates it with the defaults, as it does
    // for POLICY_NAME.
    const fresh = uniqueName('fresh-policy');
    const other = uniqueName('fresh-stream');
    const freshAdded = await addTextStream(other, fresh);
    await waitFor(() => service.policy.routing.revision >= freshAdded.revision, {
      message: 'the router reading the second stream',
    });
    expect(service.policy.policy(fresh)).toMatchObject({ name: fresh, version: 1 });
    expect(await getCurrentPolicy(pool, fresh)).toMatchObject({ version: 1, threshold: 0.9 });
    expect(await routeOne(t, out, prediction(`${other}-0`, 0.85, other))).toMatchObject({
      kind: 'review',
      review: { data: { reason: 'low_confidence', requiredReviewers: 1 } },
    });

    // POLICY_NAME still routes what no stream claims, and nothing was routed twice.
    expect(service.policy.current).toMatchObject({ name: fallback.name, version: 1 });
    expect(await routeOne(t, out, prediction(uniqueName('unregistered'), 0.85))).toMatchObject({
      kind: 'review',
      review: { data: { requiredReviewers: 3 } },
    });
    expect([...out.all().values()].every((o) => o.length === 1)).toBe(true);
  });

  it('bounds the stream label: the first streams by id have their own, the rest share other', () => {
    const labels = streamLabels(['d', 'b', 'a', 'c'], 2);
    expect([...labels]).toEqual([
      ['a', 'a'],
      ['b', 'b'],
      ['c', 'other'],
      ['d', 'other'],
    ]);
  });
});
