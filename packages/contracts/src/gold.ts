// What a gold import file holds: one known-answer item per line, as JSON.
import { Type, type Static } from '@sinclair/typebox';
import { ClassLabel, EventId } from './envelope';
import { Attributes, EventInput } from './records';

export const GoldItemLine = Type.Object(
  {
    /** The importer's own id for the item; importing the same id again changes nothing. */
    id: Type.Optional(EventId),
    stream: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    input: EventInput,
    attributes: Type.Optional(Attributes),
    /** The right answer. */
    label: ClassLabel,
    /** The choices reviewers get; without them, the routing policy's classes. */
    classes: Type.Optional(Type.Array(ClassLabel, { minItems: 2, maxItems: 1_000, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type GoldItemLine = Static<typeof GoldItemLine>;
