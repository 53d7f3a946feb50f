// A restarted review API serves HTTP at once, while its consumer waits to join its group.
import { faultyNetwork, testKafka, uniqueName, waitFor } from '@hitl/testkit';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { createReviewApi, loadReviewApiConfig } from '../src';
import { logger, reviewEnv, reviewTopics, testDatabase } from './helpers';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('review API start', () => {
  it('answers HTTP while its consumer still waits out the session of a member that died', async () => {
    const { db, pool } = await testDatabase();
    cleanups.push(
      () => db.drop(),
      () => pool.end(),
    );
    const t = await reviewTopics(1);
    cleanups.push(t.cleanup);
    const groupId = uniqueName('review-api');

    // A member of the group that dies without leaving (its connections cut, as by kill -9): the
    // group waits for it until its 20 s session runs out before anyone else may join.
    const network = faultyNetwork();
    const dead = testKafka({ socketFactory: network.socketFactory, retry: { retries: 0 } }).consumer({
      groupId,
      sessionTimeout: 20_000,
      heartbeatInterval: 1_000,
    });
    let joined = false;
    dead.on(dead.events.GROUP_JOIN, () => (joined = true));
    await dead.connect();
    await dead.subscribe({ topic: t.reviewRequests, fromBeginning: true });
    await dead.run({ eachMessage: async () => undefined });
    await waitFor(() => joined, { message: 'the first member joined' });
    network.cutAll();
    cleanups.push(() => dead.disconnect().catch(() => undefined));

    const api = await createReviewApi(loadReviewApiConfig(reviewEnv(t, db.url, { GROUP_ID: groupId })), {
      logger,
      registry: new Registry(),
      kafka: testKafka(),
    });
    cleanups.push(() => api.stop());
    let started = false;
    const starting = api.start().then(() => (started = true));
    await waitFor(() => api.url() !== '', { timeoutMs: 10_000, message: 'the API listening' });
    const response = await fetch(`${api.url()}/v1/me`);
    expect(response.status).toBe(401);
    expect(started).toBe(false);
    await starting;
  }, 60_000);
});
