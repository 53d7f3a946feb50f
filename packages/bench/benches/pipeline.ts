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
  createPipelineTopics,
  drainRate,
  emailEvent,
  offerLoad,
  passThroughScript,
  percentile,
  pipelineSettings,
  pipelineTopicNames,
  preloadEvents,
  printFigures,
  progress as progressOf,
  round,
  runBench,
  service,
  serviceEnv,
  startService,
  trainServedModel,
  withBenchInfra,
} from '../src';
import type { Decision } from '@hitl/contracts';
import { spamAssassin } from '@hitl/datasets';
import { createPolicyVersion } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy';
import { TopicReader, jsonValue, uniqueName } from '@hitl/testkit';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const RATE = 1_000;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);
const WARMUP_SECONDS = 2;
const progress = progressOf('pipeline');

/** Model decisions are timed; review requests wait for people. */
const modelDecided = (r: TopicReader['records'][number]) => jsonValue<Decision>(r).data.decidedBy === 'model';

async function main(): Promise<void> {
  const names = {
    ...pipelineTopicNames(),
    passPredictions: uniqueName('bench-pass-predictions'),
    passDecisions: uniqueName('bench-pass-decisions'),
    warmPredictions: uniqueName('bench-warm-predictions'),
    warmDecisions: uniqueName('bench-warm-decisions'),
  };
  await withBenchInfra(Object.values(names), async ({ kafka, admin, db, pool, processes, usage }) => {
    progress('training the served model on 80% of the SpamAssassin corpus');
    const emails = spamAssassin({ maxChars: 5_000 });
    const { modelId, classes } = await trainServedModel(pool, emails);
    await createPolicyVersion(pool, modelId, { ...DEFAULT_POLICY_SPEC, classes });
    await createPipelineTopics(admin, names, [
      names.passPredictions,
      names.passDecisions,
      names.warmPredictions,
      names.warmDecisions,
    ]);

    progress(`preloading ${EVENTS} events`);
    const producer = new TypedProducer({ kafka });
    await producer.connect();
    const event = (id: string, i: number) => emailEvent(id, emails[i % emails.length]!.text);
    await preloadEvents(producer, names.events, EVENTS, event);

    const settings = pipelineSettings({ processes, usage, db }, names, modelId);
    const inference = service('@hitl/inference');
    const passEnv = serviceEnv(settings, 'bench-0');
    const startPassThrough = (groups: { predict: string; decide: string }, mid: string, out: string) =>
      Promise.all([
        processes
          .start(passThroughScript, {
            cwd: inference.root,
            env: {
              ...passEnv,
              PASS_THROUGH_STAGE: 'predict',
              GROUP_ID: groups.predict,
              EVENTS_TOPIC: names.events,
              PREDICTIONS_TOPIC: mid,
            },
          })
          .then((child) => usage.watch('passThroughPredict', child)),
        processes
          .start(passThroughScript, {
            cwd: inference.root,
            env: {
              ...passEnv,
              PASS_THROUGH_STAGE: 'decide',
              GROUP_ID: groups.decide,
              PREDICTIONS_TOPIC: mid,
              DECISIONS_TOPIC: out,
            },
          })
          .then((child) => usage.watch('passThroughDecide', child)),
      ]);
    // A broker just started runs its first requests interpreted: the same work once, not timed,
    // so that the pass-through (measured first) and the services meet the same warm broker.
    progress('warming the broker up: the two-stage pass-through drains the events once, not timed');
    const warmGroups = { predict: uniqueName('bench-warm-predict'), decide: uniqueName('bench-warm-decide') };
    const warmStages = await startPassThrough(warmGroups, names.warmPredictions, names.warmDecisions);
    await drainRate(admin, warmGroups.decide, names.warmPredictions, EVENTS);
    for (const stage of warmStages) await usage.stopProcess(stage);

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
      rate: RATE,
      seconds: LATENCY_SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      outputs: [passDecisions],
      timed: modelDecided,
      lastGroup: passGroups.decide,
      lastTopic: names.passPredictions,
      lastBefore: EVENTS,
    });
    await passDecisions.stop();
    for (const stage of passStages) await usage.stopProcess(stage);

    progress('the four services draining the events');
    const started = await Promise.all([
      startService('inference', settings),
      startService('router', settings),
      startService('reviewApi', settings),
      startService('trainer', settings),
    ]);
    progress(`service pids (inference, router, review API, trainer): ${started.map((c) => c.pid).join(' ')}`);
    const cpuBefore = usage.cpuSeconds();
    const decisions = await TopicReader.start(names.decisions);
    const pipelineEventsPerSec = await drainRate(
      admin,
      settings.groups.router,
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
      rate: RATE,
      seconds: LATENCY_SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      outputs: [decisions],
      timed: modelDecided,
      lastGroup: settings.groups.router,
      lastTopic: names.predictions,
      lastBefore: EVENTS + passLatency.offered,
    });
    await decisions.stop();
    await producer.disconnect();
    const cpuAfter = usage.cpuSeconds();
    // CPU time of each service from its start's end to the load's end, per event it took.
    const through = EVENTS + passLatency.offered + pipeline.offered;
    const cpuMicrosPerEvent = Object.fromEntries(
      ['inference', 'router', 'reviewApi', 'trainer'].map((name) => [
        name,
        round(((cpuAfter[name]! - cpuBefore[name]!) * 1e6) / through),
      ]),
    );

    const figures = {
      bench: 'pipeline',
      events: EVENTS,
      passThroughEventsPerSec: round(passThroughEventsPerSec),
      pipelineEventsPerSec: round(pipelineEventsPerSec),
      ratio: round(pipelineEventsPerSec / passThroughEventsPerSec, 3),
      offeredRate: RATE,
      offeredSeconds: round(pipeline.offeredSeconds, 2),
      modelDecidedShare: round(pipeline.outputs / pipeline.offered, 3),
      latencySamples: pipeline.latencies.length,
      p50Ms: percentile(pipeline.latencies, 50),
      p99Ms: percentile(pipeline.latencies, 99),
      maxMs: pipeline.latencies.at(-1) ?? NaN,
      passThroughP50Ms: percentile(passLatency.latencies, 50),
      passThroughP99Ms: percentile(passLatency.latencies, 99),
      // Peak RSS (VmHWM) of each process the bench started, in MB; goals: inference <= 300, the
      // other services <= 200.
      peakRssMb: usage.peakRssMb(),
      // CPU time (user + system, from /proc) of each service while it drained and took the
      // offered load, in µs per event.
      cpuMicrosPerEvent,
    };
    const rss = figures.peakRssMb;
    printFigures(
      [
        `two-stage pass-through (no scoring, no routing): ${figures.passThroughEventsPerSec} events/s`,
        `inference + router (all four services running): ${figures.pipelineEventsPerSec} events/s (ratio ${figures.ratio}, goal >= 0.6)`,
        `event append -> decision append at ${RATE} events/s, model decisions (${round(figures.modelDecidedShare * 100)}% of events): p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms (goal p99 <= 100 ms), max ${figures.maxMs} ms`,
        `the same through the two-stage pass-through: p50 ${figures.passThroughP50Ms} ms, p99 ${figures.passThroughP99Ms} ms`,
        `peak RSS: inference ${rss.inference} MB (goal <= 300), router ${rss.router} MB, review API ${rss.reviewApi} MB, trainer ${rss.trainer} MB (goals <= 200)`,
        `CPU per event: ${Object.entries(cpuMicrosPerEvent)
          .map(([name, us]) => `${name} ${us} µs`)
          .join(', ')}`,
      ],
      figures,
    );
  });
}

runBench('pipeline', main);
