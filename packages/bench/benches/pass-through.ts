// The benchmarks' baseline: a service's consumer-producer loop from the same Kafka package
// (validation, one transaction per batch with the offsets, the same topics, batch size and
// concurrency) doing no work of its own. Run as a process, in one of two stages:
// - PASS_THROUGH_STAGE=predict (default), configured like the inference service (EVENTS_TOPIC,
//   PREDICTIONS_TOPIC, GROUP_ID, BATCH_SIZE, ...): a no-model prediction per event, no scoring;
// - PASS_THROUGH_STAGE=decide, configured like the router (PREDICTIONS_TOPIC, DECISIONS_TOPIC,
//   ...): a decision per prediction, taking its label as it is, no routing.
import { topics, type Decision, type InputEvent, type Prediction } from '@hitl/contracts';
import { ValidatingConsumer, createKafka, output, type Output } from '@hitl/kafka';
import { loadInferenceConfig, predictionOf } from '@hitl/inference';
import { loadRouterConfig } from '@hitl/router';
import { createLogger, createMetricsRegistry, createShutdown, loadConfigOrExit } from '@hitl/service-kit';
import type { Kafka } from 'kafkajs';

interface StageConfig {
  kafka: Kafka;
  groupId: string;
  instanceId: string;
  batchSize: number;
  concurrentPartitions: number;
  deadLetterTopic: string;
}

function decisionOf(prediction: Prediction, at: string): Decision {
  const p = prediction.data;
  return {
    type: 'decision.made',
    version: 1,
    producedAt: at,
    data: {
      eventId: p.eventId,
      label: p.label ?? 'none',
      decidedBy: 'model',
      model: p.model,
      policyVersion: 1,
      reviewers: [],
      confidence: p.confidence,
      decidedAt: at,
    },
  };
}

async function main(): Promise<void> {
  const stage = process.env.PASS_THROUGH_STAGE ?? 'predict';
  if (stage !== 'predict' && stage !== 'decide') {
    throw new Error(`PASS_THROUGH_STAGE must be predict or decide, got "${stage}"`);
  }
  const logger = createLogger({ name: `pass-through-${stage}`, level: 'info' });
  const clientId = `hitl-pass-through-${stage}`;
  const start = <T>(
    config: StageConfig,
    input: typeof topics.events | typeof topics.predictions,
    handle: (value: T, at: string) => Output,
  ) => {
    const consumer = new ValidatingConsumer({
      kafka: config.kafka,
      groupId: config.groupId,
      topic: input,
      deadLetterTopic: { ...topics.deadLetters, name: config.deadLetterTopic },
      logger,
      registry: createMetricsRegistry({ service: clientId, defaultMetrics: false }),
      transactionalId: `${config.groupId}-${config.instanceId}`,
      maxBatchSize: config.batchSize,
      partitionsConsumedConcurrently: config.concurrentPartitions,
      handleBatch: async (records) => {
        const at = new Date().toISOString();
        return records.map((r) => handle(r.value as T, at));
      },
    });
    createShutdown({ logger, steps: [{ name: 'stop consumer', run: () => consumer.stop() }] });
    return consumer.start();
  };
  if (stage === 'predict') {
    const config = loadConfigOrExit(() => loadInferenceConfig(process.env));
    const kafka = createKafka({
      brokers: config.kafkaBrokers,
      clientId,
      logger,
      config: config.kafkaConnection,
    });
    const predictions = { ...topics.predictions, name: config.predictionsTopic };
    await start<InputEvent>(
      { ...config, kafka },
      { ...topics.events, name: config.eventsTopic },
      (event, at) => output(predictions, predictionOf(event.data, null, at)),
    );
  } else {
    const config = loadConfigOrExit(() => loadRouterConfig(process.env));
    const kafka = createKafka({
      brokers: config.kafkaBrokers,
      clientId,
      logger,
      config: config.kafkaConnection,
    });
    const decisions = { ...topics.decisions, name: config.decisionsTopic };
    await start<Prediction>(
      { ...config, kafka },
      { ...topics.predictions, name: config.predictionsTopic },
      (prediction, at) => output(decisions, decisionOf(prediction, at)),
    );
  }
  logger.info('service started');
}

main().catch((error: unknown) => {
  process.stderr.write(`pass-through failed: ${String(error)}\n`);
  process.exit(1);
});
