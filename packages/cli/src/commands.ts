// What each hitl command does, given its parsed arguments and the process's streams and
// environment as values, so tests run the whole command in-process against the real servers.
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import {
  createPool,
  DbError,
  listModelVersions,
  promoteModelVersion,
  registerModelVersion,
  RegistryError,
  RegistryErrorCode,
  rollbackModel,
  withTransaction,
  type ModelVersionSummary,
} from '@hitl/db';
import { createKafka } from '@hitl/kafka';
import { ModelImportError } from '@hitl/model';
import { ConfigError, createLogger, type Logger } from '@hitl/service-kit';
import { KafkaJSError, type Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { parseHitlArgs, UsageError, USAGE, type HitlCommand } from './args';
import { checkServableModel } from './check-model';
import { loadHitlConfig, type HitlConfig } from './config';
import { CliError, CliErrorCode, ExitCode } from './errors';
import { publishOutbox } from './relay';

export interface HitlIo {
  env: NodeJS.ProcessEnv;
  /** Where relative file arguments are resolved from; default the process's working directory. */
  cwd?: string;
  /** Receives whole lines, each ending in a newline. */
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

interface Context {
  cwd: string;
  pool: Pool;
  kafka: Kafka;
  logger: Logger;
  /** Prints one JSON line on stdout. */
  print: (value: unknown) => void;
}

// Postgres' undefined_table: the database exists but was never migrated.
const UNDEFINED_TABLE = '42P01';

/** What the command prints about a version: one JSON object per line. */
function versionLine(v: ModelVersionSummary) {
  return {
    modelId: v.modelId,
    version: v.version,
    sha256: v.onnxSha256,
    classes: v.classes,
    inputKind: v.inputKind,
    featureWidth: v.featureWidth,
    status: v.status,
    parentVersion: v.parentVersion,
    metrics: v.metrics,
    createdAt: v.createdAt,
    promotedAt: v.promotedAt,
  };
}

/**
 * Publishes what the command (or an earlier run that could not reach Kafka) left in the outbox.
 * Runs after every command that may have changed the registry; with nothing pending it costs one
 * query and no broker connection. A broker failure leaves the rows for the next relay.
 */
async function relay(ctx: Context): Promise<number> {
  try {
    return await publishOutbox(ctx.pool, ctx.kafka, ctx.logger);
  } catch (error) {
    if (!(error instanceof KafkaJSError)) throw error;
    throw new CliError(
      CliErrorCode.outboxRelay,
      `the outbox's records could not be published to Kafka (${error.message}); they stay in the outbox and no registry change is undone: run \`hitl outbox relay\` once Kafka is reachable`,
      ExitCode.unavailable,
      { cause: error },
    );
  }
}

async function importModel(cmd: Extract<HitlCommand, { name: 'models import' }>, ctx: Context) {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(resolve(ctx.cwd, cmd.file));
  } catch (error) {
    throw new CliError(
      CliErrorCode.fileUnreadable,
      `cannot read ${cmd.file}: ${error instanceof Error ? error.message : String(error)}`,
      ExitCode.noInput,
    );
  }
  const description = await checkServableModel(bytes, {
    classes: cmd.classes,
    inputKind: cmd.inputKind,
    featureWidth: cmd.featureWidth,
  });
  const lifecycle = { actor: cmd.actor, reason: cmd.reason };
  // Registered and promoted together or not at all.
  const version = await withTransaction(ctx.pool, async (client) => {
    const registered = await registerModelVersion(client, {
      modelId: cmd.modelId,
      onnx: bytes,
      classes: description.classes,
      inputKind: description.inputKind,
      featureWidth: description.featureWidth ?? undefined,
      metrics: cmd.metrics,
      modelCard: {
        importedFrom: basename(cmd.file),
        producer: description.producerName,
        classesSource: description.classesSource,
        irVersion: description.irVersion,
        opsets: description.opsets,
      },
      parentVersion: cmd.parentVersion,
      createdBy: cmd.actor,
    });
    return cmd.promote ? promoteModelVersion(client, cmd.modelId, registered.version, lifecycle) : registered;
  });
  ctx.print(versionLine(version));
  await relay(ctx);
}

async function execute(cmd: Exclude<HitlCommand, { name: 'help' }>, ctx: Context): Promise<void> {
  switch (cmd.name) {
    case 'models import':
      return importModel(cmd, ctx);
    case 'models promote': {
      const promoted = await promoteModelVersion(ctx.pool, cmd.modelId, cmd.version, {
        actor: cmd.actor,
        reason: cmd.reason,
      });
      ctx.print(versionLine(promoted));
      await relay(ctx);
      return;
    }
    case 'models rollback': {
      const restored = await rollbackModel(ctx.pool, cmd.modelId, { actor: cmd.actor, reason: cmd.reason });
      ctx.print(versionLine(restored));
      await relay(ctx);
      return;
    }
    case 'models list': {
      const versions = await listModelVersions(ctx.pool, cmd.modelId);
      if (versions.length === 0) {
        throw new RegistryError(RegistryErrorCode.notFound, `model ${cmd.modelId} has no versions`);
      }
      for (const v of versions) ctx.print(versionLine(v));
      return;
    }
    case 'outbox relay':
      ctx.print({ published: await relay(ctx) });
      return;
  }
}

/** Reports a failed command on stderr as `error <CODE>: <message>` and returns its exit code. */
function report(error: unknown, io: HitlIo, logger: Logger): number {
  const say = (code: string, message: string) => io.stderr(`error ${code}: ${message}\n`);
  if (error instanceof CliError) {
    say(error.code, error.message);
    return error.exitCode;
  }
  if (error instanceof ModelImportError || error instanceof DbError) {
    say(error.code, error.message);
    return ExitCode.dataError;
  }
  if ((error as { code?: unknown } | null)?.code === UNDEFINED_TABLE) {
    say(
      CliErrorCode.schemaMissing,
      `the database has no registry tables (${(error as Error).message}); run \`pnpm migrate\` against DATABASE_URL first`,
    );
    return ExitCode.config;
  }
  logger.error({ err: error }, 'command failed');
  io.stderr(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  return ExitCode.software;
}

/** Runs one hitl command line and returns its exit code; never exits the process itself. */
export async function runHitl(argv: readonly string[], io: HitlIo): Promise<number> {
  let command: HitlCommand;
  try {
    command = parseHitlArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`hitl: ${error.message}\n\n${USAGE}\n`);
    return ExitCode.usage;
  }
  if (command.name === 'help') {
    io.stdout(`${USAGE}\n`);
    return ExitCode.ok;
  }

  let config: HitlConfig;
  try {
    config = loadHitlConfig(io.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`${error.message}\n`);
    return ExitCode.config;
  }

  // Logs go to stderr: stdout is the command's output.
  const logger = createLogger({
    name: 'hitl',
    level: config.logLevel,
    destination: { write: (line: string) => io.stderr(line) },
  });
  const pool = createPool({
    connectionString: config.databaseUrl,
    max: 2,
    applicationName: 'hitl-cli',
    logger,
  });
  // kafkajs warns about the producer's bounded retries; the command reports real failures itself.
  const kafka = createKafka({
    brokers: config.kafkaBrokers,
    clientId: config.kafkaClientId,
    logger,
    kafkaLogLevel: 'error',
  });
  const print = (value: unknown) => io.stdout(`${JSON.stringify(value)}\n`);
  try {
    await execute(command, { cwd: io.cwd ?? process.cwd(), pool, kafka, logger, print });
    return ExitCode.ok;
  } catch (error) {
    return report(error, io, logger);
  } finally {
    await pool.end();
  }
}
