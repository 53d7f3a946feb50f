import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { onnx } from 'onnx-proto';
import {
  ModelImportError,
  inspectOnnxModel,
  loadOnnxClassifier,
  toOnnx,
  trainLinearClassifier,
  trainTextClassifier,
  type ModelImportErrorCode,
  type ModelOverrides,
} from '../src';
import { gaussianBlobs, maxAbsDiff, syntheticTexts } from './helpers';

const FIXTURES = join(__dirname, 'fixtures');
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, name)));

interface Expected {
  classes: string[];
  rows: number[][];
  probabilities: number[][];
}

function importError(fn: () => unknown): ModelImportError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ModelImportError) return err;
    throw err;
  }
  throw new Error('expected a ModelImportError');
}

function expectRefusal(bytes: Uint8Array, code: ModelImportErrorCode, overrides?: ModelOverrides): string {
  const err = importError(() => inspectOnnxModel(bytes, overrides));
  expect(err.code).toBe(code);
  return err.message;
}

function rewrite(bytes: Uint8Array, edit: (model: onnx.ModelProto) => void): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  edit(model);
  return onnx.ModelProto.encode(model).finish();
}

describe('scikit-learn model exported by skl2onnx', () => {
  const expected = JSON.parse(
    readFileSync(join(FIXTURES, 'sklearn-linear.expected.json'), 'utf8'),
  ) as Expected;
  const bytes = fixture('sklearn-linear.onnx');

  it('is described from its LinearClassifier and graph input', () => {
    const d = inspectOnnxModel(bytes);
    expect(d).toMatchObject({
      classes: expected.classes,
      classesSource: 'classifier',
      inputKind: 'features',
      featureWidth: 4,
      inputName: 'input',
      inputRank: 2,
      outputName: 'probabilities',
      irVersion: 8,
    });
    expect(d.opsets['']).toBe(17);
    expect(d.metadata).toEqual({});
  });

  it("serves scikit-learn's predict_proba to within 1e-5", async () => {
    const model = await loadOnnxClassifier(bytes);
    try {
      const probs = await model.predictProba(expected.rows);
      const diff = maxAbsDiff(probs, expected.probabilities);
      console.log(
        `sklearn LogisticRegression: max abs diff ${diff.toExponential(3)} over ${probs.length} rows`,
      );
      expect(diff).toBeLessThan(1e-5);
      expect(await model.predictProba([])).toEqual([]);
      await expect(model.predictProba([[1, 2, 3]])).rejects.toThrow(/4 numbers/);
    } finally {
      await model.close();
    }
  });

  it('refuses the ZipMap export with HITL_ERR_MODEL_ZIPMAP', () => {
    const message = expectRefusal(fixture('sklearn-zipmap.onnx'), 'HITL_ERR_MODEL_ZIPMAP');
    expect(message).toMatch(/zipmap/i);
    expect(message).toContain("'zipmap': False");
  });
});

describe('scikit-learn TF-IDF text pipeline exported by skl2onnx', () => {
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'sklearn-text.expected.json'), 'utf8')) as {
    classes: string[];
    rows: string[];
    probabilities: number[][];
  };

  it("loads as a text model and serves scikit-learn's predict_proba to within 1e-5", async () => {
    const model = await loadOnnxClassifier(fixture('sklearn-text.onnx'));
    try {
      expect(model.description).toMatchObject({
        classes: expected.classes,
        classesSource: 'classifier',
        inputKind: 'text',
        inputName: 'text',
        inputRank: 2,
        outputName: 'probabilities',
      });
      const diff = maxAbsDiff(await model.predictProba(expected.rows), expected.probabilities);
      console.log(
        `sklearn TF-IDF pipeline: max abs diff ${diff.toExponential(3)} over ${expected.rows.length} rows`,
      );
      expect(diff).toBeLessThan(1e-5);
    } finally {
      await model.close();
    }
  });
});

describe('models written by toOnnx', () => {
  const { texts, labels } = syntheticTexts(3, 30, 4242);
  const text = trainTextClassifier({ texts, labels, l2: 1e-4, epochs: 15, seed: 3 });
  const blobs = gaussianBlobs(3, 40, 5, 77);
  const linear = trainLinearClassifier({ ...blobs, l2: 1e-3, epochs: 30, seed: 3 });
  const textBytes = toOnnx(text, { modelId: 'text' });
  const linearBytes = toOnnx(linear, { modelId: 'linear' });

  it('round-trip a text model', async () => {
    const d = inspectOnnxModel(textBytes);
    expect(d).toMatchObject({
      classes: text.classes,
      classesSource: 'metadata',
      inputKind: 'text',
      featureWidth: null,
      inputName: 'text',
      inputRank: 2,
      outputName: 'probabilities',
    });
    const model = await loadOnnxClassifier(textBytes);
    try {
      const batch = [...texts.slice(0, 20), '', 'zzzz qqqq'];
      const diff = maxAbsDiff(await model.predictProba(batch), text.predictProba(batch));
      console.log(`toOnnx text model via loadOnnxClassifier: max abs diff ${diff.toExponential(3)}`);
      expect(diff).toBeLessThan(1e-4);
      expect(await model.predictProba([])).toEqual([]);
    } finally {
      await model.close();
    }
  });

  it('round-trip a linear model', async () => {
    const d = inspectOnnxModel(linearBytes);
    expect(d).toMatchObject({
      classes: linear.classes,
      inputKind: 'features',
      featureWidth: 5,
      inputName: 'features',
      outputName: 'probabilities',
    });
    const model = await loadOnnxClassifier(linearBytes, {}, { intraOpNumThreads: 2 });
    try {
      const rows = gaussianBlobs(3, 10, 5, 78).features;
      const diff = maxAbsDiff(await model.predictProba(rows), linear.predictProba(rows));
      console.log(`toOnnx linear model via loadOnnxClassifier: max abs diff ${diff.toExponential(3)}`);
      expect(diff).toBeLessThan(1e-4);
    } finally {
      await model.close();
    }
  });

  it('refuses undecodable bytes with HITL_ERR_MODEL_DECODE', () => {
    expectRefusal(new TextEncoder().encode('this is not an onnx model'), 'HITL_ERR_MODEL_DECODE');
    expectRefusal(new Uint8Array(0), 'HITL_ERR_MODEL_DECODE');
  });

  it('refuses IR version 14 with HITL_ERR_MODEL_IR_VERSION', () => {
    const bytes = rewrite(linearBytes, (m) => {
      m.irVersion = 14;
    });
    expect(expectRefusal(bytes, 'HITL_ERR_MODEL_IR_VERSION')).toMatch(/IR version 14.*≤ 13/);
  });

  it('refuses ai.onnx opset 27 with HITL_ERR_MODEL_OPSET', () => {
    const bytes = rewrite(linearBytes, (m) => {
      m.opsetImport = [{ domain: '', version: 27 }] as onnx.OperatorSetIdProto[];
    });
    expectRefusal(bytes, 'HITL_ERR_MODEL_OPSET');
  });

  it('refuses a probability output whose width does not match the classes', () => {
    expect(expectRefusal(linearBytes, 'HITL_ERR_MODEL_OUTPUT', { classes: ['a', 'b'] })).toMatch(
      /3 columns.*2 classes/,
    );
  });

  it('refuses a features model whose input kind is said to be text', () => {
    expectRefusal(linearBytes, 'HITL_ERR_MODEL_INPUT', { inputKind: 'text' });
  });

  it('needs labels: HITL_ERR_MODEL_LABELS without metadata, loads with overrides.classes', async () => {
    const stripped = rewrite(linearBytes, (m) => {
      m.metadataProps = [];
    });
    expect(expectRefusal(stripped, 'HITL_ERR_MODEL_LABELS')).toMatch(/classes/);
    const model = await loadOnnxClassifier(stripped, { classes: ['x', 'y', 'z'] });
    try {
      expect(model.description).toMatchObject({
        classes: ['x', 'y', 'z'],
        classesSource: 'overrides',
        featureWidth: 5,
      });
      const rows = blobs.features.slice(0, 5);
      expect(maxAbsDiff(await model.predictProba(rows), linear.predictProba(rows))).toBeLessThan(1e-4);
    } finally {
      await model.close();
    }
  });

  it('refuses stripped skl2onnx labels too', () => {
    const stripped = rewrite(fixture('sklearn-linear.onnx'), (m) => {
      for (const n of m.graph!.node!)
        n.attribute = n.attribute!.filter((a) => !a.name!.startsWith('classlabels'));
    });
    expectRefusal(stripped, 'HITL_ERR_MODEL_LABELS');
    expect(inspectOnnxModel(stripped, { classes: ['a', 'b', 'c'] }).classes).toEqual(['a', 'b', 'c']);
  });
});
