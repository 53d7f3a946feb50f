import { describe, expect, it } from '@jest/globals';
import { Client } from 'pg';
import { createTestDatabase, databaseUrl, testRoleProblem } from '../src/index';

async function databaseExists(name: string): Promise<boolean> {
  const admin = new Client({ connectionString: databaseUrl() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  } finally {
    await admin.end();
  }
}

describe('createTestDatabase', () => {
  it('creates an empty database and drops it even while a client is connected', async () => {
    const db = await createTestDatabase();
    const client = new Client({ connectionString: db.url });
    // The forced drop kills this connection; without a listener the error would crash jest.
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
      expect(rows[0]?.db).toBe(db.name);
      expect(await databaseExists(db.name)).toBe(true);

      await db.drop();
      expect(await databaseExists(db.name)).toBe(false);
      await db.drop(); // a second drop is a no-op
    } finally {
      await client.end().catch(() => undefined);
    }
  });
});

describe('testRoleProblem', () => {
  it('names each privilege the role lacks and how to grant it', () => {
    const problem = testRoleProblem({ role: 'ci', createdb: true, signal: false });
    expect(problem?.message).toMatch(/role ci lacks pg_signal_backend\./);
    expect(problem?.message).toContain('GRANT pg_signal_backend TO "ci"');
    expect(testRoleProblem({ role: 'ci', createdb: false, signal: false })?.message).toMatch(
      /lacks CREATEDB and pg_signal_backend/,
    );
    expect(testRoleProblem({ role: 'ci', createdb: true, signal: true })).toBeUndefined();
  });

  it('passes for the role of DATABASE_URL, which the local stack set up', async () => {
    const admin = new Client({ connectionString: databaseUrl() });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ signal: boolean }>(
        "SELECT pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS signal",
      );
      expect(rows[0]?.signal).toBe(true);
    } finally {
      await admin.end();
    }
  });
});
