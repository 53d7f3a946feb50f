export { DbError, DbErrorCode } from './errors';
export type { DbLogger } from './logger';
export { createPool, withTransaction, type CreatePoolOptions } from './pool';
export { migrate, migrationsDir, type MigrateOptions } from './migrate';
export * from './model-registry';
export * from './policy-store';
export * from './api-keys';
export {
  adoptOutboxRelay,
  claimedOutboxBatches,
  claimOutboxBatch,
  enqueueOutbox,
  getOutboxRelayState,
  markOutboxBatchesPublishedThrough,
  markOutboxBatchPublished,
  MAX_OUTBOX_RECORD_BYTES,
  outboxBacklog,
  outboxBatchRows,
  tryLockOutboxRelay,
  unlockOutboxRelay,
  type OutboxBacklog,
  type OutboxRecord,
  type OutboxRelayNames,
  type OutboxRelayState,
  type OutboxRow,
} from './outbox';
export {
  findDeadLetterRedrives,
  redriveDeadLetters,
  type DeadLetterPosition,
  type DeadLetterRedrive,
  type RecordedRedrive,
  type RedriveOutcome,
} from './dlq-redrives';
export {
  reviewQueueGroups,
  reviewQueueStreams,
  type ReviewQueueGroup,
  type ReviewQueueStream,
} from './review-queue';
export { repeatedRecords, type RoutedRecord } from './routed-events';
export {
  listTrainingRequests,
  listTrainingRuns,
  requestTraining,
  type TrainingRequest,
  type TrainingRun,
  type TrainingRunTrigger,
} from './training-requests';
export { loadRetentionConfig, retentionConfigSpec, type RetentionConfig } from './config';
export {
  pruneRetention,
  type RetentionOptions,
  type RetentionResult,
  type RetentionTable,
} from './retention';
export { CertifiedThresholdCache } from './certified-thresholds';
export {
  GOLD_SCORES_BY_REVIEWER,
  GoldImportError,
  goldRef,
  parseGoldLines,
  importGoldItems,
  listGoldItems,
  MAX_GOLD_IMPORT,
  setGoldItemActive,
  type GoldItem,
  type GoldItemInput,
} from './gold';
export { latestReviewerReliability, type ReviewerReliabilityFigures } from './reviewer-reliability';
export {
  addStream,
  getStream,
  listStreams,
  listStreamVersions,
  loadStreamRegistry,
  MAX_STREAM_CLASSES,
  MAX_STREAM_FEATURE_WIDTH,
  MAX_STREAM_REVIEWER_GROUPS,
  MAX_STREAM_REVIEWERS,
  StreamError,
  streamsRevision,
  STREAMS_CHANNEL,
  updateStream,
  validateStreamSpec,
  type NewStream,
  type Stream,
  type StreamChange,
  type StreamChangeOptions,
  type StreamInputKind,
  type StreamProblem,
  type StreamSpec,
  type StreamVersion,
} from './streams';
