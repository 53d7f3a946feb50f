import type { ApiErrorCode } from '@hitl/api-contract';

/**
 * Codes of failures found by the client itself, when there is no error body from the server to
 * read. They carry CLIENT in their name so they can never be mistaken for one of the server's.
 */
export const ClientErrorCode = {
  /** No connection could be made, or it broke before an answer came, after every retry. */
  unreachable: 'HITL_ERR_CLIENT_UNREACHABLE',
  /** No answer within timeoutMs, after every retry. */
  timeout: 'HITL_ERR_CLIENT_TIMEOUT',
  /** An answer that is not the review API's (say, a proxy's HTML page). */
  badResponse: 'HITL_ERR_CLIENT_BAD_RESPONSE',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Every failed call: the server's status and stable code, or a client code with status 0. */
export class ReviewApiError extends Error {
  constructor(
    /** The HTTP status; 0 when no response arrived. */
    readonly status: number,
    readonly code: ApiErrorCode | ClientErrorCode | `HITL_ERR_${string}`,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ReviewApiError';
  }
}
