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
import {
  ModelLabels,
  OTHER_MODEL_LABEL,
  UNREGISTERED_MODEL_LABEL,
  lastPromotionAt,
  trainerMetrics,
} from './metrics';
import { TrainingScheduler, type CheckResult } from './scheduler';
import { countLabelledExamples, storeExamples } from './store';
import { TrainerStreams } from './streams';
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
  /**
   * Looks now whether a training of the model (default MODEL_ID) is due, and runs it if so (what
   * the scheduler does for each model every interval).
   */
  checkNow(modelId?: string): Promise<CheckResult>;
  /** One scheduler tick now: reads the stream registry, then checks every model it trains. */
  checkAll(): Promise<Map<string, CheckResult>>;
  /** The models trained now (MODEL_ID alone while no stream is registered). */
  models(): string[];
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

  // The models trained follow the stream registry (streams.ts has the rule).
  const streams = new TrainerStreams(pool, config.modelId);
  const modelLabels = new ModelLabels();
  const certificationGauges = new Map<string, ReturnType<typeof trackCertification>>();
  const gaugesOf = (modelId: string) => {
    let gauges = certificationGauges.get(modelId);
    if (!gauges) {
      const label = modelLabels.label(modelId);
      // Past the bound, versions and classes of different models would share one series: none.
      gauges =
        label === OTHER_MODEL_LABEL
          ? { update: () => Promise.resolve(null) }
          : trackCertification(pool, modelId, metrics, undefined, label);
      certificationGauges.set(modelId, gauges);
    }
    return gauges;
  };
  const scheduler = new TrainingScheduler({
    pool,
    models: () => streams.models(),
    beforeTick: () => streams.sync(),
    schedule: {
      retrainEvery: config.retrainEvery,
      minLabelsPerClass: config.minLabelsPerClass,
      minEvalExamples: config.minEvalExamples,
      gateAlpha: config.gateAlpha,
      retrainAfterMs: config.retrainAfterMs,
    },
    checkIntervalMs: config.checkIntervalMs,
    logger: log,
    onCheck: async (modelId) => {
      const model = modelLabels.label(modelId);
      const [counts, promotedAt] = await Promise.all([
        countLabelledExamples(pool, modelId),
        lastPromotionAt(pool, modelId),
      ]);
      metrics.stored.set({ model, split: 'train' }, counts.train);
      metrics.stored.set({ model, split: 'eval' }, counts.eval);
      if (promotedAt) metrics.lastPromotion.set({ model }, promotedAt.getTime() / 1000);
      await gaugesOf(modelId).update();
    },
    runRound: (modelId, due, start, signal) =>
      runTrainingRound(
        {
          pool,
          modelId,
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
          logger: log.child({ modelId }),
          metrics,
          metricLabel: modelLabels.label(modelId),
          streamShape: streams.shapeOf(modelId),
          policyName: streams.policyOf(modelId),
          onOutbox: () => relay.wakeUp(),
        },
        due,
        start,
        signal,
      ),
  });

  /** The corrections of a batch by the model whose labels they are (null: an unregistered stream). */
  const byModel = (records: ConsumedRecord<Correction>[]) => {
    const groups = new Map<string | null, ConsumedRecord<Correction>[]>();
    for (const record of records) {
      const modelId = streams.modelFor(record.value.data.stream);
      groups.set(modelId, [...(groups.get(modelId) ?? []), record]);
    }
    return groups;
  };

  const consumer = new ValidatingConsumer({
    kafka,
    groupId: config.groupId,
    topic: { ...topics.corrections, name: config.correctionsTopic },
    deadLetterTopic: { ...topics.deadLetters, name: config.deadLetterTopic },
    logger: log,
    registry,
    // Storing an example is idempotent (one per model and event id), so at-least-once is enough.
    handleBatch: async (records: ConsumedRecord<Correction>[]) => {
      let groups = byModel(records);
      if (groups.has(null)) {
        // A stream added since the registry was last read: read it again before skipping any.
        await streams.sync();
        groups = byModel(records);
      }
      for (const [modelId, group] of groups) {
        if (modelId === null) {
          metrics.examples.inc({ model: UNREGISTERED_MODEL_LABEL, result: 'unregistered' }, group.length);
          log.warn(
            {
              streams: [...new Set(group.map((r) => r.value.data.stream))].slice(0, 10),
              count: group.length,
            },
            'skipped corrections of streams the registry does not have',
          );
          continue;
        }
        const examples = group.map((r) => exampleOf(r.value.data, config.evalShare));
        const stored = await storeExamples(pool, modelId, examples);
        const model = modelLabels.label(modelId);
        for (const result of ['inserted', 'replaced', 'late', 'duplicate'] as const) {
          if (stored[result] > 0) metrics.examples.inc({ model, result }, stored[result]);
        }
      }
    },
  });

  let started = false;
  let stopping: Promise<void> | undefined;
  return {
    async start() {
      await streams.sync();
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
    checkNow: (modelId = config.modelId) => scheduler.check(modelId),
    checkAll: () => scheduler.tick(),
    models: () => streams.models(),
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
