import { InferenceSession, Tensor } from 'onnxruntime-node';
import { mulberry32 } from '../src';

export const WORDS: readonly (readonly string[])[] = [
  ['apple', 'banana', 'cherry', 'grape', 'melon', 'peach', 'pear', 'plum'],
  ['football', 'goal', 'referee', 'striker', 'league', 'match', 'penalty', 'coach'],
  ['kernel', 'compiler', 'thread', 'mutex', 'socket', 'buffer', 'pointer', 'stack'],
  ['violin', 'piano', 'symphony', 'chord', 'melody', 'tempo', 'opera', 'drum'],
  ['glacier', 'volcano', 'canyon', 'river', 'desert', 'tundra', 'delta', 'reef'],
];
const SHARED = ['the', 'a', 'of', 'and', 'is', "it's", 'very', 'with', 'this', 'that'];
const PUNCT = ['', '', ',', '.', '!', '?', ' -', ';'];

export function syntheticTexts(
  classCount: number,
  perClass: number,
  seed: number,
): { texts: string[]; labels: string[] } {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const texts: string[] = [];
  const labels: string[] = [];
  for (let i = 0; i < perClass; i++) {
    for (let c = 0; c < classCount; c++) {
      const length = 4 + Math.floor(rand() * 10);
      const words: string[] = [];
      for (let w = 0; w < length; w++) {
        let word = rand() < 0.6 ? pick(WORDS[c]!) : rand() < 0.7 ? pick(SHARED) : pick(pick(WORDS));
        const casing = rand();
        if (casing < 0.2) word = word.toUpperCase();
        else if (casing < 0.4) word = word[0]!.toUpperCase() + word.slice(1);
        words.push(word + pick(PUNCT));
      }
      texts.push(words.join(' '));
      labels.push(`class_${c}`);
    }
  }
  return { texts, labels };
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export function gaussianBlobs(
  classCount: number,
  perClass: number,
  width: number,
  seed: number,
): { features: number[][]; labels: string[] } {
  const rand = mulberry32(seed);
  const centres = Array.from({ length: classCount }, () =>
    Array.from({ length: width }, () => (rand() - 0.5) * 20),
  );
  const features: number[][] = [];
  const labels: string[] = [];
  for (let i = 0; i < perClass; i++) {
    for (let c = 0; c < classCount; c++) {
      // Columns of very different scales and offsets exercise the folded standardisation.
      features.push(centres[c]!.map((m, j) => (m + gaussian(rand) * 1.5) * (j + 1) + 3 * j));
      labels.push(`k${c}`);
    }
  }
  return { features, labels };
}

export async function runOnnx(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<number[][]> {
  const session = await InferenceSession.create(Buffer.from(bytes));
  try {
    const out = await session.run(feeds);
    const probs = out['probabilities']!;
    const [n, c] = probs.dims as [number, number];
    const data = probs.data as Float32Array;
    return Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * c, (i + 1) * c)));
  } finally {
    await session.release();
  }
}

export function textTensor(texts: readonly string[]): Tensor {
  return new Tensor('string', [...texts], [texts.length, 1]);
}

export function featureTensor(rows: readonly (readonly number[])[]): Tensor {
  const width = rows[0]!.length;
  return new Tensor('float32', Float32Array.from(rows.flat()), [rows.length, width]);
}

export function maxAbsDiff(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number {
  if (a.length !== b.length) throw new Error(`row counts differ: ${a.length} vs ${b.length}`);
  let max = 0;
  a.forEach((row, i) => {
    const other = b[i]!;
    if (row.length !== other.length) throw new Error(`widths differ in row ${i}`);
    row.forEach((v, j) => {
      max = Math.max(max, Math.abs(v - other[j]!));
    });
  });
  return max;
}

export function accuracy(
  probs: readonly (readonly number[])[],
  labels: readonly string[],
  classes: readonly string[],
): number {
  let hits = 0;
  probs.forEach((p, i) => {
    const best = p.indexOf(Math.max(...p));
    if (classes[best] === labels[i]) hits++;
  });
  return hits / probs.length;
}
