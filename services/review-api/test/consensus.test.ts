import { describe, expect, it } from '@jest/globals';
import { cohensKappa, consensus, fleissKappa, type Answer } from '../src/consensus';

const answers = (...labels: string[]): Answer[] => labels.map((label, i) => ({ reviewerId: `r${i}`, label }));

describe('consensus', () => {
  it.each([
    {
      name: 'one reviewer decides alone',
      a: ['spam'],
      required: 1,
      needed: 1,
      out: { kind: 'decided', label: 'spam' },
    },
    {
      name: '3 required: the first answer waits',
      a: ['spam'],
      required: 3,
      needed: 3,
      out: { kind: 'pending', needed: 3 },
    },
    {
      name: '3 required: two agreeing decide at once',
      a: ['spam', 'spam'],
      required: 3,
      needed: 3,
      out: { kind: 'decided', label: 'spam', voters: ['r0', 'r1'] },
    },
    {
      name: '3 required: two disagreeing wait for the third',
      a: ['spam', 'ham'],
      required: 3,
      needed: 3,
      out: { kind: 'pending', needed: 3 },
    },
    {
      name: '3 required: 2-1 decides',
      a: ['spam', 'ham', 'ham'],
      required: 3,
      needed: 3,
      out: { kind: 'decided', label: 'ham', voters: ['r1', 'r2'] },
    },
    {
      name: '3 required: a three-way split gets one more reviewer',
      a: ['a', 'b', 'c'],
      required: 3,
      needed: 3,
      out: { kind: 'pending', needed: 4 },
    },
    {
      name: '2 required: a tie gets one more reviewer',
      a: ['spam', 'ham'],
      required: 2,
      needed: 2,
      out: { kind: 'pending', needed: 3 },
    },
    {
      name: 'the extra reviewer breaks the tie',
      a: ['spam', 'ham', 'ham'],
      required: 2,
      needed: 3,
      out: { kind: 'decided', label: 'ham' },
    },
    {
      name: '4 needed: 2-2 is no majority',
      a: ['a', 'b', 'a', 'b'],
      required: 3,
      needed: 4,
      out: { kind: 'pending', needed: 5 },
    },
    {
      name: 'out of extra rounds: escalated',
      a: ['a', 'b', 'c', 'a', 'b'],
      required: 3,
      needed: 5,
      out: { kind: 'escalated' },
    },
  ])('$name', ({ a, required, needed, out }) => {
    expect(consensus({ answers: answers(...a), required, needed, maxExtraRounds: 2 })).toMatchObject(out);
  });

  it('escalates at once when no extra rounds are allowed', () => {
    expect(consensus({ answers: answers('a', 'b'), required: 2, needed: 2, maxExtraRounds: 0 })).toEqual({
      kind: 'escalated',
    });
  });
});

describe('agreement', () => {
  it("gives Cohen's kappa of the textbook example", () => {
    // 50 items: both yes 20, both no 15, A yes/B no 5, A no/B yes 10 → kappa 0.4
    const pairs: [string, string][] = [
      ...Array.from({ length: 20 }, () => ['yes', 'yes'] as [string, string]),
      ...Array.from({ length: 15 }, () => ['no', 'no'] as [string, string]),
      ...Array.from({ length: 5 }, () => ['yes', 'no'] as [string, string]),
      ...Array.from({ length: 10 }, () => ['no', 'yes'] as [string, string]),
    ];
    expect(cohensKappa(pairs)).toBeCloseTo(0.4, 10);
    expect(
      cohensKappa([
        ['a', 'a'],
        ['b', 'b'],
      ]),
    ).toBe(1);
    expect(cohensKappa([])).toBeNaN();
  });

  it("gives Fleiss' kappa: 1 for full agreement, about 0 for chance, the textbook value", () => {
    expect(
      fleissKappa([
        ['a', 'a', 'a'],
        ['b', 'b', 'b'],
      ]),
    ).toBe(1);
    // Fleiss (1971) style check: 2 items × 2 raters, opposite labels → below zero.
    expect(
      fleissKappa([
        ['a', 'b'],
        ['b', 'a'],
      ]),
    ).toBeLessThan(0);
    // Wikipedia's worked example (10 items, 14 raters, 5 categories): kappa ≈ 0.210.
    const table = [
      [0, 0, 0, 0, 14],
      [0, 2, 6, 4, 2],
      [0, 0, 3, 5, 6],
      [0, 3, 9, 2, 0],
      [2, 2, 8, 1, 1],
      [7, 7, 0, 0, 0],
      [3, 2, 6, 3, 0],
      [2, 5, 3, 2, 2],
      [6, 5, 2, 1, 0],
      [0, 2, 2, 3, 7],
    ];
    const items = table.map((row) =>
      row.flatMap((count, category) => Array.from({ length: count }, () => `c${category}`)),
    );
    expect(fleissKappa(items)).toBeCloseTo(0.21, 2);
    expect(fleissKappa([['a']])).toBeNaN();
  });
});
