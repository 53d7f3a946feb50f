export { createInferenceService, type InferenceDeps, type InferenceService } from './app';
export { inferenceConfigSpec, loadInferenceConfig, type InferenceConfig } from './config';
export { inferenceMetrics, type InferenceMetrics } from './metrics';
export { ModelSlot, type Lease, type ModelSlotOptions, type ServedModel } from './model-slot';
export * from './scoring';
