// How reliable is each reviewer? Dawid–Skene (1979) EM over their answers, with a Dirichlet prior on
// every confusion row so a new reviewer starts at the prior and evidence moves them away from it;
// the estimates then weigh answers into a consensus. Pure, so the statistics are tested on their own.
//
// Cost: O(iterations × answers × K) time and O(items × K + reviewers × K²) memory for K classes.
// Nothing here bounds the answers: the caller does (a window of recent tasks, say).

import { type Consensus } from './consensus';

export interface ReliabilityAnswer {
  itemId: string;
  reviewerId: string;
  label: string;
}

export interface ReliabilityPrior {
  /** A reviewer's accuracy before any evidence, e.g. 0.9. */
  accuracy: number;
  /** How many answers that prior weighs, per true class row, e.g. 4. */
  strength: number;
}

export interface ReviewerEstimate {
  reviewerId: string;
  /** Answers that counted (on gold items or items with two or more answers). */
  answers: number;
  goldAnswers: number;
  goldCorrect: number;
  /** Expected share of right answers: sum over true classes of P(class | the items they answered) x confusion[class][class]; the prior's accuracy when they have no counted answers. */
  accuracy: number;
  /** confusion[trueLabel][answeredLabel] = probability; each row sums to 1. */
  confusion: Record<string, Record<string, number>>;
}

export interface ReliabilityEstimate {
  classes: string[];
  classPrior: Record<string, number>;
  /** Sorted by reviewerId. */
  reviewers: ReviewerEstimate[];
  /** Items that counted. */
  items: number;
  iterations: number;
  converged: boolean;
  /** P(true label | answers) of each counted item; gold items are one-hot on their label. */
  itemPosteriors: Record<string, Record<string, number>>;
}

export interface ReliabilityInput {
  /** Labels not in here that answers (or gold items with answers) use are added, sorted, after these. */
  classes: readonly string[];
  answers: readonly ReliabilityAnswer[];
  /** itemId -> known true label: these items are clamped to it. */
  gold: ReadonlyMap<string, string>;
  prior: ReliabilityPrior;
  /** Reviewers to report even when they have no answers yet (they get the prior). */
  reviewerIds?: readonly string[];
  /** Default 100. */
  maxIterations?: number;
  /** Stop when no probability changed by this much in an iteration. Default 1e-6. */
  tolerance?: number;
}

/** What labelPosterior and weightedConsensus need of an estimate. */
export type ReliabilityModel = Pick<ReliabilityEstimate, 'classes' | 'classPrior'> & {
  reviewers: readonly Pick<ReviewerEstimate, 'reviewerId' | 'confusion'>[];
};

export type WeightedConsensus =
  Exclude<Consensus, { kind: 'decided' }> | (Extract<Consensus, { kind: 'decided' }> & { posterior: number });

/** Smallest probability taken into a log, so an answer the model calls impossible (strength 0) weighs a lot but never makes every class -Infinity. */
const FLOOR = 1e-300;

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

/** Comparisons with NaN are false, so each check also rejects NaN. */
function checkPrior({ accuracy, strength }: ReliabilityPrior): void {
  check(accuracy > 0 && accuracy < 1, `prior.accuracy must be in (0, 1), got ${accuracy}`);
  check(
    Number.isFinite(strength) && strength >= 0,
    `prior.strength must be finite and >= 0, got ${strength}`,
  );
}

/** The prior's confusion: its accuracy on the diagonal, the rest spread evenly; with one class, 1. */
function priorCell(prior: ReliabilityPrior, k: number, diagonal: boolean): number {
  if (k <= 1) return 1;
  return diagonal ? prior.accuracy : (1 - prior.accuracy) / (k - 1);
}

function byKey<T>([a]: [string, T], [b]: [string, T]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Normalise log-probabilities in place (subtracting the max first, so many answers do not underflow). */
function softmax(logp: Float64Array): Float64Array {
  const max = Math.max(...logp);
  let total = 0;
  for (let k = 0; k < logp.length; k++) total += logp[k] = Math.exp(logp[k]! - max);
  for (let k = 0; k < logp.length; k++) logp[k]! /= total;
  return logp;
}

function maxChange(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function record(classes: readonly string[], values: ArrayLike<number>, offset = 0): Record<string, number> {
  return Object.fromEntries(classes.map((c, k) => [c, values[offset + k]!]));
}

/**
 * MAP EM in the manner of Dawid–Skene. Items count when they are gold and answered, or have answers
 * from two or more reviewers: a lone answer says nothing about who gave it and would only pull its
 * reviewer towards agreeing with themself. The first answer per (item, reviewer) counts. Items and
 * reviewers are sorted, so the result does not depend on the order of the answers.
 */
export function estimateReliability(input: ReliabilityInput): ReliabilityEstimate {
  const { answers, gold, prior, maxIterations = 100, tolerance = 1e-6 } = input;
  checkPrior(prior);
  check(
    Number.isInteger(maxIterations) && maxIterations >= 1,
    `maxIterations must be an integer >= 1, got ${maxIterations}`,
  );
  check(tolerance >= 0, `tolerance must be >= 0, got ${tolerance}`);

  const byItem = new Map<string, Map<string, string>>();
  for (const a of answers) {
    const votes = byItem.get(a.itemId) ?? new Map<string, string>();
    byItem.set(a.itemId, votes);
    if (!votes.has(a.reviewerId)) votes.set(a.reviewerId, a.label);
  }
  const classes = [...new Set(input.classes)];
  const added = new Set<string>();
  for (const [itemId, votes] of byItem)
    for (const l of [...votes.values(), gold.get(itemId)]) if (l !== undefined) added.add(l);
  classes.push(...[...added].filter((l) => !classes.includes(l)).sort());
  const K = classes.length;
  const classIndex = new Map(classes.map((c, k) => [c, k]));
  const reviewerIds = [
    ...new Set([...(input.reviewerIds ?? []), ...answers.map((a) => a.reviewerId)]),
  ].sort();
  const reviewerIndex = new Map(reviewerIds.map((r, i) => [r, i]));
  const R = reviewerIds.length;

  const items: { id: string; gold: number; votes: [reviewer: number, label: number][] }[] = [];
  for (const [id, votes] of [...byItem].sort(byKey)) {
    const g = gold.get(id);
    if (g === undefined && votes.size < 2) continue;
    const v = [...votes]
      .sort(byKey)
      .map(([r, l]): [number, number] => [reviewerIndex.get(r)!, classIndex.get(l)!]);
    items.push({ id, gold: g === undefined ? -1 : classIndex.get(g)!, votes: v });
  }
  // Start from the gold label or the share of answers (majority vote).
  const post: Float64Array[] = items.map((it) => {
    const p = new Float64Array(K);
    if (it.gold >= 0) p[it.gold] = 1;
    else for (const [, l] of it.votes) p[l]! += 1 / it.votes.length;
    return p;
  });

  const diag = K > 1 ? prior.strength * prior.accuracy : 0;
  const off = K > 1 ? (prior.strength * (1 - prior.accuracy)) / (K - 1) : 0;
  let pi = new Float64Array(K);
  let conf = new Float64Array(R * K * K); // conf[(r * K + trueClass) * K + answered]
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations && !converged) {
    iterations++;
    // M-step: class prior with add-one smoothing; confusion rows = expected counts + pseudo-counts.
    const nextPi = new Float64Array(K).fill(1);
    const counts = new Float64Array(R * K * K);
    items.forEach((it, i) => {
      const p = post[i]!;
      for (let k = 0; k < K; k++) nextPi[k]! += p[k]!;
      for (const [r, l] of it.votes) for (let k = 0; k < K; k++) counts[(r * K + k) * K + l]! += p[k]!;
    });
    for (let k = 0; k < K; k++) nextPi[k]! /= items.length + K;
    for (let row = 0; row < R * K; row++) {
      let total = 0;
      for (let l = 0; l < K; l++) {
        counts[row * K + l]! += l === row % K ? diag : off;
        total += counts[row * K + l]!;
      }
      for (let l = 0; l < K; l++) {
        const cell = row * K + l;
        counts[cell] = total > 0 ? counts[cell]! / total : priorCell(prior, K, l === row % K);
      }
    }
    let change = Math.max(maxChange(pi, nextPi), maxChange(conf, counts));
    pi = nextPi;
    conf = counts;
    // E-step in log space; gold items stay clamped.
    const logPi = pi.map(Math.log);
    const logConf = conf.map((v) => Math.log(Math.max(v, FLOOR)));
    items.forEach((it, i) => {
      if (it.gold >= 0) return;
      const logp = Float64Array.from(logPi);
      for (const [r, l] of it.votes) for (let k = 0; k < K; k++) logp[k]! += logConf[(r * K + k) * K + l]!;
      const next = softmax(logp);
      change = Math.max(change, maxChange(post[i]!, next));
      post[i] = next;
    });
    converged = change < tolerance;
  }

  // One pass over the answers: per reviewer, counted answers, gold tallies and the class mass seen.
  const tally = reviewerIds.map(() => ({
    counted: 0,
    goldAnswers: 0,
    goldCorrect: 0,
    seen: new Float64Array(K),
  }));
  items.forEach((it, i) => {
    for (const [r, l] of it.votes) {
      const t = tally[r]!;
      t.counted++;
      for (let k = 0; k < K; k++) t.seen[k]! += post[i]![k]!;
      if (it.gold >= 0) t.goldAnswers++;
      if (it.gold === l) t.goldCorrect++;
    }
  });
  const reviewers = reviewerIds.map((reviewerId, r): ReviewerEstimate => {
    const { counted, goldAnswers, goldCorrect, seen } = tally[r]!;
    let accuracy = 0;
    for (let k = 0; k < K; k++) accuracy += (seen[k]! / counted) * conf[(r * K + k) * K + k]!;
    const confusion = Object.fromEntries(classes.map((c, k) => [c, record(classes, conf, (r * K + k) * K)]));
    return {
      reviewerId,
      answers: counted,
      goldAnswers,
      goldCorrect,
      accuracy: counted ? accuracy : prior.accuracy,
      confusion,
    };
  });
  return {
    classes,
    classPrior: record(classes, pi),
    reviewers,
    items: items.length,
    iterations,
    converged,
    itemPosteriors: Object.fromEntries(items.map((it, i) => [it.id, record(classes, post[i]!)])),
  };
}

/** The least prior a class gets from an item's own prior (see labelPosterior). */
export const ITEM_PRIOR_FLOOR = 0.01;

/** The class that stands for "something else" when fewer than two are known; never decided. */
export const OTHER_CLASS = '\u0000other';

/**
 * P(true label | answers), given reviewers' estimates (each reviewer's first answer counts). A
 * reviewer missing from the estimate, or a cell missing from a confusion, takes the prior's
 * symmetric value. Labels the estimate has not seen are added as classes with its smallest class
 * prior, so an unexpected label can still win on the answers but is not favoured. `classes` are
 * the task's own (added the same way): without them, on a stream the estimate has not seen yet,
 * the answered labels would be the only classes, and one answer would be certain. With fewer than
 * two classes known in all, an unnamed other class stands for the rest. `itemPrior`, when given,
 * replaces the class prior for this item (a model's probabilities for it): a class it leaves out,
 * or gives less, is floored at ITEM_PRIOR_FLOOR, so no answers are ever outweighed for certain.
 */
export function labelPosterior(
  answers: readonly { reviewerId: string; label: string }[],
  estimate: ReliabilityModel,
  prior: ReliabilityPrior,
  taskClasses: readonly string[] = [],
  itemPrior?: Readonly<Record<string, number>>,
): Record<string, number> {
  checkPrior(prior);
  const classes = [...new Set([...estimate.classes, ...taskClasses, ...answers.map((a) => a.label)])];
  if (classes.length < 2) classes.push(OTHER_CLASS);
  const K = classes.length;
  const known = estimate.classes.map((c) => estimate.classPrior[c] ?? 0).filter((p) => p > 0);
  const fallback = known.length ? Math.min(...known) : 1;
  const logp = Float64Array.from(classes, (c) =>
    itemPrior
      ? Math.log(Math.max(itemPrior[c] ?? 0, ITEM_PRIOR_FLOOR))
      : Math.log(Math.max(estimate.classPrior[c] ?? fallback, FLOOR)),
  );
  const confusions = new Map(estimate.reviewers.map((r) => [r.reviewerId, r.confusion]));
  const seen = new Set<string>();
  for (const { reviewerId, label } of answers) {
    if (seen.has(reviewerId)) continue;
    seen.add(reviewerId);
    const confusion = confusions.get(reviewerId);
    classes.forEach((c, k) => {
      const p = confusion?.[c]?.[label] ?? priorCell(prior, K, c === label);
      logp[k]! += Math.log(Math.max(p, FLOOR));
    });
  }
  return K ? record(classes, softmax(logp)) : {};
}

export interface WeightedConsensusInput {
  answers: readonly { reviewerId: string; label: string }[];
  /** Answers the policy asks for before anything is decided. */
  required: number;
  /** Answers needed now: required plus one per round that ended undecided. */
  needed: number;
  /** Extra reviewers an undecided task may get before it goes to an admin. */
  maxExtraRounds: number;
  /** Posterior the leading label must reach, in (0, 1]. */
  confidence: number;
  estimate: ReliabilityModel;
  prior: ReliabilityPrior;
  /** The task's classes (see labelPosterior). */
  classes?: readonly string[];
  /** The item's own prior in place of the class prior (see labelPosterior). */
  itemPrior?: Readonly<Record<string, number>>;
}

/**
 * Like consensus(), but answers are weighed by their reviewers' reliability: the leading label is
 * decided when its posterior reaches `confidence` and at least `required` answers are in. A label no
 * one answered is never decided (a wrong-way reviewer can make it lead, but a decision carries its
 * voters): the task waits for another answer instead. When all needed answers are in undecided, one
 * more reviewer is needed; after maxExtraRounds such rounds the task is escalated.
 */
export function weightedConsensus(input: WeightedConsensusInput): WeightedConsensus {
  const { answers, required, needed, maxExtraRounds, confidence, estimate, prior } = input;
  for (const [name, value] of Object.entries({ required, needed, maxExtraRounds }))
    check(value >= 0, `${name} must be a number >= 0, got ${value}`);
  check(confidence > 0 && confidence <= 1, `confidence must be in (0, 1], got ${confidence}`);
  const posterior = labelPosterior(answers, estimate, prior, input.classes, input.itemPrior);
  let best: [string, number] | undefined;
  for (const entry of Object.entries(posterior)) if (!best || entry[1] > best[1]) best = entry;
  const voters = answers.filter((a) => a.label === best?.[0]).map((a) => a.reviewerId);
  if (best && voters.length > 0 && answers.length >= required && best[1] >= confidence)
    return { kind: 'decided', label: best[0], voters, posterior: best[1] };
  if (answers.length < needed) return { kind: 'pending', needed };
  if (needed - required >= maxExtraRounds) return { kind: 'escalated' };
  return { kind: 'pending', needed: needed + 1 };
}
