// The thresholds certified for each model version, for routing under a policy with a target
// accuracy. A version's are read once from the registry (they never change once stored) and kept
// for as long as the service runs (the router, and the review API when it re-scores waiting tasks);
// a service sees a handful of versions over its life.
import type { ModelRef } from '@hitl/contracts';
import { getCertification } from './model-registry';
import {
  thresholdsForTarget,
  type CertifiedThresholds,
  type KeptCertification,
  type Policy,
} from '@hitl/policy';
import type { Pool } from 'pg';

type ByClass = Readonly<Record<string, number | null>>;

const keyOf = (model: ModelRef) => `${model.id}\u0000${model.version}`;

function byClass(certified: CertifiedThresholds): ByClass {
  return Object.fromEntries(Object.entries(certified.perClass).map(([label, c]) => [label, c.threshold]));
}

export class CertifiedThresholdCache {
  private readonly kept = new Map<string, KeptCertification | null>();
  /** By version, target and confidence level: the thresholds routing applies. */
  private readonly applied = new Map<string, ByClass | null>();

  constructor(
    private readonly pool: Pool,
    private readonly log: { info(details: object, message: string): void },
  ) {}

  /** Reads what the given versions keep, for those not read yet. */
  async load(models: readonly ModelRef[]): Promise<void> {
    const missing = new Map(models.filter((m) => !this.kept.has(keyOf(m))).map((m) => [keyOf(m), m]));
    for (const [key, model] of missing) {
      this.kept.set(key, await getCertification(this.pool, model.id, model.version));
    }
  }

  /**
   * The version's thresholds by class for the policy's target and confidence level (see
   * thresholdsForTarget); null when it has none (people decide all it predicts). Only for
   * versions load() has read.
   */
  thresholds(model: ModelRef, policy: Policy): ByClass | null {
    const { targetAccuracy, confidenceLevel } = policy;
    const kept = this.kept.get(keyOf(model));
    if (!kept || targetAccuracy === null) return null;
    const key = `${keyOf(model)}\u0000${targetAccuracy}\u0000${confidenceLevel}`;
    if (!this.applied.has(key)) {
      const applying = thresholdsForTarget(kept, { targetAccuracy, confidenceLevel });
      this.applied.set(key, applying && byClass(applying.certified));
      if (applying?.source === 'recertified') {
        this.log.info(
          { model, targetAccuracy, confidenceLevel, thresholds: this.applied.get(key) },
          "certified the version's thresholds again for the policy's target from its held-out predictions",
        );
      }
    }
    return this.applied.get(key)!;
  }
}
