import { Type, type Static } from '@sinclair/typebox';
import { ClassLabel, Envelope, EventId, Timestamp } from './envelope';

/** What a model scores: text, numeric features of a fixed width, or both. */
export const EventInput = Type.Object(
  {
    text: Type.Optional(Type.String({ maxLength: 200_000 })),
    features: Type.Optional(Type.Array(Type.Number(), { minItems: 1, maxItems: 100_000 })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type EventInput = Static<typeof EventInput>;

export const Attributes = Type.Record(Type.String({ maxLength: 200 }), Type.String({ maxLength: 2_000 }), {
  maxProperties: 64,
});

export const ModelRef = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 200 }),
    version: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type ModelRef = Static<typeof ModelRef>;

// ---- hitl.events.v1 -------------------------------------------------------------------------

export const InputEventData = Type.Object(
  {
    eventId: EventId,
    stream: Type.String({ minLength: 1, maxLength: 200 }),
    occurredAt: Timestamp,
    input: EventInput,
    attributes: Type.Optional(Attributes),
  },
  { additionalProperties: false },
);
export type InputEventData = Static<typeof InputEventData>;

export const InputEvent = Envelope(
  Type.Literal('event.submitted'),
  InputEventData,
  'An input event from a producer system, to be scored.',
);
export type InputEvent = Static<typeof InputEvent>;

// ---- hitl.predictions.v1 --------------------------------------------------------------------

export const PredictionData = Type.Object(
  {
    eventId: EventId,
    stream: Type.String({ minLength: 1, maxLength: 200 }),
    occurredAt: Timestamp,
    input: EventInput,
    attributes: Type.Optional(Attributes),
    /** null when no model was promoted yet (cold start): everything then goes to humans. */
    model: Type.Union([ModelRef, Type.Null()]),
    /** The model's classes, in the order of its probability output. */
    classes: Type.Array(ClassLabel),
    label: Type.Union([ClassLabel, Type.Null()]),
    probabilities: Type.Record(ClassLabel, Type.Number({ minimum: 0, maximum: 1 })),
    /** Probability of the predicted label. */
    confidence: Type.Number({ minimum: 0, maximum: 1 }),
    /** Top probability minus the second. */
    margin: Type.Number({ minimum: 0, maximum: 1 }),
    /** Shannon entropy of the distribution, in nats. */
    entropy: Type.Number({ minimum: 0 }),
    scoredAt: Timestamp,
  },
  { additionalProperties: false },
);
export type PredictionData = Static<typeof PredictionData>;

export const Prediction = Envelope(
  Type.Literal('prediction.scored'),
  PredictionData,
  'A scored prediction for one event, naming the model version that made it.',
);
export type Prediction = Static<typeof Prediction>;

// ---- hitl.rescore-requests.v1 and hitl.rescored.v1 ------------------------------------------

export const RescoreRequestData = Type.Object(
  {
    eventId: EventId,
    stream: Type.String({ minLength: 1, maxLength: 200 }),
    occurredAt: Timestamp,
    input: EventInput,
    attributes: Type.Optional(Attributes),
    /**
     * The version whose promotion (or rollback to it) asked for the new score. Inference scores
     * with the version in force, reading the registry first when it still serves an older one.
     */
    model: ModelRef,
    requestedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type RescoreRequestData = Static<typeof RescoreRequestData>;

export const RescoreRequest = Envelope(
  Type.Literal('rescore.requested'),
  RescoreRequestData,
  'A waiting review task sent back to inference to be scored by the model version now in force.',
);
export type RescoreRequest = Static<typeof RescoreRequest>;

// ---- hitl.review-requests.v1 ----------------------------------------------------------------

export const ReviewReason = Type.Union([
  Type.Literal('no_model'),
  Type.Literal('low_confidence'),
  Type.Literal('class_rule'),
  Type.Literal('audit_sample'),
]);
export type ReviewReason = Static<typeof ReviewReason>;

export const ReviewRequestData = Type.Object(
  {
    eventId: EventId,
    prediction: PredictionData,
    reason: ReviewReason,
    /** Higher is more urgent. */
    priority: Type.Number(),
    policyVersion: Type.Integer({ minimum: 1 }),
    requiredReviewers: Type.Integer({ minimum: 1, maximum: 25 }),
    requestedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type ReviewRequestData = Static<typeof ReviewRequestData>;

export const ReviewRequest = Envelope(
  Type.Literal('review.requested'),
  ReviewRequestData,
  'A prediction sent to human reviewers, with the reason and priority.',
);
export type ReviewRequest = Static<typeof ReviewRequest>;

// ---- hitl.decisions.v1 ----------------------------------------------------------------------

export const DecidedBy = Type.Union([Type.Literal('model'), Type.Literal('human')]);
export type DecidedBy = Static<typeof DecidedBy>;

export const DecisionData = Type.Object(
  {
    eventId: EventId,
    label: ClassLabel,
    decidedBy: DecidedBy,
    model: Type.Union([ModelRef, Type.Null()]),
    policyVersion: Type.Integer({ minimum: 1 }),
    /** Ids of the reviewers whose answers made a human decision; empty for a model decision. */
    reviewers: Type.Array(Type.String({ minLength: 1, maxLength: 200 })),
    /**
     * A model decision: the model's confidence in the label. A human one: under weighted consensus,
     * the label's posterior probability given the answers and the reviewers' estimated reliability;
     * null when a majority or an admin decided.
     */
    confidence: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()]),
    decidedAt: Timestamp,
    /**
     * Set on a human decision made through an exact-duplicate group: the event whose answer decided
     * this one, whose input is the same after normalisation. Absent when the event's own reviewers
     * (or the model) decided it. `reviewers` are then the reviewers of that event.
     */
    throughGroup: Type.Optional(EventId),
    /**
     * Set on a model decision that closed a waiting review task: after a promotion or rollback,
     * the version in force scored the task again and was sure enough under the policy in force.
     * `model` and `policyVersion` are then those of the new score. Absent on the router's
     * decisions.
     */
    reason: Type.Optional(Type.Literal('rescored')),
  },
  { additionalProperties: false },
);
export type DecisionData = Static<typeof DecisionData>;

export const Decision = Envelope(
  Type.Literal('decision.made'),
  DecisionData,
  'The final decision for one event, made once, by the model or by humans.',
);
export type Decision = Static<typeof Decision>;

// ---- hitl.corrections.v1 --------------------------------------------------------------------

export const ReviewerLabel = Type.Object(
  {
    reviewerId: Type.String({ minLength: 1, maxLength: 200 }),
    label: ClassLabel,
  },
  { additionalProperties: false },
);

export const CorrectionData = Type.Object(
  {
    eventId: EventId,
    stream: Type.String({ minLength: 1, maxLength: 200 }),
    input: EventInput,
    /** The label the humans settled on. */
    label: ClassLabel,
    reviewerLabels: Type.Array(ReviewerLabel, { minItems: 1 }),
    modelPrediction: Type.Union([
      Type.Object(
        {
          model: ModelRef,
          label: ClassLabel,
          confidence: Type.Number({ minimum: 0, maximum: 1 }),
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
    /** agreed: humans chose the model's label; overturned: they did not; no_model: nothing to compare. */
    outcome: Type.Union([Type.Literal('agreed'), Type.Literal('overturned'), Type.Literal('no_model')]),
    reviewReason: ReviewReason,
    correctedAt: Timestamp,
    /**
     * How sure the label is: under weighted consensus, its posterior probability given the answers
     * and the reviewers' estimated reliability. Absent: decided by a majority, with no estimate.
     */
    confidence: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);
export type CorrectionData = Static<typeof CorrectionData>;

export const Correction = Envelope(
  Type.Literal('correction.recorded'),
  CorrectionData,
  'A human answer for one event: a labelled training example, compared with the model.',
);
export type Correction = Static<typeof Correction>;

// ---- hitl.models.v1 -------------------------------------------------------------------------

export const ModelLifecycleType = Type.Union([
  Type.Literal('model.trained'),
  Type.Literal('model.evaluated'),
  Type.Literal('model.promoted'),
  Type.Literal('model.rejected'),
  Type.Literal('model.rolled_back'),
]);
export type ModelLifecycleType = Static<typeof ModelLifecycleType>;

export const ModelLifecycleData = Type.Object(
  {
    model: ModelRef,
    parentVersion: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    classes: Type.Array(ClassLabel),
    inputKind: Type.Union([Type.Literal('text'), Type.Literal('features')]),
    /** Named figures: accuracy, macroF1, logLoss, ece, per-class recall, ... */
    metrics: Type.Record(Type.String({ maxLength: 200 }), Type.Number()),
    reason: Type.Optional(Type.String({ maxLength: 2_000 })),
    actor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type ModelLifecycleData = Static<typeof ModelLifecycleData>;

export const ModelLifecycle = Envelope(
  ModelLifecycleType,
  ModelLifecycleData,
  "One step in a model version's life: trained, evaluated, promoted, rejected or rolled back.",
);
export type ModelLifecycle = Static<typeof ModelLifecycle>;

// ---- hitl.dlq.v1 ----------------------------------------------------------------------------

export const DeadLetterData = Type.Object(
  {
    source: Type.Object(
      {
        topic: Type.String(),
        partition: Type.Integer({ minimum: 0 }),
        offset: Type.String({ pattern: '^[0-9]+$' }),
        /** The key as UTF-8 text (a key that is not valid UTF-8 also comes as keyBase64). */
        key: Type.Union([Type.String(), Type.Null()]),
        /** The key's bytes, when they are not valid UTF-8 (key then shows them lossily). */
        keyBase64: Type.Optional(Type.String()),
        timestamp: Type.String(),
      },
      { additionalProperties: false },
    ),
    consumerGroup: Type.String(),
    /** The original value, byte for byte, base64-encoded (null for a tombstone). */
    payloadBase64: Type.Union([Type.String(), Type.Null()]),
    payloadBytes: Type.Integer({ minimum: 0 }),
    /** True when payloadBase64 holds only the first part of a very large payload. */
    payloadTruncated: Type.Boolean(),
    headers: Type.Record(Type.String(), Type.String()),
    /** The bytes of each header value that is not valid UTF-8, by header name. */
    headersBase64: Type.Optional(Type.Record(Type.String(), Type.String())),
    error: Type.Object(
      {
        code: Type.String({ pattern: '^HITL_ERR_[A-Z0-9_]+$' }),
        message: Type.String({ maxLength: 10_000 }),
      },
      { additionalProperties: false },
    ),
    attempts: Type.Integer({ minimum: 0 }),
    /**
     * What the dead letter left out of the record's key and headers to stay sendable, one
     * sentence each (absent when nothing was): a record can carry a key and headers far larger
     * than a dead letter may be.
     */
    truncated: Type.Optional(Type.Array(Type.String({ maxLength: 500 }), { maxItems: 10 })),
  },
  { additionalProperties: false },
);
export type DeadLetterData = Static<typeof DeadLetterData>;

export const DeadLetter = Envelope(
  Type.Literal('record.dead_lettered'),
  DeadLetterData,
  'A record a consumer could not process, with where it came from and why.',
);
export type DeadLetter = Static<typeof DeadLetter>;
