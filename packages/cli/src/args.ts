// The hitl command line, parsed into a typed command. Pure: no I/O, so every usage rule has a
// unit test.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { PolicyChanges } from './policy-changes';

export const USAGE = `usage: hitl <command> [options]

  hitl models import --model <id> --file <path.onnx> [--classes a,b,c] [--input-kind text|features]
                     [--feature-width N] [--parent N] [--metrics <json object>]
                     [--temperature T] [--promote] [--actor <name>] [--reason <text>]
  hitl models promote --model <id> --version N [--actor <name>] [--reason <text>]
  hitl models rollback --model <id> [--actor <name>] [--reason <text>]
  hitl models list --model <id>
  hitl models train --model <id> [--actor <name>]
  hitl models trainings --model <id>
  hitl outbox relay
  hitl prune
  hitl dlq list [--code C] [--topic T] [--since <ISO time>|<N>s|m|h|d] [--limit N] [--json]
  hitl dlq redrive (--code C | --offsets p:o[,p:o...]) [--dry-run] [--actor <name>]
  hitl policy show --name <policy> [--version N]
  hitl policy set --name <policy> [--file <spec.json>] [--classes a,b,c] [--threshold X]
                  [--class-threshold <class>=X]... [--clear-class-threshold <class>]...
                  [--always-review a,b] [--audit-rate X] [--reviewers N]
                  [--target-accuracy X|none] [--confidence-level X]
                  [--hide-suggestion true|false] [--feature-names f1,f2,...]
                  [--near-duplicates X|none] [--gold-rate X] [--consensus-confidence X|none]
                  [--consensus-uses-model true|false]
                  [--actor <name>] [--reason <text>]
  hitl policy history --name <policy>
  hitl reviewers add --id <id> [--name <name>] [--role reviewer|admin] [--groups g1,g2]
  hitl reviewers groups --id <id> --groups g1,g2   (replaces them; '' for none)
  hitl reviewers list
  hitl reviewers disable|enable --id <id>
  hitl gold import --file <items.jsonl> [--stream <name>] [--policy <name>] [--actor <name>]
  hitl gold list [--limit N]
  hitl streams add --id <stream> --classes a,b[,c...] [--input-kind text|features] [--feature-width N]
                   [--model <id>] [--policy <name>] [--reviewers a,b] [--groups g1,g2]
                   [--all-reviewers] [--actor <name>] [--reason <text>]
  hitl streams list
  hitl streams set --id <stream> [--classes a,b] [--input-kind text|features] [--feature-width N]
                   [--model <id>] [--policy <name>] [--reviewers a,b] [--groups g1,g2]
                   [--all-reviewers true|false] [--expected-version N] [--actor <name>] [--reason <text>]
  hitl keys create --reviewer <id> [--expires-in-days N]
  hitl keys revoke --key-id <id>
  hitl keys generate
  hitl status [--json] [--group <id>]... [--group-prefix <prefix>] [--topic <name>]... [--model <id>]...

Commands that change the registry publish their hitl.models.v1 records (and any an earlier run
left in the outbox) to Kafka before they exit; \`hitl outbox relay\` does only that.
\`hitl policy set\` stores a new version of the routing policy: the current version's spec (or
the defaults), replaced by --file's if given, then changed by the other options; repeat
--class-threshold and --clear-class-threshold once per class; an empty --classes or
--always-review clears the list. With --target-accuracy, the thresholds certified (at
--confidence-level, default 0.95) for the model version that made a prediction replace
--threshold and --class-threshold, and a class without one goes to people; --target-accuracy none
goes back to the policy's own thresholds. --hide-suggestion true keeps the model's label from
reviewers until they answer; --feature-names names numeric input features for them (an empty
one clears it). --near-duplicates X (0.8 to 1, e.g. 0.9) lets a text sent for low confidence or
with no model join the open group of one at least that similar (estimated Jaccard of the words
and word pairs the model sees), so one answer decides both; none turns it off (the default).
--gold-rate X (0 to 0.5) hands a gold task on that share of claims; --consensus-confidence X
decides a task once the posterior of its leading label, weighing each reviewer by their
estimated reliability, reaches X (none: a majority decides, the default);
--consensus-uses-model true makes the model's probabilities the prior of a task sent for low
confidence (audits and class rules keep the class prior).
\`hitl gold import\` stores known-answer items, one JSON object per line: {"id"?, "stream"?,
"input": {"text"|"features"}, "attributes"?, "label", "classes"?}; --stream fills a missing
stream, and items without classes take those of the policy --policy names (default
$POLICY_NAME, else default). Items already imported (same stream and id, or same content)
are left as they are; one bad line imports nothing. \`hitl gold list\` shows each item with how
often it was answered and answered right.
\`hitl streams add\` registers a stream (a use case): the \`stream\` its events name, its classes,
its input (text, the default, or numeric features of --feature-width), the model that serves it
(default: the stream's id) and the routing policy that routes it (default: the model's id), and
who may review it besides admins: --reviewers (ids), --groups, or --all-reviewers.
\`hitl streams set\` changes the options given as the stream's next version (an empty --reviewers
or --groups clears the list; with --expected-version N only if it is at version N).
\`hitl streams list\` prints every stream. A stream whose classes or input do not fit the promoted
version of its model or the classes its policy declares, or that names a reviewer who does not
exist, is refused with HITL_ERR_STREAM_INVALID.
\`hitl policy show\` also shows the thresholds certified
for the promoted version of the model the policy is named after.
\`hitl keys create\` prints the new API key once; only its hash is stored. \`hitl keys generate\`
prints a key without storing it, for the review API's ADMIN_KEY (the first admin).
\`hitl reviewers list\` shows each reviewer with their estimated accuracy per stream, from the
newest reliability estimate the review API made (gold tasks and tasks several people answered).
\`hitl reviewers disable\` stops every key of the reviewer on every review API replica at once and
gives back the tasks they hold; \`hitl reviewers enable\` undoes it.
\`hitl status\` prints what an operator asks first: each consumer group's lag per topic (committed
offsets against the partitions' log ends, as Kafka's consumer-group tool counts them), the review
queue's depth and oldest age, and each model's promoted version with its metrics; --json prints it
as one JSON object, partitions included. --group, --topic and --model narrow it down (every group,
topic and model by default).
\`hitl dlq list\` reads the dead-letter topic up to where it ends when the command starts and prints
the latest --limit (default 50, at most 10000) dead letters that pass the filters, oldest first:
dlq partition:offset, time, source topic/partition/offset, code, payload whole or not, redriven or
not, message; --json prints JSON lines. A record there that is not a dead letter shows as INVALID.
\`hitl dlq redrive\` sends the original record of each selected dead letter back to its source
topic through the outbox, at most once however often it runs; it refuses dead letters it cannot
send unchanged (payload cut or missing, not JSON, binary or cut key or headers) and then exits 65.
\`hitl prune\` deletes, in batches, the outbox rows published more than HITL_RETENTION_OUTBOX_DAYS
(7) ago and the idempotency records of review answers older than HITL_RETENTION_IDEMPOTENCY_DAYS
(7), and clears the leases of undecided tasks that ran out more than HITL_RETENTION_LEASE_HOURS (24)
ago; rows per statement HITL_RETENTION_BATCH_SIZE (1000). Progress goes to stderr, the counts to
stdout. Unpublished outbox rows and decided tasks are never deleted.
Settings come from the environment: DATABASE_URL, KAFKA_BROKERS (needed by the models, outbox, dlq
and status commands only), OUTBOX_RELAY_ID (default hitl-outbox-relay; the review API's), DLQ_TOPIC
(default hitl.dlq.v1), LOG_LEVEL (default warn).`;

/** A command line that does not fit USAGE; the message says what is wrong with it. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type InputKind = 'text' | 'features';

export interface Lifecycle {
  actor?: string;
  reason?: string;
}

export type HitlCommand =
  | { name: 'help' }
  | ({
      name: 'models import';
      modelId: string;
      file: string;
      classes?: string[];
      inputKind?: InputKind;
      featureWidth?: number;
      parentVersion?: number;
      metrics?: Record<string, unknown>;
      /** A calibration temperature inference applies to the file's probabilities. */
      temperature?: number;
      promote: boolean;
    } & Lifecycle)
  | ({ name: 'models promote'; modelId: string; version: number } & Lifecycle)
  | ({ name: 'models rollback'; modelId: string } & Lifecycle)
  | { name: 'models list'; modelId: string }
  | { name: 'models train'; modelId: string; actor?: string }
  | { name: 'models trainings'; modelId: string }
  | { name: 'outbox relay' }
  | { name: 'prune' }
  | {
      name: 'dlq list';
      code?: string;
      sourceTopic?: string;
      since?: Since;
      limit: number;
      json: boolean;
    }
  | {
      name: 'dlq redrive';
      /** Exactly one of code and offsets is given. */
      code?: string;
      offsets?: { partition: number; offset: string }[];
      dryRun: boolean;
      /** Who redrives; the user's login name when not given. */
      actor?: string;
    }
  | { name: 'policy show'; policyName: string; version?: number }
  | ({ name: 'policy set'; policyName: string; file?: string; changes: PolicyChanges } & Lifecycle)
  | { name: 'policy history'; policyName: string }
  | {
      name: 'reviewers add';
      reviewerId: string;
      displayName?: string;
      role: 'reviewer' | 'admin';
      groups?: string[];
    }
  | { name: 'reviewers groups'; reviewerId: string; groups: string[] }
  | { name: 'reviewers list' }
  | { name: 'gold import'; file: string; stream?: string; policyName?: string; actor?: string }
  | { name: 'gold list'; limit?: number }
  | ({ name: 'streams add'; stream: NewStreamArgs } & Lifecycle)
  | { name: 'streams list' }
  | ({
      name: 'streams set';
      streamId: string;
      change: StreamChangeArgs;
      expectedVersion?: number;
    } & Lifecycle)
  | { name: 'reviewers disable' | 'reviewers enable'; reviewerId: string }
  | { name: 'keys create'; reviewerId: string; expiresInDays?: number }
  | { name: 'keys revoke'; keyId: string }
  | { name: 'keys generate' }
  | {
      name: 'status';
      json: boolean;
      groupIds?: string[];
      groupPrefix?: string;
      topics?: string[];
      modelIds?: string[];
    };

/** What `hitl streams add` gives @hitl/db's addStream. */
export interface NewStreamArgs {
  id: string;
  classes: string[];
  inputKind: InputKind;
  featureWidth?: number;
  modelId?: string;
  policyName?: string;
  reviewers?: string[];
  reviewerGroups?: string[];
  allReviewers?: boolean;
}

/** What `hitl streams set` changes: only the fields given. */
export interface StreamChangeArgs {
  classes?: string[];
  inputKind?: InputKind;
  featureWidth?: number;
  modelId?: string;
  policyName?: string;
  reviewers?: string[];
  reviewerGroups?: string[];
  allReviewers?: boolean;
}

/** A point in time, or a time before the command runs. */
export type Since = { at: number } | { agoMs: number };

type Options = NonNullable<ParseArgsConfig['options']>;

const text = { type: 'string' } as const;
const repeatable = { type: 'string', multiple: true } as const;
const lifecycleOptions = { actor: text, reason: text } satisfies Options;

const OPTIONS = {
  'models import': {
    model: text,
    file: text,
    classes: text,
    'input-kind': text,
    'feature-width': text,
    parent: text,
    metrics: text,
    temperature: text,
    promote: { type: 'boolean' },
    ...lifecycleOptions,
  },
  'models promote': { model: text, version: text, ...lifecycleOptions },
  'models rollback': { model: text, ...lifecycleOptions },
  'models list': { model: text },
  'models train': { model: text, actor: text },
  'models trainings': { model: text },
  'outbox relay': {},
  prune: {},
  'dlq list': { code: text, topic: text, since: text, limit: text, json: { type: 'boolean' } },
  'dlq redrive': { code: text, offsets: text, 'dry-run': { type: 'boolean' }, actor: text },
  'policy show': { name: text, version: text },
  'policy set': {
    name: text,
    file: text,
    classes: text,
    threshold: text,
    'class-threshold': repeatable,
    'clear-class-threshold': repeatable,
    'always-review': text,
    'audit-rate': text,
    reviewers: text,
    'target-accuracy': text,
    'confidence-level': text,
    'hide-suggestion': text,
    'feature-names': text,
    'near-duplicates': text,
    'gold-rate': text,
    'consensus-confidence': text,
    'consensus-uses-model': text,
    ...lifecycleOptions,
  },
  'policy history': { name: text },
  'reviewers add': { id: text, name: text, role: text, groups: text },
  'reviewers groups': { id: text, groups: text },
  'reviewers list': {},
  'gold import': { file: text, stream: text, policy: text, actor: text },
  'gold list': { limit: text },
  'streams add': {
    id: text,
    classes: text,
    'input-kind': text,
    'feature-width': text,
    model: text,
    policy: text,
    reviewers: text,
    groups: text,
    'all-reviewers': { type: 'boolean' },
    ...lifecycleOptions,
  },
  'streams list': {},
  'streams set': {
    id: text,
    classes: text,
    'input-kind': text,
    'feature-width': text,
    model: text,
    policy: text,
    reviewers: text,
    groups: text,
    'all-reviewers': text,
    'expected-version': text,
    ...lifecycleOptions,
  },
  'reviewers disable': { id: text },
  'reviewers enable': { id: text },
  'keys create': { reviewer: text, 'expires-in-days': text },
  'keys revoke': { 'key-id': text },
  'keys generate': {},
  status: {
    json: { type: 'boolean' },
    group: repeatable,
    'group-prefix': text,
    topic: repeatable,
    model: repeatable,
  },
} satisfies Record<string, Options>;

type CommandName = keyof typeof OPTIONS;
type Values = Record<string, string | boolean | string[] | undefined>;

function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(OPTIONS, name);
}

function required(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value;
}

function optional(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function positiveInteger(values: Values, name: string): number | undefined {
  const raw = optional(values, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function repeated(values: Values, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value : [];
}

// Plain decimal notation only: Number() would also take '', ' ', '0x1f' and 'Infinity'.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

// Only the syntax is checked here; whether a value is in range is the policy's to say (exit 65).
function optionalDecimal(values: Values, name: string): number | undefined {
  const raw = optional(values, name);
  if (raw === undefined) return undefined;
  if (!DECIMAL.test(raw)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

// `none` clears the target; a number's range is the policy's to check, as for optionalDecimal.
function targetAccuracy(values: Values): number | null | undefined {
  return decimalOrNone(values, 'target-accuracy');
}

// A decimal, or `none` for null; the range is the policy's to check, as for optionalDecimal.
function decimalOrNone(values: Values, name: string): number | null | undefined {
  const raw = optional(values, name);
  if (raw === undefined) return undefined;
  if (raw === 'none') return null;
  if (!DECIMAL.test(raw)) {
    throw new UsageError(`--${name} must be a number or none, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

// `none` turns near-duplicate groups off; a number is the least similarity, its range the policy's
// to check, as for optionalDecimal.
function nearDuplicates(values: Values): { minSimilarity: number } | null | undefined {
  const name = 'near-duplicates';
  const raw = optional(values, name);
  if (raw === undefined) return undefined;
  if (raw === 'none') return null;
  if (!DECIMAL.test(raw)) {
    throw new UsageError(
      `--${name} must be a number (the least similarity) or none, got ${JSON.stringify(raw)}`,
    );
  }
  return { minSimilarity: Number(raw) };
}

function optionalBoolean(values: Values, name: string): boolean | undefined {
  const raw = optional(values, name);
  if (raw === undefined) return undefined;
  if (raw !== 'true' && raw !== 'false') {
    throw new UsageError(`--${name} must be true or false, got ${JSON.stringify(raw)}`);
  }
  return raw === 'true';
}

function optionalInteger(values: Values, name: string): number | undefined {
  const raw = optional(values, name);
  if (raw === undefined) return undefined;
  if (!/^[+-]?\d+$/.test(raw))
    throw new UsageError(`--${name} must be an integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function labelList(values: Values, name: string): string[] | undefined {
  return optional(values, name)
    ?.split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
}

function classThresholds(values: Values): Record<string, number> | undefined {
  const flag = 'class-threshold';
  const entries = repeated(values, flag);
  if (entries.length === 0) return undefined;
  const thresholds: Record<string, number> = {};
  for (const entry of entries) {
    // The last '=': a threshold never contains one, a class label might.
    const at = entry.lastIndexOf('=');
    const label = entry.slice(0, at).trim();
    const threshold = entry.slice(at + 1).trim();
    if (at < 0 || label === '' || !DECIMAL.test(threshold)) {
      throw new UsageError(`--${flag} must be <class>=<number>, got ${JSON.stringify(entry)}`);
    }
    if (Object.hasOwn(thresholds, label)) throw new UsageError(`--${flag} names class ${label} twice`);
    thresholds[label] = Number(threshold);
  }
  return thresholds;
}

function policySetCommand(values: Values): HitlCommand {
  const set = classThresholds(values);
  const clear = repeated(values, 'clear-class-threshold').map((c) => c.trim());
  for (const label of clear) {
    if (label === '') throw new UsageError('--clear-class-threshold needs a class');
    if (set && Object.hasOwn(set, label)) {
      throw new UsageError(`--class-threshold and --clear-class-threshold both name class ${label}`);
    }
  }
  return {
    name: 'policy set',
    policyName: required(values, 'name'),
    file: optional(values, 'file'),
    changes: {
      classes: labelList(values, 'classes'),
      threshold: optionalDecimal(values, 'threshold'),
      classThresholds: set,
      clearClassThresholds: clear.length > 0 ? clear : undefined,
      alwaysReview: labelList(values, 'always-review'),
      auditRate: optionalDecimal(values, 'audit-rate'),
      requiredReviewers: optionalInteger(values, 'reviewers'),
      targetAccuracy: targetAccuracy(values),
      confidenceLevel: optionalDecimal(values, 'confidence-level'),
      hideSuggestion: optionalBoolean(values, 'hide-suggestion'),
      featureNames: labelList(values, 'feature-names'),
      nearDuplicates: nearDuplicates(values),
      goldRate: optionalDecimal(values, 'gold-rate'),
      consensusConfidence: decimalOrNone(values, 'consensus-confidence'),
      consensusUsesModel: optionalBoolean(values, 'consensus-uses-model'),
    },
    ...lifecycle(values),
  };
}

function lifecycle(values: Values): Lifecycle {
  return { actor: optional(values, 'actor'), reason: optional(values, 'reason') };
}

function metricsOf(values: Values): Record<string, unknown> | undefined {
  const raw = optional(values, 'metrics');
  if (raw === undefined) return undefined;
  let metrics: unknown;
  try {
    metrics = JSON.parse(raw);
  } catch {
    metrics = undefined;
  }
  if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) {
    throw new UsageError(`--metrics must be a JSON object such as '{"macroF1":0.91}'`);
  }
  return metrics as Record<string, unknown>;
}

function temperatureOf(values: Values): number | undefined {
  const temperature = optionalDecimal(values, 'temperature');
  if (temperature !== undefined && !(temperature > 0)) {
    throw new UsageError(`--temperature must be a number above 0, got ${temperature}`);
  }
  return temperature;
}

function importCommand(values: Values): HitlCommand {
  const inputKind = optional(values, 'input-kind');
  if (inputKind !== undefined && inputKind !== 'text' && inputKind !== 'features') {
    throw new UsageError(`--input-kind must be text or features, got ${JSON.stringify(inputKind)}`);
  }
  return {
    name: 'models import',
    modelId: required(values, 'model'),
    file: required(values, 'file'),
    classes: labelList(values, 'classes'),
    inputKind,
    featureWidth: positiveInteger(values, 'feature-width'),
    parentVersion: positiveInteger(values, 'parent'),
    metrics: metricsOf(values),
    temperature: temperatureOf(values),
    promote: values.promote === true,
    ...lifecycle(values),
  };
}

function inputKindOf(values: Values): InputKind | undefined {
  const inputKind = optional(values, 'input-kind');
  if (inputKind !== undefined && inputKind !== 'text' && inputKind !== 'features') {
    throw new UsageError(`--input-kind must be text or features, got ${JSON.stringify(inputKind)}`);
  }
  return inputKind;
}

// The stream's fields both commands take, each only when given (the registry checks the values).
function streamFields(values: Values): StreamChangeArgs {
  const fields: StreamChangeArgs = {
    classes: labelList(values, 'classes'),
    inputKind: inputKindOf(values),
    featureWidth: positiveInteger(values, 'feature-width'),
    modelId: optional(values, 'model'),
    policyName: optional(values, 'policy'),
    reviewers: labelList(values, 'reviewers'),
    reviewerGroups: labelList(values, 'groups'),
  };
  for (const key of Object.keys(fields) as (keyof StreamChangeArgs)[]) {
    if (fields[key] === undefined) delete fields[key];
  }
  return fields;
}

function streamsAddCommand(values: Values): HitlCommand {
  const { classes, inputKind = 'text', ...rest } = streamFields(values);
  if (classes === undefined) throw new UsageError('--classes is required');
  const stream: NewStreamArgs = { id: required(values, 'id'), classes, inputKind, ...rest };
  if (values['all-reviewers'] === true) stream.allReviewers = true;
  return { name: 'streams add', stream, ...lifecycle(values) };
}

function streamsSetCommand(values: Values): HitlCommand {
  const change = streamFields(values);
  const allReviewers = optionalBoolean(values, 'all-reviewers');
  if (allReviewers !== undefined) change.allReviewers = allReviewers;
  const expectedVersion = positiveInteger(values, 'expected-version');
  return {
    name: 'streams set',
    streamId: required(values, 'id'),
    change,
    ...(expectedVersion === undefined ? {} : { expectedVersion }),
    ...lifecycle(values),
  };
}

function nonEmpty(values: Values, name: string): string[] | undefined {
  const list = repeated(values, name).map((v) => v.trim());
  if (list.some((v) => v === '')) throw new UsageError(`--${name} needs a value`);
  return list.length > 0 ? list : undefined;
}

function statusCommand(values: Values): HitlCommand {
  const groupPrefix = optional(values, 'group-prefix');
  const groupIds = nonEmpty(values, 'group');
  const topics = nonEmpty(values, 'topic');
  const modelIds = nonEmpty(values, 'model');
  return {
    name: 'status',
    json: values.json === true,
    ...(groupIds ? { groupIds } : {}),
    ...(groupPrefix ? { groupPrefix } : {}),
    ...(topics ? { topics } : {}),
    ...(modelIds ? { modelIds } : {}),
  };
}

export const DLQ_LIST_DEFAULT_LIMIT = 50;
export const DLQ_LIST_MAX_LIMIT = 10_000;

const DURATION_UNITS_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function sinceOf(values: Values): Since | undefined {
  const raw = optional(values, 'since');
  if (raw === undefined) return undefined;
  const duration = /^(\d+)([smhd])$/.exec(raw);
  if (duration) return { agoMs: Number(duration[1]) * DURATION_UNITS_MS[duration[2]!]! };
  const at = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(at)) {
    throw new UsageError(
      `--since must be an ISO time (2026-01-31T08:00:00Z) or a duration such as 90s, 15m, 2h or 7d, got ${JSON.stringify(raw)}`,
    );
  }
  return { at };
}

function dlqListCommand(values: Values): HitlCommand {
  const limit = positiveInteger(values, 'limit') ?? DLQ_LIST_DEFAULT_LIMIT;
  if (limit > DLQ_LIST_MAX_LIMIT)
    throw new UsageError(`--limit must be at most ${DLQ_LIST_MAX_LIMIT}, got ${limit}`);
  const code = optional(values, 'code');
  const sourceTopic = optional(values, 'topic');
  const since = sinceOf(values);
  return {
    name: 'dlq list',
    ...(code !== undefined ? { code } : {}),
    ...(sourceTopic !== undefined ? { sourceTopic } : {}),
    ...(since !== undefined ? { since } : {}),
    limit,
    json: values.json === true,
  };
}

function dlqOffsets(raw: string): { partition: number; offset: string }[] {
  const seen = new Map<string, { partition: number; offset: string }>();
  for (const item of raw.split(',')) {
    const match = /^(\d+):(\d+)$/.exec(item.trim());
    if (!match) {
      throw new UsageError(
        `--offsets must be partition:offset pairs such as 0:12,2:40, got ${JSON.stringify(item)}`,
      );
    }
    const at = { partition: Number(match[1]), offset: BigInt(match[2]!).toString() };
    if (!Number.isSafeInteger(at.partition)) throw new UsageError(`--offsets: no partition ${match[1]}`);
    seen.set(`${at.partition}:${at.offset}`, at);
  }
  return [...seen.values()];
}

function dlqRedriveCommand(values: Values): HitlCommand {
  const code = optional(values, 'code');
  const offsets = optional(values, 'offsets');
  if ((code === undefined) === (offsets === undefined)) {
    throw new UsageError('hitl dlq redrive needs --code or --offsets (one of them)');
  }
  if (code !== undefined && code.trim() === '') throw new UsageError('--code needs a value');
  const actor = optional(values, 'actor');
  return {
    name: 'dlq redrive',
    ...(code !== undefined ? { code } : { offsets: dlqOffsets(offsets!) }),
    dryRun: values['dry-run'] === true,
    ...(actor ? { actor } : {}),
  };
}

/** Parses `hitl`'s arguments (without the node and script paths); throws UsageError. */
export function parseHitlArgs(argv: readonly string[]): HitlCommand {
  if (argv.length === 0) throw new UsageError('no command given');
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') return { name: 'help' };
  // A command is one word (status) or two (models list).
  const single = argv[0] !== undefined && isCommandName(argv[0]) && !argv[0].includes(' ');
  const name = single ? argv[0]! : `${argv[0]} ${argv[1] ?? ''}`.trim();
  if (!isCommandName(name)) {
    const actions = Object.keys(OPTIONS)
      .filter((c) => c.startsWith(`${argv[0]} `))
      .map((c) => c.split(' ')[1]);
    const noAction = argv[1] === undefined || argv[1].startsWith('-');
    throw new UsageError(
      actions.length > 0 && noAction
        ? `hitl ${argv[0]} needs one of: ${actions.join(', ')}`
        : `unknown command: hitl ${name}`,
    );
  }

  let values: Values;
  try {
    // With the options of one command chosen at run time, parseArgs cannot type the values: each
    // is a string (type 'string'), true (type 'boolean') or a list of strings (`multiple`).
    values = parseArgs({ args: argv.slice(single ? 1 : 2), options: OPTIONS[name], strict: true })
      .values as Values;
  } catch (error) {
    // parseArgs' errors (ERR_PARSE_ARGS_*) name the option and what is wrong with it.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }

  switch (name) {
    case 'models import':
      return importCommand(values);
    case 'models promote': {
      const modelId = required(values, 'model');
      const version = positiveInteger(values, 'version');
      if (version === undefined) throw new UsageError('--version is required');
      return { name, modelId, version, ...lifecycle(values) };
    }
    case 'models rollback':
      return { name, modelId: required(values, 'model'), ...lifecycle(values) };
    case 'models train': {
      const actor = optional(values, 'actor');
      return { name, modelId: required(values, 'model'), ...(actor ? { actor } : {}) };
    }
    case 'models trainings':
      return { name, modelId: required(values, 'model') };
    case 'models list':
      return { name, modelId: required(values, 'model') };
    case 'outbox relay':
    case 'prune':
      return { name };
    case 'dlq list':
      return dlqListCommand(values);
    case 'dlq redrive':
      return dlqRedriveCommand(values);
    case 'policy show':
      return { name, policyName: required(values, 'name'), version: positiveInteger(values, 'version') };
    case 'policy set':
      return policySetCommand(values);
    case 'policy history':
      return { name, policyName: required(values, 'name') };
    case 'reviewers add': {
      const role = optional(values, 'role') ?? 'reviewer';
      if (role !== 'reviewer' && role !== 'admin') {
        throw new UsageError(`--role must be reviewer or admin, got ${JSON.stringify(role)}`);
      }
      const displayName = optional(values, 'name');
      const groups = labelList(values, 'groups');
      return {
        name,
        reviewerId: required(values, 'id'),
        role,
        ...(displayName ? { displayName } : {}),
        ...(groups ? { groups } : {}),
      };
    }
    case 'reviewers groups': {
      const groups = labelList(values, 'groups');
      if (groups === undefined) throw new UsageError('--groups is required (an empty list for none)');
      return { name, reviewerId: required(values, 'id'), groups };
    }
    case 'reviewers list':
    case 'keys generate':
      return { name };
    case 'reviewers disable':
    case 'reviewers enable':
      return { name, reviewerId: required(values, 'id') };
    case 'keys create': {
      const days = optional(values, 'expires-in-days');
      const expiresInDays = days === undefined ? undefined : Number(days);
      if (expiresInDays !== undefined && !(Number.isFinite(expiresInDays) && expiresInDays > 0)) {
        throw new UsageError(
          `--expires-in-days must be a number of days above 0, got ${JSON.stringify(days)}`,
        );
      }
      return { name, reviewerId: required(values, 'reviewer'), ...(expiresInDays ? { expiresInDays } : {}) };
    }
    case 'keys revoke':
      return { name, keyId: required(values, 'key-id') };
    case 'gold import': {
      const stream = optional(values, 'stream');
      const actor = optional(values, 'actor');
      return {
        name,
        file: required(values, 'file'),
        ...(optional(values, 'policy') ? { policyName: optional(values, 'policy') } : {}),
        ...(stream ? { stream } : {}),
        ...(actor ? { actor } : {}),
      };
    }
    case 'gold list':
      return { name, limit: positiveInteger(values, 'limit') };
    case 'streams add':
      return streamsAddCommand(values);
    case 'streams list':
      return { name };
    case 'streams set':
      return streamsSetCommand(values);
    case 'status':
      return statusCommand(values);
  }
}
