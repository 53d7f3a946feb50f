import { reviewQueueGroups, type ReviewQueueGroup } from '@hitl/db';
import type { Pool } from 'pg';

export type { ReviewQueueGroup };

export interface ReviewQueueStatus {
  /** Tasks waiting for reviewers. */
  open: number;
  /** Tasks the reviewers split on, waiting for an admin. */
  escalated: number;
  /** Undecided tasks a reviewer holds under a lease now. */
  leased: number;
  /** Seconds since the oldest undecided task was requested; null when the queue is empty. */
  oldestAgeSeconds: number | null;
  /** By status and review reason, most tasks first. */
  groups: ReviewQueueGroup[];
}

/** The review queue from the review API's tables: what the hitl_review_queue_* gauges report. */
export async function reviewQueueStatus(pool: Pool): Promise<ReviewQueueStatus> {
  const [rows, leased] = await Promise.all([
    reviewQueueGroups(pool),
    pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM review_tasks
        WHERE status <> 'decided' AND lease_owner IS NOT NULL AND lease_expires_at > now()`,
    ),
  ]);
  const total = (status: ReviewQueueGroup['status']) =>
    rows.filter((r) => r.status === status).reduce((n, r) => n + r.tasks, 0);
  return {
    open: total('open'),
    escalated: total('escalated'),
    leased: leased.rows[0]?.n ?? 0,
    oldestAgeSeconds: rows.length > 0 ? Math.max(...rows.map((r) => r.oldestAgeSeconds)) : null,
    groups: rows,
  };
}
