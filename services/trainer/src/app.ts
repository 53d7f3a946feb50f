// The trainer without its process: the corrections consumer, the training scheduler and the outbox
// relay, built from config. Started by main.ts, or by tests in-process.
import { topics, type Correction } from '@hitl/contracts';
import { createPool } from '@hitl/db';
import { ValidatingConsumer, createKafka, type ConsumedRecord } from '@hitl/kafka';
import { loadOnnxClassifier } from '@hitl/model';
import { OutboxRelay } from '@hitl/outbox';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { TrainerConfig } from './config';
import { trackCertification } from './certification';
import { exampleOf } from './examples';
import { lastPromotionAt, trainerMetrics } from './metrics';
import { TrainingScheduler, type CheckResult } from './scheduler';
import { countLabelledExamples, storeExamples } from './store';
import { trainInWorker } from './train-in-worker';
import { trainExportVerify } from './training';
import { runTrainingRound } from './training-round';

export interface TrainerDeps {
  logger: Logger;
  registry: Registry;
  /** Default: a client for config.kafkaBrokers. */
  kafka?: Kafka;
  /** Default: a pool for config.databaseUrl (closed by stop()). */
  pool?: Pool;
}

export interface TrainerService {
  start(): Promise<void>;
  /** Ready: the corrections consumer runs and the scheduler checks. */
  ready(): boolean;
  /** Looks now whether a training is due, and runs it if so (what the scheduler does every interval). */
  checkNow(): Promise<CheckResult>;
  /** Stops intake and checks (aborting a round in progress), then the relay; closes the pool. */
  stop(): Promise<void>;
}

export function createTrainerService(config: TrainerConfig, deps: TrainerDeps): TrainerService {
  const { logger, registry } = deps;
  const log = logger.child({ service: 'trainer', modelId: config.modelId });
  const kafka =
    deps.kafka ??
    createKafka({
      brokers: config.kafkaBrokers,
      clientId: 'hitl-trainer',
      logger: log,
      config: config.kafkaConnection,
    });
  const ownPool = deps.pool === undefined;
  const pool = deps.pool ?? createPool({ connectionString: config.databaseUrl, max: 4 });
  const metrics = trainerMetrics(registry);
  const relay = new OutboxRelay({
    pool,
    kafka,
    logger: log,
    registry,
    transactionalId: config.outboxRelayId,
    markerGroupId: config.outboxRelayId,
  });

  const certificationGauges = trackCertification(pool, config.modelId, metrics);
  const scheduler = new TrainingScheduler({
    pool,
    modelId: config.modelId,
    schedule: {
      retrainEvery: config.retrainEvery,
      minLabelsPerClass: config.minLabelsPerClass,
      minEvalExamples: config.minEvalExamples,
      gateAlpha: config.gateAlpha,
      retrainAfterMs: config.retrainAfterMs,
    },
    checkIntervalMs: config.checkIntervalMs,
    logger: log,
    onCheck: async () => {
      const [counts, promotedAt] = await Promise.all([
        countLabelledExamples(pool, config.modelId),
        lastPromotionAt(pool, config.modelId),
      ]);
      metrics.stored.set({ model: config.modelId, split: 'train' }, counts.train);
      metrics.stored.set({ model: config.modelId, split: 'eval' }, counts.eval);
      if (promotedAt) metrics.lastPromotion.set({ model: config.modelId }, promotedAt.getTime() / 1000);
      await certificationGauges.update();
    },
    runRound: (due, start, signal) =>
      runTrainingRound(
        {
          pool,
          modelId: config.modelId,
          instanceId: config.instanceId,
          modelsTopic: config.modelsTopic,
          gate: { alpha: config.gateAlpha, minEvalExamples: config.minEvalExamples },
          maxFeatures: config.maxFeatures,
          regularizationC: config.regularizationC,
          calibrationMinTemperature: config.calibrationMinTemperature,
          certifyFolds: config.certifyFolds,
          seed: config.trainSeed,
          train: (input, abort) =>
            config.trainingWorker ? trainInWorker(input, abort) : trainExportVerify(input),
          loadClassifier: (onnx) => loadOnnxClassifier(onnx, {}, { worker: config.trainingWorker }),
          logger: log,
          metrics,
          onOutbox: () => relay.wakeUp(),
        },
        due,
        start,
        signal,
      ),
  });

  const consumer = new ValidatingConsumer({
    kafka,
    groupId: config.groupId,
    topic: { ...topics.corrections, name: config.correctionsTopic },
    deadLetterTopic: { ...topics.deadLetters, name: config.deadLetterTopic },
    logger: log,
    registry,
    // Storing an example is idempotent (one per model and event id), so at-least-once is enough.
    handleBatch: async (records: ConsumedRecord<Correction>[]) => {
      const examples = records.map((r) => exampleOf(r.value.data, config.evalShare));
      const stored = await storeExamples(pool, config.modelId, examples);
      for (const result of ['inserted', 'replaced', 'late', 'duplicate'] as const) {
        if (stored[result] > 0) metrics.examples.inc({ model: config.modelId, result }, stored[result]);
      }
    },
  });

  let started = false;
  let stopping: Promise<void> | undefined;
  return {
    async start() {
      await relay.start();
      await consumer.start();
      scheduler.start();
      started = true;
      log.info(
        {
          retrainEvery: config.retrainEvery,
          checkIntervalMs: config.checkIntervalMs,
          evalShare: config.evalShare,
        },
        'trainer started',
      );
    },
    ready: () => started && consumer.ready,
    checkNow: () => scheduler.check(),
    stop() {
      // Idempotent: a shutdown step and a test's cleanup may both call it.
      stopping ??= (async () => {
        started = false;
        await consumer.stop();
        await scheduler.stop();
        await relay.stop();
        if (ownPool) await pool.end();
      })();
      return stopping;
    },
  };
}
