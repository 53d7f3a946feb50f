// `hitl dlq list` and `hitl dlq redrive`: read the dead-letter topic up to where it ended when the
// command started (records dead-lettered meanwhile, a redriven record that failed again included,
// wait for the next run), and send dead letters back through the outbox (see dead-letters.ts).
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import {
  findDeadLetterRedrives,
  redriveDeadLetters,
  type DeadLetterPosition,
  type DeadLetterRedrive,
} from '@hitl/db';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import type { HitlCommand } from './args';
import {
  dlqJsonLine,
  formatDlqLine,
  LatestEntries,
  matchesFilter,
  positionOf,
  readDlqRecord,
  redriveRecord,
  RedriveRefusalCode,
  withoutPayload,
  type DlqEntry,
  type RedriveRefusal,
} from './dead-letters';
import { CliError, CliErrorCode, ExitCode } from './errors';

export interface DlqContext {
  kafka: Kafka;
  pool: Pool;
  dlqTopic: string;
  print: (value: unknown) => void;
  write: (text: string) => void;
  /** Says something about the output on stderr. */
  note: (text: string) => void;
  /** Publishes the outbox; returns how many records it published. */
  publishOutbox: () => Promise<number>;
}

export interface ReadDlqOptions {
  /** Where to stop in each partition, given its end when the read starts (default: that end). */
  stopAt?: (partition: number, end: bigint) => bigint;
  /** Fail when the read makes no progress for this long. Default 30 s. */
  stallTimeoutMs?: number;
}

// Redrives recorded per Postgres transaction: what the command holds of the topic at a time.
const REDRIVE_CHUNK = 100;

/**
 * Reads the dead-letter topic from its start up to the ends it had when the read began, calling
 * onEntry for each record in partition order (awaited: a slow onEntry slows the read). Reads
 * read_committed, so records of aborted transactions never show; an open transaction that stays
 * open stalls the read, which then fails after stallTimeoutMs instead of waiting forever.
 */
export async function readDeadLetterTopic(
  kafka: Kafka,
  topic: string,
  onEntry: (entry: DlqEntry) => Promise<void> | void,
  opts: ReadDlqOptions = {},
): Promise<void> {
  const stallTimeoutMs = opts.stallTimeoutMs ?? 30_000;
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `hitl-cli-dlq-${randomUUID()}`;
  let joined = false;
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      throw new CliError(
        CliErrorCode.dlqTopicMissing,
        `the dead-letter topic ${topic} does not exist; check DLQ_TOPIC`,
        ExitCode.noInput,
      );
    }
    // Partitions still to read, with the offset to stop before.
    const remaining = new Map<number, bigint>();
    for (const { partition, high, low } of await admin.fetchTopicOffsets(topic)) {
      const end = opts.stopAt ? opts.stopAt(partition, BigInt(high)) : BigInt(high);
      if (BigInt(low) < end) remaining.set(partition, end);
    }
    if (remaining.size === 0) return;
    const ends = new Map(remaining);

    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200, allowAutoTopicCreation: false });
    let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // A failure before `await done` (a stall while joining) must not count as unhandled.
    done.catch(() => undefined);
    let finished = false;
    const finish = (error?: unknown) => {
      if (finished) return;
      finished = true;
      if (error === undefined) settle!.resolve();
      else settle!.reject(error);
    };
    let progressAt = Date.now();
    // Fires after every batch, those that held only transaction markers or aborted records too,
    // with the batch's last offset: the one sure way to see a partition's end passed.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic !== topic) return;
      progressAt = Date.now();
      const end = remaining.get(payload.partition);
      if (end !== undefined && BigInt(payload.lastOffset) + 1n >= end) remaining.delete(payload.partition);
      if (remaining.size === 0) finish();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => finish(payload.error));
    const stallCheck = setInterval(() => {
      if (Date.now() - progressAt > stallTimeoutMs) {
        finish(
          new CliError(
            CliErrorCode.dlqReadStalled,
            `reading ${topic} made no progress for ${stallTimeoutMs / 1000} s (partitions ${[...remaining.keys()].join(', ')} unfinished); an open transaction or an unreachable broker holds it`,
            ExitCode.unavailable,
          ),
        );
      }
    }, 500);
    try {
      await consumer.connect();
      joined = true;
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const end = ends.get(batch.partition);
          for (const message of batch.messages) {
            if (finished || end === undefined || BigInt(message.offset) >= end) return;
            try {
              const at = { partition: batch.partition, offset: message.offset };
              await onEntry(readDlqRecord(at, Number(message.timestamp), message.value));
            } catch (error) {
              finish(error);
              return;
            }
          }
        },
      });
      progressAt = Date.now();
      await done;
    } finally {
      clearInterval(stallCheck);
      await consumer.disconnect();
    }
  } finally {
    // The group committed nothing; deleting it keeps `hitl status` free of throwaway groups.
    if (joined) await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

type DlqList = Extract<HitlCommand, { name: 'dlq list' }>;
type DlqRedrive = Extract<HitlCommand, { name: 'dlq redrive' }>;

/** Lists the latest `limit` dead letters that pass the filters, oldest first. */
export async function listDeadLetters(cmd: DlqList, ctx: DlqContext, now = Date.now()): Promise<void> {
  const filter = {
    code: cmd.code,
    sourceTopic: cmd.sourceTopic,
    sinceMs: cmd.since === undefined ? undefined : 'at' in cmd.since ? cmd.since.at : now - cmd.since.agoMs,
  };
  const latest = new LatestEntries(cmd.limit);
  await readDeadLetterTopic(ctx.kafka, ctx.dlqTopic, (entry) => {
    if (matchesFilter(entry, filter)) latest.offer(withoutPayload(entry));
  });
  const entries = latest.result();
  const redrives = await findDeadLetterRedrives(
    ctx.pool,
    ctx.dlqTopic,
    entries.map((e) => e.at),
  );
  for (const entry of entries) {
    const redriven = redrives.get(positionOf(entry.at));
    if (cmd.json) ctx.print(dlqJsonLine(ctx.dlqTopic, entry, redriven));
    else ctx.write(`${formatDlqLine(entry, redriven)}\n`);
  }
  if (latest.offered > entries.length) {
    ctx.note(
      `showing the latest ${entries.length} of ${latest.offered} matching records of ${ctx.dlqTopic}; narrow with --since, --code or --topic, or raise --limit\n`,
    );
  }
}

type Outcome = 'redriven' | 'already redriven' | 'would redrive' | 'refused';

/**
 * Sends the selected dead letters back to their source topics, each at most once (the redrive is
 * recorded with its outbox row), then publishes the outbox. Refused dead letters are listed with
 * their code, the others still go; the command then fails with HITL_ERR_DLQ_REFUSED.
 */
export async function redriveDeadLetterCommand(cmd: DlqRedrive, ctx: DlqContext): Promise<void> {
  const actor = cmd.actor ?? userInfo().username;
  const counts = { redriven: 0, alreadyRedriven: 0, refused: 0 };
  const refusedBy = new Map<string, number>();
  const report = (
    at: DeadLetterPosition,
    source: DeadLetterRedrive['source'] | null,
    outcome: Outcome,
    refusal?: RedriveRefusal,
  ) => {
    if (outcome === 'refused') {
      counts.refused++;
      refusedBy.set(refusal!.code, (refusedBy.get(refusal!.code) ?? 0) + 1);
    } else if (outcome === 'already redriven') counts.alreadyRedriven++;
    else counts.redriven++;
    ctx.print({ dlq: { topic: ctx.dlqTopic, ...at }, source, outcome, ...(refusal ?? {}) });
  };

  const topicsNow = await existingTopics(ctx.kafka);
  // --offsets: the dead letters not yet seen; the read stops past the last one in each partition.
  const wanted = cmd.offsets && new Map(cmd.offsets.map((at) => [positionOf(at), at]));
  const lastWanted = new Map<number, bigint>();
  for (const at of cmd.offsets ?? []) {
    const offset = BigInt(at.offset);
    if (offset >= (lastWanted.get(at.partition) ?? -1n)) lastWanted.set(at.partition, offset);
  }

  let chunk: DeadLetterRedrive[] = [];
  const flush = async () => {
    const redrives = chunk;
    chunk = [];
    if (redrives.length === 0) return;
    const sourceOf = new Map(redrives.map((r) => [positionOf(r.at), r.source]));
    if (cmd.dryRun) {
      const recorded = await findDeadLetterRedrives(
        ctx.pool,
        ctx.dlqTopic,
        redrives.map((r) => r.at),
      );
      for (const r of redrives) {
        report(r.at, r.source, recorded.has(positionOf(r.at)) ? 'already redriven' : 'would redrive');
      }
      return;
    }
    const outcome = await redriveDeadLetters(ctx.pool, ctx.dlqTopic, redrives, actor);
    for (const at of outcome.redriven) report(at, sourceOf.get(positionOf(at))!, 'redriven');
    for (const at of outcome.alreadyRedriven) report(at, sourceOf.get(positionOf(at))!, 'already redriven');
  };

  await readDeadLetterTopic(
    ctx.kafka,
    ctx.dlqTopic,
    async (entry) => {
      if (wanted) {
        if (!wanted.delete(positionOf(entry.at))) return;
      } else if (entry.kind !== 'dead letter' || entry.letter.error.code !== cmd.code) return;
      const source =
        entry.kind === 'dead letter'
          ? {
              topic: entry.letter.source.topic,
              partition: entry.letter.source.partition,
              offset: entry.letter.source.offset,
            }
          : null;
      const planned = redriveRecord(ctx.dlqTopic, entry);
      if (!planned.ok) return report(entry.at, source, 'refused', planned);
      if (!topicsNow.has(planned.record.topic)) {
        // The relay publishes in order: a record for a missing topic would hold up every row after it.
        return report(entry.at, source, 'refused', {
          code: RedriveRefusalCode.sourceTopicMissing,
          reason: `the source topic ${planned.record.topic} does not exist`,
        });
      }
      chunk.push({
        at: entry.at,
        source: source!,
        errorCode: entry.kind === 'dead letter' ? entry.letter.error.code : '',
        record: planned.record,
      });
      if (chunk.length >= REDRIVE_CHUNK) await flush();
    },
    wanted
      ? {
          stopAt: (partition, end) => {
            const last = lastWanted.get(partition);
            return last === undefined ? 0n : last + 1n < end ? last + 1n : end;
          },
        }
      : {},
  );
  await flush();
  for (const at of wanted?.values() ?? []) {
    report(at, null, 'refused', {
      code: RedriveRefusalCode.notFound,
      reason: `${ctx.dlqTopic} holds no record at partition ${at.partition}, offset ${at.offset} (not written yet, or deleted by retention)`,
    });
  }

  const published = cmd.dryRun ? 0 : await ctx.publishOutbox();
  ctx.print({ dryRun: cmd.dryRun, ...counts, published });
  if (counts.refused > 0) {
    const codes = [...refusedBy].map(([code, n]) => `${n} ${code}`).join(', ');
    throw new CliError(
      CliErrorCode.dlqRefused,
      `${counts.refused} of the selected dead letters cannot be redriven (${codes}); their lines say why${counts.redriven > 0 ? `; the other ${counts.redriven} ${cmd.dryRun ? 'would be' : 'were'} redriven` : ''}`,
      ExitCode.dataError,
    );
  }
}

async function existingTopics(kafka: Kafka): Promise<Set<string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Set(await admin.listTopics());
  } finally {
    await admin.disconnect();
  }
}
