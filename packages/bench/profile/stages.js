// Splits the samples of CPU profiles (cpu-profile.js) into the pipeline's stages and prints the
// time of each, its share of the busy time (not idle, not startup), and µs per event:
//
//   node packages/bench/profile/stages.js <events> <pid>-0-main.ts-*.cpuprofile [--cpu-us <µs/event>]
//
// Each sample goes to the stage of the innermost frame on its stack that a rule below matches (a
// builtin such as JSON.parse has no frame of its own: it counts in its caller). The profiler
// samples wall time while the thread runs JavaScript, which on a loaded machine includes time the
// thread waited for a core; with --cpu-us (the process's CPU time per event, as bench:pipeline
// reads it from /proc) the busy stages are also given scaled to that total.
const fs = require('fs');
const RULES = [
  [
    'startup',
    (f) =>
      /node:internal\/modules|\/tsx\/|esbuild|wrapSafe|compileFunction|makeSyncRequest|waitForWorker/.test(
        f.url + ' ' + f.functionName,
      ),
  ],
  [
    'Postgres',
    (f) =>
      /node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?(pg|pg-protocol|pg-pool|pg-types)\//.test(f.url) ||
      /packages\/db\/src/.test(f.url),
  ],
  ['validate', (f) => /contracts\/src\/validation|@sinclair\/typebox/.test(f.url)],
  ['decode: JSON.parse records', (f) => f.functionName === 'decode' && /kafka\/src\/consumer/.test(f.url)],
  [
    'decode: Kafka fetch',
    (f) =>
      /kafkajs\/src\/(protocol\/(decoder|requests\/fetch)|consumer\/(batch|fetchManager|fetcher|runner|consumerGroup|worker|workerQueue|offsetManager))/.test(
        f.url,
      ),
  ],
  ['encode: JSON.stringify outputs', (f) => /kafka\/src\/(producer|output)\.ts/.test(f.url)],
  [
    'encode: Kafka record batches',
    (f) => /kafkajs\/src\/protocol\/(encoder|requests\/produce|recordBatch\/crc32C)/.test(f.url),
  ],
  [
    'score',
    (f) =>
      /onnxruntime|worker-session|services\/inference\/src|packages\/model\/src|postMessage/.test(
        f.url + ' ' + f.functionName,
      ),
  ],
  [
    'service logic (review API, trainer)',
    (f) => /services\/review-api\/src|services\/trainer\/src/.test(f.url),
  ],
  ['route', (f) => /packages\/policy\/src|services\/router\/src/.test(f.url)],
  [
    'transaction',
    (f) =>
      /kafka\/src\/transactions|kafkajs\/src\/producer\/(eosManager|transaction)|kafkajs\/src\/protocol\/requests\/(addOffsetsToTxn|addPartitionsToTxn|endTxn|txnOffsetCommit|initProducerId)/.test(
        f.url,
      ),
  ],
  ['produce', (f) => /kafkajs\/src\/producer/.test(f.url)],
  ['Kafka network', (f) => /kafkajs\/src\/(network|cluster|broker)/.test(f.url)],
  ['consumer loop', (f) => /kafka\/src\/consumer|kafkajs\/src\/consumer/.test(f.url)],
  ['HTTP (fastify)', (f) => /fastify|find-my-way|light-my-request|avvio/.test(f.url)],
  ['logging, metrics', (f) => /pino|prom-client|sonic-boom|service-kit/.test(f.url)],
  ['outbox relay', (f) => /packages\/outbox\/src/.test(f.url)],
  ['kafkajs other', (f) => /kafkajs/.test(f.url)],
];
function analyse(file) {
  const p = JSON.parse(fs.readFileSync(file));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const memo = new Map();
  const stageOf = (id) => {
    if (memo.has(id)) return memo.get(id);
    const n = byId.get(id);
    const f = n.callFrame;
    let s;
    if (f.functionName === '(garbage collector)') s = 'GC';
    else if (f.functionName === '(idle)') s = 'idle';
    else if (f.functionName === '(program)') s = 'runtime (native)';
    else {
      // innermost match: check this frame, else the parent's stage (parents were walked leaf-first)
      const rule = RULES.find(([, m]) => m(f));
      if (rule) s = rule[0];
      else s = parent.has(id) ? stageOf(parent.get(id)) : 'other';
    }
    memo.set(id, s);
    return s;
  };
  // leaf-first: a frame's own rule wins over its ancestors' (innermost match).
  const totals = new Map();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] || 0;
    const s = stageOf(id);
    totals.set(s, (totals.get(s) || 0) + dt);
    total += dt;
  });
  return { totals, total, durationMs: (p.endTime - p.startTime) / 1000 };
}
const args = process.argv.slice(2);
const cpuAt = args.indexOf('--cpu-us');
const cpuUs = cpuAt >= 0 ? Number(args.splice(cpuAt, 2)[1]) : null;
const events = Number(args[0] || 0);
// Chunks of one thread's profile are summed.
const files = args.slice(1);
const file = files.length > 1 ? `${files[0]} (+${files.length - 1} chunks)` : files[0];
const totals = new Map();
let durationMs = 0;
for (const f of files) {
  const r = analyse(f);
  durationMs += r.durationMs;
  for (const [k, v] of r.totals) totals.set(k, (totals.get(k) || 0) + v);
}
const excluded = new Set(['idle', 'startup']);
const busy = [...totals].filter(([k]) => !excluded.has(k)).reduce((s, [, v]) => s + v, 0);
console.log(
  `${file}: ${(durationMs / 1000).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (not idle, not startup)${events ? `, ${events} events` : ''}`,
);
for (const [k, v] of [...totals].sort((a, b) => b[1] - a[1])) {
  const share = excluded.has(k) ? '' : `${((100 * v) / busy).toFixed(1).padStart(5)}%`;
  const perEvent = events ? `${(v / events).toFixed(1).padStart(7)} µs/event` : '';
  const scaled =
    cpuUs !== null && !excluded.has(k) ? `${((cpuUs * v) / busy).toFixed(1).padStart(7)} µs CPU/event` : '';
  console.log(
    `${k.padEnd(34)} ${(v / 1000).toFixed(0).padStart(7)} ms ${share.padStart(6)} ${perEvent} ${scaled}`,
  );
}
