// Training requests and runs (migration 1700000005000_training), as the review API and the hitl
// command read and write them: ask for a training, see the requests and the runs. The trainer
// handles the requests and records the runs; the tables are this package's, so its callers need no
// trainer (nor its Kafka, onnxruntime and corpus) to reach them.
import { DbError, DbErrorCode } from './errors';
import type { Queryable } from './outbox';

/**
 * Why a run started, as the training_runs_trigger_check constraint allows: 'labels' for runs
 * recorded before the schedule had steps, the others as the trainer's schedule decides them.
 */
export type TrainingRunTrigger = 'labels' | 'request' | 'first' | 'doubled' | 'every' | 'waited';

export interface TrainingRequest {
  id: string;
  modelId: string;
  requestedBy: string;
  requestedAt: Date;
  /** When a training run took it up, and which; null while pending. */
  handledAt: Date | null;
  runId: string | null;
}

export interface TrainingRun {
  id: string;
  modelId: string;
  status: 'running' | 'finished' | 'failed' | 'aborted';
  trigger: TrainingRunTrigger;
  /** The schedule's sentence with its figures; null for runs recorded before it. */
  startedBecause: string | null;
  instance: string;
  startedAt: Date;
  finishedAt: Date | null;
  /** Training and evaluation examples. */
  examples: number;
  evalExamples: number;
  /** The version registered, when one was. */
  version: number | null;
  outcome: 'promoted' | 'rejected' | 'skipped' | null;
  reason: string | null;
}

interface RequestRow {
  id: string;
  model_id: string;
  requested_by: string;
  requested_at: Date;
  handled_at: Date | null;
  run_id: string | null;
}

// Ids are bigserial, read as text (pg returns bigint as a string). Order by the table's column,
// not by the text alias, which would sort 10 before 9.
const REQUEST_COLUMNS = 'id::text, model_id, requested_by, requested_at, handled_at, run_id::text';

function requestOf(row: RequestRow): TrainingRequest {
  return {
    id: row.id,
    modelId: row.model_id,
    requestedBy: row.requested_by,
    requestedAt: row.requested_at,
    handledAt: row.handled_at,
    runId: row.run_id,
  };
}

/**
 * Asks the model's trainer to train now, whatever the number of new labels: its next check (every
 * CHECK_INTERVAL_MS) starts a run, which marks the request handled. Requests made while one is
 * pending are handled by the same run. `db` is a pool or a client, inside the caller's transaction
 * if it has one open. Fails with HITL_ERR_TRAINING_REQUEST_INVALID on an empty model id or actor.
 */
export async function requestTraining(
  db: Queryable,
  modelId: string,
  actor: string,
): Promise<TrainingRequest> {
  if (typeof modelId !== 'string' || modelId.trim() === '') {
    throw new DbError(DbErrorCode.trainingRequestInvalid, 'a training request needs a model id');
  }
  if (typeof actor !== 'string' || actor.trim() === '') {
    throw new DbError(DbErrorCode.trainingRequestInvalid, 'a training request needs the actor who asks');
  }
  const { rows } = await db.query<RequestRow>(
    `INSERT INTO training_requests (model_id, requested_by) VALUES ($1, $2) RETURNING ${REQUEST_COLUMNS}`,
    [modelId, actor],
  );
  return requestOf(rows[0]!);
}

/** The model's training requests, newest first (only those not handled yet with `pending`). */
export async function listTrainingRequests(
  db: Queryable,
  modelId: string,
  opts: { pending?: boolean; limit?: number } = {},
): Promise<TrainingRequest[]> {
  const { rows } = await db.query<RequestRow>(
    `SELECT ${REQUEST_COLUMNS} FROM training_requests
      WHERE model_id = $1 AND ($2::boolean IS NOT TRUE OR handled_at IS NULL)
      ORDER BY training_requests.id DESC LIMIT $3`,
    [modelId, opts.pending ?? false, opts.limit ?? 100],
  );
  return rows.map(requestOf);
}

/** The model's training runs, newest first. */
export async function listTrainingRuns(
  db: Queryable,
  modelId: string,
  opts: { limit?: number } = {},
): Promise<TrainingRun[]> {
  const { rows } = await db.query<{
    id: string;
    model_id: string;
    status: TrainingRun['status'];
    trigger: TrainingRun['trigger'];
    started_because: string | null;
    instance: string;
    started_at: Date;
    finished_at: Date | null;
    examples: number;
    eval_examples: number;
    version: number | null;
    outcome: TrainingRun['outcome'];
    reason: string | null;
  }>(
    `SELECT id::text, model_id, status, trigger, started_because, instance, started_at, finished_at, examples, eval_examples,
            version, outcome, reason
       FROM training_runs WHERE model_id = $1 ORDER BY training_runs.id DESC LIMIT $2`,
    [modelId, opts.limit ?? 100],
  );
  return rows.map((r) => ({
    id: r.id,
    modelId: r.model_id,
    status: r.status,
    trigger: r.trigger,
    startedBecause: r.started_because,
    instance: r.instance,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    examples: r.examples,
    evalExamples: r.eval_examples,
    version: r.version,
    outcome: r.outcome,
    reason: r.reason,
  }));
}
