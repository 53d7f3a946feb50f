// The queue as it stands, refreshed every 5 s while the page is shown: what waits, why, for
// which class, how long the oldest has waited, and decisions per hour.
import type { ReviewClient, ReviewStats } from '@hitl/client/browser';
import { ageText, timeText } from '../format';
import { Alert, PageTitle, Status, TableWrap, useLoad } from '../components/ui';

const EVERY_MS = 5_000;

export function QueuePage({ client }: { client: ReviewClient }) {
  const { data: stats, error, loading } = useLoad(() => client.stats(), [client], EVERY_MS);

  return (
    <div class="page" id="queue-page">
      <PageTitle>Queue</PageTitle>
      <p class="hint">Refreshed every 5 seconds while this page is open.</p>
      <Status id="queue-status" text={loading ? 'Loading the queue…' : null} />
      <Alert id="queue-error" text={error && `Could not load the queue: ${error}`} />
      {stats && <QueueFigures stats={stats} />}
    </div>
  );
}

function QueueFigures({ stats }: { stats: ReviewStats }) {
  const { queue, decisions } = stats;
  return (
    <>
      <section aria-labelledby="queue-now">
        <h2 id="queue-now">Waiting now</h2>
        <dl class="figures-grid">
          <div>
            <dt>Open</dt>
            <dd id="queue-open">{queue.open}</dd>
          </div>
          <div>
            <dt>Escalated</dt>
            <dd id="queue-escalated">{queue.escalated}</dd>
          </div>
          <div>
            <dt>Leased</dt>
            <dd id="queue-leased">{queue.leased}</dd>
          </div>
          <div>
            <dt>Oldest waiting</dt>
            <dd id="queue-oldest">{ageText(queue.oldestWaitingSeconds)}</dd>
          </div>
          <div>
            <dt>Decisions, last hour</dt>
            <dd id="decisions-last-hour">{decisions.lastHour}</dd>
          </div>
          <div>
            <dt>Decisions, last 24 hours</dt>
            <dd id="decisions-last-24-hours">{decisions.last24Hours}</dd>
          </div>
        </dl>
      </section>
      <section aria-labelledby="queue-depth">
        <h2 id="queue-depth">Depth</h2>
        <div class="side-by-side">
          <CountTable id="queue-by-reason" caption="By reason" heading="Reason" counts={queue.byReason} />
          <CountTable id="queue-by-class" caption="By class" heading="Class" counts={queue.byClass} />
          <CountTable id="queue-by-stream" caption="By stream" heading="Stream" counts={queue.byStream} />
        </div>
      </section>
      <section aria-labelledby="per-hour-heading">
        <h2 id="per-hour-heading">Decisions per hour</h2>
        <PerHourChart perHour={decisions.perHour} />
      </section>
    </>
  );
}

function CountTable({
  id,
  caption,
  heading,
  counts,
}: {
  id: string;
  caption: string;
  heading: string;
  counts: Record<string, number>;
}) {
  const rows = Object.entries(counts).sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  return (
    <TableWrap label={`Queue depth ${caption.toLowerCase()}`}>
      <table id={id} class="data">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{heading}</th>
            <th scope="col" class="num">
              Tasks
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={2}>None waiting</td>
            </tr>
          ) : (
            rows.map(([name, n]) => (
              <tr key={name} data-key={name}>
                <th scope="row">{name}</th>
                <td class="num">{n}</td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </TableWrap>
  );
}

const CHART_W = 640;
const CHART_H = 180;
const PAD = { left: 40, right: 8, top: 10, bottom: 28 };

/** A bar per hour, drawn as SVG; the same figures in a table for screen readers. */
function PerHourChart({ perHour }: { perHour: ReviewStats['decisions']['perHour'] }) {
  if (perHour.length === 0) {
    return (
      <p id="per-hour-empty" class="hint">
        No decisions in the last 24 hours.
      </p>
    );
  }
  const hours = [...perHour].sort((a, b) => a.hour.localeCompare(b.hour));
  const max = Math.max(1, ...hours.map((h) => h.count));
  const plotW = CHART_W - PAD.left - PAD.right;
  const plotH = CHART_H - PAD.top - PAD.bottom;
  const slot = plotW / hours.length;
  const barW = Math.max(1, slot * 0.8);
  const y = (n: number) => PAD.top + plotH - (n / max) * plotH;
  const total = hours.reduce((sum, h) => sum + h.count, 0);
  const labelEvery = Math.ceil(hours.length / 8);
  return (
    <>
      <svg
        id="decisions-per-hour"
        class="chart"
        viewBox={`0 0 ${CHART_W} ${CHART_H}`}
        role="img"
        aria-labelledby="per-hour-title"
      >
        <title id="per-hour-title">
          {`Decisions per hour: ${total} over ${hours.length} hours, at most ${max} in one hour.`}
        </title>
        <line class="axis" x1={PAD.left} y1={PAD.top + plotH} x2={CHART_W - PAD.right} y2={PAD.top + plotH} />
        <line class="axis" x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={PAD.top + plotH} />
        <text class="tick anchor-end" x={PAD.left - 4} y={y(max) + 4}>
          {max}
        </text>
        <text class="tick anchor-end" x={PAD.left - 4} y={y(0)}>
          0
        </text>
        {hours.map((h, i) => (
          <g key={h.hour}>
            <rect
              class="bar"
              x={PAD.left + i * slot + (slot - barW) / 2}
              y={y(h.count)}
              width={barW}
              height={y(0) - y(h.count)}
            />
            {i % labelEvery === 0 && (
              <text class="tick anchor-middle" x={PAD.left + i * slot + slot / 2} y={CHART_H - 8}>
                {hourText(h.hour)}
              </text>
            )}
          </g>
        ))}
      </svg>
      <details id="per-hour-details">
        <summary>Decisions per hour as a table</summary>
        <TableWrap label="Decisions per hour">
          <table id="per-hour-table" class="data">
            <caption>Decisions per hour</caption>
            <thead>
              <tr>
                <th scope="col">Hour</th>
                <th scope="col" class="num">
                  Decisions
                </th>
              </tr>
            </thead>
            <tbody>
              {hours.map((h) => (
                <tr key={h.hour}>
                  <th scope="row">{timeText(h.hour)}</th>
                  <td class="num">{h.count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      </details>
    </>
  );
}

function hourText(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? iso
    : date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}
