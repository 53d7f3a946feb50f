import { onnx } from 'onnx-proto';
import { type Classifier, type LinearClassifier, type TextClassifier } from './train';
import { BIGRAM_SEPARATOR, TOKEN_PATTERN } from './tokenize';

export interface OnnxExportOptions {
  modelId: string;
  version?: string | number;
}

/** Metadata keys written into `metadata_props` (sessions do not expose them; decode the protobuf). */
export const METADATA_KEYS = {
  classes: 'hitl.classes',
  inputKind: 'hitl.input_kind',
  featureWidth: 'hitl.feature_width',
  modelId: 'hitl.model_id',
  modelVersion: 'hitl.model_version',
  /** Written only for a model whose weights and bias were divided by a fitted temperature. */
  temperature: 'hitl.temperature',
} as const;

/** IR 8 pairs with ai.onnx opset 17; onnxruntime-node 1.30.0 accepts both. */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;

const A = onnx.AttributeProto.AttributeType;
const T = onnx.TensorProto.DataType;
const utf8 = new TextEncoder();

function bytes(s: string): Uint8Array {
  return utf8.encode(s);
}

function intAttr(name: string, i: number): onnx.IAttributeProto {
  return { name, type: A.INT, i };
}
function intsAttr(name: string, ints: number[]): onnx.IAttributeProto {
  return { name, type: A.INTS, ints };
}
function floatsAttr(name: string, floats: number[]): onnx.IAttributeProto {
  return { name, type: A.FLOATS, floats };
}
function stringAttr(name: string, s: string): onnx.IAttributeProto {
  return { name, type: A.STRING, s: bytes(s) };
}
function stringsAttr(name: string, strings: string[]): onnx.IAttributeProto {
  return { name, type: A.STRINGS, strings: strings.map(bytes) };
}

function floatTensor(name: string, dims: number[], values: ArrayLike<number>): onnx.ITensorProto {
  const data = Float32Array.from(values);
  return {
    name,
    dataType: T.FLOAT,
    dims,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function int64Tensor(name: string, dims: number[], values: number[]): onnx.ITensorProto {
  return { name, dataType: T.INT64, dims, int64Data: values };
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attribute: onnx.IAttributeProto[] = [],
  domain = '',
): onnx.INodeProto {
  return { opType, input: inputs, output: outputs, attribute, domain, name: outputs[0] ?? opType };
}

/** Linear layer (Gemm with W as [C, D], transB) and Softmax over classes. */
function linearHead(
  input: string,
  weights: readonly (readonly number[])[],
  bias: readonly number[],
  width: number,
): { nodes: onnx.INodeProto[]; initializers: onnx.ITensorProto[] } {
  const C = weights.length;
  const flat = new Float32Array(C * width);
  weights.forEach((row, c) => flat.set(row, c * width));
  return {
    initializers: [floatTensor('W', [C, width], flat), floatTensor('B', [C], bias)],
    nodes: [
      node('Gemm', [input, 'W', 'B'], ['logits'], [intAttr('transB', 1)]),
      node('Softmax', ['logits'], ['probabilities'], [intAttr('axis', 1)]),
    ],
  };
}

function textGraph(model: TextClassifier): onnx.IGraphProto {
  const V = model.vocabulary.length;
  const unigrams = model.vocabulary.slice(0, model.unigramCount);
  const bigrams = model.vocabulary.slice(model.unigramCount);
  const pool = [...unigrams, ...bigrams.flatMap((g) => g.split(BIGRAM_SEPARATOR))];
  const head = linearHead('tfidf', model.weights, model.bias, V);
  return {
    name: 'hitl_text_classifier',
    input: [valueInfo('text', T.STRING, ['N', 1])],
    output: [valueInfo('probabilities', T.FLOAT, ['N', model.classes.length])],
    initializer: [
      int64Tensor('flat_shape', [1], [-1]),
      floatTensor('norm_eps', [1], [1e-12]),
      ...head.initializers,
    ],
    node: [
      node('Reshape', ['text', 'flat_shape'], ['text_flat']),
      node(
        'StringNormalizer',
        ['text_flat'],
        ['text_lower'],
        [stringAttr('case_change_action', 'LOWER'), stringAttr('locale', 'C')],
      ),
      node(
        'Tokenizer',
        ['text_lower'],
        ['tokens'],
        [
          intAttr('mark', 0),
          intAttr('mincharnum', 1),
          stringAttr('pad_value', '#'),
          stringAttr('tokenexp', TOKEN_PATTERN),
        ],
        'com.microsoft',
      ),
      node(
        'TfIdfVectorizer',
        ['tokens'],
        ['tfidf'],
        [
          intAttr('min_gram_length', 1),
          intAttr('max_gram_length', 2),
          intAttr('max_skip_count', 0),
          stringAttr('mode', 'TFIDF'),
          intsAttr('ngram_counts', [0, unigrams.length]),
          intsAttr(
            'ngram_indexes',
            Array.from({ length: V }, (_, i) => i),
          ),
          stringsAttr('pool_strings', pool),
          floatsAttr('weights', [...model.idf]),
        ],
      ),
      // L2 normalisation is a scale per row, and a linear map commutes with it:
      // W·(x/‖x‖) = (W·x)/‖x‖. Dividing the C scores rather than the V-wide row saves a pass
      // over the dense [N, V] tensor (about an eighth of the scoring time at V = 20,000).
      node('ReduceL2', ['tfidf'], ['tfidf_norm'], [intsAttr('axes', [1]), intAttr('keepdims', 1)]),
      node('Max', ['tfidf_norm', 'norm_eps'], ['tfidf_norm_safe']),
      node('Gemm', ['tfidf', 'W'], ['scores'], [intAttr('transB', 1)]),
      node('Div', ['scores', 'tfidf_norm_safe'], ['scores_l2']),
      node('Add', ['scores_l2', 'B'], ['logits']),
      node('Softmax', ['logits'], ['probabilities'], [intAttr('axis', 1)]),
    ],
  };
}

function linearGraph(model: LinearClassifier): onnx.IGraphProto {
  const head = linearHead('features', model.weights, model.bias, model.featureWidth);
  return {
    name: 'hitl_linear_classifier',
    input: [valueInfo('features', T.FLOAT, ['N', model.featureWidth])],
    output: [valueInfo('probabilities', T.FLOAT, ['N', model.classes.length])],
    initializer: head.initializers,
    node: head.nodes,
  };
}

/** Serialises a trained classifier as an ONNX model (IR 8, ai.onnx opset 17). */
export function toOnnx(model: Classifier, options: OnnxExportOptions): Uint8Array {
  const text = model.kind === 'text';
  const metadata: Record<string, string> = {
    [METADATA_KEYS.classes]: JSON.stringify(model.classes),
    [METADATA_KEYS.inputKind]: text ? 'text' : 'features',
    [METADATA_KEYS.modelId]: options.modelId,
    [METADATA_KEYS.modelVersion]: String(options.version ?? '1'),
  };
  if (!text) metadata[METADATA_KEYS.featureWidth] = String(model.featureWidth);
  if (model.temperature !== undefined) metadata[METADATA_KEYS.temperature] = String(model.temperature);
  const proto: onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    producerName: '@hitl/model',
    producerVersion: '0.1.0',
    modelVersion: typeof options.version === 'number' ? options.version : undefined,
    opsetImport: text
      ? [
          { domain: '', version: ONNX_OPSET },
          { domain: 'com.microsoft', version: 1 },
        ]
      : [{ domain: '', version: ONNX_OPSET }],
    graph: text ? textGraph(model) : linearGraph(model),
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(proto)).finish();
}

/** Reads `metadata_props` back from serialised model bytes. */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const decoded = onnx.ModelProto.decode(bytes);
  const out: Record<string, string> = {};
  for (const p of decoded.metadataProps) if (p.key) out[p.key] = p.value ?? '';
  return out;
}
