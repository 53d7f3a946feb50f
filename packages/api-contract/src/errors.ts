// The error side of the contract: the codes the review API answers with and the one shape of
// every error response. Which HTTP status each code gets is the server's business (its
// ERROR_CATALOG, which also covers the codes of @hitl/db and @hitl/policy).
import { Type, type Static } from '@sinclair/typebox';

/** Stable codes of the review API's own errors; every error response has the ErrorBody shape. */
export const ApiErrorCode = {
  validation: 'HITL_ERR_VALIDATION',
  /** A value the database cannot store or compare (a NUL byte, a number or date out of range). */
  invalidValue: 'HITL_ERR_INVALID_VALUE',
  unauthenticated: 'HITL_ERR_UNAUTHENTICATED',
  forbidden: 'HITL_ERR_FORBIDDEN',
  notFound: 'HITL_ERR_NOT_FOUND',
  leaseNotHeld: 'HITL_ERR_LEASE_NOT_HELD',
  /** The reviewer holds as many tasks as one may (MAX_LEASES_PER_REVIEWER). */
  leaseLimit: 'HITL_ERR_LEASE_LIMIT',
  /** The lease is at its longest (MAX_LEASE_SECONDS after the claim). */
  leaseExtensionLimit: 'HITL_ERR_LEASE_EXTENSION_LIMIT',
  taskDecided: 'HITL_ERR_TASK_DECIDED',
  alreadyAnswered: 'HITL_ERR_ALREADY_ANSWERED',
  labelUnknown: 'HITL_ERR_LABEL_UNKNOWN',
  idempotencyConflict: 'HITL_ERR_IDEMPOTENCY_CONFLICT',
  bodyTooLarge: 'HITL_ERR_BODY_TOO_LARGE',
  uriTooLong: 'HITL_ERR_URI_TOO_LONG',
  unsupportedMediaType: 'HITL_ERR_UNSUPPORTED_MEDIA_TYPE',
  rateLimited: 'HITL_ERR_RATE_LIMITED',
  unavailable: 'HITL_ERR_UNAVAILABLE',
  internal: 'HITL_ERR_INTERNAL',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

// $id: the server registers it once and every route's error responses refer to it by name.
export const ErrorBody = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.String({ pattern: '^HITL_ERR_[A-Z0-9_]+$', description: 'Stable; switch on this.' }),
        message: Type.String({ description: 'For people; may change.' }),
        details: Type.Optional(Type.Unknown()),
      },
      { additionalProperties: false },
    ),
  },
  { $id: 'ErrorBody', additionalProperties: false, description: 'Every error response.' },
);
export type ErrorBody = Static<typeof ErrorBody>;
