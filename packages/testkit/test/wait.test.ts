import { describe, expect, it } from '@jest/globals';
import { waitFor } from '../src/index';

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
