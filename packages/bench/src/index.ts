// What the benchmarks share. Each benchmark prints progress to stderr and its figures to stdout,
// ending with one line of JSON.
import { join } from 'node:path';
import type { Admin } from 'kafkajs';

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
 * offsets commit in the outputs' transaction). Group join time is not counted.
 */
export async function drainRate(
  admin: Admin,
  groupId: string,
  topic: string,
  total: number,
): Promise<number> {
  let first: { at: number; done: number } | undefined;
  const deadline = Date.now() + 600_000;
  for (;;) {
    const done = await committedOffsets(admin, groupId, topic);
    const at = performance.now();
    if (!first && done > 0) first = { at, done };
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
