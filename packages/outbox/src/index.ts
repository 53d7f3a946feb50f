export { OutboxRelayError, OutboxRelayErrorCode } from './errors';
export { outboxRelayMetrics, type OutboxRelayMetrics } from './metrics';
export { encodeOutboxRows, OUTBOX_ID_HEADER } from './records';
export {
  DEFAULT_MARKER_GROUP_ID,
  DEFAULT_MARKER_TOPIC,
  DEFAULT_TRANSACTIONAL_ID,
  OutboxRelay,
  type DrainOptions,
  type OutboxRelayOptions,
} from './relay';
