// How hitl shows the thresholds certified for a model version: in short in a version's line, and
// in `hitl policy show` against the policy's own target. Pure, so every wording has a unit test.
import type { ModelVersionSummary } from '@hitl/db';
import {
  thresholdsForTarget,
  type CertifiedThresholds,
  type HeldOutDecisions,
  type PolicySpec,
} from '@hitl/policy';

// Four decimals, as the certification's own reasons give them, but never a rounded-up 1.
function shown(threshold: number): string {
  const rounded = Number(threshold.toFixed(4));
  return rounded === 1 && threshold < 1 ? String(threshold) : String(rounded);
}

const percent = (confidenceLevel: number) => `${Number((confidenceLevel * 100).toFixed(4))}%`;

const claim = (c: { targetAccuracy: number; confidenceLevel: number }) =>
  `accuracy ${c.targetAccuracy} with ${percent(c.confidenceLevel)} confidence`;

// In the model's order: the registry stores perClass as jsonb, which keeps keys in an order of its own.
function classesOf(classes: readonly string[], certified: CertifiedThresholds): string[] {
  const known = classes.filter((c) => Object.hasOwn(certified.perClass, c));
  return [...known, ...Object.keys(certified.perClass).filter((c) => !known.includes(c))];
}

/** `ham≥0.9312 spam:people`: the confidence from which the model decides each class. */
export function compactThresholds(classes: readonly string[], certified: CertifiedThresholds): string {
  return classesOf(classes, certified)
    .map((label) => {
      const { threshold } = certified.perClass[label]!;
      return threshold === null ? `${label}:people` : `${label}≥${shown(threshold)}`;
    })
    .join(' ');
}

/** A version's certification as its line in `hitl models ...` gives it; null when not certified. */
export function certifiedLine(version: Pick<ModelVersionSummary, 'classes' | 'thresholds'>) {
  const certified = version.thresholds;
  if (certified === null) return null;
  return {
    targetAccuracy: certified.targetAccuracy,
    confidenceLevel: certified.confidenceLevel,
    thresholds: compactThresholds(version.classes, certified),
  };
}

export interface PromotedCertification {
  modelId: string;
  version: number;
  /** What the version was certified for when it was trained; null when it was not. */
  certifiedFor: { targetAccuracy: number; confidenceLevel: number; examples: number } | null;
  /**
   * By class, in the model's order (threshold null: people decide the class): those the router
   * applies for the policy's target, or, when the policy has none, those the version was
   * certified with. Empty when there are none.
   */
  perClass: Record<
    string,
    { threshold: number | null; decisions: number; correct: number; lowerBound: number | null }
  >;
  /** What that means under the policy, in a sentence. */
  note: string;
}

function figuresOf(classes: readonly string[], certified: CertifiedThresholds) {
  return Object.fromEntries(
    classesOf(classes, certified).map((label) => {
      const { threshold, decisions, correct, lowerBound } = certified.perClass[label]!;
      return [label, { threshold, decisions, correct, lowerBound }];
    }),
  );
}

function whoDecides(classes: readonly string[], certified: CertifiedThresholds): string {
  const ordered = classesOf(classes, certified);
  const decided = ordered.flatMap((label) => {
    const { threshold } = certified.perClass[label]!;
    return threshold === null ? [] : [`${label} at ${shown(threshold)} or above`];
  });
  if (decided.length === 0) return 'people decide every class';
  const people = ordered.filter((label) => certified.perClass[label]!.threshold === null);
  return [
    `the model decides ${decided.join(', ')}`,
    ...(people.length > 0 ? [`people decide ${people.join(', ')}`] : []),
  ].join('; ');
}

/**
 * The promoted version's certified thresholds under the policy, for `hitl policy show` (a policy
 * routes the model it is named after). With a target, they are the router's: those the version
 * was certified with when they are for the policy's target and confidence level, else certified
 * again from the held-out predictions it keeps, else none, and people decide all it predicts.
 */
export function promotedCertification(
  policy: Pick<PolicySpec, 'targetAccuracy' | 'confidenceLevel'>,
  version: Pick<ModelVersionSummary, 'modelId' | 'version' | 'classes' | 'thresholds'>,
  heldOut: HeldOutDecisions | null,
): PromotedCertification {
  const stored = version.thresholds;
  const base = {
    modelId: version.modelId,
    version: version.version,
    certifiedFor: stored && {
      targetAccuracy: stored.targetAccuracy,
      confidenceLevel: stored.confidenceLevel,
      examples: stored.examples,
    },
  };
  const which = `${version.modelId} version ${version.version}, the promoted one,`;
  const was =
    stored === null ? `${which} has no certified thresholds` : `${which} was certified for ${claim(stored)}`;
  const { targetAccuracy, confidenceLevel } = policy;

  if (targetAccuracy === null) {
    return {
      ...base,
      perClass: stored === null ? {} : figuresOf(version.classes, stored),
      note: `${was}; the policy sets no target accuracy, so its own thresholds apply`,
    };
  }
  const target = { targetAccuracy, confidenceLevel };
  const applying = thresholdsForTarget({ thresholds: stored, heldOut }, target);
  if (applying?.source === 'stored') {
    return {
      ...base,
      perClass: figuresOf(version.classes, applying.certified),
      note: `${which} is certified for the policy's ${claim(target)} on ${applying.certified.examples} held-out examples: ${whoDecides(version.classes, applying.certified)}`,
    };
  }
  const notForTarget = stored === null ? was : `${was}, not for the policy's ${claim(target)}`;
  if (applying === null) {
    return {
      ...base,
      perClass: {},
      note: `${notForTarget}, and keeps no held-out predictions to certify it from: people decide everything it predicts`,
    };
  }
  return {
    ...base,
    perClass: figuresOf(version.classes, applying.certified),
    note: `${notForTarget}; the router certifies it for the policy's target from the ${applying.certified.examples} held-out predictions it keeps: ${whoDecides(version.classes, applying.certified)}`,
  };
}
