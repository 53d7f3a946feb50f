// Reviewers' reliability as last estimated (migration 1700000019000; the review API estimates it).
import type { Pool } from 'pg';

export interface ReviewerReliabilityFigures {
  stream: string;
  /** Estimated share of right answers. */
  accuracy: number;
  /** Answers the estimate counted: on gold tasks, or on tasks two or more people answered. */
  answers: number;
  goldAnswers: number;
  goldCorrect: number;
  /** The estimate's version, and when it was made. */
  version: number;
  computedAt: Date;
}

/** The newest estimate's figures, by reviewer (a reviewer it does not cover is absent). */
export async function latestReviewerReliability(
  pool: Pool,
): Promise<Map<string, ReviewerReliabilityFigures[]>> {
  const { rows } = await pool.query<{
    reviewer_id: string;
    stream: string;
    accuracy: number;
    answers: number;
    gold_answers: number;
    gold_correct: number;
    version: string;
    computed_at: Date;
  }>(
    `SELECT r.reviewer_id, r.stream, r.accuracy, r.answers, r.gold_answers, r.gold_correct, e.version, e.computed_at
       FROM (SELECT version, computed_at FROM reliability_estimates ORDER BY version DESC LIMIT 1) e
       JOIN reviewer_reliability r ON r.version = e.version
      ORDER BY r.reviewer_id, r.stream`,
  );
  const out = new Map<string, ReviewerReliabilityFigures[]>();
  for (const r of rows) {
    const list = out.get(r.reviewer_id) ?? [];
    list.push({
      stream: r.stream,
      accuracy: r.accuracy,
      answers: r.answers,
      goldAnswers: r.gold_answers,
      goldCorrect: r.gold_correct,
      version: Number(r.version),
      computedAt: r.computed_at,
    });
    out.set(r.reviewer_id, list);
  }
  return out;
}
