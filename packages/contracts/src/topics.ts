import { type Static, type TSchema } from '@sinclair/typebox';
import {
  Correction,
  DeadLetter,
  Decision,
  InputEvent,
  ModelLifecycle,
  Prediction,
  RescoreRequest,
  ReviewRequest,
} from './records';

/** One topic: its name, the schema of its records, how a record's key is made, partitions. */
export interface TopicSpec<Schema extends TSchema = TSchema> {
  readonly name: string;
  readonly schema: Schema;
  /** The record key: the event id (or, for model lifecycle records, the model id). */
  key(record: Static<Schema>): string;
  readonly partitions: number;
  /**
   * The topic's retention.ms when it is created (-1: forever); KAFKA_TOPIC_RETENTION_MS overrides
   * it per topic. Retention is about who reads a topic later than live: see each value's reason.
   */
  readonly retentionMs: number;
  readonly description: string;
}

const DAY_MS = 86_400_000;
/** Kafka's retention.ms for a topic whose records are never deleted by age. */
export const RETAIN_FOREVER = -1;

function topic<Schema extends TSchema>(spec: TopicSpec<Schema>): TopicSpec<Schema> {
  return spec;
}

/** The topic catalog: the contract between services. */
export const topics = {
  events: topic({
    name: 'hitl.events.v1',
    schema: InputEvent,
    key: (r) => r.data.eventId,
    partitions: 6,
    // Read live by inference; a week outlasts an outage of it.
    retentionMs: 7 * DAY_MS,
    description: 'Input events from producers.',
  }),
  predictions: topic({
    name: 'hitl.predictions.v1',
    schema: Prediction,
    key: (r) => r.data.eventId,
    partitions: 6,
    retentionMs: 7 * DAY_MS,
    description: 'Scored predictions, one per event.',
  }),
  reviewRequests: topic({
    name: 'hitl.review-requests.v1',
    schema: ReviewRequest,
    key: (r) => r.data.eventId,
    partitions: 6,
    // The review API stores each request as a task at once; this only has to outlast its outage.
    retentionMs: 14 * DAY_MS,
    description: 'Predictions sent to human review.',
  }),
  decisions: topic({
    name: 'hitl.decisions.v1',
    schema: Decision,
    key: (r) => r.data.eventId,
    partitions: 6,
    // The platform's output: downstream consumers may lag, or start later and read back.
    retentionMs: 90 * DAY_MS,
    description: 'Final decisions, exactly one per event.',
  }),
  corrections: topic({
    name: 'hitl.corrections.v1',
    schema: Correction,
    key: (r) => r.data.eventId,
    partitions: 6,
    // The labels people paid for. The trainer keeps them in Postgres, but a trainer of another model
    // (a new MODEL_ID and GROUP_ID) starts from the earliest offset and learns only what is left.
    retentionMs: RETAIN_FOREVER,
    description: 'Human answers as labelled examples.',
  }),
  models: topic({
    name: 'hitl.models.v1',
    schema: ModelLifecycle,
    // One partition keeps the lifecycle of all versions in one order.
    key: (r) => r.data.model.id,
    partitions: 1,
    // A few records per training: the lineage of every version, small enough to keep.
    retentionMs: RETAIN_FOREVER,
    description: 'Model lifecycle steps.',
  }),
  rescoreRequests: topic({
    name: 'hitl.rescore-requests.v1',
    schema: RescoreRequest,
    key: (r) => r.data.eventId,
    partitions: 6,
    // Read live by inference; answered within seconds, and worth nothing once the task is decided.
    retentionMs: 7 * DAY_MS,
    description: 'Waiting review tasks to score again after a model promotion or rollback.',
  }),
  rescored: topic({
    name: 'hitl.rescored.v1',
    schema: Prediction,
    key: (r) => r.data.eventId,
    partitions: 6,
    retentionMs: 7 * DAY_MS,
    description: 'New predictions for waiting review tasks, by the model version in force.',
  }),
  deadLetters: topic({
    name: 'hitl.dlq.v1',
    schema: DeadLetter,
    key: (r) =>
      r.data.source.key ?? `${r.data.source.topic}-${r.data.source.partition}-${r.data.source.offset}`,
    partitions: 3,
    // Long enough to notice, fix and redrive (hitl dlq redrive reads them from here).
    retentionMs: 30 * DAY_MS,
    description: 'Records a consumer rejected, with the reason.',
  }),
} as const;

export type TopicCatalog = typeof topics;
export type TopicName = keyof TopicCatalog;
/** The record type a topic carries. */
export type RecordOf<T extends TopicSpec> = Static<T['schema']>;

export const allTopics: readonly TopicSpec[] = Object.values(topics);
