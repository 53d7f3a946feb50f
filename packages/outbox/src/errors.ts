/** Stable error codes of @hitl/outbox. */
export const OutboxRelayErrorCode = {
  /** drain() ran out of time with rows left to publish; they stay in the outbox for the next relay. */
  timeout: 'HITL_ERR_OUTBOX_RELAY_TIMEOUT',
  /** drain() was called on a relay that runs its own loop (start()). */
  running: 'HITL_ERR_OUTBOX_RELAY_RUNNING',
  /**
   * The marker group holds the marker of another outbox (two databases configured with one
   * transactional id and marker group): logged, not thrown; see OutboxRelay.
   */
  foreignMarker: 'HITL_ERR_OUTBOX_MARKER_FOREIGN',
} as const;

export type OutboxRelayErrorCode = (typeof OutboxRelayErrorCode)[keyof typeof OutboxRelayErrorCode];

export class OutboxRelayError extends Error {
  readonly code: OutboxRelayErrorCode;

  constructor(code: OutboxRelayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutboxRelayError';
    this.code = code;
  }
}
