// The arguments of `pnpm replay`: parsed and checked here, apart from the command's entry point
// (cli.ts, which runs on import), so that tests can call the parser.
import { parseArgs } from 'node:util';

export const HELP = `pnpm replay [options]

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
  --limit N                only the first N items after the shuffle (of each data set)
  --also PATH              one more data set, on a stream, model and policy of its own (from a
                           cold start), its events interleaved with the others'; repeatable. A
                           JSONL or CSV file with a "label" field and a "text" field, else (JSONL)
                           a "features" array, else numeric columns (all but "id"), such as
                           pnpm dataset numeric writes. Every stream of the run is then
                           registered in the stream registry, and the report has each one's figures
  --seed N                 the shuffle's and the reviewers' seed (default 1)
Pace:
  --window N               at most N events produced and not yet decided (default: a
                           fortieth of the items, at most 50), or
  --rate N                 N events per second
Reviewers:
  --reviewers N            simulated reviewers (default 1)
  --reviewers-per-task N   answers that decide a task (default 1)
  --error-rate X           chance that an answer is wrong (default 0)
  --reviewer-error-rates A,B,…
                           one reviewer per rate, each wrong with its own chance (instead of
                           --reviewers and --error-rate)
  --admin-error-rate X     chance that the simulated admin, who answers the tasks escalated to
                           admins, is wrong (default: the smallest reviewer rate; "none": no
                           admin, escalated tasks wait)
  --review-delay-ms N      time each reviewer reads a task (default 0)
Routing:
  --target-accuracy X      the model decides a class only above the confidence threshold
                           certified for X (above 0, below 1) for the version that predicted it;
                           people decide the rest (default: none, the policy's thresholds)
  --confidence-level Y     how sure that certification must be (above 0, below 1; default 0.95;
                           only with --target-accuracy)
  --gold N                 hold N items (chosen with the seed, stratified by label) out of the
                           stream and import them as gold items before it starts (default 0)
  --gold-rate X            the policy's goldRate, the share of claims that hand out a gold task
                           (above 0, at most 0.5; default 0.05; only with --gold)
  --consensus-confidence X the policy's consensusConfidence: weighted consensus on the reviewers'
                           estimated reliability, a task decided once its label's posterior
                           reaches X (above 0, below 1; default: none, a majority decides)
  --consensus-uses-model   with --consensus-confidence: the model's probabilities are the prior
                           of a task sent for low confidence (the policy's consensusUsesModel)
  --no-rescore             the review API started here leaves waiting tasks as they came when a
                           model is promoted (default: they are scored again by the new version,
                           and those it is sure of are decided by it)
System:
  --model-id ID            serve and train this model (default: a new one for the run, i.e. a
                           cold start; with services already running, "default")
  --keep-services          leave the services started here running at the end
  --free-ports             start all four services here on free ports (the review API too),
                           never using services already running (for several stacks on one
                           machine)
  --lease-seconds N        the review API's lease on a task, for the API started here (default
                           60; a lost lease holds its task this long)
  --stall-seconds N        stop waiting when nothing is decided for N s (default twice the
                           lease, at least 120; the events still pending are listed), at the
                           end or with the window full (the rest of the stream is then not sent)
Chaos (pnpm chaos):
  --chaos                  run on a local stack of its own (fresh ports and directory), restart
                           each service whenever it exits, kill one at random with SIGKILL every
                           few seconds, kill and restart the broker; end with one JSON line of
                           kills, broker restarts, missing, duplicates and the longest gap
  --kill-every A-B         seconds between kills, uniformly from A to B (default 5-10)
  --broker-restarts N      broker kills and restarts, after the 3rd kill, then every 6th (default 1)
Output:
  --out DIR                the report's directory (default reports/<run id>)
  --json                   print the final summary as one JSON object on stdout
`;

export class UsageError extends Error {
  readonly code = 'HITL_ERR_USAGE';
}

export interface Args {
  file?: string;
  /** More data sets, each on a stream of its own (--also, repeatable); empty: one stream. */
  also: string[];
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
  /** Each reviewer's chance of a wrong answer, one per reviewer (--reviewer-error-rates, or
   * --error-rate for each of --reviewers). */
  reviewerErrorRates: number[];
  /** The simulated admin's error rate; null: no admin (--admin-error-rate none). */
  adminErrorRate: number | null;
  reviewDelayMs: number;
  /** Items held out of the stream and imported as gold items (0: none). */
  gold: number;
  /** The policy's goldRate (0 without gold). */
  goldRate: number;
  /** The policy's consensusConfidence; null: a majority decides. */
  consensusConfidence: number | null;
  /** The policy's consensusUsesModel. */
  consensusUsesModel: boolean;
  targetAccuracy: number | null;
  /** Only with a target. */
  confidenceLevel?: number;
  modelId?: string;
  keepServices: boolean;
  /** Whether the review API started here scores waiting tasks again on promotion (--no-rescore). */
  rescore: boolean;
  /** Start the four services here on free ports rather than looking for running ones. */
  freePorts: boolean;
  leaseSeconds: number;
  stallSeconds: number;
  /** Kill services and the broker during the replay (pnpm chaos); null: no chaos. */
  chaos: { killEverySeconds: [number, number]; brokerRestarts: number } | null;
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

/** A number strictly between 0 and 1 (a target of 1 can never be certified, nor 0 be missed). */
function fraction(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0 && n < 1)) {
    throw new UsageError(`--${name} must be a number above 0 and below 1, got "${value}"`);
  }
  return n;
}

/** The command's options from argv; throws UsageError for what does not parse or fit together. */
export function parseReplayArgs(argv: string[]): Args {
  try {
    return checked(parsed(argv));
  } catch (error) {
    // node:util's own (an unknown option, a missing value) are usage errors too.
    // (Duck-typed: they come from node's realm, which `instanceof` in a test's sandbox does not see.)
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) throw new UsageError(String(message));
    throw error;
  }
}

/** "A,B,…": one error rate per reviewer, each from 0 to 1, 1 to 100 of them. */
function errorRateList(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  const rates = parts.map(Number);
  if (
    parts.length > 100 ||
    parts.some((p) => p === '') ||
    rates.some((r) => !Number.isFinite(r) || r < 0 || r > 1)
  ) {
    throw new UsageError(
      `--reviewer-error-rates must be 1 to 100 numbers from 0 to 1, separated by commas, got "${value}"`,
    );
  }
  return rates;
}

/** "A-B" seconds, 0.5 ≤ A ≤ B ≤ 3600. */
function secondsRange(value: string): [number, number] {
  const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(value);
  const [a, b] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(a >= 0.5 && b >= a && b <= 3_600)) {
    throw new UsageError(
      `--kill-every must be A-B seconds with 0.5 <= A <= B <= 3600, not ${JSON.stringify(value)}`,
    );
  }
  return [a, b];
}

function parsed(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    options: {
      file: { type: 'string' },
      also: { type: 'string', multiple: true },
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
      'reviewer-error-rates': { type: 'string' },
      'admin-error-rate': { type: 'string' },
      gold: { type: 'string' },
      'gold-rate': { type: 'string' },
      'consensus-confidence': { type: 'string' },
      'consensus-uses-model': { type: 'boolean' },
      'review-delay-ms': { type: 'string' },
      'target-accuracy': { type: 'string' },
      'confidence-level': { type: 'string' },
      'model-id': { type: 'string' },
      'keep-services': { type: 'boolean' },
      'no-rescore': { type: 'boolean' },
      'free-ports': { type: 'boolean' },
      'stall-seconds': { type: 'string' },
      'lease-seconds': { type: 'string' },
      chaos: { type: 'boolean' },
      'kill-every': { type: 'string' },
      'broker-restarts': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}

function checked(values: ReturnType<typeof parsed>): Args {
  if (values.window !== undefined && values.rate !== undefined) {
    throw new UsageError('give --window or --rate, not both');
  }
  if (values['confidence-level'] !== undefined && values['target-accuracy'] === undefined) {
    throw new UsageError('--confidence-level is the confidence of a --target-accuracy: give both');
  }
  const confidenceLevel = fraction(values['confidence-level'], 'confidence-level');
  const leaseSeconds =
    number(values['lease-seconds'], 'lease-seconds', { min: 1, max: 86_400, integer: true }) ?? 60;
  if (!values.chaos && (values['kill-every'] !== undefined || values['broker-restarts'] !== undefined)) {
    throw new UsageError('--kill-every and --broker-restarts go with --chaos');
  }
  const rates = values['reviewer-error-rates'];
  if (rates !== undefined && (values.reviewers !== undefined || values['error-rate'] !== undefined)) {
    throw new UsageError(
      '--reviewer-error-rates gives the reviewers and their error rates: give it, or --reviewers and --error-rate, not both',
    );
  }
  const reviewerErrorRates = rates === undefined ? undefined : errorRateList(rates);
  const gold = number(values.gold, 'gold', { min: 0, max: 100_000, integer: true }) ?? 0;
  if (values['gold-rate'] !== undefined && gold === 0) {
    throw new UsageError('--gold-rate is the share of claims that hand out a gold task: give --gold N too');
  }
  const goldRate = gold === 0 ? 0 : (number(values['gold-rate'], 'gold-rate', { min: 0, max: 0.5 }) ?? 0.05);
  if (gold > 0 && goldRate === 0) {
    throw new UsageError('--gold-rate must be above 0 with --gold: no gold task would be handed out');
  }
  const errorRate = number(values['error-rate'], 'error-rate', { min: 0, max: 1 }) ?? 0;
  const reviewers =
    reviewerErrorRates?.length ??
    number(values.reviewers, 'reviewers', { min: 1, max: 100, integer: true }) ??
    1;
  if (values['consensus-uses-model'] && values['consensus-confidence'] === undefined) {
    throw new UsageError(
      '--consensus-uses-model is a part of weighted consensus: give --consensus-confidence X too',
    );
  }
  const admin = values['admin-error-rate'];
  const reviewerRates = reviewerErrorRates ?? Array.from({ length: reviewers }, () => errorRate);
  const adminErrorRate =
    admin === 'none'
      ? null
      : (number(admin, 'admin-error-rate', { min: 0, max: 1 }) ?? Math.min(...reviewerRates));
  const args: Args = {
    chaos: values.chaos
      ? {
          killEverySeconds: secondsRange(values['kill-every'] ?? '5-10'),
          brokerRestarts:
            number(values['broker-restarts'], 'broker-restarts', { min: 0, max: 100, integer: true }) ?? 1,
        }
      : null,
    file: values.file,
    also: values.also ?? [],
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
    reviewers,
    reviewersPerTask:
      number(values['reviewers-per-task'], 'reviewers-per-task', { min: 1, max: 25, integer: true }) ?? 1,
    errorRate,
    reviewerErrorRates: reviewerRates,
    adminErrorRate,
    gold,
    goldRate,
    consensusConfidence: fraction(values['consensus-confidence'], 'consensus-confidence') ?? null,
    consensusUsesModel: values['consensus-uses-model'] ?? false,
    reviewDelayMs: number(values['review-delay-ms'], 'review-delay-ms', { min: 0, integer: true }) ?? 0,
    targetAccuracy: fraction(values['target-accuracy'], 'target-accuracy') ?? null,
    ...(confidenceLevel !== undefined ? { confidenceLevel } : {}),
    modelId: values['model-id'],
    keepServices: values['keep-services'] ?? false,
    rescore: !(values['no-rescore'] ?? false),
    freePorts: values['free-ports'] ?? false,
    leaseSeconds,
    stallSeconds:
      number(values['stall-seconds'], 'stall-seconds', { min: 1 }) ?? Math.max(120, 2 * leaseSeconds),
    out: values.out,
    json: values.json ?? false,
    help: values.help ?? false,
  };
  if (args.also.length > 9) throw new UsageError('--also at most 9 times');
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
