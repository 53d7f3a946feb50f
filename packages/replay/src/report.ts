// The replay's figures: the final summary, the learning curve per window of events, and the
// report files made from them (an SVG chart and a markdown summary). Pure: no I/O.

export interface DecisionSeen {
  label: string;
  decidedBy: 'model' | 'human';
  /** The model version whose prediction the decision followed or reviewed; null before any model. */
  modelVersion: number | null;
}

/** One event of the replay, in the order it was produced, with every decision seen for it. */
export interface EventOutcome {
  eventId: string;
  truth: string;
  decisions: DecisionSeen[];
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
  seconds: number;
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

/** The final figures of a replay. */
export function summarize(
  outcomes: readonly EventOutcome[],
  run: { seconds: number; modelVersions: number; finalModelVersion: number | null },
): ReplaySummary {
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
    humanShare: share(all.human, all.decided),
    humanShareLastQuarter: share(last.human, last.decided),
    modelAccuracy: share(all.modelRight, all.model),
    modelAccuracyLastQuarter: share(last.modelRight, last.model),
    humanAccuracy: share(all.humanRight, all.human),
    overallAccuracy: share(all.right, all.decided),
    modelVersions: run.modelVersions,
    finalModelVersion: run.finalModelVersion,
    firstModelAtEvent: firstModelAt(outcomes),
    seconds: run.seconds,
  };
}

function firstModelAt(outcomes: readonly EventOutcome[]): number | null {
  const index = outcomes.findIndex(
    (o) => o.decisions[0] !== undefined && o.decisions[0].modelVersion !== null,
  );
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

const pct = (x: number | null, digits = 1): string => (x === null ? '–' : `${(x * 100).toFixed(digits)}%`);

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

/** A short markdown account of the run: settings, the summary's figures, the curve as a table. */
export function renderMarkdown(
  summary: ReplaySummary,
  curve: readonly CurvePoint[],
  settings: Record<string, string | number | boolean | null>,
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
    `| decided by the model | ${summary.decidedByModel} |`,
    `| decided by humans | ${summary.decidedByHuman} (${pct(summary.humanShare)}) |`,
    `| sent to humans, last quarter | ${pct(summary.humanShareLastQuarter)} |`,
    `| model decisions correct | ${pct(summary.modelAccuracy, 2)} (last quarter ${pct(summary.modelAccuracyLastQuarter, 2)}) |`,
    `| human decisions correct | ${pct(summary.humanAccuracy, 2)} |`,
    `| all decisions correct | ${pct(summary.overallAccuracy, 2)} |`,
    `| model versions promoted | ${summary.modelVersions} (in force at the end: ${summary.finalModelVersion === null ? 'none' : `v${summary.finalModelVersion}`}) |`,
    `| first event scored by a model | ${summary.firstModelAtEvent ?? 'none'} |`,
    `| seconds | ${summary.seconds} |`,
    '',
    '## Learning curve',
    '',
    '![learning curve](curve.svg)',
    '',
    '| events | sent to humans | model decisions correct | all decisions correct | model |',
    '| --- | --- | --- | --- | --- |',
    ...curve.map(
      (p) =>
        `| ${p.from + 1}–${p.to} | ${pct(p.humanShare)} | ${pct(p.modelAccuracy, 2)} | ${pct(p.overallAccuracy, 2)} | ${p.modelVersion === null ? '–' : `v${p.modelVersion}`} |`,
    ),
    '',
  ];
  return lines.join('\n');
}
