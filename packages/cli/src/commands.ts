// What each hitl command does, given its parsed arguments and the process's streams and
// environment as values, so tests run the whole command in-process against the real servers.
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, resolve } from 'node:path';
import {
  addStream,
  createApiKey,
  createPool,
  createReviewer,
  DbError,
  DbErrorCode,
  generateApiKey,
  getCertification,
  getCurrentPolicy,
  getPolicyVersion,
  importGoldItems,
  latestReviewerReliability,
  listGoldItems,
  listModelVersions,
  listPolicyVersions,
  listReviewers,
  listStreams,
  listTrainingRuns,
  parseGoldLines,
  promoteModelVersion,
  pruneRetention,
  registerModelVersion,
  RegistryError,
  RegistryErrorCode,
  requestTraining,
  revokeApiKey,
  rollbackModel,
  setReviewerDisabled,
  setReviewerGroups,
  updatePolicy,
  updateStream,
  withTransaction,
  type ModelVersionSummary,
  type RetentionConfig,
} from '@hitl/db';
import { createKafka } from '@hitl/kafka';
import { ModelImportError } from '@hitl/model';
import { collectStatus, formatStatus } from '@hitl/ops';
import { OutboxRelayError } from '@hitl/outbox';
import { PolicyError } from '@hitl/policy';
import { ConfigError, createLogger, type Logger } from '@hitl/service-kit';
import { KafkaJSError, type Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { parseHitlArgs, UsageError, USAGE, type HitlCommand } from './args';
import { certifiedLine, promotedCertification } from './certification';
import { checkServableModel } from './check-model';
import { loadHitlConfig, type HitlConfig } from './config';
import { listDeadLetters, redriveDeadLetterCommand, type DlqContext } from './dlq';
import { CliError, CliErrorCode, ExitCode } from './errors';
import { applyPolicyChanges } from './policy-changes';
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
  /** Absent for the commands that never publish (see needsKafka). */
  kafka?: Kafka;
  outboxRelayId?: string;
  /** The dead-letter topic (DLQ_TOPIC); set with kafka. */
  dlqTopic?: string;
  /** HITL_RETENTION_*; set for hitl prune. */
  retention?: RetentionConfig;
  /** POLICY_NAME (default `default`, as the review API's): whose classes gold items default to. */
  policyName: string;
  logger: Logger;
  /** Writes text on stderr: notes about the output, never the output. */
  note: (text: string) => void;
  /** Prints one JSON line on stdout. */
  print: (value: unknown) => void;
  /** Prints text as it is. */
  write: (text: string) => void;
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
    certified: certifiedLine(v),
    temperature: v.temperature,
    createdAt: v.createdAt,
    promotedAt: v.promotedAt,
  };
}

/**
 * Publishes what the command (or an earlier run that could not reach Kafka) left in the outbox,
 * exactly once. Runs after every command that may have changed the registry; with nothing pending
 * it costs one query and no broker connection. A broker failure, or running out of time, leaves
 * the rows for the next relay.
 */
async function relay(ctx: Context): Promise<number> {
  if (ctx.kafka === undefined) throw new Error('this command publishes but was started without Kafka');
  try {
    return await publishOutbox(ctx.pool, ctx.kafka, ctx.logger, { relayId: ctx.outboxRelayId });
  } catch (error) {
    if (!(error instanceof KafkaJSError) && !(error instanceof OutboxRelayError)) throw error;
    throw new CliError(
      CliErrorCode.outboxRelay,
      `the outbox's records could not be published to Kafka (${error.message}); they stay in the outbox and no registry change is undone: run \`hitl outbox relay\` once Kafka is reachable`,
      ExitCode.unavailable,
      { cause: error },
    );
  }
}

async function importModel(cmd: Extract<HitlCommand, { name: 'models import' }>, ctx: Context) {
  const bytes = await readFileArgument(cmd.file, ctx);
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
      temperature: cmd.temperature,
      createdBy: cmd.actor,
    });
    return cmd.promote ? promoteModelVersion(client, cmd.modelId, registered.version, lifecycle) : registered;
  });
  ctx.print(versionLine(version));
  await relay(ctx);
}

async function readFileArgument(file: string, ctx: Context): Promise<Buffer> {
  try {
    return await readFile(resolve(ctx.cwd, file));
  } catch (error) {
    throw new CliError(
      CliErrorCode.fileUnreadable,
      `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
      ExitCode.noInput,
    );
  }
}

async function setPolicy(cmd: Extract<HitlCommand, { name: 'policy set' }>, ctx: Context) {
  let fromFile: unknown;
  if (cmd.file !== undefined) {
    // Editors on some systems start UTF-8 files with a byte-order mark, which JSON.parse refuses.
    const text = (await readFileArgument(cmd.file, ctx)).toString('utf8').replace(/^\uFEFF/, '');
    try {
      fromFile = JSON.parse(text);
    } catch (error) {
      const problem = `is not JSON (${error instanceof Error ? error.message : String(error)})`;
      throw new PolicyError([{ field: cmd.file, problem }]);
    }
  }
  // Read, changed and stored under the policy's lock: a concurrent `set` is never lost.
  const stored = await updatePolicy(
    ctx.pool,
    cmd.policyName,
    (current) => applyPolicyChanges(cmd.file !== undefined ? fromFile : current, cmd.changes),
    { actor: cmd.actor, reason: cmd.reason },
  );
  ctx.print(stored);
}

/** Gold items from a JSON-lines file, all or none; prints how many were new. */
async function importGold(cmd: Extract<HitlCommand, { name: 'gold import' }>, ctx: Context) {
  const text = (await readFileArgument(cmd.file, ctx)).toString('utf8').replace(/^\uFEFF/, '');
  const items = parseGoldLines(text, { stream: cmd.stream });
  const policy = await getCurrentPolicy(ctx.pool, cmd.policyName ?? ctx.policyName);
  ctx.print(
    await importGoldItems(ctx.pool, items, {
      importedBy: cmd.actor ?? userInfo().username,
      defaultClasses: policy?.classes ?? [],
    }),
  );
}

/** Lag, review queue and models: a table for people, or one JSON object with --json. */
async function status(cmd: Extract<HitlCommand, { name: 'status' }>, ctx: Context) {
  if (ctx.kafka === undefined) throw new Error('hitl status was started without Kafka');
  const admin = ctx.kafka.admin();
  try {
    await admin.connect();
    const state = await collectStatus({
      admin,
      pool: ctx.pool,
      groups: { groupIds: cmd.groupIds, groupPrefix: cmd.groupPrefix, topics: cmd.topics },
      modelIds: cmd.modelIds,
    });
    if (cmd.json) ctx.print(state);
    else ctx.write(formatStatus(state));
  } catch (error) {
    if (!(error instanceof KafkaJSError)) throw error;
    throw new CliError(
      CliErrorCode.kafkaUnavailable,
      `Kafka did not answer (${error.message}); check KAFKA_BROKERS`,
      ExitCode.unavailable,
      { cause: error },
    );
  } finally {
    await admin.disconnect();
  }
}

function dlqContext(ctx: Context): DlqContext {
  if (ctx.kafka === undefined || ctx.dlqTopic === undefined) {
    throw new Error('a dlq command was started without Kafka');
  }
  return {
    kafka: ctx.kafka,
    pool: ctx.pool,
    dlqTopic: ctx.dlqTopic,
    print: ctx.print,
    write: ctx.write,
    note: ctx.note,
    publishOutbox: () => relay(ctx),
  };
}

/** Runs a dlq command; a broker that does not answer is reported as such. */
async function dlq(cmd: Extract<HitlCommand, { name: 'dlq list' | 'dlq redrive' }>, ctx: Context) {
  try {
    if (cmd.name === 'dlq list') await listDeadLetters(cmd, dlqContext(ctx));
    else await redriveDeadLetterCommand(cmd, dlqContext(ctx));
  } catch (error) {
    if (!(error instanceof KafkaJSError)) throw error;
    throw new CliError(
      CliErrorCode.kafkaUnavailable,
      `Kafka did not answer (${error.message}); check KAFKA_BROKERS`,
      ExitCode.unavailable,
      { cause: error },
    );
  }
}

/** Prunes what is past its retention, a note on stderr per batch, the counts as one JSON line. */
async function prune(ctx: Context) {
  if (ctx.retention === undefined) throw new Error('hitl prune was started without its settings');
  const { outbox, reviewIdempotency, reviewTaskLeases, modelDecisionCounts, routedEvents, cutoffs } =
    await pruneRetention(ctx.pool, {
      ...ctx.retention,
      onBatch: ({ table, total }) => ctx.note(`${table}: ${total} so far\n`),
    });
  ctx.print({
    outbox: { deleted: outbox, publishedBefore: cutoffs.outbox },
    reviewIdempotency: { deleted: reviewIdempotency, createdBefore: cutoffs.reviewIdempotency },
    reviewTaskLeases: { cleared: reviewTaskLeases, expiredBefore: cutoffs.reviewTaskLeases },
    modelDecisionCounts: { deleted: modelDecisionCounts, minutesBefore: cutoffs.modelDecisionCounts },
    routedEvents: { deleted: routedEvents, routedBefore: cutoffs.routedEvents },
  });
}

function policyNotFound(message: string): DbError {
  return new DbError(DbErrorCode.policyNotFound, message);
}

async function execute(
  cmd: Exclude<HitlCommand, { name: 'help' | 'keys generate' }>,
  ctx: Context,
): Promise<void> {
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
    case 'prune':
      return prune(ctx);
    case 'dlq list':
    case 'dlq redrive':
      return dlq(cmd, ctx);
    case 'policy show': {
      const { policyName: name, version } = cmd;
      const policy =
        version === undefined
          ? await getCurrentPolicy(ctx.pool, name)
          : await getPolicyVersion(ctx.pool, name, version);
      if (policy === null) {
        throw policyNotFound(
          version === undefined
            ? `policy ${name} has no versions`
            : `policy ${name} has no version ${version}`,
        );
      }
      // The policy routes the model it is named after.
      const promoted = (await listModelVersions(ctx.pool, name)).find((v) => v.status === 'promoted');
      const heldOut = promoted && (await getCertification(ctx.pool, name, promoted.version))?.heldOut;
      ctx.print({
        ...policy,
        promoted: promoted ? promotedCertification(policy, promoted, heldOut ?? null) : null,
      });
      return;
    }
    case 'policy set':
      return setPolicy(cmd, ctx);
    case 'policy history': {
      const versions = await listPolicyVersions(ctx.pool, cmd.policyName);
      if (versions.length === 0) throw policyNotFound(`policy ${cmd.policyName} has no versions`);
      for (const policy of versions) ctx.print(policy);
      return;
    }
    case 'models train':
      // The trainer takes the request up at its next check (a few seconds).
      ctx.print(await requestTraining(ctx.pool, cmd.modelId, cmd.actor ?? userInfo().username));
      return;
    case 'models trainings':
      for (const run of await listTrainingRuns(ctx.pool, cmd.modelId, { limit: 50 })) ctx.print(run);
      return;
    case 'reviewers add':
      ctx.print(
        await createReviewer(ctx.pool, {
          id: cmd.reviewerId,
          name: cmd.displayName ?? cmd.reviewerId,
          role: cmd.role,
          groups: cmd.groups ?? [],
        }),
      );
      return;
    case 'reviewers groups':
      ctx.print(await setReviewerGroups(ctx.pool, cmd.reviewerId, cmd.groups));
      return;
    case 'reviewers list': {
      // With each reviewer, the newest reliability estimate per stream (none before any).
      const reliability = await latestReviewerReliability(ctx.pool);
      for (const reviewer of await listReviewers(ctx.pool)) {
        ctx.print({ ...reviewer, reliability: reliability.get(reviewer.id) ?? [] });
      }
      return;
    }
    case 'gold import':
      return importGold(cmd, ctx);
    case 'gold list':
      for (const item of await listGoldItems(ctx.pool, { limit: cmd.limit })) ctx.print(item);
      return;
    case 'streams add':
      ctx.print(
        await addStream(ctx.pool, cmd.stream, {
          actor: cmd.actor ?? userInfo().username,
          reason: cmd.reason,
        }),
      );
      return;
    case 'streams list':
      for (const stream of await listStreams(ctx.pool)) ctx.print(stream);
      return;
    case 'streams set':
      ctx.print(
        await updateStream(ctx.pool, cmd.streamId, cmd.change, {
          actor: cmd.actor ?? userInfo().username,
          reason: cmd.reason,
          expectedVersion: cmd.expectedVersion,
        }),
      );
      return;
    case 'reviewers disable':
    case 'reviewers enable':
      ctx.print(await setReviewerDisabled(ctx.pool, cmd.reviewerId, cmd.name === 'reviewers disable'));
      return;
    case 'keys create':
      // The key is printed this once; only its hash is stored.
      ctx.print(await createApiKey(ctx.pool, cmd.reviewerId, { expiresInDays: cmd.expiresInDays }));
      return;
    case 'keys revoke':
      ctx.print(await revokeApiKey(ctx.pool, cmd.keyId));
      return;
    case 'status':
      return status(cmd, ctx);
  }
}

// The policy commands touch only Postgres. The models and outbox commands keep requiring Kafka,
// `models list` included, as they always have.
function needsKafka(cmd: HitlCommand): boolean {
  if (cmd.name === 'models train' || cmd.name === 'models trainings') return false;
  return (
    cmd.name.startsWith('models ') ||
    cmd.name.startsWith('outbox ') ||
    cmd.name.startsWith('dlq ') ||
    cmd.name === 'status'
  );
}

/** Reports a failed command on stderr as `error <CODE>: <message>` and returns its exit code. */
function report(error: unknown, io: HitlIo, logger: Logger): number {
  const say = (code: string, message: string) => io.stderr(`error ${code}: ${message}\n`);
  if (error instanceof CliError) {
    say(error.code, error.message);
    return error.exitCode;
  }
  if (error instanceof ModelImportError || error instanceof DbError || error instanceof PolicyError) {
    say(error.code, error.message);
    return ExitCode.dataError;
  }
  if ((error as { code?: unknown } | null)?.code === UNDEFINED_TABLE) {
    say(
      CliErrorCode.schemaMissing,
      `the database is missing tables (${(error as Error).message}); run \`pnpm migrate\` against DATABASE_URL first`,
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
  if (command.name === 'keys generate') {
    // Needs no settings: the key is for a deployment secret (the review API's ADMIN_KEY).
    io.stdout(`${JSON.stringify({ key: generateApiKey() })}\n`);
    return ExitCode.ok;
  }

  let config: HitlConfig;
  try {
    config = loadHitlConfig(io.env, { kafka: needsKafka(command), retention: command.name === 'prune' });
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
  const kafka =
    config.kafka &&
    createKafka({
      brokers: config.kafka.brokers,
      clientId: config.kafka.clientId,
      logger,
      kafkaLogLevel: 'error',
      config: config.kafka.connection,
    });
  const print = (value: unknown) => io.stdout(`${JSON.stringify(value)}\n`);
  try {
    await execute(command, {
      cwd: io.cwd ?? process.cwd(),
      pool,
      kafka,
      outboxRelayId: config.kafka?.outboxRelayId,
      dlqTopic: config.kafka?.dlqTopic,
      retention: config.retention,
      policyName: io.env.POLICY_NAME || 'default',
      logger,
      note: (text) => io.stderr(text),
      print,
      write: (text) => io.stdout(text),
    });
    return ExitCode.ok;
  } catch (error) {
    return report(error, io, logger);
  } finally {
    await pool.end();
  }
}
