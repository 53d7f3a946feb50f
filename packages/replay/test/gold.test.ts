// Gold items of a replay: which items are held out of the stream, how the simulated reviewers
// know a gold task's truth, and the import's bodies. Pure helpers, no services.
import { describe, expect, it } from '@jest/globals';
import { goldImportBodies, inputKey, selectGold, type LabelledItem } from '../src';

/** `ham` ham and `spam` spam items, interleaved as a shuffle might leave them. */
function items(ham: number, spam: number): LabelledItem[] {
  const n = ham + spam;
  return Array.from({ length: n }, (_, i) => ({
    id: `m${i}`,
    label: (i * spam) % n < spam ? 'spam' : 'ham',
    input: { text: `mail ${i}` },
  }));
}

const count = (list: readonly LabelledItem[], label: string) => list.filter((x) => x.label === label).length;

describe('selectGold', () => {
  it('holds n items out, in proportion to each label, and keeps the stream in its order without them', () => {
    const all = items(700, 300);
    expect(count(all, 'spam')).toBe(300);
    const { gold, stream } = selectGold(all, 200, 1);
    expect(gold).toHaveLength(200);
    expect(count(gold, 'ham')).toBe(140);
    expect(count(gold, 'spam')).toBe(60);
    expect(stream).toHaveLength(800);
    const held = new Set(gold.map((g) => g.id));
    expect(stream).toEqual(all.filter((x) => !held.has(x.id)));
  });

  it('is fixed by the seed, and another seed picks other items', () => {
    const all = items(700, 300);
    const ids = (seed: number) => selectGold(all, 50, seed).gold.map((g) => g.id);
    expect(ids(1)).toEqual(ids(1));
    expect(ids(2)).not.toEqual(ids(1));
  });

  it('hands the rounding to the largest remainders, so the shares add up to n', () => {
    // 2:1 of 10 → 6.67 and 3.33: 7 and 3.
    const { gold } = selectGold(items(20, 10), 10, 3);
    expect([count(gold, 'ham'), count(gold, 'spam')]).toEqual([7, 3]);
  });

  it('gives a rare label one item when n allows, so reviewers meet every label', () => {
    const all: LabelledItem[] = [
      ...Array.from({ length: 98 }, (_, i) => ({ id: `h${i}`, label: 'ham', input: { text: `h${i}` } })),
      { id: 's0', label: 'spam', input: { text: 's0' } },
      { id: 's1', label: 'spam', input: { text: 's1' } },
    ];
    const { gold } = selectGold(all, 10, 1);
    expect(gold).toHaveLength(10);
    expect(count(gold, 'spam')).toBe(1);
  });

  it('holds nothing out for 0, and refuses to hold out the whole data set', () => {
    const all = items(7, 3);
    expect(selectGold(all, 0, 1)).toEqual({ gold: [], stream: all });
    expect(() => selectGold(all, 10, 1)).toThrow(RangeError);
    expect(() => selectGold(all, 1.5, 1)).toThrow(RangeError);
  });
});

describe('inputKey', () => {
  it('knows an item by what a reviewer sees of it, text or features', () => {
    expect(inputKey({ text: 'hello' })).toBe(inputKey({ text: 'hello' }));
    expect(inputKey({ text: 'hello' })).not.toBe(inputKey({ text: 'hello ' }));
    expect(inputKey({ features: [1, 2.5] })).toBe(inputKey({ features: [1, 2.5] }));
    expect(inputKey({ features: [1, 2.5] })).not.toBe(inputKey({ text: '[1,2.5]' }));
  });
});

describe('goldImportBodies', () => {
  it('writes one JSON line per item, with the stream and the classes', () => {
    const gold: LabelledItem[] = [
      { id: 'a', label: 'ham', input: { text: 'hi' } },
      { id: 'b', label: 'spam', input: { features: [1, 2] } },
    ];
    const [body, ...more] = goldImportBodies(gold, 'run-1', ['ham', 'spam']);
    expect(more).toEqual([]);
    expect(body!.endsWith('\n')).toBe(true);
    expect(
      body!
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      { id: 'a', stream: 'run-1', input: { text: 'hi' }, label: 'ham', classes: ['ham', 'spam'] },
      { id: 'b', stream: 'run-1', input: { features: [1, 2] }, label: 'spam', classes: ['ham', 'spam'] },
    ]);
  });

  it('splits the lines into bodies of at most maxBytes, none empty, in order', () => {
    const gold = Array.from({ length: 50 }, (_, i) => ({
      id: `g${i}`,
      label: 'ham',
      input: { text: 'é'.repeat(100) },
    }));
    const bodies = goldImportBodies(gold, 's', ['ham', 'spam'], 1_000);
    expect(bodies.length).toBeGreaterThan(5);
    for (const b of bodies) expect(Buffer.byteLength(b)).toBeLessThanOrEqual(1_000);
    const ids = bodies.flatMap((b) =>
      b
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id),
    );
    expect(ids).toEqual(gold.map((g) => g.id));
    // A line longer than the limit still goes, alone.
    expect(goldImportBodies(gold.slice(0, 2), 's', ['ham', 'spam'], 10)).toHaveLength(2);
    expect(goldImportBodies([], 's', ['ham', 'spam'])).toEqual([]);
  });
});
