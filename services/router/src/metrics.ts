import { getOrCreateMetric } from '@hitl/kafka';
import { Counter, Gauge, type Registry } from 'prom-client';

/** The router's own metrics (consumer lag and record counts come from @hitl/kafka). */
export function routerMetrics(registry: Registry) {
  const registers = [registry];
  return {
    routed: getOrCreateMetric(
      registry,
      'hitl_router_routed_total',
      () =>
        new Counter({
          name: 'hitl_router_routed_total',
          help: 'Predictions routed: outcome decision (the model decides) or review, by reason and predicted class.',
          labelNames: ['outcome', 'reason', 'class'] as const,
          registers,
        }),
    ),
    repeats: getOrCreateMetric(
      registry,
      'hitl_router_repeats_total',
      () =>
        new Counter({
          name: 'hitl_router_repeats_total',
          help: 'Predictions dropped because their event id was already routed from another record.',
          registers,
        }),
    ),
    policyVersion: getOrCreateMetric(
      registry,
      'hitl_router_policy_version',
      () =>
        new Gauge({
          name: 'hitl_router_policy_version',
          help: 'Version of the routing policy in force.',
          labelNames: ['policy'] as const,
          registers,
        }),
    ),
  };
}

export type RouterMetrics = ReturnType<typeof routerMetrics>;
