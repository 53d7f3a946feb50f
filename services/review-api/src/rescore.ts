// Re-scoring on promotion: when a model version is promoted or rolled back, the waiting review
// tasks nobody has answered go back to inference (hitl.rescore-requests.v1) and come back scored by
// the version in force (hitl.rescored.v1). The review API stays the only one that closes a task:
// a new score the policy finds sure enough closes it as a model decision, in one transaction with
// its outbox record; any other new score only updates the task's prediction and priority.
import {
  Decision,
  RescoreRequest,
  createValidator,
  topics,
  type ModelLifecycle,
  type ModelRef,
  type Prediction,
  type PredictionData,
  type ReviewReason,
} from '@hitl/contracts';
import { CertifiedThresholdCache, enqueueOutbox, getCurrentPolicy, withTransaction } from '@hitl/db';
import { ValidatingConsumer, type ConsumedRecord } from '@hitl/kafka';
import { modelDecision, reviewPriority, reviewReason, type Policy } from '@hitl/policy';
import type { Kafka } from 'kafkajs';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { GROUPED_REASONS } from './groups';
import type { reviewApiMetrics } from './metrics';
import type { TaskRow } from './tasks';

export interface RescoringOptions {
  kafka: Kafka;
  pool: Pool;
  logger: Logger;
  registry: Registry;
  metrics: ReturnType<typeof reviewApiMetrics>;
  /** The consumer groups are this with -rescore (lifecycle records) and -rescored (new scores). */
  groupId: string;
  /** The routing policy, whose name is the model id it routes: that model's promotions count. */
  policyName: string;
  /** Most tasks one promotion sends back (the most urgent first). */
  maxTasks: number;
  topics: {
    models: string;
    rescoreRequests: string;
    rescored: string;
    decisions: string;
    deadLetters: string;
  };
  /** Called after outbox rows are committed, to publish them sooner. */
  onOutbox: () => void;
}

export type RescoreOutcome = 'decided' | 'requeued' | 'held' | 'kept' | 'closed';

const validRequest = createValidator(RescoreRequest);
const validDecision = createValidator(Decision);
/** Rows per INSERT of outbox records: a long queue must not run past the bind parameter limit. */
const OUTBOX_CHUNK = 1_000;

/**
 * The two consumers of re-scoring. Both are at-least-once and idempotent: a lifecycle record read
 * again finds its round in rescore_rounds and sends nothing twice, and a new score read again finds
 * its task decided, or sets the same prediction again.
 */
export class Rescoring {
  private readonly log: Logger;
  private readonly certified: CertifiedThresholdCache;
  private readonly lifecycle: ValidatingConsumer<typeof topics.models>;
  private readonly scores: ValidatingConsumer<typeof topics.rescored>;

  constructor(private readonly opts: RescoringOptions) {
    this.log = opts.logger.child({ component: 'rescoring' });
    this.certified = new CertifiedThresholdCache(opts.pool, this.log);
    const deadLetterTopic = { ...topics.deadLetters, name: opts.topics.deadLetters };
    // Lifecycle records from now on: a deployment that starts re-scoring does not replay the
    // promotions of the past; after that, the group's committed offset resumes where it stopped.
    this.lifecycle = new ValidatingConsumer({
      kafka: opts.kafka,
      groupId: `${opts.groupId}-rescore`,
      topic: { ...topics.models, name: opts.topics.models },
      deadLetterTopic,
      logger: this.log,
      registry: opts.registry,
      fromBeginning: false,
      lagIntervalMs: 0,
      handleRecord: async (record) => {
        await this.onLifecycle(record);
      },
    });
    this.scores = new ValidatingConsumer({
      kafka: opts.kafka,
      groupId: `${opts.groupId}-rescored`,
      topic: { ...topics.rescored, name: opts.topics.rescored },
      deadLetterTopic,
      logger: this.log,
      registry: opts.registry,
      handleBatch: async (records) => {
        await this.onScores(records);
      },
    });
  }

  get ready(): boolean {
    return this.lifecycle.ready && this.scores.ready;
  }

  async start(): Promise<void> {
    await Promise.all([this.lifecycle.start(), this.scores.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.lifecycle.stop(), this.scores.stop()]);
  }

  /**
   * A promotion or rollback of the policy's model: sends its waiting tasks, and those scored with
   * no model, to inference.
   */
  async onLifecycle(record: ConsumedRecord<ModelLifecycle>): Promise<number> {
    const { type, data } = record.value;
    if (type !== 'model.promoted' && type !== 'model.rolled_back') return 0;
    if (data.model.id !== this.opts.policyName) return 0;
    const sent = await withTransaction(this.opts.pool, async (client) => {
      const { rowCount } = await client.query(
        `INSERT INTO rescore_rounds (topic, "partition", "offset", model_id, version, step)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
        [record.topic, record.partition, record.offset, data.model.id, data.model.version, type],
      );
      if (rowCount === 0) return 0;
      const tasks = await this.requestScores(client, data.model);
      await client.query(
        `UPDATE rescore_rounds SET tasks = $4 WHERE topic = $1 AND "partition" = $2 AND "offset" = $3`,
        [record.topic, record.partition, record.offset, tasks],
      );
      return tasks;
    });
    if (sent > 0) {
      this.opts.metrics.rescoreRequests.inc(sent);
      this.opts.onOutbox();
    }
    this.log.info({ step: type, model: data.model, tasks: sent }, 'waiting tasks sent to be scored again');
    return sent;
  }

  /**
   * Puts a re-score request for each open task of `model`'s id (or scored with no model) that
   * nobody answered and that was sent for low confidence or with no model, in the outbox: the most
   * urgent first, at most maxTasks.
   */
  private async requestScores(client: PoolClient, model: ModelRef): Promise<number> {
    const { rows } = await client.query<Pick<TaskRow, 'event_id' | 'request'>>(
      `SELECT event_id, request FROM review_tasks
        WHERE status = 'open' AND NOT answered AND reason = ANY($1::text[])
          AND (request->'prediction'->'model' = 'null'::jsonb OR request->'prediction'->'model'->>'id' = $2)
        ORDER BY priority DESC, requested_at, event_id
        LIMIT $3`,
      [GROUPED_REASONS, model.id, this.opts.maxTasks],
    );
    const at = new Date().toISOString();
    const records = rows.map(({ event_id, request }) => {
      const { stream, occurredAt, input, attributes } = request.prediction;
      const value: RescoreRequest = {
        type: 'rescore.requested',
        version: 1,
        producedAt: at,
        data: {
          eventId: event_id,
          stream,
          occurredAt,
          input,
          ...(attributes ? { attributes } : {}),
          model,
          requestedAt: at,
        },
      };
      if (!validRequest.check(value)) {
        throw new Error(`invalid rescore request: ${JSON.stringify(validRequest.issues(value))}`);
      }
      return { topic: this.opts.topics.rescoreRequests, key: event_id, value };
    });
    for (let i = 0; i < records.length; i += OUTBOX_CHUNK) {
      await enqueueOutbox(client, records.slice(i, i + OUTBOX_CHUNK));
    }
    return records.length;
  }

  /** New scores: each applied to its task in a transaction of its own, under the policy in force. */
  async onScores(records: ConsumedRecord<Prediction>[]): Promise<RescoreOutcome[]> {
    const policy = await getCurrentPolicy(this.opts.pool, this.opts.policyName);
    if (!policy) {
      // No router has created the policy yet, so nothing was routed under one: keep the tasks.
      this.log.warn({ policy: this.opts.policyName }, 'no routing policy: new scores left unused');
      return records.map(() => 'kept');
    }
    if (policy.targetAccuracy !== null) {
      await this.certified.load(records.flatMap(({ value }) => (value.data.model ? [value.data.model] : [])));
    }
    const outcomes: RescoreOutcome[] = [];
    let decided = 0;
    for (const { value } of records) {
      const outcome = await withTransaction(this.opts.pool, (client) =>
        this.apply(client, value.data, policy),
      );
      this.opts.metrics.rescored.inc({ outcome });
      if (outcome === 'decided') {
        decided++;
        this.opts.metrics.decisions.inc({ decided_by: 'model', reason: 'rescored' });
      }
      outcomes.push(outcome);
    }
    if (decided > 0) this.opts.onOutbox();
    return outcomes;
  }

  /**
   * One new score. The task's row is locked first, so an answer to the same task either committed
   * before (the task is answered or decided: the score is dropped) or waits for this transaction
   * (and then finds the task decided, or with the new prediction).
   */
  async apply(client: PoolClient, prediction: PredictionData, policy: Policy): Promise<RescoreOutcome> {
    const { rows } = await client.query<TaskRow & { leased: boolean }>(
      `SELECT *, (lease_owner IS NOT NULL AND lease_expires_at > now()) AS leased
         FROM review_tasks WHERE event_id = $1 FOR UPDATE`,
      [prediction.eventId],
    );
    const task = rows[0];
    if (!task || task.status !== 'open' || task.answered) return 'closed';
    if (!GROUPED_REASONS.includes(task.reason)) return 'kept';
    const certifiedFor = (model: ModelRef) => this.certified.thresholds(model, policy);
    const reason = reviewReason(prediction, policy, certifiedFor);
    const request = { ...task.request, prediction };
    if (reason === null && !task.leased) {
      // The new score decides: the task leaves the queue, its group and any expired lease.
      const { rows: stamped } = await client.query<{ decided_at: Date }>(
        `UPDATE review_tasks
            SET status = 'decided', decided_by = 'model', final_label = $2, decided_at = now(), rescored_at = now(),
                request = $3, predicted_label = $2, priority = $4, lease_owner = NULL, lease_expires_at = NULL
          WHERE event_id = $1 RETURNING decided_at`,
        [task.event_id, prediction.label, request, reviewPriority(prediction)],
      );
      const at = stamped[0]!.decided_at.toISOString();
      await enqueueOutbox(client, [
        {
          topic: this.opts.topics.decisions,
          key: task.event_id,
          value: rescoredDecision(prediction, policy, at),
        },
      ]);
      return 'decided';
    }
    // Still with people. An audit draw or a class rule under the new score is a reason of its own:
    // such a task leaves its group, as it would have entered none.
    const stays: ReviewReason = reason === null ? task.reason : reason;
    const priority = reviewPriority(prediction);
    await client.query(
      `UPDATE review_tasks
          SET request = $2, predicted_label = $3, priority = $4, reason = $5, rescored_at = now(),
              group_key = CASE WHEN $6::boolean THEN NULL ELSE group_key END
        WHERE event_id = $1`,
      [
        task.event_id,
        { ...request, reason: stays, priority },
        prediction.label,
        priority,
        stays,
        !GROUPED_REASONS.includes(stays),
      ],
    );
    if (reason === null) return 'held';
    return GROUPED_REASONS.includes(reason) ? 'requeued' : 'kept';
  }
}

/** The model decision that closes a task with its new score. */
function rescoredDecision(prediction: PredictionData, policy: Policy, at: string): Decision {
  const made = modelDecision(prediction, policy, at);
  const decision: Decision = { ...made, data: { ...made.data, reason: 'rescored' } };
  // A record the contract refuses is a bug here; fail the transaction rather than publish it.
  if (!validDecision.check(decision)) {
    throw new Error(`invalid decision: ${JSON.stringify(validDecision.issues(decision))}`);
  }
  return decision;
}
