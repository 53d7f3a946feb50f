export interface BackoffOptions {
  /** First wait, in milliseconds. */
  initialMs: number;
  /** Longest wait, in milliseconds. */
  maxMs: number;
}

/** Exponential backoff with full jitter: attempt 1 waits up to initialMs, doubling to maxMs. */
export function backoffDelay(
  attempt: number,
  { initialMs, maxMs }: BackoffOptions,
  random = Math.random,
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Resolves after `ms`, or early when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
