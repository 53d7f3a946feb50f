// The stream registry's part of the contract: admins add and change streams, each a use case with
// its classes and input, its model, its routing policy and its reviewers.
import { Type, type Static } from '@sinclair/typebox';

// The bounds of the registry (@hitl/db's streams.ts and its migration), stated for the document.
const StreamId = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'The stream’s name, as its events give it in `stream`.',
});
const Name = (description: string) =>
  Type.String({ minLength: 1, maxLength: 200, pattern: '^\\S+$', description });
const Classes = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
  minItems: 2,
  maxItems: 1_000,
  uniqueItems: true,
  description: 'The labels reviewers choose from and the model predicts, each once.',
});
const InputKind = Type.Union([Type.Literal('text'), Type.Literal('features')], {
  description: 'What its events carry: text, or numeric features of featureWidth.',
});
const FeatureWidth = Type.Integer({
  minimum: 1,
  maximum: 100_000,
  description: 'The number of numeric features of an event; with inputKind features only.',
});
const Reviewers = Type.Array(Type.String({ pattern: '^[A-Za-z0-9._-]{1,100}$' }), {
  maxItems: 1_000,
  uniqueItems: true,
  description: 'Ids of reviewers who may see its tasks, besides admins; each must exist.',
});
const ReviewerGroups = Type.Array(Type.String({ pattern: '^[A-Za-z0-9._-]{1,100}$' }), {
  maxItems: 100,
  uniqueItems: true,
  description: 'Groups of reviewers who may see its tasks.',
});
const AllReviewers = Type.Boolean({
  description: 'Every reviewer may see its tasks (default false: only those named and admins).',
});
const Reason = Type.String({ maxLength: 2_000, description: 'Why; kept with the version.' });

export const StreamIdParam = Type.Object({ stream: StreamId });

export const NewStreamBody = Type.Object(
  {
    id: StreamId,
    classes: Classes,
    inputKind: InputKind,
    featureWidth: Type.Optional(FeatureWidth),
    modelId: Type.Optional(Name('The model id that serves it (default: the stream’s id).')),
    policyName: Type.Optional(Name('The routing policy that routes it (default: its modelId).')),
    reviewers: Type.Optional(Reviewers),
    reviewerGroups: Type.Optional(ReviewerGroups),
    allReviewers: Type.Optional(AllReviewers),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false },
);
export type NewStreamBody = Static<typeof NewStreamBody>;

export const StreamChangeBody = Type.Object(
  {
    classes: Type.Optional(Classes),
    inputKind: Type.Optional(InputKind),
    featureWidth: Type.Optional(
      Type.Union([FeatureWidth, Type.Null()], {
        description: 'The number of numeric features; a stream made text drops it.',
      }),
    ),
    modelId: Type.Optional(Name('The model id that serves it.')),
    policyName: Type.Optional(Name('The routing policy that routes it.')),
    reviewers: Type.Optional(Reviewers),
    reviewerGroups: Type.Optional(ReviewerGroups),
    allReviewers: Type.Optional(AllReviewers),
    expectedVersion: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 2_147_483_647,
        description:
          'Change only if the stream is at this version (else 409 HITL_ERR_STREAM_VERSION_CONFLICT).',
      }),
    ),
    reason: Type.Optional(Reason),
  },
  {
    additionalProperties: false,
    description: 'Only the fields given change; a change that changes nothing makes no version.',
  },
);
export type StreamChangeBody = Static<typeof StreamChangeBody>;

export const StreamView = Type.Object(
  {
    id: Type.String(),
    classes: Type.Array(Type.String()),
    inputKind: InputKind,
    featureWidth: Type.Union([Type.Integer(), Type.Null()]),
    modelId: Type.String(),
    policyName: Type.String(),
    reviewers: Type.Array(Type.String()),
    reviewerGroups: Type.Array(Type.String()),
    allReviewers: Type.Boolean(),
    version: Type.Integer({ description: '1 when added, one more per change.' }),
    revision: Type.Integer({ description: 'The registry revision of its last change.' }),
    createdBy: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedBy: Type.Union([Type.String(), Type.Null()]),
    updatedAt: Type.String({ format: 'date-time' }),
    reason: Type.Union([Type.String(), Type.Null()], { description: 'Why the last change was made.' }),
  },
  { description: 'A stream: a use case with its classes, input, model, routing policy and reviewers.' },
);
export type StreamView = Static<typeof StreamView>;

export const StreamList = Type.Object({
  revision: Type.Integer({
    description: 'The registry revision: higher after every change of any stream.',
  }),
  streams: Type.Array(StreamView, { description: 'Every stream, by id.' }),
});
export type StreamList = Static<typeof StreamList>;
