// One replay on a running system: sets the routing policy's classes and reviewers per task,
// makes keys for the simulated reviewers, streams the labelled items into the events topic
// (paced by a window of undecided events or a fixed rate), and follows every decision until each
// event has one or nothing more comes. What it returns is what the report is made from.
import { topics as catalog, type InputEvent } from '@hitl/contracts';
import {
  addStream,
  loadStreamRegistry,
  createApiKey,
  createReviewer,
  getCertification,
  getCurrentPolicy,
  getPromotedVersion,
  getStream,
  revokeApiKey,
  updatePolicy,
  updateStream,
} from '@hitl/db';
import { mulberry32 } from '@hitl/model/random';
import { TypedProducer } from '@hitl/kafka';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { ReviewClient } from '@hitl/client';
import type { LabelledItem } from './dataset';
import { goldImportBodies, importGold, inputKey } from './gold';
import {
  classAccuracy,
  heldOutReport,
  humanAnswersPerDecidedTask,
  learningCurve,
  resolveTarget,
  summarize,
  summarizeReviewers,
  summarizeStream,
  type ClassAccuracy,
  type CurvePoint,
  type EventOutcome,
  type HeldOutReport,
  type QueuePoint,
  type ReplaySummary,
  type ReplayTarget,
  type ReviewerStatsEntry,
  type StreamSummary,
} from './report';
import { runSimulatedReviewers, type ReviewerCounts } from './reviewers';
import { Tracker, type TrackerTopics } from './tracker';

/** The most events in flight by default, whatever the data set's size. */
export const MAX_DEFAULT_WINDOW = 50;

/**
 * The default window for a data set of `items`: a fortieth of it, at most 50. An event in flight
 * is decided before its label, or any label after it, can teach the model anything; a window
 * that is a large share of a small data set would measure mostly the cold start (178 items at
 * 50 in flight: the first model could score no event before the 50th plus those its first
 * labels took).
 */
export function defaultWindow(items: number): number {
  return Math.max(1, Math.min(MAX_DEFAULT_WINDOW, Math.ceil(items / 40)));
}

export interface ReplayTopics extends TrackerTopics {
  events: string;
}

export const DEFAULT_REPLAY_TOPICS: ReplayTopics = {
  events: catalog.events.name,
  decisions: catalog.decisions.name,
  reviewRequests: catalog.reviewRequests.name,
  models: catalog.models.name,
};

/** A further stream of a replay of several: its own data set, model and routing policy. */
export interface ReplayStream {
  /** The events' `stream`, and its id in the stream registry; its event ids are `<stream>.<item id>`. */
  stream: string;
  /** The model that serves it, trained from its own corrections. */
  modelId: string;
  /** Its routing policy; given the set's classes and the run's reviewers per task and settings. */
  policyName: string;
  /** Its events, in the order sent (interleaved with the other streams'). */
  items: readonly LabelledItem[];
}

export interface ReplayOptions {
  kafka: Kafka;
  pool: Pool;
  /** Streamed in this order. */
  items: readonly LabelledItem[];
  /** Names this run: event ids are `<runId>.<item id>`, reviewers `<runId>-r<n>`. */
  runId: string;
  /** The events' `stream`; the simulated reviewers claim only tasks of this stream. */
  stream: string;
  /** The model the services serve and train (for the model version shown). */
  modelId: string;
  /** The routing policy the router and review API use; its classes and reviewers per task are set. */
  policyName: string;
  /**
   * Further streams, each with its own data set, model and policy (pnpm replay --also). With any,
   * every stream of the run (this one first) is registered in the stream registry, all reviewers
   * allowed, before the first event is sent; the events of all the sets are sent interleaved in an
   * order drawn from the seed; the simulated reviewers claim tasks of every stream of the run; and
   * the summary has each stream's figures (`streams`) and the events scored by another stream's
   * model (`crossStreamScored`). Gold items are the first stream's only. Without, the one stream is
   * registered only when the registry has streams already (as the services then serve only those).
   */
  also?: readonly ReplayStream[];
  topics?: ReplayTopics;
  reviewApiUrl: string;
  /** Simulated reviewers (default 1). */
  reviewers?: number;
  /** Reviewers whose answers decide a task (default 1). */
  reviewersPerTask?: number;
  /**
   * An accuracy the model's decisions must reach, set in the policy, which then routes by the
   * thresholds certified for each model version; null or absent: none (the policy's thresholds).
   */
  targetAccuracy?: number | null;
  /** How sure the certification must be (default 0.95); only with a target. */
  confidenceLevel?: number;
  /** Chance that a reviewer's answer is wrong (default 0). */
  errorRate?: number;
  /** Each reviewer's own chance instead (as many as `reviewers`). */
  reviewerErrorRates?: readonly number[];
  /**
   * The admin's chance of a wrong answer: a simulated admin answers the tasks escalated to admins
   * (default: the smallest of the reviewers' rates); null: nobody answers them.
   */
  adminErrorRate?: number | null;
  /**
   * Items held out of the stream, imported as gold items of its stream through the review API
   * before the first event is sent (default none). Answers to them are no decisions.
   */
  gold?: readonly LabelledItem[];
  /** The policy's goldRate, the share of claims that hand out a gold task (default 0). */
  goldRate?: number;
  /** The policy's consensusConfidence (default null: a majority decides). */
  consensusConfidence?: number | null;
  /** The policy's consensusUsesModel (default false; only with consensusConfidence). */
  consensusUsesModel?: boolean;
  /**
   * How long to wait, once the reviewers have stopped, before reading the review API's estimate
   * of them, so that it covers their last answers (its RELIABILITY_INTERVAL_MS and a little;
   * default 0).
   */
  reliabilitySettleMs?: number;
  /** How long a reviewer reads a task before answering (default 0 ms). */
  reviewDelayMs?: number;
  seed?: number;
  /** At most this many events produced and not yet decided (default 50), unless `rate` is given. */
  window?: number;
  /** Events per second instead of the window. */
  rate?: number;
  /**
   * Once everything is produced, or while the window is full, give up waiting after this long
   * without a new decision (default 120 s; a full window then ends the stream early). Keep it above the review API's lease: a task whose lease was lost (its reviewer or the
   * API died) comes back only when the lease runs out.
   */
  stallMs?: number;
  /** Called every `progressEveryMs` (default 2 s) while the replay runs, and once at the end. */
  onProgress?: (progress: ReplayProgress) => void;
  progressEveryMs?: number;
  signal?: AbortSignal;
}

export interface ReplayProgress {
  seconds: number;
  produced: number;
  total: number;
  decided: number;
  decidedByModel: number;
  decidedByHuman: number;
  /** Share of the last 200 decisions that the model made. */
  recentModelShare: number | null;
  queueDepth: number;
  oldestWaitSeconds: number;
  modelVersion: number | null;
  /** Accuracy of every model decision so far. */
  modelAccuracy: number | null;
}

export interface ReplayResult {
  summary: ReplaySummary;
  curve: CurvePoint[];
  /** The model's decisions per decided class, against the target. */
  classes: ClassAccuracy[];
  /** The final model version on its held-out labels; null without one or when it keeps none. */
  heldOut: HeldOutReport | null;
  outcomes: EventOutcome[];
  /** The review queue's depth every 2 s. */
  queue: QueuePoint[];
  reviewers: ReviewerCounts[];
  /** True when the replay stopped waiting for decisions that did not come. */
  stalled: boolean;
  /**
   * The events sent and not decided when the replay stopped waiting: those people had been asked
   * to decide, and those neither decided nor sent to people (inference or the router never got to
   * them). Empty when every event was decided.
   */
  pending: { inReview: string[]; notRouted: string[] };
  /** The longest time with no decision, from the first event sent to the last decision, in s. */
  longestGapSeconds: number;
  coldStart: boolean;
  /**
   * With several streams (`also`): the events a model of another stream scored, with the stream
   * and the models. Empty otherwise, and when every event was scored by its own stream's model.
   */
  crossStream: { eventId: string; stream: string; models: string[] }[];
}

/** An event of a replay: which stream it goes to, under which id. */
interface Scheduled {
  eventId: string;
  stream: number;
  item: LabelledItem;
}

/**
 * The lists merged into one, each list's order kept, the next element drawn from the lists at
 * random in proportion to what each has left (so each is spread evenly over the whole), with the seed.
 */
export function interleave<T>(lists: readonly (readonly T[])[], seed: number): T[] {
  const rand = mulberry32((seed ^ 0x2545f491) >>> 0);
  const next = lists.map(() => 0);
  let left = lists.reduce((n, l) => n + l.length, 0);
  const out: T[] = [];
  while (left > 0) {
    let pick = Math.floor(rand() * left);
    let i = 0;
    while (pick >= lists[i]!.length - next[i]!) {
      pick -= lists[i]!.length - next[i]!;
      i++;
    }
    out.push(lists[i]![next[i]!]!);
    next[i]!++;
    left--;
  }
  return out;
}

/** A stream's input as the registry takes it: text, or features of the set's width. */
export function inputKindOf(items: readonly LabelledItem[]): {
  inputKind: 'text' | 'features';
  featureWidth: number | null;
} {
  const first = items[0]?.input;
  return first && 'features' in first
    ? { inputKind: 'features', featureWidth: first.features.length }
    : { inputKind: 'text', featureWidth: null };
}

/** What registerReplayStreams registers of a stream. */
export interface ReplayStreamSpec {
  stream: string;
  modelId: string;
  policyName: string;
  classes: readonly string[];
  inputKind: 'text' | 'features';
  featureWidth: number | null;
}

/**
 * Registers the run's streams in the stream registry (all reviewers allowed, the set's classes and
 * input), or brings one already there to that. Set each stream's policy first (setReplayPolicy):
 * the registry refuses classes its policy does not declare. Call it before the services start, or
 * at least before the first event, so that every event is scored by its own stream's model.
 */
export async function registerReplayStreams(
  pool: Pool,
  streams: readonly ReplayStreamSpec[],
  runId: string,
): Promise<void> {
  for (const s of streams) {
    const spec = {
      classes: [...s.classes].sort(),
      inputKind: s.inputKind,
      featureWidth: s.featureWidth,
      modelId: s.modelId,
      policyName: s.policyName,
      allReviewers: true,
    };
    const how = { actor: 'replay', reason: `replay ${runId}: a stream of the run` };
    if ((await getStream(pool, s.stream)) === null) {
      await addStream(pool, { id: s.stream, ...spec }, how);
    } else {
      await updateStream(pool, s.stream, spec, how);
    }
  }
}

const RECENT = 200;

export async function runReplay(opts: ReplayOptions): Promise<ReplayResult> {
  const topics = opts.topics ?? DEFAULT_REPLAY_TOPICS;
  const gold = opts.gold ?? [];
  const classes = [...new Set([...opts.items, ...gold].map((i) => i.label))].sort();
  const also = opts.also ?? [];
  const multi = also.length > 0;
  // The run's streams, this one first, each with its classes (the first one's with the gold items').
  const streams = [
    { stream: opts.stream, modelId: opts.modelId, policyName: opts.policyName, items: opts.items, classes },
    ...also.map((a) => ({ ...a, classes: [...new Set(a.items.map((i) => i.label))].sort() })),
  ];
  const ids = new Set<string>();
  for (const s of streams) {
    if (ids.has(s.stream)) throw new RangeError(`two data sets on one stream ${s.stream}`);
    ids.add(s.stream);
  }
  if (new Set(streams.map((s) => s.modelId)).size !== streams.length) {
    throw new RangeError('each stream of a replay needs a model id of its own');
  }
  // The first stream's event ids are as they always were: `<runId>.<item id>`.
  const perStream: Scheduled[][] = streams.map((s, k) =>
    s.items.map((item) => ({
      eventId: `${k === 0 ? opts.runId : s.stream}.${item.id}`,
      stream: k,
      item,
    })),
  );
  const schedule: Scheduled[] = multi ? interleave(perStream, opts.seed ?? 1) : perStream[0]!;
  const items = schedule.map((e) => e.item);
  const truth = new Map(schedule.map((e) => [e.eventId, e.item.label]));
  // A gold task comes under an id of the review API's own: its truth is known by its input.
  const goldTruth = new Map(gold.map((item) => [inputKey(item.input), item.label]));
  const started = performance.now();
  const signal = opts.signal ?? new AbortController().signal;

  const target: ReplayTarget = {
    targetAccuracy: opts.targetAccuracy ?? null,
    ...(opts.confidenceLevel !== undefined ? { confidenceLevel: opts.confidenceLevel } : {}),
  };
  const review: ReplayReviewSettings = {
    goldRate: opts.goldRate ?? 0,
    consensusConfidence: opts.consensusConfidence ?? null,
    consensusUsesModel: opts.consensusUsesModel ?? false,
  };
  for (const [k, s] of streams.entries()) {
    await setReplayPolicy(
      opts.pool,
      s.policyName,
      s.classes,
      opts.reviewersPerTask ?? 1,
      opts.runId,
      target,
      // Gold items are the first stream's: the others' policies hand out none.
      k === 0 ? review : { ...review, goldRate: 0 },
    );
  }
  // Registered with several data sets, or when the registry has streams already (the services then
  // serve registered streams only).
  if (multi || (await loadStreamRegistry(opts.pool)).streams.length > 0) {
    await registerReplayStreams(
      opts.pool,
      streams.map((s) => ({ ...s, ...inputKindOf(s.items) })),
      opts.runId,
    );
  }
  const promoted = await getPromotedVersion(opts.pool, opts.modelId);
  const initialVersions = new Map<string, number | null>();
  for (const s of streams.slice(1)) {
    initialVersions.set(s.modelId, (await getPromotedVersion(opts.pool, s.modelId))?.version ?? null);
  }

  const keys: { key: string; id: string }[] = [];
  for (let i = 1; i <= (opts.reviewers ?? 1); i++) {
    const reviewer = await createReviewer(opts.pool, {
      id: `${opts.runId}-r${i}`,
      name: `replay reviewer ${i}`,
      role: 'reviewer',
    });
    const { key, info } = await createApiKey(opts.pool, reviewer.id);
    keys.push({ key, id: info.id });
  }
  // An admin's key for the gold import and the reviewers' figures (GET /v1/stats).
  const admin = await createReviewer(opts.pool, {
    id: `${opts.runId}-admin`,
    name: 'replay admin',
    role: 'admin',
  });
  const adminKey = await createApiKey(opts.pool, admin.id);
  if (gold.length > 0) {
    await importGold(
      opts.reviewApiUrl,
      adminKey.key,
      opts.stream,
      goldImportBodies(gold, opts.stream, classes),
    );
  }

  const tracker = new Tracker({
    kafka: opts.kafka,
    topics,
    isOurs: (id) => truth.has(id),
    modelId: opts.modelId,
    otherModelIds: streams.slice(1).map((s) => s.modelId),
    initialVersions,
    groupId: `hitl-replay-${opts.runId}`,
    initialVersion: promoted?.version ?? null,
  });
  await tracker.start();
  // Retries that outlast a broker restart; the idempotent producer keeps them from doubling an event.
  const producer = new TypedProducer({
    kafka: opts.kafka,
    config: { retry: { retries: 40, maxRetryTime: 5_000 } },
  });
  await producer.connect();
  const stopReviewers = new AbortController();
  const reviewing = runSimulatedReviewers({
    baseUrl: opts.reviewApiUrl,
    keys: keys.map((k) => k.key),
    truth: (id) => truth.get(id),
    goldTruth: (task) => goldTruth.get(inputKey(task.input)),
    errorRate: opts.errorRate ?? 0,
    ...(opts.reviewerErrorRates !== undefined ? { errorRates: opts.reviewerErrorRates } : {}),
    delayMs: opts.reviewDelayMs ?? 0,
    seed: opts.seed ?? 1,
    signal: AbortSignal.any([signal, stopReviewers.signal]),
    classesFallback: classes,
    filters: { stream: opts.stream },
    // Several streams: people who may see them all, working each in turn.
    ...(multi ? { filterRotation: streams.map((s) => ({ stream: s.stream })) } : {}),
    idleMs: 50,
  });
  const adminErrorRate =
    opts.adminErrorRate === undefined
      ? Math.min(...(opts.reviewerErrorRates ?? [opts.errorRate ?? 0]))
      : opts.adminErrorRate;
  // The admin answers only escalated tasks, as people who settle disagreements would.
  const escalations =
    adminErrorRate === null
      ? Promise.resolve([] as ReviewerCounts[])
      : runSimulatedReviewers({
          baseUrl: opts.reviewApiUrl,
          keys: [adminKey.key],
          truth: (id) => truth.get(id),
          errorRate: adminErrorRate,
          delayMs: opts.reviewDelayMs ?? 0,
          seed: ((opts.seed ?? 1) + 0x5bd1e995) >>> 0,
          signal: AbortSignal.any([signal, stopReviewers.signal]),
          classesFallback: classes,
          filters: { stream: opts.stream, escalated: true },
          ...(multi
            ? { filterRotation: streams.map((s) => ({ stream: s.stream, escalated: true as const })) }
            : {}),
          idleMs: 200,
        });
  // A reviewer loop that fails stops the replay rather than leaving it waiting.
  const reviewFailure = Promise.all([reviewing, escalations]).then(
    () => new Promise<never>(() => undefined),
    (error: unknown) => Promise.reject(error instanceof Error ? error : new Error(String(error))),
  );
  reviewFailure.catch(() => undefined);

  let produced = 0;
  const snapshot = (): ReplayProgress => progressOf(tracker, truth, produced, items.length, started);
  const queue: QueuePoint[] = [];
  const sampleQueue = () => {
    const seconds = Math.round((performance.now() - started) / 100) / 10;
    queue.push({ seconds, depth: tracker.queue().depth });
  };
  const ticker = setInterval(() => opts.onProgress?.(snapshot()), opts.progressEveryMs ?? 2_000);
  const queueTicker = setInterval(sampleQueue, 2_000);
  let stalled = false;
  try {
    const eventsTopic = { ...catalog.events, name: topics.events };
    const send = async (batch: readonly Scheduled[]) => {
      tracker.startClock();
      const at = new Date().toISOString();
      await producer.send(
        eventsTopic,
        batch.map((e) => ({ value: inputEvent(e.eventId, streams[e.stream]!.stream, e.item, at) })),
      );
      produced += batch.length;
    };
    const stallMs = opts.stallMs ?? 120_000;
    const rate = opts.rate;
    if (rate !== undefined) {
      // A fixed rate: every 20 ms, what is due by then.
      while (produced < items.length && !signal.aborted) {
        const due = Math.min(items.length, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
        if (due > produced) await send(schedule.slice(produced, due));
        await Promise.race([sleep(20), reviewFailure]);
      }
    } else {
      const window = opts.window ?? 50;
      // A full window that nothing empties (tasks no simulated reviewer may decide, such as
      // escalated ones, which wait for an admin) stops the stream after stallMs, as a stalled end does.
      let lastDecided = tracker.decided;
      let lastChange = performance.now();
      while (produced < items.length && !signal.aborted) {
        const room = window - (produced - tracker.decided);
        if (room > 0) await send(schedule.slice(produced, produced + room));
        else await Promise.race([nextDecision(tracker, 250), reviewFailure]);
        if (tracker.decided !== lastDecided) {
          lastDecided = tracker.decided;
          lastChange = performance.now();
        } else if (room <= 0 && performance.now() - lastChange > stallMs) {
          stalled = true;
          break;
        }
      }
    }
    // Everything is out: wait for the last decisions, or until none has come for stallMs.
    let lastDecided = tracker.decided;
    let lastChange = performance.now();
    while (!stalled && tracker.decided < produced && !signal.aborted) {
      await Promise.race([nextDecision(tracker, 500), reviewFailure]);
      if (tracker.decided !== lastDecided) {
        lastDecided = tracker.decided;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > stallMs) {
        stalled = true;
        break;
      }
    }
    // Late duplicates would show up right after the last decision: give them a moment.
    await sleep(1_000);
  } finally {
    clearInterval(ticker);
    clearInterval(queueTicker);
    sampleQueue();
    stopReviewers.abort();
    await reviewing.catch(() => undefined);
    await escalations.catch(() => undefined);
    await producer.disconnect();
    await tracker.stop();
  }
  opts.onProgress?.(snapshot());
  let stats: ReviewerStatsEntry[] = [];
  try {
    // The estimate is made every RELIABILITY_INTERVAL_MS: wait for one that covers the last answers.
    if (!signal.aborted) await sleep(opts.reliabilitySettleMs ?? 0);
    const adminClient = new ReviewClient({ baseUrl: opts.reviewApiUrl, apiKey: adminKey.key });
    stats = (await adminClient.stats()).reviewers;
  } catch {
    // Without the API's figures the report still has the reviewers' own.
  } finally {
    for (const { id } of [...keys, adminKey.info]) await revokeApiKey(opts.pool, id).catch(() => undefined);
  }

  const outcomes: EventOutcome[] = schedule.map(({ eventId, item }) => {
    const routedWith = tracker.routedWith.get(eventId);
    return {
      eventId,
      truth: item.label,
      decisions: tracker.decisions.get(eventId) ?? [],
      ...(routedWith === undefined ? {} : { routedWith }),
    };
  });
  // Only the events produced count: an aborted replay reports on what it sent.
  const sent = outcomes.slice(0, produced);
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  const finalModelVersion = tracker.modelVersion ?? promoted?.version ?? null;
  const counts = await reviewing.catch((): ReviewerCounts[] => []);
  const adminCounts = await escalations.catch((): ReviewerCounts[] => []);
  const reviewerIds = Array.from({ length: opts.reviewers ?? 1 }, (_, i) => `${opts.runId}-r${i + 1}`);
  const versionsOf = (modelId: string) => new Set(tracker.promotionsOf(modelId)).size;
  const streamSummaries: StreamSummary[] = multi
    ? streams.map((s, k) =>
        summarizeStream(
          sent.filter((_, i) => schedule[i]!.stream === k),
          {
            stream: s.stream,
            modelId: s.modelId,
            policyName: s.policyName,
            classes: s.classes,
            ...inputKindOf(s.items),
            modelVersions: versionsOf(s.modelId),
            finalModelVersion:
              k === 0
                ? finalModelVersion
                : (tracker.versionOf(s.modelId) ?? initialVersions.get(s.modelId) ?? null),
            scoredBy: tracker.scoredBy,
          },
        ),
      )
    : [];
  const crossStream = multi
    ? sent.flatMap((o, i) => {
        const s = streams[schedule[i]!.stream]!;
        const models = [...(tracker.scoredBy.get(o.eventId) ?? [])].filter((m) => m !== s.modelId);
        return models.length === 0 ? [] : [{ eventId: o.eventId, stream: s.stream, models }];
      })
    : [];
  const base = summarize(sent, {
    seconds,
    modelVersions: multi
      ? streams.reduce((n, s) => n + versionsOf(s.modelId), 0)
      : new Set(tracker.promotions).size,
    finalModelVersion,
    queue,
    ...target,
  });
  const summary: ReplaySummary = {
    ...base,
    humanAnswersPerDecidedTask: humanAnswersPerDecidedTask([...counts, ...adminCounts], base.decidedByHuman),
    escalationsAnswered: adminCounts.reduce((n, c) => n + c.answered, 0),
    reviewers: summarizeReviewers(reviewerIds, counts, stats, opts.stream),
    ...(multi ? { streams: streamSummaries, crossStreamScored: crossStream.length } : {}),
  };
  const certification =
    finalModelVersion === null ? null : await getCertification(opts.pool, opts.modelId, finalModelVersion);
  return {
    summary,
    curve: learningCurve(sent),
    classes: classAccuracy(sent, resolveTarget(target)),
    heldOut:
      certification === null || finalModelVersion === null
        ? null
        : heldOutReport(finalModelVersion, certification, resolveTarget(target)),
    outcomes: sent,
    queue,
    reviewers: counts,
    stalled,
    pending: pendingOf(sent, new Set(tracker.inReview())),
    longestGapSeconds: Math.round(tracker.longestGapMs / 100) / 10,
    coldStart: promoted === null && [...initialVersions.values()].every((v) => v === null),
    crossStream,
  };
}

/** The undecided events of a replay, by where they were when it stopped waiting. */
export function pendingOf(
  outcomes: readonly EventOutcome[],
  inReview: ReadonlySet<string>,
): ReplayResult['pending'] {
  const undecided = outcomes.filter((o) => o.decisions.length === 0).map((o) => o.eventId);
  return {
    inReview: undecided.filter((id) => inReview.has(id)),
    notRouted: undecided.filter((id) => !inReview.has(id)),
  };
}

/** The policy's review settings a replay sets: the share of gold tasks and weighted consensus. */
export interface ReplayReviewSettings {
  goldRate: number;
  /** null: a majority decides. */
  consensusConfidence: number | null;
  /** Whether the model's probabilities are the prior of low-confidence tasks (default false). */
  consensusUsesModel?: boolean;
}

/**
 * Gives the routing policy the data set's classes (tasks made before any model offer them), the
 * reviewers per task, the share of gold tasks, the consensus rule and the target accuracy (none unless given: the replay routes as its flags
 * say, whatever an earlier run left), as a new version unless the current one has them already.
 * Without a target the confidence level is left as it is: it means nothing then. Call it before
 * the router starts, so that no event is routed under an older version.
 */
export async function setReplayPolicy(
  pool: Pool,
  policyName: string,
  classes: readonly string[],
  reviewersPerTask: number,
  runId: string,
  target: ReplayTarget = { targetAccuracy: null },
  review: ReplayReviewSettings = { goldRate: 0, consensusConfidence: null },
): Promise<void> {
  const current = await getCurrentPolicy(pool, policyName);
  const sorted = [...classes].sort();
  const { targetAccuracy, confidenceLevel } = resolveTarget(target);
  if (
    current &&
    current.requiredReviewers === reviewersPerTask &&
    JSON.stringify([...current.classes].sort()) === JSON.stringify(sorted) &&
    current.targetAccuracy === targetAccuracy &&
    (confidenceLevel === null || current.confidenceLevel === confidenceLevel) &&
    current.goldRate === review.goldRate &&
    current.consensusConfidence === review.consensusConfidence &&
    (current.consensusUsesModel ?? false) === (review.consensusUsesModel ?? false)
  ) {
    return;
  }
  await updatePolicy(
    pool,
    policyName,
    ({ consensusUsesModel: _previous, ...spec }) => ({
      ...spec,
      classes: sorted,
      requiredReviewers: reviewersPerTask,
      targetAccuracy,
      confidenceLevel: confidenceLevel ?? spec.confidenceLevel,
      goldRate: review.goldRate,
      consensusConfidence: review.consensusConfidence,
      ...(review.consensusUsesModel ? { consensusUsesModel: true as const } : {}),
    }),
    {
      actor: 'replay',
      reason:
        `replay ${runId}: the data set's classes, ${reviewersPerTask} reviewer(s) per task, ` +
        `gold rate ${review.goldRate}, ` +
        (review.consensusConfidence === null
          ? 'majority consensus, '
          : `weighted consensus at ${review.consensusConfidence}` +
            (review.consensusUsesModel ? ' with the model as prior, ' : ', ')) +
        (targetAccuracy === null
          ? 'no target accuracy'
          : `target accuracy ${targetAccuracy} at confidence ${confidenceLevel}`),
    },
  );
}

function inputEvent(eventId: string, stream: string, item: LabelledItem, at: string): InputEvent {
  return {
    type: 'event.submitted',
    version: 1,
    producedAt: at,
    data: { eventId, stream, occurredAt: at, input: item.input },
  };
}

function progressOf(
  tracker: Tracker,
  truth: ReadonlyMap<string, string>,
  produced: number,
  total: number,
  started: number,
): ReplayProgress {
  let byModel = 0;
  let modelRight = 0;
  const recent: boolean[] = [];
  for (const [eventId, seen] of tracker.decisions) {
    const first = seen[0]!;
    const isModel = first.decidedBy === 'model';
    if (isModel) {
      byModel++;
      if (first.label === truth.get(eventId)) modelRight++;
    }
    recent.push(isModel);
    if (recent.length > RECENT) recent.shift();
  }
  const { depth, oldestMs } = tracker.queue();
  return {
    seconds: Math.round((performance.now() - started) / 100) / 10,
    produced,
    total,
    decided: tracker.decided,
    decidedByModel: byModel,
    decidedByHuman: tracker.decided - byModel,
    recentModelShare: recent.length === 0 ? null : recent.filter(Boolean).length / recent.length,
    queueDepth: depth,
    oldestWaitSeconds: Math.round(oldestMs / 100) / 10,
    modelVersion: tracker.modelVersion,
    modelAccuracy: byModel === 0 ? null : modelRight / byModel,
  };
}

function nextDecision(tracker: Tracker, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    const unsubscribe = tracker.onDecided(done);
    function done() {
      clearTimeout(timer);
      unsubscribe();
      resolve();
    }
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
