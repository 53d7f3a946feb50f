// Publishes the Postgres outbox to Kafka exactly once, as read_committed consumers see it, across
// crashes at any moment and with any number of replicas.
//
// The relay claims unpublished rows as numbered relay batches (1, 2, 3...) and publishes each
// batch in one Kafka transaction that also commits the batch number as the offset of a marker
// consumer group (on a marker topic nobody writes to). The marker so says "the last batch that
// reached Kafka", atomically with the batch's records. Then the batch's rows are stamped
// published. A relay that takes over first fences its predecessor (same transactional id), then
// reads the marker: claimed rows of batches at or below it reached Kafka and are only stamped,
// those above it did not and are published again, same rows, same number, before anything new.
//
// One relay publishes at a time: the leader holds a session-level advisory lock on a Postgres
// connection of its own and makes every claim and stamp on that connection, so a relay that lost
// the lock (its session ended) cannot claim any more; a successor's Kafka fence stops whatever
// that relay still had in flight. The outbox records the names (transactional id, marker group
// and topic) of the relay that leads, so that a relay named otherwise decides the batches its
// predecessor left by the predecessor's marker, and records the outbox's identity with each
// marker commit, so that a marker written for another database is not believed.
import {
  adoptOutboxRelay,
  claimedOutboxBatches,
  claimOutboxBatch,
  getOutboxRelayState,
  markOutboxBatchesPublishedThrough,
  markOutboxBatchPublished,
  outboxBacklog,
  outboxBatchRows,
  tryLockOutboxRelay,
  type OutboxRelayNames,
  type OutboxRow,
} from '@hitl/db';
import {
  backoffDelay,
  createTopicsWithLeaders,
  errorMessage,
  isFencedError,
  sendEncoded,
  sleep,
} from '@hitl/kafka';
import type { Kafka, PartitionOffset, Producer, RetryOptions, Transaction } from 'kafkajs';
import { Client, type Pool } from 'pg';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { OutboxRelayError, OutboxRelayErrorCode } from './errors';
import { outboxRelayMetrics, type OutboxRelayMetrics } from './metrics';
import { encodeOutboxRows } from './records';

export const DEFAULT_TRANSACTIONAL_ID = 'hitl-outbox-relay';
export const DEFAULT_MARKER_GROUP_ID = 'hitl-outbox-relay';
export const DEFAULT_MARKER_TOPIC = 'hitl.outbox-relay.v1';

export interface OutboxRelayOptions {
  /** The outbox's database. Its settings also open the relay's own connection (the lock holder). */
  pool: Pool;
  kafka: Kafka;
  logger: Logger;
  /**
   * Kafka transactional id; stable, and the same for every relay of this outbox, replicas and the
   * hitl command (which uses the defaults) alike: a new leader fences the old one with it, and a
   * relay named otherwise must fence and settle before it leads. One per outbox: relays of two
   * databases must not share it, nor the marker group. Default 'hitl-outbox-relay'.
   */
  transactionalId?: string;
  /** Consumer group whose committed offset is the marker. Default 'hitl-outbox-relay'. */
  markerGroupId?: string;
  /** One-partition topic the marker offset is committed on; created if missing, never written. */
  markerTopic?: string;
  /** Rows per relay batch (one Kafka transaction each). Default 100. */
  batchSize?: number;
  /** How often an idle leader looks for new rows and a standby for the lead. Default 1000 ms. */
  pollIntervalMs?: number;
  /**
   * How often an idle leader commits its marker again. Kafka drops the offsets of a group without
   * members offsets.retention.minutes (7 days by default) after their last commit. Default 1 h.
   */
  markerRefreshMs?: number;
  /** Where the metrics go (default: a private registry). */
  registry?: Registry;
}

export interface DrainOptions {
  /**
   * Stop claiming new batches after this long and fail with HITL_ERR_OUTBOX_RELAY_TIMEOUT if rows
   * are left (the batch in flight completes). Default 60 s.
   */
  timeoutMs?: number;
}

/** One spell as leader: the lock's connection and the producer that fenced the previous leader. */
interface Term {
  /** Holds the relay lock; every claim and stamp of this term goes through it. */
  client: Client;
  producer: Producer;
  outboxId: string;
  /** The names of the relay that led before (null: none ever did). */
  previous: OutboxRelayNames | null;
  /** The last relay batch committed to Kafka (0: none). */
  marker: number;
  /** When the marker was last committed (ms since the epoch; 0: not in this term). */
  markerCommittedAt: number;
}

interface Marker {
  batch: number;
  /** The identity of the outbox that committed it (the commit's metadata). */
  outboxId: string | null;
}

// Back-to-back transactions meet CONCURRENT_TRANSACTIONS while the previous commit completes;
// kafkajs' default first retry of 300 ms would cost every batch that much (kafkajs issue #304).
const PRODUCER_RETRY: RetryOptions = { initialRetryTime: 3, maxRetryTime: 5_000, retries: 12 };
// kafkajs does not retry AddOffsetsToTxn at all; the relay does, as briefly.
const MARKER_COMMIT_TRIES = 40;
// How long a drain that finds another relay leading waits for it to claim what is pending.
const DRAIN_LEADER_GRACE_MS = 1_000;
// A Postgres connection that stops answering (no reset seen) must not hang the relay.
const QUERY_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 5_000;
const MAX_FAILURE_BACKOFF_MS = 30_000;

/**
 * The outbox relay: `start()` for a service (lead or stand by, publish, repeat), `drain()` for a
 * command that publishes what is pending and exits. Either way each outbox row reaches Kafka in
 * exactly one committed transaction, with its id in the `hitl-outbox-id` header.
 */
export class OutboxRelay {
  private readonly pool: Pool;
  private readonly kafka: Kafka;
  private readonly log: Logger;
  private readonly names: OutboxRelayNames;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly markerRefreshMs: number;
  private readonly metrics: OutboxRelayMetrics;

  private term: Term | undefined;
  /** A standby's connection, kept between tries for the lock; it becomes the term's when taken. */
  private standbyClient: Client | undefined;
  private markerTopicReady = false;
  private loop: Promise<void> | undefined;
  private drains: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private readonly stopSignal = new AbortController();
  private woken = false;
  private wake: (() => void) | undefined;

  constructor(opts: OutboxRelayOptions) {
    this.pool = opts.pool;
    this.kafka = opts.kafka;
    this.names = {
      transactionalId: opts.transactionalId ?? DEFAULT_TRANSACTIONAL_ID,
      markerGroupId: opts.markerGroupId ?? DEFAULT_MARKER_GROUP_ID,
      markerTopic: opts.markerTopic ?? DEFAULT_MARKER_TOPIC,
    };
    this.batchSize = positiveInteger('batchSize', opts.batchSize ?? 100);
    this.pollIntervalMs = positiveInteger('pollIntervalMs', opts.pollIntervalMs ?? 1_000);
    this.markerRefreshMs = positiveInteger('markerRefreshMs', opts.markerRefreshMs ?? 3_600_000);
    this.metrics = outboxRelayMetrics(opts.registry ?? new Registry());
    this.log = opts.logger.child({
      component: 'outbox-relay',
      transactionalId: this.names.transactionalId,
      markerGroupId: this.names.markerGroupId,
    });
  }

  /** True while this relay is the one publishing. */
  get leading(): boolean {
    return this.term !== undefined;
  }

  /**
   * Starts the loop in the background: take the lead (or stand by, trying again every
   * pollIntervalMs), recover, publish, and look again every pollIntervalMs or on wakeUp().
   * Failures are logged and retried with backoff; the loop ends only with stop().
   */
  async start(): Promise<void> {
    if (this.loop || this.stopping) throw new Error('the outbox relay was started already');
    await this.drains;
    this.loop = this.run();
    this.log.info({ pollIntervalMs: this.pollIntervalMs, batchSize: this.batchSize }, 'outbox relay started');
  }

  /** Asks a started relay to look for rows now rather than at its next poll (e.g. after a commit). */
  wakeUp(): void {
    this.woken = true;
    this.wake?.();
  }

  /**
   * Publishes what is pending and returns how many rows it published: takes the lead, recovers
   * what an earlier relay left, publishes until nothing is left, and lets go. Returns 0 at once,
   * without connecting to Kafka, when nothing is pending, and 0 when another relay leads (it
   * publishes them). Errors (Kafka unreachable...) are thrown; the rows stay for the next relay.
   */
  async drain(opts: DrainOptions = {}): Promise<number> {
    if (this.loop) {
      throw new OutboxRelayError(
        OutboxRelayErrorCode.running,
        'drain() is for a relay that is not started; a started relay publishes by itself (wakeUp() hurries it)',
      );
    }
    const run = this.drains.then(() => this.drainOnce(opts.timeoutMs ?? 60_000));
    this.drains = run.catch(() => undefined);
    return run;
  }

  /** Stops the loop after the batch in hand, lets go of the lead and closes its connections. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    this.wake?.();
    await this.loop;
    await this.drains;
    await this.stepDown();
    if (this.loop) this.log.info('outbox relay stopped');
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      this.woken = false;
      try {
        let term = this.term;
        if (!term) {
          term = await this.lead();
          if (term) await this.recover(term);
        }
        if (term) {
          const published = await this.publishPending(term);
          if (published === 0 && !this.stopping) await this.refreshMarkerIfDue(term);
        }
        await this.observeBacklog();
        failures = 0;
      } catch (error) {
        failures++;
        this.logFailure(error, failures);
        await this.stepDown();
        const waitMs = backoffDelay(failures, {
          initialMs: this.pollIntervalMs,
          maxMs: Math.max(this.pollIntervalMs, MAX_FAILURE_BACKOFF_MS),
        });
        await sleep(waitMs, this.stopSignal.signal);
        continue;
      }
      await this.idle();
    }
    await this.stepDown();
  }

  private async drainOnce(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    // With nothing pending a command costs this one query and no broker connection.
    if ((await outboxBacklog(this.pool)).pending === 0) return 0;
    try {
      let term = await this.lead();
      const graceUntil = Math.min(deadline, Date.now() + DRAIN_LEADER_GRACE_MS);
      while (!term) {
        // Another relay leads and publishes what it claims. Wait a moment only in case it is a
        // drain that took its last look just before our rows committed and is about to let go.
        const { unclaimed } = await outboxBacklog(this.pool);
        if (unclaimed === 0 || Date.now() >= graceUntil || this.stopping) {
          this.log.debug({ unclaimed }, 'another relay leads; leaving the outbox to it');
          return 0;
        }
        await sleep(50, this.stopSignal.signal);
        term = await this.lead();
      }
      let published = await this.recover(term);
      published += await this.publishPending(term, deadline);
      await this.observeBacklog();
      return published;
    } finally {
      await this.stepDown();
    }
  }

  /** Takes the lead if no other relay has it: the lock, then the Kafka fence. */
  private async lead(): Promise<Term | undefined> {
    const client = this.standbyClient ?? (await this.connectClient());
    this.standbyClient = client;
    if (!(await tryLockOutboxRelay(client))) return undefined;
    this.standbyClient = undefined;
    let producer: Producer | undefined;
    try {
      const { outboxId, relay: previous } = await getOutboxRelayState(client);
      producer = this.transactionalProducer(this.names.transactionalId);
      await producer.connect();
      // kafkajs registers the transactional id on the first transaction, not on connect. This
      // empty one bumps the epoch, which fences the previous leader and settles the transaction
      // it left open (aborted, or committed if its commit had begun), before the marker is read.
      const fence = await producer.transaction();
      await fence.abort();
      this.term = { client, producer, outboxId, previous, marker: 0, markerCommittedAt: 0 };
      this.metrics.leader.set(1);
      this.log.info('leading the outbox relay');
      return this.term;
    } catch (error) {
      await producer?.disconnect().catch(() => undefined);
      await closeClient(client);
      throw error;
    }
  }

  private transactionalProducer(transactionalId: string): Producer {
    return this.kafka.producer({
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      // A transaction left open by a relay that never comes back blocks read_committed readers
      // of its partitions until this runs out (a successor aborts it at once).
      transactionTimeout: 30_000,
      retry: PRODUCER_RETRY,
    });
  }

  /**
   * Settles what earlier relays left: stamps the claimed batches the marker covers, publishes the
   * others again in batch order. Returns how many rows it published.
   */
  private async recover(term: Term): Promise<number> {
    if (!sameNames(term.previous, this.names)) await this.takeOver(term);
    const claimed = await claimedOutboxBatches(term.client);
    term.marker = this.trusted(await this.readMarker(this.names), term, claimed);
    const stamped = term.marker > 0 ? await markOutboxBatchesPublishedThrough(term.client, term.marker) : 0;
    let republished = 0;
    for (const batch of claimed) {
      if (batch <= term.marker) continue;
      const rows = await outboxBatchRows(term.client, batch);
      await this.publishBatch(term, batch, rows);
      await markOutboxBatchPublished(term.client, batch);
      republished += rows.length;
    }
    if (stamped > 0 || republished > 0) {
      this.log.info(
        { marker: term.marker, stamped, republished },
        'recovered the batches an earlier relay left unstamped',
      );
    }
    return republished;
  }

  /**
   * Takes the outbox over from a relay with other names (a renamed deployment, or the hitl
   * command's defaults after a service's own names): the batches it left claimed are decided by
   * its marker, not ours, which may say anything about them. Its transactional id is fenced first
   * so that nothing it had in flight commits after its marker is read. Stamps what it published,
   * releases the rest to be claimed again under our numbering, and records our names, in one
   * Postgres transaction.
   */
  private async takeOver(term: Term): Promise<void> {
    const previous = term.previous;
    let through = 0;
    const claimed = await claimedOutboxBatches(term.client);
    if (previous && claimed.length > 0) {
      const fence = this.transactionalProducer(previous.transactionalId);
      await fence.connect();
      try {
        await (await fence.transaction()).abort();
      } finally {
        await fence.disconnect();
      }
      through = this.trusted(await this.readMarker(previous), term, claimed);
    }
    const { stamped, released } = await adoptOutboxRelay(term.client, this.names, through);
    term.previous = this.names;
    if (previous) {
      this.log.warn(
        { previous, stamped, released },
        'took the outbox over from a relay with other names; every relay of one outbox should share them',
      );
    }
  }

  /**
   * The marker's batch if this outbox committed it, else 0. Another outbox's marker (two
   * databases relaying under one set of names) says nothing about this one's claimed batches:
   * they are then published again, which repeats them if they had reached Kafka.
   */
  private trusted(marker: Marker, term: Term, claimed: readonly number[]): number {
    if (marker.batch === 0 || marker.outboxId === term.outboxId) return marker.batch;
    const fields = {
      code: OutboxRelayErrorCode.foreignMarker,
      markerBatch: marker.batch,
      markerOutboxId: marker.outboxId,
      outboxId: term.outboxId,
      claimedBatches: claimed,
    };
    const message =
      'the marker group holds the marker of another outbox: give each outbox its own transactional id and marker group';
    if (claimed.length > 0) this.log.error(fields, `${message}; its claimed batches are published again`);
    else this.log.warn(fields, message);
    return 0;
  }

  /** Claims, publishes and stamps batches until none is left (or the relay stops). */
  private async publishPending(term: Term, deadline = Infinity): Promise<number> {
    let published = 0;
    while (!this.stopping) {
      const batch = term.marker + 1;
      const rows = await claimOutboxBatch(term.client, batch, this.batchSize);
      if (rows.length === 0) break;
      await this.publishBatch(term, batch, rows);
      await markOutboxBatchPublished(term.client, batch);
      published += rows.length;
      if (Date.now() >= deadline) {
        const { unclaimed } = await outboxBacklog(term.client);
        if (unclaimed > 0) {
          throw new OutboxRelayError(
            OutboxRelayErrorCode.timeout,
            `published ${published} outbox records but ran out of time with ${unclaimed} left; they stay in the outbox for the next relay`,
          );
        }
      }
    }
    return published;
  }

  /** One Kafka transaction: the batch's records and the marker moved to its number. */
  private async publishBatch(term: Term, batch: number, rows: readonly OutboxRow[]): Promise<void> {
    const transaction = await term.producer.transaction();
    try {
      await sendEncoded(transaction, encodeOutboxRows(rows));
      await this.commitMarker(transaction, batch, term.outboxId);
      await transaction.commit();
    } catch (error) {
      // Fenced or not, the relay steps down and its successor settles the transaction.
      await transaction.abort().catch((abortError: unknown) => {
        this.log.debug({ err: abortError }, 'transaction abort failed');
      });
      throw error;
    }
    term.marker = batch;
    term.markerCommittedAt = Date.now();
    for (const row of rows) this.metrics.published.inc({ topic: row.topic });
  }

  private async commitMarker(transaction: Transaction, batch: number, outboxId: string): Promise<void> {
    // kafkajs types the offset without its metadata field, which it does send.
    const partition: PartitionOffset & { metadata: string } = {
      partition: 0,
      offset: String(batch),
      metadata: outboxId,
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await transaction.sendOffsets({
          consumerGroupId: this.names.markerGroupId,
          topics: [{ topic: this.names.markerTopic, partitions: [partition] }],
        });
        return;
      } catch (error) {
        if (attempt >= MARKER_COMMIT_TRIES || !isConcurrentTransactions(error)) throw error;
        await sleep(Math.min(5 * attempt, 100));
      }
    }
  }

  /** An idle leader commits its marker again now and then, so the broker keeps it. */
  private async refreshMarkerIfDue(term: Term): Promise<void> {
    if (term.marker === 0 || Date.now() - term.markerCommittedAt < this.markerRefreshMs) return;
    await this.publishBatch(term, term.marker, []);
    this.log.debug({ marker: term.marker }, 'marker committed again');
  }

  /** A relay's marker: the last batch it committed, and which outbox committed it. */
  private async readMarker(names: OutboxRelayNames): Promise<Marker> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const own = names.markerTopic === this.names.markerTopic;
      if (!own || !this.markerTopicReady) {
        if (!(await admin.listTopics()).includes(names.markerTopic)) {
          // Offsets go with their topic: a missing marker topic holds no marker.
          if (!own) return { batch: 0, outboxId: null };
          await createTopicsWithLeaders(admin, [{ topic: names.markerTopic, numPartitions: 1 }]);
          this.log.info({ topic: names.markerTopic }, 'marker topic created');
        }
        if (own) this.markerTopicReady = true;
      }
      const [offsets] = await admin.fetchOffsets({
        groupId: names.markerGroupId,
        topics: [names.markerTopic],
      });
      const partition = offsets?.partitions.find((p) => p.partition === 0);
      const batch = Number(partition?.offset ?? -1);
      return batch > 0 ? { batch, outboxId: partition?.metadata ?? null } : { batch: 0, outboxId: null };
    } finally {
      await admin.disconnect();
    }
  }

  private async observeBacklog(): Promise<void> {
    const backlog = await outboxBacklog(this.term?.client ?? this.pool);
    this.metrics.pending.set(backlog.pending);
    this.metrics.oldestPending.set(backlog.oldestPendingSeconds);
  }

  /** Ends the term (if any): the producer, then the lock's connection, which lets go of the lock. */
  private async stepDown(): Promise<void> {
    const term = this.term;
    const standby = this.standbyClient;
    this.term = undefined;
    this.standbyClient = undefined;
    if (standby) await closeClient(standby);
    if (!term) return;
    this.metrics.leader.set(0);
    await term.producer.disconnect().catch((error: unknown) => {
      this.log.warn({ err: error }, 'outbox relay producer did not disconnect cleanly');
    });
    await closeClient(term.client);
    this.log.info({ marker: term.marker }, 'no longer leading the outbox relay');
  }

  /** A connection of the relay's own with the pool's settings: the lock lives as long as it does. */
  private async connectClient(): Promise<Client> {
    const settings = this.pool.options;
    const client = new Client({
      ...settings,
      // pg keeps the password off the enumerable options.
      password: settings.password,
      keepAlive: true,
      query_timeout: QUERY_TIMEOUT_MS,
    });
    // Without a listener a dropped idle connection would crash the process; the next query on it
    // fails and the relay steps down.
    client.on('error', (error) => this.log.warn({ err: error }, 'outbox relay connection failed'));
    try {
      await client.connect();
    } catch (error) {
      await closeClient(client);
      throw error;
    }
    return client;
  }

  /** Waits pollIntervalMs, or less on wakeUp() or stop(). */
  private idle(): Promise<void> {
    if (this.woken || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.pollIntervalMs);
      this.wake = done;
    });
  }

  private logFailure(error: unknown, failures: number): void {
    if (isFencedError(error)) {
      this.log.warn(
        { err: error },
        'fenced by another relay with the same transactional id; stepping down, will recover when leading again',
      );
    } else {
      this.log.error({ err: error, failures }, `outbox relay failed (${errorMessage(error)}); stepping down`);
    }
  }
}

function sameNames(a: OutboxRelayNames | null, b: OutboxRelayNames): boolean {
  return (
    a !== null &&
    a.transactionalId === b.transactionalId &&
    a.markerGroupId === b.markerGroupId &&
    a.markerTopic === b.markerTopic
  );
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function isConcurrentTransactions(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    if ((e as { type?: unknown }).type === 'CONCURRENT_TRANSACTIONS') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

async function closeClient(client: Client): Promise<void> {
  // end() waits for the server's goodbye, which a dead connection never sends.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
}
