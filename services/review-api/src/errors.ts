// The review API's errors, in one catalog: every code it can answer with, declared once with its
// HTTP status and what it means. Codes from @hitl/db and @hitl/policy are in it too, and its type
// demands an entry for each, so a code added there does not compile here until it has a status.
// The task store throws TaskError (no HTTP in it); only the HTTP layer turns errors into statuses.
// The codes and the error body themselves are the HTTP contract's (@hitl/api-contract), which the
// client shares; the catalog stays here, as its type needs the server-side codes of @hitl/db.
import type { ApiErrorCode, ErrorBody } from '@hitl/api-contract';
import type { DbErrorCode } from '@hitl/db';
import type { PolicyErrorCode } from '@hitl/policy';

type DbCode = DbErrorCode;
type PolicyCode = (typeof PolicyErrorCode)[keyof typeof PolicyErrorCode];
/** Every code a response can carry. */
export type ErrorCode = ApiErrorCode | DbCode | PolicyCode;

export interface CatalogEntry {
  status: number;
  /** What it means, for people (each response also has a message about the case at hand). */
  meaning: string;
}

/** Every error code with its HTTP status: the one place statuses are chosen. */
export const ERROR_CATALOG: { readonly [C in ErrorCode]: CatalogEntry } = {
  HITL_ERR_VALIDATION: { status: 400, meaning: 'the request does not match the OpenAPI document' },
  HITL_ERR_INVALID_VALUE: { status: 400, meaning: 'a value the database cannot take' },
  HITL_ERR_UNAUTHENTICATED: { status: 401, meaning: 'no key, or a key that does not work' },
  HITL_ERR_FORBIDDEN: { status: 403, meaning: 'the key’s role may not do this' },
  HITL_ERR_NOT_FOUND: { status: 404, meaning: 'no such route or task (or not one the caller may see)' },
  HITL_ERR_LEASE_NOT_HELD: { status: 409, meaning: 'the caller does not hold the task’s lease' },
  HITL_ERR_LEASE_LIMIT: { status: 409, meaning: 'the reviewer holds as many tasks as one may' },
  HITL_ERR_LEASE_EXTENSION_LIMIT: { status: 409, meaning: 'the lease cannot be extended further' },
  HITL_ERR_TASK_DECIDED: { status: 409, meaning: 'the task is already decided' },
  HITL_ERR_ALREADY_ANSWERED: { status: 409, meaning: 'the reviewer already answered the task' },
  HITL_ERR_LABEL_UNKNOWN: { status: 422, meaning: 'the label is not one of the task’s classes' },
  HITL_ERR_IDEMPOTENCY_CONFLICT: { status: 422, meaning: 'the idempotency key was used for another task' },
  HITL_ERR_BODY_TOO_LARGE: { status: 413, meaning: 'the body is over BODY_LIMIT_BYTES' },
  HITL_ERR_URI_TOO_LONG: { status: 414, meaning: 'a path parameter is too long' },
  HITL_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'the body is not JSON' },
  HITL_ERR_RATE_LIMITED: { status: 429, meaning: 'too many requests; see Retry-After' },
  HITL_ERR_UNAVAILABLE: { status: 503, meaning: 'a dependency is away or too slow; retry shortly' },
  HITL_ERR_INTERNAL: { status: 500, meaning: 'a fault of the API (logged)' },
  // @hitl/db
  HITL_ERR_MIGRATION: { status: 500, meaning: 'the database schema could not be migrated' },
  HITL_ERR_MIGRATION_LOCK_TIMEOUT: { status: 503, meaning: 'another process holds the migration lock' },
  HITL_ERR_MODEL_NOT_FOUND: { status: 404, meaning: 'no such model or version' },
  HITL_ERR_MODEL_NO_PREVIOUS: { status: 409, meaning: 'no earlier version to roll back to' },
  HITL_ERR_MODEL_ROLLED_BACK: { status: 409, meaning: 'the version was rolled back' },
  HITL_ERR_MODEL_INVALID: { status: 422, meaning: 'the model version is not one the registry takes' },
  HITL_ERR_POLICY_NAME: { status: 422, meaning: 'the policy name is not valid' },
  HITL_ERR_POLICY_NOT_FOUND: { status: 404, meaning: 'no version of the routing policy yet' },
  HITL_ERR_REVIEWER_INVALID: { status: 422, meaning: 'the reviewer id or role is not valid' },
  HITL_ERR_REVIEWER_EXISTS: { status: 409, meaning: 'a reviewer with that id exists' },
  HITL_ERR_REVIEWER_NOT_FOUND: { status: 404, meaning: 'no such reviewer' },
  HITL_ERR_API_KEY_NOT_FOUND: { status: 404, meaning: 'no such key' },
  HITL_ERR_API_KEY_INVALID: { status: 422, meaning: 'the key or its settings are not valid' },
  HITL_ERR_TRAINING_REQUEST_INVALID: { status: 400, meaning: 'the training request is not valid' },
  HITL_ERR_GOLD_INVALID: { status: 422, meaning: 'a gold item has no label among its classes' },
  HITL_ERR_STREAM_INVALID: {
    status: 422,
    meaning: 'the stream does not validate, or does not fit its reviewers, model or policy',
  },
  HITL_ERR_STREAM_EXISTS: { status: 409, meaning: 'a stream with that id exists' },
  HITL_ERR_STREAM_NOT_FOUND: { status: 404, meaning: 'no such stream' },
  HITL_ERR_STREAM_VERSION_CONFLICT: {
    status: 409,
    meaning: 'the stream is not at the version the change expected',
  },
  // @hitl/policy
  HITL_ERR_POLICY_INVALID: { status: 422, meaning: 'the routing policy does not validate' },
};

/** An error as the API answers it; its status comes from the catalog. */
export class ApiError extends Error {
  readonly statusCode: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = ERROR_CATALOG[code].status;
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/** What the task store and the queries refuse, without an HTTP status. */
export type TaskErrorCode =
  | typeof ApiErrorCode.validation
  | typeof ApiErrorCode.forbidden
  | typeof ApiErrorCode.notFound
  | typeof ApiErrorCode.leaseNotHeld
  | typeof ApiErrorCode.leaseLimit
  | typeof ApiErrorCode.leaseExtensionLimit
  | typeof ApiErrorCode.taskDecided
  | typeof ApiErrorCode.alreadyAnswered
  | typeof ApiErrorCode.labelUnknown
  | typeof ApiErrorCode.idempotencyConflict;

export class TaskError extends Error {
  constructor(
    readonly code: TaskErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'TaskError';
  }
}
