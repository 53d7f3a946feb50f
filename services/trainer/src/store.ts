// The trainer's tables (migration 1700000005000_training): labelled examples, training runs, and
// the bookkeeping of training requests.
import { withTransaction, type TrainingRunTrigger } from '@hitl/db';
import type { EventInput } from '@hitl/contracts';
import type { ClientBase, Pool, PoolClient } from 'pg';
import type { TrainingExample } from './dataset';
import type { ClassCounts, LabelProgress, TrainingStart } from './schedule';
import {
  mergeLabel,
  type HistoryEntry,
  type LabelledExample,
  type ReviewerLabel,
  type Split,
} from './examples';

/** Anything that runs a query: a pool, a pool client, a client. */
export type Queryable = Pick<ClientBase, 'query'>;

/** What storing a batch of corrections did, per correction. */
export interface StoreResult {
  /** Events labelled for the first time. */
  inserted: number;
  /** Later labels that took an earlier one's place (relabelled: of those, the class changed). */
  replaced: number;
  relabelled: number;
  /** Labels older than the event's current one: kept in its history only. */
  late: number;
  /** Redeliveries of a label already stored. */
  duplicate: number;
}

interface ExampleRow {
  event_id: string;
  stream: string;
  input: EventInput;
  label: string;
  reviewer_labels: ReviewerLabel[];
  split: Split;
  corrected_at: Date;
  history: HistoryEntry[];
  confidence: number | null;
}

function exampleOfRow(row: ExampleRow): LabelledExample {
  return {
    eventId: row.event_id,
    stream: row.stream,
    input: row.input,
    label: row.label,
    reviewerLabels: row.reviewer_labels,
    split: row.split,
    correctedAt: row.corrected_at.toISOString(),
    history: row.history,
    ...(row.confidence === null ? {} : { confidence: row.confidence }),
  };
}

const EXAMPLE_COLUMNS =
  'event_id, stream, input, label, reviewer_labels, split, corrected_at, history, confidence';
const RECORDSET = `r(event_id text, stream text, input jsonb, label text, reviewer_labels jsonb, split text,
  corrected_at timestamptz, history jsonb, bump boolean, review_reason text, model_prediction jsonb,
  confidence float8)`;

function recordOf(example: LabelledExample, bump: boolean) {
  return {
    event_id: example.eventId,
    stream: example.stream,
    input: example.input,
    label: example.label,
    reviewer_labels: example.reviewerLabels,
    split: example.split,
    corrected_at: example.correctedAt,
    history: example.history,
    bump,
    review_reason: example.origin?.reviewReason ?? null,
    model_prediction: example.origin?.modelPrediction ?? null,
    confidence: example.confidence ?? null,
  };
}

/**
 * Stores corrections as labelled examples of the model, one per event, in one transaction:
 * redeliveries change nothing, a later label replaces the current one (which joins the history),
 * an earlier one only joins the history. A label that changes an example's class takes a new
 * label_seq, which makes it count towards the next training.
 */
export async function storeExamples(
  pool: Pool,
  modelId: string,
  incoming: readonly LabelledExample[],
  at: Date = new Date(),
): Promise<StoreResult> {
  const result: StoreResult = { inserted: 0, replaced: 0, relabelled: 0, late: 0, duplicate: 0 };
  if (incoming.length === 0) return result;
  const now = at.toISOString();
  return withTransaction(pool, async (client) => {
    const ids = [...new Set(incoming.map((e) => e.eventId))];
    const { rows } = await client.query<ExampleRow>(
      `SELECT ${EXAMPLE_COLUMNS} FROM labelled_examples
        WHERE model_id = $1 AND event_id = ANY($2::text[]) ORDER BY event_id FOR UPDATE`,
      [modelId, ids],
    );
    const state = new Map<
      string,
      { example: LabelledExample; stored: boolean; dirty: boolean; bump: boolean }
    >(
      rows.map((row) => [
        row.event_id,
        { example: exampleOfRow(row), stored: true, dirty: false, bump: false },
      ]),
    );
    for (const example of incoming) {
      const current = state.get(example.eventId);
      if (!current) {
        state.set(example.eventId, { example, stored: false, dirty: true, bump: true });
        result.inserted++;
        continue;
      }
      const merge = mergeLabel(current.example, example, now);
      if (merge.kind === 'duplicate') {
        result.duplicate++;
        continue;
      }
      current.example = merge.example;
      current.dirty = true;
      if (merge.kind === 'late') {
        result.late++;
      } else {
        result.replaced++;
        if (merge.labelChanged) {
          result.relabelled++;
          current.bump = true;
        }
      }
    }
    const fresh = [...state.values()].filter((s) => !s.stored).map((s) => recordOf(s.example, true));
    const changed = [...state.values()]
      .filter((s) => s.stored && s.dirty)
      .map((s) => recordOf(s.example, s.bump));
    if (fresh.length > 0) {
      // Another replica may insert the same event meanwhile (two consumers of one partition across a
      // rebalance): then the later correction wins, as above.
      await client.query(
        `INSERT INTO labelled_examples (model_id, event_id, stream, input, label, reviewer_labels, split,
                                        corrected_at, history, review_reason, model_prediction, confidence)
         SELECT $1, r.event_id, r.stream, r.input, r.label, r.reviewer_labels, r.split, r.corrected_at, r.history,
                r.review_reason, r.model_prediction, r.confidence
           FROM jsonb_to_recordset($2::jsonb) AS ${RECORDSET}
         ON CONFLICT (model_id, event_id) DO UPDATE SET
           stream = EXCLUDED.stream, input = EXCLUDED.input, label = EXCLUDED.label,
           reviewer_labels = EXCLUDED.reviewer_labels, corrected_at = EXCLUDED.corrected_at, updated_at = now(),
           confidence = EXCLUDED.confidence,
           label_seq = CASE WHEN labelled_examples.label <> EXCLUDED.label
                            THEN nextval('labelled_examples_label_seq') ELSE labelled_examples.label_seq END,
           history = labelled_examples.history || jsonb_build_array(jsonb_build_object(
             'label', labelled_examples.label, 'reviewerLabels', labelled_examples.reviewer_labels,
             'correctedAt', to_char(labelled_examples.corrected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
             'supersededAt', $3::text))
         WHERE labelled_examples.corrected_at < EXCLUDED.corrected_at`,
        [modelId, JSON.stringify(fresh), now],
      );
    }
    if (changed.length > 0) {
      await client.query(
        `UPDATE labelled_examples e SET
           stream = r.stream, input = r.input, label = r.label, reviewer_labels = r.reviewer_labels,
           corrected_at = r.corrected_at, history = r.history, updated_at = now(), confidence = r.confidence,
           label_seq = CASE WHEN r.bump THEN nextval('labelled_examples_label_seq') ELSE e.label_seq END
         FROM jsonb_to_recordset($2::jsonb) AS ${RECORDSET}
         WHERE e.model_id = $1 AND e.event_id = r.event_id`,
        [modelId, JSON.stringify(changed)],
      );
    }
    return result;
  });
}

/** One labelled example of the model, or null. */
export async function getLabelledExample(
  db: Queryable,
  modelId: string,
  eventId: string,
): Promise<LabelledExample | null> {
  const { rows } = await db.query<ExampleRow>(
    `SELECT ${EXAMPLE_COLUMNS} FROM labelled_examples WHERE model_id = $1 AND event_id = $2`,
    [modelId, eventId],
  );
  return rows[0] ? exampleOfRow(rows[0]) : null;
}

/** How many labelled examples the model has, per split. */
export async function countLabelledExamples(
  db: Queryable,
  modelId: string,
): Promise<{ train: number; eval: number }> {
  const { rows } = await db.query<{ split: Split; n: number }>(
    'SELECT split, count(*)::int AS n FROM labelled_examples WHERE model_id = $1 GROUP BY split',
    [modelId],
  );
  const counts = { train: 0, eval: 0 };
  for (const row of rows) counts[row.split] = row.n;
  return counts;
}

/** Everything a round trains and evaluates on, and the highest label_seq among it. */
export async function loadTrainingExamples(
  db: Queryable,
  modelId: string,
): Promise<{ examples: TrainingExample[]; labelsThrough: number }> {
  const { rows } = await db.query<{
    event_id: string;
    input: EventInput;
    label: string;
    split: Split;
    label_seq: string;
    confidence: number | null;
  }>(
    'SELECT event_id, input, label, split, label_seq, confidence FROM labelled_examples WHERE model_id = $1',
    [modelId],
  );
  let labelsThrough = 0;
  const examples = rows.map((row) => {
    labelsThrough = Math.max(labelsThrough, Number(row.label_seq));
    return {
      eventId: row.event_id,
      input: row.input,
      label: row.label,
      split: row.split,
      confidence: row.confidence,
    };
  });
  return { examples, labelsThrough };
}

/** What the schedule reads at each check: the labels since the last finished run, and requests. */
export interface TrainingDue extends LabelProgress {
  /** The newest pending request's id: a run handles the requests up to it. */
  lastRequestId: string | null;
}

export async function trainingDue(db: Queryable, modelId: string): Promise<TrainingDue> {
  const { rows } = await db.query<{
    new_labels: number;
    labels_at_last_run: number | null;
    oldest_new_ms: number | null;
    pending: number;
    last_request: string | null;
  }>(
    `WITH last AS (
       SELECT max(labels_through) AS through FROM training_runs WHERE model_id = $1 AND status = 'finished'
     ), labels AS (
       SELECT count(*) FILTER (WHERE label_seq > coalesce(last.through, 0))::int AS new_labels,
              CASE WHEN last.through IS NULL THEN NULL
                   ELSE count(*) FILTER (WHERE label_seq <= last.through)::int END AS labels_at_last_run,
              (extract(epoch FROM now() - min(updated_at) FILTER (WHERE label_seq > coalesce(last.through, 0)))
                 * 1000)::float8 AS oldest_new_ms
         FROM last LEFT JOIN labelled_examples ON model_id = $1
        GROUP BY last.through
     )
     SELECT labels.*,
            (SELECT count(*) FROM training_requests WHERE model_id = $1 AND handled_at IS NULL)::int AS pending,
            (SELECT max(id) FROM training_requests WHERE model_id = $1 AND handled_at IS NULL)::text AS last_request
       FROM labels`,
    [modelId],
  );
  const row = rows[0]!;
  return {
    newLabels: row.new_labels,
    labelsAtLastRun: row.labels_at_last_run,
    oldestNewLabelMs: row.oldest_new_ms,
    pendingRequests: row.pending,
    lastRequestId: row.last_request,
  };
}

/** The model's labelled examples per class, in each split. */
export async function labelCounts(db: Queryable, modelId: string): Promise<ClassCounts> {
  const { rows } = await db.query<{ label: string; split: Split; n: number }>(
    'SELECT label, split, count(*)::int AS n FROM labelled_examples WHERE model_id = $1 GROUP BY label, split',
    [modelId],
  );
  const counts = { train: {} as Record<string, number>, eval: {} as Record<string, number> };
  for (const row of rows) counts[row.split][row.label] = row.n;
  return counts;
}

export type TrainingOutcome = 'promoted' | 'rejected' | 'skipped';

/**
 * Marks the model's runs still 'running' failed. Only the holder of the model's training lock
 * calls it, so such a run belongs to a trainer that stopped or died while holding it.
 */
export async function abandonRuns(db: Queryable, modelId: string, reason: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE training_runs SET status = 'failed', finished_at = now(), reason = $2
      WHERE model_id = $1 AND status = 'running' RETURNING id::text`,
    [modelId, reason],
  );
  return rows.map((r) => r.id);
}

export async function startRun(
  db: Queryable,
  run: {
    modelId: string;
    start: TrainingStart;
    instance: string;
    labelsThrough: number;
    examples: number;
    evalExamples: number;
  },
): Promise<string> {
  // The column takes only what its check constraint lists: a trigger the schedule adds needs a
  // migration, and this assignment fails to compile until @hitl/db's type has it.
  const trigger: TrainingRunTrigger = run.start.trigger;
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO training_runs (model_id, trigger, started_because, instance, labels_through, examples, eval_examples)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id::text`,
    [
      run.modelId,
      trigger,
      run.start.because,
      run.instance,
      run.labelsThrough,
      run.examples,
      run.evalExamples,
    ],
  );
  return rows[0]!.id;
}

/**
 * Locks the run for the rest of the caller's transaction if it is still running, and says whether
 * it is: a trainer whose run was abandoned by another replica must not register anything for it.
 */
export async function claimRun(client: PoolClient, runId: string): Promise<boolean> {
  const { rowCount } = await client.query(
    `SELECT 1 FROM training_runs WHERE id = $1 AND status = 'running' FOR UPDATE`,
    [runId],
  );
  return rowCount === 1;
}

export async function finishRun(
  db: Queryable,
  runId: string,
  end: { outcome: TrainingOutcome; reason: string; version?: number },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE training_runs SET status = 'finished', finished_at = now(), outcome = $2, reason = $3, version = $4
      WHERE id = $1 AND status = 'running'`,
    [runId, end.outcome, end.reason, end.version ?? null],
  );
  return rowCount === 1;
}

/** Ends a run that did not finish: 'failed', or 'aborted' when its trainer was stopping. */
export async function failRun(
  db: Queryable,
  runId: string,
  reason: string,
  status: 'failed' | 'aborted' = 'failed',
): Promise<void> {
  await db.query(
    `UPDATE training_runs SET status = $3, finished_at = now(), reason = $2
      WHERE id = $1 AND status = 'running'`,
    [runId, reason, status],
  );
}

/** Marks the model's pending requests up to `throughId` handled by the run. */
export async function handleRequests(
  db: Queryable,
  modelId: string,
  runId: string,
  throughId: string | null,
): Promise<number> {
  if (throughId === null) return 0;
  const { rowCount } = await db.query(
    `UPDATE training_requests SET handled_at = now(), run_id = $2
      WHERE model_id = $1 AND handled_at IS NULL AND id <= $3`,
    [modelId, runId, throughId],
  );
  return rowCount ?? 0;
}
