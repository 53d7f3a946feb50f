import { Type, type TSchema, type TLiteral, type TUnion } from '@sinclair/typebox';

/** ISO-8601 timestamp with a time zone, e.g. 2026-01-31T12:00:00.000Z. */
export const Timestamp = Type.String({ format: 'date-time', maxLength: 64 });

/** An event id: the record key of every topic, so all records of one event share a partition. */
export const EventId = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\s]+$' });

/** A class label, as the model and the reviewers name it. */
export const ClassLabel = Type.String({ minLength: 1, maxLength: 200 });

/**
 * Every record on every topic is this envelope: a past-tense `type`, an explicit literal
 * `version`, when it was produced, and the record's data.
 */
export function Envelope<Type extends TLiteral<string> | TUnion<TLiteral<string>[]>, Data extends TSchema>(
  type: Type,
  data: Data,
  description: string,
) {
  return Type.Object(
    {
      type,
      version: Type.Literal(1),
      producedAt: Timestamp,
      data,
    },
    { additionalProperties: false, description },
  );
}
