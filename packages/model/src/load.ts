import { onnx } from 'onnx-proto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { METADATA_KEYS } from './onnx-export';
import { WorkerSession, type Feed, type RunResult } from './worker-session';

/** Highest ONNX IR version accepted for import (onnxruntime-node 1.30.0 refuses IR 14). */
// What onnxruntime-node 1.30.0 was seen to accept on these machines (IR 14 is refused).
export const MAX_IMPORT_IR_VERSION = 13;
/** Highest ai.onnx opset accepted for import. */
export const MAX_IMPORT_OPSET = 26;

export type ModelImportErrorCode =
  | 'HITL_ERR_MODEL_DECODE'
  | 'HITL_ERR_MODEL_IR_VERSION'
  | 'HITL_ERR_MODEL_OPSET'
  | 'HITL_ERR_MODEL_ZIPMAP'
  | 'HITL_ERR_MODEL_OUTPUT'
  | 'HITL_ERR_MODEL_LABELS'
  | 'HITL_ERR_MODEL_INPUT'
  | 'HITL_ERR_MODEL_SESSION';

/** A model that cannot be served; `code` is stable, `message` says what is wrong and how to fix it. */
export class ModelImportError extends Error {
  readonly code: ModelImportErrorCode;
  constructor(code: ModelImportErrorCode, message: string) {
    super(message);
    this.name = 'ModelImportError';
    this.code = code;
  }
}

export type ModelInputKind = 'text' | 'features';

export interface ModelOverrides {
  classes?: string[];
  inputKind?: ModelInputKind;
  featureWidth?: number;
}

export interface ModelDescription {
  /** Class labels, in the column order of the probability output. */
  classes: string[];
  classesSource: 'overrides' | 'metadata' | 'classifier';
  inputKind: ModelInputKind;
  /** Number of features per row (features models only). */
  featureWidth: number | null;
  inputName: string;
  /** Declared rank of the input: text inputs are [N] or [N, 1], feature inputs [N, D]. */
  inputRank: 1 | 2;
  /** Name of the float [N, C] probability output. */
  outputName: string;
  irVersion: number;
  /** Opset version per domain ('' is ai.onnx). */
  opsets: Record<string, number>;
  producerName: string;
  /** The model's `metadata_props`. */
  metadata: Record<string, string>;
}

export interface LoadOptions {
  /** Threads used within one operator; 1 unless told. */
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  /**
   * Run the session in a worker thread (default false): onnxruntime-node scores synchronously on
   * the calling thread, so a service keeps its event loop free this way.
   */
  worker?: boolean;
}

/** What a session is created with (onnxruntime's own option names). */
export interface SessionSettings {
  intraOpNumThreads: number;
  interOpNumThreads: number;
}

export interface OnnxClassifier {
  description: ModelDescription;
  /** Probabilities per row, columns in `description.classes` order. */
  predictProba(inputs: readonly string[] | readonly (readonly number[])[]): Promise<number[][]>;
  close(): Promise<void>;
}

const T = onnx.TensorProto.DataType;
const utf8 = new TextDecoder();
/** Rows per onnxruntime run in predictProba (the inference service's default batch size). */
const MAX_ROWS_PER_RUN = 256;
/**
 * Rows per run of a text model. The text graph's norm table is rows × vocabulary floats (5 MB at
 * 64 rows and 20,000 n-grams), which the session's memory arena keeps at its largest; runs of 64
 * also score faster than runs of 256 (`pnpm bench:text-graph`, BENCH_BATCH).
 */
const MAX_TEXT_ROWS_PER_RUN = 64;
/**
 * At most this many characters times rows in one run of a text model: a text graph pads every
 * text's tokens to the longest text's, so a run's work is its row count times its longest text.
 */
const MAX_PADDED_CHARS_PER_RUN = 64 * 4_096;

/** Row indices in runs of at most MAX_ROWS_PER_RUN, in order. */
function rowRuns(n: number): number[][] {
  const runs: number[][] = [];
  for (let from = 0; from < n; from += MAX_ROWS_PER_RUN) {
    runs.push(Array.from({ length: Math.min(MAX_ROWS_PER_RUN, n - from) }, (_, i) => from + i));
  }
  return runs;
}

/**
 * The runs a text model scores texts of these lengths in: the texts by length, shortest first,
 * cut into runs of at most `maxRows` rows whose row count times longest text stays within
 * `maxPaddedChars` (a longer text has a run of its own). Texts of like length share a run, so
 * little of a run's work goes to padding, and a run's intermediates stay bounded however many
 * rows there are.
 */
export function textRuns(
  lengths: readonly number[],
  maxRows = MAX_TEXT_ROWS_PER_RUN,
  maxPaddedChars = MAX_PADDED_CHARS_PER_RUN,
): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const runs: number[][] = [];
  let run: number[] = [];
  for (const i of order) {
    if (run.length > 0 && (run.length === maxRows || (run.length + 1) * lengths[i]! > maxPaddedChars)) {
      runs.push(run);
      run = [];
    }
    run.push(i);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

const HOW_TO_EXPORT =
  "Export scikit-learn models with skl2onnx: convert_sklearn(model, initial_types=..., options={id(model): {'zipmap': False}}, target_opset=17), then set onx.ir_version = 8 before saving.";

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === null || v === undefined) return 0;
  return Number((v as { toString(): string }).toString());
}

function fail(code: ModelImportErrorCode, what: string, how: string = HOW_TO_EXPORT): never {
  throw new ModelImportError(code, `${what} ${how}`);
}

function dimsOf(type: onnx.ITypeProto | null | undefined): (number | null)[] | null {
  const shape = type?.tensorType?.shape;
  if (!shape?.dim) return null;
  return shape.dim.map((d) => {
    const n = d.dimValue == null ? 0 : toNumber(d.dimValue);
    return n > 0 ? n : null;
  });
}

function describeType(type: onnx.ITypeProto | null | undefined): string {
  if (!type) return 'no type';
  if (type.tensorType) {
    const elem = T[type.tensorType.elemType ?? 0] ?? `type ${type.tensorType.elemType}`;
    const dims = dimsOf(type);
    return `${elem} tensor ${dims ? `[${dims.map((d) => d ?? '?').join(', ')}]` : 'of unknown shape'}`;
  }
  if (type.sequenceType) return 'sequence';
  if (type.mapType) return 'map';
  return 'non-tensor type';
}

function decode(bytes: Uint8Array): onnx.ModelProto {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    return fail(
      'HITL_ERR_MODEL_DECODE',
      `The file is not an ONNX model: its protobuf could not be decoded (${(err as Error).message}).`,
      'Upload the .onnx file as written by onnx.save / SerializeToString(). ' + HOW_TO_EXPORT,
    );
  }
  if (!model.graph || !model.graph.node?.length || !model.graph.output?.length) {
    fail(
      'HITL_ERR_MODEL_DECODE',
      'The file is not an ONNX model: it holds no graph with nodes and outputs.',
      'Upload the .onnx file as written by onnx.save / SerializeToString(). ' + HOW_TO_EXPORT,
    );
  }
  return model;
}

function parseClassesMetadata(raw: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (!isStringArray(parsed)) {
    fail(
      'HITL_ERR_MODEL_LABELS',
      `The metadata_props entry ${METADATA_KEYS.classes} is not a JSON array of strings.`,
      'Write it as e.g. ["ham","spam"], or pass the classes explicitly.',
    );
  }
  return parsed;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((c) => typeof c === 'string');
}

const LABEL_ATTRIBUTES = ['classlabels_strings', 'classlabels_ints', 'classlabels_int64s'];

function classifierLabels(graph: onnx.IGraphProto): string[] | null {
  for (const n of graph.node ?? []) {
    if (n.domain !== 'ai.onnx.ml' || n.opType === 'ZipMap') continue;
    for (const attr of n.attribute ?? []) {
      if (!attr.name || !LABEL_ATTRIBUTES.includes(attr.name)) continue;
      if (attr.strings?.length) return attr.strings.map((s) => utf8.decode(s));
      if (attr.ints?.length) return attr.ints.map((i) => String(toNumber(i)));
    }
  }
  return null;
}

/**
 * Works out how to serve an ONNX classifier: its classes, input and probability output. Sources, in
 * order: `overrides`, our `hitl.*` metadata_props, then skl2onnx conventions (class labels of an
 * ai.onnx.ml classifier node, input type and shape of the graph input). Throws ModelImportError.
 */
export function inspectOnnxModel(bytes: Uint8Array, overrides: ModelOverrides = {}): ModelDescription {
  const model = decode(bytes);
  const graph = model.graph!;
  const metadata: Record<string, string> = {};
  for (const p of model.metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? '';

  const irVersion = toNumber(model.irVersion);
  if (irVersion > MAX_IMPORT_IR_VERSION) {
    fail(
      'HITL_ERR_MODEL_IR_VERSION',
      `The model has ONNX IR version ${irVersion}; this server (onnxruntime-node 1.30.0) accepts IR version ≤ ${MAX_IMPORT_IR_VERSION}.`,
      `Lower it before saving (Python: onx.ir_version = 8, valid with target_opset ≤ 17). ${HOW_TO_EXPORT}`,
    );
  }
  const opsets: Record<string, number> = {};
  for (const o of model.opsetImport ?? []) {
    const domain = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
    opsets[domain] = toNumber(o.version);
  }
  const mainOpset = opsets[''] ?? 0;
  if (mainOpset > MAX_IMPORT_OPSET) {
    fail(
      'HITL_ERR_MODEL_OPSET',
      `The model uses ai.onnx opset ${mainOpset}; this server (onnxruntime-node 1.30.0) accepts ai.onnx opset ≤ ${MAX_IMPORT_OPSET}.`,
      `Export with a lower target_opset (17 is safe). ${HOW_TO_EXPORT}`,
    );
  }

  // ZipMap turns probabilities into a sequence of maps, which onnxruntime-node cannot return.
  const outputs = graph.output ?? [];
  const zipmapNode = (graph.node ?? []).some((n) => n.opType === 'ZipMap');
  const mapOutput = outputs.find((o) => o.type && !o.type.tensorType);
  if (zipmapNode || mapOutput) {
    fail(
      'HITL_ERR_MODEL_ZIPMAP',
      `The model returns its probabilities through ZipMap${mapOutput ? ` (output "${mapOutput.name}" is a ${describeType(mapOutput.type)}, not a tensor)` : ''}; onnxruntime-node cannot return non-tensor outputs. Re-export with zipmap off.`,
    );
  }

  // Classes.
  let classes: string[] | null = null;
  let classesSource: ModelDescription['classesSource'] = 'classifier';
  const metaClasses = metadata[METADATA_KEYS.classes];
  if (overrides.classes) {
    classes = [...overrides.classes];
    classesSource = 'overrides';
  } else if (metaClasses !== undefined) {
    classes = parseClassesMetadata(metaClasses);
    classesSource = 'metadata';
  } else {
    classes = classifierLabels(graph);
  }
  if (!classes) {
    fail(
      'HITL_ERR_MODEL_LABELS',
      `The model does not name its classes: no ${METADATA_KEYS.classes} metadata_props entry and no classlabels_strings / classlabels_ints on an ai.onnx.ml classifier node.`,
      `Pass the classes explicitly (in the column order of the probability output), or add metadata_props ${METADATA_KEYS.classes} = '["a","b"]'. ${HOW_TO_EXPORT}`,
    );
  }
  if (classes.length < 2 || new Set(classes).size !== classes.length || classes.some((c) => c === '')) {
    fail(
      'HITL_ERR_MODEL_LABELS',
      `The model's classes ${JSON.stringify(classes)} are not at least two distinct non-empty labels.`,
      'Pass the classes explicitly, in the column order of the probability output.',
    );
  }

  // Probability output: a float tensor [N, C].
  const floatOutputs = outputs.filter((o) => {
    const dims = dimsOf(o.type);
    return o.type?.tensorType?.elemType === T.FLOAT && dims?.length === 2;
  });
  const output =
    floatOutputs.find((o) => o.name === 'probabilities') ??
    floatOutputs.find((o) => o.name === 'output_probability') ??
    floatOutputs[0];
  if (!output?.name) {
    fail(
      'HITL_ERR_MODEL_OUTPUT',
      `The model has no float tensor output of shape [N, C] holding class probabilities (outputs: ${outputs.map((o) => `"${o.name}" ${describeType(o.type)}`).join('; ')}).`,
    );
  }
  const width = dimsOf(output.type)?.[1] ?? null;
  if (width !== null && width !== classes.length) {
    fail(
      'HITL_ERR_MODEL_OUTPUT',
      `The probability output "${output.name}" has ${width} columns but the model has ${classes.length} classes (${JSON.stringify(classes)}).`,
      'Give one class label per probability column, in column order.',
    );
  }

  // Input: exactly one string or float tensor.
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name ?? ''));
  const inputHelp = `Export with a single input: a string tensor [None, 1] (skl2onnx StringTensorType([None, 1])) for text or a float tensor [None, D] (FloatTensorType([None, D])) for numeric features. ${HOW_TO_EXPORT}`;
  if (inputs.length !== 1) {
    fail(
      'HITL_ERR_MODEL_INPUT',
      `The model has ${inputs.length} inputs (${inputs.map((i) => `"${i.name}"`).join(', ')}); exactly one is supported.`,
      inputHelp,
    );
  }
  const input = inputs[0]!;
  const inputName = input.name ?? '';
  const elemType = input.type?.tensorType?.elemType;
  const inputDims = dimsOf(input.type);
  let inputKind: ModelInputKind;
  if (elemType === T.STRING) inputKind = 'text';
  else if (elemType === T.FLOAT) inputKind = 'features';
  else {
    return fail(
      'HITL_ERR_MODEL_INPUT',
      `The model's input "${inputName}" is a ${describeType(input.type)}; only string (text) and float (features) tensors are supported.`,
      inputHelp,
    );
  }
  const claimedKind = overrides.inputKind ?? metadata[METADATA_KEYS.inputKind];
  if (claimedKind !== undefined && claimedKind !== inputKind) {
    fail(
      'HITL_ERR_MODEL_INPUT',
      `The model is said to take ${claimedKind} input but its input "${inputName}" is a ${describeType(input.type)}.`,
      inputHelp,
    );
  }
  let inputRank: 1 | 2;
  let featureWidth: number | null = null;
  if (inputKind === 'text') {
    if (inputDims && inputDims.length === 1) inputRank = 1;
    else if (inputDims && inputDims.length === 2 && (inputDims[1] === null || inputDims[1] === 1))
      inputRank = 2;
    else if (!inputDims) inputRank = 2;
    else {
      return fail(
        'HITL_ERR_MODEL_INPUT',
        `The text input "${inputName}" is a ${describeType(input.type)}; it must be [N] or [N, 1].`,
        inputHelp,
      );
    }
  } else {
    if (inputDims && inputDims.length !== 2) {
      fail(
        'HITL_ERR_MODEL_INPUT',
        `The feature input "${inputName}" is a ${describeType(input.type)}; it must be [N, D].`,
        inputHelp,
      );
    }
    inputRank = 2;
    const declared = inputDims?.[1] ?? null;
    const metaWidth = metadata[METADATA_KEYS.featureWidth];
    const claimed = overrides.featureWidth ?? (metaWidth !== undefined ? Number(metaWidth) : null);
    if (claimed !== null && (!Number.isInteger(claimed) || claimed <= 0)) {
      fail('HITL_ERR_MODEL_INPUT', `The feature width ${claimed} is not a positive integer.`, inputHelp);
    }
    if (claimed !== null && declared !== null && claimed !== declared) {
      fail(
        'HITL_ERR_MODEL_INPUT',
        `The feature width is said to be ${claimed} but the input "${inputName}" declares ${declared} columns.`,
        inputHelp,
      );
    }
    featureWidth = declared ?? claimed;
    if (featureWidth === null) {
      fail(
        'HITL_ERR_MODEL_INPUT',
        `The feature input "${inputName}" does not declare its width (${describeType(input.type)}).`,
        `Pass featureWidth explicitly, or export with a fixed width. ${inputHelp}`,
      );
    }
  }

  return {
    classes,
    classesSource,
    inputKind,
    featureWidth,
    inputName,
    inputRank,
    outputName: output.name,
    irVersion,
    opsets,
    producerName: model.producerName ?? '',
    metadata,
  };
}

/** Inspects the model, then opens an onnxruntime-node session that serves it. */
export async function loadOnnxClassifier(
  bytes: Uint8Array,
  overrides: ModelOverrides = {},
  options: LoadOptions = {},
): Promise<OnnxClassifier> {
  const description = inspectOnnxModel(bytes, overrides);
  const { classes, inputKind, featureWidth, inputName, inputRank, outputName } = description;
  const threads = {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: options.interOpNumThreads ?? 1,
  };
  let session: { run(feed: Feed): Promise<RunResult>; close(): Promise<void> };
  try {
    session = options.worker
      ? await WorkerSession.create(bytes, { inputName, outputName }, threads)
      : await mainThreadSession(bytes, inputName, outputName, threads);
  } catch (err) {
    return fail(
      'HITL_ERR_MODEL_SESSION',
      `onnxruntime-node 1.30.0 could not load the model: ${(err as Error).message}.`,
      `Text models exported by skl2onnx need options={TfidfVectorizer: {'locale': 'C'}}. ${HOW_TO_EXPORT}`,
    );
  }
  const C = classes.length;

  const feed = (inputs: readonly string[] | readonly (readonly number[])[]): Feed => {
    const n = inputs.length;
    if (inputKind === 'text') {
      const texts = inputs.map((t, i) => {
        if (typeof t !== 'string') throw new TypeError(`row ${i}: a text model takes strings`);
        return t;
      });
      return { dtype: 'string', data: texts, dims: inputRank === 1 ? [n] : [n, 1] };
    }
    const D = featureWidth!;
    const data = new Float32Array(n * D);
    inputs.forEach((row, i) => {
      if (!Array.isArray(row) || row.length !== D) {
        throw new TypeError(`row ${i}: a features model takes arrays of ${D} numbers`);
      }
      data.set(row as readonly number[], i * D);
    });
    return { dtype: 'float32', data, dims: [n, D] };
  };

  return {
    description,
    async predictProba(inputs) {
      const out = new Array<number[]>(inputs.length);
      const runs =
        inputKind === 'text'
          ? textRuns(inputs.map((t) => (typeof t === 'string' ? t.length : 0)))
          : rowRuns(inputs.length);
      for (const run of runs) {
        const rows = run.map((i) => inputs[i]) as typeof inputs;
        const { data, dims } = await session.run(feed(rows));
        if (dims.length !== 2 || dims[0] !== rows.length || dims[1] !== C) {
          throw new Error(
            `output "${outputName}" has shape [${dims.join(', ')}], expected [${rows.length}, ${C}]`,
          );
        }
        run.forEach((at, i) => (out[at] = Array.from(data.subarray(i * C, (i + 1) * C))));
      }
      return out;
    },
    close: () => session.close(),
  };
}

async function mainThreadSession(
  bytes: Uint8Array,
  inputName: string,
  outputName: string,
  threads: SessionSettings,
) {
  const session = await InferenceSession.create(Buffer.from(bytes), threads);
  return {
    async run(feed: Feed): Promise<RunResult> {
      const out = await session.run({ [inputName]: new Tensor(feed.dtype, feed.data, feed.dims) }, [
        outputName,
      ]);
      const probs = out[outputName];
      if (!probs) throw new Error(`the model gave no output "${outputName}"`);
      return { data: probs.data as Float32Array, dims: probs.dims };
    },
    close: () => session.release(),
  };
}
