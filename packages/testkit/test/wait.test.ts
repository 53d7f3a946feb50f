import { describe, expect, it } from '@jest/globals';
import { waitFor, waitForDrain } from '../src/index';

describe('waitFor', () => {
  it('resolves once the predicate holds', async () => {
    let calls = 0;
    await waitFor(() => ++calls >= 3, { intervalMs: 5 });
    expect(calls).toBe(3);
  });

  it('accepts async predicates and treats a throw as not yet', async () => {
    let calls = 0;
    await waitFor(
      () => {
        calls += 1;
        if (calls < 2) throw new Error('not connected');
        return Promise.resolve(true);
      },
      { intervalMs: 5 },
    );
    expect(calls).toBe(2);
  });

  it('rejects with the message after the timeout', async () => {
    await expect(
      waitFor(() => false, { timeoutMs: 50, intervalMs: 10, message: 'decisions to arrive' }),
    ).rejects.toThrow('waitFor: decisions to arrive not met within 50 ms');
  });
});

describe('waitForDrain', () => {
  it('waits as long as the count keeps falling, however long that takes', async () => {
    let n = 30;
    const started = Date.now();
    // Falls by one every 5 ms: 150 ms in all, three times the stall allowance.
    await waitForDrain(() => Math.max(0, (n -= 1)), { stallMs: 50, intervalMs: 5 });
    expect(n).toBeLessThanOrEqual(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('fails when the count stops falling for the stall allowance', async () => {
    let n = 10;
    await expect(
      waitForDrain(() => (n > 7 ? n-- : n), { stallMs: 50, intervalMs: 5, message: 'outbox rows' }),
    ).rejects.toThrow('waitForDrain: outbox rows stuck at 7 for 50 ms');
  });
});
