// The admin pages in headless Chromium on the real stack: every page reached from the navigation
// and checked with axe-core, the policy changed through its editor (with the API's validation
// errors for a bad one), a model rolled back with a reason and a confirmation, a key created,
// shown once and revoked, and the learning chart drawn from decisions on the real topics.
import { describe, expect, it } from '@jest/globals';
import { topics, type Decision } from '@hitl/contracts';
import { createPolicyVersion, getCurrentPolicy, promoteModelVersion, registerModelVersion } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import { testKafka, uniqueName, waitFor } from '@hitl/testkit';
import type { Page } from 'playwright-core';
import { newKey, openApp, queue, reviewRequest, signIn, useWebHarness } from './harness';
import { expectAccessible, screenshot } from './pages';

const harness = useWebHarness();

const ADMIN_PAGES = ['queue', 'reviewers', 'models', 'policy', 'learning'] as const;

/** A whole policy spec (the API takes no partial one). */
function spec(change: Record<string, unknown>): Record<string, unknown> {
  return {
    classes: ['ham', 'spam'],
    threshold: 0.9,
    classThresholds: {},
    alwaysReview: [],
    auditRate: 0.02,
    requiredReviewers: 1,
    ...change,
  };
}

/** Opens a page from the navigation with the keyboard alone: focus its link, press Enter. */
async function goTo(page: Page, id: string): Promise<void> {
  await page.locator(`#nav-${id}`).focus();
  await page.keyboard.press('Enter');
  await page.locator(`main[data-page="${id}"]`).waitFor();
}

/** Two versions of the policy's model, the second promoted after the first. */
async function twoVersions(): Promise<void> {
  const { pool, policyName } = harness();
  const base = { modelId: policyName, classes: ['ham', 'spam'], inputKind: 'text' as const };
  const v1 = await registerModelVersion(pool, {
    ...base,
    onnx: new Uint8Array([1]),
    metrics: { accuracy: 0.91, macroF1: 0.88 },
  });
  await promoteModelVersion(pool, policyName, v1.version, { actor: 'test', reason: 'first' });
  const v2 = await registerModelVersion(pool, {
    ...base,
    onnx: new Uint8Array([2]),
    metrics: { accuracy: 0.95, macroF1: 0.93 },
    modelCard: { trainer: { trigger: 'doubled', startedBecause: 'the labels doubled to 400' } },
    parentVersion: v1.version,
  });
  await promoteModelVersion(pool, policyName, v2.version, { actor: 'test', reason: 'better' });
}

/** Model decisions on the API's decisions topic, as the router publishes them. */
async function modelDecisions(count: number): Promise<void> {
  const { topics: t, policyName } = harness();
  const at = new Date().toISOString();
  const producer = new TypedProducer({ kafka: testKafka() });
  await producer.connect();
  try {
    await producer.send(
      { ...topics.decisions, name: t.decisions },
      Array.from({ length: count }, (_, i): { value: Decision } => ({
        value: {
          type: 'decision.made',
          version: 1,
          producedAt: at,
          data: {
            eventId: uniqueName(`model-${i}`),
            label: 'ham',
            decidedBy: 'model',
            model: { id: policyName, version: 2 },
            policyVersion: 1,
            reviewers: [],
            confidence: 0.97,
            decidedAt: at,
          },
        },
      })),
    );
  } finally {
    await producer.disconnect();
  }
}

describe('the admin pages', () => {
  it('reaches every page with the keyboard, each meeting WCAG 2.1 AA, also at 360 px', async () => {
    const h = harness();
    await createPolicyVersion(h.pool, h.policyName, spec({}), { actor: 'test', reason: 'the first' });
    await twoVersions();
    const { page, problems } = await openApp(h);
    await signIn(page, await newKey(h, 'admin'));
    for (const id of ADMIN_PAGES) {
      await goTo(page, id);
      await page.locator(`#${id}-status`).waitFor({ state: 'attached' });
      await page.waitForFunction(
        (statusId) => !document.getElementById(statusId)?.textContent?.startsWith('Loading'),
        `${id}-status`,
      );
      await expectAccessible(page, id);
      await screenshot(page, `admin-${id}`);
    }
    await page.setViewportSize({ width: 360, height: 740 });
    for (const id of ADMIN_PAGES) {
      await goTo(page, id);
      await expectAccessible(page, `${id} at 360 px`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect({ id, overflow }).toEqual({ id, overflow: 0 });
      await screenshot(page, `admin-${id}-360`);
    }
    expect(problems).toEqual([]);
  });

  it('changes the policy, and shows the API’s errors for a bad one', async () => {
    const h = harness();
    const { page, problems } = await openApp(h, { hash: '#/policy' });
    await signIn(page, await newKey(h, 'admin'), 'policy');
    const before = (await getCurrentPolicy(h.pool, h.policyName))?.version ?? 0;
    const editor = page.locator('#policy-spec');
    await page.locator('#policy-save:not([disabled])').waitFor();

    await editor.fill('{ "threshold": 0.8,');
    await page.locator('#policy-save').click();
    await expect(page.locator('#policy-error').textContent()).resolves.toMatch(/JSON/);

    await editor.fill(JSON.stringify(spec({ threshold: 2, classThresholds: { eggs: 0.5 } })));
    await page.locator('#policy-save').click();
    await page.locator('#policy-problems li').first().waitFor();
    const problemsShown = await page.locator('#policy-problems li').allTextContents();
    expect(problemsShown.some((p) => p.startsWith('threshold'))).toBe(true);
    expect(problemsShown.some((p) => p.includes('classThresholds'))).toBe(true);
    expect((await getCurrentPolicy(h.pool, h.policyName))?.version ?? 0).toBe(before);

    await editor.fill(JSON.stringify(spec({ threshold: 0.85, hideSuggestion: true })));
    await page.locator('#policy-reason').fill('fewer reviews');
    await page.locator('#policy-save').click();
    await page.locator(`#policy-version:text-is("${before + 1}")`).waitFor();
    const stored = await getCurrentPolicy(h.pool, h.policyName);
    expect(stored).toMatchObject({ version: before + 1, threshold: 0.85, hideSuggestion: true });
    await expect(page.locator('#policy-reason-shown').textContent()).resolves.toBe('fewer reviews');
    // Chromium logs the refused request; nothing else may go wrong.
    expect(problems.filter((p) => !p.includes('422'))).toEqual([]);
  });

  it('rolls a model back with a reason and a confirmation', async () => {
    const h = harness();
    await twoVersions();
    const promotedBefore = await h.pool.query<{ version: number }>(
      `SELECT version FROM model_versions WHERE model_id = $1 AND status = 'promoted'`,
      [h.policyName],
    );
    const current = promotedBefore.rows[0]!.version;
    const { page, problems } = await openApp(h, { hash: '#/models' });
    await signIn(page, await newKey(h, 'admin'), 'models');
    await page.locator(`#promoted-version:text-is("${current}")`).waitFor();

    // The promoted version's card, as text.
    await page.locator(`details#version-${current} summary`).click();
    await expect(page.locator(`#card-${current}`).textContent()).resolves.toContain(
      'the labels doubled to 400',
    );

    // Cancelling changes nothing.
    await page.locator('#rollback').click();
    await page.locator('#rollback-confirm-cancel').click();
    await page.locator('#rollback').click();
    await page.locator('#rollback-reason').fill('too many overturned answers');
    await page.locator('#rollback-confirm-yes').click();
    await page.locator(`#promoted-version:text-is("${current - 1}")`).waitFor();

    const promoted = await h.pool.query<{ version: number }>(
      `SELECT version FROM model_versions WHERE model_id = $1 AND status = 'promoted'`,
      [h.policyName],
    );
    expect(promoted.rows).toEqual([{ version: current - 1 }]);
    const { rows } = await h.pool.query<{ actor: string; reason: string }>(
      `SELECT actor, reason FROM model_events WHERE model_id = $1 ORDER BY id DESC LIMIT 1`,
      [h.policyName],
    );
    expect(rows[0]?.reason).toBe('too many overturned answers');
    expect(problems).toEqual([]);
  });

  it('adds a reviewer, shows a new key once, and revokes it', async () => {
    const h = harness();
    const { page, problems } = await openApp(h, { hash: '#/reviewers' });
    await signIn(page, await newKey(h, 'admin'), 'reviewers');
    const id = uniqueName('ada');
    await page.locator('#new-reviewer-id').fill(id);
    await page.locator('#new-reviewer-name').fill('Ada');
    await page.locator('#add-reviewer').click();
    const row = page.locator(`tr[data-reviewer-id="${id}"]`);
    await row.waitFor();
    await row.locator('.show-keys').click();
    await page.locator(`#keys-panel[data-reviewer-id="${id}"]`).waitFor();
    await page.locator('#create-key').click();
    const key = await page.locator('input#new-key').inputValue();
    expect(key).toMatch(/^hitl_/);
    await expect(page.locator('#new-key-note').textContent()).resolves.toContain('not be shown again');
    const me = (apiKey: string) =>
      fetch(`${h.api.url()}/v1/me`, { headers: { authorization: `Bearer ${apiKey}` } }).then((r) => r.status);
    await expect(me(key)).resolves.toBe(200);

    await page.locator('#new-key-done').click();
    await expect(page.locator('input#new-key').count()).resolves.toBe(0);
    const keyRow = page.locator('#keys-table tr[data-key-id]').first();
    await keyRow.locator('button.revoke-key').click();
    await page.locator('.confirm button.danger').click();
    await keyRow.locator('.state:text-matches("revoked", "i")').waitFor();
    await waitFor(async () => (await me(key)) === 401, { message: 'the revoked key refused' });
    expect(problems).toEqual([]);
  });

  it('draws the share the model decided and the audited accuracy from the live system', async () => {
    const h = harness();
    await modelDecisions(8);
    const prefix = uniqueName('audit');
    await queue(h, [
      reviewRequest(`${prefix}-0`, { text: 'audit me' }, {}, 'audit_sample'),
      reviewRequest(`${prefix}-1`, { text: 'audit me too' }, {}, 'audit_sample'),
    ]);
    // A reviewer answers both with the keyboard: one agrees with the model (spam), one does not.
    const reviewer = await openApp(h);
    await signIn(reviewer.page, await newKey(h));
    for (const key of ['2', '1']) {
      const shown = await reviewer.page.locator('#task').getAttribute('data-event-id');
      await reviewer.page.keyboard.press(key);
      await reviewer.page.waitForFunction(
        (before) => document.querySelector('#task')?.getAttribute('data-event-id') !== before,
        shown,
      );
    }
    await waitFor(
      async () => {
        const { rows } = await h.pool.query<{ n: number }>(
          `SELECT coalesce(sum(decisions), 0)::int AS n FROM model_decision_counts`,
        );
        return rows[0]!.n === 8;
      },
      { timeoutMs: 30_000, message: 'the model decisions counted' },
    );
    // The view counts per minute for a span this short: all of it into one minute, so the table
    // has one row whichever minutes the decisions fell in.
    await h.pool.query(
      `UPDATE review_tasks SET decided_at = date_trunc('minute', now(), 'UTC') WHERE event_id = ANY($1)`,
      [[`${prefix}-0`, `${prefix}-1`]],
    );
    await h.pool.query(
      `WITH counted AS (DELETE FROM model_decision_counts RETURNING model_id, model_version, decisions)
       INSERT INTO model_decision_counts (minute, model_id, model_version, decisions)
       SELECT date_trunc('minute', now(), 'UTC'), model_id, model_version, sum(decisions)
         FROM counted GROUP BY model_id, model_version`,
    );

    const { page, problems } = await openApp(h, { hash: '#/learning' });
    await signIn(page, await newKey(h, 'admin'), 'learning');
    await page.locator('svg#learning-chart').waitFor();
    await expect(page.locator('svg#learning-chart polyline.series.share').count()).resolves.toBe(1);
    await page.locator('details#learning-data summary').click();
    await expect(page.locator('#learning-status').textContent()).resolves.toContain('per minute');
    // 8 by the model and 2 by people in this minute; of the 2 audited, 1 was right.
    const cells = await page.locator('#learning-table tbody tr td').allTextContents();
    expect(cells).toEqual(['8', '2', '80.0%', '2', '1', '50.0%']);
    const start = await page.locator('#learning-table tbody tr').getAttribute('data-start');
    expect(start).toMatch(/:00\.000Z$/);
    await expectAccessible(page, 'learning with data');
    await screenshot(page, 'admin-learning');
    expect(problems).toEqual([]);
  });
});
