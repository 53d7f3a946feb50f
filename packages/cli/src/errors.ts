/** Stable error codes of the hitl command, besides those of @hitl/db and @hitl/model it reports. */
export const CliErrorCode = {
  fileUnreadable: 'HITL_ERR_FILE_UNREADABLE',
  schemaMissing: 'HITL_ERR_SCHEMA_MISSING',
  outboxRelay: 'HITL_ERR_OUTBOX_RELAY',
  kafkaUnavailable: 'HITL_ERR_KAFKA_UNAVAILABLE',
  dlqTopicMissing: 'HITL_ERR_DLQ_TOPIC_MISSING',
  dlqReadStalled: 'HITL_ERR_DLQ_READ_STALLED',
  /** Some selected dead letters were refused; each one's line carries its HITL_ERR_DLQ_* reason. */
  dlqRefused: 'HITL_ERR_DLQ_REFUSED',
} as const;

export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** sysexits(3) codes, so scripts can tell a typo from bad data from an unreachable server. */
export const ExitCode = {
  ok: 0,
  software: 1,
  usage: 64,
  dataError: 65,
  noInput: 66,
  unavailable: 69,
  config: 78,
} as const;

export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: number;

  constructor(code: CliErrorCode, message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}
