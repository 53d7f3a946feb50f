// pnpm bench:inference (stack up): throughput and latency of the inference service on the real
// broker, against a pass-through consumer-producer measured in the same run. Prints progress to
// stderr, the figures to stdout, and ends with one line of JSON.
//
// 1. Trains the served model: the TF-IDF text classifier on 80% of the SpamAssassin corpus.
// 2. Bare onnxruntime-node rows/s of that model at the service's batch size.
// 3. Preloads BENCH_EVENTS emails into hitl.events.v1 (a fresh copy of it), then lets the
//    pass-through and then the service (each its own process, same settings) drain them.
// 4. Offers 1,000 events/s to the running service for BENCH_LATENCY_SECONDS and measures the time
//    from each event's append to its prediction's append (topics use LogAppendTime).
import {
  drainRate,
  emailEvent,
  offerAtRate,
  passThroughScript,
  percentile,
  progress as progressOf,
  round,
  printFigures,
  runBench,
  trainServedModel,
  withBenchInfra,
} from '../src';
import { topics, type Prediction } from '@hitl/contracts';
import { spamAssassin } from '@hitl/datasets';
import { TypedProducer, createTopicsWithLeaders } from '@hitl/kafka';
import { evaluate, loadOnnxClassifier } from '@hitl/model';
import { TopicReader, kafkaBrokers, uniqueName } from '@hitl/testkit';
import { dirname, join } from 'node:path';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const BATCH_SIZE = Number(process.env.BATCH_SIZE ?? 256);
const RATE = 1_000;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);
const WARMUP_SECONDS = 2;
// The service's own entry point and package directory, wherever the workspace is.
const serviceMain = join(dirname(require.resolve('@hitl/inference')), 'main.ts');
const root = dirname(dirname(serviceMain));

const progress = progressOf('inference');

async function main(): Promise<void> {
  const names = {
    events: uniqueName('bench-events'),
    predictions: uniqueName('bench-predictions'),
    passThrough: uniqueName('bench-pass-through'),
    models: uniqueName('bench-models'),
    deadLetters: uniqueName('bench-dlq'),
  };
  await withBenchInfra(Object.values(names), async ({ kafka, admin, db, pool, processes, usage }) => {
    progress('training the served model on 80% of the SpamAssassin corpus');
    const emails = spamAssassin({ maxChars: 5_000 });
    const { modelId, onnx, classes, model, heldOut, trainSeconds } = await trainServedModel(pool, emails);

    progress(`bare onnxruntime-node at batch size ${BATCH_SIZE}, 1 intra-op thread`);
    const classifier = await loadOnnxClassifier(onnx, {}, { intraOpNumThreads: 1 });
    const texts = heldOut.map((e) => e.text);
    const heldOutEval = evaluate(
      classes,
      await classifier.predictProba(texts),
      heldOut.map((e) => e.label),
    );
    let rows = 0;
    const onnxStarted = performance.now();
    while (performance.now() - onnxStarted < 3_000) {
      for (let i = 0; i < texts.length; i += BATCH_SIZE) {
        const batch = texts.slice(i, i + BATCH_SIZE);
        await classifier.predictProba(batch);
        rows += batch.length;
      }
    }
    const onnxRowsPerSec = rows / ((performance.now() - onnxStarted) / 1000);
    await classifier.close();

    const appendTime = [{ name: 'message.timestamp.type', value: 'LogAppendTime' }];
    await createTopicsWithLeaders(admin, [
      { topic: names.events, numPartitions: topics.events.partitions, configEntries: appendTime },
      { topic: names.predictions, numPartitions: topics.predictions.partitions, configEntries: appendTime },
      { topic: names.passThrough, numPartitions: topics.predictions.partitions, configEntries: appendTime },
      { topic: names.models, numPartitions: 1 },
      { topic: names.deadLetters, numPartitions: 1 },
    ]);

    progress(`preloading ${EVENTS} events`);
    const producer = new TypedProducer({ kafka });
    await producer.connect();
    const eventsTopic = { ...topics.events, name: names.events };
    const event = (id: string, i: number) => emailEvent(id, emails[i % emails.length]!.text);
    for (let i = 0; i < EVENTS; i += 1_000) {
      const chunk = Array.from({ length: Math.min(1_000, EVENTS - i) }, (_, j) =>
        event(`pre-${i + j}`, i + j),
      );
      await producer.send(
        eventsTopic,
        chunk.map((value) => ({ value })),
      );
    }

    const env = (groupId: string, predictionsTopic: string) => ({
      KAFKA_BROKERS: kafkaBrokers().join(','),
      DATABASE_URL: db.url,
      MODEL_ID: modelId,
      GROUP_ID: groupId,
      INSTANCE_ID: 'bench-0',
      BATCH_SIZE: String(BATCH_SIZE),
      EVENTS_TOPIC: names.events,
      PREDICTIONS_TOPIC: predictionsTopic,
      MODELS_TOPIC: names.models,
      DLQ_TOPIC: names.deadLetters,
      RESCORING: 'false',
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
    });

    progress('pass-through draining the events');
    const passGroup = uniqueName('bench-pass');
    const passThrough = usage.watch(
      'passThrough',
      await processes.start(passThroughScript, { cwd: root, env: env(passGroup, names.passThrough) }),
    );
    const passThroughEventsPerSec = await drainRate(admin, passGroup, names.events, EVENTS);
    await usage.stopProcess(passThrough);
    progress(`pass-through: ${round(passThroughEventsPerSec)} events/s`);

    progress('inference service draining the events');
    const serviceGroup = uniqueName('bench-inference');
    const service = usage.watch(
      'inference',
      await processes.start(serviceMain, { cwd: root, env: env(serviceGroup, names.predictions) }),
    );
    const serviceEventsPerSec = await drainRate(admin, serviceGroup, names.events, EVENTS);
    progress(`service: ${round(serviceEventsPerSec)} events/s`);

    progress(`offering ${RATE} events/s for ${LATENCY_SECONDS} s`);
    const predictions = await TopicReader.start(names.predictions);
    const {
      appendedAt,
      offered: total,
      offeredSeconds,
    } = await offerAtRate({
      producer: producer.producer,
      topic: names.events,
      partitions: topics.events.partitions,
      rate: RATE,
      seconds: LATENCY_SECONDS,
      event: (n) => {
        const value = event(`lat-${n}`, n);
        return { id: value.data.eventId, json: JSON.stringify(value) };
      },
    });
    await producer.disconnect();
    const expected = EVENTS + total;
    await predictions.waitForCount(expected, { timeoutMs: 120_000 });
    const latencies: number[] = [];
    for (const r of predictions.records) {
      const p = JSON.parse(r.value!.toString()) as Prediction;
      const id = p.data.eventId;
      if (!id.startsWith('lat-')) continue;
      if (Number(id.slice(4)) < WARMUP_SECONDS * RATE) continue;
      latencies.push(r.timestamp - appendedAt.get(id)!);
    }
    await predictions.stop();
    await usage.stopProcess(service);
    latencies.sort((a, b) => a - b);

    const figures = {
      bench: 'inference',
      model: {
        vocabulary: model.vocabulary.length,
        heldOutAccuracy: round(heldOutEval.accuracy, 4),
        trainSeconds: round(trainSeconds, 2),
      },
      batchSize: BATCH_SIZE,
      events: EVENTS,
      onnxRowsPerSec: round(onnxRowsPerSec),
      passThroughEventsPerSec: round(passThroughEventsPerSec),
      serviceEventsPerSec: round(serviceEventsPerSec),
      ratio: round(serviceEventsPerSec / passThroughEventsPerSec, 3),
      offeredRate: RATE,
      offeredSeconds: round(offeredSeconds, 2),
      latencySamples: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies[latencies.length - 1] ?? NaN,
      // Peak RSS (VmHWM) of each process the bench started, in MB; goal inference <= 300.
      peakRssMb: usage.peakRssMb(),
    };
    printFigures(
      [
        `onnxruntime-node, batch ${BATCH_SIZE}:   ${figures.onnxRowsPerSec} rows/s`,
        `pass-through (no scoring):   ${figures.passThroughEventsPerSec} events/s`,
        `inference service:           ${figures.serviceEventsPerSec} events/s (ratio ${figures.ratio}, goal >= 0.7)`,
        `latency at ${RATE} events/s:     p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms (goal p99 <= 25 ms), max ${figures.maxMs} ms`,
        `peak RSS: inference ${figures.peakRssMb.inference} MB (goal <= 300 MB), pass-through ${figures.peakRssMb.passThrough} MB`,
      ],
      figures,
    );
  });
}

runBench('inference', main);
