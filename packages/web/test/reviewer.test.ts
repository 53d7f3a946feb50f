// The reviewer's screen in headless Chromium on the real stack: the review API in process on a
// test database and topics of its own, the app as built (turbo builds it before this test runs).
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { topics, type Decision, type ReviewRequest } from '@hitl/contracts';
import { createApiKey, createPool, createReviewer, migrate } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import { createReviewApi, loadReviewApiConfig, type ReviewApi } from '@hitl/review-api';
import { reviewEnv, reviewTopics, type ReviewTopics } from '@hitl/review-api/testing';
import {
  TopicReader,
  createTestDatabase,
  testKafka,
  testLogger,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '@hitl/testkit';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Registry } from 'prom-client';

// scripts/bootstrap.sh installs Debian's chromium; HITL_TEST_CHROMIUM points elsewhere.
const chromiumPath = process.env.HITL_TEST_CHROMIUM ?? '/usr/bin/chromium';
const webAppDir = join(__dirname, '../dist');

let db: TestDatabase;
let pool: Pool;
let t: ReviewTopics;
let api: ReviewApi;
let browser: Browser;
let decisions: TopicReader;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: run scripts/bootstrap.sh (it installs Debian's chromium), or set HITL_TEST_CHROMIUM`,
    );
  }
  if (!existsSync(join(webAppDir, 'index.html'))) {
    throw new Error(`the web app is not built in ${webAppDir}: run pnpm --filter @hitl/web build`);
  }
  db = await createTestDatabase('hitl_web');
  await migrate({ databaseUrl: db.url, logger: testLogger });
  pool = createPool({ connectionString: db.url, max: 4 });
  t = await reviewTopics(1);
  api = await createReviewApi(loadReviewApiConfig(reviewEnv(t, db.url, { WEB_APP_DIR: webAppDir })), {
    logger: testLogger,
    registry: new Registry(),
    kafka: testKafka(),
  });
  await api.start();
  decisions = await TopicReader.start(t.decisions);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    // Chromium's sandbox refuses to run as root (CI's containers).
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
});

afterAll(async () => {
  await browser?.close();
  await decisions?.stop();
  await api?.stop();
  await pool?.end();
  await t?.cleanup();
  await db?.drop();
});

// A page left open would go on claiming the next test's tasks.
const pages: Page[] = [];
afterEach(async () => {
  await Promise.all(pages.splice(0).map((page) => page.close()));
});

/** A page that records any dialog, page error or console error, for the test to assert none. */
async function openApp(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  pages.push(page);
  const problems: string[] = [];
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  await page.goto(`${api.url()}/app/`);
  return { page, problems };
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.locator('#api-key').fill(key);
  await page.keyboard.press('Enter');
  await page.locator('#counts').waitFor();
}

async function reviewerKey(): Promise<string> {
  const id = uniqueName('reviewer');
  await createReviewer(pool, { id, name: id, role: 'reviewer' });
  return (await createApiKey(pool, id)).key;
}

function reviewRequest(
  eventId: string,
  input: { text?: string; features?: number[] },
  attributes: Record<string, string> = {},
): ReviewRequest {
  const at = new Date().toISOString();
  return {
    type: 'review.requested',
    version: 1,
    producedAt: at,
    data: {
      eventId,
      prediction: {
        eventId,
        stream: 'email',
        occurredAt: at,
        input,
        attributes,
        model: { id: 'spam', version: 1 },
        classes: ['ham', 'spam'],
        label: 'spam',
        probabilities: { ham: 0.4, spam: 0.6 },
        confidence: 0.6,
        margin: 0.2,
        entropy: 0.67,
        scoredAt: at,
      },
      reason: 'low_confidence',
      priority: 0.4,
      policyVersion: 1,
      requiredReviewers: 1,
      requestedAt: at,
    },
  };
}

/** Sends the requests and waits until the API made them tasks. */
async function queue(requests: ReviewRequest[]): Promise<void> {
  const producer = new TypedProducer({ kafka: testKafka() });
  await producer.connect();
  try {
    await producer.send(
      { ...topics.reviewRequests, name: t.reviewRequests },
      requests.map((value) => ({ value })),
    );
  } finally {
    await producer.disconnect();
  }
  const ids = requests.map((r) => r.data.eventId);
  await waitFor(
    async () => {
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM review_tasks WHERE event_id = ANY($1)',
        [ids],
      );
      return rows[0]!.n === ids.length;
    },
    { timeoutMs: 30_000, message: `${ids.length} tasks ingested` },
  );
}

async function shownEventId(page: Page): Promise<string> {
  return (await page.locator('#task').getAttribute('data-event-id'))!;
}

/** Waits until the screen shows a task other than `previous`, and returns it. */
async function nextShown(page: Page, previous: string): Promise<string> {
  await page.waitForFunction((before) => {
    const id = document.querySelector('#task')?.getAttribute('data-event-id');
    return id !== undefined && id !== null && id !== before;
  }, previous);
  return shownEventId(page);
}

function decidedIds(): string[] {
  return decisions.values<Decision>().map((d) => d.data.eventId);
}

describe('the reviewer screen', () => {
  it('answers 30 tasks with the keyboard alone, one decision each', async () => {
    const prefix = uniqueName('kb');
    const requests = Array.from({ length: 30 }, (_, i) =>
      reviewRequest(`${prefix}-${i}`, { text: `message ${i}`, features: [i, i / 2] }, { from: `sender${i}` }),
    );
    await queue(requests);
    const { page, problems } = await openApp();
    await signIn(page, await reviewerKey());

    const answered: string[] = [];
    let shown = await page
      .locator('#task')
      .getAttribute('data-event-id')
      .then((id) => id!);
    for (let i = 0; i < 30; i++) {
      answered.push(shown);
      await page.keyboard.press(i % 2 === 0 ? '1' : '2');
      if (i < 29) shown = await nextShown(page, shown);
    }
    await page.locator('#no-tasks').waitFor();
    expect(new Set(answered)).toEqual(new Set(requests.map((r) => r.data.eventId)));
    await expect(page.locator('#counts').textContent()).resolves.toContain('30 answered');

    await decisions.waitForCount(30, { timeoutMs: 30_000 });
    const decided = decidedIds().filter((id) => id.startsWith(prefix));
    expect(decided).toHaveLength(30);
    expect(new Set(decided)).toEqual(new Set(answered));
    expect(problems).toEqual([]);
  });

  it('shows markup in an event as text and runs none of it', async () => {
    const eventId = uniqueName('xss');
    const text = [
      'Dear customer, <script>alert(1)</script>',
      '<img src=x onerror=alert(1)>',
      '<a href="javascript:alert(1)">claim your prize</a>',
    ].join('\n');
    await queue([
      reviewRequest(eventId, { text, features: [0.5, 2] }, { subject: '<img src=x onerror=alert(2)>' }),
    ]);
    const { page, problems } = await openApp();
    await signIn(page, await reviewerKey());
    await page.locator(`#task[data-event-id="${eventId}"]`).waitFor();

    await expect(page.locator('#event-text').textContent()).resolves.toBe(text);
    await expect(page.locator('#attributes dd').textContent()).resolves.toBe('<img src=x onerror=alert(2)>');
    await expect(page.locator('#task script, #task img, #task a').count()).resolves.toBe(0);
    await expect(page.locator('#features tbody tr').count()).resolves.toBe(2);
    // Clicking where the link's text is does nothing either.
    await page.locator('#event-text').click();
    await page.keyboard.press('1');
    await page.locator('#no-tasks').waitFor();
    expect(problems).toEqual([]);
  });

  it('says plainly when a lease was lost, and goes on to the next task', async () => {
    const prefix = uniqueName('lease');
    const requests = [0, 1].map((i) => reviewRequest(`${prefix}-${i}`, { text: `message ${i}` }));
    await queue(requests);
    const { page, problems } = await openApp();
    await signIn(page, await reviewerKey());
    await page.locator('#task').waitFor();
    const first = await shownEventId(page);
    // The next task is claimed ahead: both are held before the first lease ends.
    await waitFor(async () => {
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM review_tasks WHERE event_id LIKE $1 AND lease_owner IS NOT NULL',
        [`${prefix}-%`],
      );
      return rows[0]!.n === 2;
    });
    // The lease ran out and another reviewer took the task: the answer can no longer count. (An
    // expired lease alone may be claimed back by this page before its answer lands, which saves it.)
    const other = uniqueName('other');
    await pool.query(`INSERT INTO reviewers (id, name, role) VALUES ($1, $1, 'reviewer')`, [other]);
    await pool.query(
      `UPDATE review_tasks SET lease_owner = $2, lease_expires_at = now() + interval '10 minutes'
        WHERE event_id = $1`,
      [first, other],
    );

    await page.keyboard.press('2');
    await page.locator('#notice').waitFor();
    await expect(page.locator('#notice').textContent()).resolves.toContain(
      `Your lease on task ${first} had ended`,
    );
    const second = await shownEventId(page);
    expect(second).not.toBe(first);

    // The lost task is the other reviewer's now; answer until none is left.
    let shown = second;
    for (;;) {
      await page.keyboard.press('1');
      const state = await Promise.race([
        page
          .locator('#no-tasks')
          .waitFor()
          .then(() => 'empty' as const),
        nextShown(page, shown),
      ]);
      if (state === 'empty') break;
      shown = state;
    }
    await waitFor(() => decidedIds().some((id) => id === second), {
      timeoutMs: 30_000,
      message: 'the second task decided',
    });
    expect(decidedIds().filter((id) => id.startsWith(prefix))).toEqual([second]);
    expect(problems.filter((p) => !p.includes('409'))).toEqual([]);
  });

  it('sends the CSP on the app, and not on the JSON API', async () => {
    const page = await fetch(`${api.url()}/app/`);
    const csp = page.headers.get('content-security-policy');
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(page.headers.get('cache-control')).toBe('no-cache');

    const script = /src="(assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
    const asset = await fetch(`${api.url()}/app/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('content-security-policy')).not.toBeNull();

    const me = await fetch(`${api.url()}/v1/me`);
    expect(me.status).toBe(401);
    expect(me.headers.get('content-security-policy')).toBeNull();
    const docs = await fetch(`${api.url()}/openapi.json`);
    expect(docs.headers.get('content-security-policy')).toBeNull();
    const paths = Object.keys(((await docs.json()) as { paths: object }).paths);
    expect(paths.filter((p) => p.startsWith('/app'))).toEqual([]);
  });
});
