import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  it('puts a reviewer in groups, and refuses bad group names', async () => {
    const id = uniqueName('rev');
    const added = await runCli(['reviewers', 'add', '--id', id, '--groups', 'billing, mail'], env);
    expect(added).toMatchObject({ code: 0, lines: [{ id, groups: ['billing', 'mail'] }] });
    const moved = await runCli(['reviewers', 'groups', '--id', id, '--groups', 'support'], env);
    expect(moved.lines[0]).toMatchObject({ id, groups: ['support'] });
    expect((await runCli(['reviewers', 'groups', '--id', id, '--groups', ''], env)).lines[0]).toMatchObject({
      groups: [],
    });
    const bad = await runCli(['reviewers', 'groups', '--id', id, '--groups', 'no spaces please'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('HITL_ERR_REVIEWER_INVALID');
    const many = Array.from({ length: 101 }, (_, i) => `g${i}`).join(',');
    expect((await runCli(['reviewers', 'groups', '--id', id, '--groups', many], env)).stderr).toContain(
      'at most 100 groups',
    );
    expect(
      (await runCli(['reviewers', 'groups', '--id', 'nobody-at-all', '--groups', 'x'], env)).stderr,
    ).toContain('HITL_ERR_REVIEWER_NOT_FOUND');
    expect((await runCli(['reviewers', 'groups', '--id', id], env)).code).toBe(64);
  });

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

describe('hitl gold and reviewers list', () => {
  it('imports gold items from JSON lines, all or none, lists them, and shows reviewers with their estimates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hitl-gold-'));
    const stream = uniqueName('mail');
    const good = [
      JSON.stringify({ id: 'a', input: { text: 'win now' }, label: 'spam', classes: ['ham', 'spam'] }),
      JSON.stringify({ input: { text: 'lunch?' }, label: 'ham', classes: ['ham', 'spam'] }),
    ];
    await writeFile(join(dir, 'gold.jsonl'), `${good.join('\n')}\n`);
    await writeFile(
      join(dir, 'bad.jsonl'),
      `${good[0]}\n{oops\n${JSON.stringify({ input: { text: 'x' } })}\n`,
    );
    const args = ['gold', 'import', '--file', 'gold.jsonl', '--stream', stream, '--actor', 'ops'];
    expect(await runCli(args, env, dir)).toMatchObject({ code: 0, lines: [{ imported: 2, unchanged: 0 }] });
    expect(await runCli(args, env, dir)).toMatchObject({ code: 0, lines: [{ imported: 0, unchanged: 2 }] });
    const refused = await runCli(['gold', 'import', '--file', 'bad.jsonl', '--stream', stream], env, dir);
    expect(refused.code).toBe(65);
    expect(refused.stderr).toContain('HITL_ERR_GOLD_INVALID');
    expect(refused.stderr).toContain('line 2: not JSON');
    expect(refused.stderr).toContain('line 3: not a gold item');
    // Without classes, and with no policy declaring them, an item cannot be scored.
    await writeFile(join(dir, 'bare.jsonl'), JSON.stringify({ stream, input: { text: 'x' }, label: 'ham' }));
    const bare = await runCli(['gold', 'import', '--file', 'bare.jsonl'], env, dir);
    expect(bare.code).toBe(65);
    expect(bare.stderr).toContain('needs two or more distinct classes');
    const listed = await runCli(['gold', 'list'], env);
    expect(listed.lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ stream, ref: 'a', label: 'spam', importedBy: 'ops', answers: 0 }),
      ]),
    );
    expect(listed.lines.filter((g) => (g as { stream: string }).stream === stream)).toHaveLength(2);

    // reviewers list carries each reviewer's newest estimate (none yet for a new one).
    const id = uniqueName('rev');
    await runCli(['reviewers', 'add', '--id', id], env);
    const { rows } = await pool.query<{ version: string }>(
      `INSERT INTO reliability_estimates (answers, prior) VALUES (2, '{}') RETURNING version`,
    );
    const version = rows[0]!.version;
    await pool.query(
      `INSERT INTO reliability_streams (version, stream, classes, class_prior, items, iterations, converged)
       VALUES ($1, $2, '{ham,spam}', '{}', 2, 3, true)`,
      [version, stream],
    );
    await pool.query(
      `INSERT INTO reviewer_reliability (version, stream, reviewer_id, accuracy, confusion, answers, gold_answers, gold_correct)
       VALUES ($1, $2, $3, 0.75, '{}', 2, 2, 1)`,
      [version, stream, id],
    );
    const reviewers = await runCli(['reviewers', 'list'], env);
    expect(reviewers.lines.find((r) => (r as { id: string }).id === id)).toMatchObject({
      id,
      reliability: [{ stream, accuracy: 0.75, answers: 2, goldAnswers: 2, goldCorrect: 1 }],
    });
  });
});
