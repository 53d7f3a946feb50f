// What bench:pipeline and bench:scale share: the pipeline's topics, its services started as
// processes of their own (watched for peak RSS and CPU time), preloaded events, and an offered
// load with the latency of each event through it.
import { topics, type InputEvent } from '@hitl/contracts';
import { type TypedProducer, createTopicsWithLeaders } from '@hitl/kafka';
import { type ProcessGroup, type TopicReader, freePort, kafkaBrokers, uniqueName } from '@hitl/testkit';
import type { Admin } from 'kafkajs';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { committedOffsets, offerAtRate, type BenchInfra } from './index';
import type { UsageMonitor } from './usage';

/** A service's entry point and package directory, wherever the workspace is. */
export function service(pkg: string): { main: string; root: string } {
  const main = join(dirname(require.resolve(pkg)), 'main.ts');
  return { main, root: dirname(dirname(main)) };
}

/** The topics the four services use, named for one run. */
export function pipelineTopicNames() {
  return {
    events: uniqueName('bench-events'),
    predictions: uniqueName('bench-predictions'),
    decisions: uniqueName('bench-decisions'),
    reviewRequests: uniqueName('bench-review-requests'),
    corrections: uniqueName('bench-corrections'),
    models: uniqueName('bench-models'),
    deadLetters: uniqueName('bench-dlq'),
  };
}
export type PipelineTopicNames = ReturnType<typeof pipelineTopicNames>;

/**
 * Creates the run's topics: `partitioned` with the events topic's partitions and LogAppendTime
 * (so that a record's timestamp is its append time), the models and dead-letter topics with one.
 */
export async function createPipelineTopics(
  admin: Admin,
  names: PipelineTopicNames,
  extraPartitioned: readonly string[] = [],
): Promise<void> {
  const appendTime = [{ name: 'message.timestamp.type', value: 'LogAppendTime' }];
  const partitioned = [
    names.events,
    names.predictions,
    names.decisions,
    names.reviewRequests,
    names.corrections,
    ...extraPartitioned,
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
}

/** Writes `count` events (ids `<prefix>-<n>`) into the events topic, 1,000 a send. */
export async function preloadEvents(
  producer: TypedProducer,
  eventsTopic: string,
  count: number,
  event: (id: string, i: number) => InputEvent,
  prefix = 'pre',
): Promise<void> {
  for (let i = 0; i < count; i += 1_000) {
    const chunk = Array.from({ length: Math.min(1_000, count - i) }, (_, j) =>
      event(`${prefix}-${i + j}`, i + j),
    );
    await producer.send(
      { ...topics.events, name: eventsTopic },
      chunk.map((value) => ({ value })),
    );
  }
}

export interface PipelineSettings {
  processes: ProcessGroup;
  usage: UsageMonitor;
  names: PipelineTopicNames;
  databaseUrl: string;
  modelId: string;
  /** The consumer groups of the inference service's and the router's instances. */
  groups: { inference: string; router: string };
  /** OUTBOX_RELAY_ID of the services that relay an outbox (the review API, the trainer). */
  outboxRelayId: string;
}

/** The settings every service of the run takes (and the pass-through, configured like them). */
export function serviceEnv(s: PipelineSettings, instanceId: string): Record<string, string> {
  return {
    KAFKA_BROKERS: kafkaBrokers().join(','),
    DATABASE_URL: s.databaseUrl,
    MODEL_ID: s.modelId,
    POLICY_NAME: s.modelId,
    DLQ_TOPIC: s.names.deadLetters,
    MODELS_TOPIC: s.names.models,
    OUTBOX_RELAY_ID: s.outboxRelayId,
    INSTANCE_ID: instanceId,
    HTTP_PORT: '0',
    LOG_LEVEL: 'info',
  };
}

/** Each service's package and the settings of its own it takes besides serviceEnv's. */
const SERVICES = {
  inference: {
    pkg: '@hitl/inference',
    env: async (s: PipelineSettings) => ({
      GROUP_ID: s.groups.inference,
      EVENTS_TOPIC: s.names.events,
      PREDICTIONS_TOPIC: s.names.predictions,
      RESCORING: 'false',
    }),
  },
  router: {
    pkg: '@hitl/router',
    env: async (s: PipelineSettings) => ({
      GROUP_ID: s.groups.router,
      PREDICTIONS_TOPIC: s.names.predictions,
      DECISIONS_TOPIC: s.names.decisions,
      REVIEW_REQUESTS_TOPIC: s.names.reviewRequests,
    }),
  },
  reviewApi: {
    pkg: '@hitl/review-api',
    env: async (s: PipelineSettings) => ({
      API_PORT: String(await freePort()),
      GROUP_ID: uniqueName('bench-review-api'),
      REVIEW_REQUESTS_TOPIC: s.names.reviewRequests,
      DECISIONS_TOPIC: s.names.decisions,
      CORRECTIONS_TOPIC: s.names.corrections,
      RESCORE_ON_PROMOTION: 'false',
    }),
  },
  trainer: {
    pkg: '@hitl/trainer',
    env: async (s: PipelineSettings) => ({
      GROUP_ID: uniqueName('bench-trainer'),
      CORRECTIONS_TOPIC: s.names.corrections,
    }),
  },
};

/**
 * Starts one of the pipeline's services as a process of its own, watched by `s.usage` under its
 * name (instances of one service count together); resolves once the service says it started.
 */
export async function startService(
  name: keyof typeof SERVICES,
  s: PipelineSettings,
  instanceId = 'bench-0',
): Promise<ChildProcess> {
  const { main, root } = service(SERVICES[name].pkg);
  const env = { ...serviceEnv(s, instanceId), ...(await SERVICES[name].env(s)) };
  return s.usage.watch(name, await s.processes.start(main, { cwd: root, env }));
}

/** The settings of a run's services, on the infrastructure of withBenchInfra. */
export function pipelineSettings(
  infra: Pick<BenchInfra, 'processes' | 'usage' | 'db'>,
  names: PipelineTopicNames,
  modelId: string,
): PipelineSettings {
  return {
    processes: infra.processes,
    usage: infra.usage,
    names,
    databaseUrl: infra.db.url,
    modelId,
    groups: { inference: uniqueName('bench-inference'), router: uniqueName('bench-router') },
    outboxRelayId: uniqueName('bench-relay'),
  };
}

/** Waits until a group has committed `count` records of a topic (`what` names it in the error). */
export async function waitForCommitted(
  admin: Admin,
  groupId: string,
  topic: string,
  count: number,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await committedOffsets(admin, groupId, topic)) < count) {
    if (Date.now() > deadline)
      throw new Error(`${groupId} did not commit ${count} records within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface OfferLoad {
  admin: Admin;
  producer: TypedProducer;
  event: (id: string, i: number) => InputEvent;
  /** Event ids are `<prefix>-<n>`. */
  prefix: string;
  eventsTopic: string;
  rate: number;
  seconds: number;
  /** Events offered in the first warmupSeconds are not timed. */
  warmupSeconds: number;
  /** Readers of the topics the last stage writes to, reading since before the load began. */
  outputs: readonly TopicReader[];
  /** Which output records are timed (by default all). */
  timed?: (record: TopicReader['records'][number]) => boolean;
  /** The last stage's group and input topic: the load is through once it has committed lastBefore + offered. */
  lastGroup: string;
  lastTopic: string;
  lastBefore: number;
  /** Runs once the offering has begun (for instance, to scale while the load goes on). */
  during?: () => Promise<void>;
}

/**
 * Offers `rate` events/s for `seconds`, waits until the last stage has taken them, and returns for
 * each timed output record of an event offered after the warm-up the time from the event's append
 * to the output's append (both LogAppendTime), sorted.
 */
export async function offerLoad(o: OfferLoad) {
  const offering = offerAtRate({
    producer: o.producer.producer,
    topic: o.eventsTopic,
    partitions: topics.events.partitions,
    rate: o.rate,
    seconds: o.seconds,
    event: (n) => {
      const value = o.event(`${o.prefix}-${n}`, n);
      return { id: value.data.eventId, json: JSON.stringify(value) };
    },
  });
  const [{ appendedAt, offered, offeredSeconds }] = await Promise.all([offering, o.during?.()]);
  const throughAt = performance.now();
  await waitForCommitted(o.admin, o.lastGroup, o.lastTopic, o.lastBefore + offered);
  // How long the last stage took, after the last event was offered, to take them all.
  const backlogSeconds = (performance.now() - throughAt) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 500));
  const latencies: number[] = [];
  let outputs = 0;
  const warm = o.warmupSeconds * o.rate;
  for (const reader of o.outputs) {
    for (const r of reader.records) {
      const id = r.key;
      if (!id?.startsWith(`${o.prefix}-`)) continue;
      if (o.timed && !o.timed(r)) continue;
      outputs++;
      if (Number(id.slice(o.prefix.length + 1)) < warm) continue;
      latencies.push(r.timestamp - appendedAt.get(id)!);
    }
  }
  latencies.sort((a, b) => a - b);
  return { offered, offeredSeconds, outputs, latencies, backlogSeconds, appendedAt };
}
