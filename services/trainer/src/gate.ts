// The promotion gate: is a candidate better than the champion on the held-out human labels? Pure.
//
// It weighs evidence instead of comparing figures with fixed margins, because evaluation splits are
// small: with 13 examples of a class, one example moves its recall by 0.077, and a recall tolerance
// of 0.05 once rejected a candidate 0.07 higher in macro-F1 over that one example. Both models score
// the same examples, so the comparison is paired: b examples the candidate gets right and the
// champion wrong, c the reverse (McNemar's discordant pairs). With significance level alpha
// (GATE_ALPHA), in this order:
//   1. fewer than minEvalExamples evaluation examples: reject;
//   2. a first version (no champion) is promoted only when its accuracy is significantly above the
//      majority class's share, the accuracy of a constant answer: P(X >= right | n, share) < alpha;
//   3. reject when the candidate is significantly worse overall: McNemar's exact one-sided test,
//      P(X >= c | n = b + c, 1/2) < alpha;
//   4. reject when it is significantly worse on a class: the same test on the examples of that
//      class (so a recall comparison), Holm-corrected over the classes tested. With k differing
//      examples the smallest p is 0.5^k: a class where that is not below alpha could never be
//      significant, so it is not tested (it would only make the correction stricter for the
//      others) and the reason names it as unguarded;
//   5. promote when its macro-F1 is at least the champion's (better in point estimate);
//   6. promote when the overall difference is one example at most (|c − b| <= 1): one example
//      never decides alone, and the candidate, trained on more labels, wins the tie;
//   7. otherwise reject: lower macro-F1 and more than one example apart, though not significantly.
// A paired bootstrap 95% interval of the macro-F1 difference is reported with the figures; it does
// not decide. Its generator is seeded, so the same examples always give the same interval.
import type { Evaluation } from '@hitl/model';
import { mulberry32 } from '@hitl/model/random';
import { binomialTail } from '@hitl/policy';

export interface GateOptions {
  /** Significance level of the tests (GATE_ALPHA), above 0 and below 1. */
  alpha: number;
  /** Evaluation examples needed before any version is promoted. */
  minEvalExamples: number;
}

/** One evaluation example: its human label and what each model predicted for it. */
export interface GateExample {
  truth: string;
  candidate: string;
  /** Null before the first promotion. */
  champion: string | null;
}

export interface GateInput {
  /** The candidate on the evaluation split. */
  candidate: Evaluation;
  /** The promoted version on the same examples and classes, or null before the first promotion. */
  champion: { version: number; evaluation: Evaluation } | null;
  /** The evaluation examples the two evaluations were computed from, in any order. */
  examples: readonly GateExample[];
}

/** Which step of the rule decided. */
export type GateRule =
  | 'too_few_examples'
  | 'baseline'
  | 'worse_overall'
  | 'worse_on_class'
  | 'macro_f1_not_lower'
  | 'one_example_tie'
  | 'worse_in_point_estimate';

/** The first version against a constant answer of the commonest label. */
export interface BaselineTest {
  label: string;
  share: number;
  examples: number;
  correct: number;
  /** One-sided exact binomial p-value that the version is no better than the share. */
  pNotBetter: number;
}

/** McNemar's exact test restricted to the evaluation examples of one class: a recall comparison. */
export interface ClassTest {
  label: string;
  examples: number;
  candidateRecall: number;
  championRecall: number;
  /** Examples of the class the candidate gets right and the champion wrong. */
  discordantCandidate: number;
  /** Examples of the class the champion gets right and the candidate wrong. */
  discordantChampion: number;
  /** One-sided exact p-value that the candidate's recall is worse, before correction. */
  pWorse: number;
  /** Holm-adjusted p-value; null when the class has too few differing examples to be tested. */
  pAdjusted: number | null;
  significant: boolean;
}

export interface MacroF1Interval {
  /** Candidate minus champion on the evaluation split. */
  estimate: number;
  low: number;
  high: number;
  level: number;
  resamples: number;
  seed: number;
}

export interface ChampionComparison {
  version: number;
  candidateMacroF1: number;
  championMacroF1: number;
  /** b: examples the candidate gets right and the champion wrong. */
  discordantCandidate: number;
  /** c: examples the champion gets right and the candidate wrong. */
  discordantChampion: number;
  /** McNemar's exact one-sided p-value that the candidate is worse: P(X >= c | b + c, 1/2). */
  pWorse: number;
  macroF1Difference: MacroF1Interval;
  /** Every class with evaluation examples, tested or not. */
  classes: ClassTest[];
}

export interface GateDecision {
  promote: boolean;
  rule: GateRule;
  /** One sentence with the figures, for the model.promoted / model.rejected record and the run. */
  reason: string;
  alpha: number;
  /** The first version's test; null otherwise. */
  baseline: BaselineTest | null;
  /** The paired comparison with the champion; null for a first version or too small a split. */
  comparison: ChampionComparison | null;
}

/** Resamples of the paired bootstrap, and its fixed seed: the same inputs give the same interval. */
export const BOOTSTRAP_RESAMPLES = 1_000;
export const BOOTSTRAP_SEED = 20_240_601;

// Figures are compared after rounding away float noise, so equal macro-F1s count as equal.
const EPSILON = 1e-9;
// Labels in the reason are cut and listed a few at a time: the reason goes into a record whose
// schema allows 2,000 characters, and the promotion fails rather than send a longer one.
const LABEL_CHARS = 40;
const LABELS_LISTED = 3;

const fixed3 = (n: number) => n.toFixed(3);
const signed3 = (n: number) => `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(3)}`;
const pValue = (p: number) => (p >= 0.001 ? p.toFixed(3) : p.toExponential(1));
const quoted = (label: string) =>
  `"${label.length > LABEL_CHARS ? `${label.slice(0, LABEL_CHARS - 1)}…` : label}"`;

function listed(labels: readonly string[]): string {
  const shown = labels.slice(0, LABELS_LISTED).map(quoted).join(', ');
  return labels.length > LABELS_LISTED ? `${shown} and ${labels.length - LABELS_LISTED} more` : shown;
}

/**
 * Macro-F1 over the classes the evaluation examples hold. A class with no evaluation example
 * (one only the training split has, or the champion's that nobody labels any more) would add an F1
 * of 0 to both models and only shrink the difference between them.
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

/** The label each probability row predicts: the first of the highest, as @hitl/model's evaluate. */
export function predictedLabels(classes: readonly string[], rows: readonly (readonly number[])[]): string[] {
  return rows.map((row, i) => {
    if (row.length !== classes.length) {
      throw new RangeError(`row ${i} has ${row.length} probabilities for ${classes.length} classes`);
    }
    let best = 0;
    for (let c = 1; c < row.length; c++) if (row[c]! > row[best]!) best = c;
    return classes[best]!;
  });
}

/** McNemar's exact one-sided p-value that the candidate is worse: P(X >= c | n = b + c, 1/2). */
export function mcNemarWorse(discordantCandidate: number, discordantChampion: number): number {
  return binomialTail(discordantChampion, discordantCandidate + discordantChampion, 0.5);
}

/** Holm's step-down adjustment of p-values (same order out as in). */
export function holmAdjusted(pValues: readonly number[]): number[] {
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const adjusted = new Array<number>(pValues.length);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (pValues.length - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

/**
 * Macro-F1 of both models (over the classes present) from how often each pattern of (true label,
 * candidate's label, champion's label) occurs: a resample only changes those counts.
 */
function macroF1Pair(
  patterns: readonly { truth: number; candidate: number; champion: number }[],
  weights: ArrayLike<number>,
  classCount: number,
): { candidate: number; champion: number } {
  const support = new Float64Array(classCount);
  const byCandidate = new Float64Array(classCount);
  const byChampion = new Float64Array(classCount);
  const rightCandidate = new Float64Array(classCount);
  const rightChampion = new Float64Array(classCount);
  patterns.forEach(({ truth, candidate, champion }, p) => {
    const w = weights[p]!;
    support[truth]! += w;
    byCandidate[candidate]! += w;
    byChampion[champion]! += w;
    if (candidate === truth) rightCandidate[truth]! += w;
    if (champion === truth) rightChampion[truth]! += w;
  });
  let candidateSum = 0;
  let championSum = 0;
  let present = 0;
  for (let k = 0; k < classCount; k++) {
    if (support[k] === 0) continue;
    present++;
    // F1 = 2PR / (P + R) = 2 right / (support + predicted), and 0 when nothing is right.
    candidateSum += (2 * rightCandidate[k]!) / (support[k]! + byCandidate[k]!);
    championSum += (2 * rightChampion[k]!) / (support[k]! + byChampion[k]!);
  }
  return present === 0
    ? { candidate: 0, champion: 0 }
    : { candidate: candidateSum / present, champion: championSum / present };
}

/**
 * Paired bootstrap interval of macro-F1(candidate) − macro-F1(champion): both models are scored on
 * the same resampled examples, so what the examples share does not widen the interval. A resample
 * is counted by pattern of (true label, candidate's, champion's), of which there are few.
 */
export function bootstrapMacroF1Difference(
  examples: readonly { truth: string; candidate: string; champion: string }[],
  { resamples = BOOTSTRAP_RESAMPLES, seed = BOOTSTRAP_SEED, level = 0.95 } = {},
): MacroF1Interval {
  const codes = new Map<string, number>();
  const code = (label: string) => {
    if (!codes.has(label)) codes.set(label, codes.size);
    return codes.get(label)!;
  };
  const patternIndex = new Map<string, number>();
  const patterns: { truth: number; candidate: number; champion: number }[] = [];
  const patternOf = Int32Array.from(examples, (e) => {
    const pattern = { truth: code(e.truth), candidate: code(e.candidate), champion: code(e.champion) };
    const key = `${pattern.truth} ${pattern.candidate} ${pattern.champion}`;
    if (!patternIndex.has(key)) {
      patternIndex.set(key, patterns.length);
      patterns.push(pattern);
    }
    return patternIndex.get(key)!;
  });
  const n = examples.length;
  const observed = new Float64Array(patterns.length);
  for (const p of patternOf) observed[p]!++;
  const point = macroF1Pair(patterns, observed, codes.size);
  const estimate = point.candidate - point.champion;
  if (n === 0) return { estimate, low: estimate, high: estimate, level, resamples: 0, seed };
  const random = mulberry32(seed);
  const drawn = new Float64Array(patterns.length);
  const differences = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    drawn.fill(0);
    for (let j = 0; j < n; j++) drawn[patternOf[Math.floor(random() * n)]!]!++;
    const f1 = macroF1Pair(patterns, drawn, codes.size);
    differences[r] = f1.candidate - f1.champion;
  }
  differences.sort();
  const tail = (1 - level) / 2;
  return {
    estimate,
    low: differences[Math.floor(tail * resamples)]!,
    high: differences[Math.max(0, Math.ceil((1 - tail) * resamples) - 1)]!,
    level,
    resamples,
    seed,
  };
}

/**
 * The decision's figures as the flat, finite numbers hitl.models.v1 records carry. Per-class tests
 * stay in the model card: a metric name holding a label could pass the schema's 200 characters.
 */
export function gateMetrics(decision: GateDecision): Record<string, number> {
  const { baseline, comparison } = decision;
  const metrics: Record<string, number> = { 'gate.alpha': decision.alpha };
  if (baseline) metrics['gate.pNotBetterThanBaseline'] = baseline.pNotBetter;
  if (comparison) {
    const tested = comparison.classes.filter((t) => t.pAdjusted !== null);
    Object.assign(metrics, {
      'gate.discordantCandidate': comparison.discordantCandidate,
      'gate.discordantChampion': comparison.discordantChampion,
      'gate.pWorse': comparison.pWorse,
      'gate.macroF1Diff': comparison.macroF1Difference.estimate,
      'gate.macroF1DiffLow': comparison.macroF1Difference.low,
      'gate.macroF1DiffHigh': comparison.macroF1Difference.high,
      'gate.classesTested': tested.length,
      'gate.classesWorse': tested.filter((t) => t.significant).length,
    });
    if (tested.length > 0) {
      metrics['gate.classPWorseMin'] = Math.min(...tested.map((t) => t.pAdjusted!));
    }
  }
  return metrics;
}

export function promotionDecision(input: GateInput, options: GateOptions): GateDecision {
  const { candidate, champion, examples } = input;
  const { alpha } = options;
  const n = candidate.examples;
  if (examples.length !== n) {
    throw new RangeError(`${examples.length} gate examples for an evaluation of ${n}`);
  }
  const decided = (
    promote: boolean,
    rule: GateRule,
    reason: string,
    figures: Pick<GateDecision, 'baseline' | 'comparison'> = { baseline: null, comparison: null },
  ): GateDecision => ({ promote, rule, reason, alpha, ...figures });

  if (n < options.minEvalExamples) {
    return decided(
      false,
      'too_few_examples',
      `the evaluation split has ${n} examples; promotion needs at least ${options.minEvalExamples}`,
    );
  }
  if (!champion) {
    const { label, share } = majorityBaseline(candidate);
    const correct = examples.filter((e) => e.candidate === e.truth).length;
    const pNotBetter = binomialTail(correct, n, share);
    const beats = pNotBetter < alpha;
    const figures = `on ${n} evaluation examples (${correct} right; binomial p = ${pValue(pNotBetter)} for no better, alpha ${alpha})`;
    return decided(
      beats,
      'baseline',
      beats
        ? `first version: accuracy ${fixed3(candidate.accuracy)} beats the majority-class baseline ${fixed3(share)} (${quoted(label)}) ${figures}`
        : `first version: accuracy ${fixed3(candidate.accuracy)} does not beat the majority-class baseline ${fixed3(share)} (${quoted(label)}) significantly ${figures}`,
      { baseline: { label, share, examples: n, correct, pNotBetter }, comparison: null },
    );
  }

  const paired = examples.map(({ truth, candidate: byCandidate, champion: byChampion }, i) => {
    if (byChampion === null) throw new RangeError(`gate example ${i} has no champion prediction`);
    return { truth, candidate: byCandidate, champion: byChampion };
  });
  const discordant = (of: typeof paired) => ({
    b: of.filter((e) => e.candidate === e.truth && e.champion !== e.truth).length,
    c: of.filter((e) => e.champion === e.truth && e.candidate !== e.truth).length,
  });
  const { b, c } = discordant(paired);
  const pWorse = mcNemarWorse(b, c);

  const classes = Object.entries(candidate.perClass)
    .filter(([, m]) => m.support > 0)
    .map(([label, m]) => {
      const counts = discordant(paired.filter((e) => e.truth === label));
      return {
        label,
        examples: m.support,
        candidateRecall: m.recall,
        championRecall: champion.evaluation.perClass[label]?.recall ?? 0,
        discordantCandidate: counts.b,
        discordantChampion: counts.c,
        pWorse: mcNemarWorse(counts.b, counts.c),
        // 0.5^k, the smallest p-value k differing examples can give.
        testable: 0.5 ** (counts.b + counts.c) < alpha,
      };
    });
  const tested = classes.filter((t) => t.testable);
  const adjusted = new Map(
    holmAdjusted(tested.map((t) => t.pWorse)).map((p, i) => [tested[i]!.label, p] as const),
  );
  const classTests: ClassTest[] = classes.map(({ testable: _, ...t }) => {
    const pAdjusted = adjusted.get(t.label) ?? null;
    return { ...t, pAdjusted, significant: pAdjusted !== null && pAdjusted < alpha };
  });
  const worseClasses = classTests.filter((t) => t.significant);
  const untested = classTests.filter((t) => t.pAdjusted === null).map((t) => t.label);

  const candidateF1 = macroF1(candidate);
  const championF1 = macroF1(champion.evaluation);
  const interval = bootstrapMacroF1Difference(paired);
  const comparison: ChampionComparison = {
    version: champion.version,
    candidateMacroF1: candidateF1,
    championMacroF1: championF1,
    discordantCandidate: b,
    discordantChampion: c,
    pWorse,
    macroF1Difference: interval,
    classes: classTests,
  };

  const figures =
    `macro-F1 ${fixed3(candidateF1)} vs champion version ${champion.version} ${fixed3(championF1)} ` +
    `on ${n} evaluation examples (95% interval of the difference ${signed3(interval.low)} to ${signed3(interval.high)}); ` +
    `candidate right where the champion was wrong ${b}, the reverse ${c} (McNemar p = ${pValue(pWorse)} for worse)`;
  const unguarded = untested.length === 0 ? '' : `; too few differing examples to test ${listed(untested)}`;
  const worseFigures = (t: ClassTest) =>
    `${quoted(t.label)} (recall ${fixed3(t.championRecall)} → ${fixed3(t.candidateRecall)}, ` +
    `right ${t.discordantCandidate} vs ${t.discordantChampion} where they differ, Holm p = ${pValue(t.pAdjusted!)})`;
  const moreWorse = worseClasses.length - LABELS_LISTED;
  const classClause =
    worseClasses.length > 0
      ? `significantly worse on ${worseClasses.slice(0, LABELS_LISTED).map(worseFigures).join(', ')}` +
        (moreWorse > 0 ? ` and ${moreWorse} more classes` : '')
      : `no class significantly worse (${tested.length} of ${classTests.length} classes tested, Holm${unguarded})`;
  const says = (verdict: string) => `${figures}; ${classClause}; ${verdict}`;
  const decide = (promote: boolean, rule: GateRule, verdict: string) =>
    decided(promote, rule, says(verdict), { baseline: null, comparison });

  if (pWorse < alpha) {
    return decide(false, 'worse_overall', `rejected: significantly worse overall at alpha ${alpha}`);
  }
  if (worseClasses.length > 0) {
    return decide(
      false,
      'worse_on_class',
      `rejected: significantly worse on ${listed(worseClasses.map((t) => t.label))} at alpha ${alpha}`,
    );
  }
  if (candidateF1 + EPSILON >= championF1) {
    return decide(true, 'macro_f1_not_lower', `promoted: macro-F1 at least the champion's`);
  }
  if (Math.abs(c - b) <= 1) {
    return decide(
      true,
      'one_example_tie',
      `promoted: macro-F1 lower but the models differ by ${Math.abs(c - b)} example${Math.abs(c - b) === 1 ? '' : 's'} overall, and a tie goes to the candidate, trained on more labels`,
    );
  }
  return decide(
    false,
    'worse_in_point_estimate',
    `rejected: macro-F1 lower and ${c > b ? `${c - b} more examples wrong` : `the models more than one example apart`}, though not significantly worse`,
  );
}
