// The reviewer's screen in headless Chromium on the real stack: the review API in process on a
// test database and topics of its own, the app as built (turbo builds it before this test runs).
import { describe, expect, it } from '@jest/globals';
import type { Decision } from '@hitl/contracts';
import { createPolicyVersion } from '@hitl/db';
import { uniqueName, waitFor } from '@hitl/testkit';
import type { Page } from 'playwright-core';
import { installKeyProbe, percentile, takeKeySamples } from '../testing';
import {
  newKey,
  openApp as openAppOf,
  queue as queueOf,
  reviewRequest,
  signIn,
  useWebHarness,
} from './harness';
import { expectAccessible, screenshot, writeReport } from './pages';

const harness = useWebHarness();
const openApp = (opts?: { width?: number }) => openAppOf(harness(), opts);
const queue = (requests: Parameters<typeof queueOf>[1]) => queueOf(harness(), requests);
const reviewerKey = () => newKey(harness());

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
  return harness()
    .decisions.values<Decision>()
    .map((d) => d.data.eventId);
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

    await installKeyProbe(page);
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

    await harness().decisions.waitForCount(30, { timeoutMs: 30_000 });
    const decided = decidedIds().filter((id) => id.startsWith(prefix));
    expect(decided).toHaveLength(30);
    expect(new Set(decided)).toEqual(new Set(answered));
    expect(problems).toEqual([]);

    // Every answer but the last brought a next task, timed in the page (pnpm bench:web measures
    // the same on more answers; a time is not asserted on a shared machine).
    const samples = await takeKeySamples(page);
    expect(samples).toHaveLength(29);
    const p95Ms = percentile(
      samples.map((s) => s.paintedMs),
      95,
    );
    await writeReport('key-to-next', { samples: samples.length, p95Ms });
  });

  it('meets WCAG 2.1 AA on the sign-in and task screens, down to 360 px wide', async () => {
    const eventId = uniqueName('a11y');
    await queue([
      reviewRequest(
        eventId,
        { text: 'Subject: your invoice\n\nPlease find the invoice for March attached.', features: [0.25, 3] },
        { from: 'billing@example.com' },
      ),
    ]);
    const { page, problems } = await openApp();
    await expectAccessible(page, 'sign-in');
    await screenshot(page, 'sign-in');
    await signIn(page, await reviewerKey());
    await page.locator(`#task[data-event-id="${eventId}"]`).waitFor();
    await expectAccessible(page, 'review');
    await screenshot(page, 'review');

    await page.setViewportSize({ width: 360, height: 740 });
    await expectAccessible(page, 'review at 360 px');
    // Nothing wider than the screen: the page does not scroll sideways.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'review-360');
    await page.keyboard.press('1');
    await page.locator('#no-tasks').waitFor();
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
      const { rows } = await harness().pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM review_tasks WHERE event_id LIKE $1 AND lease_owner IS NOT NULL',
        [`${prefix}-%`],
      );
      return rows[0]!.n === 2;
    });
    // The lease ran out and another reviewer took the task: the answer can no longer count. (An
    // expired lease alone may be claimed back by this page before its answer lands, which saves it.)
    const other = uniqueName('other');
    await harness().pool.query(`INSERT INTO reviewers (id, name, role) VALUES ($1, $1, 'reviewer')`, [other]);
    await harness().pool.query(
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

  it('names the features and hides the suggestion as the routing policy says', async () => {
    const h = harness();
    await createPolicyVersion(
      h.pool,
      h.policyName,
      {
        classes: ['ham', 'spam'],
        threshold: 0.9,
        classThresholds: {},
        alwaysReview: [],
        auditRate: 0.02,
        requiredReviewers: 1,
        hideSuggestion: true,
        featureNames: ['links', 'exclamation marks'],
      },
      { actor: 'test' },
    );
    const eventId = uniqueName('named');
    await queue([reviewRequest(eventId, { text: 'Act now!!!', features: [4, 3] })]);
    const { page, problems } = await openApp();
    await signIn(page, await reviewerKey());
    await page.locator(`#task[data-event-id="${eventId}"]`).waitFor();
    await expect(page.locator('#features tbody th').allTextContents()).resolves.toEqual([
      'links',
      'exclamation marks',
    ]);
    await expect(page.locator('#show-suggestion').isChecked()).resolves.toBe(false);
    await expect(page.locator('#suggestion-hidden').count()).resolves.toBe(1);
    await expect(page.locator('#model-label').count()).resolves.toBe(0);
    // The reviewer may still show it.
    await page.keyboard.press('h');
    await page.locator('#model-label').waitFor();
    await page.keyboard.press('1');
    await page.locator('#no-tasks').waitFor();
    expect(problems).toEqual([]);
  });

  it('sends the CSP on the app, and not on the JSON API', async () => {
    const page = await fetch(`${harness().api.url()}/app/`);
    const csp = page.headers.get('content-security-policy');
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(page.headers.get('cache-control')).toBe('no-cache');

    const script = /src="(assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
    const asset = await fetch(`${harness().api.url()}/app/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('content-security-policy')).not.toBeNull();

    const me = await fetch(`${harness().api.url()}/v1/me`);
    expect(me.status).toBe(401);
    expect(me.headers.get('content-security-policy')).toBeNull();
    const docs = await fetch(`${harness().api.url()}/openapi.json`);
    expect(docs.headers.get('content-security-policy')).toBeNull();
    const paths = Object.keys(((await docs.json()) as { paths: object }).paths);
    expect(paths.filter((p) => p.startsWith('/app'))).toEqual([]);
  });
});
