// Read-only views of the review work: task lists, queue and agreement statistics, and the
// labelled data as JSON lines.
import { ApiErrorCode, type ExportedLabel, type Task } from '@hitl/api-contract';
import {
  GOLD_SCORES_BY_REVIEWER,
  latestReviewerReliability,
  type ReviewerReliabilityFigures,
} from '@hitl/db';
import type { Pool } from 'pg';
import { cohensKappa, fleissKappa } from './consensus';
import { TaskError } from './errors';
import { TASK_COLUMNS, toTask, type TaskRow } from './tasks';

export interface TaskFilter {
  status?: 'open' | 'escalated' | 'decided';
  reason?: string;
  label?: string;
  stream?: string;
  limit: number;
  cursor?: string;
  /** Only tasks this reviewer holds a live lease on or has answered (what a reviewer may see). */
  visibleTo?: string;
}

// A cursor is the (requested_at, event_id) of the last task of a page, opaque to clients.
const encodeCursor = (row: TaskRow) =>
  Buffer.from(JSON.stringify([row.requested_key, row.event_id])).toString('base64url');

function decodeCursor(cursor: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown;
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string')) {
      return value as [string, string];
    }
  } catch {
    // falls through to the error below
  }
  throw new TaskError(ApiErrorCode.validation, 'cursor is not one this API gave out');
}

/** Tasks, newest request first, a page at a time. */
export async function listTasks(
  pool: Pool,
  filter: TaskFilter,
): Promise<{ items: Task[]; nextCursor: string | null }> {
  const { rows } = await pool.query<TaskRow>(taskListQuery(filter));
  const page = rows.slice(0, filter.limit);
  return {
    items: page.map((r) => toTask(r)),
    nextCursor: rows.length > filter.limit ? encodeCursor(page[page.length - 1]!) : null,
  };
}

/** The statement listTasks runs (one more row than a page, to know whether another follows). */
export function taskListQuery(filter: TaskFilter): { text: string; values: unknown[] } {
  const params: unknown[] = [];
  const where: string[] = [];
  const add = (sql: string, value: unknown) => where.push(sql.replace('?', `$${params.push(value)}`));
  if (filter.status) add('t.status = ?', filter.status);
  if (filter.reason) add('t.reason = ?', filter.reason);
  if (filter.label) add('t.predicted_label = ?', filter.label);
  if (filter.stream) add('t.stream = ?', filter.stream);
  if (filter.visibleTo !== undefined) {
    const me = `$${params.push(filter.visibleTo)}`;
    where.push(
      `((t.lease_owner = ${me} AND t.lease_expires_at > now()) OR EXISTS (SELECT 1 FROM review_answers a WHERE a.event_id = t.event_id AND a.reviewer_id = ${me}))`,
    );
  }
  if (filter.cursor) {
    const [at, eventId] = decodeCursor(filter.cursor);
    where.push(`(t.requested_at, t.event_id) < ($${params.push(at)}::timestamptz, $${params.push(eventId)})`);
  }
  const text = `SELECT ${TASK_COLUMNS} FROM review_tasks t
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY t.requested_at DESC, t.event_id DESC LIMIT $${params.push(filter.limit + 1)}`;
  return { text, values: params };
}

export interface ReviewStats {
  queue: {
    open: number;
    escalated: number;
    leased: number;
    byReason: Record<string, number>;
    byClass: Record<string, number>;
    /** Undecided tasks per stream (the 1,000 streams with the most). */
    byStream: Record<string, number>;
    oldestWaitingSeconds: number | null;
  };
  decisions: { lastHour: number; last24Hours: number; perHour: { hour: string; count: number }[] };
  reviewers: {
    reviewerId: string;
    answers: number;
    answersLastHour: number;
    answersToday: number;
    agreementWithFinal: number | null;
    kappaWithFinal: number | null;
    goldAnswers: number;
    goldAccuracy: number | null;
    /** Admins only: the newest reliability estimate, per stream, and whether it flags them. */
    reliability?: { stream: string; accuracy: number; answers: number; goldAnswers: number }[];
    flagged?: boolean;
  }[];
  agreement: { items: number; percentAgreement: number | null; fleissKappa: number | null };
}

const finite = (n: number) => (Number.isFinite(n) ? n : null);

/** Each reviewer's answers of the last 30 days ($1: one reviewer's only, or null: everyone's). */
export const ANSWERS_BY_REVIEWER = `SELECT reviewer_id, count(*) AS answers,
        count(*) FILTER (WHERE answered_at > now() - interval '1 hour') AS last_hour,
        count(*) FILTER (WHERE answered_at >= date_trunc('day', now(), 'UTC')) AS today
   FROM review_answers
  WHERE answered_at > now() - interval '30 days' AND ($1::text IS NULL OR reviewer_id = $1)
  GROUP BY reviewer_id ORDER BY reviewer_id`;

/** What reviewStats covers. */
export interface StatsScope {
  /** Only this reviewer's own figures in `reviewers` (a reviewer sees no one else's). */
  reviewerId?: string;
  /** Agreement covers at most this many of the latest decided tasks with two or more answers. */
  window?: number;
  /** With it (admins), each reviewer's reliability estimate, flagged below this accuracy. */
  flagBelow?: number;
}

/**
 * Queue depth, decision rate and agreement. Answer counts cover the last 30 days; agreement
 * figures cover the most recent decided tasks (up to `window`) that had two or more answers.
 * Every query reads an index range, never the whole history.
 */
export async function reviewStats(pool: Pool, scope: StatsScope = {}): Promise<ReviewStats> {
  const window = scope.window ?? 10_000;
  const me = scope.reviewerId ?? null;
  const [queue, byReason, byClass, byStream, hours, answers, multi, gold, reliability] = await Promise.all([
    pool.query<{ open: string; escalated: string; leased: string; oldest: number | null }>(
      `SELECT count(*) FILTER (WHERE status = 'open') AS open,
              count(*) FILTER (WHERE status = 'escalated') AS escalated,
              count(*) FILTER (WHERE lease_owner IS NOT NULL AND lease_expires_at > now()) AS leased,
              extract(epoch FROM now() - min(requested_at))::float8 AS oldest
         FROM review_tasks WHERE status <> 'decided' AND status <> 'gold'`,
    ),
    pool.query<{ key: string; n: string }>(
      `SELECT reason AS key, count(*) AS n FROM review_tasks
        WHERE status <> 'decided' AND status <> 'gold' GROUP BY reason`,
    ),
    pool.query<{ key: string; n: string }>(
      `SELECT coalesce(predicted_label, '(no model)') AS key, count(*) AS n FROM review_tasks
        WHERE status <> 'decided' AND status <> 'gold' GROUP BY 1`,
    ),
    pool.query<{ key: string; n: string }>(
      `SELECT stream AS key, count(*) AS n FROM review_tasks
        WHERE status <> 'decided' AND status <> 'gold' GROUP BY stream ORDER BY n DESC, stream LIMIT 1000`,
    ),
    pool.query<{ hour: Date; n: string }>(
      `SELECT date_trunc('hour', decided_at) AS hour, count(*) AS n FROM review_tasks
        WHERE status = 'decided' AND decided_by = 'human' AND decided_at > now() - interval '24 hours'
        GROUP BY 1 ORDER BY 1`,
    ),
    pool.query<{ reviewer_id: string; answers: string; last_hour: string; today: string }>(
      ANSWERS_BY_REVIEWER,
      [me],
    ),
    pool.query<{ event_id: string; final_label: string; labels: string[]; reviewers: string[] }>(
      `SELECT t.event_id, t.final_label, array_agg(a.label ORDER BY a.reviewer_id) AS labels,
              array_agg(a.reviewer_id ORDER BY a.reviewer_id) AS reviewers
         FROM (SELECT event_id, final_label FROM review_tasks WHERE status = 'decided'
                ORDER BY decided_at DESC LIMIT $1) t
         JOIN review_answers a ON a.event_id = t.event_id
        GROUP BY t.event_id, t.final_label HAVING count(*) >= 2`,
      [window],
    ),
    pool.query<{ reviewer_id: string; answers: string; correct: string }>(GOLD_SCORES_BY_REVIEWER, [me]),
    scope.flagBelow === undefined ? null : latestReviewerReliability(pool),
  ]);
  const goldOf = new Map(gold.rows.map((r) => [r.reviewer_id, r]));
  const q = queue.rows[0]!;
  const lastHourCut = Date.now() - 3_600_000;
  const perHour = hours.rows.map((r) => ({ hour: r.hour.toISOString(), count: Number(r.n) }));

  // Per reviewer: how often their answer was the final label, and Cohen's kappa against it.
  const pairs = new Map<string, [string, string][]>();
  for (const item of multi.rows) {
    item.reviewers.forEach((reviewer, i) => {
      const list = pairs.get(reviewer) ?? [];
      list.push([item.labels[i]!, item.final_label]);
      pairs.set(reviewer, list);
    });
  }
  // Pairwise agreement per item (Fleiss' P_i), averaged.
  let agreementSum = 0;
  for (const { labels } of multi.rows) {
    const counts = new Map<string, number>();
    for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    let agreeing = 0;
    for (const c of counts.values()) agreeing += c * (c - 1);
    agreementSum += agreeing / (labels.length * (labels.length - 1));
  }
  return {
    queue: {
      open: Number(q.open),
      escalated: Number(q.escalated),
      leased: Number(q.leased),
      byReason: Object.fromEntries(byReason.rows.map((r) => [r.key, Number(r.n)])),
      byClass: Object.fromEntries(byClass.rows.map((r) => [r.key, Number(r.n)])),
      byStream: Object.fromEntries(byStream.rows.map((r) => [r.key, Number(r.n)])),
      oldestWaitingSeconds: q.oldest,
    },
    decisions: {
      lastHour: perHour
        .filter((h) => Date.parse(h.hour) + 3_600_000 > lastHourCut)
        .reduce((n, h) => n + h.count, 0),
      last24Hours: perHour.reduce((n, h) => n + h.count, 0),
      perHour,
    },
    reviewers: answers.rows.map((r) => {
      const mine = pairs.get(r.reviewer_id) ?? [];
      return {
        reviewerId: r.reviewer_id,
        answers: Number(r.answers),
        answersLastHour: Number(r.last_hour),
        answersToday: Number(r.today),
        agreementWithFinal: mine.length ? mine.filter(([a, b]) => a === b).length / mine.length : null,
        kappaWithFinal: mine.length ? finite(cohensKappa(mine)) : null,
        goldAnswers: Number(goldOf.get(r.reviewer_id)?.answers ?? 0),
        goldAccuracy: goldOf.has(r.reviewer_id)
          ? Number(goldOf.get(r.reviewer_id)!.correct) / Number(goldOf.get(r.reviewer_id)!.answers)
          : null,
        ...(reliability === null
          ? {}
          : reliabilityOf(reliability.get(r.reviewer_id) ?? [], scope.flagBelow!)),
      };
    }),
    agreement: {
      items: multi.rows.length,
      percentAgreement: multi.rows.length ? agreementSum / multi.rows.length : null,
      fleissKappa: finite(fleissKappa(multi.rows.map((r) => r.labels))),
    },
  };
}

function reliabilityOf(figures: ReviewerReliabilityFigures[], flagBelow: number) {
  return {
    reliability: figures.map(({ stream, accuracy, answers, goldAnswers }) => ({
      stream,
      accuracy,
      answers,
      goldAnswers,
    })),
    flagged: figures.some((f) => f.accuracy < flagBelow),
  };
}

/**
 * The labelled data: one ExportedLabel per decided task that people answered (not its copies
 * closed through its group), oldest decision first, read in pages.
 */
export async function* exportLabels(
  pool: Pool,
  filter: { since?: string; stream?: string },
  pageSize = 1_000,
): AsyncGenerator<string> {
  let after: [string, string] | null = null;
  for (;;) {
    const params: unknown[] = [pageSize];
    // Copies decided through their group are left out: like their corrections, they would only
    // weigh the answered item's example several times.
    // So are tasks the model decided after a new score: their label is no person's.
    const where = [`t.status = 'decided'`, `t.decided_through IS NULL`, `t.decided_by = 'human'`];
    if (filter.since) where.push(`t.decided_at >= $${params.push(filter.since)}::timestamptz`);
    if (filter.stream) where.push(`t.stream = $${params.push(filter.stream)}`);
    if (after)
      where.push(
        `(t.decided_at, t.event_id) > ($${params.push(after[0])}::timestamptz, $${params.push(after[1])})`,
      );
    const { rows } = await pool.query<TaskRow & { reviewer_labels: ExportedLabel['reviewerLabels'] }>(
      `SELECT ${TASK_COLUMNS},
              (SELECT json_agg(json_build_object('reviewerId', a.reviewer_id, 'label', a.label) ORDER BY a.answered_at)
                 FROM review_answers a WHERE a.event_id = t.event_id) AS reviewer_labels
         FROM review_tasks t WHERE ${where.join(' AND ')}
        ORDER BY t.decided_at, t.event_id LIMIT $1`,
      params,
    );
    for (const row of rows) {
      const { prediction } = row.request;
      const line: ExportedLabel = {
        eventId: row.event_id,
        stream: row.stream,
        input: prediction.input,
        // A decided task has its final label (a check constraint of review_tasks).
        label: row.final_label!,
        reviewerLabels: row.reviewer_labels,
        reviewReason: row.reason,
        modelPrediction: prediction.model
          ? { model: prediction.model, label: prediction.label, confidence: prediction.confidence }
          : null,
        decidedAt: row.decided_at!.toISOString(),
      };
      yield `${JSON.stringify(line)}\n`;
    }
    if (rows.length < pageSize) return;
    const last = rows[rows.length - 1]!;
    after = [last.decided_key!, last.event_id];
  }
}
