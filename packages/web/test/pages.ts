// What the browser tests share: axe-core's WCAG 2.1 AA checks and screenshots under reports/web/.
import AxeBuilder from '@axe-core/playwright';
import { expect } from '@jest/globals';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

/** The repository's reports/web/, where the screenshots go (reports/ is not committed). */
export const reportsDir = join(__dirname, '../../../reports/web');

/** Runs axe-core's WCAG 2.0/2.1 A and AA rules on the page; fails on a serious or critical violation. */
export async function expectAccessible(page: Page, name: string): Promise<void> {
  const result = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  const grave = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) => `${name}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    );
  expect(grave).toEqual([]);
  // A check that cannot pass vacuously: axe looked at the page.
  expect(result.passes.length).toBeGreaterThan(0);
}

/** Writes reports/web/<name>.png (the full page) and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(reportsDir, { recursive: true });
  const path = join(reportsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Writes reports/web/<name>.json. */
export async function writeReport(name: string, figures: unknown): Promise<void> {
  await mkdir(reportsDir, { recursive: true });
  await writeFile(join(reportsDir, `${name}.json`), `${JSON.stringify(figures)}\n`);
}
