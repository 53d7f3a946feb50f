import type { Pool } from 'pg';

/** Undecided review tasks of one status and reason. */
export interface ReviewQueueGroup {
  status: 'open' | 'escalated';
  reason: string;
  tasks: number;
  /** Seconds since the oldest of these tasks was requested. */
  oldestAgeSeconds: number;
}

/**
 * The review queue by status and reason, most tasks first: one grouped read of the review
 * API's tasks (its partial index on undecided tasks). The review API's queue gauges and the
 * operator's status command both read it here.
 */
export async function reviewQueueGroups(pool: Pool): Promise<ReviewQueueGroup[]> {
  const { rows } = await pool.query<{
    status: ReviewQueueGroup['status'];
    reason: string;
    tasks: number;
    oldest: number;
  }>(
    `SELECT status, reason, count(*)::int AS tasks,
            greatest(extract(epoch FROM now() - min(requested_at)), 0)::float8 AS oldest
       FROM review_tasks WHERE status <> 'decided' AND status <> 'gold' GROUP BY status, reason
      ORDER BY tasks DESC, status, reason`,
  );
  return rows.map((r) => ({
    status: r.status,
    reason: r.reason,
    tasks: r.tasks,
    oldestAgeSeconds: r.oldest,
  }));
}

/** Undecided review tasks of one stream in one status. */
export interface ReviewQueueStream {
  stream: string;
  status: 'open' | 'escalated';
  tasks: number;
  /** Seconds since the oldest of these tasks was requested. */
  oldestAgeSeconds: number;
}

/** The review queue by stream and status, most tasks first (one grouped read, as above). */
export async function reviewQueueStreams(pool: Pool): Promise<ReviewQueueStream[]> {
  const { rows } = await pool.query<{
    stream: string;
    status: ReviewQueueStream['status'];
    tasks: number;
    oldest: number;
  }>(
    `SELECT stream, status, count(*)::int AS tasks,
            greatest(extract(epoch FROM now() - min(requested_at)), 0)::float8 AS oldest
       FROM review_tasks WHERE status <> 'decided' AND status <> 'gold' GROUP BY stream, status
      ORDER BY tasks DESC, stream, status`,
  );
  return rows.map((r) => ({
    stream: r.stream,
    status: r.status,
    tasks: r.tasks,
    oldestAgeSeconds: r.oldest,
  }));
}
