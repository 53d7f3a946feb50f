import { describe, expect, it } from '@jest/globals';
import { exampleOf, mergeLabel, splitOf, type LabelledExample } from '../src/examples';

function example(label: string, correctedAt: string, reviewer = 'alice'): LabelledExample {
  return {
    eventId: 'evt-1',
    stream: 'email',
    input: { text: 'free prize' },
    label,
    reviewerLabels: [{ reviewerId: reviewer, label }],
    correctedAt,
    split: 'train',
    history: [],
  };
}

const T1 = '2026-01-01T10:00:00.000Z';
const T2 = '2026-01-01T11:00:00.000Z';
const T3 = '2026-01-01T12:00:00.000Z';
const AT = '2026-01-02T00:00:00.000Z';

describe('splitOf', () => {
  it('holds out about the given share, the same for an id every time', () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `evt-${i}`);
    const held = ids.filter((id) => splitOf(id, 0.2) === 'eval').length;
    expect(held / ids.length).toBeGreaterThan(0.18);
    expect(held / ids.length).toBeLessThan(0.22);
    expect(ids.map((id) => splitOf(id, 0.2))).toEqual(ids.map((id) => splitOf(id, 0.2)));
  });

  it('only grows the held-out set when the share grows', () => {
    const ids = Array.from({ length: 2_000 }, (_, i) => `evt-${i}`);
    for (const id of ids) if (splitOf(id, 0.1) === 'eval') expect(splitOf(id, 0.3)).toBe('eval');
  });
});

describe('exampleOf', () => {
  it('takes the consensus label, the reviewers and a normalised time from a correction', () => {
    const e = exampleOf(
      {
        eventId: 'evt-9',
        stream: 'email',
        input: { text: 'hello' },
        label: 'ham',
        reviewerLabels: [{ reviewerId: 'bob', label: 'ham' }],
        modelPrediction: null,
        outcome: 'no_model',
        reviewReason: 'no_model',
        correctedAt: '2026-01-01T10:00:00+00:00',
      },
      0.2,
    );
    expect(e).toEqual({
      eventId: 'evt-9',
      stream: 'email',
      input: { text: 'hello' },
      label: 'ham',
      reviewerLabels: [{ reviewerId: 'bob', label: 'ham' }],
      correctedAt: T1,
      split: splitOf('evt-9', 0.2),
      history: [],
      origin: { reviewReason: 'no_model', modelPrediction: null },
    });
  });

  it('keeps the correction’s confidence, the posterior of weighted consensus', () => {
    const e = exampleOf(
      {
        eventId: 'evt-10',
        stream: 'email',
        input: { text: 'hello' },
        label: 'spam',
        reviewerLabels: [{ reviewerId: 'bob', label: 'spam' }],
        modelPrediction: null,
        outcome: 'no_model',
        reviewReason: 'no_model',
        correctedAt: T1,
        confidence: 0.993,
      },
      0.2,
    );
    expect(e.confidence).toBe(0.993);
  });

  it('holds out an audit-sample event whatever its id says, and keeps what the model had predicted', () => {
    const modelPrediction = { model: { id: 'spam', version: 3 }, label: 'spam', confidence: 0.97 };
    const audited = (eventId: string, reviewReason: 'audit_sample' | 'low_confidence') =>
      exampleOf(
        {
          eventId,
          stream: 'email',
          input: { text: 'hello' },
          label: 'ham',
          reviewerLabels: [{ reviewerId: 'bob', label: 'ham' }],
          modelPrediction,
          outcome: 'overturned',
          reviewReason,
          correctedAt: T1,
        },
        0.2,
      );
    const trainIds = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].filter((id) => splitOf(id, 0.2) === 'train');
    expect(trainIds.length).toBeGreaterThan(2);
    for (const id of trainIds) {
      expect(audited(id, 'low_confidence').split).toBe('train');
      expect(audited(id, 'audit_sample')).toMatchObject({
        split: 'eval',
        origin: { reviewReason: 'audit_sample', modelPrediction },
      });
    }
  });
});

describe('mergeLabel', () => {
  it('treats a redelivery as a duplicate', () => {
    expect(mergeLabel(example('spam', T1), example('spam', T1), AT)).toEqual({ kind: 'duplicate' });
  });

  it('lets a later label replace the current one and keeps the current one in the history', () => {
    const merge = mergeLabel(example('spam', T1), { ...example('ham', T2, 'carol'), split: 'eval' }, AT);
    expect(merge).toEqual({
      kind: 'replaced',
      labelChanged: true,
      example: {
        ...example('ham', T2, 'carol'),
        // The split is the one fixed when the event was first seen.
        split: 'train',
        history: [
          {
            label: 'spam',
            reviewerLabels: [{ reviewerId: 'alice', label: 'spam' }],
            correctedAt: T1,
            supersededAt: AT,
          },
        ],
      },
    });
  });

  it('marks a later confirmation of the same class as not changing the label', () => {
    const merge = mergeLabel(example('spam', T1), example('spam', T2, 'carol'), AT);
    expect(merge).toMatchObject({ kind: 'replaced', labelChanged: false });
  });

  it('keeps an earlier label that arrives late in the history only', () => {
    const stored = mergeLabel(example('spam', T1), example('ham', T3), AT);
    if (stored.kind !== 'replaced') throw new Error('expected a replacement');
    const late = mergeLabel(stored.example, example('other', T2, 'dave'), AT);
    expect(late.kind).toBe('late');
    if (late.kind !== 'late') return;
    expect(late.example.label).toBe('ham');
    expect(late.example.history.map((h) => [h.label, h.correctedAt])).toEqual([
      ['spam', T1],
      ['other', T2],
    ]);
    // ...and is a duplicate when it is delivered again.
    expect(mergeLabel(late.example, example('other', T2, 'dave'), AT)).toEqual({ kind: 'duplicate' });
    expect(mergeLabel(late.example, example('spam', T1), AT)).toEqual({ kind: 'duplicate' });
  });

  it('keeps the first of two different labels with the same time and records the second', () => {
    const merge = mergeLabel(example('spam', T1), example('ham', T1, 'bob'), AT);
    expect(merge.kind).toBe('late');
  });
});
