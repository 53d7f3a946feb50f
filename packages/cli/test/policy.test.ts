import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, listPolicyVersions, migrate, promoteModelVersion, registerModelVersion } from '@hitl/db';
import {
  certifyHeldOut,
  DEFAULT_POLICY_SPEC,
  type CertifiedThresholds,
  type HeldOutDecisions,
} from '@hitl/policy';
import { createTestDatabase, uniqueName, type TestDatabase } from '@hitl/testkit';
import type { Pool } from 'pg';
import { runCli } from './helpers';

let db: TestDatabase | undefined;
let pool: Pool;
let dir: string;
// No KAFKA_BROKERS: the policy commands need only the database.
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase('hitl_cli_policy');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 2, applicationName: 'hitl-cli-policy-test' });
  env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent' };
  dir = await mkdtemp(join(tmpdir(), 'hitl-cli-policy-test-'));
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function newPolicyName(): string {
  return uniqueName('cli-policy');
}

async function storedVersions(name: string): Promise<number[]> {
  return (await listPolicyVersions(pool, name)).map((p) => p.version);
}

describe('hitl policy set, show, history', () => {
  it('sets from the defaults, changes one field at a time, shows and lists the versions', async () => {
    const name = newPolicyName();
    const first = await runCli(
      ['policy', 'set', '--name', name, '--classes', 'ham,spam', '--actor', 'alice', '--reason', 'launch'],
      env,
    );
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.lines).toEqual([
      {
        name,
        version: 1,
        ...DEFAULT_POLICY_SPEC,
        classes: ['ham', 'spam'],
        createdBy: 'alice',
        reason: 'launch',
        createdAt: expect.any(String),
      },
    ]);

    const second = await runCli(
      [
        'policy',
        'set',
        '--name',
        name,
        '--threshold',
        '0.8',
        '--class-threshold',
        'spam=0.95',
        '--always-review',
        'spam',
        '--audit-rate',
        '0.1',
        '--reviewers',
        '2',
      ],
      env,
    );
    expect(second.code).toBe(0);
    expect(second.lines[0]).toMatchObject({
      version: 2,
      // Kept from version 1.
      classes: ['ham', 'spam'],
      threshold: 0.8,
      classThresholds: { spam: 0.95 },
      alwaysReview: ['spam'],
      auditRate: 0.1,
      requiredReviewers: 2,
      createdBy: null,
      reason: null,
    });

    const third = await runCli(
      ['policy', 'set', '--name', name, '--clear-class-threshold', 'spam', '--always-review', ''],
      env,
    );
    expect(third.lines[0]).toMatchObject({
      version: 3,
      threshold: 0.8,
      classThresholds: {},
      alwaysReview: [],
    });

    // show adds the promoted version of the model the policy is named after: none here.
    const current = await runCli(['policy', 'show', '--name', name], env);
    expect(current.code).toBe(0);
    expect(current.lines).toEqual([{ ...third.lines[0], promoted: null }]);
    const older = await runCli(['policy', 'show', '--name', name, '--version', '2'], env);
    expect(older.lines).toEqual([{ ...second.lines[0], promoted: null }]);

    const history = await runCli(['policy', 'history', '--name', name], env);
    expect(history.code).toBe(0);
    expect(history.lines).toEqual([...first.lines, ...second.lines, ...third.lines]);
  });

  it('replaces the spec with --file, then applies the other options', async () => {
    const name = newPolicyName();
    expect((await runCli(['policy', 'set', '--name', name, '--threshold', '0.5'], env)).code).toBe(0);
    await writeFile(
      join(dir, 'spec.json'),
      JSON.stringify({
        classes: ['low', 'mid', 'high'],
        threshold: 0.7,
        classThresholds: { high: 0.9 },
        alwaysReview: ['high'],
        auditRate: 0,
        requiredReviewers: 1,
      }),
    );
    // Relative to the directory the command was started in.
    const run = await runCli(
      ['policy', 'set', '--name', name, '--file', 'spec.json', '--reviewers', '3'],
      env,
      dir,
    );
    expect(run.code).toBe(0);
    expect(run.lines[0]).toMatchObject({
      version: 2,
      classes: ['low', 'mid', 'high'],
      threshold: 0.7,
      classThresholds: { high: 0.9 },
      alwaysReview: ['high'],
      auditRate: 0,
      requiredReviewers: 3,
    });
  });

  it('refuses a --file that is partial, not JSON or unreadable, storing nothing', async () => {
    const name = newPolicyName();
    await writeFile(join(dir, 'partial.json'), JSON.stringify({ threshold: 0.8 }));
    await writeFile(join(dir, 'broken.json'), '{"threshold": ');
    const partial = await runCli(['policy', 'set', '--name', name, '--file', 'partial.json'], env, dir);
    expect(partial.code).toBe(65);
    expect(partial.stderr).toMatch(/^error HITL_ERR_POLICY_INVALID: .*classes: must be a list/);
    const broken = await runCli(['policy', 'set', '--name', name, '--file', 'broken.json'], env, dir);
    expect(broken.code).toBe(65);
    expect(broken.stderr).toMatch(/^error HITL_ERR_POLICY_INVALID: .*broken\.json: is not JSON/);
    const missing = await runCli(['policy', 'set', '--name', name, '--file', 'nope.json'], env, dir);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toMatch(/^error HITL_ERR_FILE_UNREADABLE: cannot read nope\.json/);
    expect(await storedVersions(name)).toEqual([]);
  });
});

describe('target accuracy', () => {
  // 600 right ham predictions from 0.94 up, and 100 spam ones: too few for spam to reach 0.99.
  const heldOut: HeldOutDecisions = {
    classes: ['ham', 'spam'],
    decisions: [
      ...Array.from({ length: 600 }, (_, i): [number, number, 0 | 1] => [0, 0.94 + i / 10_000, 1]),
      ...Array.from({ length: 100 }, (): [number, number, 0 | 1] => [1, 0.99, 1]),
    ],
  };
  const certified = certifyHeldOut(heldOut, { targetAccuracy: 0.99, confidenceLevel: 0.95 });
  const figures = (c: CertifiedThresholds) =>
    Object.fromEntries(
      Object.entries(c.perClass).map(([label, { threshold, decisions, correct, lowerBound }]) => [
        label,
        { threshold, decisions, correct, lowerBound },
      ]),
    );

  it('sets, changes and clears it, keeping the rest of the policy', async () => {
    const name = newPolicyName();
    const set = async (...options: string[]) => {
      const run = await runCli(['policy', 'set', '--name', name, ...options], env);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      return run.lines[0];
    };
    expect(await set('--classes', 'ham,spam')).toMatchObject({ targetAccuracy: null, confidenceLevel: 0.95 });
    expect(await set('--target-accuracy', '0.99')).toMatchObject({
      version: 2,
      classes: ['ham', 'spam'],
      targetAccuracy: 0.99,
      confidenceLevel: 0.95,
    });
    expect(await set('--confidence-level', '0.9', '--threshold', '0.8')).toMatchObject({
      version: 3,
      threshold: 0.8,
      targetAccuracy: 0.99,
      confidenceLevel: 0.9,
    });
    expect(await set('--target-accuracy', 'none')).toMatchObject({
      version: 4,
      targetAccuracy: null,
      confidenceLevel: 0.9,
    });
    // The reviewer settings, defaulted, set, kept by later changes, and cleared.
    expect(await set('--threshold', '0.8')).toMatchObject({ hideSuggestion: false, featureNames: [] });
    expect(await set('--hide-suggestion', 'true', '--feature-names', 'alcohol,ash')).toMatchObject({
      version: 6,
      hideSuggestion: true,
      featureNames: ['alcohol', 'ash'],
    });
    expect(await set('--threshold', '0.7')).toMatchObject({
      hideSuggestion: true,
      featureNames: ['alcohol', 'ash'],
    });
    expect(await set('--feature-names', '')).toMatchObject({ version: 8, featureNames: [] });
    // Near-duplicate groups: off unless set, kept by later changes, bounded, and turned off again.
    expect(await set('--near-duplicates', '0.9')).toMatchObject({
      version: 9,
      nearDuplicates: { minSimilarity: 0.9 },
    });
    expect(await set('--threshold', '0.75')).toMatchObject({ nearDuplicates: { minSimilarity: 0.9 } });
    const loose = await runCli(['policy', 'set', '--name', name, '--near-duplicates', '0.5'], env);
    expect(loose.code).not.toBe(0);
    expect(loose.stderr).toMatch(
      /^error HITL_ERR_POLICY_INVALID: .*nearDuplicates\.minSimilarity: must be a number from 0\.8 to 1, got 0\.5/,
    );
    const off = await set('--near-duplicates', 'none');
    expect(off).toMatchObject({ version: 11 });
    expect(off).not.toHaveProperty('nearDuplicates');
  });

  it('shows the promoted version’s certified thresholds, and says when they are not for the policy’s target', async () => {
    // The policy is named after the model it routes.
    const name = newPolicyName();
    const model = { modelId: name, classes: ['ham', 'spam'], inputKind: 'text' as const };
    await registerModelVersion(pool, { ...model, onnx: new Uint8Array([1]), thresholds: certified, heldOut });
    await registerModelVersion(pool, { ...model, onnx: new Uint8Array([2]) });
    await promoteModelVersion(pool, name, 1);
    const target = ['--classes', 'ham,spam', '--target-accuracy', '0.99'];
    expect((await runCli(['policy', 'set', '--name', name, ...target], env)).code).toBe(0);
    const ham = certified.perClass.ham!.threshold!;
    expect(certified.perClass.spam!.threshold).toBeNull();

    const shown = await runCli(['policy', 'show', '--name', name], env);
    expect(shown).toMatchObject({ code: 0, stderr: '' });
    expect(shown.lines).toEqual([
      expect.objectContaining({
        version: 1,
        targetAccuracy: 0.99,
        confidenceLevel: 0.95,
        promoted: {
          modelId: name,
          version: 1,
          certifiedFor: { targetAccuracy: 0.99, confidenceLevel: 0.95, examples: 700 },
          perClass: figures(certified),
          note: `${name} version 1, the promoted one, is certified for the policy's accuracy 0.99 with 95% confidence on 700 held-out examples: the model decides ham at ${ham} or above; people decide spam`,
        },
      }),
    ]);

    // Another confidence level: the router certifies the version again from what it keeps.
    expect((await runCli(['policy', 'set', '--name', name, '--confidence-level', '0.99'], env)).code).toBe(0);
    const again = certifyHeldOut(heldOut, { targetAccuracy: 0.99, confidenceLevel: 0.99 });
    expect(again.perClass.ham!.lowerBound).toBeLessThan(certified.perClass.ham!.lowerBound!);
    const other = (await runCli(['policy', 'show', '--name', name], env)).lines[0]!;
    expect(other.promoted).toEqual({
      modelId: name,
      version: 1,
      certifiedFor: { targetAccuracy: 0.99, confidenceLevel: 0.95, examples: 700 },
      perClass: figures(again),
      note: `${name} version 1, the promoted one, was certified for accuracy 0.99 with 95% confidence, not for the policy's accuracy 0.99 with 99% confidence; the router certifies it for the policy's target from the 700 held-out predictions it keeps: the model decides ham at ${again.perClass.ham!.threshold} or above; people decide spam`,
    });

    await promoteModelVersion(pool, name, 2);
    const uncertified = (await runCli(['policy', 'show', '--name', name], env)).lines[0]!;
    expect(uncertified.promoted).toEqual({
      modelId: name,
      version: 2,
      certifiedFor: null,
      perClass: {},
      note: `${name} version 2, the promoted one, has no certified thresholds, and keeps no held-out predictions to certify it from: people decide everything it predicts`,
    });
  });
});

describe('refused values', () => {
  it.each([
    ['a threshold above 1', ['--threshold', '1.5'], 'threshold: must be a number in [0, 1], got 1.5'],
    ['a negative audit rate', ['--audit-rate=-0.1'], 'auditRate: must be a number in [0, 1], got -0.1'],
    ['no reviewers', ['--reviewers', '0'], 'requiredReviewers: must be an integer from 1 to 25'],
    ['a class threshold for an undeclared class', ['--class-threshold', 'scam=0.9'], 'classThresholds.scam'],
    ['a rule for an undeclared class', ['--always-review', 'scam'], 'alwaysReview: names class "scam"'],
    ['clearing a threshold never set', ['--clear-class-threshold', 'ham'], 'classThresholds.ham: is not set'],
    [
      'a target accuracy of 1',
      ['--target-accuracy', '1'],
      'targetAccuracy: must be a number above 0 and below 1, got 1',
    ],
    [
      'a confidence level of 0',
      ['--confidence-level', '0'],
      'confidenceLevel: must be a number above 0 and below 1, got 0',
    ],
  ])('refuses %s with exit 65, keeping the current version', async (_case, options, problem) => {
    const name = newPolicyName();
    expect((await runCli(['policy', 'set', '--name', name, '--classes', 'ham,spam'], env)).code).toBe(0);
    const run = await runCli(['policy', 'set', '--name', name, ...options], env);
    expect(run.code).toBe(65);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error HITL_ERR_POLICY_INVALID: invalid policy: /);
    expect(run.stderr).toContain(problem);
    expect(await storedVersions(name)).toEqual([1]);
  });

  it('lists every problem at once', async () => {
    const name = newPolicyName();
    const run = await runCli(['policy', 'set', '--name', name, '--threshold', '2', '--audit-rate', '3'], env);
    expect(run.code).toBe(65);
    expect(run.stderr).toContain('threshold: must be');
    expect(run.stderr).toContain('auditRate: must be');
    expect(await storedVersions(name)).toEqual([]);
  });

  it('refuses a name with whitespace with HITL_ERR_POLICY_NAME', async () => {
    const run = await runCli(['policy', 'set', '--name', 'spam filter'], env);
    expect(run.code).toBe(65);
    expect(run.stderr).toMatch(/^error HITL_ERR_POLICY_NAME: /);
  });

  it('reports a policy or version that does not exist with HITL_ERR_POLICY_NOT_FOUND', async () => {
    const name = newPolicyName();
    for (const argv of [
      ['policy', 'show', '--name', name],
      ['policy', 'history', '--name', name],
    ]) {
      const run = await runCli(argv, env);
      expect({ argv, code: run.code, stderr: run.stderr }).toEqual({
        argv,
        code: 65,
        stderr: `error HITL_ERR_POLICY_NOT_FOUND: policy ${name} has no versions\n`,
      });
    }
    expect((await runCli(['policy', 'set', '--name', name], env)).code).toBe(0);
    const run = await runCli(['policy', 'show', '--name', name, '--version', '2'], env);
    expect(run.code).toBe(65);
    expect(run.stderr).toBe(`error HITL_ERR_POLICY_NOT_FOUND: policy ${name} has no version 2\n`);
  });
});

describe('usage and setup errors', () => {
  it.each([
    [['policy', 'set', '--name', 'p', '--threshold', 'abc'], '--threshold must be a number, got "abc"'],
    [
      ['policy', 'set', '--name', 'p', '--class-threshold', 'spam'],
      '--class-threshold must be <class>=<number>',
    ],
    [['policy', 'set', '--name', 'p', '--reviewers', 'two'], '--reviewers must be an integer'],
    [
      ['policy', 'set', '--name', 'p', '--target-accuracy', '99%'],
      '--target-accuracy must be a number or none, got "99%"',
    ],
    [['policy', 'show', '--name', 'p', '--version', 'latest'], '--version must be a positive integer'],
    [['policy', 'history'], '--name is required'],
    [['policy', 'drop', '--name', 'p'], 'unknown command: hitl policy drop'],
  ])('hitl %j exits 64 with the usage, storing nothing', async (argv, message) => {
    const run = await runCli(argv, env);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('usage: hitl');
    expect(run.stdout).toBe('');
    expect(await storedVersions('p')).toEqual([]);
  });

  it('needs DATABASE_URL but not KAFKA_BROKERS', async () => {
    const run = await runCli(['policy', 'show', '--name', 'p'], { LOG_LEVEL: 'silent' });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('DATABASE_URL: is required but not set');
    expect(run.stderr).not.toContain('KAFKA_BROKERS');
  });

  it('says so when the database was never migrated', async () => {
    const bare = await createTestDatabase('hitl_cli_policy_bare');
    try {
      const run = await runCli(['policy', 'history', '--name', 'p'], { ...env, DATABASE_URL: bare.url });
      expect(run.code).toBe(78);
      expect(run.stderr).toMatch(/^error HITL_ERR_SCHEMA_MISSING: .*run `pnpm migrate`/);
    } finally {
      await bare.drop();
    }
  });
});
