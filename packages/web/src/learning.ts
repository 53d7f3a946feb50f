// The learning chart's figures: the server's buckets (a minute up to a day, as the span of activity
// needs) as points, each with the share of decisions the model made and the accuracy of the
// audited ones, and the stretch of time the chart spans. Pure: no DOM.
import type { Learning } from '@hitl/client/browser';

export interface ChartPoint {
  /** The start of the bucket (ms). */
  start: number;
  /** Its length (ms). */
  span: number;
  modelDecisions: number;
  humanDecisions: number;
  audited: number;
  auditedCorrect: number;
  /** modelDecisions / all decisions; null without decisions. */
  modelShare: number | null;
  /** auditedCorrect / audited; null without audits. */
  accuracy: number | null;
}

export const MINUTE = 60_000;
export const DAY = 24 * 60 * MINUTE;

/** The server's buckets, oldest first, with the model's share and the audited accuracy of each. */
export function learningPoints(learning: Learning): ChartPoint[] {
  const span = Math.max(1, learning.bucketMinutes) * MINUTE;
  return learning.points
    .flatMap((p) => {
      const start = Date.parse(p.start);
      if (Number.isNaN(start)) return [];
      const total = p.modelDecisions + p.humanDecisions;
      return [
        {
          start,
          span,
          modelDecisions: p.modelDecisions,
          humanDecisions: p.humanDecisions,
          audited: p.audited,
          auditedCorrect: p.auditedCorrect,
          modelShare: total > 0 ? p.modelDecisions / total : null,
          accuracy: p.audited > 0 ? p.auditedCorrect / p.audited : null,
        },
      ];
    })
    .sort((a, b) => a.start - b.start);
}

/**
 * The time the chart spans (ms): from the first bucket with activity, or an earlier promotion, to
 * the end of the window (or of the last bucket), so a replay of a few minutes fills the chart
 * rather than a sliver at the right of a week.
 */
export function chartRange(learning: Learning, points: readonly ChartPoint[]): { from: number; to: number } {
  const starts = [
    ...points.map((p) => p.start),
    ...learning.promotions.map((p) => Date.parse(p.promotedAt)).filter((t) => !Number.isNaN(t)),
  ];
  const windowFrom = Date.parse(learning.from);
  const from = starts.length > 0 ? Math.min(...starts) : windowFrom;
  const last = points[points.length - 1];
  const to = Math.max(Date.parse(learning.to), last ? last.start + last.span : from, from + MINUTE);
  return { from, to };
}

/** 1 → "minute", 5 → "5 minutes", 60 → "hour", 360 → "6 hours", 1440 → "day". */
export function bucketText(minutes: number): string {
  if (minutes % 1440 === 0) return minutes === 1440 ? 'day' : `${minutes / 1440} days`;
  if (minutes % 60 === 0) return minutes === 60 ? 'hour' : `${minutes / 60} hours`;
  return minutes === 1 ? 'minute' : `${minutes} minutes`;
}

/** Runs of consecutive points that have a value: a line is drawn through each run, gaps left open. */
export function runs<T>(points: readonly T[], value: (p: T) => number | null): T[][] {
  const out: T[][] = [];
  let run: T[] = [];
  for (const p of points) {
    if (value(p) === null) {
      if (run.length > 0) out.push(run);
      run = [];
    } else run.push(p);
  }
  if (run.length > 0) out.push(run);
  return out;
}
