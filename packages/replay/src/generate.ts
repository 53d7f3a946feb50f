// Labelled data sets of chosen shape, drawn from a seed: numeric classes of chosen overlap, and
// short texts of chosen class count. A replay on them shows how the loop does on data it was not
// tuned on; the same seed gives the same set. Pure.
import { mulberry32 } from '@hitl/model/random';
import type { LabelledItem } from './dataset';

export interface NumericSetOptions {
  rows: number;
  classes: number;
  features: number;
  /**
   * How far apart the class means lie, in standard deviations of the noise per informative
   * feature; smaller means more overlap (1 overlaps heavily, 3 hardly).
   */
  separation: number;
  /** Features that carry class information; the rest are noise (default: all). */
  informative?: number;
  seed: number;
}

/** A standard normal draw (Box–Muller) from a uniform generator. */
function normal(rand: () => number): number {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

const classNames = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

/**
 * Gaussian classes of equal size in random order: each class has a mean drawn per informative
 * feature from N(0, separation²/2), so two classes' means differ by about `separation` per
 * feature; every feature then gets its own scale and offset (columns of unlike units, as in real
 * tables), which a model must standardise away.
 */
export function numericSet(opts: NumericSetOptions): LabelledItem[] {
  const rand = mulberry32(opts.seed);
  const informative = Math.min(opts.features, opts.informative ?? opts.features);
  const labels = classNames(opts.classes, 'class');
  const means = labels.map(() =>
    Array.from({ length: opts.features }, (_, j) =>
      j < informative ? (normal(rand) * opts.separation) / Math.SQRT2 : 0,
    ),
  );
  const scale = Array.from({ length: opts.features }, () => 10 ** (rand() * 4 - 2));
  const offset = Array.from({ length: opts.features }, () => normal(rand) * 5);
  const items: LabelledItem[] = [];
  for (let i = 0; i < opts.rows; i++) {
    const c = i % opts.classes;
    const features = means[c]!.map((mu, j) =>
      Number(((mu + normal(rand)) * scale[j]! + offset[j]!).toPrecision(6)),
    );
    items.push({ id: `n${i}`, label: labels[c]!, input: { features } });
  }
  return shuffle(items, rand);
}

export interface ShortTextSetOptions {
  rows: number;
  classes: number;
  /** Words per item, at least and at most. */
  words: [number, number];
  /** Chance that a word comes from the item's own class's words rather than the shared ones. */
  ownWordShare: number;
  /** Chance that a word comes from another class's words (the confusable part). */
  otherWordShare: number;
  seed: number;
}

/**
 * Items of a few words each. Each class has 40 words of its own, all classes share 200 common
 * words; an item's words are its class's with chance ownWordShare, another class's with chance
 * otherWordShare, and common otherwise. Word frequencies fall off as 1/rank, as in real text.
 */
export function shortTextSet(opts: ShortTextSetOptions): LabelledItem[] {
  const rand = mulberry32(opts.seed);
  const syllables = [
    'ka',
    'lo',
    'mi',
    'ru',
    'te',
    'sa',
    'no',
    'vi',
    'de',
    'po',
    'zu',
    'fe',
    'gi',
    'ha',
    'jo',
    'be',
  ];
  const word = () =>
    Array.from(
      { length: 2 + Math.floor(rand() * 2) },
      () => syllables[Math.floor(rand() * syllables.length)],
    ).join('');
  const vocabulary = (n: number) => Array.from({ length: n }, word);
  const labels = classNames(opts.classes, 'topic');
  const own = labels.map(() => vocabulary(40));
  const common = vocabulary(200);
  // Zipf: the word of rank r is drawn with weight 1/r.
  const zipf = (words: readonly string[]) => {
    const total = words.reduce((s, _, r) => s + 1 / (r + 1), 0);
    let x = rand() * total;
    for (let r = 0; r < words.length; r++) {
      x -= 1 / (r + 1);
      if (x <= 0) return words[r]!;
    }
    return words[words.length - 1]!;
  };
  const items: LabelledItem[] = [];
  for (let i = 0; i < opts.rows; i++) {
    const c = i % opts.classes;
    const length = opts.words[0] + Math.floor(rand() * (opts.words[1] - opts.words[0] + 1));
    const text = Array.from({ length }, () => {
      const r = rand();
      if (r < opts.ownWordShare) return zipf(own[c]!);
      if (r < opts.ownWordShare + opts.otherWordShare) {
        const other = (c + 1 + Math.floor(rand() * (opts.classes - 1))) % opts.classes;
        return zipf(own[other]!);
      }
      return zipf(common);
    }).join(' ');
    items.push({ id: `t${i}`, label: labels[c]!, input: { text } });
  }
  return shuffle(items, rand);
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** A set as a file the replay reads: CSV with named columns for numeric sets, JSONL for texts. */
export function toFile(items: readonly LabelledItem[]): { format: 'csv' | 'jsonl'; content: string } {
  const first = items[0]?.input;
  if (first && 'features' in first) {
    const width = first.features.length;
    const header = ['id', 'label', ...Array.from({ length: width }, (_, j) => `f${j + 1}`)].join(',');
    const lines = items.map((item) =>
      [item.id, item.label, ...('features' in item.input ? item.input.features : [])].join(','),
    );
    return { format: 'csv', content: `${header}\n${lines.join('\n')}\n` };
  }
  return {
    format: 'jsonl',
    content:
      items.map((item) => JSON.stringify({ id: item.id, label: item.label, ...item.input })).join('\n') +
      '\n',
  };
}
