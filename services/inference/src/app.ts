// The inference service without its process: built from config and started by main.ts, or by
// tests and the benchmark in-process.
import {
  topics,
  type InputEvent,
  type InputEventData,
  type RescoreRequest,
  type TopicSpec,
} from '@hitl/contracts';
import { createPool } from '@hitl/db';
import {
  ValidatingConsumer,
  createKafka,
  output,
  type ConsumedRecord,
  type HandlerContext,
  type Output,
} from '@hitl/kafka';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { InferenceConfig } from './config';
import { inferenceMetrics } from './metrics';
import { ModelSlot } from './model-slot';
import { inputMisfit, nonFiniteFeatures, predictionOf, summarize } from './scoring';

export interface InferenceDeps {
  logger: Logger;
  registry: Registry;
  /** Default: a client for config.kafkaBrokers. */
  kafka?: Kafka;
  /** Default: a pool for config.databaseUrl (closed by stop()). */
  pool?: Pool;
}

export interface InferenceService {
  readonly slot: ModelSlot;
  start(): Promise<void>;
  /** Ready: the registry was read and the events consumer runs. */
  ready(): boolean;
  /** Stops intake, lets the batch in hand commit, closes the model session and the pool. */
  stop(): Promise<void>;
}

export function createInferenceService(config: InferenceConfig, deps: InferenceDeps): InferenceService {
  const { logger, registry } = deps;
  const log = logger.child({ service: 'inference', modelId: config.modelId });
  const kafka =
    deps.kafka ??
    createKafka({
      brokers: config.kafkaBrokers,
      clientId: 'hitl-inference',
      logger: log,
      config: config.kafkaConnection,
    });
  const ownPool = deps.pool === undefined;
  const pool = deps.pool ?? createPool({ connectionString: config.databaseUrl, max: 2 });
  const metrics = inferenceMetrics(registry);
  const slot = new ModelSlot({
    db: pool,
    modelId: config.modelId,
    logger: log,
    registry,
    loadOptions: { intraOpNumThreads: config.intraOpThreads, worker: config.scoringWorker },
  });
  const eventsTopic = { ...topics.events, name: config.eventsTopic };
  const predictionsTopic = { ...topics.predictions, name: config.predictionsTopic };
  const deadLetterTopic = { ...topics.deadLetters, name: config.deadLetterTopic };
  const rescoredTopic = { ...topics.rescored, name: config.rescoredTopic };

  /**
   * Scores a batch with the version served now: one prediction per record to `target`, or the
   * record to the DLQ when its input does not fit the model. `eventOf` reads the event of a record.
   */
  async function scoreInto<T>(
    records: ConsumedRecord<T>[],
    context: HandlerContext,
    target: TopicSpec,
    eventOf: (value: T) => InputEventData,
  ): Promise<Output[]> {
    const lease = slot.acquire();
    try {
      const { model } = lease;
      const outputs: Output[] = [];
      const publish = (event: InputEventData, scored: Parameters<typeof predictionOf>[1], at: string) => {
        outputs.push(output(target, predictionOf(event, scored, at)));
        metrics.predictions.inc({
          model: config.modelId,
          version: scored ? String(scored.model.ref.version) : 'none',
          label: scored?.scores.label ?? 'none',
        });
      };
      if (!model) {
        const at = new Date().toISOString();
        for (const r of records) publish(eventOf(r.value), null, at);
        return outputs;
      }
      const fit: InputEventData[] = [];
      for (const r of records) {
        const event = eventOf(r.value);
        const misfit = inputMisfit(event.input, model);
        if (misfit) {
          metrics.rejected.inc({ model: config.modelId, code: misfit.code });
          outputs.push(context.deadLetter(r, misfit.code, misfit.reason));
        } else {
          fit.push(event);
        }
      }
      if (fit.length === 0) return outputs;
      const inputs =
        model.inputKind === 'text' ? fit.map((e) => e.input.text!) : fit.map((e) => e.input.features!);
      const endTimer = metrics.scoreSeconds.startTimer();
      const rows = await model.classifier.predictProba(inputs);
      endTimer();
      metrics.batchSize.observe(fit.length);
      const at = new Date().toISOString();
      fit.forEach((e, i) => publish(e, { model, scores: summarize(model.classes, rows[i]!) }, at));
      return outputs;
    } finally {
      lease.release();
    }
  }

  const score = (records: ConsumedRecord<InputEvent>[], context: HandlerContext) =>
    scoreInto(records, context, predictionsTopic, (value) => value.data);

  /**
   * Scores waiting review tasks again for the review API. A request names the version whose
   * promotion or rollback asked for it; when another one is served, the registry is read first, so
   * a request that overtakes the lifecycle record is still scored by the version in force.
   */
  async function rescore(
    records: ConsumedRecord<RescoreRequest>[],
    context: HandlerContext,
  ): Promise<Output[]> {
    const ours = records.filter((r) => r.value.data.model.id === config.modelId);
    const others = records.length - ours.length;
    if (others > 0) metrics.rescored.inc({ model: config.modelId, outcome: 'skipped' }, others);
    if (ours.length === 0) return [];
    if (ours.some((r) => r.value.data.model.version !== slot.version)) await slot.refresh();
    const outputs = await scoreInto(ours, context, rescoredTopic, ({ data }) => ({
      eventId: data.eventId,
      stream: data.stream,
      occurredAt: data.occurredAt,
      input: data.input,
      ...(data.attributes ? { attributes: data.attributes } : {}),
    }));
    metrics.rescored.inc({ model: config.modelId, outcome: 'scored' }, ours.length);
    return outputs;
  }

  const events = new ValidatingConsumer({
    kafka,
    groupId: config.groupId,
    topic: eventsTopic,
    deadLetterTopic,
    logger: log,
    registry,
    transactionalId: `${config.groupId}-${config.instanceId}`,
    maxBatchSize: config.batchSize,
    partitionsConsumedConcurrently: config.concurrentPartitions,
    classifyInvalid: nonFiniteFeatures,
    handleBatch: score,
  });

  // A group of its own: waiting tasks are few next to events, and must not queue behind them.
  const rescores = config.rescoring
    ? new ValidatingConsumer({
        kafka,
        groupId: `${config.groupId}-rescore`,
        topic: { ...topics.rescoreRequests, name: config.rescoreRequestsTopic },
        deadLetterTopic,
        logger: log,
        registry,
        transactionalId: `${config.groupId}-rescore-${config.instanceId}`,
        maxBatchSize: config.batchSize,
        partitionsConsumedConcurrently: config.concurrentPartitions,
        classifyInvalid: nonFiniteFeatures,
        handleBatch: rescore,
      })
    : undefined;

  // Every replica must see every lifecycle step, so each has a group of its own; it starts at
  // the end of the topic because the registry, read at start, already says what is promoted.
  const models = new ValidatingConsumer({
    kafka,
    groupId: `${config.groupId}-models-${config.instanceId}`,
    topic: { ...topics.models, name: config.modelsTopic },
    deadLetterTopic,
    logger: log,
    registry,
    fromBeginning: false,
    lagIntervalMs: 0,
    handleRecord: async ({ value }) => {
      if (value.data.model.id !== config.modelId) return;
      if (value.type !== 'model.promoted' && value.type !== 'model.rolled_back') return;
      log.info({ step: value.type, version: value.data.model.version }, 'model lifecycle step');
      await slot.refresh();
    },
  });

  let poll: NodeJS.Timeout | undefined;
  let started = false;
  let stopping: Promise<void> | undefined;

  return {
    slot,
    async start() {
      await slot.refresh();
      await models.start();
      await events.start();
      await rescores?.start();
      if (config.modelPollMs > 0) {
        poll = setInterval(() => {
          slot.refresh().catch((error: unknown) => log.warn({ err: error }, 'registry check failed'));
        }, config.modelPollMs);
        poll.unref();
      }
      started = true;
      log.info({ version: slot.version, batchSize: config.batchSize }, 'inference started');
    },
    ready: () => started && slot.initialized && events.ready && models.ready && (rescores?.ready ?? true),
    stop() {
      // Idempotent: a shutdown step and a test's cleanup may both call it.
      stopping ??= (async () => {
        started = false;
        if (poll) clearInterval(poll);
        await events.stop();
        await rescores?.stop();
        await models.stop();
        await slot.close();
        if (ownPool) await pool.end();
      })();
      return stopping;
    },
  };
}
