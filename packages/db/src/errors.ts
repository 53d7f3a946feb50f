/** Stable error codes of @hitl/db. */
export const DbErrorCode = {
  migration: 'HITL_ERR_MIGRATION',
  migrationLockTimeout: 'HITL_ERR_MIGRATION_LOCK_TIMEOUT',
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
