import { describe, expect, it } from '@jest/globals';
import { learningCurve, renderMarkdown, renderSvg, summarize, type EventOutcome } from '../src';

const human = (label: string) => ({ label, decidedBy: 'human' as const, modelVersion: null });
const model = (label: string, version = 1) => ({ label, decidedBy: 'model' as const, modelVersion: version });

// 8 events: the first half decided by a person, the second by model v1 (one wrong), one event
// decided twice and one never.
const outcomes: EventOutcome[] = [
  { eventId: 'e0', truth: 'ham', decisions: [human('ham')] },
  { eventId: 'e1', truth: 'spam', decisions: [human('spam')] },
  { eventId: 'e2', truth: 'ham', decisions: [human('spam')] },
  { eventId: 'e3', truth: 'ham', decisions: [] },
  { eventId: 'e4', truth: 'ham', decisions: [model('ham')] },
  { eventId: 'e5', truth: 'spam', decisions: [model('ham'), model('ham')] },
  { eventId: 'e6', truth: 'ham', decisions: [model('ham', 2)] },
  { eventId: 'e7', truth: 'spam', decisions: [human('spam')] },
];

describe('summarize', () => {
  const s = summarize(outcomes, { seconds: 3, modelVersions: 2, finalModelVersion: 2 });

  it('counts missing events and decisions beyond the first', () => {
    expect(s).toMatchObject({ events: 8, decisions: 7, missing: 1, duplicates: 1 });
  });

  it('splits decisions by who made them and scores each against the truth', () => {
    expect(s).toMatchObject({ decidedByModel: 3, decidedByHuman: 4 });
    expect(s.modelAccuracy).toBeCloseTo(2 / 3);
    expect(s.humanAccuracy).toBeCloseTo(3 / 4);
    expect(s.overallAccuracy).toBeCloseTo(5 / 7);
    expect(s.humanShare).toBeCloseTo(4 / 7);
  });

  it('finds the first event a model scored', () => {
    expect(s.firstModelAtEvent).toBe(5);
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
  const s = summarize(outcomes, { seconds: 3, modelVersions: 2, finalModelVersion: 2 });

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
  });
});
