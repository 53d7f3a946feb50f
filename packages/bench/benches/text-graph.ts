// pnpm bench:text-graph: the two text graphs side by side, with bare onnxruntime in one run.
//
// - `dense`: rows divided by their L2 norm over distinct n-grams (norm "distinct"); the graph builds
//   each text's [vocabulary]-wide TF-IDF row with TfIdfVectorizer and multiplies it.
// - `sparse`: rows divided by the norm over n-gram occurrences (norm "occurrences", the trainer's
//   default); the graph maps each n-gram to an id (LabelEncoder) and sums gathered weights, so its
//   cost follows the tokens.
//
// Accuracy: both are trained the way the trainer trains (its L2 penalty and passes for the number of
// rows, 20,000 n-grams, seed 1) on each data set's training part and scored on its held-out part:
// SpamAssassin (its 20% evaluation split, trained on all the rest and on 300 of it), generated
// short-text sets of three shapes and first names (both 30% held out). Each graph is checked
// against its TypeScript model (max |ONNX − TypeScript| over the held-out rows).
//
// Speed: one onnxruntime session per graph (one intra-op and one inter-op thread, as the inference
// service runs), scoring the SpamAssassin held-out emails in the runs the service makes (textRuns:
// like lengths together, at most 64 rows, BENCH_BATCH; BENCH_RUNS=arrival keeps arrival order), in
// alternating rounds (BENCH_ROUNDS, default 12) so that all see the same machine; the median round
// gives µs per email. Then one more pass per graph with onnxruntime's profiler gives the time of
// each node (tokens: the Tokenizer; text_lower: StringNormalizer; tfidf: TfIdfVectorizer). Needs
// no broker or database. Ends with one line of JSON.
import { firstNames, spamAssassin, stableFraction } from '@hitl/datasets';
import {
  evaluate,
  textRuns,
  toOnnx,
  trainTextClassifier,
  type TextClassifier,
  type TextNorm,
} from '@hitl/model';
import { shortTextSet } from '@hitl/replay';
import { epochsFor, regularization, splitOf } from '@hitl/trainer';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { ownPeakRssMb, percentile, printFigures, progress as progressOf, round, runBench } from '../src';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const BATCH = Number(process.env.BENCH_BATCH ?? 64);
/** The graphs compared: the model's norm, and how toOnnx builds its graph. */
const GRAPHS = {
  dense: { norm: 'distinct', textGraph: 'dense' },
  sparse: { norm: 'distinct', textGraph: 'sparse' },
  sparseOccurrences: { norm: 'occurrences', textGraph: 'sparse' },
} as const satisfies Record<string, { norm: TextNorm; textGraph: 'dense' | 'sparse' }>;
type GraphName = keyof typeof GRAPHS;
const NAMES = Object.keys(GRAPHS) as GraphName[];
const progress = progressOf('text-graph');

interface Labelled {
  id: string;
  text: string;
  label: string;
}

interface DataSet {
  name: string;
  train: Labelled[];
  heldOut: Labelled[];
}

function heldOutShare(name: string, items: readonly Labelled[], share: number): DataSet {
  const held = (e: Labelled) => stableFraction(e.id, `bench.text-graph.${name}`) < share;
  return { name, train: items.filter((e) => !held(e)), heldOut: items.filter(held) };
}

function dataSets(): DataSet[] {
  const emails = spamAssassin();
  const train = emails.filter((e) => splitOf(e.id, 0.2) === 'train');
  const heldOut = emails.filter((e) => splitOf(e.id, 0.2) === 'eval');
  const first300 = [...train]
    .sort((a, b) => stableFraction(a.id, 'bench.text-graph') - stableFraction(b.id, 'bench.text-graph'))
    .slice(0, 300);
  const shortText = (rows: number, classes: number, words: [number, number], own: number, seed: number) =>
    shortTextSet({ rows, classes, words, ownWordShare: own, otherWordShare: 0.1, seed }).map((item, i) => ({
      id: `${seed}-${i}`,
      text: String((item.input as { text: string }).text),
      label: item.label,
    }));
  const names = firstNames().map((n, i) => ({ id: `name-${i}`, text: n.name, label: n.label }));
  return [
    { name: 'spam-assassin', train, heldOut },
    { name: 'spam-assassin-300', train: first300, heldOut },
    heldOutShare('short-text-2x3-8', shortText(2_000, 2, [3, 8], 0.3, 1), 0.3),
    heldOutShare('short-text-5x1-6', shortText(3_000, 5, [1, 6], 0.4, 2), 0.3),
    heldOutShare('short-text-10x5-30', shortText(5_000, 10, [5, 30], 0.2, 3), 0.3),
    heldOutShare('first-names', names, 0.3),
  ];
}

function trainAs(set: DataSet, norm: TextNorm): TextClassifier {
  const rows = set.train.length;
  return trainTextClassifier({
    texts: set.train.map((e) => e.text),
    labels: set.train.map((e) => e.label),
    maxFeatures: 20_000,
    epochs: epochsFor(rows),
    l2: regularization(rows),
    seed: 1,
    norm,
  });
}

function tensorOf(texts: readonly string[]): Tensor {
  return new Tensor('string', [...texts], [texts.length, 1]);
}

/**
 * Every text's probabilities, scored in the runs the inference service uses (textRuns: texts of
 * like length together, at most BATCH rows a run), or, with BENCH_RUNS=arrival, in arrival order.
 */
async function scoreAll(session: InferenceSession, texts: readonly string[]): Promise<number[][]> {
  const out = new Array<number[]>(texts.length);
  const runs =
    process.env.BENCH_RUNS === 'arrival'
      ? textRuns(
          texts.map(() => 0),
          BATCH,
        )
      : textRuns(
          texts.map((t) => t.length),
          BATCH,
        );
  for (const run of runs) {
    const result = await session.run({ text: tensorOf(run.map((i) => texts[i]!)) });
    const probs = result.probabilities!.data as Float32Array;
    const width = probs.length / run.length;
    run.forEach((at, r) => (out[at] = Array.from(probs.subarray(r * width, (r + 1) * width))));
  }
  return out;
}

function maxAbsDiff(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number {
  let max = 0;
  a.forEach((row, r) => row.forEach((v, c) => (max = Math.max(max, Math.abs(v - b[r]![c]!)))));
  return max;
}

const session = (bytes: Uint8Array, profileFilePrefix?: string) =>
  InferenceSession.create(Buffer.from(bytes), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    ...(profileFilePrefix ? { enableProfiling: true, profileFilePrefix } : {}),
  });

/**
 * µs per email of each node of a graph, from onnxruntime's own profiler over one pass of `texts`
 * (a separate session, so that profiling costs nothing in the timed rounds): the largest five, and
 * the rest together.
 */
async function nodeProfile(bytes: Uint8Array, texts: readonly string[]): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'hitl-text-graph-'));
  try {
    const profiled = await session(bytes, join(dir, 'profile'));
    await scoreAll(profiled, texts);
    profiled.endProfiling();
    await profiled.release();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('onnxruntime wrote no profile');
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      cat?: string;
      name: string;
      dur: number;
    }[];
    const byNode = new Map<string, number>();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const name = e.name.slice(0, -'_kernel_time'.length);
      byNode.set(name, (byNode.get(name) ?? 0) + e.dur / texts.length);
    }
    const sorted = [...byNode].sort((a, b) => b[1] - a[1]);
    const rest = sorted.slice(5).reduce((sum, [, us]) => sum + us, 0);
    return Object.fromEntries<number>([
      ...sorted.slice(0, 5).map(([n, us]): [string, number] => [n, round(us)]),
      ['other nodes', round(rest)],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface GraphFigures {
  accuracy: number;
  macroF1: number;
  logLoss: number;
  maxAbsDiff: number;
  onnxMb: number;
}

async function main(): Promise<void> {
  progress('loading the data sets');
  const sets = dataSets();
  const accuracy: Record<string, unknown>[] = [];
  const served = {} as Record<GraphName, Uint8Array>;
  for (const set of sets) {
    progress(`${set.name}: training on ${set.train.length} rows, ${set.heldOut.length} held out`);
    const row: Record<string, unknown> = {
      set: set.name,
      train: set.train.length,
      heldOut: set.heldOut.length,
    };
    const texts = set.heldOut.map((e) => e.text);
    const trained = new Map<TextNorm, TextClassifier>();
    for (const name of NAMES) {
      const { norm, textGraph } = GRAPHS[name];
      const model = trained.get(norm) ?? trainAs(set, norm);
      trained.set(norm, model);
      const bytes = toOnnx(model, { modelId: `bench-${name}`, textGraph });
      const scoring = await session(bytes);
      const onnxProbs = await scoreAll(scoring, texts);
      await scoring.release();
      const e = evaluate(
        model.classes,
        onnxProbs,
        set.heldOut.map((x) => x.label),
      );
      row[name] = {
        accuracy: round(100 * e.accuracy, 2),
        macroF1: round(e.macroF1, 4),
        logLoss: round(e.logLoss, 4),
        maxAbsDiff: Number(maxAbsDiff(onnxProbs, model.predictProba(texts)).toExponential(2)),
        onnxMb: round(bytes.length / 1e6, 2),
      } satisfies GraphFigures;
      if (set.name === 'spam-assassin') served[name] = bytes;
    }
    accuracy.push(row);
  }

  const texts = sets[0]!.heldOut.map((e) => e.text);
  progress(`timing the graphs on ${texts.length} emails, batches of ${BATCH}, ${ROUNDS} rounds each`);
  const sessions = {} as Record<GraphName, InferenceSession>;
  for (const name of NAMES) {
    sessions[name] = await session(served[name]);
    await scoreAll(sessions[name], texts.slice(0, BATCH)); // warm-up
  }
  const perEmail = Object.fromEntries(NAMES.map((n) => [n, [] as number[]])) as Record<GraphName, number[]>;
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of r % 2 === 0 ? NAMES : [...NAMES].reverse()) {
      const started = performance.now();
      await scoreAll(sessions[name], texts);
      perEmail[name].push(((performance.now() - started) * 1000) / texts.length);
    }
  }
  for (const name of NAMES) await sessions[name].release();
  progress('one more pass per graph with onnxruntime profiling, for the time of each node');
  const nodes = {} as Record<GraphName, Record<string, number>>;
  for (const name of NAMES) nodes[name] = await nodeProfile(served[name], texts);
  const micros = Object.fromEntries(
    NAMES.map((n) => [
      n,
      round(
        percentile(
          [...perEmail[n]].sort((a, b) => a - b),
          50,
        ),
      ),
    ]),
  ) as Record<GraphName, number>;

  const figures = {
    bench: 'text-graph',
    emails: texts.length,
    batch: BATCH,
    rounds: ROUNDS,
    microsPerEmail: micros,
    speedup: round(micros.dense / micros.sparse, 2),
    nodeMicrosPerEmail: nodes,
    accuracy,
    peakRssMb: ownPeakRssMb(),
    loadAverage: round(loadavg()[0]!, 2),
  };
  const describe: Record<GraphName, string> = {
    dense: 'dense graph (TfIdfVectorizer), norm distinct',
    sparse: 'sparse graph, norm distinct',
    sparseOccurrences: 'sparse graph, norm occurrences',
  };
  const lines = [
    `scoring ${texts.length} SpamAssassin emails with bare onnxruntime, batches of ${BATCH}, median of ${ROUNDS} rounds (load ${figures.loadAverage}):`,
    ...NAMES.map(
      (n) =>
        `  ${describe[n].padEnd(46)} ${micros[n]} µs per email (${round(micros.dense / micros[n], 2)}× the dense)`,
    ),
    '',
    'onnxruntime profile, µs per email of the costliest nodes (a profiled pass of its own):',
    ...NAMES.map(
      (n) =>
        `  ${n.padEnd(18)} ${Object.entries(nodes[n])
          .map(([node, us]) => `${node} ${us}`)
          .join(', ')}`,
    ),
    '',
    'held-out accuracy (%), macro F1 and max |ONNX − TypeScript| per graph:',
    ...accuracy.map((row) => {
      const cells = NAMES.map((n) => {
        const g = row[n] as GraphFigures;
        return `${n} ${g.accuracy} / ${g.macroF1} / ${g.maxAbsDiff}`;
      });
      return `  ${String(row.set).padEnd(20)} ${String(row.train).padStart(5)} train ${String(row.heldOut).padStart(5)} held out: ${cells.join('; ')}`;
    }),
  ];
  printFigures(lines, figures);
}

runBench('text-graph', main);
