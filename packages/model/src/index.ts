export {
  BIGRAM_SEPARATOR,
  TOKEN_PATTERN,
  isBigram,
  ngramsOf,
  normalizeText,
  textNgrams,
  tokenize,
} from './tokenize';
export { mulberry32 } from './random';
export {
  linearPredictor,
  softmax,
  textPredictor,
  trainLinearClassifier,
  trainTextClassifier,
  type Classifier,
  type LinearClassifier,
  type LinearTrainInput,
  type TextClassifier,
  type TextNorm,
  type TextTrainInput,
  type TrainOptions,
} from './train';
export {
  METADATA_KEYS,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  TEXT_ML_OPSET,
  readOnnxMetadata,
  toOnnx,
  type OnnxExportOptions,
} from './onnx-export';
export {
  applyTemperature,
  fitTemperature,
  withTemperature,
  withTemperatureApplied,
  type TemperatureFit,
  type TemperatureFitOptions,
} from './calibrate';
export * from './evaluate';
export * from './load';
