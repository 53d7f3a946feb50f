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
