import { uniqueName, type TestDatabase } from '@hitl/testkit';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { getLabelledExample, storeExamples, trainingDue, type LabelledExample } from '../src';
import { finishRun, loadTrainingExamples, startRun } from '../src/store';
import { testDatabase } from './helpers';

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  ({ db, pool } = await testDatabase());
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

function example(eventId: string, label: string, correctedAt: string): LabelledExample {
  return {
    eventId,
    stream: 'test',
    input: { text: `${label} text` },
    label,
    reviewerLabels: [{ reviewerId: 'alice', label }],
    correctedAt,
    split: 'train',
    history: [],
  };
}

const T1 = '2026-01-01T10:00:00.000Z';
const T2 = '2026-01-01T11:00:00.000Z';
const T3 = '2026-01-01T12:00:00.000Z';

describe('storeExamples', () => {
  it('counts a relabel as a new label for the next training, a confirmation or a redelivery not', async () => {
    const modelId = uniqueName('store');
    expect(
      await storeExamples(pool, modelId, [example('a', 'ham', T1), example('b', 'spam', T1)]),
    ).toMatchObject({
      inserted: 2,
    });
    const runId = await startRun(pool, {
      modelId,
      start: { trigger: 'first', because: 'test' },
      instance: 'test',
      labelsThrough: (await loadTrainingExamples(pool, modelId)).labelsThrough,
      examples: 2,
      evalExamples: 0,
    });
    await finishRun(pool, runId, { outcome: 'skipped', reason: 'test' });
    expect((await trainingDue(pool, modelId)).newLabels).toBe(0);

    const confirmed = { ...example('a', 'ham', T2), reviewerLabels: [{ reviewerId: 'bob', label: 'ham' }] };
    expect(await storeExamples(pool, modelId, [confirmed, example('b', 'spam', T1)])).toEqual({
      inserted: 0,
      replaced: 1,
      relabelled: 0,
      late: 0,
      duplicate: 1,
    });
    expect((await getLabelledExample(pool, modelId, 'a'))?.reviewerLabels).toEqual([
      { reviewerId: 'bob', label: 'ham' },
    ]);
    expect((await trainingDue(pool, modelId)).newLabels).toBe(0);

    expect(await storeExamples(pool, modelId, [example('b', 'ham', T2)])).toMatchObject({ relabelled: 1 });
    expect((await trainingDue(pool, modelId)).newLabels).toBe(1);
  });

  it('keeps the confidence of the current label, which weighs the example in training', async () => {
    const modelId = uniqueName('store');
    await storeExamples(pool, modelId, [
      { ...example('a', 'ham', T1), confidence: 0.97 },
      example('b', 'spam', T1),
    ]);
    expect(await getLabelledExample(pool, modelId, 'a')).toMatchObject({ confidence: 0.97 });
    expect(await getLabelledExample(pool, modelId, 'b')).not.toHaveProperty('confidence');
    const weights = async () =>
      Object.fromEntries(
        (await loadTrainingExamples(pool, modelId)).examples.map((e) => [e.eventId, e.confidence]),
      );
    expect(await weights()).toEqual({ a: 0.97, b: null });
    // A later label replaces it with its own (none: full weight); a late one changes nothing.
    await storeExamples(pool, modelId, [
      example('a', 'spam', T2),
      { ...example('b', 'spam', T2), confidence: 0.995 },
    ]);
    await storeExamples(pool, modelId, [{ ...example('a', 'ham', T1), confidence: 0.5, reviewerLabels: [] }]);
    expect(await weights()).toEqual({ a: null, b: 0.995 });
  });

  it('keeps one example per event when two writers insert it at once, the later label winning', async () => {
    const modelId = uniqueName('race');
    await Promise.all([
      storeExamples(pool, modelId, [example('e', 'ham', T1)]),
      storeExamples(pool, modelId, [example('e', 'spam', T3)]),
    ]);
    const stored = await getLabelledExample(pool, modelId, 'e');
    expect(stored).toMatchObject({ label: 'spam', correctedAt: T3 });
    // The earlier label is in the history when it was the one inserted first.
    for (const h of stored!.history) expect(h).toMatchObject({ label: 'ham', correctedAt: T1 });
    expect((await trainingDue(pool, modelId)).newLabels).toBe(1);
  });

  it('merges several labels of one event within one batch in order', async () => {
    const modelId = uniqueName('batch');
    const result = await storeExamples(pool, modelId, [
      example('x', 'ham', T1),
      example('x', 'spam', T3),
      example('x', 'other', T2),
    ]);
    expect(result).toMatchObject({ inserted: 1, replaced: 1, late: 1 });
    const stored = await getLabelledExample(pool, modelId, 'x');
    expect(stored?.label).toBe('spam');
    expect(stored?.history.map((h) => h.label)).toEqual(['ham', 'other']);
  });
});
