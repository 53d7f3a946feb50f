import { ReviewReason } from '@hitl/contracts';
import type { ReviewQueueGroup, ReviewQueueStream } from '@hitl/db';
import type { LoadedReliability } from './reviewer-reliability';
import { getOrCreateMetric } from '@hitl/kafka';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';

const QUEUE_STATUSES = ['open', 'escalated'] as const;
/** A bound on the streams of the per-stream queue gauges: the busiest; the rest together as `other`. */
export const MAX_QUEUE_STREAMS = 50;
/** A bound on the reviewer series of the reliability gauges. */
export const MAX_RELIABILITY_SERIES = 1_000;
const REVIEW_REASONS = ReviewReason.anyOf.map((literal) => literal.const);
// A scrape must not hang on a slow database: past this the gauges keep their last values.
const QUEUE_READ_TIMEOUT_MS = 2_000;

export interface ReviewApiMetricsOptions {
  /** Reads the queue for the queue gauges at each scrape (replicas all report the same queue). */
  sampleQueue: () => Promise<ReviewQueueGroup[]>;
  /** Reads the queue by stream, for the per-stream gauges, at the same scrape. */
  sampleStreams: () => Promise<ReviewQueueStream[]>;
  logger: Logger;
}

/**
 * The review API's own metrics (the review-requests consumer's and the outbox relay's come from
 * their packages). The queue gauges are read from Postgres when scraped, so they are as fresh as
 * the scrape and the same on every replica: aggregate them with max(), not sum().
 */
export function reviewApiMetrics(registry: Registry, opts: ReviewApiMetricsOptions) {
  const registers = [registry];
  // Both queue gauges are collected in parallel at a scrape; they share one read.
  let reading: Promise<void> | undefined;
  const read = async () => {
    try {
      const [samples, streams] = await Promise.all([opts.sampleQueue(), opts.sampleStreams()]);
      // Every status and reason has a series, 0 when empty, so an alert sees an empty queue
      // rather than no data.
      for (const status of QUEUE_STATUSES) {
        for (const reason of REVIEW_REASONS) {
          queueDepth.set({ status, reason }, 0);
          queueOldestAge.set({ status, reason }, 0);
        }
      }
      for (const s of samples) {
        queueDepth.set({ status: s.status, reason: s.reason }, s.tasks);
        queueOldestAge.set({ status: s.status, reason: s.reason }, s.oldestAgeSeconds);
      }
      // A stream with no undecided task has no series; past the bound, the rest add up as other.
      streamDepth.reset();
      streamOldestAge.reset();
      for (const s of boundedStreams(streams)) {
        streamDepth.set({ stream: s.stream, status: s.status }, s.tasks);
        streamOldestAge.set({ stream: s.stream, status: s.status }, s.oldestAgeSeconds);
      }
    } catch (error) {
      opts.logger.warn({ err: error }, 'review queue metrics not refreshed');
    }
  };
  const refresh = async () => {
    reading ??= read().finally(() => (reading = undefined));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, QUEUE_READ_TIMEOUT_MS)));
    await Promise.race([reading, timeout]);
    clearTimeout(timer);
  };

  const queueDepth: Gauge<'status' | 'reason'> = getOrCreateMetric(
    registry,
    'hitl_review_queue_depth',
    () =>
      new Gauge({
        name: 'hitl_review_queue_depth',
        help: 'Review tasks not yet decided, by status (open, or escalated to an admin) and review reason; read from Postgres at each scrape.',
        labelNames: ['status', 'reason'] as const,
        registers,
        collect: refresh,
      }),
  );
  const queueOldestAge: Gauge<'status' | 'reason'> = getOrCreateMetric(
    registry,
    'hitl_review_queue_oldest_age_seconds',
    () =>
      new Gauge({
        name: 'hitl_review_queue_oldest_age_seconds',
        help: 'Age of the oldest undecided review task since it was requested (0 when none), by status and review reason; read from Postgres at each scrape.',
        labelNames: ['status', 'reason'] as const,
        registers,
        collect: refresh,
      }),
  );
  const streamDepth: Gauge<'stream' | 'status'> = getOrCreateMetric(
    registry,
    'hitl_review_queue_stream_depth',
    () =>
      new Gauge({
        name: 'hitl_review_queue_stream_depth',
        help: `Review tasks not yet decided, by stream and status; read from Postgres at each scrape. The ${MAX_QUEUE_STREAMS} streams with the most such tasks each have their own series, the rest add up under stream="other"; a stream with none has no series.`,
        labelNames: ['stream', 'status'] as const,
        registers,
        collect: refresh,
      }),
  );
  const streamOldestAge: Gauge<'stream' | 'status'> = getOrCreateMetric(
    registry,
    'hitl_review_queue_stream_oldest_age_seconds',
    () =>
      new Gauge({
        name: 'hitl_review_queue_stream_oldest_age_seconds',
        help: `Age of the oldest undecided review task of each stream, by status (the streams as in hitl_review_queue_stream_depth; other: the oldest of the rest); read from Postgres at each scrape.`,
        labelNames: ['stream', 'status'] as const,
        registers,
        collect: refresh,
      }),
  );
  const reviewerAccuracy: Gauge<'reviewer' | 'stream'> = getOrCreateMetric(
    registry,
    'hitl_reviewer_estimated_accuracy',
    () =>
      new Gauge({
        name: 'hitl_reviewer_estimated_accuracy',
        help: `Each reviewer's estimated accuracy per stream, from gold tasks and tasks several people answered (the newest reliability estimate; the same on every replica). At most ${MAX_RELIABILITY_SERIES} series: the least accurate first.`,
        labelNames: ['reviewer', 'stream'] as const,
        registers,
      }),
  );
  const reviewerFlagged: Gauge<'reviewer'> = getOrCreateMetric(
    registry,
    'hitl_reviewer_flagged',
    () =>
      new Gauge({
        name: 'hitl_reviewer_flagged',
        help: `1 for a reviewer estimated less accurate than RELIABILITY_FLAG_BELOW on some stream, else 0. At most ${MAX_RELIABILITY_SERIES} series: flagged reviewers first.`,
        labelNames: ['reviewer'] as const,
        registers,
      }),
  );
  return {
    queueDepth,
    queueOldestAge,
    /** Sets the reliability gauges from a newly loaded estimate. */
    setReliability(estimate: LoadedReliability, flagBelow: number) {
      const rows = [...estimate.streams.values()]
        .flatMap((s) => s.reviewers.map((r) => ({ stream: s.stream, ...r })))
        .sort((a, b) => a.accuracy - b.accuracy);
      reviewerAccuracy.reset();
      for (const r of rows.slice(0, MAX_RELIABILITY_SERIES)) {
        reviewerAccuracy.set({ reviewer: r.reviewerId, stream: r.stream }, r.accuracy);
      }
      const flagged = new Map<string, number>();
      for (const r of rows)
        flagged.set(r.reviewerId, Math.max(flagged.get(r.reviewerId) ?? 0, r.accuracy < flagBelow ? 1 : 0));
      reviewerFlagged.reset();
      for (const [reviewer, value] of [...flagged]
        .sort((a, b) => b[1] - a[1])
        .slice(0, MAX_RELIABILITY_SERIES)) {
        reviewerFlagged.set({ reviewer }, value);
      }
    },
    decisions: getOrCreateMetric(
      registry,
      'hitl_review_decisions_total',
      () =>
        new Counter({
          name: 'hitl_review_decisions_total',
          help: 'Review tasks decided by this replica, by who decided (human: the reviewers, or an admin on escalation) and review reason. Model decisions are the router\'s hitl_router_routed_total{outcome="decision"}.',
          labelNames: ['decided_by', 'reason'] as const,
          registers,
        }),
    ),
    rescoreRequests: getOrCreateMetric(
      registry,
      'hitl_review_rescore_requests_total',
      () =>
        new Counter({
          name: 'hitl_review_rescore_requests_total',
          help: 'Waiting review tasks this replica sent to inference to be scored again, after a promotion or rollback.',
          registers,
        }),
    ),
    rescored: getOrCreateMetric(
      registry,
      'hitl_review_rescored_total',
      () =>
        new Counter({
          name: 'hitl_review_rescored_total',
          help: 'New predictions for waiting review tasks, by outcome: decided (the model in force was sure: a model decision with reason rescored), requeued (still unsure: new prediction and priority), held (sure, but a reviewer holds the task), kept (audit sample or class rule: people decide), or closed (already answered or decided).',
          labelNames: ['outcome'] as const,
          registers,
        }),
    ),
    groupDecisions: getOrCreateMetric(
      registry,
      'hitl_review_group_decisions_total',
      () =>
        new Counter({
          name: 'hitl_review_group_decisions_total',
          help: 'Review tasks this replica closed through their exact-duplicate group, by review reason: the human decision of another task with the same normalised input decided them, with no answer of their own and no correction. Also counted in hitl_review_decisions_total.',
          labelNames: ['reason'] as const,
          registers,
        }),
    ),
    corrections: getOrCreateMetric(
      registry,
      'hitl_review_corrections_total',
      () =>
        new Counter({
          name: 'hitl_review_corrections_total',
          help: "Corrections written by this replica, by review reason and outcome: agreed (the humans chose the model's label), overturned, or no_model. With reason audit_sample they measure the model's accuracy on what it decides alone.",
          labelNames: ['reason', 'outcome'] as const,
          registers,
        }),
    ),
  };
}

export type ReviewApiMetrics = ReturnType<typeof reviewApiMetrics>;

/**
 * The per-stream queue rows within MAX_QUEUE_STREAMS streams: those with the most undecided tasks
 * (ties by name) keep their own, the rest are added up under `other` (tasks summed, the oldest age).
 */
export function boundedStreams(
  rows: readonly ReviewQueueStream[],
  max = MAX_QUEUE_STREAMS,
): ReviewQueueStream[] {
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(r.stream, (totals.get(r.stream) ?? 0) + r.tasks);
  const kept = new Set(
    [...totals]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, max)
      .map(([stream]) => stream),
  );
  const out = rows.filter((r) => kept.has(r.stream));
  const rest = new Map<ReviewQueueStream['status'], ReviewQueueStream>();
  for (const r of rows) {
    if (kept.has(r.stream)) continue;
    const o = rest.get(r.status) ?? { stream: 'other', status: r.status, tasks: 0, oldestAgeSeconds: 0 };
    o.tasks += r.tasks;
    o.oldestAgeSeconds = Math.max(o.oldestAgeSeconds, r.oldestAgeSeconds);
    rest.set(r.status, o);
  }
  return [...out, ...rest.values()];
}
