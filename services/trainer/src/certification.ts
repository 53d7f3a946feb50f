// Certified thresholds, when a version is trained and after it is promoted. A routing policy with
// a target accuracy lets each version decide a class only above the threshold that labels it never
// learned from certify (@hitl/policy thresholds.ts). The trainer certifies every version it
// trains on evaluation labels its calibration cannot have biased (dataset.ts certificationRows),
// and keeps those held-out predictions with it; after promotion, the audit sample's labels keep
// checking the claim.
import { certifyHeldOut, clopperPearsonLower, heldOutDecisions } from '@hitl/policy';
import type { CertifiedThresholds, HeldOutDecisions } from '@hitl/policy';
import type { TrainerMetrics } from './metrics';
import type { Queryable } from './store';

/** What a trained version keeps: its held-out predictions, and thresholds when a target is set. */
export interface Certification {
  heldOut: HeldOutDecisions;
  /** Null when the policy states no target accuracy (the router re-certifies from heldOut). */
  thresholds: CertifiedThresholds | null;
}

export function certify(args: {
  classes: readonly string[];
  /** The (calibrated) probabilities of held-out examples, and their labels. */
  probabilities: readonly (readonly number[])[];
  truth: readonly string[];
  target: { targetAccuracy: number; confidenceLevel: number } | null;
}): Certification {
  const heldOut = heldOutDecisions(args.classes, args.probabilities, args.truth);
  // From the kept decisions, so that what is stored is exactly what certifying them again gives.
  return { heldOut, thresholds: args.target && certifyHeldOut(heldOut, args.target) };
}

/** One class's certified claim, counted again with the audit labels gathered since promotion. */
export interface ClassCheck {
  threshold: number | null;
  /** Held-out decisions at certification plus audited decisions since, and how many were right. */
  decisions: number;
  correct: number;
  /** Of those, the audited ones. */
  audited: number;
  auditedCorrect: number;
  /** Clopper–Pearson lower bound of the accuracy over all of them; null without a threshold. */
  lowerBound: number | null;
}

export interface CertificationCheck {
  version: number;
  targetAccuracy: number;
  confidenceLevel: number;
  perClass: Record<string, ClassCheck>;
}

interface AuditRow {
  label: string;
  predicted: string;
  confidence: number;
}

/**
 * The promoted version's certified claim, checked again: for each class, the held-out decisions it
 * was certified on plus the audit-sample decisions it made since at or above its threshold (the
 * audit samples only predictions the model would have decided, and it labels them after the
 * version was trained, so none of them certified it). Null when no promoted version has thresholds.
 */
export async function checkCertification(db: Queryable, modelId: string): Promise<CertificationCheck | null> {
  const { rows } = await db.query<{ version: number; thresholds: CertifiedThresholds | null }>(
    `SELECT version, thresholds FROM model_versions WHERE model_id = $1 AND status = 'promoted'`,
    [modelId],
  );
  const champion = rows[0];
  if (!champion?.thresholds) return null;
  const { targetAccuracy, confidenceLevel, perClass } = champion.thresholds;
  const audit = await db.query<AuditRow>(
    `SELECT label, model_prediction->>'label' AS predicted, (model_prediction->>'confidence')::float8 AS confidence
       FROM labelled_examples
      WHERE model_id = $1 AND review_reason = 'audit_sample'
        AND model_prediction->'model'->>'id' = $1
        AND (model_prediction->'model'->>'version')::int = $2`,
    [modelId, champion.version],
  );
  const checks = Object.entries(perClass).map(([label, certified]): [string, ClassCheck] => {
    const { threshold } = certified;
    const audited =
      threshold === null ? [] : audit.rows.filter((r) => r.predicted === label && r.confidence >= threshold);
    const auditedCorrect = audited.filter((r) => r.label === label).length;
    const decisions = certified.decisions + audited.length;
    const correct = certified.correct + auditedCorrect;
    return [
      label,
      {
        threshold,
        decisions,
        correct,
        audited: audited.length,
        auditedCorrect,
        lowerBound: threshold === null ? null : clopperPearsonLower(correct, decisions, confidenceLevel),
      },
    ];
  });
  return { version: champion.version, targetAccuracy, confidenceLevel, perClass: Object.fromEntries(checks) };
}

/** How often the certification gauges are read again: one query of the audit labels each time. */
export const CERTIFICATION_CHECK_MS = 10_000;

/**
 * Keeps the certification gauges of one model current, reading at most every `everyMs` (the
 * schedule's checks come every half second; the audit labels arrive far slower). `label` is the
 * model's `model` label (its id, or `other` past the bound on series).
 */
export function trackCertification(
  db: Queryable,
  modelId: string,
  metrics: Pick<TrainerMetrics, 'certifiedLowerBound' | 'targetAccuracy'>,
  everyMs = CERTIFICATION_CHECK_MS,
  label = modelId,
): { update(): Promise<CertificationCheck | null> } {
  let last = -Infinity;
  let latest: CertificationCheck | null = null;
  // The series this tracker set, removed at the next read: other models' series stay.
  let series: { model: string; version: string; class: string }[] = [];
  return {
    async update() {
      if (performance.now() - last < everyMs) return latest;
      last = performance.now();
      latest = await checkCertification(db, modelId);
      // A promotion or a class that lost its threshold must not leave its old series behind.
      for (const labels of series) metrics.certifiedLowerBound.remove(labels);
      series = [];
      metrics.targetAccuracy.remove({ model: label });
      if (latest === null) return latest;
      metrics.targetAccuracy.set({ model: label }, latest.targetAccuracy);
      for (const [cls, check] of Object.entries(latest.perClass)) {
        if (check.lowerBound === null) continue;
        const labels = { model: label, version: String(latest.version), class: cls };
        metrics.certifiedLowerBound.set(labels, check.lowerBound);
        series.push(labels);
      }
      return latest;
    },
  };
}
