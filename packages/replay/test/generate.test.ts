import { describe, expect, it } from '@jest/globals';
import { trainLinearClassifier } from '@hitl/model';
import { parseLabelled } from '../src/dataset';
import { numericSet, shortTextSet, toFile } from '../src/generate';

const featuresOf = (items: ReturnType<typeof numericSet>) =>
  items.map((i) => ('features' in i.input ? i.input.features : []));

describe('generated data sets', () => {
  it('draws the same numeric set from the same seed, balanced over its classes, and overlapping less the further apart', () => {
    const opts = { rows: 300, classes: 3, features: 5, separation: 3, seed: 7 };
    const set = numericSet(opts);
    expect(numericSet(opts)).toEqual(set);
    expect(numericSet({ ...opts, seed: 8 })).not.toEqual(set);
    expect(new Set(set.map((i) => i.id)).size).toBe(300);
    for (const label of ['class1', 'class2', 'class3']) {
      expect(set.filter((i) => i.label === label)).toHaveLength(100);
    }
    // Training accuracy of a linear model: near perfect far apart, well below that when the
    // classes lie on top of each other.
    const accuracy = (separation: number) => {
      const items = numericSet({ ...opts, rows: 600, separation });
      const model = trainLinearClassifier({
        features: featuresOf(items),
        labels: items.map((i) => i.label),
        epochs: 30,
      });
      const probabilities = model.predictProba(featuresOf(items));
      return (
        probabilities.filter((row, i) => model.classes[row.indexOf(Math.max(...row))] === items[i]!.label)
          .length / items.length
      );
    };
    expect(accuracy(4)).toBeGreaterThan(0.97);
    expect(accuracy(0.2)).toBeLessThan(0.7);
  });

  it('writes numeric sets as CSV and texts as JSONL that the replay reads back unchanged', () => {
    const numeric = numericSet({ rows: 20, classes: 2, features: 3, separation: 2, seed: 1 });
    const csv = toFile(numeric);
    expect(csv.format).toBe('csv');
    expect(
      parseLabelled(csv.content, {
        format: 'csv',
        labelField: 'label',
        idField: 'id',
        featureColumns: ['f1', 'f2', 'f3'],
      }),
    ).toEqual(numeric);

    const texts = shortTextSet({
      rows: 50,
      classes: 5,
      words: [2, 4],
      ownWordShare: 0.5,
      otherWordShare: 0.2,
      seed: 3,
    });
    for (const item of texts) {
      const words = 'text' in item.input ? item.input.text.split(' ') : [];
      expect(words.length).toBeGreaterThanOrEqual(2);
      expect(words.length).toBeLessThanOrEqual(4);
    }
    const jsonl = toFile(texts);
    expect(jsonl.format).toBe('jsonl');
    expect(
      parseLabelled(jsonl.content, {
        format: 'jsonl',
        labelField: 'label',
        idField: 'id',
        textField: 'text',
      }),
    ).toEqual(texts);
  });
});
