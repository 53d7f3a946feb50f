import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { DEFAULT_POLICY_SPEC, PolicyError, type PolicySpec } from '@hitl/policy';
import { createTestDatabase, type TestDatabase } from '@hitl/testkit';
import {
  createPolicyVersion,
  createPool,
  DbError,
  ensurePolicy,
  getCurrentPolicy,
  getPolicyVersion,
  listPolicyVersions,
  migrate,
  updatePolicy,
  withTransaction,
} from '../src/index';

let db: TestDatabase | undefined;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('hitl_db_policy');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 8, applicationName: 'hitl-db-policy-test' });
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

let policySeq = 0;
/** A policy name of its own per test, so tests share the database without sharing state. */
function newPolicyName(): string {
  return `spam-${++policySeq}`;
}

const spamSpec: PolicySpec = {
  classes: ['ham', 'spam'],
  threshold: 0.8,
  classThresholds: { spam: 0.95 },
  alwaysReview: [],
  auditRate: 0.05,
  requiredReviewers: 2,
  targetAccuracy: 0.99,
  confidenceLevel: 0.9,
  hideSuggestion: true,
  featureNames: ['length', 'links'],
  goldRate: 0.05,
  consensusConfidence: 0.99,
  consensusUsesModel: true,
};

async function versionsOf(name: string): Promise<number[]> {
  return (await listPolicyVersions(pool, name)).map((p) => p.version);
}

describe('a version stored before target accuracies and reviewer settings existed', () => {
  it('reads with no target, the default confidence level and the default reviewer settings', async () => {
    const name = newPolicyName();
    const { targetAccuracy, confidenceLevel, hideSuggestion, featureNames, ...older } = spamSpec;
    expect([targetAccuracy, confidenceLevel, hideSuggestion, featureNames]).toEqual([
      0.99,
      0.9,
      true,
      ['length', 'links'],
    ]);
    await pool.query(`INSERT INTO routing_policies (name, version, spec) VALUES ($1, 1, $2)`, [
      name,
      JSON.stringify(older),
    ]);
    const read = await getCurrentPolicy(pool, name);
    expect(read).toMatchObject({
      ...older,
      targetAccuracy: null,
      confidenceLevel: 0.95,
      hideSuggestion: false,
      featureNames: [],
      version: 1,
    });
  });
});

describe('createPolicyVersion', () => {
  it('numbers versions 1, 2, 3 per name and round-trips spec and provenance', async () => {
    const name = newPolicyName();
    const first = await createPolicyVersion(pool, name, DEFAULT_POLICY_SPEC);
    const second = await createPolicyVersion(pool, name, spamSpec, {
      actor: 'alice',
      reason: 'fewer reviews',
    });
    const third = await createPolicyVersion(pool, name, { ...spamSpec, threshold: 0.85 });
    expect([first.version, second.version, third.version]).toEqual([1, 2, 3]);
    expect(first).toEqual({
      name,
      version: 1,
      ...DEFAULT_POLICY_SPEC,
      createdBy: null,
      reason: null,
      createdAt: expect.any(Date),
    });
    expect(second).toEqual({
      name,
      version: 2,
      ...spamSpec,
      createdBy: 'alice',
      reason: 'fewer reviews',
      createdAt: expect.any(Date),
    });

    expect(await getPolicyVersion(pool, name, 2)).toEqual(second);
    expect(await getPolicyVersion(pool, name, 4)).toBeNull();
    expect(await getCurrentPolicy(pool, name)).toEqual(third);
    expect(await listPolicyVersions(pool, name)).toEqual([first, second, third]);
  });

  it('numbers each name on its own, and knows nothing of a name never set', async () => {
    const a = newPolicyName();
    const b = newPolicyName();
    await createPolicyVersion(pool, a, spamSpec);
    await createPolicyVersion(pool, a, spamSpec);
    expect((await createPolicyVersion(pool, b, spamSpec)).version).toBe(1);
    const never = newPolicyName();
    expect(await getCurrentPolicy(pool, never)).toBeNull();
    expect(await listPolicyVersions(pool, never)).toEqual([]);
  });

  it('gives concurrent changes distinct, consecutive versions', async () => {
    const name = newPolicyName();
    const created = await Promise.all(
      [0.5, 0.6, 0.7, 0.8, 0.9, 0.95].map((threshold) =>
        createPolicyVersion(pool, name, { ...spamSpec, threshold }),
      ),
    );
    expect(created.map((p) => p.version).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await versionsOf(name)).toEqual([1, 2, 3, 4, 5, 6]);
    // Each stored version holds the spec of the call that got its number.
    for (const policy of created) {
      expect((await getPolicyVersion(pool, name, policy.version))?.threshold).toBe(policy.threshold);
    }
  });

  it.each([
    ['a threshold above 1', { threshold: 1.5 }, 'threshold'],
    ['a negative audit rate', { auditRate: -0.1 }, 'auditRate'],
    [
      'a class threshold for a class not declared',
      { classThresholds: { scam: 0.9 } },
      'classThresholds.scam',
    ],
    ['an unknown field', { autoAccept: true }, 'autoAccept'],
  ])('refuses %s with HITL_ERR_POLICY_INVALID, storing nothing', async (_case, change, field) => {
    const name = newPolicyName();
    const error = await createPolicyVersion(pool, name, { ...spamSpec, ...change }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyError);
    expect(error).toMatchObject({
      code: 'HITL_ERR_POLICY_INVALID',
      problems: [expect.objectContaining({ field })],
    });
    expect(await versionsOf(name)).toEqual([]);
  });

  it.each([
    ['empty', ''],
    ['with a space', 'spam filter'],
    ['with a tab', 'spam\tfilter'],
    ['201 characters long', 'p'.repeat(201)],
  ])('refuses a name %s with HITL_ERR_POLICY_NAME', async (_case, name) => {
    const error = await createPolicyVersion(pool, name, spamSpec).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DbError);
    expect(error).toMatchObject({ code: 'HITL_ERR_POLICY_NAME' });
    await expect(ensurePolicy(pool, name)).rejects.toMatchObject({ code: 'HITL_ERR_POLICY_NAME' });
    const { rows } = await pool.query('SELECT 1 FROM routing_policies WHERE name = $1', [name]);
    expect(rows).toEqual([]);
  });

  it('accepts a name of 200 characters', async () => {
    const name = `${newPolicyName()}-`.padEnd(200, 'x');
    expect((await createPolicyVersion(pool, name, spamSpec)).name).toBe(name);
  });

  it("works inside the caller's transaction and is undone with it", async () => {
    const name = newPolicyName();
    const marker = new Error('outbox write failed');
    await expect(
      withTransaction(pool, async (client) => {
        await createPolicyVersion(client, name, spamSpec);
        expect((await getCurrentPolicy(client, name))?.version).toBe(1);
        throw marker;
      }),
    ).rejects.toBe(marker);
    expect(await versionsOf(name)).toEqual([]);

    // Outside a transaction a client is refused rather than silently auto-committing.
    const client = await pool.connect();
    try {
      await expect(createPolicyVersion(client, name, spamSpec)).rejects.toMatchObject({ code: '25P01' });
    } finally {
      client.release();
    }
  });
});

describe('updatePolicy', () => {
  it('starts from the default spec, then from the current version', async () => {
    const name = newPolicyName();
    const first = await updatePolicy(pool, name, (spec) => ({ ...spec, classes: ['ham', 'spam'] }));
    expect(first).toMatchObject({ version: 1, ...DEFAULT_POLICY_SPEC, classes: ['ham', 'spam'] });
    const second = await updatePolicy(pool, name, (spec) => ({ ...spec, classThresholds: { spam: 0.97 } }), {
      actor: 'bob',
      reason: 'spam is costly',
    });
    expect(second).toMatchObject({
      version: 2,
      classes: ['ham', 'spam'],
      classThresholds: { spam: 0.97 },
      createdBy: 'bob',
      reason: 'spam is costly',
    });
  });

  it('loses no edit when several run at once', async () => {
    const name = newPolicyName();
    await createPolicyVersion(pool, name, { ...DEFAULT_POLICY_SPEC, classes: ['a', 'b', 'c', 'd'] });
    // Each edit adds one class rule; each must start from the version the previous one stored.
    await Promise.all(
      ['a', 'b', 'c', 'd'].map((label) =>
        updatePolicy(pool, name, (spec) => ({ ...spec, alwaysReview: [...spec.alwaysReview, label] })),
      ),
    );
    expect(await versionsOf(name)).toEqual([1, 2, 3, 4, 5]);
    expect((await getCurrentPolicy(pool, name))?.alwaysReview.sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('refuses an invalid result, storing nothing, and never alters the default spec', async () => {
    const name = newPolicyName();
    const error = await updatePolicy(pool, name, (spec) => {
      spec.classes.push('spam');
      return spec;
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyError);
    expect(error).toMatchObject({ code: 'HITL_ERR_POLICY_INVALID' });
    expect(await versionsOf(name)).toEqual([]);
    expect(DEFAULT_POLICY_SPEC.classes).toEqual([]);
  });
});

describe('ensurePolicy', () => {
  it('creates version 1 from the default spec, then returns the current version', async () => {
    const name = newPolicyName();
    const created = await ensurePolicy(pool, name, undefined, { actor: 'router' });
    expect(created).toMatchObject({ name, version: 1, ...DEFAULT_POLICY_SPEC, createdBy: 'router' });
    await createPolicyVersion(pool, name, spamSpec);
    // An existing policy wins over the spec given.
    expect(await ensurePolicy(pool, name, { ...spamSpec, threshold: 0.5 })).toMatchObject({
      version: 2,
      threshold: spamSpec.threshold,
    });
    expect(await versionsOf(name)).toEqual([1, 2]);
  });

  it('creates from the spec given, and refuses an invalid one', async () => {
    const name = newPolicyName();
    await expect(ensurePolicy(pool, name, { ...spamSpec, requiredReviewers: 0 })).rejects.toMatchObject({
      code: 'HITL_ERR_POLICY_INVALID',
    });
    expect(await versionsOf(name)).toEqual([]);
    expect(await ensurePolicy(pool, name, spamSpec)).toMatchObject({ version: 1, ...spamSpec });
  });

  it('creates exactly one version 1 when replicas start together', async () => {
    const name = newPolicyName();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => ensurePolicy(pool, name, spamSpec, { actor: `router-${i}` })),
    );
    expect(await versionsOf(name)).toEqual([1]);
    const stored = await getPolicyVersion(pool, name, 1);
    // Every replica got the one stored version, whichever of them created it.
    for (const result of results) expect(result).toEqual(stored);
  });
});

describe('immutability (enforced by the database)', () => {
  it('refuses UPDATE of any column, DELETE and TRUNCATE by raw SQL', async () => {
    const name = newPolicyName();
    const stored = await createPolicyVersion(pool, name, spamSpec, { actor: 'alice' });
    await expect(
      pool.query(`UPDATE routing_policies SET spec = jsonb_set(spec, '{threshold}', '0.1') WHERE name = $1`, [
        name,
      ]),
    ).rejects.toThrow(/immutable/);
    await expect(
      pool.query(`UPDATE routing_policies SET created_by = 'mallory' WHERE name = $1`, [name]),
    ).rejects.toThrow(/immutable/);
    await expect(
      pool.query('UPDATE routing_policies SET version = 2 WHERE name = $1', [name]),
    ).rejects.toThrow(/immutable/);
    await expect(pool.query('DELETE FROM routing_policies WHERE name = $1', [name])).rejects.toMatchObject({
      code: '23001', // restrict_violation
      message: expect.stringMatching(/immutable/),
    });
    await expect(pool.query('TRUNCATE routing_policies')).rejects.toThrow(/immutable/);
    expect(await listPolicyVersions(pool, name)).toEqual([stored]);
  });

  it('refuses rows the store would never write', async () => {
    const name = newPolicyName();
    const insert = (version: number, spec: string, rowName = name) =>
      pool.query('INSERT INTO routing_policies (name, version, spec) VALUES ($1, $2, $3)', [
        rowName,
        version,
        spec,
      ]);
    await expect(insert(0, '{}')).rejects.toMatchObject({ code: '23514' }); // check_violation
    await expect(insert(1, '[]')).rejects.toMatchObject({ code: '23514' });
    await expect(insert(1, '{}', 'has space')).rejects.toMatchObject({ code: '23514' });
    await insert(1, JSON.stringify(spamSpec));
    await expect(insert(1, JSON.stringify(spamSpec))).rejects.toMatchObject({ code: '23505' }); // unique_violation
  });
});
