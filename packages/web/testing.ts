// What the browser tests and `pnpm bench:web` share: Debian's Chromium driven by playwright-core,
// and an in-page probe that times a reviewer's key press to the next task on screen.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** The built app (pnpm --filter @hitl/web build), or HITL_WEB_APP_DIR. */
export const webAppDir = process.env.HITL_WEB_APP_DIR ?? join(__dirname, 'dist');

/** scripts/bootstrap.sh installs Debian's chromium; HITL_TEST_CHROMIUM points elsewhere. */
export const chromiumPath = process.env.HITL_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Headless Chromium, or an error that says how to get it and the built app. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: run scripts/bootstrap.sh (it installs Debian's chromium), or set HITL_TEST_CHROMIUM`,
    );
  }
  if (!existsSync(join(webAppDir, 'index.html'))) {
    throw new Error(`the web app is not built in ${webAppDir}: run pnpm --filter @hitl/web build`);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    // Chromium's sandbox refuses to run as root (CI's containers).
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/** One key press answered: milliseconds from the key event to the next task. */
export interface KeyToNext {
  /** To the DOM showing the next task's id. */
  domMs: number;
  /** To the start of the frame after that, i.e. once the browser has painted it. */
  paintedMs: number;
}

/**
 * Starts timing, in the page, every answer key (1–9) pressed while a task is shown, to the moment
 * the screen shows another task. The key event's own time stamp starts the clock, so the time
 * the test driver takes to deliver the key is not counted, and neither is the driver's polling.
 */
export async function installKeyProbe(page: Page): Promise<void> {
  await page.evaluate(KEY_PROBE);
}

// Plain JavaScript, sent as source: a function passed from a file that tsx compiled would carry
// esbuild's __name helper, which the page does not have.
const KEY_PROBE = `(() => {
  if (window.hitlProbe) return;
  const probe = { samples: [] };
  window.hitlProbe = probe;
  const shownId = () => document.querySelector('#task')?.getAttribute('data-event-id') ?? null;
  let pressed = null;
  // Capture on the document: before the app's own listener acts on the key.
  document.addEventListener('keydown', (event) => {
    const from = shownId();
    if (/^[1-9]$/.test(event.key) && from !== null && pressed === null) pressed = { at: event.timeStamp, from };
  }, true);
  new MutationObserver(() => {
    const id = shownId();
    if (pressed === null || id === null || id === pressed.from) return;
    const at = pressed.at;
    pressed = null;
    const domMs = performance.now() - at;
    // The callback of the frame after next runs once the next task's frame was painted.
    requestAnimationFrame(() => requestAnimationFrame(() => probe.samples.push({ domMs, paintedMs: performance.now() - at })));
  }).observe(document.body, { subtree: true, childList: true, attributes: true });
})()`;

/** The samples taken so far, and forgets them. */
export async function takeKeySamples(page: Page): Promise<KeyToNext[]> {
  return page.evaluate<KeyToNext[]>('window.hitlProbe ? window.hitlProbe.samples.splice(0) : []');
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
