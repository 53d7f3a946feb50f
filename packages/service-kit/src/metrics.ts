import { collectDefaultMetrics, Registry } from 'prom-client';

// Re-exported so services build metrics against the same prom-client instance as the registry.
export { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface CreateMetricsRegistryOptions {
  /** Added as the `service` label on every series. */
  service: string;
  /** Prefix for the default process metrics, e.g. `hitl_`. */
  prefix?: string;
  /** Default process metrics (CPU, memory, event loop lag, GC); on unless false. */
  defaultMetrics?: boolean;
}

/** A registry of its own rather than prom-client's global one, so tests and services never share series. */
export function createMetricsRegistry(opts: CreateMetricsRegistryOptions): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: opts.service });
  if (opts.defaultMetrics !== false) {
    collectDefaultMetrics({
      register: registry,
      ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
    });
  }
  return registry;
}
