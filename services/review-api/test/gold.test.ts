// Gold tasks on the real stack: known-answer items an admin imports are handed to reviewers as
// tasks like any other, their answers are scored, and none of them ever becomes a decision, a
// correction, an exported label or a task in the queue.
import type { Correction, Decision } from '@hitl/contracts';
import { ensurePolicy } from '@hitl/db';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy';
import { TopicReader, uniqueName, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import {
  client,
  ingestAll,
  person,
  reviewRequest,
  reviewTopics,
  startApi,
  testDatabase,
  type Client,
} from './helpers';

let db: TestDatabase;
let pool: Pool;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await pool.end();
  await db.drop();
});

const POLICY = 'spam';

/** The API under a policy of two classes, no audit sample, and this share of gold claims. */
async function setup(goldRate: number) {
  const t = await reviewTopics(3);
  cleanups.push(t.cleanup);
  await ensurePolicy(pool, POLICY, {
    ...DEFAULT_POLICY_SPEC,
    classes: ['ham', 'spam'],
    auditRate: 0,
    goldRate,
  });
  const api = await startApi(t, db, { POLICY_NAME: POLICY });
  cleanups.push(() => api.stop());
  return { t, api };
}

async function reader(topic: string): Promise<TopicReader> {
  const r = await TopicReader.start(topic);
  cleanups.push(() => r.stop());
  return r;
}

/** POSTs JSON lines to the import route. */
async function importLines(url: string, key: string, lines: string[], query = '') {
  const response = await fetch(`${url}/v1/admin/gold${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
    body: lines.join('\n'),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Claims until a task comes (a gold one, with nothing else queued), at most `tries` times. */
async function claimGold(as: Client, tries = 200): Promise<Record<string, unknown>> {
  for (let i = 0; i < tries; i++) {
    const reply = await as('POST', '/v1/tasks/claim', {});
    if (reply.status === 200) return reply.body!;
    expect(reply.status).toBe(204);
  }
  throw new Error(`no gold task in ${tries} claims`);
}

describe('gold tasks', () => {
  it('are handed out like other tasks, scored, and never decide anything', async () => {
    const { t, api } = await setup(0.5);
    const stream = uniqueName('mail');
    const items = [
      { id: 'g1', input: { text: 'win a prize now' }, label: 'spam' },
      { id: 'g2', input: { text: 'lunch at noon?' }, label: 'ham' },
      { id: 'g3', input: { text: 'minutes of the meeting' }, label: 'ham', attributes: { from: 'a@b.c' } },
    ];
    const lines = items.map((i) => JSON.stringify(i));
    const { key: importer } = await person(pool, 'admin');
    expect(await importLines(api.url(), importer, lines, `?stream=${stream}`)).toEqual({
      status: 200,
      body: { imported: 3, unchanged: 0 },
    });
    // The same items again change nothing.
    expect((await importLines(api.url(), importer, lines, `?stream=${stream}`)).body).toEqual({
      imported: 0,
      unchanged: 3,
    });

    const decisions = await reader(t.decisions);
    const corrections = await reader(t.corrections);
    const alice = await person(pool);
    const asAlice = client(api.url(), alice.key);
    const bob = await person(pool);
    const asBob = client(api.url(), bob.key);

    // Alice gets each item once, as a task of its own: right on g1 and g3, wrong on g2.
    const seen = new Map<string, Record<string, unknown>>();
    while (seen.size < items.length) {
      const task = await claimGold(asAlice);
      const text = (task.input as { text: string }).text;
      expect(seen.has(text)).toBe(false);
      seen.set(text, task);
      expect(task).toMatchObject({
        stream,
        status: 'open',
        reason: 'no_model',
        classes: ['ham', 'spam'],
        requiredReviewers: 1,
        answers: 0,
        prediction: { model: null, label: null },
        lease: { owner: alice.id },
      });
      const item = items.find((i) => i.input.text === text)!;
      if (item.attributes) expect(task.attributes).toEqual(item.attributes);
      const label = item.id === 'g2' ? 'spam' : item.label;
      const answer = await asAlice('POST', `/v1/tasks/${String(task.eventId)}/answers`, { label });
      // What a one-answer task answers: decided, with the reviewer's own label.
      expect(answer.body).toEqual({
        eventId: task.eventId,
        status: 'decided',
        finalLabel: label,
        answers: 1,
        needed: 1,
      });
      expect((await asAlice('GET', `/v1/tasks/${String(task.eventId)}`)).body).toMatchObject({
        status: 'decided',
        finalLabel: label,
      });
      // Nobody else may see or answer it.
      expect((await asBob('POST', `/v1/tasks/${String(task.eventId)}/answers`, { label })).status).toBe(409);
    }
    // All three had, so only a real task, or nothing, comes now.
    for (let i = 0; i < 20; i++) expect((await asAlice('POST', '/v1/tasks/claim', {})).status).toBe(204);

    // Bob gets gold items of his own, under event ids of his own; one he holds, unanswered.
    const bobs = await claimGold(asBob);
    expect([...seen.values()].map((s) => s.eventId)).not.toContain(bobs.eventId);

    // A real task, answered, is the only decision and the only correction.
    await ingestAll(api, t.reviewRequests, [reviewRequest(`${stream}-real`, { stream })]);
    const real = await asAlice('POST', '/v1/tasks/claim', { reason: 'low_confidence' });
    expect(real.body).toMatchObject({ eventId: `${stream}-real` });
    await asAlice('POST', `/v1/tasks/${stream}-real/answers`, { label: 'ham' });
    await decisions.waitForCount(1, { settleMs: 1_000 });
    await corrections.waitForCount(1, { settleMs: 1_000 });
    expect(decisions.values<Decision>().map((d) => d.data.eventId)).toEqual([`${stream}-real`]);
    expect(corrections.values<Correction>().map((c) => c.data.eventId)).toEqual([`${stream}-real`]);
    const exported = await fetch(`${api.url()}/v1/export?stream=${stream}`, {
      headers: { authorization: `Bearer ${importer}` },
    });
    const exportedLines = (await exported.text()).trim().split('\n');
    expect(exportedLines.map((l) => (JSON.parse(l) as { eventId: string }).eventId)).toEqual([
      `${stream}-real`,
    ]);

    // Scored per reviewer; the queue holds none of them (Bob's open gold task included).
    const stats = (await client(api.url(), importer)('GET', '/v1/stats')).body as {
      queue: { open: number; byReason: Record<string, number> };
      reviewers: { reviewerId: string; answers: number; goldAnswers: number; goldAccuracy: number | null }[];
    };
    expect(stats.queue.open).toBe(0);
    expect(stats.queue.byReason).toEqual({});
    expect(stats.reviewers.find((r) => r.reviewerId === alice.id)).toMatchObject({
      answers: 4,
      goldAnswers: 3,
      goldAccuracy: 2 / 3,
    });
    expect(stats.reviewers.find((r) => r.reviewerId === bob.id)).toBeUndefined();
    const listed = (await client(api.url(), importer)('GET', '/v1/admin/gold')).body as unknown as {
      ref: string;
      answers: number;
      correct: number;
    }[];
    expect(Object.fromEntries(listed.map((g) => [g.ref, [g.answers, g.correct]]))).toEqual({
      g1: [1, 1],
      g2: [1, 0],
      g3: [1, 1],
    });

    // An item turned off is handed to nobody new.
    const g1 = (listed as unknown as { id: number; ref: string }[]).find((g) => g.ref === 'g1')!;
    expect((await client(api.url(), importer)('POST', `/v1/admin/gold/${g1.id}/disable`)).status).toBe(204);
    expect((await client(api.url(), importer)('POST', '/v1/admin/gold/999999/disable')).status).toBe(404);
    expect((await asBob('POST', `/v1/tasks/${String(bobs.eventId)}/answers`, { label: 'ham' })).status).toBe(
      200,
    );
    const carol = client(api.url(), (await person(pool)).key);
    const given = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const task = await claimGold(carol);
      given.add((task.input as { text: string }).text);
      await carol('POST', `/v1/tasks/${String(task.eventId)}/answers`, { label: 'ham' });
    }
    expect(given).toEqual(new Set(['lunch at noon?', 'minutes of the meeting']));
  });

  it('refuses a bad import whole, naming each line at fault', async () => {
    const { api } = await setup(0);
    const { key } = await person(pool, 'admin');
    const good = JSON.stringify({ stream: 's', input: { text: 'fine' }, label: 'ham' });
    const bad = await importLines(api.url(), key, [
      good,
      '{not json',
      JSON.stringify({ stream: 's', input: { text: 'no label' } }),
      '',
      JSON.stringify({ stream: 's', input: { text: 'x' }, label: 'eggs' }),
      JSON.stringify({ input: { text: 'no stream' }, label: 'ham' }),
      JSON.stringify({ stream: 's', input: { text: 'x'.repeat(200_001) }, label: 'ham' }),
    ]);
    expect(bad.status).toBe(422);
    const error = bad.body.error as { code: string; details: { problems: { line: number }[] } };
    expect(error.code).toBe('HITL_ERR_GOLD_INVALID');
    expect(error.details.problems.map((p) => p.line)).toEqual([2, 3, 6, 7]);
    // The label among the classes is checked once the lines parse: line 5 alone.
    const unknown = await importLines(api.url(), key, [
      good,
      JSON.stringify({ stream: 's', input: { text: 'x' }, label: 'eggs' }),
    ]);
    expect(unknown.status).toBe(422);
    expect((unknown.body.error as { message: string }).message).toMatch(
      /item 2: label "eggs" is not one of ham, spam/,
    );
    expect((await pool.query('SELECT count(*)::int AS n FROM gold_items')).rows[0]).toEqual({ n: 0 });

    // Past the item bound, and past the body bound.
    const many = Array.from({ length: 10_001 }, (_, i) =>
      JSON.stringify({ stream: 's', input: { text: `t${i}` }, label: 'ham' }),
    );
    const tooMany = await importLines(api.url(), key, many);
    expect(tooMany.status).toBe(422);
    expect((tooMany.body.error as { message: string }).message).toMatch(/at most 10000 items/);
    const huge = await importLines(api.url(), key, [
      JSON.stringify({ stream: 's', input: { text: 'x'.repeat(1_100_000) }, label: 'ham' }),
    ]);
    expect(huge.status).toBe(413);
    // JSON is not an import; and reviewers may not import.
    const asJson = await client(api.url(), key)('POST', '/v1/admin/gold', [{ input: { text: 'x' } }]);
    expect(asJson.status).toBe(400);
    const reviewer = await person(pool);
    expect((await importLines(api.url(), reviewer.key, [good])).status).toBe(403);
    expect((await pool.query('SELECT count(*)::int AS n FROM gold_items')).rows[0]).toEqual({ n: 0 });
  });

  it('refuses a NUL in an item and a gold id past the safe integers, with their codes', async () => {
    const { api } = await setup(0);
    const { key } = await person(pool, 'admin');
    const nul = await importLines(api.url(), key, [
      JSON.stringify({ stream: 's', input: { text: 'a NUL \u0000 inside' }, label: 'ham' }),
    ]);
    // Postgres text cannot hold a NUL: the import is refused whole, as a value the database cannot take.
    expect(nul.status).toBe(400);
    expect((nul.body.error as { code: string }).code).toBe('HITL_ERR_INVALID_VALUE');
    expect((await pool.query('SELECT count(*)::int AS n FROM gold_items')).rows[0]).toEqual({ n: 0 });
    const as = client(api.url(), key);
    for (const id of ['9007199254740992', '99999999999999999999', '0', '-1', '1.5']) {
      const reply = await as('POST', `/v1/admin/gold/${id}/disable`);
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({ error: { code: 'HITL_ERR_VALIDATION' } });
    }
    const missing = await as('POST', `/v1/admin/gold/${Number.MAX_SAFE_INTEGER}/disable`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'HITL_ERR_NOT_FOUND' } });
  });
});
