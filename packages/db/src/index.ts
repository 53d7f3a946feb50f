export { DbError, DbErrorCode } from './errors';
export type { DbLogger } from './logger';
export { createPool, withTransaction, type CreatePoolOptions } from './pool';
export { migrate, migrationsDir, type MigrateOptions } from './migrate';
export * from './model-registry';
export * from './policy-store';
export {
  enqueueOutbox,
  relayOutbox,
  type OutboxRecord,
  type OutboxRow,
  type RelayOutboxOptions,
} from './outbox';
