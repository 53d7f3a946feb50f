import { mulberry32 } from './random';
import { BIGRAM_SEPARATOR, isBigram, textNgrams, tokenize } from './tokenize';

/** Options shared by both model families. */
export interface TrainOptions {
  /** Class labels in output order; defaults to the sorted distinct labels. At least two. */
  classes?: readonly string[];
  /** L2 penalty on the weights (not the biases), added to the mean cross-entropy as l2/2·‖W‖². */
  l2?: number;
  /** Passes over the data. */
  epochs?: number;
  /** Seed of the PRNG used for initialisation and shuffling. */
  seed?: number;
  /** Adam step size. */
  learningRate?: number;
  /** Rows per gradient step; defaults to 64 (or all rows when fewer). */
  batchSize?: number;
  /**
   * Each row's weight in the loss, in (0, 1], in the order of the labels (default 1 each): a row of
   * weight w counts as w of a row. For labels that are surely right less often than others.
   */
  sampleWeights?: readonly number[];
}

/**
 * What a text's TF-IDF row is divided by. `distinct` (the default) divides by √(Σ (count·idf)²),
 * the L2 norm of the row itself, as scikit-learn's TfidfVectorizer does. `occurrences` divides by
 * √(Σ count·idf²), the norm of the n-gram occurrences each weighed by its idf: a plain sum over a
 * text's tokens, which makes the exported graph cheaper still (no [rows, vocabulary] table), at a
 * small cost in held-out accuracy on repetitive texts (`pnpm bench:text-graph`). The two agree on
 * texts with no repeated n-gram.
 */
export type TextNorm = 'occurrences' | 'distinct';

export interface TextTrainInput extends TrainOptions {
  texts: readonly string[];
  labels: readonly string[];
  /** Vocabulary size cap: the n-grams in the most documents, ties broken by the n-gram's text. */
  maxFeatures?: number;
  /** Minimum number of documents an n-gram must appear in. */
  minDf?: number;
  /** What each row is divided by (default `distinct`). */
  norm?: TextNorm;
}

export interface LinearTrainInput extends TrainOptions {
  features: readonly (readonly number[])[];
  labels: readonly string[];
}

/**
 * Unigrams+bigrams TF-IDF (smooth idf, each row divided by its norm, see TextNorm) followed by a
 * softmax linear layer.
 * All parameters are float32 values so that the ONNX graph holds exactly the same numbers.
 */
export interface TextClassifier {
  readonly kind: 'text';
  readonly classes: readonly string[];
  /** Unigrams first, then bigrams as "a b"; the feature index is the position here. */
  readonly vocabulary: readonly string[];
  readonly unigramCount: number;
  /** Inverse document frequency per vocabulary entry. */
  readonly idf: readonly number[];
  readonly norm: TextNorm;
  /** [classes][vocabulary] */
  readonly weights: readonly (readonly number[])[];
  readonly bias: readonly number[];
  /** Temperature already divided into weights and bias (see withTemperature); absent when uncalibrated. */
  readonly temperature?: number;
  predictProba(texts: readonly string[]): number[][];
}

/** Softmax linear model over numeric features; standardisation is folded into weights and bias. */
export interface LinearClassifier {
  readonly kind: 'linear';
  readonly classes: readonly string[];
  readonly featureWidth: number;
  /** Training mean and scale of each feature (already folded into weights and bias). */
  readonly mean: readonly number[];
  readonly scale: readonly number[];
  /** [classes][featureWidth], applied to raw features. */
  readonly weights: readonly (readonly number[])[];
  readonly bias: readonly number[];
  /** Temperature already divided into weights and bias (see withTemperature); absent when uncalibrated. */
  readonly temperature?: number;
  predictProba(features: readonly (readonly number[])[]): number[][];
}

export type Classifier = TextClassifier | LinearClassifier;

/** Numerically stable softmax in float64. */
export function softmax(logits: readonly number[]): number[] {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const exps = logits.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

interface SparseRow {
  idx: Int32Array;
  val: Float64Array;
}

interface Fitted {
  weights: Float64Array; // [C * D]
  bias: Float64Array; // [C]
}

function resolveClasses(labels: readonly string[], classes?: readonly string[]): string[] {
  const out = classes ? [...classes] : [...new Set(labels)].sort();
  if (out.length < 2) throw new Error(`need at least two classes, got ${out.length}`);
  if (new Set(out).size !== out.length) throw new Error('classes must be distinct');
  return out;
}

function encodeLabels(labels: readonly string[], classes: readonly string[]): Int32Array {
  const index = new Map(classes.map((c, i) => [c, i]));
  const y = new Int32Array(labels.length);
  labels.forEach((label, i) => {
    const k = index.get(label);
    if (k === undefined) throw new Error(`label ${JSON.stringify(label)} is not one of the classes`);
    y[i] = k;
  });
  return y;
}

/** Mini-batch Adam on the L2-regularised softmax cross-entropy. Deterministic for a seed. */
function fitSoftmax(
  rows: readonly SparseRow[],
  y: Int32Array,
  C: number,
  D: number,
  opts: TrainOptions,
): Fitted {
  const n = rows.length;
  if (n === 0) throw new Error('no training rows');
  const l2 = opts.l2 ?? 1e-4;
  const epochs = opts.epochs ?? 100;
  const lr = opts.learningRate ?? 0.05;
  const batchSize = Math.max(1, Math.min(opts.batchSize ?? 64, n));
  const rand = mulberry32(opts.seed ?? 0);
  const weights = opts.sampleWeights;
  if (weights !== undefined) {
    if (weights.length !== n) throw new RangeError(`${weights.length} sample weights for ${n} rows`);
    for (const w of weights) {
      if (!(w > 0 && w <= 1)) throw new RangeError(`a sample weight must be in (0, 1], not ${w}`);
    }
  }

  const W = new Float64Array(C * D);
  for (let i = 0; i < W.length; i++) W[i] = (rand() - 0.5) * 0.02;
  const b = new Float64Array(C);
  const gW = new Float64Array(C * D);
  const gb = new Float64Array(C);
  const mW = new Float64Array(C * D);
  const vW = new Float64Array(C * D);
  const mb = new Float64Array(C);
  const vb = new Float64Array(C);
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const order = Array.from({ length: n }, (_, i) => i);
  const logits = new Float64Array(C);
  let step = 0;

  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      const m = end - start;
      gW.fill(0);
      gb.fill(0);
      for (let r = start; r < end; r++) {
        const ri = order[r]!;
        const row = rows[ri]!;
        let max = -Infinity;
        for (let c = 0; c < C; c++) {
          let z = b[c]!;
          const off = c * D;
          for (let k = 0; k < row.idx.length; k++) z += W[off + row.idx[k]!]! * row.val[k]!;
          logits[c] = z;
          if (z > max) max = z;
        }
        let sum = 0;
        for (let c = 0; c < C; c++) {
          const e = Math.exp(logits[c]! - max);
          logits[c] = e;
          sum += e;
        }
        const yi = y[ri]!;
        const wi = weights === undefined ? 1 : weights[ri]!;
        for (let c = 0; c < C; c++) {
          const g = ((logits[c]! / sum - (c === yi ? 1 : 0)) * wi) / m;
          gb[c] = gb[c]! + g;
          const off = c * D;
          for (let k = 0; k < row.idx.length; k++) {
            const at = off + row.idx[k]!;
            gW[at] = gW[at]! + g * row.val[k]!;
          }
        }
      }
      step++;
      const c1 = 1 - Math.pow(beta1, step);
      const c2 = 1 - Math.pow(beta2, step);
      for (let i = 0; i < W.length; i++) {
        const g = gW[i]! + l2 * W[i]!;
        const mi = beta1 * mW[i]! + (1 - beta1) * g;
        const vi = beta2 * vW[i]! + (1 - beta2) * g * g;
        mW[i] = mi;
        vW[i] = vi;
        W[i] = W[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
      }
      for (let c = 0; c < C; c++) {
        const g = gb[c]!;
        const mi = beta1 * mb[c]! + (1 - beta1) * g;
        const vi = beta2 * vb[c]! + (1 - beta2) * g * g;
        mb[c] = mi;
        vb[c] = vi;
        b[c] = b[c]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
      }
    }
  }
  return { weights: W, bias: b };
}

function toMatrix(flat: Float64Array, C: number, D: number): number[][] {
  return Array.from({ length: C }, (_, c) =>
    Array.from(flat.subarray(c * D, (c + 1) * D), (v) => Math.fround(v)),
  );
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A copy of `a` twice as long (the rest filled with `fill`). */
function doubled(a: Int32Array, fill = 0): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(2 * a.length);
  if (fill !== 0) grown.fill(fill, a.length);
  grown.set(a);
  return grown;
}

/** Document frequency of every distinct n-gram of documents given as n-grams. */
function documentFrequencies(docs: readonly (readonly string[])[]): { ngrams: string[]; df: Int32Array } {
  const ids = new Map<string, number>();
  const ngrams: string[] = [];
  let df = new Int32Array(1024);
  // The last document each n-gram was counted in, so that a repeat within a document is skipped.
  let lastDoc = new Int32Array(1024);
  docs.forEach((grams, d) => {
    for (const g of grams) {
      let id = ids.get(g);
      if (id === undefined) {
        id = ngrams.length;
        ids.set(g, id);
        ngrams.push(g);
        if (id === df.length) {
          df = doubled(df);
          lastDoc = doubled(lastDoc);
        }
      }
      if (lastDoc[id] === d + 1) continue;
      lastDoc[id] = d + 1;
      df[id]! += 1;
    }
  });
  return { ngrams, df: df.subarray(0, ngrams.length) };
}

/**
 * An open-addressing hash table from pairs of non-negative int32 (a bigram's two word ids) to
 * int32 values, so that counting bigrams builds and hashes no string.
 */
class PairTable {
  private keys = new Int32Array(2 * 1024).fill(-1);
  private values = new Int32Array(1024);
  private size = 0;

  private slot(left: number, right: number): number {
    const mask = this.values.length - 1;
    let at = (Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x632be5ab, 0x85ebca77)) & mask;
    for (;;) {
      const k = this.keys[2 * at]!;
      if (k === -1 || (k === left && this.keys[2 * at + 1] === right)) return at;
      at = (at + 1) & mask;
    }
  }

  /** The value of (left, right), or -1. */
  get(left: number, right: number): number {
    const at = this.slot(left, right);
    return this.keys[2 * at] === -1 ? -1 : this.values[at]!;
  }

  set(left: number, right: number, value: number): void {
    if (2 * (this.size + 1) > this.values.length) this.grow();
    const at = this.slot(left, right);
    if (this.keys[2 * at] === -1) this.size++;
    this.keys[2 * at] = left;
    this.keys[2 * at + 1] = right;
    this.values[at] = value;
  }

  private grow(): void {
    const { keys, values } = this;
    this.keys = new Int32Array(2 * keys.length).fill(-1); // rehashed below, not copied
    this.values = new Int32Array(2 * values.length);
    this.size = 0;
    for (let at = 0; at < values.length; at++) {
      if (keys[2 * at] !== -1) this.set(keys[2 * at]!, keys[2 * at + 1]!, values[at]!);
    }
  }
}

/**
 * documentFrequencies of texts' unigrams and bigrams (textNgrams), with each text kept as the ids of
 * its n-grams (4 bytes an occurrence, where the strings of all the texts' n-grams at once would
 * make the peak grow with the tokens rather than the features). Tokens are mapped to word ids through one map lookup each; a bigram is found by its
 * two word ids in a PairTable, and its string ("a b") is made once per distinct bigram, at the end.
 */
function textFrequencies(texts: readonly string[]): {
  ngrams: string[];
  df: Int32Array;
  docIds: Int32Array[];
} {
  const wordIds = new Map<string, number>();
  const words: string[] = [];
  let unigramOf = new Int32Array(1024).fill(-1); // word id → n-gram id
  const bigramOf = new PairTable(); // (word id, word id) → n-gram id
  // Each n-gram id's words: [word, -1] for a unigram, [left, right] for a bigram.
  let parts = new Int32Array(2 * 1024);
  let df = new Int32Array(1024);
  let lastDoc = new Int32Array(1024);
  let count = 0;
  const newNgram = (left: number, right: number): number => {
    if (count === df.length) {
      df = doubled(df);
      lastDoc = doubled(lastDoc);
      parts = doubled(parts);
    }
    parts[2 * count] = left;
    parts[2 * count + 1] = right;
    return count++;
  };
  const docIds: Int32Array[] = [];
  for (let d = 0; d < texts.length; d++) {
    const tokens = tokenize(texts[d]!);
    const n = tokens.length;
    const ids = new Int32Array(n === 0 ? 0 : 2 * n - 1);
    let previous = -1;
    for (let i = 0; i < n; i++) {
      const token = tokens[i]!;
      let word = wordIds.get(token);
      if (word === undefined) {
        word = words.length;
        wordIds.set(token, word);
        words.push(token);
        if (word === unigramOf.length) unigramOf = doubled(unigramOf, -1);
      }
      let id = unigramOf[word]!;
      if (id === -1) unigramOf[word] = id = newNgram(word, -1);
      ids[i] = id;
      if (previous !== -1) {
        let bigram = bigramOf.get(previous, word);
        if (bigram === -1) {
          bigram = newNgram(previous, word);
          bigramOf.set(previous, word, bigram);
        }
        ids[n + i - 1] = bigram;
      }
      previous = word;
    }
    for (const id of ids) {
      if (lastDoc[id] === d + 1) continue;
      lastDoc[id] = d + 1;
      df[id]! += 1;
    }
    docIds.push(ids);
  }
  const ngrams = new Array<string>(count);
  for (let id = 0; id < count; id++) {
    const right = parts[2 * id + 1]!;
    const left = words[parts[2 * id]!]!;
    ngrams[id] = right === -1 ? left : left + BIGRAM_SEPARATOR + words[right]!;
  }
  return { ngrams, df: df.subarray(0, count), docIds };
}

/**
 * Reorders `ids[from, to)` so that the `k` whose n-grams are the smallest strings come first (in
 * no order): the selection step of quicksort (Hoare partition, median-of-three pivot), linear on
 * average. The n-grams are distinct.
 */
function selectSmallest(ids: Int32Array, ngrams: readonly string[], k: number): void {
  let lo = 0;
  let hi = ids.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const a = ngrams[ids[lo]!]!;
    const b = ngrams[ids[lo + ((hi - lo) >> 1)]!]!;
    const c = ngrams[ids[hi]!]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (ngrams[ids[i]!]! < pivot) i++;
      while (ngrams[ids[j]!]! > pivot) j--;
      if (i <= j) {
        const t = ids[i]!;
        ids[i] = ids[j]!;
        ids[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return;
  }
}

/**
 * The ids of the n-grams with the highest document frequency (at least minDf), at most
 * maxFeatures of them (a count as Array.prototype.slice reads it), ties at the cut broken by the
 * n-gram's text (the smallest first), in no particular order: the set that sorting all of them by
 * (frequency descending, text) and keeping the first maxFeatures gives, found by counting the
 * frequencies and selecting among the ties at the cut, without sorting.
 */
function topByDocumentFrequency(
  ngrams: readonly string[],
  df: Int32Array,
  maxFeatures: number,
  minDf: number,
): number[] {
  const floor = Math.max(1, Math.ceil(minDf));
  let maxDf = 0;
  for (let i = 0; i < df.length; i++) if (df[i]! > maxDf) maxDf = df[i]!;
  const perDf = new Int32Array(maxDf + 1);
  let eligible = 0;
  for (let i = 0; i < df.length; i++) {
    perDf[df[i]!]! += 1;
    if (df[i]! >= floor) eligible++;
  }
  const m = Math.trunc(maxFeatures);
  const k = Number.isNaN(m) ? 0 : m < 0 ? Math.max(0, eligible + m) : Math.min(m, eligible);
  // The cut: every n-gram at or above it is chosen, and some at the frequency just below it.
  let cut = maxDf + 1;
  let above = 0;
  while (cut > floor && above + perDf[cut - 1]! <= k) above += perDf[--cut]!;
  const tieDf = cut - 1;
  const fromTies = tieDf >= floor ? k - above : 0;
  const chosen: number[] = [];
  const ties = new Int32Array(fromTies > 0 ? perDf[tieDf]! : 0);
  let t = 0;
  for (let i = 0; i < df.length; i++) {
    if (df[i]! >= cut) chosen.push(i);
    else if (df[i] === tieDf && fromTies > 0) ties[t++] = i;
  }
  if (fromTies > 0) {
    selectSmallest(ties, ngrams, fromTies);
    for (let i = 0; i < fromTies; i++) chosen.push(ties[i]!);
  }
  return chosen;
}

/** Vocabulary by document frequency: top maxFeatures, ties by text; then unigrams, then bigrams. */
export function buildVocabulary(
  docs: readonly string[][],
  maxFeatures: number,
  minDf: number,
): { vocabulary: string[]; unigramCount: number; df: number[] } {
  const { ngrams, df } = documentFrequencies(docs);
  const { vocabulary, unigramCount, df: chosenDf } = vocabularyOf(ngrams, df, maxFeatures, minDf);
  return { vocabulary, unigramCount, df: chosenDf };
}

/**
 * The vocabulary of counted n-grams (see buildVocabulary), and each n-gram id's column in it (-1:
 * not in it).
 */
function vocabularyOf(
  ngrams: readonly string[],
  df: Int32Array,
  maxFeatures: number,
  minDf: number,
): { vocabulary: string[]; unigramCount: number; df: number[]; columnOf: Int32Array } {
  const chosen = topByDocumentFrequency(ngrams, df, maxFeatures, minDf);
  const idOf = new Map(chosen.map((id) => [ngrams[id]!, id]));
  const grams = [...idOf.keys()];
  const unigrams = grams.filter((g) => !isBigram(g)).sort(compareStrings);
  const bigrams = grams.filter(isBigram).sort(compareStrings);
  const vocabulary = [...unigrams, ...bigrams];
  const columnOf = new Int32Array(ngrams.length).fill(-1);
  vocabulary.forEach((g, column) => (columnOf[idOf.get(g)!] = column));
  return {
    vocabulary,
    unigramCount: unigrams.length,
    df: vocabulary.map((g) => df[idOf.get(g)!]!),
    columnOf,
  };
}

function tfidfRow(
  grams: readonly string[],
  index: ReadonlyMap<string, number>,
  idf: readonly number[],
  norm: TextNorm,
): SparseRow {
  const counts = new Map<number, number>();
  for (const g of grams) {
    const k = index.get(g);
    if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return weighedRow(counts, idf, norm);
}

/** tfidfRow of a document given as n-gram ids, each id's column in `columnOf` (-1: none). */
function tfidfRowOfIds(
  ids: Int32Array,
  columnOf: Int32Array,
  idf: readonly number[],
  norm: TextNorm,
): SparseRow {
  const counts = new Map<number, number>();
  for (let i = 0; i < ids.length; i++) {
    const k = columnOf[ids[i]!]!;
    if (k >= 0) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return weighedRow(counts, idf, norm);
}

/** Term counts by column → the TF-IDF row divided by its norm (see TextNorm), columns ascending. */
function weighedRow(counts: ReadonlyMap<number, number>, idf: readonly number[], norm: TextNorm): SparseRow {
  const idx = Int32Array.from([...counts.keys()].sort((a, b) => a - b));
  const val = new Float64Array(idx.length);
  let squares = 0;
  idx.forEach((k, i) => {
    const count = counts.get(k)!;
    const v = count * idf[k]!;
    val[i] = v;
    squares += norm === 'distinct' ? v * v : count * idf[k]! * idf[k]!;
  });
  const length = Math.sqrt(squares);
  if (length > 0) for (let i = 0; i < val.length; i++) val[i] = val[i]! / length;
  return { idx, val };
}

function sparseProba(
  row: SparseRow,
  weights: readonly (readonly number[])[],
  bias: readonly number[],
): number[] {
  return softmax(
    weights.map((w, c) => {
      let z = bias[c]!;
      for (let k = 0; k < row.idx.length; k++) z += w[row.idx[k]!]! * row.val[k]!;
      return z;
    }),
  );
}

function vocabularyIndex(vocabulary: readonly string[]): Map<string, number> {
  return new Map(vocabulary.map((g, i) => [g, i]));
}

/**
 * The text model's predictProba for given parameters: one definition, shared by training and by
 * anything that derives a model from another (calibrate.ts), so the two cannot drift apart.
 */
export function textPredictor(
  params: Pick<TextClassifier, 'vocabulary' | 'idf' | 'norm' | 'weights' | 'bias'>,
): TextClassifier['predictProba'] {
  const { idf, norm, weights, bias } = params;
  const index = vocabularyIndex(params.vocabulary);
  return (batch) => batch.map((t) => sparseProba(tfidfRow(textNgrams(t), index, idf, norm), weights, bias));
}

/** The linear model's predictProba for given parameters (weights over raw features). */
export function linearPredictor(
  params: Pick<LinearClassifier, 'featureWidth' | 'weights' | 'bias'>,
): LinearClassifier['predictProba'] {
  const { featureWidth: D, weights, bias } = params;
  return (batch) =>
    batch.map((x) => {
      if (x.length !== D) throw new Error(`expected ${D} features, got ${x.length}`);
      return softmax(weights.map((w, c) => w.reduce((z, wj, j) => z + wj * x[j]!, bias[c]!)));
    });
}

/** Trains a TF-IDF + multinomial logistic regression text classifier. */
export function trainTextClassifier(input: TextTrainInput): TextClassifier {
  const { texts, labels } = input;
  if (texts.length !== labels.length) throw new Error('texts and labels differ in length');
  const classes = resolveClasses(labels, input.classes);
  const y = encodeLabels(labels, classes);
  // Each text's n-grams are counted as they are made and kept as ids only: the strings of all the
  // texts at once would make the peak grow with the tokens rather than the features.
  const counted = textFrequencies(texts);
  const { vocabulary, unigramCount, df, columnOf } = vocabularyOf(
    counted.ngrams,
    counted.df,
    input.maxFeatures ?? 20000,
    input.minDf ?? 1,
  );
  if (vocabulary.length === 0) throw new Error('empty vocabulary');
  const n = texts.length;
  // Smooth idf as in scikit-learn: ln((1 + n) / (1 + df)) + 1, stored as float32.
  const idf = df.map((d) => Math.fround(Math.log((1 + n) / (1 + d)) + 1));
  const norm = input.norm ?? 'distinct';
  const rows = counted.docIds.map((ids) => tfidfRowOfIds(ids, columnOf, idf, norm));
  const fitted = fitSoftmax(rows, y, classes.length, vocabulary.length, input);
  const weights = toMatrix(fitted.weights, classes.length, vocabulary.length);
  const bias = Array.from(fitted.bias, (v) => Math.fround(v));
  return {
    kind: 'text',
    classes,
    vocabulary,
    unigramCount,
    idf,
    norm,
    weights,
    bias,
    predictProba: textPredictor({ vocabulary, idf, norm, weights, bias }),
  };
}

/** Trains a multinomial logistic regression on standardised numeric features. */
export function trainLinearClassifier(input: LinearTrainInput): LinearClassifier {
  const { features, labels } = input;
  if (features.length !== labels.length) throw new Error('features and labels differ in length');
  if (features.length === 0) throw new Error('no training rows');
  const D = features[0]!.length;
  if (D === 0) throw new Error('features must have at least one column');
  for (const row of features) if (row.length !== D) throw new Error('rows differ in width');
  const classes = resolveClasses(labels, input.classes);
  const C = classes.length;
  const y = encodeLabels(labels, classes);
  const n = features.length;
  const mean = Array.from({ length: D }, (_, j) => features.reduce((s, r) => s + r[j]!, 0) / n);
  const scale = mean.map((mu, j) => {
    const sd = Math.sqrt(features.reduce((s, r) => s + (r[j]! - mu) ** 2, 0) / n);
    return sd > 1e-12 ? sd : 1;
  });
  const allIdx = Int32Array.from({ length: D }, (_, j) => j);
  const rows = features.map((r) => ({
    idx: allIdx,
    val: Float64Array.from(r, (v, j) => (v - mean[j]!) / scale[j]!),
  }));
  const fitted = fitSoftmax(rows, y, C, D, input);
  // Fold standardisation: W·((x − μ)/σ) + b = (W/σ)·x + (b − Σ W·μ/σ).
  const folded = new Float64Array(C * D);
  const bias: number[] = [];
  for (let c = 0; c < C; c++) {
    let bc = fitted.bias[c]!;
    for (let j = 0; j < D; j++) {
      const w = fitted.weights[c * D + j]! / scale[j]!;
      folded[c * D + j] = w;
      bc -= w * mean[j]!;
    }
    bias.push(Math.fround(bc));
  }
  const weights = toMatrix(folded, C, D);
  return {
    kind: 'linear',
    classes,
    featureWidth: D,
    mean,
    scale,
    weights,
    bias,
    predictProba: linearPredictor({ featureWidth: D, weights, bias }),
  };
}
