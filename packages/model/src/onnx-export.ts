import { onnx } from 'onnx-proto';
import { type Classifier, type LinearClassifier, type TextClassifier } from './train';
import { BIGRAM_SEPARATOR, TOKEN_PATTERN } from './tokenize';

export interface OnnxExportOptions {
  modelId: string;
  version?: string | number;
  /**
   * The graph of a text model (default `sparse`): `dense` builds each text's vocabulary-wide
   * TF-IDF row with TfIdfVectorizer, as earlier versions did; it takes `distinct`-norm models only.
   */
  textGraph?: 'sparse' | 'dense';
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
/** The text graph maps n-grams to ids with ai.onnx.ml's LabelEncoder (its opset 2 attributes). */
export const TEXT_ML_OPSET = 2;

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

/**
 * The tokens of each row: a [N, T] string tensor, padded with "#" (which no token holds, so no
 * n-gram with it is in a vocabulary).
 */
function tokenizerNodes(): onnx.INodeProto[] {
  return [
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
  ];
}

/**
 * The dense graph of a `distinct`-norm model: TfIdfVectorizer builds each text's dense vocabulary-wide
 * row, so its cost grows with the vocabulary (a [256, 20,000] float tensor per batch of 256).
 */
function denseTextGraph(model: TextClassifier): onnx.IGraphProto {
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
      ...tokenizerNodes(),
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

/**
 * A text graph whose cost follows the tokens of a text rather than the vocabulary. Tokens are
 * mapped to ids by one LabelEncoder over the words the vocabulary uses (any other token, padding
 * included, to the unknown id P); a unigram's column is gathered from its token id, and a bigram's
 * from the integer key left·(P + 1) + right by a second LabelEncoder (an n-gram not in the
 * vocabulary to column V, whose row is zero). Each occurrence then gathers its class weights times
 * its idf, and the sums over a text's occurrences are W·(count·idf), one occurrence at a time.
 *
 * The squared norm: with `occurrences`, the sum of each occurrence's idf². With `distinct`, each
 * occurrence's idf is added into its text's row of a [N, V + 1] table, which then holds count·idf
 * per n-gram; each occurrence reads its n-gram's back, and Σ idf · count·idf over the occurrences
 * is Σ (count·idf)² over the distinct n-grams. That table is the graph's only vocabulary-wide
 * tensor, zeroed once a run and never read whole. Either way the arithmetic is predictProba's:
 * W·(count·idf)/norm + b.
 */
function sparseTextGraph(model: TextClassifier): onnx.IGraphProto {
  const V = model.vocabulary.length;
  const C = model.classes.length;
  const unigrams = model.vocabulary.slice(0, model.unigramCount);
  const bigrams = model.vocabulary.slice(model.unigramCount).map((g) => g.split(BIGRAM_SEPARATOR));
  const words = [...new Set([...unigrams, ...bigrams.flat()])].sort();
  const P = words.length;
  const wordId = new Map(words.map((w, i) => [w, i]));
  // The column of each word id as a unigram (V when the word is only part of bigrams, or unknown).
  const unigramColumn = new Array<number>(P + 1).fill(V);
  unigrams.forEach((g, column) => (unigramColumn[wordId.get(g)!] = column));
  const bigramKeys = bigrams.map(([l, r]) => wordId.get(l!)! * (P + 1) + wordId.get(r!)!);
  // Row V of each table is the unknown n-gram's: zeros.
  const weighted = new Float32Array((V + 1) * C);
  const idfTable = new Float32Array(V + 1);
  for (let g = 0; g < V; g++) {
    const idf = model.idf[g]!;
    idfTable[g] = model.norm === 'distinct' ? idf : idf * idf;
    for (let c = 0; c < C; c++) weighted[g * C + c] = model.weights[c]![g]! * idf;
  }
  const ints = (name: string, values: number[]) => int64Tensor(name, [values.length], values);
  const distinctNorm = () => ({
    initializers: [ints('vocabulary_width', [V + 1])],
    nodes: [
      node('Gather', ['idf_table', 'ids'], ['occurrence_idf'], [intAttr('axis', 0)]),
      node('Shape', ['ids'], ['ids_shape']),
      node('Slice', ['ids_shape', 'zero', 'one'], ['text_count']),
      node('Concat', ['text_count', 'vocabulary_width'], ['rows_shape'], [intAttr('axis', 0)]),
      node(
        'ConstantOfShape',
        ['rows_shape'],
        ['no_rows'],
        [{ name: 'value', type: A.TENSOR, t: { dataType: T.FLOAT, dims: [1], floatData: [0] } }],
      ),
      node(
        'ScatterElements',
        ['no_rows', 'ids', 'occurrence_idf'],
        ['rows'],
        [intAttr('axis', 1), stringAttr('reduction', 'add')],
      ),
      node('GatherElements', ['rows', 'ids'], ['occurrence_tfidf'], [intAttr('axis', 1)]),
      node('Mul', ['occurrence_idf', 'occurrence_tfidf'], ['occurrence_squares']),
      node('ReduceSum', ['occurrence_squares', 'one'], ['squares'], [intAttr('keepdims', 1)]),
    ],
  });
  const occurrencesNorm = () => ({
    initializers: [],
    nodes: [
      node('Gather', ['idf_table', 'ids'], ['occurrence_squares'], [intAttr('axis', 0)]),
      node('ReduceSum', ['occurrence_squares', 'one'], ['squares'], [intAttr('keepdims', 1)]),
    ],
  });
  const norm = model.norm === 'distinct' ? distinctNorm() : occurrencesNorm();
  return {
    name: 'hitl_text_classifier',
    input: [valueInfo('text', T.STRING, ['N', 1])],
    output: [valueInfo('probabilities', T.FLOAT, ['N', C])],
    initializer: [
      ints('flat_shape', [-1]),
      ints('zero', [0]),
      ints('one', [1]),
      ints('minus_one', [-1]),
      ints('to_end', [Number.MAX_SAFE_INTEGER]),
      ints('word_width', [P + 1]),
      ints('unigram_column', unigramColumn),
      floatTensor('weighted', [V + 1, C], weighted),
      floatTensor('idf_table', [V + 1], idfTable),
      floatTensor('norm_eps', [1], [1e-12]),
      floatTensor('B', [C], model.bias),
      ...norm.initializers,
    ],
    node: [
      ...tokenizerNodes(),
      node(
        'LabelEncoder',
        ['tokens'],
        ['word_ids'],
        [
          stringsAttr('keys_strings', words),
          intsAttr(
            'values_int64s',
            words.map((_, i) => i),
          ),
          intAttr('default_int64', P),
        ],
        'ai.onnx.ml',
      ),
      node('Gather', ['unigram_column', 'word_ids'], ['unigram_ids'], [intAttr('axis', 0)]),
      // Bigrams: each word but the last, and the word after it, as one integer key.
      node('Slice', ['word_ids', 'zero', 'minus_one', 'one'], ['left']),
      node('Slice', ['word_ids', 'one', 'to_end', 'one'], ['right']),
      node('Mul', ['left', 'word_width'], ['left_scaled']),
      node('Add', ['left_scaled', 'right'], ['bigram_keys']),
      node(
        'LabelEncoder',
        ['bigram_keys'],
        ['bigram_ids'],
        [
          intsAttr('keys_int64s', bigramKeys),
          intsAttr(
            'values_int64s',
            bigramKeys.map((_, i) => unigrams.length + i),
          ),
          intAttr('default_int64', V),
        ],
        'ai.onnx.ml',
      ),
      node('Concat', ['unigram_ids', 'bigram_ids'], ['ids'], [intAttr('axis', 1)]),
      node('Gather', ['weighted', 'ids'], ['occurrence_scores'], [intAttr('axis', 0)]),
      node('ReduceSum', ['occurrence_scores', 'one'], ['scores'], [intAttr('keepdims', 0)]),
      ...norm.nodes,
      node('Sqrt', ['squares'], ['norm']),
      node('Max', ['norm', 'norm_eps'], ['norm_safe']),
      node('Div', ['scores', 'norm_safe'], ['scores_normed']),
      node('Add', ['scores_normed', 'B'], ['logits']),
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
  const sparse = text && options.textGraph !== 'dense';
  if (text && !sparse && model.norm !== 'distinct') {
    throw new RangeError('the dense text graph divides by the distinct norm only');
  }
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
    opsetImport: sparse
      ? [
          { domain: '', version: ONNX_OPSET },
          { domain: 'ai.onnx.ml', version: TEXT_ML_OPSET },
          { domain: 'com.microsoft', version: 1 },
        ]
      : text
        ? [
            { domain: '', version: ONNX_OPSET },
            { domain: 'com.microsoft', version: 1 },
          ]
        : [{ domain: '', version: ONNX_OPSET }],
    graph: sparse ? sparseTextGraph(model) : text ? denseTextGraph(model) : linearGraph(model),
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
