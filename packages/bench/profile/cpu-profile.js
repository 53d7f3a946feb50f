// A preload that profiles a process's JavaScript, every thread of it, with the inspector:
//
//   HITL_CPU_PROF_DIR=/tmp/prof NODE_OPTIONS="--require $PWD/packages/bench/profile/cpu-profile.js" pnpm bench:pipeline
//
// (node refuses --cpu-prof in NODE_OPTIONS; a preload reaches the services the benchmark starts.)
// Each thread writes <dir>/<pid>-<threadId>-<script>-<n>.cpuprofile every 10 s and when it exits:
// a worker that is terminated gets no exit event, so it would write nothing otherwise. Samples are
// taken every millisecond. Split the chunks of a thread into stages with stages.js.
const inspector = require('node:inspector');
const fs = require('node:fs');
const path = require('node:path');
const { threadId } = require('node:worker_threads');

const dir = process.env.HITL_CPU_PROF_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  const script = path.basename(process.argv[1] || 'node');
  let chunk = 0;
  const flush = (restart) => {
    // The in-thread session answers synchronously, so this also works in an exit handler.
    session.post('Profiler.stop', (error, result) => {
      if (!error) {
        const file = path.join(dir, `${process.pid}-${threadId}-${script}-${chunk++}.cpuprofile`);
        fs.writeFileSync(file, JSON.stringify(result.profile));
      }
      if (restart) session.post('Profiler.start');
    });
  };
  setInterval(() => flush(true), 10_000).unref();
  process.on('exit', () => flush(false));
}
