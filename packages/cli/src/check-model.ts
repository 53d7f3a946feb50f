import {
  loadOnnxClassifier,
  ModelImportError,
  type ModelDescription,
  type ModelOverrides,
} from '@hitl/model';

const PROBABILITY_SUM_TOLERANCE = 1e-3;

/**
 * Refuses, with a ModelImportError, an ONNX model the inference service could not serve:
 * loadOnnxClassifier inspects it (inspectOnnxModel: classes, input, probability output) and opens
 * an onnxruntime session; then one row is scored, since some graphs fail only when run, and its
 * scores must be probabilities (a model that outputs logits would mislead every threshold).
 */
export async function checkServableModel(
  bytes: Uint8Array,
  overrides: ModelOverrides = {},
): Promise<ModelDescription> {
  const model = await loadOnnxClassifier(bytes, overrides);
  try {
    const { description } = model;
    const row =
      description.inputKind === 'text' ? ['hitl'] : [new Array<number>(description.featureWidth!).fill(0)];
    let scores: number[];
    try {
      scores = (await model.predictProba(row))[0] ?? [];
    } catch (error) {
      throw new ModelImportError(
        'HITL_ERR_MODEL_SESSION',
        `onnxruntime-node opened the model but could not score a row: ${error instanceof Error ? error.message : String(error)}.`,
      );
    }
    const sum = scores.reduce((a, b) => a + b, 0);
    if (scores.some((p) => !(p >= 0 && p <= 1)) || Math.abs(sum - 1) > PROBABILITY_SUM_TOLERANCE) {
      throw new ModelImportError(
        'HITL_ERR_MODEL_OUTPUT',
        `The output "${description.outputName}" does not hold probabilities: one row scored ${JSON.stringify(scores)}. Export the classifier's probabilities (predict_proba), with a softmax if the model ends in logits.`,
      );
    }
    return description;
  } finally {
    await model.close();
  }
}
