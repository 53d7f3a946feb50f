// Request and response schemas of every route of the review API: the server validates with them
// and @fastify/swagger builds the OpenAPI document from them, so the two cannot drift apart; the
// client and the web app take their types from the same objects.
import { EventInput, ModelRef, ReviewReason } from '@hitl/contracts';
import { Type, type Static } from '@sinclair/typebox';

export const EventIdParam = Type.Object({ eventId: Type.String({ minLength: 1, maxLength: 256 }) });

export const TaskStatus = Type.Union([
  Type.Literal('open'),
  Type.Literal('escalated'),
  Type.Literal('decided'),
]);

export const Task = Type.Object(
  {
    eventId: Type.String(),
    stream: Type.String(),
    status: TaskStatus,
    reason: ReviewReason,
    priority: Type.Number({ description: 'Higher first: the model’s uncertainty.' }),
    policyVersion: Type.Integer(),
    classes: Type.Array(Type.String(), { description: 'The labels to choose from (empty: any label).' }),
    requiredReviewers: Type.Integer(),
    needed: Type.Integer({ description: 'Answers needed now (more after a split).' }),
    answers: Type.Integer({ description: 'Answers given so far.' }),
    input: EventInput,
    attributes: Type.Optional(Type.Record(Type.String(), Type.String())),
    prediction: Type.Object({
      model: Type.Union([ModelRef, Type.Null()]),
      label: Type.Union([Type.String(), Type.Null()]),
      confidence: Type.Number(),
      probabilities: Type.Record(Type.String(), Type.Number()),
    }),
    requestedAt: Type.String({ format: 'date-time' }),
    lease: Type.Union([
      Type.Object({ owner: Type.String(), expiresAt: Type.String({ format: 'date-time' }) }),
      Type.Null(),
    ]),
    finalLabel: Type.Union([Type.String(), Type.Null()]),
    decidedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { description: 'A review task as a reviewer sees it.' },
);
export type Task = Static<typeof Task>;

export const ClaimBody = Type.Object(
  {
    reason: Type.Optional(ReviewReason),
    label: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'The model’s predicted label.' }),
    ),
    stream: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    escalated: Type.Optional(
      Type.Boolean({
        description:
          'Only tasks escalated to an admin (true; admins only, others get 403 HITL_ERR_FORBIDDEN), or only tasks that are not (false).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ClaimBody = Static<typeof ClaimBody>;

export const Lease = Type.Object({
  eventId: Type.String(),
  owner: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
});

export const AnswerBody = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 200 }),
    comment: Type.Optional(Type.String({ maxLength: 2_000 })),
  },
  { additionalProperties: false },
);
export type AnswerBody = Static<typeof AnswerBody>;

export const AnswerResult = Type.Object(
  {
    eventId: Type.String(),
    status: TaskStatus,
    finalLabel: Type.Union([Type.String(), Type.Null()]),
    answers: Type.Integer(),
    needed: Type.Integer(),
  },
  { description: 'Where the task stands after the answer.' },
);
export type AnswerResult = Static<typeof AnswerResult>;

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'A retried request with the same key gets what the first got: an answer its first result, a claim the same task.',
    }),
  ),
});

export const Role = Type.Union([Type.Literal('reviewer'), Type.Literal('admin')]);

export const Reviewer = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    role: Role,
    groups: Type.Array(Type.String(), {
      description: 'The groups it belongs to: a stream open to a group is open to its members.',
    }),
    createdAt: Type.String({ format: 'date-time' }),
    disabledAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { description: 'A person with an API key.' },
);

export const CreateReviewerBody = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9._-]{1,100}$' }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    role: Role,
    groups: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9._-]{1,100}$' }), { maxItems: 100, uniqueItems: true }),
    ),
  },
  { additionalProperties: false },
);

export const ApiKeyInfo = Type.Object({
  id: Type.String(),
  reviewerId: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'When it last worked, to the minute or so (written at most once a minute).',
  }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'After this it no longer works; null: never.',
  }),
  createdBy: Type.Union([Type.String(), Type.Null()], {
    description: 'The admin who made it; null when made with the hitl command.',
  }),
});

export const ReviewerIdParam = Type.Object({
  reviewerId: Type.String({ pattern: '^[A-Za-z0-9._-]{1,100}$' }),
});

export const CreateKeyBody = Type.Object(
  {
    expiresInDays: Type.Optional(
      Type.Number({
        // More than 0, said in a way OpenAPI 3.0 takes: its exclusiveMinimum is a boolean, which
        // ajv (JSON Schema draft 7, a number there) refuses, and schemathesis refuses the number.
        minimum: 0,
        not: { enum: [0] },
        maximum: 3_650,
        description: 'The key stops working this many days from now; without it, never.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const CreatedKey = Type.Object({
  key: Type.String({ description: 'Shown this once; only its hash is stored.' }),
  info: ApiKeyInfo,
});

export const ReviewerSettings = Type.Object(
  {
    hideSuggestion: Type.Boolean({
      description: 'Do not show the model’s label and probabilities until the reviewer has answered.',
    }),
    featureNames: Type.Array(Type.String(), {
      description: 'Names of the numeric input features, in input order (empty: none given).',
    }),
  },
  {
    description: 'How tasks are shown to reviewers, from the routing policy in force (defaults without one).',
  },
);
export type ReviewerSettings = Static<typeof ReviewerSettings>;

export const Me = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Role,
  keyId: Type.String(),
  settings: ReviewerSettings,
});
export type Me = Static<typeof Me>;

export const PolicySpecSchema = Type.Object(
  {
    classes: Type.Array(Type.String()),
    threshold: Type.Number(),
    classThresholds: Type.Record(Type.String(), Type.Number()),
    alwaysReview: Type.Array(Type.String()),
    auditRate: Type.Number(),
    requiredReviewers: Type.Integer(),
    targetAccuracy: Type.Union([Type.Number(), Type.Null()], {
      description:
        'An accuracy the model’s own decisions must reach, above 0 and below 1; with one, the thresholds certified for the model version that made a prediction replace threshold and classThresholds, and a class without one goes to people. null (the default): no target.',
    }),
    confidenceLevel: Type.Number({
      description:
        'How sure the certification of targetAccuracy must be, above 0 and below 1 (default 0.95).',
    }),
    hideSuggestion: Type.Boolean({
      description:
        'Reviewers do not see the model’s label and probabilities until they have answered (default false): a suggestion shown first biases people toward it.',
    }),
    featureNames: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
      maxItems: 4_096,
      uniqueItems: true,
      description:
        'Names of the numeric input features, in input order, shown to reviewers beside the values (default none).',
    }),
    goldRate: Type.Number({
      description:
        'Share of claims that hand the reviewer a gold task (a known-answer item they have not had), from 0 to 0.5 (default 0). Gold answers measure reviewers and never become decisions.',
    }),
    consensusConfidence: Type.Union([Type.Number(), Type.Null()], {
      description:
        'Weighted consensus, above 0 and below 1 (e.g. 0.99): a task is decided when the posterior probability of its leading label, given the answers and the reviewers’ estimated confusion matrices, reaches it; otherwise one more reviewer is asked. null (the default): a majority decides.',
    }),
    consensusUsesModel: Type.Optional(
      Type.Literal(true, {
        description:
          'With weighted consensus: the model’s probabilities are the prior of a task sent for low confidence, instead of the stream’s class frequencies. Absent: off. Audit-sample, class-rule and no-model tasks keep the class prior.',
      }),
    ),
    nearDuplicates: Type.Optional(
      Type.Object(
        {
          minSimilarity: Type.Number({
            minimum: 0.8,
            maximum: 1,
            description:
              'The least estimated Jaccard similarity (MinHash over the words and word pairs the text model uses) at which a text joins an open group, from 0.8 to 1.',
          }),
        },
        {
          additionalProperties: false,
          description:
            'Near-duplicate groups (absent or null: off, the default): a text task sent for low confidence or with no model joins the open group of a text this similar, and one human answer decides the group. Never audit-sample or class-rule tasks.',
        },
      ),
    ),
  },
  { description: 'Checked in full by the policy rules; problems come back as HITL_ERR_POLICY_INVALID.' },
);

export const StoredPolicy = Type.Composite([
  PolicySpecSchema,
  Type.Object({
    name: Type.String(),
    version: Type.Integer(),
    createdBy: Type.Union([Type.String(), Type.Null()]),
    reason: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
  }),
]);

export const PolicyChangeBody = Type.Object(
  {
    // Untyped here: the policy rules check it and list every problem, where this schema would
    // stop at the first and, coercing types, take "0.99" for 0.99.
    spec: Type.Unknown({
      description:
        'The whole new policy (see PolicySpec); targetAccuracy, confidenceLevel, hideSuggestion, featureNames, goldRate, consensusConfidence and nearDuplicates may be left out (no target, 0.95, false, none, 0, majority, off). Problems come back as HITL_ERR_POLICY_INVALID.',
    }),
    reason: Type.Optional(Type.String({ maxLength: 2_000 })),
  },
  { additionalProperties: false },
);

export const ClassThreshold = Type.Object({
  threshold: Type.Union([Type.Number(), Type.Null()], {
    description: 'The model decides this class at confidences at or above it; null: people decide it.',
  }),
  predicted: Type.Integer({ description: 'Held-out examples predicted as this class, at any confidence.' }),
  decisions: Type.Integer({ description: 'Held-out decisions at or above the threshold (0 without one).' }),
  correct: Type.Integer({ description: 'How many of those were right.' }),
  lowerBound: Type.Union([Type.Number(), Type.Null()], {
    description:
      'Clopper–Pearson lower bound of their accuracy at the confidence level; null without a threshold.',
  }),
  reason: Type.String({ description: 'What happened, with the figures, as one sentence.' }),
});

export const CertifiedThresholds = Type.Object(
  {
    targetAccuracy: Type.Number(),
    confidenceLevel: Type.Number(),
    examples: Type.Integer({ description: 'Held-out examples used.' }),
    perClass: Type.Record(Type.String(), ClassThreshold),
  },
  { description: 'Per-class thresholds certified, on held-out labels, for a target accuracy.' },
);

export const ModelVersionSummary = Type.Object({
  modelId: Type.String(),
  version: Type.Integer(),
  status: Type.String(),
  classes: Type.Array(Type.String()),
  inputKind: Type.String(),
  featureWidth: Type.Union([Type.Integer(), Type.Null()]),
  metrics: Type.Record(Type.String(), Type.Unknown()),
  modelCard: Type.Record(Type.String(), Type.Unknown(), {
    description:
      'What the version is and how it was made, as its trainer (or importer) wrote it: the training run and why it started, the examples, the evaluation, the gate decision.',
  }),
  thresholds: Type.Union([CertifiedThresholds, Type.Null()], {
    description:
      'The thresholds certified when the version was trained, for the target and confidence level they name (for another, the router certifies the version again from the held-out predictions it keeps); null when it was not certified.',
  }),
  temperature: Type.Union([Type.Number(), Type.Null()], {
    description:
      'A calibration temperature inference applies to what the ONNX file gives (an imported model); null when the file is calibrated itself.',
  }),
  parentVersion: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  promotedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const ModelChangeBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 2_000 })) },
  { additionalProperties: false },
);

export const TaskListQuery = Type.Object(
  {
    status: Type.Optional(TaskStatus),
    reason: Type.Optional(ReviewReason),
    label: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'The model’s predicted label.' }),
    ),
    stream: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 1_000, description: 'nextCursor of the previous page.' })),
  },
  { additionalProperties: false },
);

export const TaskPage = Type.Object({
  items: Type.Array(Task),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page.' }),
});

const Count = Type.Record(Type.String(), Type.Integer());
const Ratio = Type.Union([Type.Number(), Type.Null()]);

export const Stats = Type.Object({
  queue: Type.Object({
    open: Type.Integer(),
    escalated: Type.Integer(),
    leased: Type.Integer(),
    byReason: Count,
    byClass: Count,
    byStream: Type.Record(Type.String(), Type.Integer(), {
      description: 'Undecided tasks per stream: the 1,000 streams with the most.',
    }),
    oldestWaitingSeconds: Type.Union([Type.Number(), Type.Null()]),
  }),
  decisions: Type.Object({
    lastHour: Type.Integer(),
    last24Hours: Type.Integer(),
    perHour: Type.Array(Type.Object({ hour: Type.String({ format: 'date-time' }), count: Type.Integer() })),
  }),
  reviewers: Type.Array(
    Type.Object({
      reviewerId: Type.String(),
      answers: Type.Integer({ description: 'Answers in the last 30 days.' }),
      answersLastHour: Type.Integer(),
      answersToday: Type.Integer({ description: 'Answers since 00:00 UTC today.' }),
      agreementWithFinal: Ratio,
      kappaWithFinal: Ratio,
      goldAnswers: Type.Integer({ description: 'Answers to gold tasks in the last 30 days.' }),
      goldAccuracy: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], {
        description: 'The share of those that were right; null without any.',
      }),
      reliability: Type.Optional(
        Type.Array(
          Type.Object({
            stream: Type.String(),
            accuracy: Type.Number({
              minimum: 0,
              maximum: 1,
              description:
                'Estimated from gold tasks and tasks several people answered (Dawid–Skene with a prior); the prior alone without such answers.',
            }),
            answers: Type.Integer({ description: 'Answers the estimate counted.' }),
            goldAnswers: Type.Integer(),
          }),
          { description: 'Admins only: the newest reliability estimate, per stream.' },
        ),
      ),
      flagged: Type.Optional(
        Type.Boolean({ description: 'Admins only: estimated below RELIABILITY_FLAG_BELOW on some stream.' }),
      ),
    }),
  ),
  agreement: Type.Object({
    items: Type.Integer({ description: 'Decided tasks with two or more answers, most recent 10,000.' }),
    percentAgreement: Ratio,
    fleissKappa: Ratio,
  }),
});

export const ExportQuery = Type.Object(
  {
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Decisions from this time on.' })),
    // No NUL: the export has begun as application/x-ndjson when Postgres refuses one, too late
    // for a JSON error to say what it is.
    stream: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]*$' })),
  },
  { additionalProperties: false },
);

/**
 * One line of GET /v1/export. The route sends JSON lines, so its OpenAPI schema is a string that
 * names these fields in words; this is the shape the server writes and the client reads.
 */
export const ExportedLabel = Type.Object(
  {
    eventId: Type.String(),
    stream: Type.String(),
    input: EventInput,
    label: Type.String({ description: 'The final label.' }),
    reviewerLabels: Type.Array(Type.Object({ reviewerId: Type.String(), label: Type.String() }), {
      description: 'Every answer, in the order given.',
    }),
    reviewReason: ReviewReason,
    modelPrediction: Type.Union([
      Type.Object({
        model: ModelRef,
        label: Type.Union([Type.String(), Type.Null()]),
        confidence: Type.Number(),
      }),
      Type.Null(),
    ]),
    decidedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A decided task as the export writes it.' },
);
export type ExportedLabel = Static<typeof ExportedLabel>;

export const TrainingRequested = Type.Object({
  id: Type.String(),
  modelId: Type.String(),
  requestedAt: Type.String({ format: 'date-time' }),
});

export const TrainingRun = Type.Object({
  id: Type.String(),
  status: Type.String({ description: 'running, finished, failed, or aborted (its trainer was stopping)' }),
  trigger: Type.String({
    description:
      'why it started: first (the labels can first support a model), doubled (the labels doubled since the last run), every (RETRAIN_EVERY new labels), waited (labels waited RETRAIN_AFTER_MS), request (an admin asked); labels for runs recorded before these',
  }),
  startedBecause: Type.Union([Type.String(), Type.Null()], {
    description: 'the same, as a sentence with its figures',
  }),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  examples: Type.Integer(),
  evalExamples: Type.Integer(),
  version: Type.Union([Type.Integer(), Type.Null()]),
  outcome: Type.Union([Type.String(), Type.Null()], { description: 'promoted, rejected or skipped' }),
  reason: Type.Union([Type.String(), Type.Null()]),
});

export const LearningQuery = Type.Object(
  {
    days: Type.Integer({
      minimum: 1,
      maximum: 90,
      default: 14,
      description: 'The window: this many days back from now.',
    }),
  },
  { additionalProperties: false },
);

export const LearningPoint = Type.Object({
  start: Type.String({
    format: 'date-time',
    description:
      'The start of the bucket: a multiple of bucketMinutes since 1970-01-01T00:00Z (a day bucket starts at midnight UTC). The first may start before `from`; it then counts only what is from `from` on.',
  }),
  modelDecisions: Type.Integer({ description: 'Decisions the model made in the bucket.' }),
  humanDecisions: Type.Integer({ description: 'Tasks people decided in the bucket.' }),
  audited: Type.Integer({
    description: 'Audit-sample tasks decided in the bucket whose event the model had labelled.',
  }),
  auditedCorrect: Type.Integer({ description: 'Of those, how many people gave the model’s label.' }),
});
export type LearningPoint = Static<typeof LearningPoint>;

export const Learning = Type.Object(
  {
    from: Type.String({
      format: 'date-time',
      description: 'The start of the window: `days` days before `to`, at the start of that UTC minute.',
    }),
    to: Type.String({ format: 'date-time', description: 'The end of the window: now.' }),
    bucketMinutes: Type.Integer({
      minimum: 1,
      description:
        'The length of each bucket in minutes: the smallest of 1, 5, 15, 60, 360 and 1440 that gives at most 200 buckets from the first activity in the window to `to` (from `from` to `to` when there is none).',
    }),
    points: Type.Array(LearningPoint, {
      description: 'Oldest first; only buckets with a count above 0.',
    }),
    promotions: Type.Array(
      Type.Object({ version: Type.Integer(), promotedAt: Type.String({ format: 'date-time' }) }),
      { description: 'Versions of the policy’s model promoted in the window, oldest first.' },
    ),
  },
  {
    description:
      'How the work splits between the model and people over time, how often the audit sample finds the model right, and when versions were promoted.',
  },
);
export type Learning = Static<typeof Learning>;

export const GoldImportResult = Type.Object({
  imported: Type.Integer({ description: 'Items stored now.' }),
  unchanged: Type.Integer({
    description: 'Items that were there already (same stream and id, or same content), left as they were.',
  }),
});
export type GoldImportResult = Static<typeof GoldImportResult>;

export const GoldItemView = Type.Object({
  id: Type.Integer(),
  stream: Type.String(),
  ref: Type.String({ description: 'The id it was imported with, or a hash of its content.' }),
  label: Type.String({ description: 'The right answer.' }),
  classes: Type.Array(Type.String()),
  active: Type.Boolean({ description: 'Handed to reviewers; an inactive item is kept for its scores.' }),
  importedBy: Type.String(),
  importedAt: Type.String({ format: 'date-time' }),
  answers: Type.Integer({ description: 'Answers to it, by anyone, ever.' }),
  correct: Type.Integer({ description: 'Of those, the right ones.' }),
});
export type GoldItemView = Static<typeof GoldItemView>;

export const GoldIdParam = Type.Object({
  goldId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
});
