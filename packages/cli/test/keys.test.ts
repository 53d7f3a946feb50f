import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, loadKeyRecord, migrate, parseApiKey, secretMatches } from '@hitl/db';
import { createTestDatabase, uniqueName, type TestDatabase } from '@hitl/testkit';
import type { Pool } from 'pg';
import { runCli } from './helpers';

let db: TestDatabase | undefined;
let pool: Pool;
// No KAFKA_BROKERS: reviewers and keys need only the database.
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase('hitl_cli_keys');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 2, applicationName: 'hitl-cli-keys-test' });
  env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent' };
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('hitl models train and trainings', () => {
  it('asks the trainer for a training without Kafka settings, and lists runs', async () => {
    const modelId = uniqueName('model');
    const asked = await runCli(['models', 'train', '--model', modelId, '--actor', 'ops'], env);
    expect(asked).toMatchObject({ code: 0, lines: [{ modelId, requestedBy: 'ops', handledAt: null }] });
    expect(await runCli(['models', 'trainings', '--model', modelId], env)).toMatchObject({
      code: 0,
      lines: [],
    });
  });
});

describe('hitl reviewers and keys', () => {
  it('makes a key that expires, and disables and enables a reviewer', async () => {
    const id = uniqueName('rev');
    expect((await runCli(['reviewers', 'add', '--id', id], env)).code).toBe(0);
    const created = await runCli(['keys', 'create', '--reviewer', id, '--expires-in-days', '7'], env);
    const { info } = created.lines[0] as { info: { expiresAt: string; createdBy: string | null } };
    expect((Date.parse(info.expiresAt) - Date.now()) / 86_400_000).toBeCloseTo(7, 2);
    expect(info.createdBy).toBeNull();
    for (const bad of ['0', '-3', 'soon']) {
      const refused = await runCli(['keys', 'create', '--reviewer', id, '--expires-in-days', bad], env);
      expect(refused.code).toBe(64);
      expect(refused.stderr).toContain('--expires-in-days');
    }
    const off = await runCli(['reviewers', 'disable', '--id', id], env);
    expect(off).toMatchObject({ code: 0, lines: [{ id, disabledAt: expect.any(String) }] });
    expect((await runCli(['reviewers', 'enable', '--id', id], env)).lines[0]).toMatchObject({
      id,
      disabledAt: null,
    });
    expect((await runCli(['reviewers', 'disable', '--id', 'nobody-at-all'], env)).stderr).toContain(
      'HITL_ERR_REVIEWER_NOT_FOUND',
    );
  });

  it('adds an admin, creates a key shown once, and revokes it', async () => {
    const id = uniqueName('admin');
    const added = await runCli(['reviewers', 'add', '--id', id, '--role', 'admin'], env);
    expect(added).toMatchObject({ code: 0, lines: [{ id, name: id, role: 'admin' }] });
    expect((await runCli(['reviewers', 'add', '--id', id], env)).stderr).toContain(
      'HITL_ERR_REVIEWER_EXISTS',
    );

    const created = await runCli(['keys', 'create', '--reviewer', id], env);
    expect(created.code).toBe(0);
    const { key, info } = created.lines[0] as { key: string; info: { id: string; reviewerId: string } };
    expect(info.reviewerId).toBe(id);
    const parts = parseApiKey(key)!;
    const record = await loadKeyRecord(pool, parts.keyId);
    expect(record && secretMatches(record, parts.secret)).toBe(true);
    expect(record!.reviewer.role).toBe('admin');

    expect((await runCli(['reviewers', 'list'], env)).lines).toEqual(
      expect.arrayContaining([expect.objectContaining({ id, role: 'admin' })]),
    );
    const revoked = await runCli(['keys', 'revoke', '--key-id', info.id], env);
    expect(revoked.lines[0]).toMatchObject({ id: info.id, revokedAt: expect.any(String) });
    expect((await loadKeyRecord(pool, parts.keyId))!.revoked).toBe(true);
    expect((await runCli(['keys', 'create', '--reviewer', 'nobody-at-all'], env)).stderr).toContain(
      'HITL_ERR_REVIEWER_NOT_FOUND',
    );
  });

  it('generates a key for ADMIN_KEY without any settings, and refuses bad roles', async () => {
    const generated = await runCli(['keys', 'generate'], {});
    expect(generated.code).toBe(0);
    expect(parseApiKey((generated.lines[0] as { key: string }).key)).not.toBeNull();
    expect((await runCli(['reviewers', 'add', '--id', 'x', '--role', 'boss'], env)).code).toBe(64);
  });
});
