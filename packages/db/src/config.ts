import { int, LOG_LEVELS, oneOf, parseConfig, url, type ConfigOf } from '@hitl/service-kit';

const migrateConfigSpec = {
  databaseUrl: url('DATABASE_URL', { protocols: ['postgres:', 'postgresql:'], secret: true }),
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { default: 'info' }),
};

export type MigrateConfig = ConfigOf<typeof migrateConfigSpec>;

/** Settings of the migrate command. */
export function loadMigrateConfig(env: NodeJS.ProcessEnv): MigrateConfig {
  return parseConfig(migrateConfigSpec, env);
}

export const retentionConfigSpec = {
  /** Published outbox rows older than this many days (since published) are deleted. */
  outboxDays: int('HITL_RETENTION_OUTBOX_DAYS', { default: 7, min: 1 }),
  /** Idempotency records of review answers older than this many days are deleted. */
  idempotencyDays: int('HITL_RETENTION_IDEMPOTENCY_DAYS', { default: 7, min: 1 }),
  /** Leases of undecided tasks that ran out more than this many hours ago are cleared. */
  expiredLeaseHours: int('HITL_RETENTION_LEASE_HOURS', { default: 24, min: 1 }),
  /**
   * The review API's per-minute counts of model decisions older than this many days are deleted (91:
   * a day more than the 90 days GET /v1/admin/learning shows at most).
   */
  learningCountDays: int('HITL_RETENTION_LEARNING_DAYS', { default: 91, min: 1 }),
  /**
   * The router's record of the event ids it routed, kept this many days: a producer's repeat of an
   * event id within it gets no second decision.
   */
  routedEventDays: int('HITL_RETENTION_ROUTED_DAYS', { default: 30, min: 1 }),
  /** Rows per statement: each batch commits on its own, so no lock is held for long. */
  batchSize: int('HITL_RETENTION_BATCH_SIZE', { default: 1_000, min: 1, max: 100_000 }),
};

export type RetentionConfig = ConfigOf<typeof retentionConfigSpec>;

/** How long pruneRetention keeps what it prunes (HITL_RETENTION_*). */
export function loadRetentionConfig(env: NodeJS.ProcessEnv): RetentionConfig {
  return parseConfig(retentionConfigSpec, env);
}
