// The replay's figures: the final summary, the learning curve per window of events, the model's
// accuracy per class against a target, the final model's calibration and risk–coverage on its
// held-out labels, and the report files made from them (SVG charts and a markdown summary). Pure:
// no I/O.
import {
  certifyHeldOut,
  clopperPearsonLower,
  DEFAULT_POLICY_SPEC,
  type CertifiedThresholds,
  type HeldOutDecisions,
} from '@hitl/policy';

export interface DecisionSeen {
  label: string;
  decidedBy: 'model' | 'human';
  /** The model version whose prediction the decision followed or reviewed; null before any model. */
  modelVersion: number | null;
  /** The model's confidence in a decision it made; null for a human decision. */
  confidence: number | null;
  /** A human decision made by the answer to another copy of the same input (its event id). */
  throughGroup?: string;
  /** A model decision that closed a waiting review task once a newer version scored it again. */
  rescored?: true;
}

/** The review queue's depth (tasks requested and not decided) at a moment of the replay. */
export interface QueuePoint {
  seconds: number;
  depth: number;
}

/** One event of the replay, in the order it was produced, with every decision seen for it. */
export interface EventOutcome {
  eventId: string;
  truth: string;
  decisions: DecisionSeen[];
  /**
   * For an event the router sent to people: the model version of the prediction it routed (null:
   * none). A later decision may name a newer version that scored the waiting task again.
   */
  routedWith?: number | null;
}

export interface ReplaySummary {
  /** Events produced. */
  events: number;
  /** Distinct events with a decision. */
  decisions: number;
  /** Events produced that got no decision. */
  missing: number;
  /** Decisions beyond the first for an event. */
  duplicates: number;
  decidedByModel: number;
  decidedByHuman: number;
  /** Of the human decisions, those made by people's answer to another copy of the same input. */
  decidedThroughGroup: number;
  /**
   * Of the model's decisions, those that closed a waiting review task: a version promoted later
   * scored it again and was sure enough.
   */
  decidedByRescore: number;
  /** The most tasks waiting for people at once (sampled every 2 s); null without samples. */
  peakQueueDepth: number | null;
  /** Share of decided events that humans decided. */
  humanShare: number | null;
  /** The same over the last quarter of the stream. */
  humanShareLastQuarter: number | null;
  /** Share of the model's decisions that match the true label; null when it made none. */
  modelAccuracy: number | null;
  modelAccuracyLastQuarter: number | null;
  /** Share of human decisions (the consensus, not single answers) that match the true label. */
  humanAccuracy: number | null;
  /** Share of all decisions that match the true label. */
  overallAccuracy: number | null;
  /** Model versions promoted while the replay ran. */
  modelVersions: number;
  /** The version in force at the end; null when none was ever promoted. */
  finalModelVersion: number | null;
  /**
   * 1-based position in the stream of the first event a model scored (its decision names a model
   * version, whoever decided it); null when no model scored any.
   */
  firstModelAtEvent: number | null;
  /** The accuracy the policy asked of the model's decisions; null when the replay set none. */
  targetAccuracy: number | null;
  /** How sure the certification of the target had to be; null without a target. */
  confidenceLevel: number | null;
  /**
   * With a target: true when every class the model decided at least once has an observed accuracy
   * (of those decisions, by the decided label) at or above it; null without a target. A class the
   * model never decided cannot fail it, since people decided all of it, so a run in which the model
   * decided nothing meets it (decidedByModel says so). It compares the observed share, not a bound:
   * on a few decisions it says little (see the per-class lower bounds).
   */
  targetMet: boolean | null;
  seconds: number;
  /**
   * Human answers to the stream's tasks (not gold) per event humans decided; absent from a summary
   * made without the reviewers' counts, null when humans decided none.
   */
  humanAnswersPerDecidedTask?: number | null;
  /** Escalated tasks the simulated admin answered (its answers count in humanAnswersPerDecidedTask). */
  escalationsAnswered?: number;
  /** Each simulated reviewer: set up, measured, and estimated by the review API. */
  reviewers?: ReviewerSummary[];
  /**
   * A replay of several streams at once (--also): each stream's own figures and learning curve.
   * The figures above are then those of all the streams' events together (modelVersions counts
   * every stream's promotions; finalModelVersion is the first stream's).
   */
  streams?: StreamSummary[];
  /**
   * With several streams: events that a model of another stream scored (a review request's
   * prediction or a decision naming a model that is not its stream's). Should be 0.
   */
  crossStreamScored?: number;
}

/** One stream of a replay of several: what it is, its figures and its learning curve. */
export interface StreamSummary {
  stream: string;
  modelId: string;
  policyName: string;
  classes: string[];
  inputKind: 'text' | 'features';
  featureWidth: number | null;
  events: number;
  decisions: number;
  missing: number;
  duplicates: number;
  decidedByModel: number;
  decidedByHuman: number;
  humanShare: number | null;
  humanShareLastQuarter: number | null;
  modelAccuracy: number | null;
  modelAccuracyLastQuarter: number | null;
  humanAccuracy: number | null;
  overallAccuracy: number | null;
  /** Versions of the stream's model promoted while the replay ran. */
  modelVersions: number;
  finalModelVersion: number | null;
  /** 1-based position in the stream's own events of the first a model scored. */
  firstModelAtEvent: number | null;
  /** Events of this stream that a model of another stream scored; should be 0. */
  crossStreamScored: number;
  /** The models of other streams that did (empty when none). */
  crossStreamModels: string[];
  curve: CurvePoint[];
}

/** A stream's part of the summary, from its own events (in the order sent) and what scored them. */
export function summarizeStream(
  outcomes: readonly EventOutcome[],
  stream: Pick<
    StreamSummary,
    'stream' | 'modelId' | 'policyName' | 'classes' | 'inputKind' | 'featureWidth' | 'modelVersions'
  > & {
    finalModelVersion: number | null;
    /** The models that scored each event (by event id), as the records named them. */
    scoredBy: ReadonlyMap<string, ReadonlySet<string>>;
  },
): StreamSummary {
  const s = summarize(outcomes, {
    seconds: 0,
    modelVersions: stream.modelVersions,
    finalModelVersion: stream.finalModelVersion,
  });
  const foreign = new Set<string>();
  let crossStreamScored = 0;
  for (const o of outcomes) {
    const others = [...(stream.scoredBy.get(o.eventId) ?? [])].filter((m) => m !== stream.modelId);
    if (others.length === 0) continue;
    crossStreamScored++;
    for (const m of others) foreign.add(m);
  }
  return {
    stream: stream.stream,
    modelId: stream.modelId,
    policyName: stream.policyName,
    classes: [...stream.classes],
    inputKind: stream.inputKind,
    featureWidth: stream.featureWidth,
    events: s.events,
    decisions: s.decisions,
    missing: s.missing,
    duplicates: s.duplicates,
    decidedByModel: s.decidedByModel,
    decidedByHuman: s.decidedByHuman,
    humanShare: s.humanShare,
    humanShareLastQuarter: s.humanShareLastQuarter,
    modelAccuracy: s.modelAccuracy,
    modelAccuracyLastQuarter: s.modelAccuracyLastQuarter,
    humanAccuracy: s.humanAccuracy,
    overallAccuracy: s.overallAccuracy,
    modelVersions: s.modelVersions,
    finalModelVersion: s.finalModelVersion,
    firstModelAtEvent: s.firstModelAtEvent,
    crossStreamScored,
    crossStreamModels: [...foreign].sort(),
    curve: learningCurve(outcomes),
  };
}

/** The per-stream section of summary.md: a table of the streams, then each one's learning curve. */
export function streamLines(summary: Pick<ReplaySummary, 'streams' | 'crossStreamScored'>): string[] {
  const streams = summary.streams ?? [];
  if (streams.length === 0) return [];
  return [
    '## Streams',
    '',
    `Events scored by another stream's model: ${summary.crossStreamScored ?? 0}.`,
    '',
    '| stream | model | input | events | decisions | missing | duplicates | sent to humans (last quarter) | model decisions correct (last quarter) | model versions | first event scored by a model | scored by another stream’s model |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...streams.map(
      (st) =>
        `| ${st.stream} | ${st.modelId} | ${st.inputKind === 'text' ? 'text' : `${st.featureWidth} features`}, ${st.classes.length} classes | ${st.events} | ${st.decisions} | ${st.missing} | ${st.duplicates} | ${pct(st.humanShare)} (${pct(st.humanShareLastQuarter)}) | ${pct(st.modelAccuracy, 2)} (${pct(st.modelAccuracyLastQuarter, 2)}) | ${st.modelVersions} (${st.finalModelVersion === null ? 'none' : `v${st.finalModelVersion}`}) | ${st.firstModelAtEvent ?? 'none'} | ${st.crossStreamScored} |`,
    ),
    '',
    ...streams.flatMap((st) => [
      `### Learning curve of ${st.stream}`,
      '',
      '| events | sent to humans | model decisions correct | all decisions correct | model |',
      '| --- | --- | --- | --- | --- |',
      ...st.curve.map(
        (p) =>
          `| ${p.from + 1}–${p.to} | ${pct(p.humanShare)} | ${pct(p.modelAccuracy, 2)} | ${pct(p.overallAccuracy, 2)} | ${p.modelVersion === null ? '–' : `v${p.modelVersion}`} |`,
      ),
      '',
    ]),
  ];
}

/** A simulated reviewer: its set error rate, what it did, and what the review API made of it. */
export interface ReviewerSummary {
  id: string;
  trueErrorRate: number;
  /** Its answers (gold and real) that match the data set's true label; null without answers. */
  trueAccuracy: number | null;
  /** The review API's newest reliability estimate on the replay's stream; null without one. */
  estimatedAccuracy: number | null;
  /** The review API's count of its gold answers, and the share right. */
  goldAnswers: number;
  goldAccuracy: number | null;
  /** Its answers accepted by the review API, gold and real. */
  answers: number;
}

/** What summarizeReviewers needs of a simulated reviewer's counts (reviewers.ts). */
export interface ReviewerTally {
  answered: number;
  wrong: number;
  goldAnswered: number;
  goldWrong: number;
  errorRate: number;
}

/** What summarizeReviewers needs of a reviewer in GET /v1/stats (as an admin sees it). */
export interface ReviewerStatsEntry {
  reviewerId: string;
  goldAnswers: number;
  goldAccuracy: number | null;
  reliability?: { stream: string; accuracy: number }[];
}

/**
 * Each simulated reviewer (ids[i] ran tallies[i]): the truth measured from its answers beside the
 * review API's figures for it (absent from the stats: no gold answers, no estimate).
 */
export function summarizeReviewers(
  ids: readonly string[],
  tallies: readonly ReviewerTally[],
  stats: readonly ReviewerStatsEntry[],
  stream: string,
): ReviewerSummary[] {
  const byId = new Map(stats.map((r) => [r.reviewerId, r]));
  return ids.map((id, i) => {
    const t = tallies[i] ?? { answered: 0, wrong: 0, goldAnswered: 0, goldWrong: 0, errorRate: NaN };
    const seen = byId.get(id);
    return {
      id,
      trueErrorRate: t.errorRate,
      trueAccuracy: share(t.answered - t.wrong, t.answered),
      estimatedAccuracy: seen?.reliability?.find((r) => r.stream === stream)?.accuracy ?? null,
      goldAnswers: seen?.goldAnswers ?? 0,
      goldAccuracy: seen?.goldAccuracy ?? null,
      answers: t.answered,
    };
  });
}

/** Human answers to tasks of the stream (gold answers left out) per event that humans decided. */
export function humanAnswersPerDecidedTask(
  tallies: readonly Pick<ReviewerTally, 'answered' | 'goldAnswered'>[],
  decidedByHuman: number,
): number | null {
  const answers = tallies.reduce((n, t) => n + t.answered - t.goldAnswered, 0);
  return share(answers, decidedByHuman);
}

export interface CurvePoint {
  /** Positions in the stream, 0-based, `to` exclusive. */
  from: number;
  to: number;
  decided: number;
  humanShare: number | null;
  modelAccuracy: number | null;
  overallAccuracy: number | null;
  /** The newest model version that any decision of the window followed. */
  modelVersion: number | null;
}

const share = (part: number, whole: number): number | null => (whole === 0 ? null : part / whole);

interface Tally {
  decided: number;
  human: number;
  model: number;
  modelRight: number;
  humanRight: number;
  right: number;
  newestVersion: number | null;
}

function tally(outcomes: readonly EventOutcome[]): Tally {
  const t: Tally = {
    decided: 0,
    human: 0,
    model: 0,
    modelRight: 0,
    humanRight: 0,
    right: 0,
    newestVersion: null,
  };
  for (const o of outcomes) {
    // The first decision is the one that counts; any later one is a duplicate.
    const d = o.decisions[0];
    if (!d) continue;
    t.decided++;
    const right = d.label === o.truth;
    if (right) t.right++;
    if (d.decidedBy === 'model') {
      t.model++;
      if (right) t.modelRight++;
    } else {
      t.human++;
      if (right) t.humanRight++;
    }
    if (d.modelVersion !== null && (t.newestVersion === null || d.modelVersion > t.newestVersion)) {
      t.newestVersion = d.modelVersion;
    }
  }
  return t;
}

/** The target a replay routed by: none, or an accuracy and how sure its certification must be. */
export interface ReplayTarget {
  targetAccuracy: number | null;
  /** Default: the policy's (0.95). */
  confidenceLevel?: number;
}

/** The target with its confidence level filled in; the level is null without a target. */
export function resolveTarget(target: Partial<ReplayTarget> | undefined): {
  targetAccuracy: number | null;
  confidenceLevel: number | null;
} {
  const targetAccuracy = target?.targetAccuracy ?? null;
  return {
    targetAccuracy,
    confidenceLevel:
      targetAccuracy === null ? null : (target?.confidenceLevel ?? DEFAULT_POLICY_SPEC.confidenceLevel),
  };
}

/** The final figures of a replay. */
export function summarize(
  outcomes: readonly EventOutcome[],
  run: {
    seconds: number;
    modelVersions: number;
    finalModelVersion: number | null;
    queue?: readonly QueuePoint[];
  } & Partial<ReplayTarget>,
): ReplaySummary {
  const target = resolveTarget(run);
  const all = tally(outcomes);
  const last = tally(outcomes.slice(Math.floor((outcomes.length * 3) / 4)));
  const duplicates = outcomes.reduce((n, o) => n + Math.max(0, o.decisions.length - 1), 0);
  return {
    events: outcomes.length,
    decisions: all.decided,
    missing: outcomes.length - all.decided,
    duplicates,
    decidedByModel: all.model,
    decidedByHuman: all.human,
    decidedThroughGroup: outcomes.filter((o) => o.decisions[0]?.throughGroup !== undefined).length,
    decidedByRescore: outcomes.filter((o) => o.decisions[0]?.rescored === true).length,
    peakQueueDepth: run.queue?.length ? Math.max(...run.queue.map((q) => q.depth)) : null,
    humanShare: share(all.human, all.decided),
    humanShareLastQuarter: share(last.human, last.decided),
    modelAccuracy: share(all.modelRight, all.model),
    modelAccuracyLastQuarter: share(last.modelRight, last.model),
    humanAccuracy: share(all.humanRight, all.human),
    overallAccuracy: share(all.right, all.decided),
    modelVersions: run.modelVersions,
    finalModelVersion: run.finalModelVersion,
    firstModelAtEvent: firstModelAt(outcomes),
    ...target,
    targetMet: targetMet(classAccuracy(outcomes, target), target.targetAccuracy),
    seconds: run.seconds,
  };
}

function firstModelAt(outcomes: readonly EventOutcome[]): number | null {
  // The version that scored the event on its way in: a task scored again after a promotion
  // names the later version in its decision, which says nothing about when the first model came.
  const scoredOnArrival = (o: EventOutcome) => {
    if (o.routedWith !== undefined) return o.routedWith !== null;
    const first = o.decisions[0];
    return first !== undefined && first.rescored !== true && first.modelVersion !== null;
  };
  const index = outcomes.findIndex(scoredOnArrival);
  return index < 0 ? null : index + 1;
}

/** The stream cut into `windows` consecutive windows of (nearly) equal size, with each one's figures. */
export function learningCurve(outcomes: readonly EventOutcome[], windows = 20): CurvePoint[] {
  const n = Math.min(windows, outcomes.length);
  const points: CurvePoint[] = [];
  for (let w = 0; w < n; w++) {
    const from = Math.floor((w * outcomes.length) / n);
    const to = Math.floor(((w + 1) * outcomes.length) / n);
    const t = tally(outcomes.slice(from, to));
    points.push({
      from,
      to,
      decided: t.decided,
      humanShare: share(t.human, t.decided),
      modelAccuracy: share(t.modelRight, t.model),
      overallAccuracy: share(t.right, t.decided),
      modelVersion: t.newestVersion,
    });
  }
  return points;
}

/** The model's own decisions in the replay of one class (the label it decided), against the truth. */
export interface ClassAccuracy {
  label: string;
  /** First decisions the model made with this label. */
  decided: number;
  /** How many of them match the true label. */
  correct: number;
  /** correct / decided; null when the model decided none (people decided the class). */
  accuracy: number | null;
  /**
   * One-sided Clopper–Pearson lower bound of that accuracy at the replay's confidence level (the
   * policy's default, 0.95, without a target); null when the model decided none.
   */
  lowerBound: number | null;
  /** The lowest confidence at which the model decided it; null when it decided none. */
  lowestConfidence: number | null;
  /** accuracy ≥ target; null without a target or without decisions (which cannot fail it). */
  meetsTarget: boolean | null;
}

/**
 * Accuracy of the model's decisions per decided label, for every class of the data set and any
 * other the model decided, sorted by name. By the decided label, not the true one, because a
 * target is a claim about the decisions of each class: "when it says spam, it is right 99% of
 * the time". Only the first decision of an event counts, as in the summary.
 */
export function classAccuracy(
  outcomes: readonly EventOutcome[],
  target: { targetAccuracy: number | null; confidenceLevel: number | null },
): ClassAccuracy[] {
  const byLabel = new Map<string, { decided: number; correct: number; lowest: number | null }>();
  const of = (label: string) => {
    let entry = byLabel.get(label);
    if (!entry) byLabel.set(label, (entry = { decided: 0, correct: 0, lowest: null }));
    return entry;
  };
  for (const o of outcomes) {
    of(o.truth);
    const d = o.decisions[0];
    if (d?.decidedBy !== 'model') continue;
    const entry = of(d.label);
    entry.decided++;
    if (d.label === o.truth) entry.correct++;
    if (d.confidence !== null) entry.lowest = Math.min(entry.lowest ?? Infinity, d.confidence);
  }
  const level = target.confidenceLevel ?? DEFAULT_POLICY_SPEC.confidenceLevel;
  return [...byLabel.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([label, { decided, correct, lowest }]) => {
      const accuracy = share(correct, decided);
      return {
        label,
        decided,
        correct,
        accuracy,
        lowerBound: decided === 0 ? null : clopperPearsonLower(correct, decided, level),
        lowestConfidence: lowest,
        meetsTarget:
          accuracy === null || target.targetAccuracy === null ? null : accuracy >= target.targetAccuracy,
      };
    });
}

/** Whether the model's decisions met the target in every class it decided (see ReplaySummary). */
export function targetMet(classes: readonly ClassAccuracy[], targetAccuracy: number | null): boolean | null {
  if (targetAccuracy === null) return null;
  return classes.every((c) => c.accuracy === null || c.accuracy >= targetAccuracy);
}

/** One bin of the reliability diagram: held-out predictions whose confidence is in [from, to). */
export interface ReliabilityBin {
  from: number;
  /** Exclusive, but for the last bin, which holds confidence 1. */
  to: number;
  examples: number;
  /** Mean confidence of the bin's predictions; null when it has none. */
  meanConfidence: number | null;
  /** Share of them that were right; null when it has none. */
  accuracy: number | null;
}

/**
 * The reliability diagram: held-out predictions in `bins` equal bins of confidence over
 * [1/classes, 1] (the top class's probability is never below 1/classes, so a wider range would
 * leave bins empty by construction). A calibrated model's accuracy in each bin is its mean
 * confidence.
 */
export function reliabilityBins(heldOut: HeldOutDecisions, bins = 10): ReliabilityBin[] {
  const lo = 1 / Math.max(1, heldOut.classes.length);
  // The edges are computed once and compared against, so that a bin holds exactly what its shown
  // edges say (dividing by the bin width instead misplaces confidences that sit on an edge).
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? 1 : lo + (i * (1 - lo)) / bins));
  const sums = Array.from({ length: bins }, () => ({ examples: 0, confidence: 0, right: 0 }));
  for (const [, confidence, right] of heldOut.decisions) {
    let b = 0;
    while (b < bins - 1 && confidence >= edges[b + 1]!) b++;
    const sum = sums[b]!;
    sum.examples++;
    sum.confidence += confidence;
    sum.right += right;
  }
  return sums.map((sum, b) => ({
    from: edges[b]!,
    to: edges[b + 1]!,
    examples: sum.examples,
    meanConfidence: share(sum.confidence, sum.examples),
    accuracy: share(sum.right, sum.examples),
  }));
}

/**
 * Expected calibration error: the mean over predictions of |accuracy − mean confidence| of their
 * bin, i.e. Σ (examples_b / N) · |accuracy_b − meanConfidence_b|; null without predictions.
 */
export function calibrationError(bins: readonly ReliabilityBin[]): number | null {
  const total = bins.reduce((n, b) => n + b.examples, 0);
  if (total === 0) return null;
  return bins.reduce(
    (sum, b) =>
      b.accuracy === null || b.meanConfidence === null
        ? sum
        : sum + (b.examples / total) * Math.abs(b.accuracy - b.meanConfidence),
    0,
  );
}

/** A point of the risk–coverage curve: the model deciding every prediction at or above `threshold`. */
export interface RiskCoveragePoint {
  /** The confidence threshold. */
  threshold: number;
  /** Held-out predictions at or above it. */
  decided: number;
  /** decided / all held-out predictions. */
  coverage: number;
  /** Share of those that were right. */
  accuracy: number;
}

/**
 * The risk–coverage curve: held-out predictions sorted by confidence, highest first, and at each
 * distinct confidence the share of them decided and the accuracy of those decisions. Predictions
 * with equal confidence come in together, since no threshold can split them.
 */
export function riskCoverage(heldOut: HeldOutDecisions): RiskCoveragePoint[] {
  const sorted = [...heldOut.decisions].sort((a, b) => b[1] - a[1]);
  const points: RiskCoveragePoint[] = [];
  let right = 0;
  sorted.forEach(([, confidence, r], i) => {
    right += r;
    if (sorted[i + 1]?.[1] === confidence) return;
    const decided = i + 1;
    points.push({
      threshold: confidence,
      decided,
      coverage: decided / sorted.length,
      accuracy: right / decided,
    });
  });
  return points;
}

/**
 * Points of a risk–coverage curve, thinned for a table or a file: the first point, and for each
 * k of 1..steps the first point whose coverage reaches k / steps. Every point kept is one of the
 * curve's own, none is interpolated.
 */
export function sampleCurve(points: readonly RiskCoveragePoint[], steps: number): RiskCoveragePoint[] {
  const kept = new Set<RiskCoveragePoint>(points.slice(0, 1));
  let i = 0;
  for (let k = 1; k <= steps; k++) {
    // The last point has coverage 1, so the search ends there at the latest.
    while (i < points.length - 1 && points[i]!.coverage < k / steps) i++;
    if (points[i]) kept.add(points[i]!);
  }
  return [...kept];
}

/** The final model version on its held-out labels, as the report shows it. */
export interface HeldOutReport {
  modelVersion: number;
  /** Held-out predictions it keeps: labels it was neither trained nor calibrated on. */
  examples: number;
  reliability: ReliabilityBin[];
  calibrationError: number | null;
  /** The risk–coverage curve at each percent of coverage (see sampleCurve). */
  riskCoverage: RiskCoveragePoint[];
  /**
   * Per class, the confidence threshold certified for the replay's target (null: people decide
   * the class); null without a target.
   */
  thresholds: Record<string, number | null> | null;
}

/**
 * The held-out figures of the model version in force at the end, from what the registry keeps
 * for it; null when it keeps no held-out predictions. The thresholds are those stored when it was
 * trained if they were certified for the same target, else certified again, as the router does.
 */
export function heldOutReport(
  modelVersion: number,
  certification: { thresholds: CertifiedThresholds | null; heldOut: HeldOutDecisions | null },
  target: { targetAccuracy: number | null; confidenceLevel: number | null },
): HeldOutReport | null {
  const { heldOut } = certification;
  if (heldOut === null || heldOut.decisions.length === 0) return null;
  const reliability = reliabilityBins(heldOut);
  return {
    modelVersion,
    examples: heldOut.decisions.length,
    reliability,
    calibrationError: calibrationError(reliability),
    riskCoverage: sampleCurve(riskCoverage(heldOut), 100),
    thresholds: thresholdsFor(certification.thresholds, heldOut, target),
  };
}

function thresholdsFor(
  stored: CertifiedThresholds | null,
  heldOut: HeldOutDecisions,
  { targetAccuracy, confidenceLevel }: { targetAccuracy: number | null; confidenceLevel: number | null },
): Record<string, number | null> | null {
  if (targetAccuracy === null || confidenceLevel === null) return null;
  const certified =
    stored?.targetAccuracy === targetAccuracy && stored.confidenceLevel === confidenceLevel
      ? stored
      : certifyHeldOut(heldOut, { targetAccuracy, confidenceLevel });
  return Object.fromEntries(Object.entries(certified.perClass).map(([label, c]) => [label, c.threshold]));
}

const pct = (x: number | null, digits = 1): string => (x === null ? '–' : `${(x * 100).toFixed(digits)}%`);

/**
 * A confidence rounded down (a threshold or a lowest confidence is then still "at least" what is
 * shown), to four places, or six above 0.9999, where four would hide how close to 1 it is.
 */
const conf4 = (c: number): string => {
  const places = c >= 0.9999 && c < 1 ? 6 : 4;
  // The nudge keeps a float product such as 0.57 · 10⁴ = 5699.999… from flooring a whole step down.
  return (Math.floor(c * 10 ** places + 1e-7) / 10 ** places).toFixed(places);
};

/** A lower bound as a percentage, rounded down so that it never reads as more than it shows. */
const pctDown = (x: number | null): string =>
  x === null ? '–' : `${(Math.floor(x * 1e4 + 1e-7) / 100).toFixed(2)}%`;

/** A setting as a percentage, never rounded (a target of 0.9999 must not read 100.0%). */
const settingPct = (x: number): string => `${Number((x * 100).toPrecision(12))}%`;

const escapeXml = (s: string): string =>
  s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

interface Series {
  name: string;
  color: string;
  value: (p: CurvePoint) => number | null;
}

/**
 * The learning curve as a self-contained SVG chart in two panels over the position in the stream:
 * the share sent to humans (0–100%), and the accuracy of the model's decisions and of all
 * decisions (on an axis from the lowest figure, so that tenths of a percent show), with the model
 * version in force marked where it changes.
 */
export function renderSvg(curve: readonly CurvePoint[], title: string): string {
  const width = 820;
  const left = 60;
  const right = 200;
  const plotW = width - left - right;
  const panelH = 170;
  const gap = 56;
  const top = 56;
  const height = top + 2 * panelH + gap + 48;
  const total = curve.at(-1)?.to ?? 0;
  const x = (pos: number) => left + (total === 0 ? 0 : (pos / total) * plotW);
  const mid = (p: CurvePoint) => (p.from + p.to) / 2;
  const accuracies = curve.flatMap((p) => [p.modelAccuracy, p.overallAccuracy]).filter((v) => v !== null);
  // The accuracy axis: from a whole percent below the lowest figure (and at least 1 point wide).
  const accFloor = Math.max(0, Math.min(0.99, Math.floor(Math.min(1, ...accuracies) * 100 - 0.5) / 100));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  const panel = (y0: number, lo: number, series: Series[], ticks: number) => {
    const y = (v: number) => y0 + (1 - (v - lo) / (1 - lo)) * panelH;
    for (let i = 0; i <= ticks; i++) {
      const v = lo + ((1 - lo) * i) / ticks;
      const label = (1 - lo) * 100 < ticks ? (v * 100).toFixed(1) : (v * 100).toFixed(0);
      parts.push(
        `<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e3e3"/>`,
        `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${label}%</text>`,
      );
    }
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y0 + panelH}" y2="${y0 + panelH}" stroke="#333"/>`,
    );
    // The model version in force, marked where it changes.
    let shown: number | null | undefined;
    let lastLabelX = -Infinity;
    for (const p of curve) {
      if (p.modelVersion === shown) continue;
      shown = p.modelVersion;
      const px = x(p.from);
      parts.push(
        `<line x1="${px.toFixed(1)}" x2="${px.toFixed(1)}" y1="${y0}" y2="${y0 + panelH}" stroke="#bbb" stroke-dasharray="3,3"/>`,
      );
      if (px - lastLabelX >= 44) {
        parts.push(
          `<text x="${(px + 2).toFixed(1)}" y="${y0 - 5}" font-size="10" fill="#555">${shown === null ? 'no model' : `v${shown}`}</text>`,
        );
        lastLabelX = px;
      }
    }
    series.forEach((s, i) => {
      const points = curve
        .map((p) => [mid(p), s.value(p)] as const)
        .filter((pair): pair is readonly [number, number] => pair[1] !== null)
        .map(([pos, v]) => `${x(pos).toFixed(1)},${y(Math.max(lo, v)).toFixed(1)}`);
      if (points.length > 0) {
        parts.push(
          `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points.join(' ')}"/>`,
        );
      }
      const ly = y0 + 14 + i * 20;
      parts.push(
        `<line x1="${left + plotW + 12}" x2="${left + plotW + 32}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"/>`,
        `<text x="${left + plotW + 36}" y="${ly}">${s.name}</text>`,
      );
    });
  };
  panel(top, 0, [{ name: 'sent to humans', color: '#d62728', value: (p) => p.humanShare }], 5);
  panel(
    top + panelH + gap,
    accFloor,
    [
      { name: 'model decisions correct', color: '#1f77b4', value: (p) => p.modelAccuracy },
      { name: 'all decisions correct', color: '#2ca02c', value: (p) => p.overallAccuracy },
    ],
    5,
  );
  const axisY = top + 2 * panelH + gap;
  for (const p of curve) {
    parts.push(
      `<text x="${x(p.to).toFixed(1)}" y="${axisY + 16}" text-anchor="middle" font-size="10">${p.to}</text>`,
    );
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle">events in stream order (of ${total})</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}

/**
 * The review queue's depth over the replay's time as a self-contained SVG line chart: how many
 * tasks waited for people at each moment (the y axis rounded up to a tidy number).
 */
export function renderQueueSvg(queue: readonly QueuePoint[], title: string): string {
  const width = 820;
  const height = 300;
  const left = 60;
  const right = 30;
  const top = 48;
  const plotW = width - left - right;
  const plotH = height - top - 56;
  const lastSecond = Math.max(1, queue.at(-1)?.seconds ?? 1);
  const peak = Math.max(1, ...queue.map((q) => q.depth));
  const step = 10 ** Math.floor(Math.log10(peak));
  const yMax = Math.ceil(peak / step) * step;
  const x = (seconds: number) => left + (seconds / lastSecond) * plotW;
  const y = (depth: number) => top + (1 - depth / yMax) * plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Math.round(v)}</text>`,
      `<text x="${x((lastSecond * i) / 5).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" font-size="10">${Math.round((lastSecond * i) / 5)}</text>`,
    );
  }
  if (queue.length > 0) {
    const points = queue.map((q) => `${x(q.seconds).toFixed(1)},${y(q.depth).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${points}" fill="none" stroke="#d62728" stroke-width="2"/>`);
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${height - 24}" text-anchor="middle">seconds since the replay started</text>`,
    `<text x="14" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${top + plotH / 2})">tasks waiting for people</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}

/** Draws a legend's mark between x1 and x2 at height y. */
type LegendMark = (x1: number, x2: number, y: number) => string;

interface Frame {
  parts: string[];
  x: (v: number) => number;
  y: (v: number) => number;
  /** Adds a legend line at the plot's top right (row 0, 1, …). */
  legend: (row: number, name: string, mark: LegendMark) => void;
}

/** A square chart's frame: title, grid, axes from `lo` to 100% each way; the caller draws in it. */
function squareChart(title: string, axes: { x: string; xLo: number; y: string; yLo: number }): Frame {
  const width = 640;
  const left = 64;
  const plotW = 400;
  const plotH = 320;
  const top = 56;
  const height = top + plotH + 56;
  const x = (v: number) => left + ((v - axes.xLo) / (1 - axes.xLo)) * plotW;
  const y = (v: number) => top + (1 - (v - axes.yLo) / (1 - axes.yLo)) * plotH;
  const ticks = 5;
  // Labels to a tenth of a percent where a tick falls between whole ones, never rounded to one.
  const tick = (lo: number, i: number) => {
    const v = lo + ((1 - lo) * i) / ticks;
    return { v, label: `${Number((v * 100).toFixed(1))}%` };
  };
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  for (let i = 0; i <= ticks; i++) {
    const h = tick(axes.yLo, i);
    const v = tick(axes.xLo, i);
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(h.v).toFixed(1)}" y2="${y(h.v).toFixed(1)}" stroke="#e3e3e3"/>`,
      `<text x="${left - 6}" y="${(y(h.v) + 4).toFixed(1)}" text-anchor="end">${h.label}</text>`,
      `<line x1="${x(v.v).toFixed(1)}" x2="${x(v.v).toFixed(1)}" y1="${top}" y2="${top + plotH}" stroke="#e3e3e3"/>`,
      `<text x="${x(v.v).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${v.label}</text>`,
    );
  }
  parts.push(
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left + plotW / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(axes.x)}</text>`,
    `<text x="16" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + plotH / 2})">${escapeXml(axes.y)}</text>`,
  );
  const legend = (row: number, name: string, mark: LegendMark) => {
    const ly = top + 14 + row * 20;
    const lx = left + plotW + 12;
    parts.push(mark(lx, lx + 20, ly - 4), `<text x="${lx + 24}" y="${ly}">${escapeXml(name)}</text>`);
  };
  return { parts, x, y, legend };
}

const legendLine =
  (color: string, dash = ''): LegendMark =>
  (x1, x2, y) =>
    `<line x1="${x1}" x2="${x2}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;

/**
 * The reliability diagram as an SVG: per confidence bin, a bar over the bin's range up to its
 * held-out accuracy, a dot at (mean confidence, accuracy) with the bin's count above it, and the
 * diagonal where a calibrated model's dots lie.
 */
export function renderReliabilitySvg(report: HeldOutReport, title: string): string {
  const f = squareChart(title, { x: 'confidence', xLo: 0, y: 'accuracy on held-out labels', yLo: 0 });
  const dots: string[] = [
    // Over the bars, so that the gap between each bar and calibration shows.
    `<line x1="${f.x(0)}" x2="${f.x(1)}" y1="${f.y(0)}" y2="${f.y(1)}" stroke="#999" stroke-dasharray="4,4"/>`,
  ];
  for (const b of report.reliability) {
    if (b.accuracy === null || b.meanConfidence === null) continue;
    const top = f.y(b.accuracy);
    f.parts.push(
      `<rect x="${f.x(b.from).toFixed(1)}" y="${top.toFixed(1)}" width="${(f.x(b.to) - f.x(b.from)).toFixed(1)}" height="${(f.y(0) - top).toFixed(1)}" fill="#c6dbef" stroke="#fff"/>`,
    );
    const cx = f.x(b.meanConfidence).toFixed(1);
    dots.push(
      `<circle cx="${cx}" cy="${top.toFixed(1)}" r="3.5" fill="#1f77b4"/>`,
      `<text x="${cx}" y="${(top - 7).toFixed(1)}" text-anchor="middle" font-size="10" fill="#333">${b.examples}</text>`,
    );
  }
  f.parts.push(...dots);
  f.legend(
    0,
    'accuracy per bin',
    (x1, x2, y) => `<rect x="${x1}" y="${y - 4}" width="${x2 - x1}" height="8" fill="#c6dbef"/>`,
  );
  f.legend(
    1,
    'at mean confidence',
    (x1, x2, y) => `<circle cx="${(x1 + x2) / 2}" cy="${y}" r="3.5" fill="#1f77b4"/>`,
  );
  f.legend(2, 'calibrated', legendLine('#999', '4,4'));
  f.parts.push('</svg>');
  return f.parts.join('\n') + '\n';
}

/**
 * The risk–coverage curve as an SVG: accuracy of the model's held-out decisions against the share
 * of predictions it decides, deciding the most confident first; with a target, a line at it. The
 * accuracy axis starts below the lowest figure (and the target), so that small differences show.
 */
export function renderRiskCoverageSvg(
  report: HeldOutReport,
  title: string,
  targetAccuracy: number | null,
): string {
  const lowest = Math.min(1, ...report.riskCoverage.map((p) => p.accuracy), targetAccuracy ?? 1);
  // Down to a multiple of 5%, so that the five ticks fall on whole percents.
  const yLo = Math.max(0, Math.min(0.95, Math.floor(lowest * 20 - 0.1) / 20));
  const f = squareChart(title, {
    x: 'share of held-out predictions decided (most confident first)',
    xLo: 0,
    y: 'accuracy of those decisions',
    yLo,
  });
  if (targetAccuracy !== null) {
    const ty = f.y(targetAccuracy).toFixed(1);
    f.parts.push(
      `<line x1="${f.x(0)}" x2="${f.x(1)}" y1="${ty}" y2="${ty}" stroke="#d62728" stroke-dasharray="4,4"/>`,
    );
    f.legend(1, `target ${settingPct(targetAccuracy)}`, legendLine('#d62728', '4,4'));
  }
  const points = report.riskCoverage.map(
    (p) => `${f.x(p.coverage).toFixed(1)},${f.y(p.accuracy).toFixed(1)}`,
  );
  f.parts.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${points.join(' ')}"/>`);
  f.legend(0, 'held-out accuracy', legendLine('#1f77b4'));
  f.parts.push('</svg>');
  return f.parts.join('\n') + '\n';
}

/** A short markdown account of the run: settings, the summary's figures, the curve as a table. */
export function renderMarkdown(
  summary: ReplaySummary,
  curve: readonly CurvePoint[],
  settings: Record<string, string | number | boolean | null>,
  more: { classes?: readonly ClassAccuracy[]; heldOut?: HeldOutReport | null } = {},
): string {
  const lines = [
    '# Replay report',
    '',
    ...Object.entries(settings).map(([k, v]) => `- ${k}: ${v === null ? '–' : String(v)}`),
    '',
    '## Summary',
    '',
    '| figure | value |',
    '| --- | --- |',
    `| events | ${summary.events} |`,
    `| decisions | ${summary.decisions} |`,
    `| missing | ${summary.missing} |`,
    `| duplicates | ${summary.duplicates} |`,
    `| decided by the model | ${summary.decidedByModel} (closing a waiting task after a promotion: ${summary.decidedByRescore}) |`,
    `| decided by humans | ${summary.decidedByHuman} (${pct(summary.humanShare)}; through a copy's answer: ${summary.decidedThroughGroup}) |`,
    `| sent to humans, last quarter | ${pct(summary.humanShareLastQuarter)} |`,
    `| model decisions correct | ${pct(summary.modelAccuracy, 2)} (last quarter ${pct(summary.modelAccuracyLastQuarter, 2)}) |`,
    `| human decisions correct | ${pct(summary.humanAccuracy, 2)} |`,
    `| all decisions correct | ${pct(summary.overallAccuracy, 2)} |`,
    `| model versions promoted | ${summary.modelVersions} (in force at the end: ${summary.finalModelVersion === null ? 'none' : `v${summary.finalModelVersion}`}) |`,
    `| first event scored by a model | ${summary.firstModelAtEvent ?? 'none'} |`,
    `| most tasks waiting for people at once | ${summary.peakQueueDepth ?? '–'} |`,
    `| seconds | ${summary.seconds} |`,
    '',
    '## Learning curve',
    '',
    '![learning curve](curve.svg)',
    '',
    '![review queue](queue.svg)',
    '',
    '| events | sent to humans | model decisions correct | all decisions correct | model |',
    '| --- | --- | --- | --- | --- |',
    ...curve.map(
      (p) =>
        `| ${p.from + 1}–${p.to} | ${pct(p.humanShare)} | ${pct(p.modelAccuracy, 2)} | ${pct(p.overallAccuracy, 2)} | ${p.modelVersion === null ? '–' : `v${p.modelVersion}`} |`,
    ),
    '',
    ...streamLines(summary),
    ...(summary.reviewers ? reviewerLines(summary) : []),
    ...(more.classes ? classLines(summary, more.classes, more.heldOut?.thresholds ?? null) : []),
    ...(more.heldOut === undefined ? [] : heldOutLines(summary, more.heldOut)),
  ];
  return lines.join('\n');
}

/** The reviewers' table: each one's set error rate, measured accuracy and the API's estimate. */
export function reviewerLines(
  summary: Pick<ReplaySummary, 'reviewers' | 'humanAnswersPerDecidedTask'>,
): string[] {
  const reviewers = summary.reviewers ?? [];
  const perTask = summary.humanAnswersPerDecidedTask;
  return [
    '## Reviewers',
    '',
    `Human answers per event people decided (gold answers left out): ${perTask === undefined || perTask === null ? '–' : perTask.toFixed(2)}. ` +
      'True accuracy is measured from each reviewer’s answers, gold and real, against the data set’s labels; ' +
      'estimated accuracy is the review API’s newest reliability estimate on the stream (GET /v1/stats).',
    '',
    '| reviewer | error rate set | answers | true accuracy | estimated accuracy | gold answers | gold accuracy |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...reviewers.map(
      (r) =>
        `| ${r.id} | ${r.trueErrorRate} | ${r.answers} | ${pct(r.trueAccuracy, 2)} | ${pct(r.estimatedAccuracy, 2)} | ${r.goldAnswers} | ${pct(r.goldAccuracy, 2)} |`,
    ),
    '',
  ];
}

const yesNo = (b: boolean | null) => (b === null ? '–' : b ? 'yes' : 'no');

function classLines(
  summary: ReplaySummary,
  classes: readonly ClassAccuracy[],
  thresholds: Record<string, number | null> | null,
): string[] {
  const target = summary.targetAccuracy;
  const level = settingPct(summary.confidenceLevel ?? DEFAULT_POLICY_SPEC.confidenceLevel);
  const verdict = (c: ClassAccuracy) =>
    target === null ? '–' : c.meetsTarget === null ? 'people decided it' : c.meetsTarget ? 'met' : 'missed';
  const threshold = (label: string) => {
    const t = thresholds?.[label];
    return t === undefined ? '–' : t === null ? 'none' : conf4(t);
  };
  const withThresholds = thresholds !== null;
  return [
    '## Model decisions by class',
    '',
    target === null
      ? "No target accuracy: the policy's confidence thresholds routed."
      : `Target: ${settingPct(target)} of the model's decisions of each class right, thresholds certified with ${level} confidence. ` +
        `Met: ${yesNo(summary.targetMet)} (every class the model decided at or above the target; a class it never decided does not count).`,
    '',
    `By the label the model decided; percentages rounded down, so that none reads as reaching the target when it does not. ` +
      `The lower bound is Clopper–Pearson at ${level}.` +
      (withThresholds
        ? ` The threshold is the one certified for v${summary.finalModelVersion}, the final version (none: no threshold qualified, people decide the class).`
        : ''),
    '',
    `| class | model decisions | right | accuracy | lower bound | lowest confidence |${withThresholds ? ' threshold |' : ''} target |`,
    `| --- | --- | --- | --- | --- | --- |${withThresholds ? ' --- |' : ''} --- |`,
    ...classes.map(
      (c) =>
        `| ${c.label} | ${c.decided} | ${c.correct} | ${pctDown(c.accuracy)} | ${pctDown(c.lowerBound)} | ` +
        `${c.lowestConfidence === null ? '–' : conf4(c.lowestConfidence)} |${withThresholds ? ` ${threshold(c.label)} |` : ''} ${verdict(c)} |`,
    ),
    '',
  ];
}

function heldOutLines(summary: ReplaySummary, report: HeldOutReport | null): string[] {
  const heading = ['## The final model on its held-out labels', ''];
  if (report === null) {
    return [
      ...heading,
      summary.finalModelVersion === null
        ? 'No model version was in force at the end: no held-out predictions.'
        : `Model v${summary.finalModelVersion} keeps no held-out predictions: no reliability diagram or risk–coverage curve.`,
      '',
    ];
  }
  return [
    ...heading,
    `Model v${report.modelVersion} on ${report.examples} held-out labels (labels it was neither trained nor calibrated on). ` +
      `Expected calibration error: ${pct(report.calibrationError, 2)}.`,
    '',
    '### Reliability',
    '',
    '![reliability diagram](reliability.svg)',
    '',
    '| confidence | predictions | mean confidence | accuracy |',
    '| --- | --- | --- | --- |',
    ...report.reliability.map(
      (b, i, all) =>
        `| [${b.from.toFixed(3)}, ${b.to.toFixed(3)}${i === all.length - 1 ? ']' : ')'} | ${b.examples} | ` +
        `${b.meanConfidence === null ? '–' : b.meanConfidence.toFixed(3)} | ${pct(b.accuracy, 2)} |`,
    ),
    '',
    '### Risk–coverage',
    '',
    '![risk–coverage curve](risk-coverage.svg)',
    '',
    "Deciding the most confident predictions first: the curve's first point, then at each tenth of the held-out predictions the first point that reaches it (accuracy rounded down).",
    '',
    '| share decided | confidence at least | decisions | accuracy |',
    '| --- | --- | --- | --- |',
    ...sampleCurve(report.riskCoverage, 10).map(
      (p) => `| ${pct(p.coverage)} | ${conf4(p.threshold)} | ${p.decided} | ${pctDown(p.accuracy)} |`,
    ),
    '',
  ];
}
