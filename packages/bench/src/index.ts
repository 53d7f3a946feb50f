// What the benchmarks share. Each benchmark prints progress to stderr and its figures to stdout,
// ending with one line of JSON.
import { stableFraction } from '@hitl/datasets';
import type { InputEvent } from '@hitl/contracts';
import { createPool, migrate, promoteModelVersion, registerModelVersion } from '@hitl/db';
import { toOnnx, trainTextClassifier } from '@hitl/model';
import { ProcessGroup, createTestDatabase, kafkaBrokers, uniqueName, type TestDatabase } from '@hitl/testkit';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { pino } from 'pino';
import { join } from 'node:path';
import { UsageMonitor } from './usage';

/**
 * The baseline process: the inference service's consumer-producer loop from @hitl/kafka (same
 * validation, transactions, batch size and concurrency) that scores nothing. Configured like the
 * inference service (EVENTS_TOPIC, PREDICTIONS_TOPIC, GROUP_ID, BATCH_SIZE, ...).
 */
export const passThroughScript = join(__dirname, '..', 'benches', 'pass-through.ts');

export function progress(bench: string): (message: string) => void {
  return (message) => process.stderr.write(`[bench:${bench}] ${message}\n`);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Sum of a consumer group's committed offsets on a topic. */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

/**
 * Records/s of a consumer group draining `total` records of a topic: from the first commit seen
 * to the last, sampling the group's committed offsets every 50 ms (in exactly-once mode the
 * offsets commit in the outputs' transaction). Group join time is not counted. A group that had
 * committed `from` records before the drain counts from its first commit beyond them.
 */
export async function drainRate(
  admin: Admin,
  groupId: string,
  topic: string,
  total: number,
  from = 0,
): Promise<number> {
  let first: { at: number; done: number } | undefined;
  const deadline = Date.now() + 600_000;
  for (;;) {
    const done = await committedOffsets(admin, groupId, topic);
    const at = performance.now();
    if (!first && done > from) first = { at, done };
    if (first && done >= total) {
      if (first.done >= total) throw new Error('drained before the first sample; use more events');
      return ((done - first.done) / (at - first.at)) * 1000;
    }
    if (Date.now() > deadline) throw new Error(`${groupId}: ${done} of ${total} after 10 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs a benchmark's main: on failure prints the error on stderr and exits 1. */
export function runBench(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(
      `bench:${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}

/** Prints the human lines, then the figures as the one closing line of JSON. */
export function printFigures(lines: readonly string[], figures: unknown): void {
  process.stdout.write([...lines, ''].join('\n'));
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

/** An email as the benchmarks use it (from @hitl/datasets' spamAssassin()). */
export interface BenchEmail {
  id: string;
  text: string;
  label: string;
}

/**
 * The benchmarks' served model: the TF-IDF text classifier trained on the 80% of `emails` outside
 * the stable 20% hold-out, registered as a new model id and promoted.
 */
export async function trainServedModel(pool: ReturnType<typeof createPool>, emails: readonly BenchEmail[]) {
  const train = emails.filter((e) => stableFraction(e.id) >= 0.2);
  const heldOut = emails.filter((e) => stableFraction(e.id) < 0.2);
  const started = performance.now();
  const classes = ['ham', 'spam'];
  const model = trainTextClassifier({
    texts: train.map((e) => e.text),
    labels: train.map((e) => e.label),
    classes,
    maxFeatures: 20_000,
    epochs: 5,
    seed: 1,
  });
  const trainSeconds = (performance.now() - started) / 1000;
  const modelId = uniqueName('bench-spam');
  const onnx = toOnnx(model, { modelId });
  const registered = await registerModelVersion(pool, { modelId, onnx, classes, inputKind: 'text' });
  await promoteModelVersion(pool, modelId, registered.version);
  return { modelId, onnx, classes, model, heldOut, trainSeconds };
}

export interface OfferAtRateOptions {
  producer: Producer;
  topic: string;
  partitions: number;
  rate: number;
  seconds: number;
  /** The n-th event offered: its id and its record's JSON. */
  event: (n: number) => { id: string; json: string };
}

/**
 * Offers `rate` events/s for `seconds` on an absolute schedule (a late tick is not made up by
 * sending faster, nor does lateness add up), one partition per 10 ms tick, round-robin, so that
 * the one append time the broker returns for a tick's batch (LogAppendTime) is each event's.
 * Returns each event's append time by id, and how long the offering took.
 */
export async function offerAtRate(o: OfferAtRateOptions) {
  const appendedAt = new Map<string, number>();
  const total = Math.round(o.rate * o.seconds);
  // Events per 10 ms tick; at a rate that is not a multiple of 100/s, ticks take turns rounding.
  const perTick = (o.rate * 10) / 1000;
  const started = Date.now();
  for (let tick = 0; Math.round(tick * perTick) < total; tick++) {
    const from = Math.round(tick * perTick);
    const to = Math.min(total, Math.round((tick + 1) * perTick));
    if (to === from) continue;
    const due = started + tick * 10;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const events = Array.from({ length: to - from }, (_, j) => o.event(from + j));
    const [result] = await o.producer.send({
      topic: o.topic,
      acks: -1,
      messages: events.map((e) => ({ key: e.id, value: e.json, partition: tick % o.partitions })),
    });
    for (const e of events) appendedAt.set(e.id, Number(result!.logAppendTime));
  }
  return { appendedAt, offered: total, offeredSeconds: (Date.now() - started) / 1000 };
}

export interface BenchInfra {
  kafka: Kafka;
  admin: Admin;
  db: TestDatabase;
  pool: ReturnType<typeof createPool>;
  processes: ProcessGroup;
  /** Peak RSS and CPU time of the processes the body watches (each service a child process). */
  usage: UsageMonitor;
}

/**
 * Runs a benchmark's body with a Kafka client and a connected admin, a fresh migrated database
 * with a pool on it, and a process group; afterwards, whatever happened, stops the processes,
 * deletes `topicNames` and drops the database.
 */
export async function withBenchInfra(
  topicNames: readonly string[],
  body: (infra: BenchInfra) => Promise<void>,
): Promise<void> {
  const kafka = new Kafka({ clientId: 'hitl-bench', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const db = await createTestDatabase('hitl_bench');
  const pool = createPool({ connectionString: db.url, max: 2 });
  const processes = new ProcessGroup();
  const usage = new UsageMonitor();
  try {
    await migrate({ databaseUrl: db.url, logger: pino({ level: 'silent' }) });
    await body({ kafka, admin, db, pool, processes, usage });
  } finally {
    usage.stop();
    await processes.stopAll('SIGTERM').catch(() => undefined);
    await admin.deleteTopics({ topics: [...topicNames] }).catch(() => undefined);
    await admin.disconnect();
    await pool.end();
    await db.drop();
  }
}

/** An event of the benchmarks: an email's text on the stream 'email', stamped now. */
export function emailEvent(eventId: string, text: string): InputEvent {
  const at = new Date().toISOString();
  return {
    type: 'event.submitted',
    version: 1,
    producedAt: at,
    data: { eventId, stream: 'email', occurredAt: at, input: { text } },
  };
}
export * from './pipeline';
export * from './review-api';
export * from './usage';
