import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The metric of that name in the registry, created on first use (so two users share one series). */
export function getOrCreateMetric<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

/** What a consumer says about itself when the stall gauge is read; seconds null: not running. */
export type StallSource = () => { labels: { topic: string; group: string }; seconds: number | null };

// The consumers whose stall each registry's gauge reports, read when the registry is collected.
const stallSources = new WeakMap<Registry, Set<StallSource>>();

/** The metrics every consumer reports; shared by all consumers of one registry. */
export function consumerMetrics(registry: Registry) {
  const registers = [registry];
  let sources = stallSources.get(registry);
  if (!sources) {
    sources = new Set();
    stallSources.set(registry, sources);
  }
  const mine = sources;
  const stalled = getOrCreateMetric(
    registry,
    'hitl_consumer_stalled_seconds',
    () =>
      new Gauge({
        name: 'hitl_consumer_stalled_seconds',
        help: 'How long the consumer has gone without progress on a partition whose record or commit keeps failing (0: none).',
        labelNames: ['topic', 'group'] as const,
        registers,
        collect() {
          this.reset();
          for (const source of mine) {
            const { labels, seconds } = source();
            if (seconds !== null) this.set(labels, seconds);
          }
        },
      }),
  );
  return {
    stalled,
    /** Reports a consumer's stall in hitl_consumer_stalled_seconds while it runs. */
    addStallSource(source: StallSource): () => void {
      mine.add(source);
      return () => mine.delete(source);
    },
    records: getOrCreateMetric(
      registry,
      'hitl_consumer_records_total',
      () =>
        new Counter({
          name: 'hitl_consumer_records_total',
          help: 'Records consumed, by outcome (processed or dead_lettered).',
          labelNames: ['topic', 'group', 'outcome'] as const,
          registers,
        }),
    ),
    deadLetters: getOrCreateMetric(
      registry,
      'hitl_consumer_dead_letters_total',
      () =>
        new Counter({
          name: 'hitl_consumer_dead_letters_total',
          help: 'Records sent to the dead-letter topic, by error code.',
          labelNames: ['topic', 'group', 'code'] as const,
          registers,
        }),
    ),
    retries: getOrCreateMetric(
      registry,
      'hitl_consumer_retries_total',
      () =>
        new Counter({
          name: 'hitl_consumer_retries_total',
          help: 'Handler retries: kind=handler for a failing record, kind=transient while a dependency is down.',
          labelNames: ['topic', 'group', 'kind'] as const,
          registers,
        }),
    ),
    waiting: getOrCreateMetric(
      registry,
      'hitl_consumer_waiting_on_dependency',
      () =>
        new Gauge({
          name: 'hitl_consumer_waiting_on_dependency',
          help: '1 while consumption is held back because Kafka or the database is unavailable.',
          labelNames: ['topic', 'group'] as const,
          registers,
        }),
    ),
    batchDuration: getOrCreateMetric(
      registry,
      'hitl_consumer_batch_duration_seconds',
      () =>
        new Histogram({
          name: 'hitl_consumer_batch_duration_seconds',
          help: 'Time to process one fetched batch, dead-lettering and retries included.',
          labelNames: ['topic', 'group'] as const,
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers,
        }),
    ),
    lag: getOrCreateMetric(
      registry,
      'hitl_consumer_lag',
      () =>
        new Gauge({
          name: 'hitl_consumer_lag',
          help: 'Records on the partition not yet committed by the consumer group.',
          labelNames: ['topic', 'partition', 'group'] as const,
          registers,
        }),
    ),
  };
}

export type ConsumerMetrics = ReturnType<typeof consumerMetrics>;
