export { createTrainerService, type TrainerDeps, type TrainerService } from './app';
export { loadTrainerConfig, trainerConfigSpec, type TrainerConfig } from './config';
export * from './certification';
export * from './dataset';
export { TrainerError, TrainerErrorCode } from './errors';
export * from './examples';
export * from './gate';
export {
  MODEL_LABEL_LIMIT,
  ModelLabels,
  OTHER_MODEL_LABEL,
  UNREGISTERED_MODEL_LABEL,
  lastPromotionAt,
  trainerMetrics,
  type TrainerMetrics,
} from './metrics';
export * from './schedule';
export { TrainingScheduler, type CheckResult, type TrainingSchedulerOptions } from './scheduler';
export {
  countLabelledExamples,
  getLabelledExample,
  labelCounts,
  storeExamples,
  trainingDue,
  type StoreResult,
  type TrainingDue,
  type TrainingOutcome,
} from './store';
export { TrainerStreams } from './streams';
export { trainInWorker } from './train-in-worker';
export * from './training';
export { runTrainingRound, type RoundResult, type TrainingRoundOptions } from './training-round';
