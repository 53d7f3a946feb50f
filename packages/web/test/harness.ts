// What the browser tests share: the review API in process on a test database and topics of its
// own, serving the app as built (turbo builds it before these tests run), headless Chromium, and
// the steps every test takes (open the app, sign in, queue tasks).
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { topics, type ReviewRequest } from '@hitl/contracts';
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
import type { Pool } from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Registry } from 'prom-client';
import { launchChromium, webAppDir } from '../testing';

export interface WebHarness {
  pool: Pool;
  api: ReviewApi;
  topics: ReviewTopics;
  /** hitl.decisions.v1 of this API, read committed. */
  decisions: TopicReader;
  /** The routing policy (and model id) the API's admin pages show. */
  policyName: string;
  browser: Browser;
}

/**
 * Starts the harness before the file's tests and stops it after them. After each test it closes
 * the test's pages (an open page would go on claiming the next test's tasks) and removes the
 * tasks left undecided (a failed test's would be the next test's first).
 */
export function useWebHarness(): () => WebHarness {
  let db: TestDatabase | undefined;
  let h: WebHarness | undefined;
  const parts: Partial<WebHarness> = {};
  beforeAll(async () => {
    parts.browser = await launchChromium();
    db = await createTestDatabase('hitl_web');
    await migrate({ databaseUrl: db.url, logger: testLogger });
    parts.pool = createPool({ connectionString: db.url, max: 4 });
    parts.topics = await reviewTopics(1);
    parts.policyName = uniqueName('policy');
    const env = reviewEnv(parts.topics, db.url, { WEB_APP_DIR: webAppDir, POLICY_NAME: parts.policyName });
    parts.api = await createReviewApi(loadReviewApiConfig(env), {
      logger: testLogger,
      registry: new Registry(),
      kafka: testKafka(),
    });
    await parts.api.start();
    parts.decisions = await TopicReader.start(parts.topics.decisions);
    h = parts as WebHarness;
  });
  afterAll(async () => {
    await parts.browser?.close();
    await parts.decisions?.stop();
    await parts.api?.stop();
    await parts.pool?.end();
    await parts.topics?.cleanup();
    await db?.drop();
  });
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()));
    if (parts.pool) await clearOpenTasks(parts.pool);
  });
  return () => {
    if (!h) throw new Error('the web harness has not started');
    return h;
  };
}

const contexts: BrowserContext[] = [];

/**
 * Drops every open task with its answers and skips. A closed page may leave an answer in flight
 * on the server, so the tasks are locked first: an answer that commits meanwhile is waited for and
 * then deleted too, and none can be added to a locked task until they are gone.
 */
async function clearOpenTasks(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const open = await client.query<{ event_id: string }>(
      `SELECT event_id FROM review_tasks WHERE status <> 'decided' FOR UPDATE`,
    );
    const ids = open.rows.map((row) => row.event_id);
    await client.query('DELETE FROM review_skips WHERE event_id = ANY($1)', [ids]);
    await client.query('DELETE FROM review_answers WHERE event_id = ANY($1)', [ids]);
    await client.query('DELETE FROM review_tasks WHERE event_id = ANY($1)', [ids]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

/**
 * A page on the app that records any dialog, page error or console error, for the test to assert
 * none. `expected` lists console errors the test provokes on purpose (Chromium logs every refused
 * request, e.g. "status of 422").
 */
export async function openApp(
  h: WebHarness,
  opts: { hash?: string; width?: number } = {},
): Promise<{ page: Page; problems: string[] }> {
  // A context of its own per page: axe-core's checks need one.
  const context = await h.browser.newContext({ viewport: { width: opts.width ?? 1280, height: 800 } });
  contexts.push(context);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  await page.goto(`${h.api.url()}/app/${opts.hash ?? ''}`);
  return { page, problems };
}

/** Signs in and waits for the page the address names (the review screen by default). */
export async function signIn(page: Page, key: string, pageId = 'review'): Promise<void> {
  await page.locator('#api-key').fill(key);
  await page.keyboard.press('Enter');
  await page.locator(`main[data-page="${pageId}"]`).waitFor();
}

/** A new reviewer (or admin) and an API key of theirs. */
export async function newKey(h: WebHarness, role: 'reviewer' | 'admin' = 'reviewer'): Promise<string> {
  const id = uniqueName(role);
  await createReviewer(h.pool, { id, name: id, role });
  return (await createApiKey(h.pool, id)).key;
}

export function reviewRequest(
  eventId: string,
  input: { text?: string; features?: number[] },
  attributes: Record<string, string> = {},
  reason: ReviewRequest['data']['reason'] = 'low_confidence',
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
      reason,
      priority: 0.4,
      policyVersion: 1,
      requiredReviewers: 1,
      requestedAt: at,
    },
  };
}

/** Sends the requests and waits until the API made them tasks. */
export async function queue(h: WebHarness, requests: ReviewRequest[]): Promise<void> {
  const producer = new TypedProducer({ kafka: testKafka() });
  await producer.connect();
  try {
    await producer.send(
      { ...topics.reviewRequests, name: h.topics.reviewRequests },
      requests.map((value) => ({ value })),
    );
  } finally {
    await producer.disconnect();
  }
  const ids = requests.map((r) => r.data.eventId);
  await waitFor(
    async () => {
      const { rows } = await h.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM review_tasks WHERE event_id = ANY($1)',
        [ids],
      );
      return rows[0]!.n === ids.length;
    },
    { timeoutMs: 30_000, message: `${ids.length} tasks ingested` },
  );
}
