// The router without its process: built from config and started by main.ts, or by tests and the
// benchmark in-process.
import { topics, type ModelRef, type Prediction } from '@hitl/contracts';
import { CertifiedThresholdCache, createPool, repeatedRecords } from '@hitl/db';
import { ValidatingConsumer, createKafka, output, type ConsumedRecord, type Output } from '@hitl/kafka';
import { route } from '@hitl/policy';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { RouterConfig } from './config';
import { routerMetrics } from './metrics';
import { PolicyHolder } from './policy-holder';

export interface RouterDeps {
  logger: Logger;
  registry: Registry;
  /** Default: a client for config.kafkaBrokers. */
  kafka?: Kafka;
  /** Default: a pool for config.databaseUrl (closed by stop()). */
  pool?: Pool;
}

export interface RouterService {
  readonly policy: PolicyHolder;
  start(): Promise<void>;
  ready(): boolean;
  /** Stops intake, lets the batch in hand commit, closes the pool. */
  stop(): Promise<void>;
}

export function createRouterService(config: RouterConfig, deps: RouterDeps): RouterService {
  const { logger, registry } = deps;
  const log = logger.child({ service: 'router', policy: config.policyName });
  const kafka =
    deps.kafka ??
    createKafka({
      brokers: config.kafkaBrokers,
      clientId: 'hitl-router',
      logger: log,
      config: config.kafkaConnection,
    });
  const ownPool = deps.pool === undefined;
  const pool = deps.pool ?? createPool({ connectionString: config.databaseUrl, max: 2 });
  const metrics = routerMetrics(registry);
  const policy = new PolicyHolder(pool, config.policyName, metrics, log);
  const decisions = { ...topics.decisions, name: config.decisionsTopic };
  const reviewRequests = { ...topics.reviewRequests, name: config.reviewRequestsTopic };

  const certified = new CertifiedThresholdCache(pool, log);

  // Each prediction is routed by the policy of its stream as the stream registry says, and one of
  // an unregistered stream (every one while the registry is empty) by POLICY_NAME, as before
  // streams (see policy-holder.ts). A batch is routed under one view of the registry and the
  // policies: all its outputs of one stream name the same policy version. An event id already
  // routed from another record (a producer sent it twice) is dropped and counted: one event, one
  // decision. Its first record is recorded before the batch's transaction commits; if that
  // transaction aborts, the batch comes again from the same places and is routed again.
  async function routeBatch(batch: ConsumedRecord<Prediction>[]): Promise<Output[]> {
    const repeats = await repeatedRecords(
      pool,
      batch.map((r) => ({
        eventId: r.value.data.eventId,
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
      })),
    );
    if (repeats.size > 0) {
      metrics.repeats.inc(repeats.size);
      log.info({ repeats: repeats.size }, 'dropped predictions of event ids already routed');
    }
    const records = batch.filter((_, i) => !repeats.has(i));
    const routing = policy.routing;
    const policies = records.map(({ value }) => routing.policyOf(value.data.stream));
    const at = new Date().toISOString();
    const targeted = records.flatMap(({ value }, i) =>
      policies[i]!.targetAccuracy !== null && value.data.model ? [value.data.model] : [],
    );
    if (targeted.length > 0) await certified.load(targeted);
    return records.map(({ value }, i) => {
      const current = policies[i]!;
      const routed = route(value.data, current, at, (model: ModelRef) =>
        certified.thresholds(model, current),
      );
      const label = value.data.label ?? 'none';
      const stream = routing.labelOf(value.data.stream);
      if (routed.kind === 'decision') {
        metrics.routed.inc({ outcome: 'decision', reason: 'confident', class: label, stream });
        return output(decisions, routed.record);
      }
      metrics.routed.inc({ outcome: 'review', reason: routed.reason, class: label, stream });
      return output(reviewRequests, routed.record);
    });
  }

  const consumer = new ValidatingConsumer({
    kafka,
    groupId: config.groupId,
    topic: { ...topics.predictions, name: config.predictionsTopic },
    deadLetterTopic: { ...topics.deadLetters, name: config.deadLetterTopic },
    logger: log,
    registry,
    transactionalId: `${config.groupId}-${config.instanceId}`,
    maxBatchSize: config.batchSize,
    partitionsConsumedConcurrently: config.concurrentPartitions,
    handleBatch: routeBatch,
  });

  let started = false;
  let stopping: Promise<void> | undefined;
  return {
    policy,
    async start() {
      await policy.start(config.policyPollMs);
      await consumer.start();
      started = true;
      log.info(
        {
          policyVersion: policy.current.version,
          streamsRevision: policy.routing.revision,
          streams: policy.routing.streams.size,
        },
        'router started',
      );
    },
    ready: () => started && policy.loaded && consumer.ready,
    stop() {
      // Idempotent: a shutdown step and a test's cleanup may both call it.
      stopping ??= (async () => {
        started = false;
        policy.stop();
        await consumer.stop();
        if (ownPool) await pool.end();
      })();
      return stopping;
    },
  };
}
