// Reviewers' reliability, kept current: on an interval, one replica at a time estimates it again
// from the most recent answers (when there are new ones) and stores the estimate as a new version;
// every replica loads the newest version, for weighted consensus (tasks.ts), /v1/stats and the
// metrics. The statistics are reliability.ts's.
import { withTransaction, type DbLogger } from '@hitl/db';
import type { Pool } from 'pg';
import {
  estimateReliability,
  type ReliabilityAnswer,
  type ReliabilityModel,
  type ReliabilityPrior,
} from './reliability';

/** At most this many versions are kept; older ones are deleted as new ones are stored. */
export const KEPT_RELIABILITY_VERSIONS = 1_000;

export interface ReviewerReliabilityOptions {
  pool: Pool;
  logger: DbLogger & { warn: (obj: object, msg: string) => void };
  intervalMs: number;
  maxAnswers: number;
  prior: ReliabilityPrior;
  /** Called with each newly loaded version. */
  onLoaded?: (estimate: LoadedReliability) => void;
  /**
   * Called after this replica stored and loaded a new version (one replica per round), to decide
   * what the new estimate makes decidable; its failure is logged, and the next version tries again.
   */
  afterEstimate?: () => Promise<unknown>;
}

export interface ReviewerFigures {
  reviewerId: string;
  accuracy: number;
  confusion: Record<string, Record<string, number>>;
  answers: number;
  goldAnswers: number;
  goldCorrect: number;
}

export interface StreamReliability extends ReliabilityModel {
  stream: string;
  items: number;
  reviewers: ReviewerFigures[];
}

export interface LoadedReliability {
  version: number;
  computedAt: Date;
  streams: Map<string, StreamReliability>;
}

export class ReviewerReliability {
  private loaded: LoadedReliability | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly opts: ReviewerReliabilityOptions) {}

  get prior(): ReliabilityPrior {
    return this.opts.prior;
  }

  /** The newest estimate loaded, or null before the first. */
  get current(): LoadedReliability | null {
    return this.loaded;
  }

  /** The model of a stream for weighted consensus: with no estimate yet, every reviewer at the prior. */
  model(stream: string): ReliabilityModel {
    return this.loaded?.streams.get(stream) ?? { classes: [], classPrior: {}, reviewers: [] };
  }

  /** Estimates (if due) and loads now, then on every interval until stop(). */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round: estimate if there are new answers (one replica at a time), then load the newest. */
  async tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const version = await this.estimate();
        await this.load();
        if (version !== null) await this.opts.afterEstimate?.();
      } catch (error) {
        // The last estimate loaded stays in force; the next round tries again.
        this.opts.logger.warn({ err: error }, 'reviewer reliability was not estimated this round');
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /**
   * Estimates again from the most recent maxAnswers answers, per stream, and stores the result as
   * a new version; nothing when another replica is at it, or when no answer came since the last
   * version. Returns the new version, if any.
   */
  async estimate(): Promise<number | null> {
    return withTransaction(this.opts.pool, async (client) => {
      const { rows: lock } = await client.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_xact_lock(hashtext('hitl-reviewer-reliability')) AS ok`,
      );
      if (!lock[0]?.ok) return null;
      const { rows } = await client.query<{
        event_id: string;
        reviewer_id: string;
        label: string;
        answered_at: Date;
        stream: string;
        classes: string[];
        gold_label: string | null;
      }>(
        `WITH recent AS (
           SELECT event_id, reviewer_id, label, answered_at FROM review_answers
            ORDER BY answered_at DESC LIMIT $1
         )
         SELECT r.event_id, r.reviewer_id, r.label, r.answered_at, t.stream, t.classes, g.label AS gold_label
           FROM recent r JOIN review_tasks t ON t.event_id = r.event_id
           LEFT JOIN gold_items g ON g.id = t.gold_item_id`,
        [this.opts.maxAnswers],
      );
      const last = rows.reduce<Date | null>((m, r) => (m && m >= r.answered_at ? m : r.answered_at), null);
      const { rows: previous } = await client.query<{ answers: number; last_answer: Date | null }>(
        'SELECT answers, last_answer FROM reliability_estimates ORDER BY version DESC LIMIT 1',
      );
      const before = previous[0];
      if (
        rows.length === 0 ||
        (before && before.answers === rows.length && before.last_answer?.getTime() === last?.getTime())
      ) {
        return null;
      }
      const byStream = new Map<
        string,
        { classes: Set<string>; answers: ReliabilityAnswer[]; gold: Map<string, string> }
      >();
      for (const r of rows) {
        const s = byStream.get(r.stream) ?? {
          classes: new Set<string>(),
          answers: [] as ReliabilityAnswer[],
          gold: new Map<string, string>(),
        };
        for (const c of r.classes) s.classes.add(c);
        s.answers.push({ itemId: r.event_id, reviewerId: r.reviewer_id, label: r.label });
        if (r.gold_label !== null) s.gold.set(r.event_id, r.gold_label);
        byStream.set(r.stream, s);
      }
      const { rows: made } = await client.query<{ version: string }>(
        `INSERT INTO reliability_estimates (answers, last_answer, prior) VALUES ($1, $2, $3) RETURNING version`,
        [rows.length, last, JSON.stringify(this.opts.prior)],
      );
      const version = Number(made[0]!.version);
      for (const [stream, s] of byStream) {
        const estimate = estimateReliability({
          classes: [...s.classes].sort(),
          answers: s.answers,
          gold: s.gold,
          prior: this.opts.prior,
          reviewerIds: [...new Set(s.answers.map((a) => a.reviewerId))],
          tolerance: 1e-5,
          maxIterations: 200,
        });
        await client.query(
          `INSERT INTO reliability_streams (version, stream, classes, class_prior, items, iterations, converged)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            version,
            stream,
            estimate.classes,
            JSON.stringify(estimate.classPrior),
            estimate.items,
            estimate.iterations,
            estimate.converged,
          ],
        );
        await client.query(
          `INSERT INTO reviewer_reliability (version, stream, reviewer_id, accuracy, confusion, answers,
                                             gold_answers, gold_correct)
           SELECT $1, $2, r->>'reviewerId', (r->>'accuracy')::float8, r->'confusion', (r->>'answers')::int,
                  (r->>'goldAnswers')::int, (r->>'goldCorrect')::int
             FROM jsonb_array_elements($3::jsonb) AS reviewers(r)`,
          [version, stream, JSON.stringify(estimate.reviewers)],
        );
      }
      await client.query('DELETE FROM reliability_estimates WHERE version <= $1', [
        version - KEPT_RELIABILITY_VERSIONS,
      ]);
      return version;
    });
  }

  /** Loads the newest stored version, if it is not the one loaded. */
  async load(): Promise<void> {
    const { rows: newest } = await this.opts.pool.query<{ version: string; computed_at: Date }>(
      'SELECT version, computed_at FROM reliability_estimates ORDER BY version DESC LIMIT 1',
    );
    const head = newest[0];
    if (!head || Number(head.version) === this.loaded?.version) return;
    const version = Number(head.version);
    const [streams, reviewers] = await Promise.all([
      this.opts.pool.query<{
        stream: string;
        classes: string[];
        class_prior: Record<string, number>;
        items: number;
      }>('SELECT stream, classes, class_prior, items FROM reliability_streams WHERE version = $1', [version]),
      this.opts.pool.query<{
        stream: string;
        reviewer_id: string;
        accuracy: number;
        confusion: Record<string, Record<string, number>>;
        answers: number;
        gold_answers: number;
        gold_correct: number;
      }>(
        `SELECT stream, reviewer_id, accuracy, confusion, answers, gold_answers, gold_correct
           FROM reviewer_reliability WHERE version = $1 ORDER BY stream, reviewer_id`,
        [version],
      ),
    ]);
    const loaded: LoadedReliability = { version, computedAt: head.computed_at, streams: new Map() };
    for (const s of streams.rows) {
      loaded.streams.set(s.stream, {
        stream: s.stream,
        classes: s.classes,
        classPrior: s.class_prior,
        items: s.items,
        reviewers: [],
      });
    }
    for (const r of reviewers.rows) {
      loaded.streams.get(r.stream)?.reviewers.push({
        reviewerId: r.reviewer_id,
        accuracy: r.accuracy,
        confusion: r.confusion,
        answers: r.answers,
        goldAnswers: r.gold_answers,
        goldCorrect: r.gold_correct,
      });
    }
    this.loaded = loaded;
    this.opts.onLoaded?.(loaded);
  }
}
