// The benchmark's baseline: the inference service's consumer-producer loop from the same Kafka
// package (validation, one transaction per batch with the offsets, the same topics and batch
// size) that scores nothing and publishes a no-model prediction per event. Run as a process,
// configured like the service (EVENTS_TOPIC, PREDICTIONS_TOPIC, GROUP_ID, BATCH_SIZE, ...).
import { topics } from '@hitl/contracts';
import { ValidatingConsumer, createKafka, output } from '@hitl/kafka';
import { createLogger, createMetricsRegistry, createShutdown, loadConfigOrExit } from '@hitl/service-kit';
import { loadInferenceConfig, predictionOf } from '@hitl/inference';

async function main(): Promise<void> {
  const config = loadConfigOrExit(() => loadInferenceConfig(process.env));
  const logger = createLogger({ name: 'pass-through', level: config.logLevel });
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'hitl-pass-through', logger });
  const predictions = { ...topics.predictions, name: config.predictionsTopic };
  const consumer = new ValidatingConsumer({
    kafka,
    groupId: config.groupId,
    topic: { ...topics.events, name: config.eventsTopic },
    deadLetterTopic: { ...topics.deadLetters, name: config.deadLetterTopic },
    logger,
    registry: createMetricsRegistry({ service: 'pass-through', defaultMetrics: false }),
    transactionalId: `${config.groupId}-${config.instanceId}`,
    maxBatchSize: config.batchSize,
    partitionsConsumedConcurrently: config.concurrentPartitions,
    handleBatch: async (records) => {
      const at = new Date().toISOString();
      return records.map((r) => output(predictions, predictionOf(r.value, null, at)));
    },
  });
  createShutdown({ logger, steps: [{ name: 'stop consumer', run: () => consumer.stop() }] });
  await consumer.start();
  logger.info('service started');
}

main().catch((error: unknown) => {
  process.stderr.write(`pass-through failed: ${String(error)}\n`);
  process.exit(1);
});
