// The trainer's hitl.models.v1 records, written to the outbox in the transaction of the registry
// change they announce.
import { createValidator, ModelLifecycle, topics, type ModelLifecycleType } from '@hitl/contracts';
import { enqueueOutbox, type ModelVersionSummary } from '@hitl/db';
import type { PoolClient } from 'pg';

const isModelLifecycle = createValidator(ModelLifecycle);

// The schema's limits (ModelLifecycleData): longer text would make a record every consumer refuses.
const MAX_REASON = 2_000;
const MAX_METRIC_NAME = 200;

/** A lifecycle step of one version, with its figures (finite numbers only, as the topic carries). */
export function lifecycleRecord(
  type: ModelLifecycleType,
  version: Pick<ModelVersionSummary, 'modelId' | 'version' | 'parentVersion' | 'classes' | 'inputKind'>,
  metrics: Record<string, number>,
  opts: { reason?: string; actor?: string } = {},
): ModelLifecycle {
  return {
    type,
    version: 1,
    producedAt: new Date().toISOString(),
    data: {
      model: { id: version.modelId, version: version.version },
      parentVersion: version.parentVersion,
      classes: version.classes,
      inputKind: version.inputKind,
      metrics: Object.fromEntries(
        Object.entries(metrics).filter(
          ([name, value]) => name.length <= MAX_METRIC_NAME && Number.isFinite(value),
        ),
      ),
      ...(opts.reason !== undefined ? { reason: opts.reason.slice(0, MAX_REASON) } : {}),
      ...(opts.actor !== undefined ? { actor: opts.actor } : {}),
    },
  };
}

/** Validates the records against the topic's schema and adds them to the outbox in the client's transaction. */
export async function enqueueLifecycle(
  client: PoolClient,
  topic: string,
  records: readonly ModelLifecycle[],
): Promise<void> {
  for (const record of records) {
    const issues = isModelLifecycle.issues(record);
    if (issues.length > 0) {
      throw new TypeError(
        `${record.type} record does not match ${topics.models.name}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      );
    }
  }
  await enqueueOutbox(
    client,
    records.map((value) => ({ topic, key: topics.models.key(value), value })),
  );
}
