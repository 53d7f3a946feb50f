// The shapes of requests and responses, from the HTTP contract's TypeBox schemas, the ones the
// server validates with.
import type * as schemas from '@hitl/api-contract';
import type { GoldItemLine as ContractGoldItemLine } from '@hitl/contracts';
import type { Static } from '@sinclair/typebox';

export type Task = schemas.Task;
/** Which tasks a claim may hand out: by review reason, the model's predicted label, or stream. */
export type ClaimFilters = schemas.ClaimBody;
export type AnswerBody = schemas.AnswerBody;
export type AnswerResult = schemas.AnswerResult;
export type Lease = Static<typeof schemas.Lease>;
export type Me = schemas.Me;
/** How tasks are shown to reviewers (Me.settings), from the routing policy in force. */
export type ReviewerSettings = schemas.ReviewerSettings;
export type Role = Static<typeof schemas.Role>;
export type Reviewer = Static<typeof schemas.Reviewer>;
export type NewReviewer = Static<typeof schemas.CreateReviewerBody>;
export type ApiKeyInfo = Static<typeof schemas.ApiKeyInfo>;
export type TrainingRequested = Static<typeof schemas.TrainingRequested>;
export type TrainingRun = Static<typeof schemas.TrainingRun>;
export type CreatedKey = Static<typeof schemas.CreatedKey>;
type FullPolicySpec = Static<typeof schemas.PolicySpecSchema>;
type DefaultedField =
  | 'targetAccuracy'
  | 'confidenceLevel'
  | 'hideSuggestion'
  | 'featureNames'
  | 'goldRate'
  | 'consensusConfidence';
/**
 * A policy as setPolicy sends it: without targetAccuracy, confidenceLevel, hideSuggestion,
 * featureNames, goldRate and consensusConfidence, no target, 0.95, false, none, 0 and a majority.
 */
export type PolicySpec = Omit<FullPolicySpec, DefaultedField> & Partial<Pick<FullPolicySpec, DefaultedField>>;
export type StoredPolicy = Static<typeof schemas.StoredPolicy>;
export type ModelVersionSummary = Static<typeof schemas.ModelVersionSummary>;
export type CertifiedThresholds = Static<typeof schemas.CertifiedThresholds>;
export type ErrorBody = schemas.ErrorBody;
/** Filters and paging of listTasks; limit defaults to 50 (at most 500). */
export type TaskListQuery = Partial<Static<typeof schemas.TaskListQuery>>;
export type TaskPage = Static<typeof schemas.TaskPage>;
export type ReviewStats = Static<typeof schemas.Stats>;
export type ExportQuery = Static<typeof schemas.ExportQuery>;
/**
 * GET /v1/admin/learning: the model's and people's decisions per bucket (a minute up to a day, as
 * the span of activity needs), audits and promotions.
 */
export type Learning = schemas.Learning;
/** One bucket of the learning view. */
export type LearningPoint = schemas.LearningPoint;

/** One line of GET /v1/export. */
export type ExportedLabel = Static<typeof schemas.ExportedLabel>;
/** One gold item to import: its input, its right label, and optionally its id, stream and classes. */
export type GoldItemLine = ContractGoldItemLine;
export type GoldImportResult = schemas.GoldImportResult;
export type GoldItemView = schemas.GoldItemView;
/** A stream to add: without modelId its id names its model, without policyName its modelId. */
export type NewStream = schemas.NewStreamBody;
/** A change of a stream: only the fields given change. */
export type StreamChange = schemas.StreamChangeBody;
/** A stream: a use case with its classes, input, model, routing policy and reviewers. */
export type Stream = schemas.StreamView;
/** Every stream, with the registry revision they are at. */
export type StreamList = schemas.StreamList;
