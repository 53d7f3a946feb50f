// pnpm bench:trainer: how long the trainer takes to train, export and verify a text model (the
// function the service runs, trainExportVerify from @hitl/trainer) on 1,000, 5,000 and 20,000
// labelled SpamAssassin emails, and how large the ONNX model is. Needs no broker or database.
// Prints progress to stderr, a table to stdout, and ends with one line of JSON. Goal: 5,000
// examples in under 5 s.
//
// Training examples are drawn from the corpus's training split in a fixed shuffled order, cycling
// through it for sizes beyond it (about 4,800 emails). Verification (ONNX vs TypeScript
// probabilities) is on 1,000 emails of the evaluation split, as the trainer verifies on its own.
// BENCH_SIZES (comma-separated) changes the sizes; BENCH_WORKER=1 runs each in the worker thread
// the service uses, to include the cost of handing the examples over.
import { spamAssassin, stableFraction } from '@hitl/datasets';
import { evaluate } from '@hitl/model';
import { splitOf, trainExportVerify, trainInWorker, type TrainExportVerifyInput } from '@hitl/trainer';
import { progress as progressOf, round, printFigures, runBench } from '../src';

const SIZES = (process.env.BENCH_SIZES ?? '1000,5000,20000').split(',').map(Number);
const IN_WORKER = process.env.BENCH_WORKER === '1';
const VERIFY_ROWS = 1_000;
const GOAL = { examples: 5_000, seconds: 5 };
const progress = progressOf('trainer');

async function main(): Promise<void> {
  progress('loading the SpamAssassin corpus');
  const emails = spamAssassin();
  const held = emails.filter((e) => splitOf(e.id, 0.2) === 'eval').slice(0, VERIFY_ROWS);
  const pool = emails
    .filter((e) => splitOf(e.id, 0.2) === 'train')
    .sort((a, b) => stableFraction(a.id, 'bench.trainer') - stableFraction(b.id, 'bench.trainer'));
  const input = (n: number): TrainExportVerifyInput => {
    const rows = Array.from({ length: n }, (_, i) => pool[i % pool.length]!);
    return {
      modelId: 'bench-trainer',
      classes: ['ham', 'spam'],
      train: { inputs: { kind: 'text', texts: rows.map((e) => e.text) }, labels: rows.map((e) => e.label) },
      verify: { kind: 'text', texts: held.map((e) => e.text) },
      maxFeatures: 20_000,
      seed: 1,
    };
  };
  const run = (n: number) => (IN_WORKER ? trainInWorker(input(n)) : trainExportVerify(input(n)));

  // onnxruntime's first session and V8's first compilations are not the trainer's steady cost.
  progress('warming up on 200 examples');
  await run(200);

  const results = [];
  for (const n of SIZES) {
    progress(`${n} examples${IN_WORKER ? ' (worker thread)' : ''}`);
    const started = performance.now();
    const trained = await run(n);
    const seconds = (performance.now() - started) / 1000;
    const evaluation = evaluate(
      trained.classes,
      trained.probabilities,
      held.map((e) => e.label),
    );
    results.push({
      examples: n,
      seconds: round(seconds, 2),
      onnxBytes: trained.onnx.byteLength,
      trainSeconds: round(trained.seconds.train, 2),
      exportSeconds: round(trained.seconds.export, 2),
      verifySeconds: round(trained.seconds.verify, 2),
      epochs: trained.epochs,
      vocabulary: trained.vocabularySize,
      verifyRows: trained.checkedRows,
      maxAbsDiff: trained.maxAbsDiff,
      heldOutMacroF1: round(evaluation.macroF1, 4),
    });
  }

  const pad = (s: string | number, w: number) => String(s).padStart(w);
  const lines = [
    `${pad('examples', 9)} ${pad('seconds', 8)} ${pad('train', 6)} ${pad('export', 7)} ${pad('verify', 7)} ${pad('epochs', 6)} ${pad('onnx bytes', 11)} ${pad('max |diff|', 10)} ${pad('macro-F1', 8)}`,
    ...results.map(
      (r) =>
        `${pad(r.examples, 9)} ${pad(r.seconds.toFixed(2), 8)} ${pad(r.trainSeconds.toFixed(2), 6)} ${pad(r.exportSeconds.toFixed(2), 7)} ${pad(r.verifySeconds.toFixed(2), 7)} ${pad(r.epochs, 6)} ${pad(r.onnxBytes, 11)} ${pad(r.maxAbsDiff.toExponential(1), 10)} ${pad(r.heldOutMacroF1.toFixed(4), 8)}`,
    ),
  ];
  const atGoal = results.find((r) => r.examples === GOAL.examples);
  if (atGoal) {
    lines.push(
      `${GOAL.examples} examples in ${atGoal.seconds.toFixed(2)} s (goal < ${GOAL.seconds} s: ${atGoal.seconds < GOAL.seconds ? 'met' : 'missed'})`,
    );
  }
  printFigures(lines, { bench: 'trainer', worker: IN_WORKER, verifyRows: held.length, results });
}

runBench('trainer', main);
