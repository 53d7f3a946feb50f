// The policy a replay routes by: its target accuracy and confidence level, set as the flags say.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getCurrentPolicy, listPolicyVersions } from '@hitl/db';
import { uniqueName, type TestDatabase } from '@hitl/testkit';
import type { Pool } from 'pg';
import { setReplayPolicy } from '../src';
import { testDatabase } from './helpers';

describe('setReplayPolicy with a target accuracy', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    ({ db, pool } = await testDatabase());
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('puts the target and its confidence level in the policy, and clears the target when none is given', async () => {
    const name = uniqueName('replay-policy');
    const set = (target?: { targetAccuracy: number | null; confidenceLevel?: number }) =>
      setReplayPolicy(pool, name, ['spam', 'ham'], 1, 'run', target);

    await set({ targetAccuracy: 0.99, confidenceLevel: 0.9 });
    expect(await getCurrentPolicy(pool, name)).toMatchObject({
      classes: ['ham', 'spam'],
      targetAccuracy: 0.99,
      confidenceLevel: 0.9,
    });
    // The same again makes no new version.
    await set({ targetAccuracy: 0.99, confidenceLevel: 0.9 });
    expect(await listPolicyVersions(pool, name)).toHaveLength(1);

    // The confidence level defaults to the policy's 0.95.
    await set({ targetAccuracy: 0.99 });
    expect(await getCurrentPolicy(pool, name)).toMatchObject({ targetAccuracy: 0.99, confidenceLevel: 0.95 });

    // No target: the policy's thresholds route again.
    await set();
    const current = await getCurrentPolicy(pool, name);
    expect(current).toMatchObject({ targetAccuracy: null, version: 3 });
    expect(current!.reason).toContain('no target accuracy');
  });
});
