// pnpm bench:trainer: how long the trainer takes to train, export and verify a text model (the
// function the service runs, trainExportVerify from @hitl/trainer) on 1,000, 5,000 and 20,000
// labelled SpamAssassin emails, how large the ONNX model is, and the peak memory of each. Needs no
// broker or database. Prints progress to stderr, a table to stdout, and ends with one line of
// JSON. Goal: 5,000 examples in under 3 s.
//
// Each size runs in a child process of its own (this script again, with BENCH_ONE_SIZE), so that
// its peak RSS (process.resourceUsage().maxRSS) is that size's alone. `rssBeforeMb` is the
// child's RSS once the corpus is loaded and the warm-up is done, before training starts;
// `peakRssMb - rssBeforeMb` is what training, exporting and verifying that size added.
//
// Training examples are drawn from the corpus's training split in a fixed shuffled order, cycling
// through it for sizes beyond it (about 4,800 emails). Verification (ONNX vs TypeScript
// probabilities) is on 1,000 emails of the evaluation split, as the trainer verifies on its own.
// BENCH_SIZES (comma-separated) changes the sizes; BENCH_WORKER=1 runs each in the worker thread
// the service uses, to include the cost of handing the examples over.
import { spamAssassin, stableFraction } from '@hitl/datasets';
import { evaluate } from '@hitl/model';
import { splitOf, trainExportVerify, trainInWorker, type TrainExportVerifyInput } from '@hitl/trainer';
import { spawn } from 'node:child_process';
import { ownPeakRssMb, progress as progressOf, round, printFigures, runBench } from '../src';

const SIZES = (process.env.BENCH_SIZES ?? '1000,5000,20000').split(',').map(Number);
const ONE_SIZE = process.env.BENCH_ONE_SIZE ? Number(process.env.BENCH_ONE_SIZE) : null;
const IN_WORKER = process.env.BENCH_WORKER === '1';
const VERIFY_ROWS = 1_000;
const GOAL = { examples: 5_000, seconds: 3 };
const progress = progressOf('trainer');

type Result = Awaited<ReturnType<typeof measure>>;

/** This script run again for one size; resolves with the last line it prints, parsed. */
function inChild(n: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', __filename], {
      env: { ...process.env, BENCH_ONE_SIZE: String(n) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`the run for ${n} examples exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Result);
    });
  });
}

async function main(): Promise<void> {
  if (ONE_SIZE !== null) {
    const result = await measure(ONE_SIZE);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const results: Result[] = [];
  for (const n of SIZES) {
    progress(`${n} examples${IN_WORKER ? ' (worker thread)' : ''}, in a process of its own`);
    results.push(await inChild(n));
  }
  report(results);
}

async function measure(n: number) {
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

  const rssBeforeMb = round(process.memoryUsage().rss / 1e6);
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const trained = await run(n);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  const evaluation = evaluate(
    trained.classes,
    trained.probabilities,
    held.map((e) => e.label),
  );
  return {
    examples: n,
    seconds: round(seconds, 2),
    // CPU time (user + system, all threads) of the run: what a busy machine does not stretch.
    cpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
    onnxBytes: trained.onnx.byteLength,
    trainSeconds: round(trained.seconds.train, 2),
    exportSeconds: round(trained.seconds.export, 2),
    verifySeconds: round(trained.seconds.verify, 2),
    epochs: trained.epochs,
    vocabulary: trained.vocabularySize,
    verifyRows: trained.checkedRows,
    maxAbsDiff: trained.maxAbsDiff,
    heldOutMacroF1: round(evaluation.macroF1, 4),
    rssBeforeMb,
    peakRssMb: ownPeakRssMb(),
  };
}

function report(results: readonly Result[]): void {
  const pad = (s: string | number, w: number) => String(s).padStart(w);
  const lines = [
    `${pad('examples', 9)} ${pad('seconds', 8)} ${pad('CPU s', 6)} ${pad('train', 6)} ${pad('export', 7)} ${pad('verify', 7)} ${pad('epochs', 6)} ${pad('onnx bytes', 11)} ${pad('max |diff|', 10)} ${pad('macro-F1', 8)} ${pad('RSS before', 10)} ${pad('peak RSS', 9)}`,
    ...results.map(
      (r) =>
        `${pad(r.examples, 9)} ${pad(r.seconds.toFixed(2), 8)} ${pad(r.cpuSeconds.toFixed(2), 6)} ${pad(r.trainSeconds.toFixed(2), 6)} ${pad(r.exportSeconds.toFixed(2), 7)} ${pad(r.verifySeconds.toFixed(2), 7)} ${pad(r.epochs, 6)} ${pad(r.onnxBytes, 11)} ${pad(r.maxAbsDiff.toExponential(1), 10)} ${pad(r.heldOutMacroF1.toFixed(4), 8)} ${pad(`${r.rssBeforeMb} MB`, 10)} ${pad(`${r.peakRssMb} MB`, 9)}`,
    ),
  ];
  const atGoal = results.find((r) => r.examples === GOAL.examples);
  if (atGoal) {
    lines.push(
      `${GOAL.examples} examples in ${atGoal.seconds.toFixed(2)} s, ${atGoal.cpuSeconds.toFixed(2)} s of CPU (goal < ${GOAL.seconds} s: ${atGoal.seconds < GOAL.seconds ? 'met' : 'missed'})`,
    );
  }
  printFigures(lines, {
    bench: 'trainer',
    worker: IN_WORKER,
    verifyRows: results[0]?.verifyRows ?? 0,
    results,
  });
}

runBench('trainer', main);
