import { getOrCreateMetric } from '@hitl/kafka';
import { Counter, Gauge, type Registry } from 'prom-client';

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
          help: 'Corrections stored as labelled examples, by result: inserted, replaced (a later label), late (an earlier one, kept in the history) or duplicate (a redelivery).',
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
          help: 'Training runs by this replica, by outcome: promoted, rejected, skipped (nothing to train) or failed.',
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
  };
}

export type TrainerMetrics = ReturnType<typeof trainerMetrics>;
