import { describe, expect, it } from '@jest/globals';
import { buildTrainingSet, chooseInputShape, classesFor, type TrainingExample } from '../src/dataset';

const text = (eventId: string, label: string, split: 'train' | 'eval' = 'train'): TrainingExample => ({
  eventId,
  input: { text: `${label} words` },
  label,
  split,
});
const features = (eventId: string, values: number[], label: string): TrainingExample => ({
  eventId,
  input: { features: values },
  label,
  split: 'train',
});

describe('chooseInputShape', () => {
  it('takes text when most examples have it, else the commonest feature width', () => {
    expect(chooseInputShape([text('a', 'x'), features('b', [1], 'y')], null)).toEqual({ kind: 'text' });
    expect(
      chooseInputShape([text('a', 'x'), features('b', [1, 2], 'y'), features('c', [3, 4], 'y')], null),
    ).toEqual({ kind: 'features', featureWidth: 2 });
    expect(chooseInputShape([], null)).toBeNull();
  });

  it("keeps the champion's input", () => {
    const champion = { classes: ['x', 'y'], inputKind: 'features' as const, featureWidth: 3 };
    expect(chooseInputShape([text('a', 'x')], champion)).toEqual({ kind: 'features', featureWidth: 3 });
  });
});

describe('classesFor', () => {
  it("keeps the champion's classes in order and adds new labels sorted", () => {
    expect(classesFor(['spam', 'other', 'ham', 'alpha'], ['spam', 'ham'])).toEqual([
      'spam',
      'ham',
      'alpha',
      'other',
    ]);
    expect(classesFor(['b', 'a', 'b'])).toEqual(['a', 'b']);
  });
});

describe('buildTrainingSet', () => {
  it('splits fitting examples in event id order and counts the ones left out', () => {
    const set = buildTrainingSet(
      [
        text('c', 'spam'),
        text('a', 'ham'),
        text('b', 'ham', 'eval'),
        features('d', [1, 2], 'spam'),
        text('e', 'other', 'eval'),
      ],
      null,
    );
    if ('skip' in set) throw new Error(set.skip);
    expect(set.shape).toEqual({ kind: 'text' });
    expect(set.classes).toEqual(['ham', 'other', 'spam']);
    expect(set.train.eventIds).toEqual(['a', 'c']);
    expect(set.eval.eventIds).toEqual(['b', 'e']);
    expect(set.train.inputs).toEqual({ kind: 'text', texts: ['ham words', 'spam words'] });
    expect(set.dropped).toBe(1);
  });

  it('skips when the training split has fewer than two classes', () => {
    expect(buildTrainingSet([text('a', 'ham'), text('b', 'spam', 'eval')], null)).toEqual({
      skip: 'the training split has 1 examples with text and 1 distinct label(s); a model needs two',
    });
    expect(buildTrainingSet([], null)).toEqual({ skip: 'there are no labelled examples yet' });
  });
});
