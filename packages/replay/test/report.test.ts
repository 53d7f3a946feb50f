import { describe, expect, it } from '@jest/globals';
import { certifyHeldOut, type CertifiedThresholds, type HeldOutDecisions } from '@hitl/policy';
import {
  calibrationError,
  classAccuracy,
  heldOutReport,
  humanAnswersPerDecidedTask,
  learningCurve,
  reliabilityBins,
  renderMarkdown,
  renderQueueSvg,
  renderReliabilitySvg,
  renderRiskCoverageSvg,
  renderSvg,
  reviewerLines,
  riskCoverage,
  sampleCurve,
  summarize,
  summarizeReviewers,
  targetMet,
  type DecisionSeen,
  type EventOutcome,
} from '../src';

const human = (label: string): DecisionSeen => ({
  label,
  decidedBy: 'human',
  modelVersion: null,
  confidence: null,
});
const model = (label: string, version = 1, confidence = 0.95): DecisionSeen => ({
  label,
  decidedBy: 'model',
  modelVersion: version,
  confidence,
});

// 8 events: the first half decided by a person, the second by model v1 (one wrong), one event
// decided twice and one never.
const outcomes: EventOutcome[] = [
  { eventId: 'e0', truth: 'ham', decisions: [human('ham')] },
  { eventId: 'e1', truth: 'spam', decisions: [{ ...human('spam'), throughGroup: 'e7' }] },
  { eventId: 'e2', truth: 'ham', decisions: [human('spam')] },
  { eventId: 'e3', truth: 'ham', decisions: [] },
  { eventId: 'e4', truth: 'ham', decisions: [model('ham', 1, 0.97)] },
  { eventId: 'e5', truth: 'spam', decisions: [model('ham', 1, 0.91), model('ham', 1, 0.5)] },
  { eventId: 'e6', truth: 'ham', decisions: [{ ...model('ham', 2, 0.99), rescored: true }] },
  { eventId: 'e7', truth: 'spam', decisions: [human('spam')] },
];

const queue = [
  { seconds: 0, depth: 0 },
  { seconds: 2, depth: 5 },
  { seconds: 4, depth: 2 },
];

describe('summarize', () => {
  const s = summarize(outcomes, { seconds: 3, modelVersions: 2, finalModelVersion: 2, queue });

  it('counts missing events and decisions beyond the first', () => {
    expect(s).toMatchObject({ events: 8, decisions: 7, missing: 1, duplicates: 1 });
  });

  it('splits decisions by who made them and scores each against the truth', () => {
    expect(s).toMatchObject({
      decidedByModel: 3,
      decidedByHuman: 4,
      decidedThroughGroup: 1,
      decidedByRescore: 1,
    });
    expect(s.modelAccuracy).toBeCloseTo(2 / 3);
    expect(s.humanAccuracy).toBeCloseTo(3 / 4);
    expect(s.overallAccuracy).toBeCloseTo(5 / 7);
    expect(s.humanShare).toBeCloseTo(4 / 7);
  });

  it('finds the first event a model scored', () => {
    expect(s.firstModelAtEvent).toBe(5);
    // By the prediction it arrived with: a decision after a new score names a later version.
    const later = (o: EventOutcome, i: number): EventOutcome =>
      i === 0 ? { ...o, decisions: [{ ...model('ham', 3), rescored: true }], routedWith: null } : o;
    const run = { seconds: 3, modelVersions: 2, finalModelVersion: 2 };
    expect(summarize(outcomes.map(later), run).firstModelAtEvent).toBe(5);
    expect(summarize([{ ...outcomes[0]!, routedWith: 1 }, ...outcomes.slice(1)], run).firstModelAtEvent).toBe(
      1,
    );
  });

  it('takes the last quarter of the stream on its own', () => {
    // e6 (model, right) and e7 (human, right).
    expect(s.humanShareLastQuarter).toBe(0.5);
    expect(s.modelAccuracyLastQuarter).toBe(1);
  });

  it('gives null, not a made-up figure, where there is nothing to measure', () => {
    const none = summarize([{ eventId: 'x', truth: 'a', decisions: [] }], {
      seconds: 0,
      modelVersions: 0,
      finalModelVersion: null,
    });
    expect(none).toMatchObject({
      modelAccuracy: null,
      overallAccuracy: null,
      humanShare: null,
      missing: 1,
      firstModelAtEvent: null,
    });
  });
});

describe('learningCurve', () => {
  it('cuts the stream into windows with their own figures and model version', () => {
    const curve = learningCurve(outcomes, 2);
    expect(curve.map((p) => [p.from, p.to])).toEqual([
      [0, 4],
      [4, 8],
    ]);
    expect(curve[0]).toMatchObject({ decided: 3, humanShare: 1, modelAccuracy: null, modelVersion: null });
    expect(curve[1]!.humanShare).toBe(0.25);
    expect(curve[1]!.modelAccuracy).toBeCloseTo(2 / 3);
    expect(curve[1]!.modelVersion).toBe(2);
  });

  it('never makes more windows than events', () => {
    expect(learningCurve(outcomes.slice(0, 3), 20)).toHaveLength(3);
  });
});

describe('report files', () => {
  const curve = learningCurve(outcomes, 4);
  const s = summarize(outcomes, { seconds: 3, modelVersions: 2, finalModelVersion: 2, queue });

  it('draws the three series and the model versions in an SVG', () => {
    const svg = renderSvg(curve, 'a <test> run');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(3);
    expect(svg).toContain('a &lt;test&gt; run');
    expect(svg).toContain('>v1<');
    expect(svg).toContain('>no model<');
  });

  it('writes the summary and the curve as markdown', () => {
    const md = renderMarkdown(s, curve, { seed: 1 });
    expect(md).toContain('| missing | 1 |');
    expect(md).toContain('| duplicates | 1 |');
    expect(md).toContain('- seed: 1');
    expect(md.split('\n').filter((l) => /^\| \d+–\d+ \|/.test(l))).toHaveLength(4);
    expect(md).toContain('| most tasks waiting for people at once | 5 |');
    expect(md).toContain('(closing a waiting task after a promotion: 1)');
  });

  it("draws the queue's depth over time, up to its peak", () => {
    expect(s.peakQueueDepth).toBe(5);
    expect(
      summarize(outcomes, { seconds: 3, modelVersions: 2, finalModelVersion: 2 }).peakQueueDepth,
    ).toBeNull();
    const svg = renderQueueSvg(queue, 'queue <test>');
    expect(svg).toContain('queue &lt;test&gt;');
    // One point per sample: the peak at the top of the plot, the empty queue on its floor.
    const points = /<polyline points="([^"]+)"/
      .exec(svg)![1]!
      .split(' ')
      .map((p) => p.split(',').map(Number));
    expect(points).toHaveLength(3);
    expect(points[1]![1]).toBeLessThan(points[2]![1]!);
    expect(points[2]![1]).toBeLessThan(points[0]![1]!);
  });
});

describe('model decisions by class against a target', () => {
  // The model decided ham three times (e4, e5, e6; e5's truth is spam) and spam never; e5's second
  // decision is a duplicate and does not count.
  const noTarget = { targetAccuracy: null, confidenceLevel: null };

  it('counts the model’s first decisions by the label it decided, not the true one', () => {
    const [ham, spam] = classAccuracy(outcomes, noTarget);
    expect(ham).toMatchObject({
      label: 'ham',
      decided: 3,
      correct: 2,
      lowestConfidence: 0.91,
      meetsTarget: null,
    });
    expect(ham!.accuracy).toBeCloseTo(2 / 3);
    // 2 of 3: the p with P(X >= 2 | 3, p) = 3p² − 2p³ = 0.05 (the default 95%).
    expect(ham!.lowerBound).toBeCloseTo(0.13535, 4);
    // Spam is a class of the data set that people decided throughout.
    expect(spam).toEqual({
      label: 'spam',
      decided: 0,
      correct: 0,
      accuracy: null,
      lowerBound: null,
      lowestConfidence: null,
      meetsTarget: null,
    });
  });

  it('lists a class the model decided that no event truly has', () => {
    const odd: EventOutcome[] = [{ eventId: 'x', truth: 'a', decisions: [model('b')] }];
    expect(classAccuracy(odd, noTarget).map((c) => [c.label, c.decided, c.correct])).toEqual([
      ['a', 0, 0],
      ['b', 1, 0],
    ]);
  });

  it('holds each decided class to the target; a class the model never decided does not fail it', () => {
    const at = (targetAccuracy: number) => classAccuracy(outcomes, { targetAccuracy, confidenceLevel: 0.95 });
    expect(at(0.6).map((c) => c.meetsTarget)).toEqual([true, null]);
    expect(at(0.7).map((c) => c.meetsTarget)).toEqual([false, null]);
    expect(targetMet(at(0.6), 0.6)).toBe(true);
    expect(targetMet(at(0.7), 0.7)).toBe(false);
    // 2/3 is exactly at a target of 2/3: met.
    expect(targetMet(at(2 / 3), 2 / 3)).toBe(true);
    expect(targetMet(classAccuracy(outcomes, noTarget), null)).toBeNull();
    // The model decided nothing: no decision of its missed the target.
    expect(
      targetMet(classAccuracy(outcomes.slice(0, 4), { targetAccuracy: 0.99, confidenceLevel: 0.95 }), 0.99),
    ).toBe(true);
  });

  it('puts the target, its confidence level and whether it was met in the summary', () => {
    const run = { seconds: 1, modelVersions: 2, finalModelVersion: 2 };
    expect(summarize(outcomes, run)).toMatchObject({
      targetAccuracy: null,
      confidenceLevel: null,
      targetMet: null,
    });
    expect(summarize(outcomes, { ...run, targetAccuracy: 0.6 })).toMatchObject({
      targetAccuracy: 0.6,
      confidenceLevel: 0.95,
      targetMet: true,
    });
    expect(summarize(outcomes, { ...run, targetAccuracy: 0.7, confidenceLevel: 0.9 })).toMatchObject({
      targetAccuracy: 0.7,
      confidenceLevel: 0.9,
      targetMet: false,
    });
  });
});

// Six held-out predictions of a two-class model: [predicted class, confidence, right].
const heldOut: HeldOutDecisions = {
  classes: ['ham', 'spam'],
  decisions: [
    [0, 0.52, 1],
    [1, 0.52, 0],
    [0, 0.6, 1],
    [1, 0.97, 1],
    [0, 1, 1],
    [0, 0.99, 0],
  ],
};

describe('reliability bins', () => {
  it('bins the held-out predictions over [1/classes, 1], with each bin’s mean confidence and accuracy', () => {
    const bins = reliabilityBins(heldOut);
    expect(bins).toHaveLength(10);
    expect(bins[0]!.from).toBe(0.5);
    expect(bins[9]!.to).toBe(1);
    expect(bins.map((b) => b.examples)).toEqual([2, 0, 1, 0, 0, 0, 0, 0, 0, 3]);
    expect(bins[0]).toMatchObject({ meanConfidence: 0.52, accuracy: 0.5 });
    // 0.6 sits on the edge between the second and third bins: it belongs to the one it opens.
    expect(bins[2]).toMatchObject({ from: 0.6, meanConfidence: 0.6, accuracy: 1 });
    // Confidence 1 belongs to the last bin.
    expect(bins[9]!.meanConfidence).toBeCloseTo((0.97 + 1 + 0.99) / 3);
    expect(bins[9]!.accuracy).toBeCloseTo(2 / 3);
    expect(bins[1]).toMatchObject({ examples: 0, meanConfidence: null, accuracy: null });
  });

  it('starts at a third for three classes', () => {
    const bins = reliabilityBins({ classes: ['a', 'b', 'c'], decisions: [[2, 0.34, 1]] }, 4);
    expect(bins[0]!.from).toBeCloseTo(1 / 3);
    expect(bins.map((b) => b.examples)).toEqual([1, 0, 0, 0]);
  });

  it('gives the expected calibration error, weighting each bin by its predictions', () => {
    // 2/6 · |0.5 − 0.52| + 1/6 · |1 − 0.6| + 3/6 · |2/3 − 2.96/3|
    expect(calibrationError(reliabilityBins(heldOut))).toBeCloseTo(0.02 / 3 + 0.4 / 6 + 0.5 * 0.32, 10);
    expect(calibrationError(reliabilityBins({ classes: ['a', 'b'], decisions: [] }))).toBeNull();
  });
});

describe('risk–coverage', () => {
  const five: HeldOutDecisions = {
    classes: ['a', 'b'],
    decisions: [
      [0, 0.7, 1],
      [1, 0.8, 0],
      [0, 0.9, 1],
      [0, 0.6, 0],
      [1, 0.8, 1],
    ],
  };

  it('decides the most confident first, taking equal confidences together', () => {
    const points = riskCoverage(five);
    expect(points.map((p) => [p.threshold, p.decided, p.coverage])).toEqual([
      [0.9, 1, 0.2],
      [0.8, 3, 0.6],
      [0.7, 4, 0.8],
      [0.6, 5, 1],
    ]);
    expect(points.map((p) => p.accuracy)).toEqual([1, 2 / 3, 3 / 4, 3 / 5]);
  });

  it('thins a curve to its own points: the first, and the first to reach each step of coverage', () => {
    const points = riskCoverage(five);
    expect(sampleCurve(points, 10)).toEqual(points);
    expect(sampleCurve(points, 2)).toEqual([points[0], points[1], points[3]]);
    expect(sampleCurve([], 10)).toEqual([]);
  });
});

describe('the final model on its held-out labels', () => {
  const target = { targetAccuracy: 0.9, confidenceLevel: 0.95 };

  it('has nothing to show without held-out predictions', () => {
    expect(heldOutReport(3, { thresholds: null, heldOut: null }, target)).toBeNull();
  });

  it('gives the figures, and thresholds only with a target', () => {
    const report = heldOutReport(
      3,
      { thresholds: null, heldOut },
      { targetAccuracy: null, confidenceLevel: null },
    );
    expect(report).toMatchObject({ modelVersion: 3, examples: 6, thresholds: null });
    expect(report!.reliability).toEqual(reliabilityBins(heldOut));
    expect(report!.riskCoverage).toEqual(riskCoverage(heldOut));
  });

  it('takes the stored thresholds when they were certified for the same target, else certifies again', () => {
    const stored: CertifiedThresholds = {
      ...target,
      examples: 6,
      perClass: {
        ham: { threshold: 0.42, predicted: 4, decisions: 1, correct: 1, lowerBound: 0.9, reason: 'made up' },
        spam: {
          threshold: null,
          predicted: 2,
          decisions: 0,
          correct: 0,
          lowerBound: null,
          reason: 'made up',
        },
      },
    };
    expect(heldOutReport(3, { thresholds: stored, heldOut }, target)!.thresholds).toEqual({
      ham: 0.42,
      spam: null,
    });
    const other = { targetAccuracy: 0.5, confidenceLevel: 0.5 };
    const again = certifyHeldOut(heldOut, other);
    expect(heldOutReport(3, { thresholds: stored, heldOut }, other)!.thresholds).toEqual({
      ham: again.perClass.ham!.threshold,
      spam: again.perClass.spam!.threshold,
    });
  });

  it('draws the reliability diagram and the risk–coverage curve as SVG', () => {
    const report = heldOutReport(3, { thresholds: null, heldOut }, target)!;
    const reliability = renderReliabilitySvg(report, 'v3 <held out>');
    expect(reliability.startsWith('<svg')).toBe(true);
    expect(reliability).toContain('v3 &lt;held out&gt;');
    // One dot per bin with predictions, and one in the legend.
    expect(reliability.match(/<circle/g)).toHaveLength(3 + 1);
    const curve = renderRiskCoverageSvg(report, 'v3', 0.9);
    expect(curve.match(/<polyline/g)).toHaveLength(1);
    expect(curve).toContain('>target 90%<');
    expect(renderRiskCoverageSvg(report, 'v3', null)).not.toContain('target');
  });
});

describe('the report’s target and held-out sections', () => {
  const curve = learningCurve(outcomes, 4);

  it('shows each class against the target, and the held-out figures', () => {
    const s = summarize(outcomes, {
      seconds: 3,
      modelVersions: 2,
      finalModelVersion: 2,
      targetAccuracy: 0.6,
    });
    const classes = classAccuracy(outcomes, { targetAccuracy: 0.6, confidenceLevel: 0.95 });
    const report = heldOutReport(
      2,
      { thresholds: null, heldOut },
      { targetAccuracy: 0.6, confidenceLevel: 0.95 },
    );
    const md = renderMarkdown(s, curve, { seed: 1 }, { classes, heldOut: report });
    expect(md).toContain('Met: yes');
    expect(md).toMatch(/^\| ham \| 3 \| 2 \| 66\.66% \| 13\.53% \| 0\.9100 \| .* \| met \|$/m);
    expect(md).toMatch(/^\| spam \| 0 \| 0 \| – \| – \| – \| .* \| people decided it \|$/m);
    expect(md).toContain('![reliability diagram](reliability.svg)');
    expect(md).toContain('![risk–coverage curve](risk-coverage.svg)');
    expect(md).toContain('on 6 held-out labels');
  });

  it('says so when the final version keeps no held-out predictions', () => {
    const s = summarize(outcomes, { seconds: 3, modelVersions: 2, finalModelVersion: 2 });
    const md = renderMarkdown(s, curve, {}, { classes: classAccuracy(outcomes, s), heldOut: null });
    expect(md).toContain('No target accuracy');
    expect(md).toContain('Model v2 keeps no held-out predictions');
    expect(md).not.toContain('reliability.svg');
  });
});

describe('the reviewers in the summary', () => {
  const tallies = [
    { answered: 100, wrong: 2, goldAnswered: 10, goldWrong: 0, errorRate: 0.02 },
    { answered: 50, wrong: 15, goldAnswered: 5, goldWrong: 2, errorRate: 0.3 },
    { answered: 0, wrong: 0, goldAnswered: 0, goldWrong: 0, errorRate: 0.05 },
  ];
  const stats = [
    {
      reviewerId: 'run-r1',
      goldAnswers: 10,
      goldAccuracy: 1,
      reliability: [
        { stream: 'other', accuracy: 0.5 },
        { stream: 'run', accuracy: 0.97 },
      ],
    },
    { reviewerId: 'run-r2', goldAnswers: 5, goldAccuracy: 0.6 },
    {
      reviewerId: 'someone-else',
      goldAnswers: 3,
      goldAccuracy: 0,
      reliability: [{ stream: 'run', accuracy: 0.1 }],
    },
  ];

  it('puts the measured truth beside the review API’s figures, on the replay’s stream', () => {
    expect(summarizeReviewers(['run-r1', 'run-r2', 'run-r3'], tallies, stats, 'run')).toEqual([
      {
        id: 'run-r1',
        trueErrorRate: 0.02,
        trueAccuracy: 0.98,
        estimatedAccuracy: 0.97,
        goldAnswers: 10,
        goldAccuracy: 1,
        answers: 100,
      },
      // Without a reliability estimate (or without admin figures): null.
      {
        id: 'run-r2',
        trueErrorRate: 0.3,
        trueAccuracy: 0.7,
        estimatedAccuracy: null,
        goldAnswers: 5,
        goldAccuracy: 0.6,
        answers: 50,
      },
      // Absent from the stats: no answers there.
      {
        id: 'run-r3',
        trueErrorRate: 0.05,
        trueAccuracy: null,
        estimatedAccuracy: null,
        goldAnswers: 0,
        goldAccuracy: null,
        answers: 0,
      },
    ]);
  });

  it('counts human answers per event people decided, leaving gold answers out', () => {
    // (100 - 10) + (50 - 5) + 0 = 135 answers on the stream's tasks.
    expect(humanAnswersPerDecidedTask(tallies, 45)).toBe(3);
    expect(humanAnswersPerDecidedTask(tallies, 0)).toBeNull();
    expect(humanAnswersPerDecidedTask([], 10)).toBe(0);
  });

  it('shows them in the markdown report as a table, only when the summary has them', () => {
    const base = summarize(outcomes, { seconds: 1, modelVersions: 1, finalModelVersion: 1 });
    expect(renderMarkdown(base, [], {})).not.toContain('## Reviewers');
    const summary = {
      ...base,
      humanAnswersPerDecidedTask: 2.345,
      reviewers: summarizeReviewers(['run-r1', 'run-r2'], tallies, stats, 'run'),
    };
    const md = renderMarkdown(summary, [], {});
    expect(md).toContain('## Reviewers');
    expect(md).toContain('Human answers per event people decided (gold answers left out): 2.35.');
    expect(md).toContain('| run-r1 | 0.02 | 100 | 98.00% | 97.00% | 10 | 100.00% |');
    expect(md).toContain('| run-r2 | 0.3 | 50 | 70.00% | – | 5 | 60.00% |');
    expect(reviewerLines({})).toContain(
      '| reviewer | error rate set | answers | true accuracy | estimated accuracy | gold answers | gold accuracy |',
    );
  });
});
