export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Shown in the error when the predicate never held. */
  message?: string;
}

/** Polls predicate until it returns true; rejects after timeoutMs. A throwing predicate counts as false. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  opts: WaitForOptions = {},
): Promise<void> {
  const { timeoutMs = 15_000, intervalMs = 100 } = opts;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const what = opts.message ?? 'condition';
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`waitFor: ${what} not met within ${timeoutMs} ms${detail}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface WaitForDrainOptions {
  /** How long the count may stay without falling before the wait fails (default 30 s). */
  stallMs?: number;
  intervalMs?: number;
  /** Shown in the error. */
  message?: string;
}

/**
 * Polls count() until it is 0, for as long as it keeps falling: it fails only when the count has
 * not fallen for stallMs, which a stuck consumer causes and a slow machine does not. For backlogs
 * whose size depends on how fast the machine was while they built up.
 */
export async function waitForDrain(
  count: () => number | Promise<number>,
  opts: WaitForDrainOptions = {},
): Promise<void> {
  const { stallMs = 30_000, intervalMs = 100 } = opts;
  let lowest = Infinity;
  let lastFall = Date.now();
  for (;;) {
    const n = await count();
    if (n === 0) return;
    if (n < lowest) {
      lowest = n;
      lastFall = Date.now();
    } else if (Date.now() - lastFall >= stallMs) {
      throw new Error(`waitForDrain: ${opts.message ?? 'backlog'} stuck at ${n} for ${stallMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
