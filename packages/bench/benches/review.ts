// pnpm bench:review (stack up): N concurrent simulated reviewers against the review API (its own
// process, real Postgres, decisions published through the outbox to the real broker), each
// claiming a task and answering it; decisions/s and p50/p99 per call for N = 1, 8, 32. The
// ceiling, measured in the same run: a fastify route (its own process) that returns a constant.
// Prints progress to stderr, the figures to stdout, and ends with one line of JSON.
import { createApiKey, createReviewer } from '@hitl/db';
import { freePort } from '@hitl/testkit';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import {
  percentile,
  preloadReviewTasks,
  progress as progressOf,
  reviewBench,
  reviewRoot,
  round,
  printFigures,
  runBench,
} from '../src';

const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,8,32').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP_SECONDS = 1;
const constantServer = join(__dirname, 'constant-server.ts');
const progress = progressOf('review');

/** One HTTP call on a keep-alive agent: status and parsed body. */
function call(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  key?: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : null });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

interface Run {
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  calls: number;
}

/** Runs `step` on `workers` concurrent workers for the warm-up and then SECONDS; times each call. */
async function measure(
  workers: number,
  step: (worker: number, time: <T>(p: Promise<T>) => Promise<T>) => Promise<boolean>,
): Promise<Run> {
  const latencies: number[] = [];
  let completed = 0;
  const warmEnd = performance.now() + WARMUP_SECONDS * 1000;
  const end = warmEnd + SECONDS * 1000;
  const inWindow = (t: number) => t >= warmEnd && t < end;
  const time = async <T>(p: Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const result = await p;
    if (inWindow(t0)) latencies.push(performance.now() - t0);
    return result;
  };
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (;;) {
        if (performance.now() >= end) return;
        const done = await step(w, time);
        if (done && inWindow(performance.now())) completed++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    perSec: completed / SECONDS,
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    calls: latencies.length,
  };
}

async function main(): Promise<void> {
  const bench = await reviewBench();
  const { pool, processes } = bench;
  try {
    const maxWorkers = Math.max(...CONCURRENCY);
    // Enough tasks that no run finds the queue empty: about 2,000 decisions/s at most.
    const tasks = Number(
      process.env.BENCH_TASKS ?? Math.ceil(2_500 * (SECONDS + WARMUP_SECONDS) * CONCURRENCY.length),
    );
    progress(`preloading ${tasks} tasks`);
    await preloadReviewTasks(pool, tasks);
    const keys: string[] = [];
    for (let w = 0; w < maxWorkers; w++) {
      await createReviewer(pool, { id: `bench-${w}`, name: `bench ${w}`, role: 'reviewer' });
      keys.push((await createApiKey(pool, `bench-${w}`)).key);
    }

    const apiPort = await bench.startApi();
    const constantPort = await freePort();
    await processes.start(constantServer, {
      cwd: reviewRoot,
      env: { PORT: String(constantPort) },
      readyText: 'listening',
    });

    const results: Record<
      string,
      {
        decisionsPerSec: number;
        p50Ms: number;
        p99Ms: number;
        constantRoutePerSec: number;
        constantP50Ms: number;
        constantP99Ms: number;
      }
    > = {};
    for (const n of CONCURRENCY) {
      const agent = new Agent({ keepAlive: true, maxSockets: n });
      progress(`N = ${n}: claim and answer for ${SECONDS} s`);
      const review = await measure(n, async (w, time) => {
        const claimed = await time(call(agent, apiPort, 'POST', '/v1/tasks/claim', keys[w], {}));
        if (claimed.status !== 200)
          throw new Error(`claim answered ${claimed.status}: ${JSON.stringify(claimed.body)}`);
        const { eventId } = claimed.body as { eventId: string };
        const answered = await time(
          call(agent, apiPort, 'POST', `/v1/tasks/${eventId}/answers`, keys[w], { label: 'ham' }),
        );
        if (answered.status !== 200)
          throw new Error(`answer answered ${answered.status}: ${JSON.stringify(answered.body)}`);
        return true;
      });
      progress(`N = ${n}: the constant route for ${SECONDS} s`);
      const constant = await measure(n, async (_w, time) => {
        await time(call(agent, constantPort, 'GET', '/constant'));
        return true;
      });
      agent.destroy();
      results[n] = {
        decisionsPerSec: round(review.perSec),
        p50Ms: review.p50Ms,
        p99Ms: review.p99Ms,
        constantRoutePerSec: round(constant.perSec),
        constantP50Ms: constant.p50Ms,
        constantP99Ms: constant.p99Ms,
      };
      progress(`N = ${n}: ${JSON.stringify(results[n])}`);
    }
    const published = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM outbox WHERE published_at IS NOT NULL`,
    );
    const peakRssMb = bench.usage.peakRssMb();
    const lines = Object.entries(results).map(
      ([n, r]) =>
        `N = ${n.padStart(2)}: ${r.decisionsPerSec} decisions/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms per call | constant route ${r.constantRoutePerSec} calls/s, p50 ${r.constantP50Ms} ms, p99 ${r.constantP99Ms} ms`,
    );
    printFigures(
      [
        ...lines,
        `goal: >= 1000 decisions/s at N = 32 with p99 <= 50 ms; outbox rows published: ${published.rows[0]!.n}`,
        `peak RSS: review API ${peakRssMb.reviewApi} MB (goal <= 200 MB)`,
      ],
      // Peak RSS (VmHWM) of the review API's process over all runs, in MB; goal <= 200.
      { bench: 'review', seconds: SECONDS, results, peakRssMb: { reviewApi: peakRssMb.reviewApi } },
    );
  } finally {
    await bench.close();
  }
}

runBench('review', main);
