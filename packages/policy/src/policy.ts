// What a routing policy says and whether it is sound. Pure: no Kafka, no Postgres.

/** The fields an operator sets; a stored policy adds its name, version and provenance. */
export interface PolicySpec {
  /**
   * The task's labels, the choices reviewers get (also before any model exists). Class rules may
   * name only these. Empty: not declared, and then no class rules are allowed.
   */
  classes: string[];
  /** Predictions less confident than this go to review (default 0.9). */
  threshold: number;
  /** Per predicted class, a threshold that overrides the global one. */
  classThresholds: Record<string, number>;
  /** Predicted classes that always go to review, however confident. */
  alwaysReview: string[];
  /** Share of otherwise confident predictions sent to review as an audit sample (default 0.02). */
  auditRate: number;
  /** Reviewers whose answers a review needs (default 1). */
  requiredReviewers: number;
  /**
   * An accuracy the model's own decisions must reach (e.g. 0.99), or null (the default) for the
   * thresholds above. With a target, the thresholds certified for the model version that made a
   * prediction (see thresholds.ts) take the place of `threshold` and `classThresholds`: a class
   * without one, and a version without certification, go to people.
   */
  targetAccuracy: number | null;
  /** How sure the certification of targetAccuracy must be (default 0.95). */
  confidenceLevel: number;
  /**
   * Reviewers do not see the model's label and probabilities until they have answered (default
   * false): a suggestion shown first pulls people towards it, and their labels then measure the
   * model less well. Display only: routing ignores it.
   */
  hideSuggestion: boolean;
  /**
   * Names of the numeric input features, in input order, shown to reviewers beside the values
   * (default none). Display only: routing ignores it.
   */
  featureNames: string[];
  /**
   * Share of claims that hand the reviewer a gold task, an item whose right answer is known, when
   * one they have not had is there (default 0: none). Answers to gold tasks measure the reviewer
   * and never become decisions. Review only: routing ignores it.
   */
  goldRate: number;
  /**
   * Weighted consensus (null, the default: a majority of answers decides). With a value, a task is
   * decided when the posterior probability of its leading label, given its answers and each
   * reviewer's estimated confusion matrix, reaches it; otherwise one more reviewer is asked (up
   * to the extra rounds allowed), then an admin. requiredReviewers stays the least number of
   * answers. Review only: routing ignores it.
   */
  consensusConfidence: number | null;
  /**
   * With weighted consensus, whether the model's probabilities are the prior of a task sent for
   * low confidence, in place of the stream's class frequencies (absent: no, the default). The
   * answers then need to add less to a label the model leaned to, and more to one it did not.
   * Audit samples, class-rule and no-model tasks keep the class prior, so the labels that judge the
   * model stay independent of it. Review only: routing ignores it.
   */
  consensusUsesModel?: true;
  /**
   * Near-duplicate groups (absent: off, the default). With it, a task sent for low confidence or
   * with no model joins the open group of an earlier text whose estimated similarity is at least
   * `minSimilarity` (the Jaccard similarity of their word and word-pair sets, the n-grams the text
   * model uses, estimated by MinHash: near-duplicates.ts), and one human answer then decides it
   * with the group. Audit-sample and class-rule tasks never join a group. Review only: routing
   * ignores it.
   */
  nearDuplicates?: NearDuplicatesSetting;
}

/** How alike two texts must be to count as near-duplicates. */
export interface NearDuplicatesSetting {
  /**
   * The least estimated Jaccard similarity of their n-gram sets, from MIN_NEAR_DUPLICATE_SIMILARITY
   * (0.8) to 1; 0.9 is a strict, sensible choice.
   */
  minSimilarity: number;
}

export interface Policy extends PolicySpec {
  /** The policy's name: the model id whose predictions it routes. */
  name: string;
  /** 1, 2, ...: every change makes a new, immutable version. */
  version: number;
}

export const DEFAULT_POLICY_SPEC: Readonly<PolicySpec> = Object.freeze({
  classes: [],
  threshold: 0.9,
  classThresholds: {},
  alwaysReview: [],
  auditRate: 0.02,
  requiredReviewers: 1,
  targetAccuracy: null,
  confidenceLevel: 0.95,
  hideSuggestion: false,
  featureNames: [],
  goldRate: 0,
  consensusConfidence: null,
});

/** The most a policy may set goldRate to: past it, reviewers would mostly answer known items. */
export const MAX_GOLD_RATE = 0.5;

export const MAX_REVIEWERS = 25;
/** At most this many feature names, each 1 to MAX_FEATURE_NAME_LENGTH characters. */
export const MAX_FEATURE_NAMES = 4_096;
export const MAX_FEATURE_NAME_LENGTH = 200;
/**
 * The loosest near-duplicate setting a policy may ask for. Below it, texts that differ in a word
 * that matters (an amount, a name, a "not") would share one answer; the MinHash estimate is also
 * only sharp enough near the top (its standard error is about 0.03 at 0.9).
 */
export const MIN_NEAR_DUPLICATE_SIMILARITY = 0.8;

export const PolicyErrorCode = {
  invalid: 'HITL_ERR_POLICY_INVALID',
} as const;

export interface PolicyProblem {
  /** The field at fault, e.g. `classThresholds.spam`. */
  field: string;
  problem: string;
}

/** A policy that does not validate; lists every problem found. */
export class PolicyError extends Error {
  readonly code = PolicyErrorCode.invalid;
  readonly problems: readonly PolicyProblem[];
  constructor(problems: readonly PolicyProblem[]) {
    super(`invalid policy: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`);
    this.name = 'PolicyError';
    this.problems = problems;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function unitInterval(value: unknown, field: string, problems: PolicyProblem[]): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    problems.push({ field, problem: `must be a number in [0, 1], got ${JSON.stringify(value)}` });
    return NaN;
  }
  return value;
}

function labels(value: unknown, field: string, problems: PolicyProblem[]): string[] {
  if (
    !Array.isArray(value) ||
    !value.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 200)
  ) {
    problems.push({ field, problem: 'must be a list of class labels (1 to 200 characters each)' });
    return [];
  }
  const list = value as string[];
  if (new Set(list).size !== list.length) problems.push({ field, problem: 'names a class twice' });
  return list;
}

// nearDuplicates is optional with no default value: absent means off.
const KNOWN_FIELDS = new Set([...Object.keys(DEFAULT_POLICY_SPEC), 'nearDuplicates', 'consensusUsesModel']);

function openInterval(value: unknown, field: string, problems: PolicyProblem[]): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value >= 1) {
    problems.push({ field, problem: `must be a number above 0 and below 1, got ${JSON.stringify(value)}` });
    return NaN;
  }
  return value;
}

// The names are reviewers' labels for input columns: bounded in count and length (every task a
// reviewer opens carries them), and unique, as two columns with one name would mislead.
function featureNameList(value: unknown, problems: PolicyProblem[]): string[] {
  const field = 'featureNames';
  if (!Array.isArray(value)) {
    problems.push({ field, problem: 'must be a list of feature names' });
    return [];
  }
  if (value.length > MAX_FEATURE_NAMES) {
    problems.push({ field, problem: `must name at most ${MAX_FEATURE_NAMES} features, got ${value.length}` });
    return [];
  }
  const bad = value.findIndex(
    (v) => typeof v !== 'string' || v.length === 0 || v.length > MAX_FEATURE_NAME_LENGTH,
  );
  if (bad >= 0) {
    problems.push({
      field: `${field}.${bad}`,
      problem: `must be a name of 1 to ${MAX_FEATURE_NAME_LENGTH} characters`,
    });
    return [];
  }
  const names = value as string[];
  const seen = new Set<string>();
  const twice = names.find((n) => seen.size === seen.add(n).size);
  if (twice !== undefined) {
    problems.push({ field, problem: `names feature ${JSON.stringify(twice)} twice` });
  }
  return names;
}

// Off (absent or null), or an object with minSimilarity alone, in [MIN_NEAR_DUPLICATE_SIMILARITY, 1].
function nearDuplicatesSetting(value: unknown, problems: PolicyProblem[]): NearDuplicatesSetting | null {
  const field = 'nearDuplicates';
  if (value === undefined || value === null) return null;
  if (!isRecord(value)) {
    problems.push({
      field,
      problem: `must be an object { minSimilarity } or null (off), got ${JSON.stringify(value)}`,
    });
    return null;
  }
  for (const key of Object.keys(value)) {
    if (key !== 'minSimilarity')
      problems.push({ field: `${field}.${key}`, problem: 'is not a near-duplicate setting' });
  }
  const min = value.minSimilarity;
  if (typeof min !== 'number' || !Number.isFinite(min) || min < MIN_NEAR_DUPLICATE_SIMILARITY || min > 1) {
    problems.push({
      field: `${field}.minSimilarity`,
      problem: `must be a number from ${MIN_NEAR_DUPLICATE_SIMILARITY} to 1, got ${JSON.stringify(min)}`,
    });
    return null;
  }
  return { minSimilarity: min };
}

/**
 * Checks a policy spec (from JSON, a CLI or an HTTP body): every field present (but
 * targetAccuracy, confidenceLevel, hideSuggestion, featureNames, goldRate, consensusConfidence
 * and nearDuplicates, which default) and in range,
 * class rules naming only declared classes, nothing unknown. Returns a clean copy or throws a
 * PolicyError listing every problem.
 */
export function validatePolicySpec(input: unknown): PolicySpec {
  const problems: PolicyProblem[] = [];
  if (!isRecord(input)) throw new PolicyError([{ field: '(policy)', problem: 'must be an object' }]);
  for (const key of Object.keys(input)) {
    if (!KNOWN_FIELDS.has(key)) problems.push({ field: key, problem: 'is not a policy field' });
  }
  const classes = labels(input.classes, 'classes', problems);
  if (classes.length === 1)
    problems.push({ field: 'classes', problem: 'needs at least two classes, or none' });
  const known = new Set(classes);
  const threshold = unitInterval(input.threshold, 'threshold', problems);
  const auditRate = unitInterval(input.auditRate, 'auditRate', problems);
  const classThresholds: Record<string, number> = {};
  if (!isRecord(input.classThresholds)) {
    problems.push({ field: 'classThresholds', problem: 'must be an object of class → threshold' });
  } else {
    for (const [label, value] of Object.entries(input.classThresholds)) {
      const field = `classThresholds.${label}`;
      if (!known.has(label)) problems.push({ field, problem: unknownClass(label, classes) });
      classThresholds[label] = unitInterval(value, field, problems);
    }
  }
  const alwaysReview = labels(input.alwaysReview, 'alwaysReview', problems);
  for (const label of alwaysReview) {
    if (!known.has(label)) problems.push({ field: 'alwaysReview', problem: unknownClass(label, classes) });
  }
  const requiredReviewers = input.requiredReviewers;
  if (
    typeof requiredReviewers !== 'number' ||
    !Number.isInteger(requiredReviewers) ||
    requiredReviewers < 1 ||
    requiredReviewers > MAX_REVIEWERS
  ) {
    problems.push({
      field: 'requiredReviewers',
      problem: `must be an integer from 1 to ${MAX_REVIEWERS}, got ${JSON.stringify(requiredReviewers)}`,
    });
  }
  const target = Object.hasOwn(input, 'targetAccuracy')
    ? input.targetAccuracy
    : DEFAULT_POLICY_SPEC.targetAccuracy;
  const targetAccuracy = target === null ? null : openInterval(target, 'targetAccuracy', problems);
  const confidenceLevel = openInterval(
    Object.hasOwn(input, 'confidenceLevel') ? input.confidenceLevel : DEFAULT_POLICY_SPEC.confidenceLevel,
    'confidenceLevel',
    problems,
  );
  const hideSuggestion = Object.hasOwn(input, 'hideSuggestion')
    ? input.hideSuggestion
    : DEFAULT_POLICY_SPEC.hideSuggestion;
  if (typeof hideSuggestion !== 'boolean') {
    problems.push({
      field: 'hideSuggestion',
      problem: `must be true or false, got ${JSON.stringify(hideSuggestion)}`,
    });
  }
  const featureNames = Object.hasOwn(input, 'featureNames')
    ? featureNameList(input.featureNames, problems)
    : [];
  const goldRate = Object.hasOwn(input, 'goldRate') ? input.goldRate : DEFAULT_POLICY_SPEC.goldRate;
  if (
    typeof goldRate !== 'number' ||
    !Number.isFinite(goldRate) ||
    goldRate < 0 ||
    goldRate > MAX_GOLD_RATE
  ) {
    problems.push({
      field: 'goldRate',
      problem: `must be a number from 0 to ${MAX_GOLD_RATE}, got ${JSON.stringify(goldRate)}`,
    });
  }
  const consensus = Object.hasOwn(input, 'consensusConfidence')
    ? input.consensusConfidence
    : DEFAULT_POLICY_SPEC.consensusConfidence;
  const consensusConfidence =
    consensus === null ? null : openInterval(consensus, 'consensusConfidence', problems);
  const nearDuplicates = nearDuplicatesSetting(input.nearDuplicates, problems);
  const usesModel = Object.hasOwn(input, 'consensusUsesModel') ? input.consensusUsesModel : false;
  if (typeof usesModel !== 'boolean') {
    problems.push({
      field: 'consensusUsesModel',
      problem: `must be true or false, got ${JSON.stringify(usesModel)}`,
    });
  } else if (usesModel && consensusConfidence === null) {
    problems.push({
      field: 'consensusUsesModel',
      problem: 'is a part of weighted consensus: set consensusConfidence too',
    });
  }
  if (problems.length > 0) throw new PolicyError(problems);
  return {
    classes: [...classes],
    threshold,
    classThresholds,
    alwaysReview: [...alwaysReview],
    auditRate,
    requiredReviewers: requiredReviewers as number,
    targetAccuracy,
    confidenceLevel,
    hideSuggestion: hideSuggestion as boolean,
    featureNames: [...featureNames],
    goldRate: goldRate as number,
    consensusConfidence,
    // Only when on: a spec without them is what every policy was before the fields existed.
    ...(usesModel === true ? { consensusUsesModel: true as const } : {}),
    ...(nearDuplicates === null ? {} : { nearDuplicates }),
  };
}

function unknownClass(label: string, classes: string[]): string {
  return classes.length === 0
    ? `names class "${label}", but the policy declares no classes (set classes first)`
    : `names class "${label}", which is not one of the policy's classes (${classes.join(', ')})`;
}
