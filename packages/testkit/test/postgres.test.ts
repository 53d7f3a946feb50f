import { describe, expect, it } from '@jest/globals';
import { Client } from 'pg';
import { createTestDatabase, databaseUrl } from '../src/index';

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
