// Simulated reviewers for a replay: each key claims tasks through the review API, as a person at
// the terminal would, and answers with the data set's true label or, at a set rate, a wrong one.
import { ReviewApiError, ReviewClient, type ClaimFilters, type Task } from '@hitl/client';
import { mulberry32 } from '@hitl/model/random';

export interface SimulatedReviewersOptions {
  /** Where the review API listens. */
  baseUrl: string;
  /** One API key per simulated reviewer; each runs its own loop. */
  keys: readonly string[];
  /** The true label of an event, or undefined for one the data set does not know (skipped). */
  truth: (eventId: string) => string | undefined;
  /**
   * The true label of a task whose event id `truth` does not know: a gold task, which the review
   * API hands out under an id of its own (undefined: not known either, skipped).
   */
  goldTruth?: (task: Task) => string | undefined;
  /** Chance in [0, 1] that an answer is a wrong label from the task's classes. */
  errorRate: number;
  /** Each reviewer's own chance, by index of its key (default errorRate for every one). */
  errorRates?: readonly number[];
  /** How long each reviewer "reads" a task before answering. */
  delayMs: number;
  /** Fixes each reviewer's sequence of mistakes (reviewer i draws from its own stream). */
  seed: number;
  /** Aborting stops every loop; a task held at that moment is given back. */
  signal: AbortSignal;
  /** The labels to pick a wrong answer from when a task lists no classes. */
  classesFallback?: readonly string[];
  /** The wait after a claim found nothing (default 200 ms). */
  idleMs?: number;
  /** Which tasks to claim (default: any). */
  filters?: ClaimFilters;
  /**
   * Instead of `filters`: several, tried in turn (a replay of several streams, one per stream). Each
   * claim starts from the one after the last claim's start and tries the next while one finds
   * nothing, so a reviewer works every stream in turn and none waits while another has tasks.
   */
  filterRotation?: readonly ClaimFilters[];
  /** Builds the client for a key (default: a ReviewClient on baseUrl). */
  client?: (apiKey: string) => ReviewClient;
}

export interface ReviewerCounts {
  /** Index of the reviewer's key in `keys`. */
  reviewer: number;
  /** Answers accepted by the server, right and wrong. */
  answered: number;
  /** Of those, answers with a label other than the true one. */
  wrong: number;
  /** Of the answers, those to gold tasks (their truth from goldTruth), and of those the wrong ones. */
  goldAnswered: number;
  goldWrong: number;
  /** The chance of a wrong answer this reviewer was given. */
  errorRate: number;
  /**
   * Tasks given back because the truth was not known, or was not among the task's classes (the
   * system offered the wrong classes: the task cannot be answered right).
   */
  skipped: number;
  /** Tasks lost before the answer went in (the lease ran out, or others decided it). */
  lost: number;
}

// The server's refusals that mean "this task is no longer yours to answer": the loop goes on.
const LOST = new Set(['HITL_ERR_LEASE_NOT_HELD', 'HITL_ERR_TASK_DECIDED', 'HITL_ERR_ALREADY_ANSWERED']);

/** Runs one loop per key until the signal aborts; the counts per reviewer, in the order of keys. */
export async function runSimulatedReviewers(opts: SimulatedReviewersOptions): Promise<ReviewerCounts[]> {
  for (const rate of [opts.errorRate, ...(opts.errorRates ?? [])]) {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`errorRate must be in [0, 1], not ${rate}`);
  }
  if (opts.errorRates !== undefined && opts.errorRates.length !== opts.keys.length) {
    throw new RangeError(`errorRates has ${opts.errorRates.length} rates for ${opts.keys.length} keys`);
  }
  if (!(opts.delayMs >= 0)) throw new RangeError(`delayMs must be >= 0, not ${opts.delayMs}`);
  const makeClient = opts.client ?? ((apiKey: string) => new ReviewClient({ baseUrl: opts.baseUrl, apiKey }));
  // One reviewer's failure stops the others (their held tasks given back) before it is thrown.
  const stop = new AbortController();
  const signal = AbortSignal.any([opts.signal, stop.signal]);
  const loops = opts.keys.map((key, i) =>
    reviewLoop(i, makeClient(key), { ...opts, signal }).catch((error: unknown) => {
      stop.abort();
      throw error;
    }),
  );
  const results = await Promise.allSettled(loops);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<ReviewerCounts>).value);
}

async function reviewLoop(
  reviewer: number,
  client: ReviewClient,
  opts: SimulatedReviewersOptions,
): Promise<ReviewerCounts> {
  const { signal } = opts;
  const errorRate = opts.errorRates?.[reviewer] ?? opts.errorRate;
  const counts: ReviewerCounts = {
    reviewer,
    answered: 0,
    wrong: 0,
    goldAnswered: 0,
    goldWrong: 0,
    errorRate,
    skipped: 0,
    lost: 0,
  };
  // Seeds far apart per reviewer, so two reviewers do not make the same mistakes in step.
  const rand = mulberry32((opts.seed ^ Math.imul(reviewer + 1, 0x9e3779b1)) >>> 0);
  const rotation = opts.filterRotation?.length ? opts.filterRotation : [opts.filters ?? {}];
  // Reviewers start at different places in the rotation.
  let turn = reviewer;
  const claim = async (): Promise<Task | null> => {
    const start = turn++;
    for (let k = 0; k < rotation.length && !signal.aborted; k++) {
      const task = await client.claim(rotation[(start + k) % rotation.length]);
      if (task) return task;
    }
    return null;
  };
  while (!signal.aborted) {
    const task = await claim();
    if (!task) {
      await sleep(opts.idleMs ?? 200, signal);
      continue;
    }
    if (signal.aborted) {
      await giveBack(client, task.eventId);
      break;
    }
    const known = opts.truth(task.eventId);
    const gold = known === undefined ? opts.goldTruth?.(task) : undefined;
    const truth = known ?? gold;
    if (truth === undefined || (task.classes.length > 0 && !task.classes.includes(truth))) {
      await client.skip(task.eventId);
      counts.skipped++;
      continue;
    }
    await sleep(opts.delayMs, signal);
    if (signal.aborted) {
      await giveBack(client, task.eventId);
      break;
    }
    // Draws happen only here, so a reviewer's mistakes depend on the seed and its count of answers.
    const label = rand() < errorRate ? (wrongLabel(task, truth, opts.classesFallback, rand) ?? truth) : truth;
    try {
      await client.answer(task.eventId, { label });
    } catch (error) {
      if (error instanceof ReviewApiError && LOST.has(error.code)) {
        counts.lost++;
        continue;
      }
      throw error;
    }
    counts.answered++;
    if (label !== truth) counts.wrong++;
    if (gold !== undefined) {
      counts.goldAnswered++;
      if (label !== truth) counts.goldWrong++;
    }
  }
  return counts;
}

/** A label of the task's classes (or the fallback) other than the truth; undefined if there is none. */
function wrongLabel(
  task: Task,
  truth: string,
  fallback: readonly string[] | undefined,
  rand: () => number,
): string | undefined {
  const classes = task.classes.length > 0 ? task.classes : (fallback ?? []);
  const others = classes.filter((c) => c !== truth);
  return others[Math.floor(rand() * others.length)];
}

async function giveBack(client: ReviewClient, eventId: string): Promise<void> {
  // Best effort: if it fails, the lease runs out and the task goes back to the queue anyway.
  await client.releaseLease(eventId).catch(() => undefined);
}

/** Resolves after ms, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
