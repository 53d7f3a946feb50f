// How the model learns, as the review API sees it: the model's own decisions per minute, counted
// from hitl.decisions.v1 (the router publishes them straight to Kafka, so they never pass through
// review_tasks), beside the people's decisions, the audit sample's verdict and the promotions.
//
// The counts are a read-only view, so the consumer never dead-letters: a record it cannot read is
// skipped and counted in a metric. Each record is counted exactly once: one Postgres transaction
// per batch adds the batch's counts and moves the partition's next offset, and a record below the
// stored next offset (a batch delivered again after a crash between that commit and the Kafka
// offset commit, or read by another group) is skipped.
import type { Learning } from '@hitl/api-contract';
import { createValidator, topics } from '@hitl/contracts';
import { withTransaction } from '@hitl/db';
import {
  DeadLetterCodes,
  LagMonitor,
  backoffDelay,
  consumerMetrics,
  errorMessage,
  getOrCreateMetric,
  sleep,
  type ConsumerMetrics,
} from '@hitl/kafka';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';

const MINUTE_MS = 60_000;
/** The bucket sizes the learning view chooses from, in minutes, smallest first: up to a day. */
export const BUCKET_MINUTES = [1, 5, 15, 60, 360, 1440] as const;
/** At most this many buckets from the first activity in the window to its end. */
export const MAX_BUCKETS = 200;
/** A decision record is a few hundred bytes; one far larger is not read at all. */
const MAX_RECORD_BYTES = 1024 * 1024;
/** Undecodable records logged per batch, each with its reason cut to this many characters. */
const MAX_LOGGED_PER_BATCH = 5;
const MAX_LOGGED_REASON = 300;
// decidedAt outside these years is no time a decision was made, and Postgres refuses some of
// what JavaScript dates take: such a record is undecodable rather than a batch that never commits.
const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(10_000, 0, 1);

/** One counted decision: the model that made it and the start of its UTC minute. */
interface Counted {
  offset: bigint;
  minute: number;
  modelId: string;
  version: number;
}

type Read =
  | { kind: 'model'; decision: Counted }
  | { kind: 'other'; offset: bigint }
  | { kind: 'undecodable'; offset: bigint; code: string; reason: string };

const validator = createValidator(topics.decisions.schema);

/** What a decisions record contributes to the counts; exported for the tests. */
export function readDecision(message: Pick<KafkaMessage, 'offset' | 'value'>): Read {
  const offset = BigInt(message.offset);
  const bad = (code: string, reason: string): Read => ({ kind: 'undecodable', offset, code, reason });
  const { value } = message;
  if (value === null || value.length === 0) return bad(DeadLetterCodes.decode, 'empty record value');
  if (value.length > MAX_RECORD_BYTES) {
    return bad(DeadLetterCodes.oversize, `record is ${value.length} bytes, over ${MAX_RECORD_BYTES}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    return bad(DeadLetterCodes.decode, `not JSON: ${errorMessage(error)}`);
  }
  if (!validator.check(parsed)) {
    const issues = validator.issues(parsed, 3).map((i) => `${i.path}: ${i.message}`);
    return bad(DeadLetterCodes.schema, `not a decision: ${issues.join('; ')}`);
  }
  const { data } = parsed;
  if (data.decidedBy !== 'model') return { kind: 'other', offset };
  if (data.model === null) return bad(DeadLetterCodes.schema, 'a model decision without a model');
  const at = Date.parse(data.decidedAt);
  if (!(at >= EARLIEST && at < LATEST)) {
    return bad(DeadLetterCodes.schema, `decidedAt ${JSON.stringify(data.decidedAt)} is out of range`);
  }
  return {
    kind: 'model',
    decision: {
      offset,
      minute: Math.floor(at / MINUTE_MS) * MINUTE_MS,
      modelId: data.model.id,
      version: data.model.version,
    },
  };
}

/**
 * Adds the model decisions of one batch of a partition to model_decision_counts, skipping what an
 * earlier transaction already counted, and moves the partition's next offset past `last`. Returns
 * the records that were new (at or past the stored next offset).
 */
export async function countDecisions(
  pool: Pool,
  topic: string,
  partition: number,
  reads: readonly Read[],
  last: bigint,
): Promise<{ fresh: Read[] }> {
  return withTransaction(pool, async (client) => {
    // The row lock serialises two consumers on one partition (a rebalance, or two groups), so
    // the check below and the additions are one step.
    await client.query(
      `INSERT INTO model_decision_count_offsets (topic, "partition", next_offset) VALUES ($1, $2, 0)
       ON CONFLICT DO NOTHING`,
      [topic, partition],
    );
    const { rows } = await client.query<{ next_offset: string }>(
      `SELECT next_offset FROM model_decision_count_offsets WHERE topic = $1 AND "partition" = $2 FOR UPDATE`,
      [topic, partition],
    );
    const stored = BigInt(rows[0]!.next_offset);
    const fresh = reads.filter((r) => (r.kind === 'model' ? r.decision.offset : r.offset) >= stored);
    const sums = new Map<string, { minute: number; modelId: string; version: number; n: number }>();
    for (const r of fresh) {
      if (r.kind !== 'model') continue;
      const { minute, modelId, version } = r.decision;
      const key = JSON.stringify([minute, modelId, version]);
      const sum = sums.get(key) ?? { minute, modelId, version, n: 0 };
      sum.n++;
      sums.set(key, sum);
    }
    if (sums.size > 0) {
      const list = [...sums.values()];
      await client.query(
        `INSERT INTO model_decision_counts (minute, model_id, model_version, decisions)
         SELECT to_timestamp(t / 1000.0), m, v, n
           FROM unnest($1::float8[], $2::text[], $3::int[], $4::bigint[]) AS u (t, m, v, n)
         ON CONFLICT (minute, model_id, model_version)
         DO UPDATE SET decisions = model_decision_counts.decisions + excluded.decisions`,
        [
          list.map((s) => s.minute),
          list.map((s) => s.modelId),
          list.map((s) => s.version),
          list.map((s) => s.n),
        ],
      );
    }
    if (last + 1n > stored) {
      await client.query(
        `UPDATE model_decision_count_offsets SET next_offset = $3, updated_at = now()
          WHERE topic = $1 AND "partition" = $2`,
        [topic, partition, (last + 1n).toString()],
      );
    }
    return { fresh };
  });
}

export interface LearningConsumerOptions {
  kafka: Kafka;
  pool: Pool;
  groupId: string;
  topic: string;
  logger: Logger;
  registry: Registry;
  /** How often the group's lag is sampled into hitl_consumer_lag (default 10 s; 0: never). */
  lagIntervalMs?: number;
}

/** Counts the model's decisions on the decisions topic into Postgres, per UTC minute. */
export class LearningConsumer {
  private readonly consumer: Consumer;
  private readonly log: Logger;
  private readonly metrics: ConsumerMetrics;
  private readonly undecodable: Counter<'topic' | 'group' | 'code'>;
  private readonly lagMonitor: LagMonitor | undefined;
  private readonly abort = new AbortController();
  private running = false;
  /** Since when a batch has kept failing to commit to Postgres (performance.now()), if it has. */
  private failingSince: number | undefined;
  private removeStallSource = (): void => {};

  constructor(private readonly options: LearningConsumerOptions) {
    const { kafka, groupId, topic, registry } = options;
    this.log = options.logger.child({ component: 'learning', topic, groupId });
    // read_committed: records of aborted transactions (a router's failed batch) never happened.
    this.consumer = kafka.consumer({
      groupId,
      readUncommitted: false,
      maxWaitTimeInMs: 1_000,
      sessionTimeout: 10_000,
      heartbeatInterval: 2_000,
    });
    this.metrics = consumerMetrics(registry);
    this.undecodable = getOrCreateMetric(
      registry,
      'hitl_review_learning_undecodable_total',
      () =>
        new Counter({
          name: 'hitl_review_learning_undecodable_total',
          help: 'Records of the decisions topic the learning counts skipped as unreadable (not JSON, not a decision, too large), by code. Not dead-lettered: the counts are a read-only view.',
          labelNames: ['topic', 'group', 'code'] as const,
          registers: [registry],
        }),
    );
    const lagIntervalMs = options.lagIntervalMs ?? 10_000;
    this.lagMonitor =
      lagIntervalMs > 0
        ? new LagMonitor({
            kafka,
            groupId,
            topic,
            gauge: this.metrics.lag,
            intervalMs: lagIntervalMs,
            logger: this.log,
          })
        : undefined;
  }

  async start(): Promise<void> {
    this.running = true;
    await this.consumer.connect();
    // From the log start for a new group: every decision still on the topic is counted once.
    await this.consumer.subscribe({ topic: this.options.topic, fromBeginning: true });
    await this.lagMonitor?.start();
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      this.log.error({ err: payload.error, restart: payload.restart }, 'learning counts consumer crashed');
    });
    this.removeStallSource = this.metrics.addStallSource(() => ({
      labels: { topic: this.options.topic, group: this.options.groupId },
      seconds:
        this.running && this.failingSince !== undefined
          ? (performance.now() - this.failingSince) / 1000
          : null,
    }));
    await this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    this.log.info('learning counts consumer started');
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    // kafkajs hands these as plain closures (its docs destructure them); they do not use `this`.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const { batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary } = payload;
    const last = batch.messages[batch.messages.length - 1];
    if (!last) return;
    const reads = batch.messages.map(readDecision);
    const live = () => this.running && isRunning() && !isStale();
    let fresh: Read[] | undefined;
    for (let attempt = 1; live(); attempt++) {
      try {
        ({ fresh } = await countDecisions(
          this.options.pool,
          batch.topic,
          batch.partition,
          reads,
          BigInt(last.offset),
        ));
        break;
      } catch (error) {
        // Postgres away or too slow: wait and try again; the batch is not lost, only late.
        this.failingSince ??= performance.now();
        this.log.warn(
          { err: error, partition: batch.partition, attempt },
          'learning counts not stored; retrying',
        );
        await sleep(backoffDelay(attempt, { initialMs: 500, maxMs: 30_000 }), this.abort.signal);
        await heartbeat().catch(() => undefined);
      }
    }
    // Stopping or rebalanced before the counts were stored: the batch comes again.
    if (!fresh) return;
    this.failingSince = undefined;
    this.report(batch.topic, batch.partition, reads.length, fresh);
    resolveOffset(last.offset);
    try {
      // Now rather than on a timer, so the group's lag reads zero when it is caught up. A failure
      // costs nothing but a redelivery, which the stored offset turns into a no-op.
      await commitOffsetsIfNecessary({
        topics: [
          {
            topic: batch.topic,
            partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }],
          },
        ],
      });
    } catch (error) {
      this.log.info({ err: error, partition: batch.partition }, 'learning offsets not committed to Kafka');
    }
  }

  private report(topic: string, partition: number, total: number, fresh: Read[]): void {
    const group = this.options.groupId;
    const bad = fresh.filter((r) => r.kind === 'undecodable');
    for (const r of bad) this.undecodable.inc({ topic, group, code: r.code });
    this.metrics.records.inc({ topic, group, outcome: 'processed' }, fresh.length - bad.length);
    if (bad.length > 0) {
      this.log.warn(
        {
          partition,
          undecodable: bad.length,
          examples: bad.slice(0, MAX_LOGGED_PER_BATCH).map((r) => ({
            offset: r.offset.toString(),
            code: r.code,
            reason: r.reason.slice(0, MAX_LOGGED_REASON),
          })),
        },
        'decision records skipped by the learning counts',
      );
    }
    if (fresh.length < total) {
      this.log.info({ partition, skipped: total - fresh.length }, 'records already counted, skipped');
    }
  }

  /** Leaves the group; a batch being stored finishes first, one waiting to retry gives up. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.removeStallSource();
    await this.consumer.disconnect();
    await this.lagMonitor?.stop();
  }
}

/**
 * The bucket size (minutes) for activity from `firstMs` to `toMs`: the smallest of BUCKET_MINUTES
 * that gives at most MAX_BUCKETS buckets, counting every bucket (aligned to the Unix epoch, as the
 * query bins them) from the one holding `firstMs` to the one holding `toMs`.
 */
export function chooseBucketMinutes(firstMs: number, toMs: number): number {
  for (const minutes of BUCKET_MINUTES) {
    const size = minutes * MINUTE_MS;
    if (Math.floor(toMs / size) - Math.floor(firstMs / size) + 1 <= MAX_BUCKETS) return minutes;
  }
  return BUCKET_MINUTES[BUCKET_MINUTES.length - 1]!;
}

/**
 * The learning view over the last `days` days up to now (from the start of that UTC minute, the
 * counts' own grain, so the model's counts and the people's cover the same time): per bucket, the
 * model's decisions (from the counts above, every model), the tasks people decided, the
 * audit-sample tasks the model had labelled and how many of those people agreed with; and the
 * promotions of `modelId`. The buckets are as small as the span from the first activity in the
 * window to now allows (chooseBucketMinutes): a replay of a few minutes is drawn per minute, weeks
 * of traffic per 6 hours or per day.
 */
export async function learningView(pool: Pool, modelId: string, days: number): Promise<Learning> {
  // The window and its first activity, each side by its index (the counts' primary key, and
  // review_tasks_decided_idx); least() passes over a side without any.
  const { rows: window } = await pool.query<{ from: Date; to: Date; first: Date | null }>(
    `SELECT w."from", w."to",
            least((SELECT min(minute) FROM model_decision_counts
                    WHERE minute >= w."from" AND minute <= w."to"),
                  (SELECT min(decided_at) FROM review_tasks
                    WHERE status = 'decided' AND decided_by = 'human'
                      AND decided_at >= w."from" AND decided_at <= w."to")) AS first
       FROM (SELECT date_trunc('minute', now() - make_interval(days => $1), 'UTC') AS "from",
                    now() AS "to") w`,
    [days],
  );
  const { from, to, first } = window[0]!;
  const bucketMinutes = chooseBucketMinutes((first ?? from).getTime(), to.getTime());
  const [points, promotions] = await Promise.all([
    pool.query<{
      start: Date;
      model_decisions: string;
      human_decisions: string;
      audited: string;
      audited_correct: string;
    }>(
      // Both sides binned alike, from the Unix epoch (a day bucket starts at midnight UTC). The
      // counts have a row per minute and model version in use: a replay's few minutes, or a row a
      // minute of steady traffic.
      `WITH human AS (
         SELECT date_bin(make_interval(mins => $3), decided_at, timestamptz '1970-01-01 00:00:00+00') AS start,
                count(*) AS human_decisions,
                count(*) FILTER (WHERE reason = 'audit_sample' AND predicted_label IS NOT NULL) AS audited,
                count(*) FILTER (WHERE reason = 'audit_sample' AND predicted_label IS NOT NULL
                                   AND final_label = predicted_label) AS audited_correct
           FROM review_tasks
          WHERE status = 'decided' AND decided_by = 'human' AND decided_at >= $1 AND decided_at <= $2
          GROUP BY 1),
       model AS (
         SELECT date_bin(make_interval(mins => $3), minute, timestamptz '1970-01-01 00:00:00+00') AS start,
                sum(decisions) AS model_decisions
           FROM model_decision_counts
          WHERE minute >= $1 AND minute <= $2
          GROUP BY 1)
       SELECT coalesce(h.start, m.start) AS start,
              coalesce(m.model_decisions, 0) AS model_decisions,
              coalesce(h.human_decisions, 0) AS human_decisions,
              coalesce(h.audited, 0) AS audited,
              coalesce(h.audited_correct, 0) AS audited_correct
         FROM human h FULL JOIN model m ON m.start = h.start
        WHERE coalesce(m.model_decisions, 0) > 0 OR coalesce(h.human_decisions, 0) > 0
        ORDER BY 1`,
      [from, to, bucketMinutes],
    ),
    pool.query<{ version: number; at: Date }>(
      `SELECT version, at FROM model_events
        WHERE model_id = $1 AND event = 'promoted' AND at >= $2 AND at <= $3
        ORDER BY at, id`,
      [modelId, from, to],
    ),
  ]);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    bucketMinutes,
    points: points.rows.map((r) => ({
      start: r.start.toISOString(),
      modelDecisions: Number(r.model_decisions),
      humanDecisions: Number(r.human_decisions),
      audited: Number(r.audited),
      auditedCorrect: Number(r.audited_correct),
    })),
    promotions: promotions.rows.map((r) => ({ version: r.version, promotedAt: r.at.toISOString() })),
  };
}
