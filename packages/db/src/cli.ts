// `migrate up` / `migrate down [count]`: the schema migrations as a command, for deploy jobs and
// the local stack. Services run the same migrate() at start.
import { createLogger, loadConfigOrExit } from '@hitl/service-kit';
import { loadMigrateConfig } from './config';
import { migrate } from './migrate';

const USAGE = 'usage: migrate up | migrate down [count]';

async function main(argv: readonly string[]): Promise<number> {
  const [direction, countArg] = argv;
  const count = countArg === undefined ? undefined : Number(countArg);
  if (
    (direction !== 'up' && direction !== 'down') ||
    (count !== undefined && !(Number.isInteger(count) && count > 0))
  ) {
    process.stderr.write(`${USAGE}\n`);
    return 64; // sysexits EX_USAGE
  }
  // This file is the command's entry point, the one place its process reads the environment.
  const config = loadConfigOrExit(() => loadMigrateConfig(process.env));
  const logger = createLogger({ name: 'migrate', level: config.logLevel });
  try {
    await migrate({ databaseUrl: config.databaseUrl, logger, direction, count });
    return 0;
  } catch (error) {
    logger.fatal({ err: error }, 'migration failed');
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exitCode = 1;
  },
);
