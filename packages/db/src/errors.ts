/** Stable error codes of @hitl/db. */
export const DbErrorCode = {
  migration: 'HITL_ERR_MIGRATION',
  migrationLockTimeout: 'HITL_ERR_MIGRATION_LOCK_TIMEOUT',
  modelNotFound: 'HITL_ERR_MODEL_NOT_FOUND',
  modelNoPrevious: 'HITL_ERR_MODEL_NO_PREVIOUS',
  modelRolledBack: 'HITL_ERR_MODEL_ROLLED_BACK',
  modelInvalid: 'HITL_ERR_MODEL_INVALID',
  policyName: 'HITL_ERR_POLICY_NAME',
  policyNotFound: 'HITL_ERR_POLICY_NOT_FOUND',
  reviewerInvalid: 'HITL_ERR_REVIEWER_INVALID',
  reviewerExists: 'HITL_ERR_REVIEWER_EXISTS',
  reviewerNotFound: 'HITL_ERR_REVIEWER_NOT_FOUND',
  apiKeyNotFound: 'HITL_ERR_API_KEY_NOT_FOUND',
  apiKeyInvalid: 'HITL_ERR_API_KEY_INVALID',
  /** requestTraining was given no model id or no actor. */
  trainingRequestInvalid: 'HITL_ERR_TRAINING_REQUEST_INVALID',
  /** A gold item with no label among its classes, or an import too large. */
  goldInvalid: 'HITL_ERR_GOLD_INVALID',
  /** A stream that does not validate: a field out of bounds, an unknown reviewer, a model or policy that does not fit. */
  streamInvalid: 'HITL_ERR_STREAM_INVALID',
  streamExists: 'HITL_ERR_STREAM_EXISTS',
  streamNotFound: 'HITL_ERR_STREAM_NOT_FOUND',
  /** A stream change that named a version other than the stream's current one. */
  streamVersionConflict: 'HITL_ERR_STREAM_VERSION_CONFLICT',
} as const;

export type DbErrorCode = (typeof DbErrorCode)[keyof typeof DbErrorCode];

export class DbError extends Error {
  readonly code: DbErrorCode;

  constructor(code: DbErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DbError';
    this.code = code;
  }
}
