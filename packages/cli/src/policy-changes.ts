// What `hitl policy set`'s flags change in a routing policy spec. Pure: the result still goes
// through validatePolicySpec, which alone decides whether the values are acceptable.
import { PolicyError, type PolicyProblem } from '@hitl/policy';

/** The fields `hitl policy set` was asked to change; absent ones stay as they are. */
export interface PolicyChanges {
  classes?: string[];
  threshold?: number;
  /** Per-class thresholds to set (added or replaced). */
  classThresholds?: Record<string, number>;
  /** Classes whose own threshold is removed, so the global one applies to them again. */
  clearClassThresholds?: string[];
  alwaysReview?: string[];
  auditRate?: number;
  requiredReviewers?: number;
  /** A target accuracy, or null for none (the policy's own thresholds again). */
  targetAccuracy?: number | null;
  confidenceLevel?: number;
  hideSuggestion?: boolean;
  /** Replaces the list; empty clears it. */
  featureNames?: string[];
  goldRate?: number;
  /** Weighted consensus at this posterior, or null for a majority again. */
  consensusConfidence?: number | null;
  /** Whether weighted consensus takes the model as the prior of low-confidence tasks. */
  consensusUsesModel?: boolean;
  /** Near-duplicate groups at this least similarity, or null to turn them off. */
  nearDuplicates?: { minSimilarity: number } | null;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Applies the changes to a copy of `base` (the current spec, or a file's contents). A base that
 * is not an object comes back unchanged, for validation to refuse. Clearing a threshold the
 * class does not have is refused with a PolicyError, as it is most likely a misspelt class.
 */
export function applyPolicyChanges(base: unknown, changes: PolicyChanges): unknown {
  if (!isRecord(base)) return base;
  const spec: Record<string, unknown> = { ...base };
  const { classes, threshold, alwaysReview, auditRate, requiredReviewers } = changes;
  const { targetAccuracy, confidenceLevel, hideSuggestion, featureNames, nearDuplicates } = changes;
  const { goldRate, consensusConfidence } = changes;
  const replaced = {
    classes,
    threshold,
    alwaysReview,
    auditRate,
    requiredReviewers,
    targetAccuracy,
    confidenceLevel,
    hideSuggestion,
    featureNames,
    goldRate,
    consensusConfidence,
  };
  for (const [field, value] of Object.entries(replaced)) if (value !== undefined) spec[field] = value;
  // Off is the field's absence, as in a policy that never had it.
  if (changes.consensusUsesModel === false) delete spec.consensusUsesModel;
  else if (changes.consensusUsesModel === true) spec.consensusUsesModel = true;
  if (nearDuplicates === null) delete spec.nearDuplicates;
  else if (nearDuplicates !== undefined) spec.nearDuplicates = nearDuplicates;

  const clear = changes.clearClassThresholds ?? [];
  const add = changes.classThresholds ?? {};
  if (clear.length === 0 && Object.keys(add).length === 0) return spec;
  // A base without a valid classThresholds object is left for validation to report.
  if (!isRecord(spec.classThresholds)) return spec;
  const thresholds: Record<string, unknown> = { ...spec.classThresholds };
  const problems: PolicyProblem[] = [];
  for (const label of clear) {
    if (!Object.hasOwn(thresholds, label)) {
      problems.push({
        field: `classThresholds.${label}`,
        problem: 'is not set, so there is nothing to clear',
      });
    }
    delete thresholds[label];
  }
  if (problems.length > 0) throw new PolicyError(problems);
  spec.classThresholds = { ...thresholds, ...add };
  return spec;
}
