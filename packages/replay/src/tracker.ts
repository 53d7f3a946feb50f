// Watches what the system does with the replay's events: every decision, every review request
// and every model promotion appended after the replay began, read committed, from a consumer
// group of its own that starts at the topics' ends as they were when the tracker started.
import type { DecisionData, ModelLifecycleData, ReviewRequestData } from '@hitl/contracts';
import type { Consumer, Kafka } from 'kafkajs';
import type { DecisionSeen } from './report';

export interface TrackerTopics {
  decisions: string;
  reviewRequests: string;
  models: string;
}

export interface TrackerOptions {
  kafka: Kafka;
  topics: TrackerTopics;
  /** Only events whose id is here are counted (the replay's own). */
  isOurs: (eventId: string) => boolean;
  /** Only promotions of this model count (modelVersion, promotions). */
  modelId: string;
  /** Further models whose promotions are kept (promotionsOf, versionOf): a replay of several streams. */
  otherModelIds?: readonly string[];
  /** The version of each of otherModelIds in force when the replay began. */
  initialVersions?: ReadonlyMap<string, number | null>;
  groupId: string;
  /** The version in force when the replay began (null: none). */
  initialVersion?: number | null;
}

interface Envelope<T> {
  type: string;
  data: T;
}

export class Tracker {
  /** Every decision seen, per event id, in the order seen. */
  readonly decisions = new Map<string, DecisionSeen[]>();
  /** Review requests not decided yet: event id → when the request was appended (ms). */
  private readonly pending = new Map<string, number>();
  private readonly reviewed = new Set<string>();
  /** Versions promoted (or rolled back to) while the replay ran, in order. */
  readonly promotions: number[] = [];
  private version: number | null = null;
  private consumer: Consumer | undefined;
  private decidedCount = 0;
  /** For each event sent to people: the model version of the prediction the router saw (null: none). */
  readonly routedWith = new Map<string, number | null>();
  /** When the last decision (or the first event, see startClock) came, and the longest wait. */
  private lastArrival: number | null = null;
  private longestGap = 0;
  private listeners = new Set<() => void>();
  /**
   * For each of our events, the ids of the models that scored it, as the records name them: the
   * prediction carried by its review request, and each decision's model.
   */
  readonly scoredBy = new Map<string, Set<string>>();
  private readonly promotionsByModel = new Map<string, number[]>();
  private readonly versionByModel = new Map<string, number | null>();

  constructor(private readonly opts: TrackerOptions) {
    this.version = opts.initialVersion ?? null;
    for (const id of [opts.modelId, ...(opts.otherModelIds ?? [])]) {
      this.promotionsByModel.set(id, []);
      this.versionByModel.set(
        id,
        id === opts.modelId ? this.version : (opts.initialVersions?.get(id) ?? null),
      );
    }
  }

  /** Versions of the model promoted (or rolled back to) while the replay ran, in order. */
  promotionsOf(modelId: string): readonly number[] {
    return this.promotionsByModel.get(modelId) ?? [];
  }

  /** The version of the model in force: the last promoted while the replay ran, or the initial one. */
  versionOf(modelId: string): number | null {
    return this.versionByModel.get(modelId) ?? null;
  }

  private scored(eventId: string, modelId: string | undefined): void {
    if (modelId === undefined) return;
    let models = this.scoredBy.get(eventId);
    if (!models) this.scoredBy.set(eventId, (models = new Set()));
    models.add(modelId);
  }

  /** Starts reading from the topics' current ends; resolves once the group has joined. */
  async start(): Promise<void> {
    const { kafka, topics, groupId } = this.opts;
    // Only these three: a caller's object may carry more topics (the events topic, say).
    const names = [topics.decisions, topics.reviewRequests, topics.models];
    const admin = kafka.admin();
    await admin.connect();
    try {
      for (const topic of names) {
        const ends = await admin.fetchTopicOffsets(topic);
        await admin.setOffsets({
          groupId,
          topic,
          partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })),
        });
      }
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, readUncommitted: false });
    this.consumer = consumer;
    await consumer.connect();
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.subscribe({ topics: names, fromBeginning: false });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (!message.value) return;
        const record = JSON.parse(message.value.toString()) as Envelope<unknown>;
        const at = Number(message.timestamp);
        if (topic === topics.decisions) this.onDecision(record.data as DecisionData);
        else if (topic === topics.reviewRequests) this.onReviewRequest(record.data as ReviewRequestData, at);
        else if (topic === topics.models) this.onModel(record as Envelope<ModelLifecycleData>);
      },
    });
    await joined;
  }

  /** From now on, the time between decisions counts (call when the first event is sent). */
  startClock(): void {
    this.lastArrival ??= performance.now();
  }

  /** The longest time in ms without a decision since startClock (0 before it). */
  get longestGapMs(): number {
    return this.longestGap;
  }

  private onDecision(d: DecisionData): void {
    if (!this.opts.isOurs(d.eventId)) return;
    const now = performance.now();
    if (this.lastArrival !== null) this.longestGap = Math.max(this.longestGap, now - this.lastArrival);
    this.lastArrival = now;
    this.scored(d.eventId, d.model?.id);
    let seen = this.decisions.get(d.eventId);
    if (!seen) {
      seen = [];
      this.decisions.set(d.eventId, seen);
      this.decidedCount++;
    }
    seen.push({
      label: d.label,
      decidedBy: d.decidedBy,
      modelVersion: d.model?.version ?? null,
      confidence: d.decidedBy === 'model' ? d.confidence : null,
      ...(d.throughGroup !== undefined ? { throughGroup: d.throughGroup } : {}),
      ...(d.reason === 'rescored' ? { rescored: true as const } : {}),
    });
    this.pending.delete(d.eventId);
    for (const listener of this.listeners) listener();
  }

  private onReviewRequest(r: ReviewRequestData, at: number): void {
    if (!this.opts.isOurs(r.eventId)) return;
    this.scored(r.eventId, r.prediction.model?.id);
    if (this.decisions.has(r.eventId) || this.reviewed.has(r.eventId)) return;
    this.reviewed.add(r.eventId);
    this.routedWith.set(r.eventId, r.prediction.model?.version ?? null);
    this.pending.set(r.eventId, Number.isFinite(at) ? at : Date.now());
  }

  private onModel(record: Envelope<ModelLifecycleData>): void {
    if (record.type !== 'model.promoted' && record.type !== 'model.rolled_back') return;
    const { id, version } = record.data.model;
    const promotions = this.promotionsByModel.get(id);
    if (!promotions) return;
    promotions.push(version);
    this.versionByModel.set(id, version);
    if (id === this.opts.modelId) {
      this.version = version;
      this.promotions.push(version);
    }
  }

  /** Distinct events decided so far. */
  get decided(): number {
    return this.decidedCount;
  }

  /** Events sent to people and not decided yet. */
  inReview(): string[] {
    return [...this.pending.keys()];
  }

  /** Review requests not decided yet, and the age of the oldest in ms (0 when none). */
  queue(now = Date.now()): { depth: number; oldestMs: number } {
    let oldest = Infinity;
    for (const at of this.pending.values()) oldest = Math.min(oldest, at);
    return { depth: this.pending.size, oldestMs: this.pending.size === 0 ? 0 : Math.max(0, now - oldest) };
  }

  /** The version last promoted while the replay ran; null when none was. */
  get modelVersion(): number | null {
    return this.version;
  }

  /** Calls back after every decision of ours; returns the unsubscribe function. */
  onDecided(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops reading and removes the tracker's consumer group. */
  async stop(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    if (!consumer) return;
    await consumer.disconnect();
    const admin = this.opts.kafka.admin();
    await admin.connect();
    await admin.deleteGroups([this.opts.groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
