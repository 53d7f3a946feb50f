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

/** The highest outbox id the transaction sees: the registry's records enqueued after it are above it. */
export async function outboxHighWater(client: PoolClient): Promise<string> {
  const { rows } = await client.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM outbox');
  return rows[0]?.id ?? '0';
}

/**
 * Moves the lifecycle records the model registry just enqueued in this transaction (it always
 * names the catalog's hitl.models.v1) to `topic`, when the deployment uses another models topic
 * (MODELS_TOPIC; tests do). Only unclaimed rows above `since` keyed by this model are touched; the
 * registry's per-model lock, held by this transaction until it ends, keeps other writers' records
 * of the model out of that range.
 */
export async function redirectRegistryRecords(
  client: PoolClient,
  opts: { since: string; modelId: string; topic: string },
): Promise<number> {
  if (opts.topic === topics.models.name) return 0;
  const { rowCount } = await client.query(
    `UPDATE outbox SET topic = $1
      WHERE id > $2 AND topic = $3 AND key = $4 AND relay_batch IS NULL AND published_at IS NULL`,
    [opts.topic, opts.since, topics.models.name, opts.modelId],
  );
  return rowCount ?? 0;
}
