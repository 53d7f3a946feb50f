// The routing decision for one prediction: does the model's answer stand, or do people decide?
import { createHash } from 'node:crypto';
import type { Decision, ModelRef, PredictionData, ReviewReason, ReviewRequest } from '@hitl/contracts';
import type { Policy } from './policy';

export type Route =
  { kind: 'decision'; record: Decision } | { kind: 'review'; reason: ReviewReason; record: ReviewRequest };

const AUDIT_SALT = 'hitl.audit.v1';

/**
 * A number in [0, 1) fixed by the event id alone: an event is audit-sampled when it is below the
 * rate, so a replay (or another router replica) makes the same choice, and raising the rate only
 * adds events to the sample.
 */
export function auditDraw(eventId: string): number {
  return createHash('sha256').update(AUDIT_SALT).update(eventId).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * Urgency of a review, higher first: the model's uncertainty (1 − confidence; 1 with no model).
 * Reviews of equal priority are served oldest first (the review queue orders by age next).
 */
export function reviewPriority(prediction: PredictionData): number {
  return prediction.model === null || prediction.label === null ? 1 : 1 - prediction.confidence;
}

/**
 * The thresholds certified for the model version that made a prediction, for the policy's target
 * and confidence level, by class (null: no threshold qualified); null when the version has none.
 */
export type CertifiedFor = (model: ModelRef) => Readonly<Record<string, number | null>> | null;

/**
 * The confidence a prediction of this class needs to stand: the policy's own thresholds, or with
 * a target accuracy the certified one; Infinity when nothing is certified (people decide).
 */
export function thresholdFor(
  label: string,
  model: ModelRef,
  policy: Policy,
  certified: CertifiedFor | undefined,
): number {
  if (policy.targetAccuracy === null) return policy.classThresholds[label] ?? policy.threshold;
  const thresholds = certified?.(model) ?? null;
  return (thresholds && Object.hasOwn(thresholds, label) ? thresholds[label] : null) ?? Infinity;
}

/**
 * Why a prediction needs people under this policy, or null when the model's answer stands.
 * `certified` is needed only when the policy states a target accuracy.
 */
export function reviewReason(
  prediction: PredictionData,
  policy: Policy,
  certified?: CertifiedFor,
): ReviewReason | null {
  const { label, confidence, model } = prediction;
  if (model === null || label === null) return 'no_model';
  if (policy.alwaysReview.includes(label)) return 'class_rule';
  // Exactly at the threshold is confident enough: only "below" goes to people.
  if (confidence < thresholdFor(label, model, policy, certified)) return 'low_confidence';
  if (policy.auditRate > 0 && auditDraw(prediction.eventId) < policy.auditRate) return 'audit_sample';
  return null;
}

/** The model's decision of a prediction it is sure of under `policy` (reviewReason gave null). */
export function modelDecision(prediction: PredictionData, policy: Policy, at: string): Decision {
  return {
    type: 'decision.made',
    version: 1,
    producedAt: at,
    data: {
      eventId: prediction.eventId,
      label: prediction.label!,
      decidedBy: 'model',
      model: prediction.model,
      policyVersion: policy.version,
      reviewers: [],
      confidence: prediction.confidence,
      decidedAt: at,
    },
  };
}

/** The one record a prediction routes to: a model decision or a review request. */
export function route(
  prediction: PredictionData,
  policy: Policy,
  at: string,
  certified?: CertifiedFor,
): Route {
  const reason = reviewReason(prediction, policy, certified);
  if (reason === null) return { kind: 'decision', record: modelDecision(prediction, policy, at) };
  return {
    kind: 'review',
    reason,
    record: {
      type: 'review.requested',
      version: 1,
      producedAt: at,
      data: {
        eventId: prediction.eventId,
        prediction,
        reason,
        priority: reviewPriority(prediction),
        policyVersion: policy.version,
        requiredReviewers: policy.requiredReviewers,
        requestedAt: at,
      },
    },
  };
}
