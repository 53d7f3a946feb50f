import { getOrCreateMetric } from '@hitl/kafka';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The label value of every model id or stream past the bound (see LabelBound). */
export const OTHER_LABEL = 'other';
/** The `stream` label of events whose stream is not in the registry (they are dead-lettered). */
export const UNREGISTERED_STREAM_LABEL = 'unregistered';

/**
 * Keeps a label's number of values bounded: the first `limit` distinct values keep their own
 * series for the life of the process, and every later one is counted under `other`.
 */
export class LabelBound {
  private readonly seen = new Set<string>();
  constructor(readonly limit: number) {}

  label(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.limit) return OTHER_LABEL;
    this.seen.add(value);
    return value;
  }
}

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
          help: 'Predictions published, by model, version ("none" before any model is promoted), stream and label.',
          labelNames: ['model', 'version', 'stream', 'label'] as const,
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
          help: 'Events dead-lettered because their payload does not fit the served model or their stream is not registered, by model ("none" for an unregistered stream), stream and code.',
          labelNames: ['model', 'stream', 'code'] as const,
          registers,
        }),
    ),
    batchSize: getOrCreateMetric(
      registry,
      'hitl_inference_batch_size',
      () =>
        new Histogram({
          name: 'hitl_inference_batch_size',
          help: 'Rows per onnxruntime call, by model.',
          labelNames: ['model'] as const,
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
          help: 'Time of one onnxruntime call over the rows of one model in a batch, by model.',
          labelNames: ['model'] as const,
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
          help: 'Version of each model served (absent before its first promotion and once unloaded).',
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
    modelBytes: getOrCreateMetric(
      registry,
      'hitl_inference_model_bytes',
      () =>
        new Gauge({
          name: 'hitl_inference_model_bytes',
          help: 'Size of the ONNX file of each loaded model version: what its session holds in memory, besides the fixed cost of its onnxruntime session (and worker thread with SCORING_WORKER).',
          labelNames: ['model'] as const,
          registers,
        }),
    ),
    modelsLoaded: getOrCreateMetric(
      registry,
      'hitl_inference_models_loaded',
      () =>
        new Gauge({
          name: 'hitl_inference_models_loaded',
          help: 'Model ids served: those of the registered streams, or MODEL_ID while no stream is registered.',
          registers,
        }),
    ),
    streamsRevision: getOrCreateMetric(
      registry,
      'hitl_inference_streams_revision',
      () =>
        new Gauge({
          name: 'hitl_inference_streams_revision',
          help: 'The stream registry revision served.',
          registers,
        }),
    ),
  };
}

export type InferenceMetrics = ReturnType<typeof inferenceMetrics>;
