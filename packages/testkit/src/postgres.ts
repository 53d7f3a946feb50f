import { Client, escapeIdentifier } from 'pg';
import { databaseUrl } from './env';
import { uniqueIdentifier } from './names';

export interface TestDatabase {
  /** Connection string of the new, empty database. */
  url: string;
  name: string;
  /** Terminates the database's connections and drops it; safe to call twice. */
  drop(): Promise<void>;
}

async function withAdminClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl(), application_name: 'hitl-testkit' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh database next to DATABASE_URL's (its role needs CREATEDB), one per test file. */
export async function createTestDatabase(prefix = 'hitl_test'): Promise<TestDatabase> {
  const name = uniqueIdentifier(prefix);
  await withAdminClient((client) => client.query(`CREATE DATABASE ${escapeIdentifier(name)}`));
  const url = new URL(databaseUrl());
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      // WITH (FORCE) (Postgres 13+) terminates the connections in the same statement, so a pool
      // that reconnects between a separate pg_terminate_backend and the DROP cannot block it.
      await withAdminClient((client) =>
        client.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`),
      );
    },
  };
}
