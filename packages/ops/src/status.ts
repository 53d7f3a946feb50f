// The operator's first look: consumer lag, the review queue and the models, in one object, and
// as the text `hitl status` prints.
import type { Admin } from 'kafkajs';
import type { Pool } from 'pg';
import { consumerGroupLag, type ConsumerGroupLagOptions, type GroupLag } from './lag';
import { modelStatus, type ModelStatus } from './models';
import { reviewQueueStatus, type ReviewQueueStatus } from './review-queue';

export interface SystemStatus {
  /** When it was read. */
  at: string;
  consumerGroups: GroupLag[];
  reviewQueue: ReviewQueueStatus;
  models: ModelStatus[];
}

export interface CollectStatusOptions {
  /** A connected Kafka admin client. */
  admin: Admin;
  pool: Pool;
  groups?: ConsumerGroupLagOptions;
  /** These models only (default: every model in the registry). */
  modelIds?: readonly string[];
}

export async function collectStatus(opts: CollectStatusOptions): Promise<SystemStatus> {
  const at = new Date().toISOString();
  const [consumerGroups, reviewQueue, models] = await Promise.all([
    consumerGroupLag(opts.admin, opts.groups),
    reviewQueueStatus(opts.pool),
    modelStatus(opts.pool, opts.modelIds),
  ]);
  return { at, consumerGroups, reviewQueue, models };
}

/** Seconds as the largest two units: 45s, 12m 5s, 3h 20m, 2d 4h. */
export function formatAge(seconds: number | null): string {
  if (seconds === null) return '-';
  const s = Math.floor(seconds);
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  const first = units.findIndex(([, size]) => s >= size);
  if (first < 0) return '0s';
  const [unit, size] = units[first]!;
  const head = `${Math.floor(s / size)}${unit}`;
  const next = units[first + 1];
  if (!next) return head;
  const rest = Math.floor((s % size) / next[1]);
  return rest > 0 ? `${head} ${rest}${next[0]}` : head;
}

/** Rows as columns padded to their widest cell; numbers right-aligned. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const cells = [header, ...rows].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]?.length ?? 0)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number'));
  return cells
    .map((row) =>
      row
        .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const figure = (value: unknown) =>
  typeof value === 'number' && Number.isFinite(value) ? String(Math.round(value * 1000) / 1000) : '-';

/** The status as text: one table per part, for a terminal. */
export function formatStatus(status: SystemStatus): string {
  const now = Date.parse(status.at);
  const since = (iso: string | null) =>
    iso === null ? '-' : `${formatAge((now - Date.parse(iso)) / 1000)} ago`;
  const out: string[] = [`hitl status at ${status.at}`, ''];

  const groups = status.consumerGroups;
  out.push(`CONSUMER GROUPS (${groups.length})`);
  const lagRows = groups.flatMap((g) => {
    const head = [g.groupId, g.state, g.members] as const;
    if (g.error !== undefined) return [[...head, `error: ${g.error}`, '-', '-']];
    if (g.topics.length === 0) return [[...head, '(no committed offsets)', '-', '-']];
    return g.topics.map((t) => [...head, t.topic, t.partitions.length, t.lag]);
  });
  out.push(
    groups.length > 0
      ? formatTable(['GROUP', 'STATE', 'MEMBERS', 'TOPIC', 'PARTITIONS', 'LAG'], lagRows)
      : '(none)',
    '',
  );

  const q = status.reviewQueue;
  out.push(
    `REVIEW QUEUE: ${q.open} open, ${q.escalated} escalated, ${q.leased} leased; oldest ${formatAge(q.oldestAgeSeconds)}`,
  );
  if (q.groups.length > 0) {
    out.push(
      formatTable(
        ['STATUS', 'REASON', 'TASKS', 'OLDEST'],
        q.groups.map((g) => [g.status, g.reason, g.tasks, formatAge(g.oldestAgeSeconds)]),
      ),
    );
  }
  out.push('');

  out.push(`MODELS (${status.models.length})`);
  out.push(
    status.models.length > 0
      ? formatTable(
          ['MODEL', 'PROMOTED', 'SINCE', 'VERSIONS', 'MACRO-F1', 'ACCURACY', 'EVAL', 'LAST TRAINING'],
          status.models.map((m) => {
            const metrics = m.promoted?.metrics ?? {};
            const run = m.lastTraining;
            return [
              m.modelId,
              m.promoted ? `v${m.promoted.version}` : 'none',
              since(m.promoted?.promotedAt ?? null),
              m.versions,
              figure(metrics['macroF1']),
              figure(metrics['accuracy']),
              figure(metrics['evalExamples']),
              run
                ? `${run.status}${run.outcome ? ` ${run.outcome}` : ''} ${since(run.finishedAt ?? run.startedAt)}`
                : '-',
            ];
          }),
        )
      : '(none)',
  );
  return `${out.join('\n')}\n`;
}
