// The review API without its process: the HTTP API, the consumer that turns review requests into
// tasks, the outbox relay that publishes decisions, the consumer that counts the model's
// decisions for GET /v1/admin/learning, and re-scoring of waiting tasks after a promotion
// (rescore.ts). Built by main.ts, tests and benchmarks.
import { topics, type ReviewRequest } from '@hitl/contracts';
import {
  createPool,
  ensureAdminKey,
  getCurrentPolicy,
  loadStreamRegistry,
  reviewQueueGroups,
  reviewQueueStreams,
  type StoredPolicy,
} from '@hitl/db';
import { ValidatingConsumer, createKafka, type ConsumedRecord } from '@hitl/kafka';
import { OutboxRelay } from '@hitl/outbox';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Authenticator } from './auth';
import type { ReviewApiConfig } from './config';
import { createHttp, type Api } from './http';
import { LearningConsumer } from './learning';
import { reviewApiMetrics } from './metrics';
import { Rescoring } from './rescore';
import { registerRoutes } from './routes';
import { ReviewerReliability, type LoadedReliability } from './reviewer-reliability';
import { TaskStore } from './tasks';
import { registerWebApp } from './web';

export interface ReviewApiDeps {
  logger: Logger;
  registry: Registry;
  kafka?: Kafka;
  pool?: Pool;
}

export interface ReviewApi {
  readonly http: Api;
  readonly tasks: TaskStore;
  readonly authenticator: Authenticator;
  /** Connects, starts consuming and relaying, and listens on config.apiPort (0: any free port). */
  start(): Promise<void>;
  /** The address the API listens on, after start(). */
  url(): string;
  ready(): boolean;
  stop(): Promise<void>;
}

const VERSION = '0.1.0';

export async function createReviewApi(config: ReviewApiConfig, deps: ReviewApiDeps): Promise<ReviewApi> {
  const { registry } = deps;
  const log = deps.logger.child({ service: 'review-api' });
  const kafka =
    deps.kafka ??
    createKafka({
      brokers: config.kafkaBrokers,
      clientId: 'hitl-review-api',
      logger: log,
      config: config.kafkaConnection,
    });
  const ownPool = deps.pool === undefined;
  const pool =
    deps.pool ??
    createPool({
      connectionString: config.databaseUrl,
      max: 20,
      statementTimeoutMillis: config.statementTimeoutMs,
    });
  const relay = new OutboxRelay({
    pool,
    kafka,
    logger: log,
    registry,
    transactionalId: config.outboxRelayId,
    markerGroupId: config.outboxRelayId,
  });
  const metrics = reviewApiMetrics(registry, {
    sampleQueue: () => reviewQueueGroups(pool),
    sampleStreams: () => reviewQueueStreams(pool),
    logger: log,
  });
  // The routing policy in force, read at most every 5 s: the classes of tasks without a model,
  // and the share of gold tasks.
  let policyRead: { policy: Promise<StoredPolicy | null>; until: number } | null = null;
  const currentPolicy = () => {
    if (policyRead === null || policyRead.until < Date.now()) {
      const policy = getCurrentPolicy(pool, config.policyName);
      policyRead = { policy, until: Date.now() + 5_000 };
      // A failed read is not kept: the next call reads again.
      policy.catch(() => (policyRead = null));
    }
    return policyRead.policy;
  };
  // The streams each reviewer is flagged on, as of the estimate loaded last (claims read it).
  let flaggedOn = new Map<string, string[]>();
  const reliability: ReviewerReliability = new ReviewerReliability({
    pool,
    logger: log,
    intervalMs: config.reliabilityIntervalMs,
    maxAnswers: config.reliabilityMaxAnswers,
    prior: { accuracy: config.reliabilityPriorAccuracy, strength: config.reliabilityPriorStrength },
    onLoaded: (estimate) => {
      metrics.setReliability(estimate, config.reliabilityFlagBelow);
      flaggedOn = flaggedStreamsOf(estimate, config.reliabilityFlagBelow);
    },
    // Answered tasks that a better estimate makes decidable are decided now, not left waiting.
    afterEstimate: (): Promise<number> => tasks.redecide(),
  });
  const tasks: TaskStore = new TaskStore({
    pool,
    leaseSeconds: config.leaseSeconds,
    maxLeaseSeconds: config.maxLeaseSeconds,
    maxLeasesPerReviewer: config.maxLeasesPerReviewer,
    maxExtraRounds: config.maxExtraRounds,
    // Near-duplicate groups follow the routing policy's setting (off unless it opts in).
    policyName: config.policyName,
    reliability,
    ...(config.restrictFlaggedReviewers
      ? {
          flaggedStreams: (reviewerId: string) => flaggedOn.get(reviewerId) ?? [],
        }
      : {}),
    goldSettings: async () => {
      const policy = await currentPolicy();
      return policy ? { goldRate: policy.goldRate, policyVersion: policy.version } : null;
    },
    topics: { decisions: config.decisionsTopic, corrections: config.correctionsTopic },
    onDecided: ({ reason, outcome, throughGroup }) => {
      relay.wakeUp();
      metrics.decisions.inc({ decided_by: 'human', reason });
      metrics.corrections.inc({ reason, outcome });
      for (const copy of throughGroup) {
        metrics.decisions.inc({ decided_by: 'human', reason: copy.reason });
        metrics.groupDecisions.inc({ reason: copy.reason });
      }
    },
  });
  const authenticator = new Authenticator({ pool, logger: log });
  const http = await createHttp({
    logger: log,
    authenticator,
    rateLimitPerMinute: config.rateLimitPerMinute,
    authAttemptsPerMinute: config.authAttemptsPerMinute,
    trustProxy: config.trustProxy,
    bodyLimitBytes: config.bodyLimitBytes,
    version: VERSION,
  });
  const routeDeps = {
    pool,
    tasks,
    authenticator,
    policyName: config.policyName,
    onOutbox: () => relay.wakeUp(),
    reliabilityFlagBelow: config.reliabilityFlagBelow,
  };
  registerRoutes(http, routeDeps);
  await registerWebApp(http, { dir: config.webAppDir, logger: log });

  // Tasks of events scored with no model offer their stream's classes when the stream is
  // registered, else the routing policy's (read once per batch, and only when a batch needs it).
  const fallbackClasses = async (requests: readonly ReviewRequest['data'][]) => {
    if (requests.every((r) => r.prediction.classes.length > 0)) return [];
    const [policy, registry] = await Promise.all([currentPolicy(), loadStreamRegistry(pool)]);
    const byStream = new Map(registry.streams.map((s) => [s.id, s.classes]));
    const policyClasses = policy?.classes ?? [];
    return (stream: string) => byStream.get(stream) ?? policyClasses;
  };

  const consumer = new ValidatingConsumer({
    kafka,
    groupId: config.groupId,
    topic: { ...topics.reviewRequests, name: config.reviewRequestsTopic },
    deadLetterTopic: { ...topics.deadLetters, name: config.deadLetterTopic },
    logger: log,
    registry,
    // Inserting a task is idempotent (one per event id), so at-least-once delivery is enough.
    handleBatch: async (records: ConsumedRecord<ReviewRequest>[]) => {
      const requests = records.map((r) => r.value.data);
      await tasks.ingestMany(requests, await fallbackClasses(requests));
    },
  });

  // A group of its own: it reads another topic, and its offsets must not move the tasks' consumer.
  const learning = config.learningCounts
    ? new LearningConsumer({
        kafka,
        pool,
        groupId: config.learningGroupId ?? `${config.groupId}-learning`,
        topic: config.decisionsTopic,
        logger: log,
        registry,
      })
    : undefined;

  const rescoring = config.rescoreOnPromotion
    ? new Rescoring({
        kafka,
        pool,
        logger: log,
        registry,
        metrics,
        groupId: config.groupId,
        policyName: config.policyName,
        maxTasks: config.rescoreMaxTasks,
        topics: {
          models: config.modelsTopic,
          rescoreRequests: config.rescoreRequestsTopic,
          rescored: config.rescoredTopic,
          decisions: config.decisionsTopic,
          deadLetters: config.deadLetterTopic,
        },
        onOutbox: () => relay.wakeUp(),
      })
    : undefined;

  let address = '';
  let started = false;
  let stopping: Promise<void> | undefined;
  return {
    http,
    tasks,
    authenticator,
    async start() {
      if (config.adminKey) await ensureAdminKey(pool, config.adminKey);
      await relay.start();
      await authenticator.start();
      await reliability.start();
      // Reviewers first: joining the group can wait out a dead member's session, and the API
      // needs nothing from the consumer to serve what is already queued.
      address = await http.listen({ port: config.apiPort, host: config.apiHost });
      started = true;
      log.info({ address }, 'review API listening');
      // The groups are joined together: after a crash each may wait out a dead member.
      await Promise.all([consumer.start(), learning?.start(), rescoring?.start()]);
    },
    url: () => address,
    // The learning counts are a view for admins: their consumer never makes the API unready (a
    // stall shows in hitl_consumer_stalled_seconds).
    ready: () => started && consumer.ready,
    stop() {
      stopping ??= (async () => {
        started = false;
        await http.close();
        // Each consumer leaves its group in parallel, as they joined: one after the other, the
        // waits add up.
        await Promise.all([consumer.stop(), learning?.stop(), rescoring?.stop()]);
        await relay.stop();
        await authenticator.stop();
        await reliability.stop();
        if (ownPool) await pool.end();
      })();
      return stopping;
    },
  };
}

/** Each reviewer's streams on which an estimate puts them below `below`. */
function flaggedStreamsOf(estimate: LoadedReliability, below: number): Map<string, string[]> {
  const flagged = new Map<string, string[]>();
  for (const s of estimate.streams.values()) {
    for (const r of s.reviewers) {
      if (r.accuracy < below) flagged.set(r.reviewerId, [...(flagged.get(r.reviewerId) ?? []), s.stream]);
    }
  }
  return flagged;
}
