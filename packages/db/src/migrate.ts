import { resolve } from 'node:path';
import { runner } from 'node-pg-migrate';
import { DbError, DbErrorCode } from './errors';
import type { DbLogger } from './logger';

/** The SQL migrations shipped with this package, `<13-digit timestamp>_<name>.sql`. */
export const migrationsDir = resolve(__dirname, '..', 'migrations');

export interface MigrateOptions {
  databaseUrl: string;
  logger?: DbLogger;
  /** Default 'up' (everything pending). */
  direction?: 'up' | 'down';
  /** How many to run; default all for up, 1 for down. */
  count?: number;
  /** How long to wait while another process holds the migration lock. Default 60 s. */
  lockTimeoutMs?: number;
  /** Defaults to migrationsDir. */
  dir?: string;
}

// node-pg-migrate takes its advisory lock with pg_try_advisory_lock and fails at once with this
// message when another process holds it; its error has no code, so the text is all there is.
const LOCK_HELD = 'Another migration is already running';
const LOCK_RETRY_MS = 250;
// The runner also tries to unlock after losing that race and warns; harmless, as the lock is
// session-level and its connection closes right after.
const UNLOCK_NOT_HELD = 'Failed to release migration lock';

const quiet = () => undefined;

/**
 * Applies the pending migrations (or reverts `count` with direction 'down') and returns the names
 * run. Services call it at start: when several start together, one migrates and the others wait
 * for the lock, then find nothing left to do.
 */
export async function migrate(opts: MigrateOptions): Promise<string[]> {
  const direction = opts.direction ?? 'up';
  const lockTimeoutMs = opts.lockTimeoutMs ?? 60_000;
  const log = opts.logger;
  const component = { component: 'migrate' };
  const deadline = Date.now() + lockTimeoutMs;

  for (;;) {
    let ran: Awaited<ReturnType<typeof runner>>;
    try {
      ran = await runner({
        databaseUrl: opts.databaseUrl,
        dir: opts.dir ?? migrationsDir,
        direction,
        count: opts.count ?? (direction === 'up' ? Infinity : 1),
        migrationsTable: 'pgmigrations',
        // All pending migrations commit together or not at all.
        singleTransaction: true,
        checkOrder: true,
        logger: {
          debug: quiet,
          info: log ? (msg) => log.info(component, msg) : quiet,
          warn: log
            ? (msg) => (msg === UNLOCK_NOT_HELD ? log.debug(component, msg) : log.warn(component, msg))
            : quiet,
          error: log ? (msg) => log.error(component, msg) : quiet,
        },
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message.includes(LOCK_HELD)) {
        if (Date.now() >= deadline) {
          const text = `migration lock still held after ${lockTimeoutMs} ms`;
          throw new DbError(DbErrorCode.migrationLockTimeout, text, { cause: error });
        }
        log?.debug(component, 'another process is migrating; waiting for its lock');
        await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
        continue;
      }
      throw new DbError(DbErrorCode.migration, `migration ${direction} failed: ${message}`, { cause: error });
    }
    const names = ran.map((m) => m.name);
    const outcome = {
      up: ['schema up to date', 'migrations applied'],
      down: ['nothing to revert', 'migrations reverted'],
    };
    log?.info({ ...component, direction, migrations: names }, outcome[direction][names.length > 0 ? 1 : 0]!);
    return names;
  }
}
