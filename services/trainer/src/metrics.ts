import { getOrCreateMetric } from '@hitl/kafka';
import type { Pool } from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';

/** The `model` label of every model id past the bound (see ModelLabels). */
export const OTHER_MODEL_LABEL = 'other';
/** The `model` label of corrections of a stream the registry lacks (counted, not stored). */
export const UNREGISTERED_MODEL_LABEL = 'unregistered';
/** How many model ids keep a `model` label of their own (as inference's METRIC_LABEL_LIMIT). */
export const MODEL_LABEL_LIMIT = 50;

/**
 * Keeps the `model` label's number of values bounded: the first `limit` model ids keep their own
 * series for the life of the process, and every later one is counted under `other` (gauges of
 * models under `other` hold whichever of them was set last).
 */
export class ModelLabels {
  private readonly seen = new Set<string>();
  constructor(readonly limit = MODEL_LABEL_LIMIT) {}

  label(modelId: string): string {
    if (this.seen.has(modelId)) return modelId;
    if (this.seen.size >= this.limit) return OTHER_MODEL_LABEL;
    this.seen.add(modelId);
    return modelId;
  }
}

/** The trainer's own metrics (the corrections consumer's and the outbox relay's come from their packages). */
export function trainerMetrics(registry: Registry) {
  const registers = [registry];
  return {
    examples: getOrCreateMetric(
      registry,
      'hitl_trainer_examples_total',
      () =>
        new Counter({
          name: 'hitl_trainer_examples_total',
          help: 'Corrections stored as labelled examples, by model and result: inserted, replaced (a later label), late (an earlier one, kept in the history) or duplicate (a redelivery); unregistered (model="unregistered"): skipped, of a stream the registry lacks while it has streams. The first 50 models have their own label, later ones share "other".',
          labelNames: ['model', 'result'] as const,
          registers,
        }),
    ),
    stored: getOrCreateMetric(
      registry,
      'hitl_trainer_labelled_examples',
      () =>
        new Gauge({
          name: 'hitl_trainer_labelled_examples',
          help: 'Labelled examples of the model in Postgres, by split (train or eval), as of the last check.',
          labelNames: ['model', 'split'] as const,
          registers,
        }),
    ),
    trainings: getOrCreateMetric(
      registry,
      'hitl_trainer_trainings_total',
      () =>
        new Counter({
          name: 'hitl_trainer_trainings_total',
          help: 'Training runs by this replica, by outcome: promoted, rejected, skipped (nothing to train), failed, or aborted (stopped by a shutdown).',
          labelNames: ['model', 'outcome'] as const,
          registers,
        }),
    ),
    lastTrainingSeconds: getOrCreateMetric(
      registry,
      'hitl_trainer_last_training_seconds',
      () =>
        new Gauge({
          name: 'hitl_trainer_last_training_seconds',
          help: 'Duration of the last training run of this replica (train, export, verify, evaluate, register).',
          labelNames: ['model'] as const,
          registers,
        }),
    ),
    championMacroF1: getOrCreateMetric(
      registry,
      'hitl_trainer_champion_macro_f1',
      () =>
        new Gauge({
          name: 'hitl_trainer_champion_macro_f1',
          help: "Macro-F1 of the promoted version on the evaluation split, as of this replica's last training run.",
          labelNames: ['model'] as const,
          registers,
        }),
    ),
    lastPromotion: getOrCreateMetric(
      registry,
      'hitl_trainer_last_promotion_timestamp_seconds',
      () =>
        new Gauge({
          name: 'hitl_trainer_last_promotion_timestamp_seconds',
          help: 'When a version of the model was last promoted (by the trainer, an admin or a rollback), as Unix time, from the registry at each check; absent while none ever was.',
          labelNames: ['model'] as const,
          registers,
        }),
    ),
    certifiedLowerBound: getOrCreateMetric(
      registry,
      'hitl_trainer_certified_accuracy_lower_bound',
      () =>
        new Gauge({
          name: 'hitl_trainer_certified_accuracy_lower_bound',
          help: "Lower bound (Clopper–Pearson, at the policy's confidence level) of the accuracy of the promoted version's own decisions of a class: its held-out decisions at certification plus the audit sample's since promotion. Absent for a class people decide, and without a target accuracy.",
          labelNames: ['model', 'version', 'class'] as const,
          registers,
        }),
    ),
    targetAccuracy: getOrCreateMetric(
      registry,
      'hitl_trainer_target_accuracy',
      () =>
        new Gauge({
          name: 'hitl_trainer_target_accuracy',
          help: "The target accuracy the promoted version's thresholds were certified for (the routing policy's targetAccuracy when it was trained).",
          labelNames: ['model'] as const,
          registers,
        }),
    ),
  };
}

/**
 * When a version of the model was last promoted, whoever promoted it: promoted_at is stamped at
 * every promotion and never cleared, so its maximum is the last one.
 */
export async function lastPromotionAt(pool: Pool, modelId: string): Promise<Date | null> {
  const { rows } = await pool.query<{ at: Date | null }>(
    'SELECT max(promoted_at) AS at FROM model_versions WHERE model_id = $1',
    [modelId],
  );
  return rows[0]?.at ?? null;
}

export type TrainerMetrics = ReturnType<typeof trainerMetrics>;
