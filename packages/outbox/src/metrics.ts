import { getOrCreateMetric } from '@hitl/kafka';
import { Counter, Gauge, type Registry } from 'prom-client';

/** The relay's metrics; relays sharing a registry share the series. */
export function outboxRelayMetrics(registry: Registry) {
  const registers = [registry];
  return {
    published: getOrCreateMetric(
      registry,
      'hitl_outbox_published_total',
      () =>
        new Counter({
          name: 'hitl_outbox_published_total',
          help: 'Outbox rows published to Kafka (in committed transactions), by topic.',
          labelNames: ['topic'] as const,
          registers,
        }),
    ),
    pending: getOrCreateMetric(
      registry,
      'hitl_outbox_pending',
      () =>
        new Gauge({
          name: 'hitl_outbox_pending',
          help: 'Outbox rows not yet published, as last seen by this relay.',
          registers,
        }),
    ),
    oldestPending: getOrCreateMetric(
      registry,
      'hitl_outbox_oldest_pending_seconds',
      () =>
        new Gauge({
          name: 'hitl_outbox_oldest_pending_seconds',
          help: 'Age of the oldest unpublished outbox row (0 when none), as last seen by this relay.',
          registers,
        }),
    ),
    leader: getOrCreateMetric(
      registry,
      'hitl_outbox_relay_leader',
      () =>
        new Gauge({
          name: 'hitl_outbox_relay_leader',
          help: '1 while this relay is the one publishing the outbox, 0 while it stands by.',
          registers,
        }),
    ),
  };
}

export type OutboxRelayMetrics = ReturnType<typeof outboxRelayMetrics>;
