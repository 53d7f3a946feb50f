import { getOrCreateMetric } from '@hitl/kafka';
import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * The bound on `stream` label values: the first MAX_STREAM_LABELS registered streams by id each
 * get a series of their own; every registered stream past them is counted under OTHER_STREAMS_LABEL,
 * and predictions of streams the registry does not have (routed by POLICY_NAME) under
 * UNREGISTERED_STREAM_LABEL. A registered stream named like one of these shares its series.
 */
export const MAX_STREAM_LABELS = 50;
export const OTHER_STREAMS_LABEL = 'other';
export const UNREGISTERED_STREAM_LABEL = 'unregistered';

/**
 * The `stream` label value of each registered stream: its id for the first `max` ids in order,
 * OTHER_STREAMS_LABEL for the rest. A stream added past the bound therefore takes no new series,
 * and one added before it in id order can push the last of the first `max` into `other`.
 */
export function streamLabels(ids: readonly string[], max = MAX_STREAM_LABELS): Map<string, string> {
  const sorted = [...ids].sort();
  return new Map(sorted.map((id, i) => [id, i < max ? id : OTHER_STREAMS_LABEL]));
}

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
          help: `Predictions routed: outcome decision (the model decides) or review, by reason, predicted class and stream (the first ${MAX_STREAM_LABELS} registered streams by id; "${OTHER_STREAMS_LABEL}" the rest; "${UNREGISTERED_STREAM_LABEL}" those the registry lacks, routed by POLICY_NAME).`,
          labelNames: ['outcome', 'reason', 'class', 'stream'] as const,
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
          help: 'Version in force of each routing policy the router uses: POLICY_NAME and the policies of registered streams.',
          labelNames: ['policy'] as const,
          registers,
        }),
    ),
  };
}

export type RouterMetrics = ReturnType<typeof routerMetrics>;
