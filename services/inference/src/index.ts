export { createInferenceService, type InferenceDeps, type InferenceService } from './app';
export { inferenceConfigSpec, loadInferenceConfig, type InferenceConfig } from './config';
export {
  LabelBound,
  OTHER_LABEL,
  UNREGISTERED_STREAM_LABEL,
  inferenceMetrics,
  type InferenceMetrics,
} from './metrics';
export { ModelSlot, type Lease, type ModelSlotOptions, type ServedModel } from './model-slot';
export * from './scoring';
export { ServedModels, type ServedModelsOptions } from './served-models';
