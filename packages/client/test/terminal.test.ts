// The terminal reviewer and the hitl-review command, driven by key presses on a PassThrough,
// against the real review API.
import { uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import type { Pool } from 'pg';
import { runReviewCommand, runTerminalReviewer } from '../src';
import {
  fakeTerminal,
  person,
  reviewRequest,
  sendReviewRequests,
  startApi,
  testDatabase,
  type RunningApi,
} from './helpers';

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

async function setup(extra: Record<string, string> = {}): Promise<RunningApi> {
  const running = await startApi(db, extra);
  cleanups.push(() => running.stop());
  return running;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the terminal has written `text` after position `from`. */
function shows(term: ReturnType<typeof fakeTerminal>, text: string, from = 0, timeoutMs = 15_000) {
  return waitFor(() => term.since(from).includes(text), {
    timeoutMs,
    message: `the terminal to show ${text}`,
  });
}

describe('the terminal reviewer', () => {
  it('answers with a number, skips with s, and gives the task back and quits with q', async () => {
    const { api, url } = await setup();
    const stream = uniqueName('mail');
    const alice = await person(pool, url);
    const [a, b, c] = ['a', 'b', 'c'].map((x) => uniqueName(`term-${x}`)) as [string, string, string];
    await api.tasks.ingest(
      reviewRequest(a, { stream, priority: 0.9, text: 'Cheap watches, today only' }).data,
      [],
    );
    await api.tasks.ingest(reviewRequest(b, { stream, priority: 0.8 }).data, []);
    await api.tasks.ingest(reviewRequest(c, { stream, priority: 0.7 }).data, []);

    const term = fakeTerminal();
    const run = runTerminalReviewer({ client: alice.client, ...term, filters: { stream }, pollMs: 200 });
    await shows(term, `Task ${a}`);
    for (const line of [
      'Cheap watches, today only',
      'low confidence',
      'Model spam v1: spam (confidence 0.60)',
      '  1  ham',
      '  2  spam',
      '1–2 answers · s skips · q quits',
    ]) {
      expect(term.text()).toContain(line);
    }
    let mark = term.text().length;
    term.press('7');
    await shows(term, 'Press 1–2, s or q.', mark);
    term.press('1');
    await shows(term, `Task ${b}`, mark);
    expect(term.since(mark)).toContain('Answered ham: decided, ham.');
    mark = term.text().length;
    term.press('s');
    await shows(term, `Task ${c}`, mark);
    expect(term.since(mark)).toContain('Skipped.');
    term.press('q');

    expect(await run).toEqual({ answered: 1, skipped: 1 });
    expect(term.text()).toContain('Answered 1, skipped 1.');
    expect(await alice.client.getTask(a)).toMatchObject({ status: 'decided', finalLabel: 'ham' });
    // c was given back (alice may claim it again); b was skipped (alice never gets it again).
    const admin = (await person(pool, url, 'admin')).client;
    expect(await admin.getTask(c)).toMatchObject({ status: 'open', lease: null });
    expect((await alice.client.claim({ stream }))?.eventId).toBe(c);
    // Claiming again while she holds it resumes it; once skipped, nothing is left for her.
    expect((await alice.client.claim({ stream }))?.eventId).toBe(c);
    await alice.client.skip(c);
    expect(await alice.client.claim({ stream })).toBeNull();
    expect(term.input.listenerCount('data')).toBe(0);
  });

  it('waits while no task is waiting, shows one that arrives through Kafka, and quits while waiting', async () => {
    const { api, url, reviewRequestsTopic } = await setup();
    const stream = uniqueName('mail');
    const alice = await person(pool, url);
    const term = fakeTerminal();
    const run = runTerminalReviewer({ client: alice.client, ...term, filters: { stream }, pollMs: 200 });
    await shows(term, 'No task is waiting; looking again every 0.2 s. Press q to quit.');
    await sleep(600);
    // Said once per wait, not once per look.
    expect(term.text().split('No task is waiting')).toHaveLength(2);

    const id = uniqueName('arrives');
    await sendReviewRequests(reviewRequestsTopic, [
      reviewRequest(id, { stream, label: 'ham', confidence: 0.7 }),
    ]);
    await shows(term, `Task ${id}`, 0, 30_000);
    expect(term.text()).toContain('Model spam v1: ham (confidence 0.70)');
    const mark = term.text().length;
    term.press('2');
    await shows(term, 'No task is waiting', mark);
    expect(term.since(mark)).toContain('Answered spam: decided, spam.');
    term.press('q');

    expect(await run).toEqual({ answered: 1, skipped: 0 });
    expect(await api.tasks.get(id)).toMatchObject({ status: 'decided', finalLabel: 'spam' });
  });

  it('extends the lease every half lease while the reviewer reads', async () => {
    // 2 s rather than 1 s: a second of slack for each extension on a busy test machine.
    const { api, url } = await setup({ LEASE_SECONDS: '2' });
    const stream = uniqueName('mail');
    const alice = await person(pool, url);
    const bob = await person(pool, url);
    const id = uniqueName('long-read');
    await api.tasks.ingest(reviewRequest(id, { stream }).data, []);

    const term = fakeTerminal();
    const run = runTerminalReviewer({ client: alice.client, ...term, filters: { stream }, leaseSeconds: 2 });
    await shows(term, `Task ${id}`);
    const first = (await alice.client.getTask(id)).lease;
    expect(first).toMatchObject({ owner: alice.id });
    // Two and a half leases later the task is still alice's, with a later expiry.
    await sleep(5_000);
    const later = (await alice.client.getTask(id)).lease;
    expect(later).toMatchObject({ owner: alice.id });
    expect(Date.parse(later!.expiresAt)).toBeGreaterThan(Date.parse(first!.expiresAt));
    expect(await bob.client.claim({ stream })).toBeNull();

    const mark = term.text().length;
    term.press('1');
    await shows(term, 'Answered ham: decided, ham.', mark);
    term.press('q');
    expect(await run).toEqual({ answered: 1, skipped: 0 });
  });

  it('shows a refused answer (the lease ran out and another reviewer took the task) and goes on', async () => {
    const { api, url } = await setup({ LEASE_SECONDS: '1' });
    const stream = uniqueName('mail');
    const alice = await person(pool, url);
    const bob = await person(pool, url);
    const id = uniqueName('lapsed');
    await api.tasks.ingest(reviewRequest(id, { stream }).data, []);

    const term = fakeTerminal();
    // A lease it believes lasts an hour: it never extends the server's 1 s lease.
    const run = runTerminalReviewer({
      client: alice.client,
      ...term,
      filters: { stream },
      leaseSeconds: 3_600,
      pollMs: 200,
    });
    await shows(term, `Task ${id}`);
    await sleep(1_200);
    expect((await bob.client.claim({ stream }))?.eventId).toBe(id);
    const mark = term.text().length;
    term.press('1');
    await shows(term, 'No task is waiting', mark);
    expect(term.since(mark)).toContain('Could not answer: HITL_ERR_LEASE_NOT_HELD');
    term.press('q');
    expect(await run).toEqual({ answered: 0, skipped: 0 });
    expect(await bob.client.answer(id, { label: 'spam' })).toMatchObject({ status: 'decided' });
  });

  it('offers the policy’s classes for a task without a model, never prints control characters, and gives the task back when input ends', async () => {
    const { api, url } = await setup();
    const stream = uniqueName('mail');
    const alice = await person(pool, url);
    const id = uniqueName('cold');
    const text = 'Hello\u001b[2J\u0007 there\r\nsecond line';
    await api.tasks.ingest(reviewRequest(id, { stream, label: null, reason: 'no_model', text }).data, [
      'cat',
      'dog',
    ]);

    const term = fakeTerminal();
    const run = runTerminalReviewer({ client: alice.client, ...term, filters: { stream } });
    await shows(term, `Task ${id}`);
    expect(term.text()).toContain('no model');
    expect(term.text()).toContain('Model: no model');
    expect(term.text()).toContain('  1  cat\n  2  dog');
    expect(term.text()).toContain('Hello[2J there\nsecond line');
    // eslint-disable-next-line no-control-regex
    expect(term.text()).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    term.input.end();

    expect(await run).toEqual({ answered: 0, skipped: 0 });
    expect(await (await person(pool, url, 'admin')).client.getTask(id)).toMatchObject({
      status: 'open',
      lease: null,
    });
  });
});

describe('the hitl-review command', () => {
  function io(env: Record<string, string | undefined>, signal?: AbortSignal) {
    const term = fakeTerminal();
    const errors = new PassThrough();
    let errorText = '';
    errors.on('data', (chunk: Buffer) => (errorText += chunk.toString()));
    return {
      term,
      errors: () => errorText,
      io: { env, input: term.input, output: term.output, errors, ...(signal ? { signal } : {}) },
    };
  }

  it('says who you are, reviews the tasks of the stream asked for, and gives the task back on a signal', async () => {
    const { api, url } = await setup();
    const stream = uniqueName('mail');
    const alice = await person(pool, url);
    const [first, second] = [uniqueName('cmd-1'), uniqueName('cmd-2')];
    await api.tasks.ingest(reviewRequest(first, { stream, priority: 0.9 }).data, []);
    await api.tasks.ingest(reviewRequest(second, { stream, priority: 0.8 }).data, []);
    await api.tasks.ingest(
      reviewRequest(uniqueName('other'), { stream: uniqueName('other'), priority: 99 }).data,
      [],
    );

    const stop = new AbortController();
    const { term, io: commandIo } = io({ HITL_URL: url, HITL_API_KEY: alice.key }, stop.signal);
    const run = runReviewCommand(['--stream', stream], commandIo);
    await shows(term, `Task ${first}`);
    expect(term.text()).toContain(`Reviewing as reviewer ${alice.id} (${alice.id}, reviewer) at ${url}`);
    term.press('2');
    await shows(term, `Task ${second}`);
    stop.abort();
    expect(await run).toBe(0);
    expect(await alice.client.getTask(first)).toMatchObject({ status: 'decided', finalLabel: 'spam' });
    expect(await (await person(pool, url, 'admin')).client.getTask(second)).toMatchObject({
      status: 'open',
      lease: null,
    });
  });

  it('explains bad settings and refusals, with exit codes 2 and 1', async () => {
    const { url } = await setup();
    const alice = await person(pool, url);

    const missing = io({ HITL_URL: url });
    expect(await runReviewCommand([], missing.io)).toBe(2);
    expect(missing.errors()).toContain('HITL_API_KEY is required');

    const badUrl = io({ HITL_URL: 'localhost:8080', HITL_API_KEY: alice.key });
    expect(await runReviewCommand([], badUrl.io)).toBe(2);
    expect(badUrl.errors()).toContain('HITL_URL must be http or https');

    const badFlag = io({ HITL_URL: url, HITL_API_KEY: alice.key });
    expect(await runReviewCommand(['--colour', 'red'], badFlag.io)).toBe(2);
    expect(badFlag.errors()).toContain("Unknown option '--colour'");

    const help = io({});
    expect(await runReviewCommand(['--help'], help.io)).toBe(0);
    expect(help.term.text()).toContain('Usage: hitl-review');

    const wrongKey = io({ HITL_URL: url, HITL_API_KEY: `hitl_0000000000000000_${'x'.repeat(43)}` });
    expect(await runReviewCommand([], wrongKey.io)).toBe(1);
    expect(wrongKey.errors()).toContain('HITL_ERR_UNAUTHENTICATED');

    const badReason = io({ HITL_URL: url, HITL_API_KEY: alice.key });
    expect(await runReviewCommand(['--reason', 'boredom'], badReason.io)).toBe(1);
    expect(badReason.errors()).toContain('HITL_ERR_VALIDATION');
  });
});
