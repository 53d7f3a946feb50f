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

/**
 * What DATABASE_URL's role must hold for the test kit, checked once per process:
 * - CREATEDB, to create a database per test file;
 * - pg_signal_backend (or superuser), because DROP DATABASE ... WITH (FORCE) refuses to run when
 *   any backend in the database belongs to a role the caller cannot signal. Autovacuum workers
 *   are such backends (they run as no role), and one can be at work in a fresh test database at
 *   the moment it is dropped, so without this privilege a drop fails by chance.
 */
export const TEST_ROLE_PRIVILEGES =
  'CREATEDB and membership in pg_signal_backend (as a superuser: ALTER ROLE <role> CREATEDB; GRANT pg_signal_backend TO <role>)';

let privilegesChecked: Promise<void> | undefined;

export interface TestRoleGrants {
  role: string;
  /** CREATEDB, or superuser. */
  createdb: boolean;
  /** Has the privileges of pg_signal_backend, or is superuser. */
  signal: boolean;
}

/** The error that names what the test role lacks, or undefined when it has everything. */
export function testRoleProblem(grants: TestRoleGrants): Error | undefined {
  const missing = [!grants.createdb && 'CREATEDB', !grants.signal && 'pg_signal_backend'].filter(Boolean);
  if (missing.length === 0) return undefined;
  return new Error(
    `The test database role ${grants.role} lacks ${missing.join(' and ')}. The test kit needs ` +
      TEST_ROLE_PRIVILEGES.replaceAll('<role>', escapeIdentifier(grants.role)) +
      '; deploy/local/stack.sh grants both to its own role.',
  );
}

async function checkPrivileges(client: Client): Promise<void> {
  const { rows } = await client.query<TestRoleGrants>(
    `SELECT current_user AS role,
            rolsuper OR rolcreatedb AS createdb,
            rolsuper OR pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS signal
       FROM pg_roles WHERE rolname = current_user`,
  );
  const problem = testRoleProblem(rows[0] ?? { role: 'current_user', createdb: false, signal: false });
  if (problem) throw problem;
}

/** Creates a fresh database next to DATABASE_URL's, one per test file (see TEST_ROLE_PRIVILEGES). */
export async function createTestDatabase(prefix = 'hitl_test'): Promise<TestDatabase> {
  const name = uniqueIdentifier(prefix);
  await withAdminClient(async (client) => {
    privilegesChecked ??= checkPrivileges(client).catch((error: unknown) => {
      privilegesChecked = undefined;
      throw error;
    });
    await privilegesChecked;
    await client.query(`CREATE DATABASE ${escapeIdentifier(name)}`);
  });
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
