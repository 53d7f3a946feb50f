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
import { LabelBound, UNREGISTERED_STREAM_LABEL, inferenceMetrics } from './metrics';
import { ModelSlot, type Lease } from './model-slot';
import {
  StreamErrorCode,
  inputMisfit,
  nonFiniteFeatures,
  predictionOf,
  summarize,
  type StreamRoutes,
} from './scoring';
import { ServedModels } from './served-models';

export interface InferenceDeps {
  logger: Logger;
  registry: Registry;
  /** Default: a client for config.kafkaBrokers. */
  kafka?: Kafka;
  /** Default: a pool for config.databaseUrl (closed by stop()). */
  pool?: Pool;
}

export interface InferenceService {
  /**
   * The slot of MODEL_ID: while no stream is registered, the model serving every event. When the
   * registry's streams do not use MODEL_ID, an idle slot that serves nothing (version null).
   */
  readonly slot: ModelSlot;
  /** Every model served, following the stream registry. */
  readonly models: ServedModels;
  start(): Promise<void>;
  /** Ready: the registries were read and the events consumer runs. */
  ready(): boolean;
  /** Stops intake, lets the batch in hand commit, closes the model sessions and the pool. */
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
  const modelLabels = new LabelBound(config.metricLabelLimit);
  const streamLabels = new LabelBound(config.metricLabelLimit);
  const loadOptions = { intraOpNumThreads: config.intraOpThreads, worker: config.scoringWorker };
  const served = new ServedModels({
    db: pool,
    defaultModelId: config.modelId,
    logger: log,
    registry,
    loadOptions,
    modelLabels,
  });
  // What `slot` gives while MODEL_ID is not served: never refreshed, so it serves nothing.
  let idleSlot: ModelSlot | undefined;
  const defaultSlot = () =>
    served.slot(config.modelId) ??
    (idleSlot ??= new ModelSlot({ db: pool, modelId: config.modelId, logger: log, registry, loadOptions }));
  const eventsTopic = { ...topics.events, name: config.eventsTopic };
  const predictionsTopic = { ...topics.predictions, name: config.predictionsTopic };
  const deadLetterTopic = { ...topics.deadLetters, name: config.deadLetterTopic };
  const rescoredTopic = { ...topics.rescored, name: config.rescoredTopic };

  /** The routes to score with: read again first when one of these streams is not in them. */
  async function routesFor(streams: readonly string[]): Promise<StreamRoutes> {
    if (streams.every((s) => served.modelFor(s) !== null)) return served.routes;
    // A stream added since the registry was last read must not be dead-lettered as unknown.
    await served.sync();
    return served.routes;
  }

  /**
   * Scores a batch grouped by model, each event by the version served now of its stream's model:
   * one prediction per record to `target`, in the order of the records, or the record to the DLQ
   * when its stream is unknown or its input does not fit the model. `eventOf` reads the event of
   * a record.
   */
  async function scoreInto<T>(
    records: ConsumedRecord<T>[],
    context: HandlerContext,
    target: TopicSpec,
    eventOf: (value: T) => InputEventData,
  ): Promise<Output[]> {
    const events = records.map((r) => eventOf(r.value));
    const routes = await routesFor(events.map((e) => e.stream));
    // From here to the leases, no await: the routes and the slots are those of one revision.
    const groups = new Map<string, { lease: Lease; label: string; indexes: number[] }>();
    const outputs: Output[][] = records.map(() => []);
    const registered = routes.streams.size > 0;
    const streamLabel = (stream: string) =>
      !registered || routes.streams.has(stream) ? streamLabels.label(stream) : UNREGISTERED_STREAM_LABEL;
    try {
      events.forEach((event, i) => {
        const modelId = served.modelFor(event.stream, routes);
        if (modelId === null) {
          metrics.rejected.inc({
            model: 'none',
            stream: UNREGISTERED_STREAM_LABEL,
            code: StreamErrorCode.unknown,
          });
          outputs[i]!.push(
            context.deadLetter(
              records[i]!,
              StreamErrorCode.unknown,
              `stream ${JSON.stringify(event.stream)} is not in the stream registry (revision ${routes.revision})`,
            ),
          );
          return;
        }
        let group = groups.get(modelId);
        if (!group) {
          const slot = served.slot(modelId);
          if (!slot) throw new Error(`model ${modelId} is routed to but not served`);
          group = { lease: slot.acquire(), label: modelLabels.label(modelId), indexes: [] };
          groups.set(modelId, group);
        }
        group.indexes.push(i);
      });
      for (const { lease, label, indexes } of groups.values()) {
        const { model } = lease;
        const publish = (i: number, scored: Parameters<typeof predictionOf>[1], at: string) => {
          const event = events[i]!;
          outputs[i]!.push(output(target, predictionOf(event, scored, at)));
          metrics.predictions.inc({
            model: label,
            version: scored ? String(scored.model.ref.version) : 'none',
            stream: streamLabel(event.stream),
            label: scored?.scores.label ?? 'none',
          });
        };
        if (!model) {
          // Cold start: no version of this model is promoted yet.
          const at = new Date().toISOString();
          for (const i of indexes) publish(i, null, at);
          continue;
        }
        const fit: number[] = [];
        for (const i of indexes) {
          const misfit = inputMisfit(events[i]!.input, model);
          if (misfit) {
            metrics.rejected.inc({ model: label, stream: streamLabel(events[i]!.stream), code: misfit.code });
            outputs[i]!.push(context.deadLetter(records[i]!, misfit.code, misfit.reason));
          } else {
            fit.push(i);
          }
        }
        if (fit.length === 0) continue;
        const inputs =
          model.inputKind === 'text'
            ? fit.map((i) => events[i]!.input.text!)
            : fit.map((i) => events[i]!.input.features!);
        const endTimer = metrics.scoreSeconds.startTimer({ model: label });
        const rows = await model.classifier.predictProba(inputs);
        endTimer();
        metrics.batchSize.observe({ model: label }, fit.length);
        const at = new Date().toISOString();
        fit.forEach((i, k) => publish(i, { model, scores: summarize(model.classes, rows[k]!) }, at));
      }
      return outputs.flat();
    } finally {
      for (const { lease } of groups.values()) lease.release();
    }
  }

  const score = (records: ConsumedRecord<InputEvent>[], context: HandlerContext) =>
    scoreInto(records, context, predictionsTopic, (value) => value.data);

  /**
   * Scores waiting review tasks again for the review API. A request names the model and version
   * whose promotion or rollback asked for it: it is scored when that model is the one its stream
   * is served by here, and skipped otherwise (another deployment serves it). When another version
   * is served, the registry is read first, so a request that overtakes the lifecycle record is
   * still scored by the version in force.
   */
  async function rescore(
    records: ConsumedRecord<RescoreRequest>[],
    context: HandlerContext,
  ): Promise<Output[]> {
    const routes = await routesFor(records.map((r) => r.value.data.stream));
    const ours: ConsumedRecord<RescoreRequest>[] = [];
    for (const r of records) {
      const { model, stream } = r.value.data;
      if (served.modelFor(stream, routes) === model.id) ours.push(r);
      else metrics.rescored.inc({ model: modelLabels.label(model.id), outcome: 'skipped' });
    }
    if (ours.length === 0) return [];
    const behind = new Set(
      ours
        .map((r) => r.value.data.model)
        .filter((m) => served.slot(m.id)?.version !== m.version)
        .map((m) => m.id),
    );
    await Promise.all([...behind].map((id) => served.slot(id)?.refresh() ?? Promise.resolve()));
    const outputs = await scoreInto(ours, context, rescoredTopic, ({ data }) => ({
      eventId: data.eventId,
      stream: data.stream,
      occurredAt: data.occurredAt,
      input: data.input,
      ...(data.attributes ? { attributes: data.attributes } : {}),
    }));
    for (const r of ours)
      metrics.rescored.inc({ model: modelLabels.label(r.value.data.model.id), outcome: 'scored' });
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
      if (value.type !== 'model.promoted' && value.type !== 'model.rolled_back') return;
      const slot = served.slot(value.data.model.id);
      if (!slot) return;
      log.info(
        { step: value.type, model: value.data.model.id, version: value.data.model.version },
        'model lifecycle step',
      );
      await slot.refresh();
    },
  });

  let poll: NodeJS.Timeout | undefined;
  let streamsPoll: NodeJS.Timeout | undefined;
  let started = false;
  let stopping: Promise<void> | undefined;

  return {
    get slot() {
      return defaultSlot();
    },
    models: served,
    async start() {
      await served.sync();
      await models.start();
      await events.start();
      await rescores?.start();
      if (config.modelPollMs > 0) {
        poll = setInterval(() => {
          served.refreshAll().catch((error: unknown) => log.warn({ err: error }, 'registry check failed'));
        }, config.modelPollMs);
        poll.unref();
      }
      if (config.streamsPollMs > 0) {
        streamsPoll = setInterval(() => {
          served.sync().catch((error: unknown) => log.warn({ err: error }, 'stream registry check failed'));
        }, config.streamsPollMs);
        streamsPoll.unref();
      }
      started = true;
      log.info(
        {
          models: Object.fromEntries(served.entries().map(([id, s]) => [id, s.version])),
          streams: served.routes.streams.size,
          batchSize: config.batchSize,
        },
        'inference started',
      );
    },
    ready: () => started && served.initialized && events.ready && models.ready && (rescores?.ready ?? true),
    stop() {
      // Idempotent: a shutdown step and a test's cleanup may both call it.
      stopping ??= (async () => {
        started = false;
        if (poll) clearInterval(poll);
        if (streamsPoll) clearInterval(streamsPoll);
        await events.stop();
        await rescores?.stop();
        await models.stop();
        await served.close();
        await idleSlot?.close();
        if (ownPool) await pool.end();
      })();
      return stopping;
    },
  };
}
