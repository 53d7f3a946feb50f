// pnpm bench:scale (stack up): the pipeline (inference -> router, each its own process) on the
// real broker with one and then two instances of each on the events topic's 6 partitions, and the
// latency of an event through it as the offered rate grows. Prints progress to stderr, the figures
// to stdout, writes reports/bench-scale/{scale.json,p99-vs-rate.svg}, and ends with one line of JSON.
//
// 1. Trains and promotes the served model (as bench:pipeline); preloads BENCH_EVENTS emails.
// 2. One instance of each drains them (events/s), then takes 1,000 events/s for BENCH_SECONDS
//    (p50/p99 from an event's append to its router output's append: a decision or a review
//    request, LogAppendTime).
// 3. Join: while BENCH_CHURN_RATE events/s are offered, a second instance of each starts; the
//    rebalance time is from the moment its process starts to the moment its group is Stable with
//    two members holding partitions (`startToStableMs`, which includes the process's own start),
//    and the time the group was seen rebalancing (`rebalancingMs`, no partition consumed).
// 4. Two instances of each take 1,000 events/s for BENCH_SECONDS.
// 5. Leave: under the same offered load, the second instances stop (SIGTERM); the time from the
//    signal to the group Stable with the one member left holding all partitions.
// 6. p99 against the offered rate (BENCH_RATES, default 250,500,1000,2000,4000 events/s) with one
//    instance of each, BENCH_SECONDS each, stopping after the first rate that saturates (the
//    pipeline's backlog after the offering lasts longer than a second, or the offering itself took
//    10% longer than asked). `achievedRate` is what went through: offered / (offering + backlog).
// 7. All instances stop; 3 × BENCH_EVENTS more are preloaded; two instances of each start at once
//    and drain them (events/s from the processes' start until the router's outputs hold them all,
//    so their start and the instances joining one after the other count in it).
// 8. Every event sent has exactly one router output (decision or review request): `missing` and
//    `duplicates` count what does not.
// On two cores a second instance cannot add speed; the figures show what scaling out costs.
import {
  createPipelineTopics,
  drainRate,
  emailEvent,
  offerLoad,
  percentile,
  pipelineSettings,
  pipelineTopicNames,
  preloadEvents,
  printFigures,
  progress as progressOf,
  round,
  runBench,
  startService,
  trainServedModel,
  waitForCommitted,
  withBenchInfra,
  type OfferLoad,
} from '../src';
import { spamAssassin } from '@hitl/datasets';
import { createPolicyVersion } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy';
import { TopicReader } from '@hitl/testkit';
import { AssignerProtocol, type Admin } from 'kafkajs';
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000);
const RATE = 1_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const WARMUP_SECONDS = 2;
const CHURN_RATE = Number(process.env.BENCH_CHURN_RATE ?? 500);
const CHURN_SECONDS = 20;
const CHURN_AT_SECONDS = 4;
const RATES = (process.env.BENCH_RATES ?? '250,500,1000,2000,4000').split(',').map(Number);
const REPORT_DIR = join(__dirname, '..', '..', '..', 'reports', 'bench-scale');
const progress = progressOf('scale');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A consumer group's state and how many of its members hold partitions. */
async function groupState(admin: Admin, groupId: string) {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups[0]!;
  const holding = group.members.filter((m) => {
    const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
    return Object.values(assignment?.assignment ?? {}).some((partitions) => partitions.length > 0);
  }).length;
  return { state: group.state, members: group.members.length, holding };
}

/**
 * Polls a group every 50 ms from now until it is Stable with `members` members, each holding
 * partitions: the time that took, and how long it was seen in a rebalance (not Stable).
 */
async function timeRebalance(admin: Admin, groupId: string, members: number, timeoutMs = 120_000) {
  const started = performance.now();
  let rebalancing = 0;
  let last = started;
  for (;;) {
    const g = await groupState(admin, groupId);
    const now = performance.now();
    if (g.state !== 'Stable') rebalancing += now - last;
    last = now;
    if (g.state === 'Stable' && g.members === members && g.holding === members) {
      return { startToStableMs: Math.round(now - started), rebalancingMs: Math.round(rebalancing) };
    }
    if (now - started > timeoutMs) throw new Error(`${groupId} not Stable with ${members} members in time`);
    await sleep(50);
  }
}

/** p50, p99 and max of sorted latencies. */
const summary = (latencies: readonly number[]) => ({
  samples: latencies.length,
  p50Ms: percentile(latencies, 50),
  p99Ms: percentile(latencies, 99),
  maxMs: latencies.at(-1) ?? NaN,
});

interface RatePoint {
  offeredRate: number;
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  /** How long offering took (longer than asked when the producer could not keep the pace). */
  offeredSeconds: number;
  backlogSeconds: number;
}

/** p50 and p99 against the offered rate (both axes log scale) as a standalone SVG. */
function renderRateSvg(points: readonly RatePoint[], title: string): string {
  const [width, height, left, right, top, bottom] = [640, 360, 64, 130, 48, 56];
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const rates = points.map((p) => p.offeredRate);
  const [lo, hi] = [Math.min(...rates), Math.max(...rates)];
  // Both axes log scale: latency spans milliseconds to seconds between an idle and a saturated pipeline.
  const decades = [
    Math.floor(Math.log10(Math.max(1, Math.min(...points.map((p) => p.p50Ms))))),
    Math.ceil(Math.log10(Math.max(10, ...points.map((p) => p.p99Ms)))),
  ] as const;
  const x = (rate: number) =>
    left + (hi === lo ? plotW / 2 : (Math.log(rate / lo) / Math.log(hi / lo)) * plotW);
  const y = (ms: number) =>
    top + (1 - (Math.log10(Math.max(1, ms)) - decades[0]) / (decades[1] - decades[0])) * plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="24" font-size="14" font-weight="bold">${title}</text>`,
  ];
  for (let d = decades[0]; d <= decades[1]; d++) {
    const v = 10 ** d;
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e3e3"/>`,
      `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`,
    );
  }
  for (const rate of rates) {
    parts.push(`<text x="${x(rate).toFixed(1)}" y="${top + plotH + 18}" text-anchor="middle">${rate}</text>`);
  }
  const series = [
    { name: 'p99', color: '#d62728', value: (p: RatePoint) => p.p99Ms },
    { name: 'p50', color: '#1f77b4', value: (p: RatePoint) => p.p50Ms },
  ];
  series.forEach((s, i) => {
    const xy = points.map((p) => [x(p.offeredRate).toFixed(1), y(s.value(p)).toFixed(1)] as const);
    parts.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${xy.map((c) => c.join(',')).join(' ')}"/>`,
      ...xy.map(([cx, cy]) => `<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`),
      `<line x1="${left + plotW + 14}" x2="${left + plotW + 34}" y1="${top + 10 + i * 20}" y2="${top + 10 + i * 20}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${left + plotW + 40}" y="${top + 14 + i * 20}">${s.name}</text>`,
    );
  });
  parts.push(
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left + plotW / 2}" y="${height - 12}" text-anchor="middle">offered events/s (log scale)</text>`,
    `<text x="16" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + plotH / 2})">ms (log scale), event append to router output append</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}

async function main(): Promise<void> {
  const names = pipelineTopicNames();
  await withBenchInfra(Object.values(names), async ({ kafka, admin, db, pool, processes, usage }) => {
    progress('training the served model on 80% of the SpamAssassin corpus');
    const emails = spamAssassin({ maxChars: 5_000 });
    const { modelId, classes } = await trainServedModel(pool, emails);
    await createPolicyVersion(pool, modelId, { ...DEFAULT_POLICY_SPEC, classes });
    await createPipelineTopics(admin, names);
    const settings = pipelineSettings({ processes, usage, db }, names, modelId);
    const { groups } = settings;

    const producer = new TypedProducer({ kafka });
    await producer.connect();
    const event = (id: string, i: number) => emailEvent(id, emails[i % emails.length]!.text);
    // Every event id sent, to check that each has exactly one router output at the end.
    const sent: string[] = [];
    /** Events the router has taken (committed) so far, once everything sent has gone through. */
    let through = 0;
    const preload = async (prefix: string, count: number) => {
      progress(`preloading ${count} events (${prefix})`);
      await preloadEvents(producer, names.events, count, event, prefix);
      for (let i = 0; i < count; i++) sent.push(`${prefix}-${i}`);
    };
    const outputs = await Promise.all([
      TopicReader.start(names.decisions),
      TopicReader.start(names.reviewRequests),
    ]);
    const offer = async (prefix: string, rate: number, seconds: number, during?: OfferLoad['during']) => {
      const result = await offerLoad({
        admin,
        producer,
        event,
        prefix,
        eventsTopic: names.events,
        rate,
        seconds,
        warmupSeconds: WARMUP_SECONDS,
        outputs,
        lastGroup: groups.router,
        lastTopic: names.predictions,
        lastBefore: through,
        ...(during ? { during } : {}),
      });
      through += result.offered;
      sent.push(...result.appendedAt.keys());
      return result;
    };
    const instances: { inference: ChildProcess[]; router: ChildProcess[] } = { inference: [], router: [] };
    const startPair = async (instanceId: string) => {
      const [i, r] = await Promise.all([
        startService('inference', settings, instanceId),
        startService('router', settings, instanceId),
      ]);
      instances.inference.push(i);
      instances.router.push(r);
    };
    const stopLast = async () => {
      await Promise.all([
        usage.stopProcess(instances.inference.pop()!),
        usage.stopProcess(instances.router.pop()!),
      ]);
    };

    // 1-2: one instance each.
    await preload('a', EVENTS);
    progress('one instance each draining the events');
    await startPair('bench-0');
    const oneEventsPerSec = await drainRate(admin, groups.router, names.predictions, EVENTS);
    through += EVENTS;
    progress(
      `one instance each: ${round(oneEventsPerSec)} events/s; offering ${RATE} events/s for ${SECONDS} s`,
    );
    const one = await offer('one', RATE, SECONDS);
    progress(`one instance each at ${RATE} events/s: p99 ${percentile(one.latencies, 99)} ms`);

    // 3: a second instance of each joins under load.
    progress(`offering ${CHURN_RATE} events/s; a second instance of each joins after ${CHURN_AT_SECONDS} s`);
    let joinTimes: Record<string, { startToStableMs: number; rebalancingMs: number }> = {};
    const joined = await offer('join', CHURN_RATE, CHURN_SECONDS, async () => {
      await sleep(CHURN_AT_SECONDS * 1000);
      const [, inference, router] = await Promise.all([
        startPair('bench-1'),
        timeRebalance(admin, groups.inference, 2),
        timeRebalance(admin, groups.router, 2),
      ]);
      joinTimes = { inference, router };
    });
    progress(`join: ${JSON.stringify(joinTimes)}, p99 ${percentile(joined.latencies, 99)} ms`);

    // 4: two instances each.
    progress(`two instances each: offering ${RATE} events/s for ${SECONDS} s`);
    const two = await offer('two', RATE, SECONDS);
    progress(`two instances each at ${RATE} events/s: p99 ${percentile(two.latencies, 99)} ms`);

    // 5: the second instances leave under load.
    progress(`offering ${CHURN_RATE} events/s; the second instances stop after ${CHURN_AT_SECONDS} s`);
    let leaveTimes: Record<string, { startToStableMs: number; rebalancingMs: number }> = {};
    const left = await offer('leave', CHURN_RATE, CHURN_SECONDS, async () => {
      await sleep(CHURN_AT_SECONDS * 1000);
      const [, inference, router] = await Promise.all([
        stopLast(),
        timeRebalance(admin, groups.inference, 1),
        timeRebalance(admin, groups.router, 1),
      ]);
      leaveTimes = { inference, router };
    });
    progress(`leave: ${JSON.stringify(leaveTimes)}, p99 ${percentile(left.latencies, 99)} ms`);

    // 6: p99 against the offered rate, one instance each.
    const curve: RatePoint[] = [];
    for (const rate of RATES) {
      progress(`one instance each: offering ${rate} events/s for ${SECONDS} s`);
      const r = await offer(`rate${rate}`, rate, SECONDS);
      const point = {
        offeredRate: rate,
        achievedRate: round(r.offered / (r.offeredSeconds + r.backlogSeconds)),
        p50Ms: percentile(r.latencies, 50),
        p99Ms: percentile(r.latencies, 99),
        offeredSeconds: round(r.offeredSeconds, 2),
        backlogSeconds: round(r.backlogSeconds, 2),
      };
      curve.push(point);
      progress(`${rate} events/s: ${JSON.stringify(point)}`);
      // Saturated: the pipeline, or the offering itself, could not keep the pace.
      if (r.backlogSeconds > 1 || r.offeredSeconds > SECONDS * 1.1) break;
    }

    // 7: two instances each drain a backlog.
    await stopLast();
    await preload('b', 3 * EVENTS);
    progress('two instances each draining the events');
    // Timed from the four processes' start until the router's outputs hold every one of these
    // events, their start and joins included. Counted in output records, not committed offsets:
    // on transactional topics each commit marker takes an offset too, so after the phases at an
    // offered rate the offsets run ahead of the records by thousands.
    const drainStarted = performance.now();
    await Promise.all([startPair('bench-0'), startPair('bench-1')]);
    const drainDeadline = Date.now() + 600_000;
    const drained = () =>
      outputs.reduce((n, reader) => n + reader.records.filter((r) => r.key?.startsWith('b-')).length, 0);
    while (drained() < 3 * EVENTS) {
      if (Date.now() > drainDeadline)
        throw new Error(`${drained()} of ${3 * EVENTS} drained after 10 minutes`);
      await sleep(100);
    }
    const twoEventsPerSec = (3 * EVENTS) / ((performance.now() - drainStarted) / 1000);
    through += 3 * EVENTS;
    progress(`two instances each: ${round(twoEventsPerSec)} events/s`);

    // 8: exactly one output per event.
    await waitForCommitted(admin, groups.router, names.predictions, through);
    // The readers take a while to read it all; then 2 s more, so that a duplicate would show.
    const readDeadline = Date.now() + 120_000;
    while (outputs.reduce((n, r) => n + r.records.length, 0) < sent.length && Date.now() < readDeadline) {
      await sleep(200);
    }
    await sleep(2_000);
    const outputsPerEvent = new Map<string, number>();
    for (const reader of outputs) {
      for (const r of reader.records) outputsPerEvent.set(r.key!, (outputsPerEvent.get(r.key!) ?? 0) + 1);
      await reader.stop();
    }
    await producer.disconnect();
    const missing = sent.filter((id) => !outputsPerEvent.has(id)).length;
    const duplicates = [...outputsPerEvent.values()].reduce((sum, n) => sum + n - 1, 0);

    const figures = {
      bench: 'scale',
      partitions: 6,
      events: EVENTS,
      instances: {
        one: { drainEventsPerSec: round(oneEventsPerSec), atRate: RATE, ...summary(one.latencies) },
        two: { drainEventsPerSec: round(twoEventsPerSec), atRate: RATE, ...summary(two.latencies) },
      },
      join: { offeredRate: CHURN_RATE, ...joinTimes, ...summary(joined.latencies) },
      leave: { offeredRate: CHURN_RATE, ...leaveTimes, ...summary(left.latencies) },
      p99VsRate: curve,
      sent: sent.length,
      missing,
      duplicates,
      // Peak RSS (VmHWM) of each service's instances (the highest of them), in MB.
      peakRssMb: usage.peakRssMb(),
    };
    await mkdir(REPORT_DIR, { recursive: true });
    await writeFile(join(REPORT_DIR, 'scale.json'), `${JSON.stringify(figures, null, 2)}\n`);
    await writeFile(
      join(REPORT_DIR, 'p99-vs-rate.svg'),
      renderRateSvg(curve, 'Inference + router, one instance each: latency against offered rate'),
    );
    const t = (x: { startToStableMs: number; rebalancingMs: number } | undefined) =>
      x ? `${x.startToStableMs} ms to Stable (${x.rebalancingMs} ms rebalancing)` : 'n/a';
    printFigures(
      [
        `one instance each: ${figures.instances.one.drainEventsPerSec} events/s; at ${RATE} events/s p50 ${figures.instances.one.p50Ms} ms, p99 ${figures.instances.one.p99Ms} ms`,
        `two instances each: ${figures.instances.two.drainEventsPerSec} events/s; at ${RATE} events/s p50 ${figures.instances.two.p50Ms} ms, p99 ${figures.instances.two.p99Ms} ms`,
        `join at ${CHURN_RATE} events/s: inference ${t(joinTimes.inference)}, router ${t(joinTimes.router)}; p99 ${figures.join.p99Ms} ms, max ${figures.join.maxMs} ms`,
        `leave at ${CHURN_RATE} events/s: inference ${t(leaveTimes.inference)}, router ${t(leaveTimes.router)}; p99 ${figures.leave.p99Ms} ms, max ${figures.leave.maxMs} ms`,
        ...curve.map(
          (p) =>
            `offered ${p.offeredRate} events/s: achieved ${p.achievedRate}, p50 ${p.p50Ms} ms, p99 ${p.p99Ms} ms, backlog after ${p.backlogSeconds} s`,
        ),
        `${sent.length} events sent: ${missing} missing, ${duplicates} duplicates`,
        `report: ${join(REPORT_DIR, 'p99-vs-rate.svg')}`,
      ],
      figures,
    );
    if (missing !== 0 || duplicates !== 0) process.exitCode = 1;
  });
}

runBench('scale', main);
