// pnpm bench:web (stack up): one reviewer in headless Chromium answers tasks with the keyboard
// in the web app, served by the review API (its own process, real Postgres, decisions through the
// outbox to the real broker). The figure: time from the key press to the next task on screen,
// p50/p95/max, timed inside the page from the key event's time stamp. Two runs: with a reading
// pause before each key (BENCH_READ_MS, default 400 ms, as a person reads) and with none (keys as
// fast as the next task shows). The baseline, in the same run and page: an answer and then a
// claim, awaited one after the other, which is the wait of a screen that does not claim ahead.
// Prints progress to stderr, the figures to stdout, and ends with one line of JSON.
import { createApiKey, createReviewer } from '@hitl/db';
import {
  installKeyProbe,
  launchChromium,
  takeKeySamples,
  webAppDir,
  type KeyToNext,
} from '@hitl/web/testing';
import type { Page } from 'playwright-core';
import {
  percentile,
  preloadReviewTasks,
  printFigures,
  progress as progressOf,
  reviewBench,
  round,
  runBench,
} from '../src';

const ANSWERS = Number(process.env.BENCH_ANSWERS ?? 100);
const READ_MS = Number(process.env.BENCH_READ_MS ?? 400);
const BASELINE = Number(process.env.BENCH_BASELINE ?? 100);
const GOAL_P95_MS = 100;
const progress = progressOf('web');

interface Summary {
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  samples: number;
}

function summary(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50Ms: round(percentile(sorted, 50)),
    p95Ms: round(percentile(sorted, 95)),
    maxMs: round(sorted.at(-1) ?? NaN),
    samples: sorted.length,
  };
}

/** Presses an answer key `count` times, each after `readMs`, and returns the probe's samples. */
async function answerWithKeys(page: Page, count: number, readMs: number): Promise<KeyToNext[]> {
  const samples: KeyToNext[] = [];
  await takeKeySamples(page);
  for (let i = 0; i < count; i++) {
    if (readMs > 0) await new Promise((resolve) => setTimeout(resolve, readMs));
    await page.keyboard.press(i % 2 === 0 ? '1' : '2');
    // The next task has been painted when the probe has its sample.
    // A function, not a string: the page's CSP forbids the eval a string predicate needs.
    await page.waitForFunction(
      () => (window as unknown as { hitlProbe: { samples: unknown[] } }).hitlProbe.samples.length > 0,
    );
    samples.push(...(await takeKeySamples(page)));
    if ((i + 1) % 25 === 0) progress(`${i + 1} of ${count} answered`);
  }
  return samples;
}

/** Answer, then claim the next task, awaited in turn from the page: milliseconds per step. */
async function answerThenClaim(page: Page, key: string, count: number): Promise<number[]> {
  // Sent as source, like the probe: tsx would add its __name helper to a function passed here.
  return page.evaluate<number[]>(`(async (key, count) => {
    const headers = { authorization: 'Bearer ' + key, 'content-type': 'application/json' };
    const claim = async () => {
      const res = await fetch('/v1/tasks/claim', { method: 'POST', headers, body: '{}' });
      if (res.status !== 200) throw new Error('claim answered ' + res.status);
      return (await res.json()).eventId;
    };
    const times = [];
    let current = await claim();
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const res = await fetch('/v1/tasks/' + encodeURIComponent(current) + '/answers', {
        method: 'POST', headers, body: JSON.stringify({ label: 'ham' }),
      });
      if (res.status !== 200) throw new Error('answer answered ' + res.status);
      current = await claim();
      times.push(performance.now() - started);
    }
    return times;
  })(${JSON.stringify(key)}, ${count})`);
}

async function main(): Promise<void> {
  const bench = await reviewBench();
  const browser = await launchChromium().catch(async (error: unknown) => {
    await bench.close();
    throw error;
  });
  try {
    const tasks = 2 * ANSWERS + BASELINE + 50;
    progress(`preloading ${tasks} tasks`);
    await preloadReviewTasks(bench.pool, tasks);
    const keys: string[] = [];
    for (const id of ['bench-web', 'bench-baseline']) {
      await createReviewer(bench.pool, { id, name: id, role: 'reviewer' });
      keys.push((await createApiKey(bench.pool, id)).key);
    }
    const port = await bench.startApi({ WEB_APP_DIR: webAppDir });

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`http://127.0.0.1:${port}/app/`);
    await page.locator('#api-key').fill(keys[0]!);
    await page.keyboard.press('Enter');
    await page.locator('#task').waitFor();
    await installKeyProbe(page);

    progress(`${ANSWERS} answers with ${READ_MS} ms to read each task`);
    const reading = await answerWithKeys(page, ANSWERS, READ_MS);
    progress(`${ANSWERS} answers with no pause`);
    const rushed = await answerWithKeys(page, ANSWERS, 0);
    progress(`baseline: ${BASELINE} answers then claims, awaited in turn`);
    const baseline = await answerThenClaim(page, keys[1]!, BASELINE);

    const figures = {
      bench: 'web',
      reading: {
        readMs: READ_MS,
        painted: summary(reading.map((s) => s.paintedMs)),
        dom: summary(reading.map((s) => s.domMs)),
      },
      noPause: { painted: summary(rushed.map((s) => s.paintedMs)), dom: summary(rushed.map((s) => s.domMs)) },
      baselineAnswerThenClaim: summary(baseline),
      ratioP95ToBaseline: {
        reading: round(summary(reading.map((s) => s.paintedMs)).p95Ms / summary(baseline).p95Ms, 3),
        noPause: round(summary(rushed.map((s) => s.paintedMs)).p95Ms / summary(baseline).p95Ms, 3),
      },
      goalP95Ms: GOAL_P95_MS,
    };
    const decided = await bench.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM review_tasks WHERE status = 'decided'`,
    );
    const line = (name: string, s: Summary) =>
      `${name}: p50 ${s.p50Ms} ms, p95 ${s.p95Ms} ms, max ${s.maxMs} ms (${s.samples} samples)`;
    printFigures(
      [
        line(`key press to next task painted, reading ${READ_MS} ms`, figures.reading.painted),
        line('key press to next task painted, no pause', figures.noPause.painted),
        line('baseline, answer then claim awaited in turn', figures.baselineAnswerThenClaim),
        `p95 / baseline p95: ${figures.ratioP95ToBaseline.reading} reading, ${figures.ratioP95ToBaseline.noPause} no pause; goal: p95 < ${GOAL_P95_MS} ms; tasks decided: ${decided.rows[0]!.n}`,
      ],
      figures,
    );
  } finally {
    await browser.close();
    await bench.close();
  }
}

runBench('web', main);
