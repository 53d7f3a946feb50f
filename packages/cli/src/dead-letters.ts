// Dead letters as `hitl dlq` reads, filters, prints and redrives them. Pure: no Kafka, no pg, so
// what is refused and why has unit tests with values.
//
// A redrive goes through the outbox, which carries a JSON value, a text key and text headers (and
// the relay adds its hitl-outbox-id header). So a redriven record is the original's JSON value,
// re-serialised (same content, not necessarily the same bytes: no whitespace, key order as
// Postgres' jsonb keeps it), with the original key and headers. Records the outbox cannot carry
// faithfully are refused rather than sent changed: payloads cut or missing, payloads that are not
// JSON (every consumer would dead-letter them again anyway), null or binary keys, binary or cut
// headers.
import { isUtf8 } from 'node:buffer';
import { createValidator, DeadLetter, type DeadLetterData } from '@hitl/contracts';
import type { DeadLetterPosition, OutboxRecord } from '@hitl/db';

/** Why a dead letter is not sent back: stable codes, as on the redrive's output lines. */
export const RedriveRefusalCode = {
  payloadTruncated: 'HITL_ERR_DLQ_PAYLOAD_TRUNCATED',
  payloadMissing: 'HITL_ERR_DLQ_PAYLOAD_MISSING',
  payloadNotJson: 'HITL_ERR_DLQ_PAYLOAD_NOT_JSON',
  keyUnsendable: 'HITL_ERR_DLQ_KEY_UNSENDABLE',
  headersUnsendable: 'HITL_ERR_DLQ_HEADERS_UNSENDABLE',
  notADeadLetter: 'HITL_ERR_DLQ_NOT_A_DEAD_LETTER',
  notFound: 'HITL_ERR_DLQ_NOT_FOUND',
  sourceTopicMissing: 'HITL_ERR_DLQ_SOURCE_TOPIC_MISSING',
} as const;

export type RedriveRefusalCode = (typeof RedriveRefusalCode)[keyof typeof RedriveRefusalCode];

export interface RedriveRefusal {
  code: RedriveRefusalCode;
  reason: string;
}

/** A record of the dead-letter topic: a dead letter, or something else that was written there. */
export type DlqEntry =
  | { kind: 'dead letter'; at: DeadLetterPosition; timestamp: number; letter: DeadLetterData }
  | { kind: 'invalid'; at: DeadLetterPosition; timestamp: number; problem: string };

/** Redriven before, as recorded. */
export interface RedriveState {
  redrivenBy: string;
  redrivenAt: Date;
  published: boolean;
}

const deadLetterValidator = createValidator(DeadLetter);

/** Reads one record of the dead-letter topic; never throws. */
export function readDlqRecord(at: DeadLetterPosition, timestamp: number, value: Buffer | null): DlqEntry {
  const invalid = (problem: string): DlqEntry => ({ kind: 'invalid', at, timestamp, problem });
  if (value === null || value.length === 0) return invalid('empty value');
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    return invalid(`not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!deadLetterValidator.check(parsed)) {
    const issues = deadLetterValidator.issues(parsed, 3).map((i) => `${i.path}: ${i.message}`);
    return invalid(`not a dead letter (${issues.join('; ')})`);
  }
  return { kind: 'dead letter', at, timestamp, letter: parsed.data };
}

export interface DlqFilter {
  code?: string;
  sourceTopic?: string;
  /** Only records written to the dead-letter topic at or after this time (ms since the epoch). */
  sinceMs?: number;
}

/** Whether an entry passes the filter; a record that is not a dead letter has no code nor topic. */
export function matchesFilter(entry: DlqEntry, filter: DlqFilter): boolean {
  if (filter.sinceMs !== undefined && entry.timestamp < filter.sinceMs) return false;
  if (filter.code === undefined && filter.sourceTopic === undefined) return true;
  if (entry.kind !== 'dead letter') return false;
  if (filter.code !== undefined && entry.letter.error.code !== filter.code) return false;
  return filter.sourceTopic === undefined || entry.letter.source.topic === filter.sourceTopic;
}

/**
 * The record to send back for a dead letter, or why it is refused. The record goes to the source
 * topic with the original key (so the default partitioner puts it where the key always goes) and
 * headers, plus hitl-redriven-from naming the dead letter.
 */
export function redriveRecord(
  dlqTopic: string,
  entry: DlqEntry,
): { ok: true; record: OutboxRecord } | ({ ok: false } & RedriveRefusal) {
  const refuse = (code: RedriveRefusalCode, reason: string) => ({ ok: false as const, code, reason });
  if (entry.kind === 'invalid') return refuse(RedriveRefusalCode.notADeadLetter, entry.problem);
  const d = entry.letter;
  if (d.payloadBase64 === null) {
    return refuse(
      RedriveRefusalCode.payloadMissing,
      d.payloadBytes > 0
        ? `the dead letter kept none of the ${d.payloadBytes}-byte payload`
        : 'the record had no value (a tombstone); there is nothing to send',
    );
  }
  if (d.payloadTruncated) {
    const kept = Buffer.byteLength(d.payloadBase64, 'base64');
    return refuse(
      RedriveRefusalCode.payloadTruncated,
      `the payload was ${d.payloadBytes} bytes and the dead letter kept only the first ${kept}`,
    );
  }
  if (d.source.key === null || d.source.keyBase64 !== undefined) {
    return refuse(
      RedriveRefusalCode.keyUnsendable,
      d.source.key === null
        ? 'the record had no key, and the outbox sends every record with one'
        : 'the key is not UTF-8 text, and the outbox sends keys as text',
    );
  }
  if (d.headersBase64 !== undefined) {
    const names = Object.keys(d.headersBase64).join(', ');
    return refuse(
      RedriveRefusalCode.headersUnsendable,
      `headers ${names} are not UTF-8 text, and the outbox sends headers as text`,
    );
  }
  if (d.truncated !== undefined && d.truncated.length > 0) {
    // The dead letter cut the key or the headers to stay sendable: they are not the original's.
    const code = d.truncated.some((t) => t.startsWith('key'))
      ? RedriveRefusalCode.keyUnsendable
      : RedriveRefusalCode.headersUnsendable;
    return refuse(code, `the dead letter did not keep all of the record: ${d.truncated.join('; ')}`);
  }
  const payload = Buffer.from(d.payloadBase64, 'base64');
  let value: unknown;
  try {
    if (!isUtf8(payload)) throw new Error('not UTF-8');
    value = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    return refuse(
      RedriveRefusalCode.payloadNotJson,
      `the payload is not JSON (${error instanceof Error ? error.message : String(error)}); the outbox carries JSON values only`,
    );
  }
  // Postgres' jsonb (the outbox's value column) refuses the NUL character.
  if (JSON.stringify(value).includes('\\u0000')) {
    return refuse(
      RedriveRefusalCode.payloadNotJson,
      'the payload holds a \\u0000, which the outbox cannot store',
    );
  }
  return {
    ok: true,
    record: {
      topic: d.source.topic,
      key: d.source.key,
      value,
      headers: {
        ...d.headers,
        [REDRIVEN_FROM_HEADER]: `${dlqTopic}/${entry.at.partition}/${entry.at.offset}`,
      },
    },
  };
}

/** Header on a redriven record: the dead letter it came from, as topic/partition/offset. */
export const REDRIVEN_FROM_HEADER = 'hitl-redriven-from';

export const positionOf = (at: DeadLetterPosition) => `${at.partition}:${at.offset}`;

/** One line of `hitl dlq list`, for people: fixed fields first, the message last. */
export function formatDlqLine(entry: DlqEntry, redriven: RedriveState | undefined): string {
  const time = new Date(entry.timestamp).toISOString();
  const where = positionOf(entry.at);
  if (entry.kind === 'invalid')
    return `${where}  ${time}  INVALID  not a dead letter: ${oneLine(entry.problem)}`;
  const d = entry.letter;
  const payload =
    d.payloadBase64 === null ? 'no-payload' : d.payloadTruncated ? 'payload-cut' : 'payload-whole';
  const state = redriven ? (redriven.published ? 'redriven' : 'redrive-pending') : 'not-redriven';
  return [
    where,
    time,
    `${d.source.topic}/${d.source.partition}/${d.source.offset}`,
    d.error.code,
    payload,
    state,
    oneLine(d.error.message),
  ].join('  ');
}

/** One JSON line of `hitl dlq list --json` (the payload and headers left out: read them on the topic). */
export function dlqJsonLine(dlqTopic: string, entry: DlqEntry, redriven: RedriveState | undefined) {
  const base = {
    dlq: { topic: dlqTopic, partition: entry.at.partition, offset: entry.at.offset },
    time: new Date(entry.timestamp).toISOString(),
  };
  if (entry.kind === 'invalid') return { ...base, valid: false, problem: entry.problem };
  const d = entry.letter;
  return {
    ...base,
    valid: true,
    source: d.source,
    consumerGroup: d.consumerGroup,
    error: d.error,
    attempts: d.attempts,
    payloadBytes: d.payloadBytes,
    payloadWhole: d.payloadBase64 !== null && !d.payloadTruncated,
    ...(d.truncated ? { truncated: d.truncated } : {}),
    redriven: redriven
      ? { by: redriven.redrivenBy, at: redriven.redrivenAt.toISOString(), published: redriven.published }
      : null,
  };
}

/**
 * The entry without the payload and headers (up to about 700 kB of a dead letter), which the list
 * never prints: what it holds per entry stays small.
 */
export function withoutPayload(entry: DlqEntry): DlqEntry {
  if (entry.kind === 'invalid') return entry;
  const { headersBase64: _bytes, ...letter } = entry.letter;
  return {
    ...entry,
    letter: { ...letter, payloadBase64: letter.payloadBase64 === null ? null : '', headers: {} },
  };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ');
}

/**
 * The latest `limit` entries by time (then partition and offset) of those offered, holding at most
 * twice the limit: what `hitl dlq list` keeps of a topic of any size.
 */
export class LatestEntries {
  private entries: DlqEntry[] = [];
  /** How many entries were offered. */
  offered = 0;

  constructor(private readonly limit: number) {}

  offer(entry: DlqEntry): void {
    this.offered++;
    this.entries.push(entry);
    if (this.entries.length >= 2 * this.limit) this.trim();
  }

  /** The kept entries, oldest first. */
  result(): DlqEntry[] {
    this.trim();
    return this.entries;
  }

  private trim(): void {
    this.entries.sort(byTime);
    if (this.entries.length > this.limit) this.entries = this.entries.slice(-this.limit);
  }
}

function byTime(a: DlqEntry, b: DlqEntry): number {
  return (
    a.timestamp - b.timestamp ||
    a.at.partition - b.at.partition ||
    Number(BigInt(a.at.offset) - BigInt(b.at.offset))
  );
}
