/** Stable codes of the records a consumer rejects; they go on hitl.dlq.v1 with the record. */
export const DeadLetterCodes = {
  /** Not JSON, or an empty value. */
  decode: 'HITL_ERR_DECODE',
  /** JSON that does not match the topic's schema (wrong version included). */
  schema: 'HITL_ERR_SCHEMA',
  /** Larger than the consumer's record size limit. */
  oversize: 'HITL_ERR_OVERSIZE',
  /** The handler kept failing after the bounded number of tries. */
  handlerFailed: 'HITL_ERR_HANDLER_FAILED',
} as const;

export type DeadLetterCode = (typeof DeadLetterCodes)[keyof typeof DeadLetterCodes] | `HITL_ERR_${string}`;

/**
 * Thrown by a handler for a record that can never succeed (e.g. it names an unknown class):
 * the record goes to the dead-letter topic at once, with this code, without retries.
 */
export class DeadLetterError extends Error {
  readonly code: DeadLetterCode;
  constructor(code: DeadLetterCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeadLetterError';
    this.code = code;
  }
}

/**
 * Thrown by a handler when a dependency is down: the consumer waits and tries again for as long
 * as it takes, never dead-letters the record, and so never skips what follows it.
 */
export class TransientError extends Error {
  readonly code = 'HITL_ERR_TRANSIENT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

// Postgres SQLSTATEs that mean "the database is unavailable or busy", not "this record is bad".
const TRANSIENT_PG_CODES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01']);

/**
 * True when an error means infrastructure is unavailable (Kafka, Postgres, the network) rather
 * than that the record is bad. Walks the `cause` chain.
 */
export function isTransientError(error: unknown): boolean {
  // Duck-typed rather than `instanceof Error`: errors from another realm (Node's internals seen
  // from a jest sandbox, a worker) are Errors that fail instanceof.
  for (let e: unknown = error, depth = 0; isErrorLike(e) && depth < 8; depth++) {
    if (e instanceof TransientError) return true;
    if (e instanceof DeadLetterError) return false;
    // Any kafkajs failure inside a handler (its own retries exhausted included) is an outage.
    if (typeof e.name === 'string' && e.name.startsWith('KafkaJS')) return true;
    if (typeof e.code === 'string') {
      if (TRANSIENT_NODE_CODES.has(e.code) || TRANSIENT_PG_CODES.has(e.code) || e.code.startsWith('08'))
        return true;
    }
    if (
      typeof e.message === 'string' &&
      /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(
        e.message,
      )
    ) {
      return true;
    }
    e = e.cause;
  }
  return false;
}

const FENCED = new Set([
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);

/** True when another producer with the same transactional id took over: this one must stop. */
export function isFencedError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; isErrorLike(e) && depth < 8; depth++) {
    if (typeof e.type === 'string' && FENCED.has(e.type)) return true;
    e = e.cause;
  }
  return false;
}

interface ErrorLike {
  type?: unknown;
  name?: unknown;
  message?: unknown;
  code?: unknown;
  cause?: unknown;
}

function isErrorLike(value: unknown): value is ErrorLike {
  return typeof value === 'object' && value !== null && 'message' in value;
}

export function errorMessage(error: unknown): string {
  return isErrorLike(error) && typeof error.message === 'string' ? error.message : String(error);
}
