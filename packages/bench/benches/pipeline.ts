// pnpm bench:pipeline (stack up): the whole pipeline on the real broker with all four services
// running (inference, router, review API, trainer, each its own process), against a two-stage
// pass-through built from the same Kafka package, measured in the same run. Prints progress to
// stderr, the figures to stdout, and ends with one line of JSON.
//
// 1. Trains and promotes the served model (the TF-IDF text classifier on 80% of the SpamAssassin
//    corpus); the routing policy is the default (threshold 0.9, 2% audit) with ham and spam.
// 2. Preloads BENCH_EVENTS emails into an events topic. A two-stage pass-through drains them once
//    untimed, to warm the broker; then the pass-through's two stages (events -> predictions, no
//    scoring; predictions -> decisions, no routing) drain them, timed, and take 1,000 events/s
//    offered for BENCH_LATENCY_SECONDS; then the services do the same (inference -> router). The
//    rate is the last stage's drain rate: an event counts once it has its decision (or, from the
//    router, its review request).
// 3. Latency: for every event decided by the model after a 2 s warm-up, the time from the event's
//    append to its decision's append (the topics use LogAppendTime).
import {
  committedOffsets,
  drainRate,
  emailEvent,
  offerAtRate,
  passThroughScript,
  percentile,
  printFigures,
  progress as progressOf,
  round,
  runBench,
  trainServedModel,
  withBenchInfra,
} from '../src';
import { topics, type Decision, type InputEvent } from '@hitl/contracts';
import { spamAssassin } from '@hitl/datasets';
import { createPolicyVersion } from '@hitl/db';
import { TypedProducer, createTopicsWithLeaders } from '@hitl/kafka';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy';
import { ProcessGroup, TopicReader, freePort, kafkaBrokers, uniqueName } from '@hitl/testkit';
import type { Admin } from 'kafkajs';
import { dirname, join } from 'node:path';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const RATE = 1_000;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);
const WARMUP_SECONDS = 2;
const progress = progressOf('pipeline');

/** A service's entry point and package directory, wherever the workspace is. */
function service(pkg: string): { main: string; root: string } {
  const main = join(dirname(require.resolve(pkg)), 'main.ts');
  return { main, root: dirname(dirname(main)) };
}

interface OfferLoad {
  admin: Admin;
  producer: TypedProducer;
  event: (id: string, i: number) => InputEvent;
  /** Event ids are `<prefix>-<n>`. */
  prefix: string;
  eventsTopic: string;
  /** Reading the topic the decisions land on since before the load began. */
  decisions: TopicReader;
  /** The last stage's group and input topic: the load is through once it has committed routedBefore + offered. */
  routerGroup: string;
  routedTopic: string;
  routedBefore: number;
}

/**
 * Offers RATE events/s for LATENCY_SECONDS and returns, for each event decided by the model after
 * the warm-up, the time from its append to its decision's append (both LogAppendTime).
 */
async function offerLoad(o: OfferLoad) {
  const { appendedAt, offered, offeredSeconds } = await offerAtRate({
    producer: o.producer.producer,
    topic: o.eventsTopic,
    partitions: topics.events.partitions,
    rate: RATE,
    seconds: LATENCY_SECONDS,
    event: (n) => {
      const value = o.event(`${o.prefix}-${n}`, n);
      return { id: value.data.eventId, json: JSON.stringify(value) };
    },
  });
  const deadline = Date.now() + 120_000;
  while ((await committedOffsets(o.admin, o.routerGroup, o.routedTopic)) < o.routedBefore + offered) {
    if (Date.now() > deadline)
      throw new Error(`${o.routerGroup} did not take every offered event within 2 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const latencies: number[] = [];
  let decided = 0;
  for (const r of o.decisions.records) {
    const d = JSON.parse(r.value!.toString()) as Decision;
    const id = d.data.eventId;
    if (!id.startsWith(`${o.prefix}-`) || d.data.decidedBy !== 'model') continue;
    decided++;
    if (Number(id.slice(o.prefix.length + 1)) < WARMUP_SECONDS * RATE) continue;
    latencies.push(r.timestamp - appendedAt.get(id)!);
  }
  latencies.sort((a, b) => a - b);
  return { offered, offeredSeconds, decided, latencies };
}

async function main(): Promise<void> {
  const names = {
    events: uniqueName('bench-events'),
    predictions: uniqueName('bench-predictions'),
    decisions: uniqueName('bench-decisions'),
    reviewRequests: uniqueName('bench-review-requests'),
    corrections: uniqueName('bench-corrections'),
    passPredictions: uniqueName('bench-pass-predictions'),
    passDecisions: uniqueName('bench-pass-decisions'),
    warmPredictions: uniqueName('bench-warm-predictions'),
    warmDecisions: uniqueName('bench-warm-decisions'),
    models: uniqueName('bench-models'),
    deadLetters: uniqueName('bench-dlq'),
  };
  await withBenchInfra(Object.values(names), async ({ kafka, admin, db, pool, processes }) => {
    progress('training the served model on 80% of the SpamAssassin corpus');
    const emails = spamAssassin({ maxChars: 5_000 });
    const { modelId, classes } = await trainServedModel(pool, emails);
    await createPolicyVersion(pool, modelId, { ...DEFAULT_POLICY_SPEC, classes });

    const appendTime = [{ name: 'message.timestamp.type', value: 'LogAppendTime' }];
    const partitioned = [
      names.events,
      names.predictions,
      names.decisions,
      names.reviewRequests,
      names.corrections,
      names.passPredictions,
      names.passDecisions,
      names.warmPredictions,
      names.warmDecisions,
    ];
    await createTopicsWithLeaders(admin, [
      ...partitioned.map((topic) => ({
        topic,
        numPartitions: topics.events.partitions,
        configEntries: appendTime,
      })),
      { topic: names.models, numPartitions: 1 },
      { topic: names.deadLetters, numPartitions: 1 },
    ]);

    progress(`preloading ${EVENTS} events`);
    const producer = new TypedProducer({ kafka });
    await producer.connect();
    const event = (id: string, i: number) => emailEvent(id, emails[i % emails.length]!.text);
    for (let i = 0; i < EVENTS; i += 1_000) {
      const chunk = Array.from({ length: Math.min(1_000, EVENTS - i) }, (_, j) =>
        event(`pre-${i + j}`, i + j),
      );
      await producer.send(
        { ...topics.events, name: names.events },
        chunk.map((value) => ({ value })),
      );
    }

    const common = {
      KAFKA_BROKERS: kafkaBrokers().join(','),
      DATABASE_URL: db.url,
      MODEL_ID: modelId,
      POLICY_NAME: modelId,
      DLQ_TOPIC: names.deadLetters,
      MODELS_TOPIC: names.models,
      OUTBOX_RELAY_ID: uniqueName('bench-relay'),
      INSTANCE_ID: 'bench-0',
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
    };

    const inference = service('@hitl/inference');
    const router = service('@hitl/router');
    const startPassThrough = (groups: { predict: string; decide: string }, mid: string, out: string) =>
      Promise.all([
        processes.start(passThroughScript, {
          cwd: inference.root,
          env: {
            ...common,
            PASS_THROUGH_STAGE: 'predict',
            GROUP_ID: groups.predict,
            EVENTS_TOPIC: names.events,
            PREDICTIONS_TOPIC: mid,
          },
        }),
        processes.start(passThroughScript, {
          cwd: inference.root,
          env: {
            ...common,
            PASS_THROUGH_STAGE: 'decide',
            GROUP_ID: groups.decide,
            PREDICTIONS_TOPIC: mid,
            DECISIONS_TOPIC: out,
          },
        }),
      ]);
    // A broker just started runs its first requests interpreted: the same work once, not timed,
    // so that the pass-through (measured first) and the services meet the same warm broker.
    progress('warming the broker up: the two-stage pass-through drains the events once, not timed');
    const warmGroups = { predict: uniqueName('bench-warm-predict'), decide: uniqueName('bench-warm-decide') };
    const warmStages = await startPassThrough(warmGroups, names.warmPredictions, names.warmDecisions);
    await drainRate(admin, warmGroups.decide, names.warmPredictions, EVENTS);
    for (const stage of warmStages) await ProcessGroup.stop(stage);

    progress('two-stage pass-through draining the events');
    const passGroups = { predict: uniqueName('bench-pass-predict'), decide: uniqueName('bench-pass-decide') };
    const passStages = await startPassThrough(passGroups, names.passPredictions, names.passDecisions);
    const passDecisions = await TopicReader.start(names.passDecisions);
    const passThroughEventsPerSec = await drainRate(admin, passGroups.decide, names.passPredictions, EVENTS);
    progress(`pass-through: ${round(passThroughEventsPerSec)} events/s`);
    progress(`offering ${RATE} events/s to the pass-through for ${LATENCY_SECONDS} s`);
    const passLatency = await offerLoad({
      admin,
      producer,
      event,
      prefix: 'pass',
      eventsTopic: names.events,
      decisions: passDecisions,
      routerGroup: passGroups.decide,
      routedTopic: names.passPredictions,
      routedBefore: EVENTS,
    });
    await passDecisions.stop();
    for (const stage of passStages) await ProcessGroup.stop(stage);

    progress('the four services draining the events');
    const groups = { inference: uniqueName('bench-inference'), router: uniqueName('bench-router') };
    const reviewApi = service('@hitl/review-api');
    const trainer = service('@hitl/trainer');
    await Promise.all([
      processes.start(inference.main, {
        cwd: inference.root,
        env: {
          ...common,
          GROUP_ID: groups.inference,
          EVENTS_TOPIC: names.events,
          PREDICTIONS_TOPIC: names.predictions,
          RESCORING: 'false',
        },
      }),
      processes.start(router.main, {
        cwd: router.root,
        env: {
          ...common,
          GROUP_ID: groups.router,
          PREDICTIONS_TOPIC: names.predictions,
          DECISIONS_TOPIC: names.decisions,
          REVIEW_REQUESTS_TOPIC: names.reviewRequests,
        },
      }),
      processes.start(reviewApi.main, {
        cwd: reviewApi.root,
        env: {
          ...common,
          API_PORT: String(await freePort()),
          GROUP_ID: uniqueName('bench-review-api'),
          REVIEW_REQUESTS_TOPIC: names.reviewRequests,
          DECISIONS_TOPIC: names.decisions,
          CORRECTIONS_TOPIC: names.corrections,
          RESCORE_ON_PROMOTION: 'false',
        },
      }),
      processes.start(trainer.main, {
        cwd: trainer.root,
        env: { ...common, GROUP_ID: uniqueName('bench-trainer'), CORRECTIONS_TOPIC: names.corrections },
      }),
    ]);
    const decisions = await TopicReader.start(names.decisions);
    const pipelineEventsPerSec = await drainRate(
      admin,
      groups.router,
      names.predictions,
      EVENTS + passLatency.offered,
    );
    progress(`services: ${round(pipelineEventsPerSec)} events/s`);

    progress(`offering ${RATE} events/s to the services for ${LATENCY_SECONDS} s`);
    const pipeline = await offerLoad({
      admin,
      producer,
      event,
      prefix: 'lat',
      eventsTopic: names.events,
      decisions,
      routerGroup: groups.router,
      routedTopic: names.predictions,
      routedBefore: EVENTS + passLatency.offered,
    });
    await decisions.stop();
    await producer.disconnect();

    const figures = {
      bench: 'pipeline',
      events: EVENTS,
      passThroughEventsPerSec: round(passThroughEventsPerSec),
      pipelineEventsPerSec: round(pipelineEventsPerSec),
      ratio: round(pipelineEventsPerSec / passThroughEventsPerSec, 3),
      offeredRate: RATE,
      offeredSeconds: round(pipeline.offeredSeconds, 2),
      modelDecidedShare: round(pipeline.decided / pipeline.offered, 3),
      latencySamples: pipeline.latencies.length,
      p50Ms: percentile(pipeline.latencies, 50),
      p99Ms: percentile(pipeline.latencies, 99),
      maxMs: pipeline.latencies.at(-1) ?? NaN,
      passThroughP50Ms: percentile(passLatency.latencies, 50),
      passThroughP99Ms: percentile(passLatency.latencies, 99),
    };
    printFigures(
      [
        `two-stage pass-through (no scoring, no routing): ${figures.passThroughEventsPerSec} events/s`,
        `inference + router (all four services running): ${figures.pipelineEventsPerSec} events/s (ratio ${figures.ratio}, goal >= 0.6)`,
        `event append -> decision append at ${RATE} events/s, model decisions (${round(figures.modelDecidedShare * 100)}% of events): p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms (goal p99 <= 100 ms), max ${figures.maxMs} ms`,
        `the same through the two-stage pass-through: p50 ${figures.passThroughP50Ms} ms, p99 ${figures.passThroughP99Ms} ms`,
      ],
      figures,
    );
  });
}

runBench('pipeline', main);
