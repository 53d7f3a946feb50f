// Review tasks in Postgres: ingest requests, hand them out under leases, take answers, and when
// the answers agree, write the human decision and its outgoing records in one transaction.
import { randomUUID } from 'node:crypto';
import {
  ApiErrorCode,
  type AnswerBody,
  type AnswerResult,
  type ClaimBody,
  type Task,
} from '@hitl/api-contract';
import {
  Correction,
  Decision,
  createValidator,
  type CorrectionData,
  type ReviewReason,
  type ReviewRequestData,
} from '@hitl/contracts';
import { enqueueOutbox, withTransaction } from '@hitl/db';
import type { Pool, PoolClient } from 'pg';
import type { Principal } from './auth';
import { consensus, type Consensus } from './consensus';
import {
  weightedConsensus,
  type ReliabilityModel,
  type ReliabilityPrior,
  type WeightedConsensus,
  type WeightedConsensusInput,
} from './reliability';
import { TaskError } from './errors';
import { NearDuplicatePolicies, planGroups } from './groups';

export interface TaskStoreOptions {
  pool: Pool;
  leaseSeconds: number;
  /** Live leases one reviewer may hold at once; a claim past it is refused (default 5). */
  maxLeasesPerReviewer?: number;
  /** How long after its claim a lease can be extended to, at most (default 3,600 s). */
  maxLeaseSeconds?: number;
  maxExtraRounds: number;
  /** Where decisions and corrections go (through the outbox). */
  topics: { decisions: string; corrections: string };
  /** Called after a decision's outbox rows are committed (to publish them sooner, and count it). */
  onDecided?: (decided: DecidedTask) => void;
  /**
   * The routing policy (the router's POLICY_NAME) whose version of each request says whether
   * near-duplicates group (its nearDuplicates); without it they never do, and only exact copies
   * share a group.
   */
  policyName?: string;
  /**
   * How far below the most urgent task a claim may reach for a task of another family than the
   * ones this reviewer was just given (default 0.05 of priority): the width of "about the same
   * priority" in which claims are spread across groups.
   */
  varietyWindow?: number;
  /**
   * The share of claims that hand out a gold task (the routing policy's goldRate) and that
   * policy's version; null: none. Read at every claim, so the caller caches it.
   */
  goldSettings?: () => Promise<{ goldRate: number; policyVersion: number } | null>;
  /** Draws in [0, 1) for the gold share (default Math.random). */
  random?: () => number;
  /**
   * Reviewers' estimated reliability, for policies that ask for weighted consensus (their
   * consensusConfidence); without it, a majority decides under every policy.
   */
  reliability?: { model(stream: string): ReliabilityModel; readonly prior: ReliabilityPrior };
  /**
   * The streams a reviewer is flagged on (RESTRICT_FLAGGED_REVIEWERS): of those, a claim hands them
   * only tasks that others answer too (more than one answer required, or answered already) and
   * gold tasks. Absent: nobody is held back.
   */
  flaggedStreams?: (reviewerId: string) => readonly string[];
}

/** The classes a task offers when its prediction has none: the same for all, or by stream. */
export type FallbackClasses = readonly string[] | ((stream: string) => readonly string[]);

/** A policy version's weighted consensus: the posterior to reach, and whether the model is a prior. */
interface WeightedSettings {
  confidence: number;
  usesModel: boolean;
}

/** A task that redecide() looks at: answered, not decided, not leased. */
interface WaitingTask {
  event_id: string;
  group_key: string | null;
  requested_key: string;
}

/**
 * Whether the reviewer $1 (an admin when $3) may see tasks of the stream `column` names: admins see
 * every stream; a stream in the registry is open to everyone if it says so, else to the reviewers it
 * names and the members of the groups it names; a stream the registry does not have (every stream
 * while it is empty) is open to everyone, as before streams were registered.
 */
const STREAM_OPEN = (column: string) => `($3 OR coalesce((
              SELECT s.all_reviewers OR $1 = ANY (s.reviewers)
                     OR s.reviewer_groups && (SELECT r.groups FROM reviewers r WHERE r.id = $1)
                FROM streams s WHERE s.id = ${column}), true))`;
// A scalar subquery, not NOT EXISTS: the planner keeps it a per-row check of the rows the claim's
// index scan reaches, where an anti-join could read the whole queue first.

/** The families a reviewer was last given, newest first, that a claim avoids within the window. */
export const RECENT_FAMILIES = 3;

/** A task just decided: why it was reviewed, and whether the humans agreed with the model. */
export interface DecidedTask {
  eventId: string;
  reason: ReviewReason;
  outcome: CorrectionData['outcome'];
  /** The open copies of its group that its decision closed too (a decision each, no correction). */
  throughGroup: { eventId: string; reason: ReviewReason }[];
}

export interface TaskRow {
  event_id: string;
  stream: string;
  request: ReviewRequestData;
  classes: string[];
  reason: ReviewReason;
  predicted_label: string | null;
  priority: number;
  policy_version: number;
  required_reviewers: number;
  needed: number;
  /** 'gold': a gold task, an item whose right answer is known, handed to one reviewer (gold.ts). */
  status: 'open' | 'escalated' | 'decided' | 'gold';
  lease_owner: string | null;
  lease_expires_at: Date | null;
  leased_at: Date | null;
  claim_key: string | null;
  requested_at: Date;
  decided_at: Date | null;
  final_label: string | null;
  /** Exact-duplicate group (groups.ts); null for a task that stays alone. */
  group_key: string | null;
  /** The event whose answer decided this task through its group; null otherwise. */
  decided_through: string | null;
  /** Whether it has an answer (kept up to date for tasks not decided). */
  answered: boolean;
  /** The group (or content) family that spreads claims (groups.ts familyOf), a bigint as text. */
  family: string | null;
  /** Who decided it: people, or the model in force when a new score after a promotion was sure. */
  decided_by: 'human' | 'model';
  /** When it last took a new score after a promotion or rollback (rescore.ts). */
  rescored_at: Date | null;
  /** The gold item a gold task shows, and the reviewer it was handed to; null otherwise. */
  gold_item_id: string | null;
  gold_reviewer: string | null;
  answers?: number;
  /** Exact timestamps as text, for page cursors (a Date keeps only milliseconds). */
  requested_key?: string;
  decided_key?: string | null;
}

const validDecision = createValidator(Decision);
const validCorrection = createValidator(Correction);

export function toTask(row: TaskRow, now = Date.now()): Task {
  const { prediction } = row.request;
  const leased =
    row.lease_owner !== null && row.lease_expires_at !== null && row.lease_expires_at.getTime() > now;
  return {
    eventId: row.event_id,
    stream: row.stream,
    // A gold task shows as open until its reviewer answers, then as decided by that answer, as a
    // task of one required reviewer would: nothing in it tells that it is gold.
    status: row.status === 'gold' ? (row.final_label === null ? 'open' : 'decided') : row.status,
    reason: row.reason,
    priority: row.priority,
    policyVersion: row.policy_version,
    classes: row.classes,
    requiredReviewers: row.required_reviewers,
    needed: row.needed,
    answers: Number(row.answers ?? 0),
    input: prediction.input,
    ...(prediction.attributes ? { attributes: prediction.attributes } : {}),
    prediction: {
      model: prediction.model,
      label: prediction.label,
      confidence: prediction.confidence,
      probabilities: prediction.probabilities,
    },
    requestedAt: row.requested_at.toISOString(),
    lease: leased ? { owner: row.lease_owner!, expiresAt: row.lease_expires_at!.toISOString() } : null,
    finalLabel: row.final_label,
    decidedAt: row.decided_at?.toISOString() ?? null,
  };
}

const ANSWER_COUNT = `(SELECT count(*) FROM review_answers a WHERE a.event_id = t.event_id) AS answers`;
/** Every column of a task (as `t`) and its answer count, for toTask. */
export const TASK_COLUMNS = `t.*, ${ANSWER_COUNT}, t.requested_at::text AS requested_key, t.decided_at::text AS decided_key`;

export class TaskStore {
  private readonly nearDuplicates: NearDuplicatePolicies;
  /** Each policy version's consensusConfidence (null: a majority decides); versions never change. */
  private readonly consensusSettings = new Map<number, WeightedSettings | null>();

  constructor(private readonly opts: TaskStoreOptions) {
    this.nearDuplicates = new NearDuplicatePolicies(opts.pool, opts.policyName);
  }

  /**
   * Stores a review request as a task; a redelivered request (same event id) changes nothing.
   * `fallbackClasses` are offered when the prediction has none (no model yet): a list for every
   * stream, or the list of each stream.
   */
  async ingest(request: ReviewRequestData, fallbackClasses: FallbackClasses): Promise<boolean> {
    return (await this.ingestMany([request], fallbackClasses)) === 1;
  }

  /**
   * Stores a batch of review requests in one statement (one round trip and one commit, where a
   * statement per request made ingestion the review API's main cost under load); returns how
   * many were new. Requests already stored, and repeats within the batch, change nothing.
   */
  async ingestMany(
    requests: readonly ReviewRequestData[],
    fallbackClasses: FallbackClasses,
  ): Promise<number> {
    if (requests.length === 0) return 0;
    const classes = requests.map(({ prediction }) =>
      prediction.classes.length > 0
        ? prediction.classes
        : typeof fallbackClasses === 'function'
          ? fallbackClasses(prediction.stream)
          : fallbackClasses,
    );
    const near = await this.nearDuplicates.settings(requests.map((r) => r.policyVersion));
    const plans = await planGroups(
      this.opts.pool,
      requests,
      classes,
      requests.map((r) => near.get(r.policyVersion) ?? null),
    );
    const groups = plans.map((p) => ({
      k: p.groupKey,
      f: p.family,
      ...(p.signature && p.bands ? { s: p.signature.toString('base64'), b: p.bands } : {}),
    }));
    const { rowCount } = await this.opts.pool.query(
      `INSERT INTO review_tasks (event_id, stream, request, classes, reason, predicted_label, priority,
                                 policy_version, required_reviewers, needed, requested_at, group_key,
                                 family, near_signature, near_bands)
       SELECT r->>'eventId', r->'prediction'->>'stream', r, ARRAY(SELECT jsonb_array_elements_text(c)),
              r->>'reason', r->'prediction'->>'label', (r->>'priority')::double precision,
              (r->>'policyVersion')::integer, (r->>'requiredReviewers')::integer,
              (r->>'requiredReviewers')::integer, (r->>'requestedAt')::timestamptz, g->>'k',
              (g->>'f')::bigint, decode(g->>'s', 'base64'),
              CASE WHEN g ? 'b' THEN ARRAY(SELECT jsonb_array_elements_text(g->'b'))::bigint[] END
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS req(r, n)
         JOIN jsonb_array_elements($2::jsonb) WITH ORDINALITY AS cls(c, m) ON m = n
         JOIN jsonb_array_elements($3::jsonb) WITH ORDINALITY AS grp(g, o) ON o = n
        ORDER BY n
       ON CONFLICT (event_id) DO NOTHING`,
      [JSON.stringify(requests), JSON.stringify(classes), JSON.stringify(groups)],
    );
    return rowCount ?? 0;
  }

  /** The task of an event; with `visibleTo`, only when that reviewer holds it or answered it. */
  async get(eventId: string, visibleTo?: string): Promise<Task | null> {
    const { rows } = await this.opts.pool.query<TaskRow>(
      `SELECT t.*, ${ANSWER_COUNT} FROM review_tasks t WHERE t.event_id = $1
          AND ($2::text IS NULL
               OR (t.lease_owner = $2 AND t.lease_expires_at > now())
               OR EXISTS (SELECT 1 FROM review_answers a WHERE a.event_id = t.event_id AND a.reviewer_id = $2))`,
      [eventId, visibleTo ?? null],
    );
    return rows[0] ? toTask(rows[0]) : null;
  }

  /**
   * Leases the most urgent task (then the oldest) that this reviewer has not answered or skipped
   * and nobody else holds. SKIP LOCKED: concurrent claims never wait for, or get, the same task.
   * Escalated tasks go to admins only. A copy of an exact-duplicate group is not handed out while
   * another copy is leased or being decided (answered, not yet decided): one answer decides them
   * all, so two people never review the same item at once.
   *
   * A varied queue: when the most urgent task is of a family (its group, or its content for
   * tasks that never group) among the last RECENT_FAMILIES this reviewer was given, the claim takes
   * instead the most urgent task of another family within varietyWindow of its priority: first
   * one of none of those families, else one not of the very last. So among tasks of about the
   * same priority one reviewer is not handed a run of the same item; elsewhere the order is
   * unchanged.
   *
   * Claims are repeatable. Without a claim key, a reviewer who already holds a task that fits the
   * filters gets that task back (the one claimed first), so a client that lost the answer to its
   * claim, or restarted, resumes it. With a claim key (the Idempotency-Key header), the same key
   * gets the same task back while its lease lasts, and a new key a new task: a client may hold a
   * few at once, for instance to fetch the next task while the reviewer reads this one. Either
   * way a reviewer holds at most maxLeasesPerReviewer live leases.
   */
  async claim(who: Principal, filters: ClaimBody, claimKey?: string): Promise<Task | null> {
    return withTransaction(this.opts.pool, async (client) => {
      if (filters.escalated === true && who.role !== 'admin') {
        throw new TaskError(ApiErrorCode.forbidden, 'only admins answer escalated tasks');
      }
      // One claim at a time per reviewer, so the count of their leases holds until this commits.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`claim:${who.reviewerId}`]);
      const held = await client.query<TaskRow & { fits: boolean }>(
        `SELECT t.*, ${ANSWER_COUNT},
                (($2::text IS NULL OR t.reason = $2) AND ($3::text IS NULL OR t.predicted_label = $3)
                  AND ($4::text IS NULL OR t.stream = $4)
                  AND ($5::boolean IS NULL OR (t.status = 'escalated') = $5)) AS fits
           FROM review_tasks t
          WHERE t.lease_owner = $1 AND t.lease_expires_at > now() AND t.status <> 'decided'
          ORDER BY t.leased_at NULLS FIRST, t.event_id`,
        [
          who.reviewerId,
          filters.reason ?? null,
          filters.label ?? null,
          filters.stream ?? null,
          filters.escalated ?? null,
        ],
      );
      const again =
        claimKey === undefined
          ? held.rows.find((r) => r.fits)
          : held.rows.find((r) => r.claim_key === claimKey);
      if (again) return toTask(again);
      if (held.rows.length >= (this.opts.maxLeasesPerReviewer ?? 5)) {
        throw new TaskError(
          ApiErrorCode.leaseLimit,
          `you hold ${held.rows.length} tasks, the most one reviewer may (MAX_LEASES_PER_REVIEWER); answer, skip or give one back first`,
          { held: held.rows.map((r) => r.event_id) },
        );
      }
      const gold = await this.goldTurn(filters);
      return (
        (gold && (await this.claimGold(client, who, filters, claimKey, gold.policyVersion))) ??
        this.claimNext(client, who, filters, claimKey)
      );
    });
  }

  /** Whether this claim hands out a gold task (the policy's goldRate); the policy's version if so. */
  private async goldTurn(filters: ClaimBody): Promise<{ policyVersion: number } | null> {
    // A gold task has no model's label and is shown as sent with no model: a claim filtered on
    // anything else gets none.
    if (
      filters.label !== undefined ||
      filters.escalated === true ||
      (filters.reason !== undefined && filters.reason !== 'no_model')
    ) {
      return null;
    }
    const settings = await this.opts.goldSettings?.();
    if (!settings || settings.goldRate <= 0) return null;
    return (this.opts.random ?? Math.random)() < settings.goldRate ? settings : null;
  }

  /**
   * Hands the reviewer a gold item they were never given (of the filter's stream, if any), at
   * random, as a task of its own leased to them: a fresh event id, the item's input, and no
   * model's suggestion, as a task from before any model. Null when there is none left for them.
   */
  private async claimGold(
    client: PoolClient,
    who: Principal,
    filters: ClaimBody,
    claimKey: string | undefined,
    policyVersion: number,
  ): Promise<Task | null> {
    const { rows: picked } = await client.query<{
      id: string;
      stream: string;
      input: ReviewRequestData['prediction']['input'];
      attributes: Record<string, string> | null;
      classes: string[];
    }>({
      name: 'hitl-gold-pick',
      text: `SELECT g.id, g.stream, g.input, g.attributes, g.classes FROM gold_items g
              WHERE g.active AND ($2::text IS NULL OR g.stream = $2)
                AND NOT EXISTS (SELECT 1 FROM review_tasks t WHERE t.gold_reviewer = $1 AND t.gold_item_id = g.id)
                AND ${STREAM_OPEN('g.stream')}
              ORDER BY random() LIMIT 1`,
      values: [who.reviewerId, filters.stream ?? null, who.role === 'admin'],
    });
    const item = picked[0];
    if (!item) return null;
    const eventId = randomUUID();
    const at = new Date().toISOString();
    const request: ReviewRequestData = {
      eventId,
      prediction: {
        eventId,
        stream: item.stream,
        occurredAt: at,
        input: item.input,
        ...(item.attributes ? { attributes: item.attributes } : {}),
        model: null,
        classes: [],
        label: null,
        probabilities: {},
        confidence: 0,
        margin: 0,
        entropy: 0,
        scoredAt: at,
      },
      reason: 'no_model',
      priority: 1,
      policyVersion,
      requiredReviewers: 1,
      requestedAt: at,
    };
    const { rows } = await client.query<TaskRow>({
      name: 'hitl-gold-task',
      text: `INSERT INTO review_tasks (event_id, stream, request, classes, reason, predicted_label, priority,
                                       policy_version, required_reviewers, needed, requested_at, status,
                                       lease_owner, lease_expires_at, leased_at, claim_key,
                                       gold_item_id, gold_reviewer)
             VALUES ($1, $2, $3, $4, 'no_model', NULL, 1, $5, 1, 1, $6, 'gold',
                     $7, now() + make_interval(secs => $8), now(), $9, $10, $7)
             RETURNING *, 0 AS answers`,
      values: [
        eventId,
        item.stream,
        JSON.stringify(request),
        item.classes,
        policyVersion,
        at,
        who.reviewerId,
        this.opts.leaseSeconds,
        claimKey ?? null,
        item.id,
      ],
    });
    return toTask(rows[0]!);
  }

  private async claimNext(
    client: PoolClient,
    who: Principal,
    filters: ClaimBody,
    claimKey: string | undefined,
  ): Promise<Task | null> {
    const params: unknown[] = [
      who.reviewerId,
      this.opts.leaseSeconds,
      who.role === 'admin',
      claimKey ?? null,
    ];
    const where: string[] = [];
    if (filters.reason) where.push(`AND q.reason = $${params.push(filters.reason)}`);
    if (filters.label) where.push(`AND q.predicted_label = $${params.push(filters.label)}`);
    if (filters.stream) where.push(`AND q.stream = $${params.push(filters.stream)}`);
    if (filters.escalated !== undefined) {
      where.push(`AND (q.status = 'escalated') = $${params.push(filters.escalated)}`);
    }
    const flagged = who.role === 'admin' ? [] : (this.opts.flaggedStreams?.(who.reviewerId) ?? []);
    if (flagged.length > 0) {
      where.push(
        `AND (q.stream <> ALL($${params.push(flagged)}::text[]) OR q.required_reviewers >= 2 OR q.answered)`,
      );
    }
    // A prepared statement per filter combination: the plan is made once per connection.
    const shape = [
      filters.reason && 'r',
      filters.label && 'l',
      filters.stream && 's',
      filters.escalated !== undefined && 'e',
      flagged.length > 0 && 'f',
    ]
      .filter(Boolean)
      .join('');
    const within = params.push(this.opts.varietyWindow ?? 0.05);
    const keep = params.push(RECENT_FAMILIES);
    // What a task must be to be handed to this reviewer now (q: the candidate).
    const eligible = `(q.status = 'open' OR (q.status = 'escalated' AND $3))
            AND (q.lease_owner IS NULL OR q.lease_expires_at <= now())
            AND NOT EXISTS (SELECT 1 FROM review_answers a WHERE a.event_id = q.event_id AND a.reviewer_id = $1)
            AND NOT EXISTS (SELECT 1 FROM review_skips s WHERE s.event_id = q.event_id AND s.reviewer_id = $1)
            AND ${STREAM_OPEN('q.stream')}
            AND (q.group_key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM review_tasks g
                   WHERE g.group_key = q.group_key AND g.status <> 'decided'
                     AND (g.lease_owner IS NOT NULL OR g.answered)
                     AND g.event_id <> q.event_id
                     AND (g.answered OR g.lease_expires_at > now())))
            ${where.join(' ')}`;
    const order = 'ORDER BY q.priority DESC, q.requested_at, q.event_id LIMIT 1';
    // Index scans of the queue in its order, each stopping at its first row: the most urgent task
    // (read, not locked); then, when its family is among the reviewer's last n (n = 3, 2, 1), the
    // first task of none of those n families no further than the window below it, so the family
    // given longest ago comes first; and then the most urgent task as before. Append runs a branch
    // only when those before it gave nothing (a branch whose condition is false costs nothing),
    // and each branch locks only the row it returns (SKIP LOCKED, as ever).
    const avoiding = Array.from({ length: RECENT_FAMILIES }, (_, i) => RECENT_FAMILIES - i).map(
      (n) => `SELECT * FROM (SELECT q.event_id FROM review_tasks q
           WHERE (SELECT t.family = ANY(r.families[1:${n}]) FROM top t, recent r)
             AND q.priority >= (SELECT t.priority - $${within} FROM top t)
             AND q.family <> ALL((SELECT r.families[1:${n}] FROM recent r)::bigint[])
             AND ${eligible}
           ${order} FOR UPDATE OF q SKIP LOCKED) avoid${n}
         UNION ALL`,
    );
    const { rows } = await client.query<TaskRow>({
      name: `hitl-claim-v2-${shape}`,
      text: `WITH recent AS MATERIALIZED (
         SELECT coalesce((SELECT c.recent FROM review_claim_cursors c WHERE c.reviewer_id = $1),
                         '{}'::bigint[]) AS families
       ),
       top AS MATERIALIZED (
         SELECT q.priority, q.family FROM review_tasks q WHERE ${eligible} ${order}
       ),
       next AS (
         ${avoiding.join('\n         ')}
         SELECT * FROM (SELECT q.event_id FROM review_tasks q WHERE ${eligible} ${order}
                         FOR UPDATE OF q SKIP LOCKED) first
         LIMIT 1
       ),
       claimed AS (
         UPDATE review_tasks t
            SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2),
                leased_at = now(), claim_key = $4
           FROM next WHERE t.event_id = next.event_id
         RETURNING t.*
       ),
       moved AS (
         INSERT INTO review_claim_cursors (reviewer_id, recent, moved_at)
         SELECT $1, (ARRAY[c.family] || array_remove(r.families, c.family))[1:$${keep}], now()
           FROM claimed c, recent r WHERE c.family IS NOT NULL
         ON CONFLICT (reviewer_id) DO UPDATE SET recent = EXCLUDED.recent, moved_at = EXCLUDED.moved_at
       )
       SELECT t.*, ${ANSWER_COUNT} FROM claimed t`,
      values: params,
    });
    return rows[0] ? toTask(rows[0]) : null;
  }

  /**
   * Renews the reviewer's lease for another lease period, but never past maxLeaseSeconds after
   * the claim: at that cap the extension is refused, and the task goes back when the lease ends.
   */
  async extend(
    who: Principal,
    eventId: string,
  ): Promise<{ eventId: string; owner: string; expiresAt: string }> {
    const { rows } = await this.opts.pool.query<{ lease_expires_at: Date; extended: boolean }>(
      `WITH held AS (
         SELECT event_id, lease_expires_at AS was,
                least(now() + make_interval(secs => $3),
                      coalesce(leased_at, lease_expires_at - make_interval(secs => $3)) + make_interval(secs => $4)) AS until
           FROM review_tasks
          WHERE event_id = $1 AND lease_owner = $2 AND lease_expires_at > now() AND status <> 'decided'
          FOR UPDATE
       )
       UPDATE review_tasks t SET lease_expires_at = greatest(held.was, held.until)
         FROM held WHERE t.event_id = held.event_id
       RETURNING t.lease_expires_at, held.until > held.was AS extended`,
      [eventId, who.reviewerId, this.opts.leaseSeconds, this.opts.maxLeaseSeconds ?? 3_600],
    );
    if (!rows[0]) await this.leaseProblem(eventId, who);
    const lease = rows[0]!;
    if (!lease.extended) {
      throw new TaskError(
        ApiErrorCode.leaseExtensionLimit,
        `the lease on task ${eventId} cannot run past ${this.opts.maxLeaseSeconds ?? 3_600} s after its claim (MAX_LEASE_SECONDS); it ends at ${lease.lease_expires_at.toISOString()}`,
        { expiresAt: lease.lease_expires_at.toISOString() },
      );
    }
    return { eventId, owner: who.reviewerId, expiresAt: lease.lease_expires_at.toISOString() };
  }

  /** Gives the task back to the queue. */
  async release(who: Principal, eventId: string): Promise<void> {
    const { rowCount } = await this.opts.pool.query(
      `UPDATE review_tasks SET lease_owner = NULL, lease_expires_at = NULL
        WHERE event_id = $1 AND lease_owner = $2 AND lease_expires_at > now()`,
      [eventId, who.reviewerId],
    );
    if (rowCount === 0) await this.leaseProblem(eventId, who);
  }

  /** Gives the task back and never offers it to this reviewer again. */
  async skip(who: Principal, eventId: string): Promise<void> {
    await withTransaction(this.opts.pool, async (client) => {
      const { rowCount } = await client.query(
        `UPDATE review_tasks SET lease_owner = NULL, lease_expires_at = NULL
          WHERE event_id = $1 AND lease_owner = $2 AND lease_expires_at > now()`,
        [eventId, who.reviewerId],
      );
      if (rowCount === 0) await this.leaseProblem(eventId, who, client);
      await client.query(
        `INSERT INTO review_skips (event_id, reviewer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [eventId, who.reviewerId],
      );
    });
  }

  /** Throws the error that says why this reviewer does not hold the task's lease. */
  private async leaseProblem(
    eventId: string,
    who: Principal,
    db: Pool | PoolClient = this.opts.pool,
  ): Promise<never> {
    const { rows } = await db.query<
      Pick<
        TaskRow,
        | 'status'
        | 'lease_owner'
        | 'lease_expires_at'
        | 'decided_through'
        | 'final_label'
        | 'decided_by'
        | 'request'
      >
    >(
      `SELECT status, lease_owner, lease_expires_at, decided_through, final_label, decided_by, request
         FROM review_tasks WHERE event_id = $1`,
      [eventId],
    );
    const task = rows[0];
    if (!task) throw new TaskError(ApiErrorCode.notFound, `no task for event ${eventId}`);
    if (task.status === 'decided') decidedProblem(eventId, task);
    const held =
      task.lease_owner !== null && task.lease_expires_at !== null && task.lease_expires_at > new Date();
    throw new TaskError(
      ApiErrorCode.leaseNotHeld,
      held && task.lease_owner !== who.reviewerId
        ? `task ${eventId} is leased to another reviewer`
        : `you hold no lease on task ${eventId} (it expired or was never claimed); claim it again`,
    );
  }

  /**
   * Records the reviewer's answer (they must hold the lease) and decides the task when the
   * answers agree. With an idempotency key, a retry returns the first result unchanged.
   */
  async submit(
    who: Principal,
    eventId: string,
    body: AnswerBody,
    idempotencyKey?: string,
  ): Promise<{ statusCode: number; result: AnswerResult }> {
    const outcome = await withTransaction(this.opts.pool, async (client) => {
      if (idempotencyKey !== undefined) {
        // Retries of one key queue behind each other, so only the first does the work.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
          `${who.reviewerId}:${idempotencyKey}`,
        ]);
        const { rows } = await client.query<{
          event_id: string;
          status_code: number;
          response: AnswerResult;
        }>(
          'SELECT event_id, status_code, response FROM review_idempotency WHERE reviewer_id = $1 AND key = $2',
          [who.reviewerId, idempotencyKey],
        );
        const previous = rows[0];
        if (previous) {
          if (previous.event_id !== eventId) {
            throw new TaskError(
              ApiErrorCode.idempotencyConflict,
              `idempotency key ${idempotencyKey} was used for event ${previous.event_id}`,
            );
          }
          return { statusCode: previous.status_code, result: previous.response, decided: null };
        }
      }
      const decided = await this.answer(client, who, eventId, body);
      if (idempotencyKey !== undefined) {
        await client.query(
          `INSERT INTO review_idempotency (reviewer_id, key, event_id, status_code, response) VALUES ($1, $2, $3, 200, $4)`,
          [who.reviewerId, idempotencyKey, eventId, JSON.stringify(decided.result)],
        );
      }
      return { statusCode: 200, ...decided };
    });
    if (outcome.decided) this.opts.onDecided?.(outcome.decided);
    return { statusCode: outcome.statusCode, result: outcome.result };
  }

  private async answer(
    client: PoolClient,
    who: Principal,
    eventId: string,
    body: AnswerBody,
  ): Promise<{ result: AnswerResult; decided: DecidedTask | null }> {
    // Deciders of one group queue behind each other before they lock any task row, so two answers
    // to copies of one group never lock each other's rows in opposite orders.
    const { rows: keyed } = await client.query<{ group_key: string | null }>({
      name: 'hitl-task-group',
      text: 'SELECT group_key FROM review_tasks WHERE event_id = $1',
      values: [eventId],
    });
    const key = keyed[0]?.group_key ?? null;
    if (key !== null) {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`hitl-group:${key}`]);
    }
    const { rows } = await client.query<TaskRow>({
      name: 'hitl-task-for-update',
      text: 'SELECT * FROM review_tasks WHERE event_id = $1 FOR UPDATE',
      values: [eventId],
    });
    const task = rows[0];
    if (!task) throw new TaskError(ApiErrorCode.notFound, `no task for event ${eventId}`);
    const { rows: answered } = await client.query<{ reviewer_id: string; label: string }>({
      name: 'hitl-task-answers',
      text: 'SELECT reviewer_id, label FROM review_answers WHERE event_id = $1 ORDER BY answered_at, reviewer_id',
      values: [eventId],
    });
    if (answered.some((a) => a.reviewer_id === who.reviewerId)) {
      throw new TaskError(ApiErrorCode.alreadyAnswered, `you already answered task ${eventId}`);
    }
    if (task.status === 'decided') decidedProblem(eventId, task);
    if (task.status === 'gold' && task.final_label !== null) {
      throw new TaskError(ApiErrorCode.alreadyAnswered, `task ${eventId} is already answered`);
    }
    const held =
      task.lease_owner === who.reviewerId &&
      task.lease_expires_at !== null &&
      task.lease_expires_at > new Date();
    if (!held) await this.leaseProblem(eventId, who, client);
    if (task.classes.length > 0 && !task.classes.includes(body.label)) {
      throw new TaskError(
        ApiErrorCode.labelUnknown,
        `label "${body.label}" is not one of ${task.classes.join(', ')}`,
        {
          classes: task.classes,
        },
      );
    }
    await client.query({
      name: 'hitl-insert-answer',
      text: `INSERT INTO review_answers (event_id, reviewer_id, label, comment) VALUES ($1, $2, $3, $4)`,
      values: [eventId, who.reviewerId, body.label, body.comment ?? null],
    });
    const answers = [
      ...answered.map((a) => ({ reviewerId: a.reviewer_id, label: a.label })),
      { reviewerId: who.reviewerId, label: body.label },
    ];
    if (task.status === 'gold') {
      // Scored against the gold label (by the queries that read it), and nothing more: no
      // decision, no correction. The reviewer sees what a one-answer task shows.
      await client.query(
        `UPDATE review_tasks SET final_label = $2, decided_at = now(), answered = true,
                lease_owner = NULL, lease_expires_at = NULL
          WHERE event_id = $1`,
        [eventId, body.label],
      );
      return {
        result: { eventId, status: 'decided', finalLabel: body.label, answers: 1, needed: 1 },
        decided: null,
      };
    }
    // An escalated task is decided by the admin who answers it.
    const weighted =
      task.status === 'escalated' ? null : await this.weightedSettings(client, task.policy_version);
    const verdict: Consensus | WeightedConsensus =
      task.status === 'escalated'
        ? { kind: 'decided', label: body.label, voters: [who.reviewerId] }
        : weighted === null
          ? consensus({
              answers,
              required: task.required_reviewers,
              needed: task.needed,
              maxExtraRounds: this.opts.maxExtraRounds,
            })
          : weightedConsensus(this.weightedInput(task, answers, weighted));
    const result = (
      status: AnswerResult['status'],
      finalLabel: string | null,
      needed: number,
    ): AnswerResult => ({
      eventId,
      status,
      finalLabel,
      answers: answers.length,
      needed,
    });
    if (verdict.kind === 'pending') {
      await client.query(
        `UPDATE review_tasks SET needed = $2, answered = true, lease_owner = NULL, lease_expires_at = NULL
          WHERE event_id = $1`,
        [eventId, verdict.needed],
      );
      return { result: result('open', null, verdict.needed), decided: null };
    }
    if (verdict.kind === 'escalated') {
      await client.query(
        `UPDATE review_tasks SET status = 'escalated', answered = true, lease_owner = NULL, lease_expires_at = NULL
          WHERE event_id = $1`,
        [eventId],
      );
      return { result: result('escalated', null, task.needed), decided: null };
    }
    const decided = await this.decide(client, task, key, verdict, answers, who.reviewerId);
    return { result: result('decided', verdict.label, task.needed), decided };
  }

  /**
   * Decides a locked task with the verdict's label: its row, its decision and correction, and the
   * copies of its group that nobody else holds (the caller holds the group's lock, when it has one).
   */
  private async decide(
    client: PoolClient,
    task: TaskRow,
    key: string | null,
    verdict: { label: string; voters: readonly string[]; posterior?: number },
    answers: { reviewerId: string; label: string }[],
    holder: string,
  ): Promise<DecidedTask> {
    const { rows: stamped } = await client.query<{ decided_at: Date }>(
      `UPDATE review_tasks SET status = 'decided', final_label = $2, decided_at = now(), answered = true,
              lease_owner = NULL, lease_expires_at = NULL
        WHERE event_id = $1 RETURNING decided_at`,
      [task.event_id, verdict.label],
    );
    const at = stamped[0]!.decided_at.toISOString();
    const voters = [...verdict.voters];
    const outcome = await this.writeDecision(
      client,
      task,
      verdict.label,
      voters,
      answers,
      at,
      typeof verdict.posterior === 'number' ? verdict.posterior : null,
    );
    const copies =
      key === null ? [] : await this.closeCopies(client, task, key, verdict.label, voters, holder, at);
    return {
      eventId: task.event_id,
      reason: task.reason,
      outcome,
      throughGroup: copies.map((c) => ({ eventId: c.event_id, reason: c.reason })),
    };
  }

  /**
   * Decides again, under the reliability estimate in force, the tasks that people answered without
   * reaching their policy's consensusConfidence: those waiting for one more reviewer, and those
   * escalated to an admin. A better estimate of the reviewers who answered can make their answers
   * enough. Tasks leased now are left to their reviewers. Goes through them all, oldest first, a
   * page at a time and a transaction per task; returns how many it decided.
   */
  async redecide(pageSize = 500): Promise<number> {
    let decided = 0;
    // The cursor keeps requested_at as text: a Date would lose its microseconds.
    let after = null as { at: string; id: string } | null;
    for (;;) {
      const { rows: page }: { rows: WaitingTask[] } = await this.opts.pool.query<WaitingTask>(
        `SELECT event_id, group_key, requested_at::text AS requested_key FROM review_tasks
          WHERE status IN ('open', 'escalated') AND answered
            AND (lease_owner IS NULL OR lease_expires_at <= now())
            AND ($2::timestamptz IS NULL OR (requested_at, event_id) > ($2::timestamptz, $3::text))
          ORDER BY requested_at, event_id LIMIT $1`,
        [pageSize, after?.at ?? null, after?.id ?? null],
      );
      decided += await this.redecidePage(page);
      const last = page.at(-1);
      if (!last || page.length < pageSize) return decided;
      after = { at: last.requested_key, id: last.event_id };
    }
  }

  private async redecidePage(waiting: readonly WaitingTask[]): Promise<number> {
    const reliability = this.opts.reliability;
    if (!reliability) return 0;
    let decided = 0;
    for (const { event_id: eventId, group_key: key } of waiting) {
      const made = await withTransaction(this.opts.pool, async (client) => {
        if (key !== null) {
          await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`hitl-group:${key}`]);
        }
        const { rows } = await client.query<TaskRow>(
          `SELECT * FROM review_tasks
            WHERE event_id = $1 AND status IN ('open', 'escalated') AND answered
              AND (lease_owner IS NULL OR lease_expires_at <= now())
            FOR UPDATE SKIP LOCKED`,
          [eventId],
        );
        const task = rows[0];
        if (!task) return null;
        const weighted = await this.weightedSettings(client, task.policy_version);
        if (weighted === null) return null;
        const { rows: answered } = await client.query<{ reviewer_id: string; label: string }>({
          name: 'hitl-task-answers',
          text: 'SELECT reviewer_id, label FROM review_answers WHERE event_id = $1 ORDER BY answered_at, reviewer_id',
          values: [eventId],
        });
        const answers = answered.map((a) => ({ reviewerId: a.reviewer_id, label: a.label }));
        const verdict = weightedConsensus(this.weightedInput(task, answers, weighted));
        if (verdict.kind !== 'decided') return null;
        return this.decide(client, task, key, verdict, answers, '');
      });
      if (made) {
        decided++;
        this.opts.onDecided?.(made);
      }
    }
    return decided;
  }

  /**
   * Closes the open copies of a just-decided task's group with its label, each with one decision
   * (throughGroup: the decided task) and no correction, in the deciding transaction. A copy that
   * has answers, or a live lease of another reviewer, is left to its own reviewers: it gets its own
   * decision when they answer. The caller holds the group's advisory lock; the copies' rows are
   * locked here in event id order, so a claim or answer running now either committed before (and
   * is seen) or waits until this commits (and finds the copy decided).
   */
  private async closeCopies(
    client: PoolClient,
    decided: TaskRow,
    key: string,
    label: string,
    voters: string[],
    holder: string,
    at: string,
  ): Promise<TaskRow[]> {
    const { rows: open } = await client.query<TaskRow & { leased_by_other: boolean }>({
      name: 'hitl-group-lock',
      text: `SELECT *, (lease_owner IS NOT NULL AND lease_owner <> $3 AND lease_expires_at > now()) AS leased_by_other
               FROM review_tasks
              WHERE group_key = $1 AND status <> 'decided' AND event_id <> $2
              ORDER BY event_id FOR UPDATE`,
      values: [key, decided.event_id, holder],
    });
    const copies = open.filter((t) => t.status === 'open' && !t.answered && !t.leased_by_other);
    if (copies.length === 0) return [];
    await client.query({
      name: 'hitl-group-close',
      text: `UPDATE review_tasks SET status = 'decided', final_label = $2, decided_at = $3, decided_through = $4,
                    lease_owner = NULL, lease_expires_at = NULL
              WHERE event_id = ANY($1::text[]) AND status = 'open'`,
      values: [copies.map((c) => c.event_id), label, at, decided.event_id],
    });
    const records = copies.map((copy) => {
      const decision = decisionRecord(copy, label, voters, at, decided.event_id);
      return { topic: this.opts.topics.decisions, key: copy.event_id, value: decision };
    });
    // A bounded statement per chunk: a large campaign must not run past the bind parameter limit.
    for (let i = 0; i < records.length; i += 1_000) {
      await enqueueOutbox(client, records.slice(i, i + 1_000));
    }
    return copies;
  }

  /**
   * What weighted consensus needs to judge a task's answers: its settings, the estimate of its
   * stream, its classes, and (when the policy says so, for a task sent for low confidence that a
   * model scored) the model's probabilities as its prior.
   */
  private weightedInput(
    task: TaskRow,
    answers: { reviewerId: string; label: string }[],
    settings: WeightedSettings,
  ): WeightedConsensusInput {
    const reliability = this.opts.reliability!;
    const { prediction } = task.request;
    const modelPrior =
      settings.usesModel &&
      task.reason === 'low_confidence' &&
      prediction.model !== null &&
      Object.keys(prediction.probabilities).length > 0;
    return {
      answers,
      required: task.required_reviewers,
      needed: task.needed,
      maxExtraRounds: this.opts.maxExtraRounds,
      confidence: settings.confidence,
      estimate: reliability.model(task.stream),
      prior: reliability.prior,
      classes: task.classes,
      ...(modelPrior ? { itemPrior: prediction.probabilities } : {}),
    };
  }

  /**
   * A policy version's weighted consensus settings (read once per version), or null when a
   * majority decides under it (or there is no estimate to weigh answers with).
   */
  private async weightedSettings(client: PoolClient, version: number): Promise<WeightedSettings | null> {
    if (this.opts.policyName === undefined || !this.opts.reliability) return null;
    if (!this.consensusSettings.has(version)) {
      const { rows } = await client.query<{ confidence: unknown; uses_model: unknown }>({
        name: 'hitl-consensus-setting',
        text: `SELECT spec->'consensusConfidence' AS confidence, spec->'consensusUsesModel' AS uses_model
                 FROM routing_policies WHERE name = $1 AND version = $2`,
        values: [this.opts.policyName, version],
      });
      const value = rows[0]?.confidence;
      // Checked again: the spec was validated when stored, but this decides tasks.
      const setting =
        typeof value === 'number' && value > 0 && value < 1
          ? { confidence: value, usesModel: rows[0]?.uses_model === true }
          : null;
      if (this.consensusSettings.size > 10_000) this.consensusSettings.clear();
      this.consensusSettings.set(version, setting);
    }
    return this.consensusSettings.get(version)!;
  }

  /**
   * The human decision and the correction, in the outbox, in the deciding transaction. Under
   * weighted consensus both carry the posterior probability of the label as its confidence.
   */
  private async writeDecision(
    client: PoolClient,
    task: TaskRow,
    label: string,
    voters: string[],
    answers: { reviewerId: string; label: string }[],
    at: string,
    posterior: number | null,
  ): Promise<CorrectionData['outcome']> {
    const { prediction } = task.request;
    const decision = decisionRecord(task, label, voters, at, undefined, posterior);
    const correction: Correction = {
      type: 'correction.recorded',
      version: 1,
      producedAt: at,
      data: {
        eventId: task.event_id,
        stream: prediction.stream,
        input: prediction.input,
        label,
        reviewerLabels: answers.map((a) => ({ reviewerId: a.reviewerId, label: a.label })),
        modelPrediction:
          prediction.model && prediction.label !== null
            ? { model: prediction.model, label: prediction.label, confidence: prediction.confidence }
            : null,
        outcome:
          prediction.model === null || prediction.label === null
            ? 'no_model'
            : prediction.label === label
              ? 'agreed'
              : 'overturned',
        reviewReason: task.reason,
        correctedAt: at,
        ...(posterior === null ? {} : { confidence: posterior }),
      },
    };
    // A record the contract refuses is a bug here; fail the transaction rather than publish it.
    if (!validCorrection.check(correction)) {
      throw new Error(`invalid correction: ${JSON.stringify(validCorrection.issues(correction))}`);
    }
    await enqueueOutbox(client, [
      { topic: this.opts.topics.decisions, key: task.event_id, value: decision },
      { topic: this.opts.topics.corrections, key: task.event_id, value: correction },
    ]);
    return correction.data.outcome;
  }
}

/** A human decision for a task; `throughGroup` when the answer to another copy of its group made it. */
function decisionRecord(
  task: TaskRow,
  label: string,
  voters: string[],
  at: string,
  throughGroup?: string,
  posterior: number | null = null,
): Decision {
  const decision: Decision = {
    type: 'decision.made',
    version: 1,
    producedAt: at,
    data: {
      eventId: task.event_id,
      label,
      decidedBy: 'human',
      model: task.request.prediction.model,
      policyVersion: task.policy_version,
      reviewers: voters,
      confidence: posterior,
      decidedAt: at,
      ...(throughGroup === undefined ? {} : { throughGroup }),
    },
  };
  // A record the contract refuses is a bug here; fail the transaction rather than publish it.
  if (!validDecision.check(decision))
    throw new Error(`invalid decision: ${JSON.stringify(validDecision.issues(decision))}`);
  return decision;
}

/** Throws the 409 for a decided task, naming the copy whose answer decided it through its group. */
function decidedProblem(
  eventId: string,
  task: Pick<TaskRow, 'decided_through' | 'final_label' | 'decided_by' | 'request'>,
): never {
  if (task.decided_by === 'model') {
    const { model } = task.request.prediction;
    throw new TaskError(
      ApiErrorCode.taskDecided,
      `task ${eventId} was decided by the model: scored again by version ${model?.version ?? '?'} after a promotion, it was sure enough to give "${task.final_label}"`,
      { decidedBy: 'model', model, finalLabel: task.final_label },
    );
  }
  if (task.decided_through !== null) {
    throw new TaskError(
      ApiErrorCode.taskDecided,
      `task ${eventId} was decided through its group: the answer to task ${task.decided_through}, an identical item, gave it "${task.final_label}"`,
      { throughGroup: task.decided_through, finalLabel: task.final_label },
    );
  }
  throw new TaskError(ApiErrorCode.taskDecided, `task ${eventId} is already decided`);
}
