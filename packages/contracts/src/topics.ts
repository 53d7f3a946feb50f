import { type Static, type TSchema } from '@sinclair/typebox';
import {
  Correction,
  DeadLetter,
  Decision,
  InputEvent,
  ModelLifecycle,
  Prediction,
  ReviewRequest,
} from './records';

/** One topic: its name, the schema of its records, how a record's key is made, partitions. */
export interface TopicSpec<Schema extends TSchema = TSchema> {
  readonly name: string;
  readonly schema: Schema;
  /** The record key: the event id (or, for model lifecycle records, the model id). */
  key(record: Static<Schema>): string;
  readonly partitions: number;
  readonly description: string;
}

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
    description: 'Input events from producers.',
  }),
  predictions: topic({
    name: 'hitl.predictions.v1',
    schema: Prediction,
    key: (r) => r.data.eventId,
    partitions: 6,
    description: 'Scored predictions, one per event.',
  }),
  reviewRequests: topic({
    name: 'hitl.review-requests.v1',
    schema: ReviewRequest,
    key: (r) => r.data.eventId,
    partitions: 6,
    description: 'Predictions sent to human review.',
  }),
  decisions: topic({
    name: 'hitl.decisions.v1',
    schema: Decision,
    key: (r) => r.data.eventId,
    partitions: 6,
    description: 'Final decisions, exactly one per event.',
  }),
  corrections: topic({
    name: 'hitl.corrections.v1',
    schema: Correction,
    key: (r) => r.data.eventId,
    partitions: 6,
    description: 'Human answers as labelled examples.',
  }),
  models: topic({
    name: 'hitl.models.v1',
    schema: ModelLifecycle,
    // One partition keeps the lifecycle of all versions in one order.
    key: (r) => r.data.model.id,
    partitions: 1,
    description: 'Model lifecycle steps.',
  }),
  deadLetters: topic({
    name: 'hitl.dlq.v1',
    schema: DeadLetter,
    key: (r) =>
      r.data.source.key ?? `${r.data.source.topic}-${r.data.source.partition}-${r.data.source.offset}`,
    partitions: 3,
    description: 'Records a consumer rejected, with the reason.',
  }),
} as const;

export type TopicCatalog = typeof topics;
export type TopicName = keyof TopicCatalog;
/** The record type a topic carries. */
export type RecordOf<T extends TopicSpec> = Static<T['schema']>;

export const allTopics: readonly TopicSpec[] = Object.values(topics);
