// How the model learns: the share of decisions it makes on its own and the accuracy of its
// audited decisions over time, in the server's buckets (a minute up to a day, as the span of
// activity needs), with promotions marked; drawn as inline SVG, and the same figures in a table
// for screen readers.
import type { Learning, ReviewClient } from '@hitl/client/browser';
import { useState } from 'preact/hooks';
import { percentText } from '../format';
import { DAY, MINUTE, bucketText, chartRange, learningPoints, runs, type ChartPoint } from '../learning';
import { Alert, PageTitle, Status, TableWrap, useLoad } from '../components/ui';

const WINDOWS = [1, 7, 14, 30] as const;
const EVERY_MS = 60_000;

export function LearningPage({ client }: { client: ReviewClient }) {
  const [days, setDays] = useState<number>(7);
  const loaded = useLoad(
    async () => ({ days, learning: await client.learning(days) }),
    [client, days],
    EVERY_MS,
  );
  // The figures with the window they were asked for (the new window's answer may still be on its way).
  const shownDays = loaded.data?.days ?? days;
  const learning = loaded.data?.learning ?? null;
  const points = learning ? learningPoints(learning) : [];
  const bucket = learning ? bucketText(learning.bucketMinutes) : '';
  // A bucket a UTC day is labelled by its date alone.
  const daily = learning !== null && learning.bucketMinutes >= 1440;

  return (
    <div class="page" id="learning-page">
      <PageTitle>Learning</PageTitle>
      <div class="form inline">
        <div class="field">
          <label for="learning-days">Window</label>
          <select
            id="learning-days"
            value={String(days)}
            onChange={(e) => setDays(Number(e.currentTarget.value))}
          >
            {WINDOWS.map((d) => (
              <option key={d} value={String(d)}>
                {d === 1 ? 'Last day' : `Last ${d} days`}
              </option>
            ))}
          </select>
        </div>
      </div>
      <Status
        id="learning-status"
        text={
          loaded.loading
            ? 'Loading…'
            : learning
              ? `Showing ${points.length} ${points.length === 1 ? 'period' : 'periods'} with activity in the last ${shownDays === 1 ? 'day' : `${shownDays} days`}, per ${bucket}.`
              : null
        }
      />
      <Alert id="learning-error" text={loaded.error && `Could not load the figures: ${loaded.error}`} />
      {learning && points.length === 0 && (
        <p id="learning-empty">
          No decisions in this window yet: the chart appears once the model or people decide something.
        </p>
      )}
      {learning && points.length > 0 && (
        <>
          <section aria-labelledby="learning-chart-heading">
            <h2 id="learning-chart-heading">Model share and audited accuracy</h2>
            <Chart learning={learning} points={points} daily={daily} bucket={bucket} />
            <ul class="legend" id="learning-legend">
              <li>
                <span class="swatch share" aria-hidden="true" /> Share of decisions made by the model
              </li>
              <li>
                <span class="swatch accuracy" aria-hidden="true" /> Accuracy of audited model decisions
              </li>
              <li>
                <span class="swatch promotion" aria-hidden="true" /> A model version promoted
              </li>
            </ul>
          </section>
          <section aria-labelledby="learning-data-heading">
            <h2 id="learning-data-heading">The figures</h2>
            <DataTable learning={learning} points={points} daily={daily} bucket={bucket} />
          </section>
        </>
      )}
    </div>
  );
}

const W = 720;
const H = 300;
const PAD = { left: 52, right: 16, top: 16, bottom: 48 };

interface Figures {
  learning: Learning;
  points: ChartPoint[];
  /** Buckets of a UTC day: labelled by the date alone. */
  daily: boolean;
  /** The bucket size in words: "5 minutes". */
  bucket: string;
}

function Chart({ learning, points, daily, bucket }: Figures) {
  // From the first activity, not the start of the window: minutes of a replay fill the chart.
  const { from, to } = chartRange(learning, points);
  // Under two days the x axis reads as times of day, over that as dates.
  const clock = to - from < 2 * DAY;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + ((Math.min(Math.max(t, from), to) - from) / (to - from)) * plotW;
  const y = (ratio: number) => PAD.top + (1 - ratio) * plotH;
  const mid = (p: ChartPoint) => x(p.start + p.span / 2);
  const line = (run: ChartPoint[], value: (p: ChartPoint) => number | null) =>
    run.map((p) => `${mid(p).toFixed(1)},${y(value(p) ?? 0).toFixed(1)}`).join(' ');
  const share = (p: ChartPoint) => p.modelShare;
  const accuracy = (p: ChartPoint) => p.accuracy;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const xTicks = [0, 0.5, 1].map((f) => from + f * (to - from));
  const promotions = learning.promotions.filter((p) => {
    const t = Date.parse(p.promotedAt);
    return t >= from && t <= to;
  });
  const last = points[points.length - 1]!;
  const summary =
    `Per ${bucket} from ${dateText(from, daily)} to ${dateText(to, daily)}, the model made ` +
    `${percentText(last.modelShare)} of decisions in the last period shown` +
    (last.accuracy === null ? '' : `, and its audited decisions were ${percentText(last.accuracy)} right`) +
    `. ${promotions.length} ${promotions.length === 1 ? 'promotion' : 'promotions'} in the window. The table below has every figure.`;

  return (
    <svg
      id="learning-chart"
      class="chart"
      viewBox={`0 0 ${W} ${H}`}
      role="img"
      aria-labelledby="learning-chart-title learning-chart-desc"
    >
      <title id="learning-chart-title">
        Share of decisions made by the model, and accuracy of audited decisions
      </title>
      <desc id="learning-chart-desc">{summary}</desc>
      {ticks.map((r) => (
        <g key={r}>
          <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(r)} y2={y(r)} />
          <text class="tick anchor-end" x={PAD.left - 6} y={y(r) + 4}>
            {`${r * 100}%`}
          </text>
        </g>
      ))}
      <line class="axis" x1={PAD.left} x2={W - PAD.right} y1={y(0)} y2={y(0)} />
      <line class="axis" x1={PAD.left} x2={PAD.left} y1={y(1)} y2={y(0)} />
      {xTicks.map((t, i) => (
        <text
          key={t}
          class={`tick ${i === 0 ? 'anchor-start' : i === 2 ? 'anchor-end' : 'anchor-middle'}`}
          x={x(t)}
          y={y(0) + 18}
        >
          {clock ? clockText(t, to - from < 10 * MINUTE) : dateText(t, daily, false)}
        </text>
      ))}
      <text class="axis-label anchor-middle" x={PAD.left + plotW / 2} y={H - 6}>
        {clock ? 'Time of day' : daily ? 'Day (UTC)' : 'Date'}
      </text>
      <text class="axis-label anchor-middle" transform={`translate(14 ${PAD.top + plotH / 2}) rotate(-90)`}>
        Percent
      </text>
      {promotions.map((p) => {
        const px = x(Date.parse(p.promotedAt));
        return (
          <g key={`${p.version}-${p.promotedAt}`} class="promotion" data-version={p.version}>
            <line class="promotion-line" x1={px} x2={px} y1={y(1)} y2={y(0)} />
            <text class="tick anchor-middle" x={px} y={PAD.top - 4}>
              {`v${p.version}`}
            </text>
          </g>
        );
      })}
      {runs(points, share).map((run, i) => (
        <polyline key={`s${i}`} class="series share" points={line(run, share)} />
      ))}
      {runs(points, accuracy).map((run, i) => (
        <polyline key={`a${i}`} class="series accuracy" points={line(run, accuracy)} />
      ))}
      {points.map((p) => (
        <g key={p.start}>
          {p.modelShare !== null && <circle class="dot share" cx={mid(p)} cy={y(p.modelShare)} r={3} />}
          {p.accuracy !== null && (
            <rect class="dot accuracy" x={mid(p) - 3} y={y(p.accuracy) - 3} width={6} height={6} />
          )}
        </g>
      ))}
    </svg>
  );
}

function DataTable({ learning, points, daily, bucket }: Figures) {
  return (
    <details id="learning-data">
      <summary>Show the figures as a table</summary>
      <TableWrap label="Learning figures">
        <table id="learning-table" class="data">
          <caption>
            Decisions per {daily ? 'day (UTC)' : bucket}: by the model and by people, and the audit sample
          </caption>
          <thead>
            <tr>
              <th scope="col">From</th>
              <th scope="col" class="num">
                By the model
              </th>
              <th scope="col" class="num">
                By people
              </th>
              <th scope="col" class="num">
                Model share
              </th>
              <th scope="col" class="num">
                Audited
              </th>
              <th scope="col" class="num">
                Audited right
              </th>
              <th scope="col" class="num">
                Accuracy
              </th>
            </tr>
          </thead>
          <tbody>
            {points.map((p) => (
              <tr key={p.start} data-start={new Date(p.start).toISOString()}>
                <th scope="row">{dateText(p.start, daily)}</th>
                <td class="num">{p.modelDecisions}</td>
                <td class="num">{p.humanDecisions}</td>
                <td class="num">{percentText(p.modelShare)}</td>
                <td class="num">{p.audited}</td>
                <td class="num">{p.auditedCorrect}</td>
                <td class="num">{percentText(p.accuracy)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      {learning.promotions.length > 0 && (
        <ul id="learning-promotions">
          {learning.promotions.map((p) => (
            <li key={`${p.version}-${p.promotedAt}`}>
              Version {p.version} promoted {dateText(Date.parse(p.promotedAt), false)}
            </li>
          ))}
        </ul>
      )}
    </details>
  );
}

/** A UTC date for buckets of a day; otherwise the reader's local date, with the time unless `time` is false. */
function dateText(ms: number, daily: boolean, time = true): string {
  const date = new Date(ms);
  if (daily) return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  return time
    ? date.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** The reader's local time of day, to the minute (or the second, for a span of a few minutes). */
function clockText(ms: number, seconds: boolean): string {
  return new Date(ms).toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    ...(seconds ? { second: '2-digit' } : {}),
  });
}
