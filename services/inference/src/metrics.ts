import { getOrCreateMetric } from '@hitl/kafka';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The inference service's own metrics (the consumer's come from @hitl/kafka). */
export function inferenceMetrics(registry: Registry) {
  const registers = [registry];
  return {
    predictions: getOrCreateMetric(
      registry,
      'hitl_inference_predictions_total',
      () =>
        new Counter({
          name: 'hitl_inference_predictions_total',
          help: 'Predictions published, by model version ("none" before any model is promoted) and label.',
          labelNames: ['model', 'version', 'label'] as const,
          registers,
        }),
    ),
    rescored: getOrCreateMetric(
      registry,
      'hitl_inference_rescored_total',
      () =>
        new Counter({
          name: 'hitl_inference_rescored_total',
          help: 'Waiting review tasks scored again after a promotion or rollback, by outcome: scored, or skipped (another model id).',
          labelNames: ['model', 'outcome'] as const,
          registers,
        }),
    ),
    rejected: getOrCreateMetric(
      registry,
      'hitl_inference_rejected_total',
      () =>
        new Counter({
          name: 'hitl_inference_rejected_total',
          help: 'Events dead-lettered because their payload does not fit the served model, by code.',
          labelNames: ['model', 'code'] as const,
          registers,
        }),
    ),
    batchSize: getOrCreateMetric(
      registry,
      'hitl_inference_batch_size',
      () =>
        new Histogram({
          name: 'hitl_inference_batch_size',
          help: 'Rows per onnxruntime call.',
          buckets: [1, 4, 16, 64, 128, 256, 512, 1024],
          registers,
        }),
    ),
    scoreSeconds: getOrCreateMetric(
      registry,
      'hitl_inference_score_seconds',
      () =>
        new Histogram({
          name: 'hitl_inference_score_seconds',
          help: 'Time of one onnxruntime call over a batch.',
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
          registers,
        }),
    ),
    modelVersion: getOrCreateMetric(
      registry,
      'hitl_inference_model_version',
      () =>
        new Gauge({
          name: 'hitl_inference_model_version',
          help: 'Version of the model served (absent before the first promotion).',
          labelNames: ['model'] as const,
          registers,
        }),
    ),
    modelSwaps: getOrCreateMetric(
      registry,
      'hitl_inference_model_swaps_total',
      () =>
        new Counter({
          name: 'hitl_inference_model_swaps_total',
          help: 'Model versions loaded and swapped in (the first load included).',
          labelNames: ['model'] as const,
          registers,
        }),
    ),
    modelLoadFailures: getOrCreateMetric(
      registry,
      'hitl_inference_model_load_failures_total',
      () =>
        new Counter({
          name: 'hitl_inference_model_load_failures_total',
          help: 'Promoted versions that failed to load (the previous version stays served).',
          labelNames: ['model'] as const,
          registers,
        }),
    ),
  };
}

export type InferenceMetrics = ReturnType<typeof inferenceMetrics>;
