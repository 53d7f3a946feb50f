// Simulated reviewers against the real review API (Postgres, Kafka, the outbox relay).
import { uniqueName, type TestDatabase } from '@hitl/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { runSimulatedReviewers, type ReviewerCounts } from '../src';
import { person, reviewRequest, startApi, testDatabase, type RunningApi } from './helpers';

let db: TestDatabase;
let pool: Pool;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

async function setup(): Promise<RunningApi> {
  const running = await startApi(db);
  cleanups.push(() => running.stop());
  return running;
}

const classes = ['ham', 'spam', 'phish'];

/** `count` tasks on a stream of their own, each with a true label; the model always says ham. */
async function ingestTasks(running: RunningApi, count: number) {
  const stream = uniqueName('mail');
  const truth = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const eventId = `${stream}-${i}`;
    truth.set(eventId, classes[i % classes.length]!);
    await running.api.tasks.ingest(reviewRequest(eventId, { stream, predicted: 'ham', classes }), []);
  }
  return { stream, truth };
}

/** Waits until every task is decided (or the deadline), then stops the reviewers. */
async function reviewAll(
  running: RunningApi,
  keys: string[],
  opts: { truth: Map<string, string>; stream: string; errorRate: number },
): Promise<{ counts: ReviewerCounts[]; final: Map<string, string | null> }> {
  const abort = new AbortController();
  const run = runSimulatedReviewers({
    baseUrl: running.url,
    keys,
    truth: (id) => opts.truth.get(id),
    errorRate: opts.errorRate,
    delayMs: 5,
    seed: 42,
    signal: abort.signal,
    filters: { stream: opts.stream },
    idleMs: 50,
  });
  const final = new Map<string, string | null>();
  const deadline = Date.now() + 30_000;
  try {
    while (Date.now() < deadline) {
      for (const id of opts.truth.keys()) {
        if (final.has(id)) continue;
        const task = await running.api.tasks.get(id);
        if (task?.status === 'decided') final.set(id, task.finalLabel);
      }
      if (final.size === opts.truth.size) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    abort.abort();
  }
  return { counts: await run, final };
}

describe('runSimulatedReviewers', () => {
  it('decides every task with its true label when reviewers make no mistakes', async () => {
    const running = await setup();
    const { stream, truth } = await ingestTasks(running, 30);
    const keys = [(await person(pool)).key, (await person(pool)).key, (await person(pool)).key];

    const { counts, final } = await reviewAll(running, keys, { truth, stream, errorRate: 0 });

    expect(final).toEqual(new Map(truth));
    expect(counts.map((c) => c.reviewer)).toEqual([0, 1, 2]);
    expect(counts.reduce((n, c) => n + c.answered, 0)).toBe(30);
    expect(counts.reduce((n, c) => n + c.wrong + c.skipped + c.lost, 0)).toBe(0);
    // All three took part (each claim hands out one task, and they claim in turn).
    for (const c of counts) expect(c.answered).toBeGreaterThan(0);
  });

  it('answers every task wrongly, from the task’s classes, at an error rate of 1', async () => {
    const running = await setup();
    const { stream, truth } = await ingestTasks(running, 30);
    const keys = [(await person(pool)).key, (await person(pool)).key, (await person(pool)).key];

    const { counts, final } = await reviewAll(running, keys, { truth, stream, errorRate: 1 });

    expect(final.size).toBe(30);
    for (const [id, label] of final) {
      expect(label).not.toBe(truth.get(id));
      expect(classes).toContain(label);
    }
    expect(counts.reduce((n, c) => n + c.answered, 0)).toBe(30);
    for (const c of counts) expect(c.wrong).toBe(c.answered);
  });

  it('skips tasks it has no truth for, and gives back a held task when stopped', async () => {
    const running = await setup();
    const { stream, truth } = await ingestTasks(running, 4);
    const [unknown] = [...truth.keys()];
    const known = new Map([...truth].filter(([id]) => id !== unknown));
    const { key } = await person(pool);

    const { counts, final } = await reviewAll(running, [key], { truth: known, stream, errorRate: 0 });
    expect(counts).toEqual([
      {
        reviewer: 0,
        answered: 3,
        wrong: 0,
        goldAnswered: 0,
        goldWrong: 0,
        errorRate: 0,
        skipped: 1,
        lost: 0,
      },
    ]);
    expect(final).toEqual(known);
    expect(await running.api.tasks.get(unknown!)).toMatchObject({ status: 'open', lease: null });

    // Stopped while "reading" a task: the lease is released at once, not left to run out.
    await running.api.tasks.ingest(
      reviewRequest(`${stream}-late`, { stream, predicted: 'ham', classes }),
      [],
    );
    const abort = new AbortController();
    const run = runSimulatedReviewers({
      baseUrl: running.url,
      keys: [key],
      truth: () => 'spam',
      errorRate: 0,
      delayMs: 60_000,
      seed: 1,
      signal: abort.signal,
      filters: { stream },
    });
    const deadline = Date.now() + 10_000;
    while ((await running.api.tasks.get(`${stream}-late`))?.lease === null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    abort.abort();
    expect(await run).toEqual([
      {
        reviewer: 0,
        answered: 0,
        wrong: 0,
        goldAnswered: 0,
        goldWrong: 0,
        errorRate: 0,
        skipped: 0,
        lost: 0,
      },
    ]);
    expect(await running.api.tasks.get(`${stream}-late`)).toMatchObject({ status: 'open', lease: null });
  });
});
