import { describe, expect, it } from '@jest/globals';
import {
  estimateReliability,
  labelPosterior,
  weightedConsensus,
  type ReliabilityAnswer,
  type ReliabilityEstimate,
  type ReliabilityPrior,
} from '../src/reliability';

const prior: ReliabilityPrior = { accuracy: 0.9, strength: 4 };

/** A seeded PRNG, so the synthetic data (and so every assertion) is the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
type Reviewer = (truth: string, rand: Rand) => string;

function pick<T>(values: readonly T[], rand: Rand): T {
  return values[Math.floor(rand() * values.length)]!;
}

/** Wrong with probability `error`, then any other class alike. */
const symmetric =
  (classes: readonly string[], error: number): Reviewer =>
  (truth, rand) =>
    rand() < error
      ? pick(
          classes.filter((c) => c !== truth),
          rand,
        )
      : truth;

interface Simulation {
  answers: ReliabilityAnswer[];
  gold: Map<string, string>;
  truth: Map<string, string>;
}

/** Items with true classes drawn by `weights`; `who` picks each item's reviewers; the first `gold` items are gold. */
function simulate(opts: {
  seed: number;
  items: number;
  gold?: number;
  classes: readonly string[];
  weights: readonly number[];
  reviewers: Record<string, Reviewer>;
  who?: (ids: string[], rand: Rand) => string[];
}): Simulation {
  const rand = mulberry32(opts.seed);
  const ids = Object.keys(opts.reviewers);
  const sim: Simulation = { answers: [], gold: new Map(), truth: new Map() };
  for (let i = 0; i < opts.items; i++) {
    const itemId = `item-${String(i).padStart(5, '0')}`;
    let u = rand();
    const k = opts.weights.findIndex((w) => (u -= w) < 0);
    const truth = opts.classes[k < 0 ? opts.classes.length - 1 : k]!;
    sim.truth.set(itemId, truth);
    if (i < (opts.gold ?? 0)) sim.gold.set(itemId, truth);
    for (const reviewerId of opts.who ? opts.who(ids, rand) : ids)
      sim.answers.push({ itemId, reviewerId, label: opts.reviewers[reviewerId]!(truth, rand) });
  }
  return sim;
}

/** Two or three of the reviewers, at random. */
function twoOrThree(ids: string[], rand: Rand): string[] {
  const shuffled = ids.map((id) => [rand(), id] as const).sort((a, b) => a[0] - b[0]);
  return shuffled.slice(0, rand() < 0.5 ? 2 : 3).map(([, id]) => id);
}

const reviewer = (estimate: ReliabilityEstimate, id: string) =>
  estimate.reviewers.find((r) => r.reviewerId === id)!;

const ab = ['a', 'b'];

describe('estimateReliability', () => {
  it("recovers three reviewers' accuracies within 3 points", () => {
    const sim = simulate({
      seed: 1,
      items: 2040,
      gold: 40,
      classes: ab,
      weights: [0.3, 0.7],
      reviewers: { good: symmetric(ab, 0.02), fine: symmetric(ab, 0.05), sloppy: symmetric(ab, 0.3) },
      who: twoOrThree,
    });
    // EM creeps near its fixed point: this needs some 130 iterations to move no probability by 1e-6.
    const estimate = estimateReliability({
      classes: ab,
      answers: sim.answers,
      gold: sim.gold,
      prior,
      maxIterations: 500,
    });
    expect(estimate.converged).toBe(true);
    expect(estimate.items).toBe(2040);
    expect(estimate.classPrior.a).toBeCloseTo(0.3, 1);
    for (const [id, truth] of [
      ['good', 0.98],
      ['fine', 0.95],
      ['sloppy', 0.7],
    ] as const) {
      const r = reviewer(estimate, id);
      expect(Math.abs(r.accuracy - truth)).toBeLessThan(0.03);
      for (const row of Object.values(r.confusion))
        expect(Object.values(row).reduce((s, p) => s + p, 0)).toBeCloseTo(1, 12);
      expect(r.goldAnswers).toBeGreaterThan(0);
    }
    // The answer order does not matter.
    const reversed = estimateReliability({
      classes: ab,
      answers: [...sim.answers].reverse(),
      gold: sim.gold,
      prior,
      maxIterations: 500,
    });
    expect(reversed).toEqual(estimate);
  });

  it('finds a reviewer who always answers wrongly, and the good reviewers outvote them', () => {
    const sim = simulate({
      seed: 2,
      items: 500,
      gold: 10,
      classes: ab,
      weights: [0.5, 0.5],
      reviewers: {
        bad: (t) => (t === 'a' ? 'b' : 'a'),
        good1: symmetric(ab, 0.05),
        good2: symmetric(ab, 0.05),
      },
    });
    const estimate = estimateReliability({ classes: ab, answers: sim.answers, gold: sim.gold, prior });
    expect(reviewer(estimate, 'bad').accuracy).toBeLessThan(0.1);
    expect(reviewer(estimate, 'good1').accuracy).toBeGreaterThan(0.9);
    const base = { required: 2, needed: 2, maxExtraRounds: 2, confidence: 0.95, estimate, prior };
    expect(
      weightedConsensus({
        ...base,
        answers: [
          { reviewerId: 'bad', label: 'b' },
          { reviewerId: 'good1', label: 'a' },
        ],
      }),
    ).toMatchObject({ kind: 'decided', label: 'a', voters: ['good1'] });
    // Alone, the bad reviewer's 'b' points to 'a', but no one answered 'a': wait for another answer.
    expect(
      weightedConsensus({ ...base, required: 1, needed: 1, answers: [{ reviewerId: 'bad', label: 'b' }] }),
    ).toEqual({ kind: 'pending', needed: 2 });
    const three = weightedConsensus({
      ...base,
      required: 3,
      needed: 3,
      answers: [
        { reviewerId: 'bad', label: 'a' },
        { reviewerId: 'good1', label: 'b' },
        { reviewerId: 'good2', label: 'b' },
      ],
    });
    expect(three).toMatchObject({ kind: 'decided', label: 'b', voters: ['good1', 'good2'] });
    expect(three.kind === 'decided' && three.posterior).toBeGreaterThan(0.999);
  });

  it('gives a new reviewer the prior', () => {
    const estimate = estimateReliability({
      classes: ['a', 'b', 'c'],
      answers: [
        { itemId: 'i1', reviewerId: 'r1', label: 'a' },
        { itemId: 'i1', reviewerId: 'r2', label: 'a' },
        // A lone answer on an item that is not gold does not count.
        { itemId: 'i2', reviewerId: 'lone', label: 'b' },
      ],
      gold: new Map(),
      prior,
      reviewerIds: ['new'],
    });
    expect(estimate.items).toBe(1);
    for (const id of ['new', 'lone']) {
      const r = reviewer(estimate, id);
      expect(r).toMatchObject({ answers: 0, goldAnswers: 0, goldCorrect: 0, accuracy: 0.9 });
      expect(r.confusion.a).toEqual({ a: 0.9, b: expect.closeTo(0.05, 12), c: expect.closeTo(0.05, 12) });
    }
    expect(reviewer(estimate, 'r1').answers).toBe(1);
    // No strength: no pseudo-counts, but still the prior where there is no evidence at all.
    const flat = estimateReliability({
      classes: ab,
      answers: [],
      gold: new Map(),
      prior: { accuracy: 0.8, strength: 0 },
      reviewerIds: ['new'],
    });
    expect(flat.reviewers[0]).toMatchObject({ accuracy: 0.8, confusion: { a: { a: 0.8 }, b: { b: 0.8 } } });
    expect(flat.classPrior).toEqual({ a: 0.5, b: 0.5 });
  });

  it('recovers an asymmetric confusion between two of five classes', () => {
    const five = ['a', 'b', 'c', 'd', 'e'];
    const sim = simulate({
      seed: 6,
      items: 3000,
      gold: 50,
      classes: five,
      weights: [0.2, 0.2, 0.2, 0.2, 0.2],
      reviewers: {
        good1: symmetric(five, 0.05),
        good2: symmetric(five, 0.05),
        good3: symmetric(five, 0.1),
        // Says 'c' for 40% of the b's, and 'b' for 20% of the c's; otherwise right.
        mixer: (t, rand) => (t === 'b' && rand() < 0.4 ? 'c' : t === 'c' && rand() < 0.2 ? 'b' : t),
      },
      who: (ids, rand) => ids.filter((id) => id === 'mixer' || rand() < 0.6),
    });
    const estimate = estimateReliability({ classes: five, answers: sim.answers, gold: sim.gold, prior });
    const { confusion } = reviewer(estimate, 'mixer');
    expect(Math.abs(confusion.b!.c! - 0.4)).toBeLessThan(0.05);
    expect(Math.abs(confusion.c!.b! - 0.2)).toBeLessThan(0.05);
    expect(confusion.b!.b!).toBeGreaterThan(0.5);
    for (const c of ['a', 'd', 'e']) expect(confusion[c]![c]!).toBeGreaterThan(0.97);
    expect(confusion.a!.b!).toBeLessThan(0.02);
    expect(Math.abs(reviewer(estimate, 'good3').accuracy - 0.9)).toBeLessThan(0.03);
  });

  it('keeps gold items on their label whatever the answers say', () => {
    const answers: ReliabilityAnswer[] = [];
    for (let i = 0; i < 20; i++)
      for (const reviewerId of ['r1', 'r2', 'r3'])
        answers.push({ itemId: `i${i}`, reviewerId, label: i < 5 ? 'b' : 'a' });
    const gold = new Map([...Array.from({ length: 5 }, (_, i) => [`i${i}`, 'a'] as const), ['i9', 'a']]);
    const estimate = estimateReliability({ classes: ab, answers, gold, prior });
    for (let i = 0; i < 5; i++) expect(estimate.itemPosteriors[`i${i}`]).toEqual({ a: 1, b: 0 });
    expect(reviewer(estimate, 'r1')).toMatchObject({ answers: 20, goldAnswers: 6, goldCorrect: 1 });
    // The unanimous wrong answers on gold show up as confusion, not as a changed truth.
    expect(reviewer(estimate, 'r1').confusion.a!.b).toBeGreaterThan(0.15);
  });

  it('adds labels it was not given, and keeps the first of duplicate answers', () => {
    const estimate = estimateReliability({
      classes: ['b'],
      answers: [
        { itemId: 'i', reviewerId: 'r1', label: 'z' },
        { itemId: 'i', reviewerId: 'r1', label: 'b' },
        { itemId: 'i', reviewerId: 'r2', label: 'a' },
      ],
      gold: new Map([['j', 'q']]),
      prior,
    });
    expect(estimate.classes).toEqual(['b', 'a', 'z']);
    expect(estimate.reviewers.map((r) => r.answers)).toEqual([1, 1]);
    expect(estimate.itemPosteriors.i!.b).toBeLessThan(0.1);
  });

  it('stops at maxIterations', () => {
    const sim = simulate({
      seed: 3,
      items: 200,
      classes: ab,
      weights: [0.5, 0.5],
      reviewers: { r1: symmetric(ab, 0.2), r2: symmetric(ab, 0.2), r3: symmetric(ab, 0.3) },
    });
    const estimate = estimateReliability({
      classes: ab,
      answers: sim.answers,
      gold: new Map(),
      prior,
      maxIterations: 1,
    });
    expect(estimate).toMatchObject({ iterations: 1, converged: false });
  });
});

describe('weightedConsensus', () => {
  const three = ['a', 'b', 'c'];
  const sim = simulate({
    seed: 4,
    items: 600,
    gold: 30,
    classes: three,
    weights: [1 / 3, 1 / 3, 1 / 3],
    reviewers: { trusted: (t) => t, other1: symmetric(three, 0.05), other2: symmetric(three, 0.05) },
  });
  const estimate = estimateReliability({ classes: three, answers: sim.answers, gold: sim.gold, prior });
  const base = { required: 1, needed: 1, maxExtraRounds: 2, confidence: 0.99, estimate, prior };

  it('lets one trusted answer decide, and an unknown reviewer needs a second', () => {
    expect(reviewer(estimate, 'trusted').accuracy).toBeGreaterThan(0.995);
    expect(weightedConsensus({ ...base, answers: [{ reviewerId: 'trusted', label: 'b' }] })).toMatchObject({
      kind: 'decided',
      label: 'b',
      voters: ['trusted'],
    });
    // Unknown reviewers get the prior (0.9): one answer gives 0.9, two agreeing 0.81 / 0.815.
    expect(weightedConsensus({ ...base, answers: [{ reviewerId: 'new1', label: 'b' }] })).toEqual({
      kind: 'pending',
      needed: 2,
    });
    const two = [
      { reviewerId: 'new1', label: 'b' },
      { reviewerId: 'new2', label: 'b' },
    ];
    const decided = weightedConsensus({ ...base, needed: 2, answers: two });
    expect(decided).toMatchObject({ kind: 'decided', label: 'b', voters: ['new1', 'new2'] });
    expect(decided.kind === 'decided' && decided.posterior).toBeCloseTo(0.81 / 0.815, 2);
    // The same reviewer twice is one answer.
    expect(labelPosterior([two[0]!, two[0]!], estimate, prior).b).toBeCloseTo(0.9, 2);
    // Not before `required` answers are in, however sure.
    expect(
      weightedConsensus({
        ...base,
        required: 2,
        needed: 2,
        answers: [{ reviewerId: 'trusted', label: 'b' }],
      }),
    ).toEqual({ kind: 'pending', needed: 2 });
  });

  it('asks for more reviewers while split, then escalates after maxExtraRounds', () => {
    const answers = [
      { reviewerId: 'new1', label: 'a' },
      { reviewerId: 'new2', label: 'b' },
      { reviewerId: 'new3', label: 'c' },
      { reviewerId: 'new4', label: 'a' },
    ];
    const at = (n: number, needed: number) =>
      weightedConsensus({ ...base, required: 2, needed, answers: answers.slice(0, n) });
    expect(at(2, 2)).toEqual({ kind: 'pending', needed: 3 });
    expect(at(3, 3)).toEqual({ kind: 'pending', needed: 4 });
    expect(at(4, 4)).toEqual({ kind: 'escalated' });
    expect(
      weightedConsensus({ ...base, required: 2, needed: 2, maxExtraRounds: 0, answers: answers.slice(0, 2) }),
    ).toEqual({ kind: 'escalated' });
  });

  it('does not let one answer decide on a stream with no estimate yet', () => {
    const none = { classes: [], classPrior: {}, reviewers: [] };
    const one = [{ reviewerId: 'new1', label: 'ham' }];
    // The task's classes stand in for the stream's: one answer at the prior is 0.9 sure.
    expect(labelPosterior(one, none, prior, ['ham', 'spam']).ham).toBeCloseTo(0.9, 6);
    // Without them, an unnamed other class keeps it from being certain.
    expect(labelPosterior(one, none, prior).ham).toBeCloseTo(0.9, 6);
    expect(
      weightedConsensus({
        answers: one,
        required: 1,
        needed: 1,
        maxExtraRounds: 1,
        confidence: 0.95,
        estimate: none,
        prior,
        classes: ['ham', 'spam'],
      }),
    ).toEqual({ kind: 'pending', needed: 2 });
  });

  it('takes an item prior in place of the class prior, floored so answers can always win', () => {
    const none = { classes: [], classPrior: {}, reviewers: [] };
    const one = [{ reviewerId: 'new1', label: 'ham' }];
    // The model leans to ham at 0.9, a reviewer at the prior (0.9) says ham: 0.81 / 0.82.
    const leaning = labelPosterior(one, none, prior, ['ham', 'spam'], { ham: 0.9, spam: 0.1 });
    expect(leaning.ham).toBeCloseTo(0.81 / 0.82, 6);
    // A model sure of spam is floored at 0.01 for ham: two reviewers saying ham still win.
    const two = [...one, { reviewerId: 'new2', label: 'ham' }];
    const sure = labelPosterior(two, none, prior, ['ham', 'spam'], { ham: 0, spam: 1 });
    expect(sure.ham).toBeCloseTo((0.01 * 0.81) / (0.01 * 0.81 + 1 * 0.01), 6);
    expect(
      weightedConsensus({
        answers: one,
        required: 1,
        needed: 1,
        maxExtraRounds: 1,
        confidence: 0.95,
        estimate: none,
        prior,
        classes: ['ham', 'spam'],
        itemPrior: { ham: 0.9, spam: 0.1 },
      }),
    ).toMatchObject({ kind: 'decided', label: 'ham' });
  });

  it('weighs an unexpected label without favouring it', () => {
    const posterior = labelPosterior([{ reviewerId: 'new1', label: 'zzz' }], estimate, prior);
    expect(Object.keys(posterior)).toEqual(['a', 'b', 'c', 'zzz']);
    expect(Object.values(posterior).reduce((s, p) => s + p, 0)).toBeCloseTo(1, 12);
    expect(posterior.zzz).toBeGreaterThan(0.8);
  });
});

describe('bad inputs', () => {
  const base = { classes: ab, answers: [], gold: new Map<string, string>(), prior };
  const consensusBase = { answers: [], required: 1, needed: 1, maxExtraRounds: 1, confidence: 0.9, prior };
  const estimate = estimateReliability(base);

  it.each([
    ['accuracy NaN', { ...base, prior: { accuracy: NaN, strength: 4 } }],
    ['accuracy 0', { ...base, prior: { accuracy: 0, strength: 4 } }],
    ['accuracy 1', { ...base, prior: { accuracy: 1, strength: 4 } }],
    ['strength -1', { ...base, prior: { accuracy: 0.9, strength: -1 } }],
    ['strength NaN', { ...base, prior: { accuracy: 0.9, strength: NaN } }],
    ['maxIterations NaN', { ...base, maxIterations: NaN }],
    ['maxIterations 0', { ...base, maxIterations: 0 }],
    ['tolerance NaN', { ...base, tolerance: NaN }],
  ])('estimateReliability rejects %s', (_, input) => {
    expect(() => estimateReliability(input)).toThrow(RangeError);
  });

  it.each([
    ['confidence 0', { confidence: 0 }],
    ['confidence 1.5', { confidence: 1.5 }],
    ['confidence NaN', { confidence: NaN }],
    ['required NaN', { required: NaN }],
    ['needed NaN', { needed: NaN }],
    ['maxExtraRounds NaN', { maxExtraRounds: NaN }],
    ['prior accuracy 2', { prior: { accuracy: 2, strength: 1 } }],
  ])('weightedConsensus rejects %s', (_, change) => {
    expect(() => weightedConsensus({ ...consensusBase, estimate, ...change })).toThrow(RangeError);
  });

  it('names the problem', () => {
    expect(() => estimateReliability({ ...base, prior: { accuracy: 1.2, strength: 4 } })).toThrow(
      'prior.accuracy must be in (0, 1), got 1.2',
    );
    expect(() => labelPosterior([], estimate, { accuracy: 0.9, strength: NaN })).toThrow(/prior.strength/);
    expect(weightedConsensus({ ...consensusBase, estimate, confidence: 1 })).toEqual({
      kind: 'pending',
      needed: 1,
    });
  });
});
