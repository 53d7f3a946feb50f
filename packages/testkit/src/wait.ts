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
