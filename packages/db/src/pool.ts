import { Pool, type PoolClient } from 'pg';
import { stderrLogger, type DbLogger } from './logger';

export interface CreatePoolOptions {
  connectionString: string;
  /** Default 10. */
  max?: number;
  /** Shown in pg_stat_activity, which is how an operator finds whose connections these are. */
  applicationName?: string;
  logger?: DbLogger;
  /** How long connect() waits for a free client or a new connection. Default 10 s (pg's own default waits forever). */
  connectionTimeoutMillis?: number;
  /** Idle clients are closed after this. Default 30 s. */
  idleTimeoutMillis?: number;
  /**
   * Postgres cancels any statement that runs longer (SQLSTATE 57014), lock waits included.
   * Default: none (Postgres's own default).
   */
  statementTimeoutMillis?: number;
}

/** A pg.Pool whose idle-client errors are logged: without a listener, a dropped connection crashes the process. */
export function createPool(opts: CreatePoolOptions): Pool {
  const logger = opts.logger ?? stderrLogger;
  const pool = new Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName,
    connectionTimeoutMillis: opts.connectionTimeoutMillis ?? 10_000,
    idleTimeoutMillis: opts.idleTimeoutMillis ?? 30_000,
    ...(opts.statementTimeoutMillis === undefined ? {} : { statement_timeout: opts.statementTimeoutMillis }),
    // No JIT: these are short OLTP statements. A claim's plan is costed as if it read the whole queue
    // (its LIMIT 1 stops at the first row), which passes jit_above_cost, and compiling it took
    // 2.4 s per call, against a fraction of a millisecond to run it.
    options: '-c jit=off',
  });
  pool.on('error', (error) => {
    // pg has already removed the broken client; the next checkout opens a new connection.
    logger.error({ err: error }, 'idle Postgres client failed');
  });
  return pool;
}

/**
 * Runs fn inside BEGIN/COMMIT on one client, rolling back if fn or COMMIT throws, and always
 * releases the client. fn's error is the one rethrown.
 */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      // A client that cannot roll back is in an unknown state: destroy it instead of reusing it.
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    }
    throw error;
  } finally {
    client.release(broken);
  }
}
