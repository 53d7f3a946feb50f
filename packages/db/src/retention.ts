// Retention: what may be deleted once it has served its purpose, in small batches that each commit
// on their own, so pruning never holds locks for long nor one transaction open for the whole run.
//
// - outbox: rows stamped published before the cutoff. The relay reads only unpublished rows
//   (published_at IS NULL) and numbers its batches from the Kafka marker, not from the table, so a
//   published row is never read again; an unpublished row, claimed or not, is never deleted.
// - review_idempotency: a submit's stored response. A retry with the same key after the cutoff is
//   treated as a new submit (and is answered 409: the answer is already recorded).
// - review_tasks' leases: a decision clears its task's lease, so a decided task holds none; an
//   undecided task keeps the pair of a lease that ran out until it is claimed again. Only those
//   columns are cleared. A decided task (and its answers) is never deleted: it is the record of the
//   decision, who made it, under which policy, that hitl.decisions.v1 and the audits refer to.
// - model_decision_counts: the review API's per-minute counts of the model's decisions, read only by
//   GET /v1/admin/learning, whose window is at most 90 days. Their offsets
//   (model_decision_count_offsets, a row per partition) are kept: they stop a recount.
// - routed_events: the router's first sighting of each event id. A repeat of an event id pruned
//   here is routed as a new event.
// Kept on purpose: dlq_redrives (a row is what stops a dead letter, still on the dead-letter topic,
// from being sent back twice), training_runs and training_requests (a row per training: the
// history operators read), labelled_examples (the training data), model and policy versions.
import type { Queryable } from './outbox';

export interface RetentionOptions {
  /** Published outbox rows older than this (since published) are deleted. */
  outboxDays: number;
  /** Idempotency records older than this are deleted. */
  idempotencyDays: number;
  /** Leases of undecided tasks that ran out longer ago than this are cleared. */
  expiredLeaseHours: number;
  /** Per-minute counts of model decisions for minutes older than this are deleted. */
  learningCountDays: number;
  /** The router's record of routed event ids older than this is deleted. */
  routedEventDays: number;
  /** Rows per statement. */
  batchSize: number;
  /** Called after each batch, with the table and its running count. */
  onBatch?: (progress: { table: RetentionTable; rows: number; total: number }) => void;
}

export type RetentionTable =
  'outbox' | 'review_idempotency' | 'review_task_leases' | 'model_decision_counts' | 'routed_events';

/** What one pruning run removed (cleared, for leases), per table, and the cutoffs it used. */
export interface RetentionResult {
  outbox: number;
  reviewIdempotency: number;
  reviewTaskLeases: number;
  modelDecisionCounts: number;
  routedEvents: number;
  cutoffs: {
    outbox: Date;
    reviewIdempotency: Date;
    reviewTaskLeases: Date;
    modelDecisionCounts: Date;
    routedEvents: Date;
  };
}

// Each statement picks a batch with SKIP LOCKED: rows another transaction holds (a relay stamping,
// a reviewer claiming) are left for the next run instead of waited for. The outer condition is
// repeated so a row changed since it was picked is judged on its current version.
const STATEMENTS: Record<RetentionTable, string> = {
  outbox: `DELETE FROM outbox WHERE id IN (
             SELECT id FROM outbox WHERE published_at IS NOT NULL AND published_at < $1
              ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
           AND published_at IS NOT NULL AND published_at < $1`,
  review_idempotency: `DELETE FROM review_idempotency WHERE (reviewer_id, key) IN (
             SELECT reviewer_id, key FROM review_idempotency WHERE created_at < $1
              LIMIT $2 FOR UPDATE SKIP LOCKED)
           AND created_at < $1`,
  // status <> 'decided' lets the queue's partial index find the candidates.
  review_task_leases: `UPDATE review_tasks SET lease_owner = NULL, lease_expires_at = NULL
            WHERE event_id IN (
             SELECT event_id FROM review_tasks WHERE status <> 'decided' AND lease_expires_at < $1
              LIMIT $2 FOR UPDATE SKIP LOCKED)
           AND lease_expires_at < $1`,
  model_decision_counts: `DELETE FROM model_decision_counts WHERE (minute, model_id, model_version) IN (
             SELECT minute, model_id, model_version FROM model_decision_counts WHERE minute < $1
              LIMIT $2 FOR UPDATE SKIP LOCKED)
           AND minute < $1`,
  routed_events: `DELETE FROM routed_events WHERE event_id IN (
             SELECT event_id FROM routed_events WHERE routed_at < $1
              LIMIT $2 FOR UPDATE SKIP LOCKED)
           AND routed_at < $1`,
};

function positiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

async function pruneTable(
  q: Queryable,
  table: RetentionTable,
  cutoff: Date,
  opts: RetentionOptions,
): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await q.query(STATEMENTS[table], [cutoff, opts.batchSize]);
    const rows = rowCount ?? 0;
    total += rows;
    if (rows > 0) opts.onBatch?.({ table, rows, total });
    // A short batch means nothing else was due (or the rest is locked: the next run takes it).
    if (rows < opts.batchSize) return total;
  }
}

/**
 * Deletes published outbox rows, idempotency records and per-minute model decision counts past their
 * retention and clears run-out leases, a batch per statement; returns the counts. Give it a pool: each batch commits at once.
 * The cutoffs are taken from the database's clock once, at the start.
 */
export async function pruneRetention(q: Queryable, opts: RetentionOptions): Promise<RetentionResult> {
  positiveInteger('outboxDays', opts.outboxDays);
  positiveInteger('idempotencyDays', opts.idempotencyDays);
  positiveInteger('expiredLeaseHours', opts.expiredLeaseHours);
  positiveInteger('learningCountDays', opts.learningCountDays);
  positiveInteger('routedEventDays', opts.routedEventDays);
  positiveInteger('batchSize', opts.batchSize);
  const { rows } = await q.query<{
    outbox: Date;
    idempotency: Date;
    leases: Date;
    learning: Date;
    routed: Date;
  }>(
    `SELECT now() - make_interval(days => $1) AS outbox,
            now() - make_interval(days => $2) AS idempotency,
            now() - make_interval(hours => $3) AS leases,
            now() - make_interval(days => $4) AS learning,
            now() - make_interval(days => $5) AS routed`,
    [
      opts.outboxDays,
      opts.idempotencyDays,
      opts.expiredLeaseHours,
      opts.learningCountDays,
      opts.routedEventDays,
    ],
  );
  const cutoffs = {
    outbox: rows[0]!.outbox,
    reviewIdempotency: rows[0]!.idempotency,
    reviewTaskLeases: rows[0]!.leases,
    modelDecisionCounts: rows[0]!.learning,
    routedEvents: rows[0]!.routed,
  };
  return {
    outbox: await pruneTable(q, 'outbox', cutoffs.outbox, opts),
    reviewIdempotency: await pruneTable(q, 'review_idempotency', cutoffs.reviewIdempotency, opts),
    reviewTaskLeases: await pruneTable(q, 'review_task_leases', cutoffs.reviewTaskLeases, opts),
    modelDecisionCounts: await pruneTable(q, 'model_decision_counts', cutoffs.modelDecisionCounts, opts),
    routedEvents: await pruneTable(q, 'routed_events', cutoffs.routedEvents, opts),
    cutoffs,
  };
}
