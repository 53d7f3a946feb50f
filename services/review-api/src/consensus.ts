// When do the answers to a task make a decision? Pure, so the rules are tested on their own.

export interface Answer {
  reviewerId: string;
  label: string;
}

export type Consensus =
  | { kind: 'decided'; label: string; voters: string[] }
  | { kind: 'pending'; needed: number }
  | { kind: 'escalated' };

export interface ConsensusInput {
  answers: readonly Answer[];
  /** Answers the policy asks for. */
  required: number;
  /** Answers needed now: required plus one per round that ended split. */
  needed: number;
  /** Extra reviewers a split task may get before it goes to an admin. */
  maxExtraRounds: number;
}

/**
 * A label wins when more than half of the needed answers agree on it (so two of three decide
 * without waiting for the third). When all needed answers are in without a winner — a tie or a
 * split — one more reviewer is needed; after maxExtraRounds such rounds the task is escalated.
 */
export function consensus({ answers, required, needed, maxExtraRounds }: ConsensusInput): Consensus {
  const votes = new Map<string, string[]>();
  for (const a of answers) votes.set(a.label, [...(votes.get(a.label) ?? []), a.reviewerId]);
  let best: [string, string[]] | undefined;
  for (const entry of votes) if (!best || entry[1].length > best[1].length) best = entry;
  if (best && best[1].length > needed / 2) return { kind: 'decided', label: best[0], voters: best[1] };
  if (answers.length < needed) return { kind: 'pending', needed };
  if (needed - required >= maxExtraRounds) return { kind: 'escalated' };
  return { kind: 'pending', needed: needed + 1 };
}

/** Cohen's kappa of two raters over the items both labelled (NaN when undefined). */
export function cohensKappa(pairs: readonly (readonly [string, string])[]): number {
  const n = pairs.length;
  if (n === 0) return NaN;
  const a = new Map<string, number>();
  const b = new Map<string, number>();
  let agree = 0;
  for (const [x, y] of pairs) {
    if (x === y) agree++;
    a.set(x, (a.get(x) ?? 0) + 1);
    b.set(y, (b.get(y) ?? 0) + 1);
  }
  const observed = agree / n;
  let expected = 0;
  for (const [label, count] of a) expected += (count / n) * ((b.get(label) ?? 0) / n);
  return expected === 1 ? NaN : (observed - expected) / (1 - expected);
}

/**
 * Fleiss' kappa over items rated by two or more raters each (any number per item): agreement
 * beyond chance among many raters. NaN when there are no such items or chance agreement is 1.
 */
export function fleissKappa(items: readonly (readonly string[])[]): number {
  const rated = items.filter((labels) => labels.length >= 2);
  if (rated.length === 0) return NaN;
  const totals = new Map<string, number>();
  let totalRatings = 0;
  let sumP = 0;
  for (const labels of rated) {
    const n = labels.length;
    const counts = new Map<string, number>();
    for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    let pairs = 0;
    for (const [label, c] of counts) {
      pairs += c * (c - 1);
      totals.set(label, (totals.get(label) ?? 0) + c);
    }
    sumP += pairs / (n * (n - 1));
    totalRatings += n;
  }
  const pBar = sumP / rated.length;
  let pe = 0;
  for (const c of totals.values()) pe += (c / totalRatings) ** 2;
  return pe === 1 ? NaN : (pBar - pe) / (1 - pe);
}
