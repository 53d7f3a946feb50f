// The promotion gate: does a candidate beat the champion on the held-out human labels? Pure.
import type { Evaluation } from '@hitl/model';

export interface GateOptions {
  /** How much higher the candidate's macro-F1 must be than the champion's. */
  promoteMargin: number;
  /** How far any class's recall may fall below the champion's. */
  recallTolerance: number;
  /** Evaluation examples needed before any version is promoted. */
  minEvalExamples: number;
}

export interface GateInput {
  /** The candidate on the evaluation split. */
  candidate: Evaluation;
  /** The promoted version on the same examples and classes, or null before the first promotion. */
  champion: { version: number; evaluation: Evaluation } | null;
}

export interface GateDecision {
  promote: boolean;
  /** One sentence, for the model.promoted / model.rejected record and the training run. */
  reason: string;
  /** Classes whose recall fell by more than the tolerance. */
  recallDrops: { label: string; champion: number; candidate: number }[];
}

// Figures are compared after rounding away float noise, so 0.905 − 0.9 counts as 0.005.
const EPSILON = 1e-9;

const f3 = (n: number) => n.toFixed(3);

/**
 * Macro-F1 over the classes the evaluation examples hold. A class with no evaluation example
 * (one only the training split has, or the champion's that nobody labels any more) would add an F1
 * of 0 to both models and only shrink the difference the margin is measured against.
 */
export function macroF1(evaluation: Evaluation): number {
  const present = Object.values(evaluation.perClass).filter((c) => c.support > 0);
  return present.length === 0 ? 0 : present.reduce((sum, c) => sum + c.f1, 0) / present.length;
}

/** The commonest label of the evaluation split and its share: the accuracy a constant model gets. */
export function majorityBaseline(evaluation: Evaluation): { label: string; share: number } {
  let label = '';
  let support = -1;
  for (const [c, m] of Object.entries(evaluation.perClass)) {
    if (m.support > support) [label, support] = [c, m.support];
  }
  return { label, share: evaluation.examples === 0 ? 0 : Math.max(0, support) / evaluation.examples };
}

/**
 * Probability rows of a model with classes `from`, as columns of `to` (a superset): the classes the
 * model does not know get 0, so examples labelled with them count as its errors.
 */
export function alignProbabilities(
  from: readonly string[],
  to: readonly string[],
  rows: readonly (readonly number[])[],
): number[][] {
  const index = new Map(from.map((c, i) => [c, i]));
  const missing = from.filter((c) => !to.includes(c));
  if (missing.length > 0) throw new RangeError(`classes ${missing.join(', ')} are not among the targets`);
  return rows.map((row) => to.map((c) => (index.has(c) ? row[index.get(c)!]! : 0)));
}

export function promotionDecision(input: GateInput, options: GateOptions): GateDecision {
  const { candidate, champion } = input;
  const n = candidate.examples;
  if (n < options.minEvalExamples) {
    return {
      promote: false,
      reason: `the evaluation split has ${n} examples; promotion needs at least ${options.minEvalExamples}`,
      recallDrops: [],
    };
  }
  if (!champion) {
    const baseline = majorityBaseline(candidate);
    const beats = candidate.accuracy > baseline.share + EPSILON;
    return {
      promote: beats,
      reason: beats
        ? `first version: accuracy ${f3(candidate.accuracy)} beats the majority-class baseline ${f3(baseline.share)} ("${baseline.label}") on ${n} evaluation examples`
        : `first version: accuracy ${f3(candidate.accuracy)} does not beat the majority-class baseline ${f3(baseline.share)} ("${baseline.label}") on ${n} evaluation examples`,
      recallDrops: [],
    };
  }
  const candidateF1 = macroF1(candidate);
  const championF1 = macroF1(champion.evaluation);
  const gain = candidateF1 - championF1;
  const recallDrops = Object.entries(candidate.perClass)
    .filter(([, m]) => m.support > 0)
    .map(([label, m]) => ({
      label,
      champion: champion.evaluation.perClass[label]?.recall ?? 0,
      candidate: m.recall,
    }))
    .filter((d) => d.champion - d.candidate > options.recallTolerance + EPSILON);
  const versus = `macro-F1 ${f3(candidateF1)} vs champion version ${champion.version} ${f3(championF1)} on ${n} evaluation examples`;
  if (gain + EPSILON < options.promoteMargin) {
    return {
      promote: false,
      reason: `${versus}: not better by the margin ${options.promoteMargin}`,
      recallDrops,
    };
  }
  if (recallDrops.length > 0) {
    const drops = recallDrops.map((d) => `"${d.label}" ${f3(d.champion)} → ${f3(d.candidate)}`).join(', ');
    return {
      promote: false,
      reason: `${versus}, but recall falls by more than ${options.recallTolerance}: ${drops}`,
      recallDrops,
    };
  }
  return {
    promote: true,
    reason: `${versus}: better by ${f3(gain)} (margin ${options.promoteMargin}), no class recall down by more than ${options.recallTolerance}`,
    recallDrops,
  };
}
