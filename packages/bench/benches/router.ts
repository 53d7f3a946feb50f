// pnpm bench:router (stack up): the router's events/s on the real broker, against the
// pass-through baseline of bench:inference, measured in the same run. Prints progress to stderr,
// the figures to stdout, and ends with one line of JSON.
//
// Preloads BENCH_EVENTS events and as many predictions of them (SpamAssassin emails, confidences
// spread over [0.5, 1), a tenth with no model), then lets the pass-through drain the events and
// the router (its own process, the default policy with an audit rate of 2%) drain the predictions.
import { topics, type InputEvent, type Prediction, type PredictionData } from '@hitl/contracts';
import { spamAssassin } from '@hitl/datasets';
import { createPolicyVersion } from '@hitl/db';
import { TypedProducer, createTopicsWithLeaders } from '@hitl/kafka';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy';
import { kafkaBrokers, uniqueName } from '@hitl/testkit';
import { dirname, join } from 'node:path';
import {
  drainRate,
  emailEvent,
  passThroughScript,
  progress as progressOf,
  round,
  printFigures,
  runBench,
  withBenchInfra,
} from '../src';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const BATCH_SIZE = Number(process.env.BATCH_SIZE ?? 500);
const routerMain = join(dirname(require.resolve('@hitl/router')), 'main.ts');
const inferenceRoot = dirname(dirname(require.resolve('@hitl/inference')));
const routerRoot = dirname(dirname(routerMain));
const progress = progressOf('router');

function predictionOf(event: InputEvent, i: number): Prediction {
  const at = new Date().toISOString();
  const confidence = 0.5 + ((i * 7919) % 500) / 1000;
  const label = i % 2 === 0 ? 'spam' : 'ham';
  const other = label === 'spam' ? 'ham' : 'spam';
  const base = { ...event.data, scoredAt: at };
  const data: PredictionData =
    i % 10 === 9
      ? {
          ...base,
          model: null,
          classes: [],
          label: null,
          probabilities: {},
          confidence: 0,
          margin: 0,
          entropy: 0,
        }
      : {
          ...base,
          model: { id: 'bench-spam', version: 1 },
          classes: ['ham', 'spam'],
          label,
          probabilities: { [label]: confidence, [other]: 1 - confidence },
          confidence,
          margin: 2 * confidence - 1,
          entropy: -(confidence * Math.log(confidence) + (1 - confidence) * Math.log(1 - confidence)),
        };
  return { type: 'prediction.scored', version: 1, producedAt: at, data };
}

async function main(): Promise<void> {
  const names = {
    events: uniqueName('bench-events'),
    passThrough: uniqueName('bench-pass-through'),
    predictions: uniqueName('bench-predictions'),
    decisions: uniqueName('bench-decisions'),
    reviewRequests: uniqueName('bench-review-requests'),
    deadLetters: uniqueName('bench-dlq'),
  };
  await withBenchInfra(Object.values(names), async ({ kafka, admin, db, pool, processes, usage }) => {
    const policyName = uniqueName('bench-policy');
    await createPolicyVersion(pool, policyName, { ...DEFAULT_POLICY_SPEC, classes: ['ham', 'spam'] });
    await createTopicsWithLeaders(admin, [
      ...[names.events, names.passThrough, names.predictions, names.decisions, names.reviewRequests].map(
        (topic) => ({ topic, numPartitions: topics.events.partitions }),
      ),
      { topic: names.deadLetters, numPartitions: 1 },
    ]);

    progress(`preloading ${EVENTS} events and ${EVENTS} predictions`);
    const emails = spamAssassin({ maxChars: 5_000 });
    const producer = new TypedProducer({ kafka });
    await producer.connect();
    for (let i = 0; i < EVENTS; i += 1_000) {
      const events: InputEvent[] = Array.from({ length: Math.min(1_000, EVENTS - i) }, (_, j) =>
        emailEvent(`e-${i + j}`, emails[(i + j) % emails.length]!.text),
      );
      await producer.send(
        { ...topics.events, name: names.events },
        events.map((value) => ({ value })),
      );
      await producer.send(
        { ...topics.predictions, name: names.predictions },
        events.map((e, j) => ({ value: predictionOf(e, i + j) })),
      );
    }
    await producer.disconnect();

    const common = {
      KAFKA_BROKERS: kafkaBrokers().join(','),
      DATABASE_URL: db.url,
      INSTANCE_ID: 'bench-0',
      BATCH_SIZE: String(BATCH_SIZE),
      DLQ_TOPIC: names.deadLetters,
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
    };

    progress('pass-through draining the events');
    const passGroup = uniqueName('bench-pass');
    const passThrough = usage.watch(
      'passThrough',
      await processes.start(passThroughScript, {
        cwd: inferenceRoot,
        env: {
          ...common,
          GROUP_ID: passGroup,
          EVENTS_TOPIC: names.events,
          PREDICTIONS_TOPIC: names.passThrough,
        },
      }),
    );
    const passThroughEventsPerSec = await drainRate(admin, passGroup, names.events, EVENTS);
    await usage.stopProcess(passThrough);
    progress(`pass-through: ${round(passThroughEventsPerSec)} events/s`);

    progress('router draining the predictions');
    const routerGroup = uniqueName('bench-router');
    const router = usage.watch(
      'router',
      await processes.start(routerMain, {
        cwd: routerRoot,
        env: {
          ...common,
          GROUP_ID: routerGroup,
          POLICY_NAME: policyName,
          PREDICTIONS_TOPIC: names.predictions,
          DECISIONS_TOPIC: names.decisions,
          REVIEW_REQUESTS_TOPIC: names.reviewRequests,
        },
      }),
    );
    const routerEventsPerSec = await drainRate(admin, routerGroup, names.predictions, EVENTS);
    await usage.stopProcess(router);
    progress(`router: ${round(routerEventsPerSec)} events/s`);

    const figures = {
      bench: 'router',
      events: EVENTS,
      batchSize: BATCH_SIZE,
      passThroughEventsPerSec: round(passThroughEventsPerSec),
      routerEventsPerSec: round(routerEventsPerSec),
      ratio: round(routerEventsPerSec / passThroughEventsPerSec, 3),
      // Peak RSS (VmHWM) of each process the bench started, in MB; goal router <= 200.
      peakRssMb: usage.peakRssMb(),
    };
    printFigures(
      [
        `pass-through (events -> predictions, no scoring): ${figures.passThroughEventsPerSec} events/s`,
        `router (predictions -> decisions | reviews):      ${figures.routerEventsPerSec} events/s (ratio ${figures.ratio})`,
        `peak RSS: router ${figures.peakRssMb.router} MB (goal <= 200 MB), pass-through ${figures.peakRssMb.passThrough} MB`,
      ],
      figures,
    );
  });
}

runBench('router', main);
