import { describe, expect, it } from '@jest/globals';
import { spamAssassin, stableFraction, subjectAndBody } from '../src';

describe('spamAssassin', () => {
  it('gives the whole corpus, labelled by group, with ids that are unique', () => {
    const emails = spamAssassin();
    expect(emails).toHaveLength(6_046);
    const counts = { ham: 0, spam: 0 };
    for (const e of emails) counts[e.label]++;
    expect(counts).toEqual({ ham: 2_500 + 1_400 + 250, spam: 500 + 1_396 });
    expect(new Set(emails.map((e) => e.id)).size).toBe(emails.length);
    expect(emails.every((e) => e.text.startsWith('Subject: ') && e.text.length <= 20_000)).toBe(true);
    // Headers other than the subject are gone (they name the corpus' own mail servers).
    expect(emails.some((e) => /^Received:/m.test(e.text.split('\n\n')[0]!))).toBe(false);
  });
});

describe('subjectAndBody', () => {
  it('keeps the (unfolded) subject and the body, nothing else', () => {
    const raw = 'From: a@b\r\nSubject: Cheap\r\n  meds today\r\nX-Other: 1\r\n\r\nBuy now.\r\nReally.';
    expect(subjectAndBody(raw)).toBe('Subject: Cheap meds today\n\nBuy now.\nReally.');
    expect(subjectAndBody('From: a@b\n\nhello')).toBe('Subject: \n\nhello');
  });
});

describe('stableFraction', () => {
  it('is fixed by id and salt and spreads evenly', () => {
    expect(stableFraction('spam-1/00001')).toBe(stableFraction('spam-1/00001'));
    expect(stableFraction('spam-1/00001', 'a')).not.toBe(stableFraction('spam-1/00001', 'b'));
    const values = Array.from({ length: 10_000 }, (_, i) => stableFraction(`id-${i}`));
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    const heldOut = values.filter((v) => v < 0.2).length;
    expect(heldOut).toBeGreaterThan(1_850);
    expect(heldOut).toBeLessThan(2_150);
  });
});
