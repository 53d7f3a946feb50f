// The trainer's hitl.models.v1 records, written to the outbox in the transaction of the registry
// change they announce (with @hitl/db's enqueueLifecycle, which validates them first).
import type { ModelLifecycle, ModelLifecycleType } from '@hitl/contracts';
import { lifecycleRecord as registryLifecycleRecord, type ModelVersionSummary } from '@hitl/db';

// The schema's limits (ModelLifecycleData): longer text would make a record every consumer refuses.
const MAX_REASON = 2_000;
const MAX_METRIC_NAME = 200;

/**
 * A lifecycle step of one version, with its figures: the registry's record, with the training's
 * reason cut to the schema's length and metrics of over-long names left out, so that a long
 * reason or name never fails a training round that produced a model.
 */
export function lifecycleRecord(
  type: ModelLifecycleType,
  version: Pick<ModelVersionSummary, 'modelId' | 'version' | 'parentVersion' | 'classes' | 'inputKind'>,
  metrics: Record<string, number>,
  opts: { reason?: string; actor?: string } = {},
): ModelLifecycle {
  return registryLifecycleRecord(
    type,
    version,
    Object.fromEntries(Object.entries(metrics).filter(([name]) => name.length <= MAX_METRIC_NAME)),
    { ...opts, ...(opts.reason !== undefined ? { reason: opts.reason.slice(0, MAX_REASON) } : {}) },
  );
}
