import { listModelVersions, type ModelInputKind } from '@hitl/db';
import type { Pool } from 'pg';

export interface PromotedModel {
  version: number;
  promotedAt: string;
  createdAt: string;
  createdBy: string | null;
  parentVersion: number | null;
  classes: string[];
  inputKind: ModelInputKind;
  /** The version's metrics as the registry keeps them (macroF1, accuracy, evalExamples...). */
  metrics: Record<string, unknown>;
}

export interface LastTraining {
  id: string;
  status: 'running' | 'finished' | 'failed' | 'aborted';
  outcome: 'promoted' | 'rejected' | 'skipped' | null;
  reason: string | null;
  version: number | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface ModelStatus {
  modelId: string;
  /** Versions registered. */
  versions: number;
  /** The version served, or null when none is promoted (everything then goes to people). */
  promoted: PromotedModel | null;
  /** When a version was last promoted, by anyone (a rollback promotes one too). */
  lastPromotedAt: string | null;
  lastTraining: LastTraining | null;
}

/** The models in the registry (or those asked for), each with its promoted version and last training. */
export async function modelStatus(pool: Pool, modelIds?: readonly string[]): Promise<ModelStatus[]> {
  const ids =
    modelIds ??
    (
      await pool.query<{ model_id: string }>(
        'SELECT model_id FROM model_versions UNION SELECT model_id FROM training_runs ORDER BY 1',
      )
    ).rows.map((r) => r.model_id);
  return Promise.all(
    ids.map(async (modelId): Promise<ModelStatus> => {
      const [versions, runs] = await Promise.all([
        listModelVersions(pool, modelId),
        pool.query<{
          id: string;
          status: LastTraining['status'];
          outcome: LastTraining['outcome'];
          reason: string | null;
          version: number | null;
          started_at: Date;
          finished_at: Date | null;
        }>(
          `SELECT id, status, outcome, reason, version, started_at, finished_at FROM training_runs
            WHERE model_id = $1 ORDER BY id DESC LIMIT 1`,
          [modelId],
        ),
      ]);
      const promoted = versions.find((v) => v.status === 'promoted');
      const promotions = versions.flatMap((v) => (v.promotedAt ? [v.promotedAt.getTime()] : []));
      const run = runs.rows[0];
      return {
        modelId,
        versions: versions.length,
        promoted: promoted
          ? {
              version: promoted.version,
              promotedAt: promoted.promotedAt!.toISOString(),
              createdAt: promoted.createdAt.toISOString(),
              createdBy: promoted.createdBy,
              parentVersion: promoted.parentVersion,
              classes: promoted.classes,
              inputKind: promoted.inputKind,
              metrics: promoted.metrics,
            }
          : null,
        lastPromotedAt: promotions.length > 0 ? new Date(Math.max(...promotions)).toISOString() : null,
        lastTraining: run
          ? {
              id: run.id,
              status: run.status,
              outcome: run.outcome,
              reason: run.reason,
              version: run.version,
              startedAt: run.started_at.toISOString(),
              finishedAt: run.finished_at?.toISOString() ?? null,
            }
          : null,
      };
    }),
  );
}
