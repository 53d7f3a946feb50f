// The learning chart's figures: hourly counts as points (summed by UTC day for windows longer
// than 3 days), each with the share of decisions the model made and the accuracy of the audited
// ones. Pure: no DOM.
import type { Learning } from '@hitl/client/browser';

export interface LearningPoint {
  /** The start of the hour or UTC day (ms). */
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

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export function learningPoints(learning: Learning, days: number): LearningPoint[] {
  const span = days > 3 ? DAY : HOUR;
  const byStart = new Map<number, LearningPoint>();
  for (const h of learning.hours) {
    const t = Date.parse(h.hour);
    if (Number.isNaN(t)) continue;
    const start = Math.floor(t / span) * span;
    const p = byStart.get(start) ?? {
      start,
      span,
      modelDecisions: 0,
      humanDecisions: 0,
      audited: 0,
      auditedCorrect: 0,
      modelShare: null,
      accuracy: null,
    };
    p.modelDecisions += h.modelDecisions;
    p.humanDecisions += h.humanDecisions;
    p.audited += h.audited;
    p.auditedCorrect += h.auditedCorrect;
    byStart.set(start, p);
  }
  return [...byStart.values()]
    .sort((a, b) => a.start - b.start)
    .map((p) => {
      const total = p.modelDecisions + p.humanDecisions;
      return {
        ...p,
        modelShare: total > 0 ? p.modelDecisions / total : null,
        accuracy: p.audited > 0 ? p.auditedCorrect / p.audited : null,
      };
    });
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
