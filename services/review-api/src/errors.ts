import { Type, type Static } from '@sinclair/typebox';

/** Stable codes of the review API's errors; every error response has this shape. */
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
  conflict: 'HITL_ERR_CONFLICT',
  bodyTooLarge: 'HITL_ERR_BODY_TOO_LARGE',
  rateLimited: 'HITL_ERR_RATE_LIMITED',
  unavailable: 'HITL_ERR_UNAVAILABLE',
  internal: 'HITL_ERR_INTERNAL',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

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

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ApiErrorCode | `HITL_ERR_${string}`,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
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
