// The stream registry (migration 1700000021000): each use case the deployment serves is a stream
// with its classes and input kind, the model id that serves it, the routing policy that routes it,
// and the reviewers allowed to see it. Every change takes the next registry revision and is
// announced on STREAMS_CHANNEL when it commits, so services can poll streamsRevision() or LISTEN.
import type { Pool, PoolClient } from 'pg';
import { DbError, DbErrorCode } from './errors';
import { inTransaction } from './model-registry';
import { REVIEWER_ID_PATTERN } from './api-keys';
import { getCurrentPolicy } from './policy-store';

type Db = Pool | PoolClient;

export type StreamInputKind = 'text' | 'features';

/** What a stream is: everything an admin sets. */
export interface StreamSpec {
  /** The labels reviewers choose from and the model predicts: 2 to MAX_STREAM_CLASSES, distinct. */
  classes: string[];
  inputKind: StreamInputKind;
  /** The number of numeric features of an event: set exactly when inputKind is 'features'. */
  featureWidth: number | null;
  /** The model id whose promoted version scores the stream's events. */
  modelId: string;
  /** The routing policy that routes its predictions. */
  policyName: string;
  /** Reviewers (ids) who may see its tasks, besides admins. */
  reviewers: string[];
  /** Groups of reviewers who may see its tasks. */
  reviewerGroups: string[];
  /** Every reviewer may see its tasks (then reviewers and reviewerGroups add nothing). */
  allReviewers: boolean;
}

/** A stream as stored. */
export interface Stream extends StreamSpec {
  id: string;
  /** 1 when added, one more per change. */
  version: number;
  /** The registry revision of its last change. */
  revision: number;
  createdBy: string | null;
  createdAt: Date;
  updatedBy: string | null;
  updatedAt: Date;
  /** Why the last change was made. */
  reason: string | null;
}

/** A stream to add: without modelId its id serves, without policyName its modelId. */
export interface NewStream {
  id: string;
  classes: string[];
  inputKind: StreamInputKind;
  featureWidth?: number | null;
  modelId?: string;
  policyName?: string;
  reviewers?: string[];
  reviewerGroups?: string[];
  allReviewers?: boolean;
}

/** A change: only the fields given change. A stream made 'text' loses its featureWidth. */
export type StreamChange = Partial<StreamSpec>;

export interface StreamChangeOptions {
  actor?: string;
  reason?: string;
}

/** One version of a stream, as it was made. */
export interface StreamVersion {
  stream: string;
  version: number;
  revision: number;
  spec: StreamSpec;
  changedBy: string | null;
  reason: string | null;
  changedAt: Date;
}

export interface StreamProblem {
  field: string;
  problem: string;
}

/** The Postgres channel a committed change is announced on: {"revision": n, "stream": id}. */
export const STREAMS_CHANNEL = 'hitl_streams';

export const MAX_STREAM_ID_LENGTH = 200;
export const MAX_STREAM_CLASSES = 1_000;
export const MAX_CLASS_LENGTH = 200;
export const MAX_STREAM_FEATURE_WIDTH = 100_000;
export const MAX_STREAM_MODEL_ID_LENGTH = 200;
export const MAX_STREAM_REVIEWERS = 1_000;
export const MAX_STREAM_REVIEWER_GROUPS = 100;
export const MAX_STREAM_REASON_LENGTH = 2_000;
/** Group names: as reviewer ids, 1 to 100 letters, digits, '.', '_' or '-'. */
export const REVIEWER_GROUP_PATTERN = REVIEWER_ID_PATTERN;

/** A stream that does not validate, with every problem found. */
export class StreamError extends DbError {
  constructor(
    readonly problems: readonly StreamProblem[],
    message = `the stream is not valid: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`,
  ) {
    super(DbErrorCode.streamInvalid, message);
    this.name = 'StreamError';
  }
}

const isString = (v: unknown): v is string => typeof v === 'string';

function checkId(id: unknown, problems: StreamProblem[]): void {
  if (!isString(id) || id.length === 0 || id.length > MAX_STREAM_ID_LENGTH) {
    problems.push({ field: 'id', problem: `must be 1 to ${MAX_STREAM_ID_LENGTH} characters` });
  }
}

function checkName(value: unknown, field: string, max: number, problems: StreamProblem[]): void {
  if (!isString(value) || value.length === 0 || value.length > max || /\s/.test(value)) {
    problems.push({ field, problem: `must be 1 to ${max} characters without whitespace` });
  }
}

function checkIds(
  value: unknown,
  field: string,
  max: number,
  pattern: RegExp,
  what: string,
  problems: StreamProblem[],
): void {
  if (!Array.isArray(value)) {
    problems.push({ field, problem: `must be a list of ${what}` });
    return;
  }
  if (value.length > max) problems.push({ field, problem: `must name at most ${max}, got ${value.length}` });
  const bad = value.filter((v) => !isString(v) || !pattern.test(v));
  if (bad.length > 0) {
    problems.push({
      field,
      problem: `must be ${what} of 1 to 100 letters, digits, '.', '_' or '-'; got ${bad
        .slice(0, 3)
        .map((v) => JSON.stringify(v))
        .join(', ')}`,
    });
  }
  if (new Set(value).size !== value.length) problems.push({ field, problem: 'names one twice' });
}

/**
 * Checks a stream's spec, field by field (no database): returns a clean copy or throws a
 * StreamError listing every problem. Unknown fields are refused.
 */
export function validateStreamSpec(input: unknown): StreamSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new StreamError([{ field: '(stream)', problem: 'must be an object' }]);
  }
  const spec = input as Record<string, unknown>;
  const problems: StreamProblem[] = [];
  const known = new Set([
    'classes',
    'inputKind',
    'featureWidth',
    'modelId',
    'policyName',
    'reviewers',
    'reviewerGroups',
    'allReviewers',
  ]);
  for (const key of Object.keys(spec)) {
    if (!known.has(key)) problems.push({ field: key, problem: 'is not a stream field' });
  }
  const { classes, inputKind, featureWidth } = spec;
  if (
    !Array.isArray(classes) ||
    !classes.every((c) => isString(c) && c.length > 0 && c.length <= MAX_CLASS_LENGTH)
  ) {
    problems.push({
      field: 'classes',
      problem: `must be a list of labels of 1 to ${MAX_CLASS_LENGTH} characters`,
    });
  } else {
    if (classes.length < 2 || classes.length > MAX_STREAM_CLASSES) {
      problems.push({
        field: 'classes',
        problem: `must have 2 to ${MAX_STREAM_CLASSES} classes, got ${classes.length}`,
      });
    }
    if (new Set(classes).size !== classes.length)
      problems.push({ field: 'classes', problem: 'names a class twice' });
  }
  if (inputKind !== 'text' && inputKind !== 'features') {
    problems.push({
      field: 'inputKind',
      problem: `must be text or features, got ${JSON.stringify(inputKind)}`,
    });
  } else if (inputKind === 'features') {
    if (
      typeof featureWidth !== 'number' ||
      !Number.isInteger(featureWidth) ||
      featureWidth < 1 ||
      featureWidth > MAX_STREAM_FEATURE_WIDTH
    ) {
      problems.push({
        field: 'featureWidth',
        problem: `must be an integer from 1 to ${MAX_STREAM_FEATURE_WIDTH} with input kind features, got ${JSON.stringify(featureWidth ?? null)}`,
      });
    }
  } else if (featureWidth !== null && featureWidth !== undefined) {
    problems.push({ field: 'featureWidth', problem: 'is only for input kind features' });
  }
  checkName(spec.modelId, 'modelId', MAX_STREAM_MODEL_ID_LENGTH, problems);
  checkName(spec.policyName, 'policyName', MAX_STREAM_MODEL_ID_LENGTH, problems);
  checkIds(spec.reviewers, 'reviewers', MAX_STREAM_REVIEWERS, REVIEWER_ID_PATTERN, 'reviewer ids', problems);
  checkIds(
    spec.reviewerGroups,
    'reviewerGroups',
    MAX_STREAM_REVIEWER_GROUPS,
    REVIEWER_GROUP_PATTERN,
    'group names',
    problems,
  );
  if (typeof spec.allReviewers !== 'boolean') {
    problems.push({ field: 'allReviewers', problem: 'must be true or false' });
  }
  if (problems.length > 0) throw new StreamError(problems);
  return {
    classes: [...(classes as string[])],
    inputKind: inputKind as StreamInputKind,
    featureWidth: inputKind === 'features' ? (featureWidth as number) : null,
    modelId: spec.modelId as string,
    policyName: spec.policyName as string,
    reviewers: [...(spec.reviewers as string[])],
    reviewerGroups: [...(spec.reviewerGroups as string[])],
    allReviewers: spec.allReviewers as boolean,
  };
}

function checkChangeOptions(opts: StreamChangeOptions): void {
  if (opts.reason !== undefined && opts.reason.length > MAX_STREAM_REASON_LENGTH) {
    throw new StreamError([
      { field: 'reason', problem: `must be at most ${MAX_STREAM_REASON_LENGTH} characters` },
    ]);
  }
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && new Set([...a, ...b]).size === a.length;

/**
 * What the database says against a valid spec: reviewers that do not exist, a promoted model
 * version of the stream's model whose classes or input do not fit, a policy declaring other classes.
 */
async function checkAgainstRegistry(client: PoolClient, spec: StreamSpec): Promise<void> {
  const problems: StreamProblem[] = [];
  if (spec.reviewers.length > 0) {
    const { rows } = await client.query<{ id: string }>(
      `SELECT r.id FROM unnest($1::text[]) AS r(id) WHERE NOT EXISTS (SELECT 1 FROM reviewers WHERE id = r.id)`,
      [spec.reviewers],
    );
    if (rows.length > 0) {
      problems.push({
        field: 'reviewers',
        problem: `names no reviewer ${rows
          .slice(0, 5)
          .map((r) => r.id)
          .join(', ')}${rows.length > 5 ? ', …' : ''} (add them first)`,
      });
    }
  }
  const { rows: models } = await client.query<{
    version: number;
    classes: string[];
    input_kind: StreamInputKind;
    feature_width: number | null;
  }>(
    `SELECT version, classes, input_kind, feature_width FROM model_versions
      WHERE model_id = $1 AND status = 'promoted'`,
    [spec.modelId],
  );
  const promoted = models[0];
  if (promoted) {
    const at = `model ${spec.modelId}'s promoted version ${promoted.version}`;
    if (!sameSet(promoted.classes, spec.classes)) {
      problems.push({ field: 'classes', problem: `are not those of ${at} (${promoted.classes.join(', ')})` });
    }
    if (promoted.input_kind !== spec.inputKind || promoted.feature_width !== spec.featureWidth) {
      const input =
        promoted.input_kind === 'features' ? `features of width ${promoted.feature_width}` : 'text';
      problems.push({ field: 'inputKind', problem: `does not fit ${at}, which takes ${input}` });
    }
  }
  const policy = await getCurrentPolicy(client, spec.policyName);
  if (policy && policy.classes.length > 0 && !sameSet(policy.classes, spec.classes)) {
    problems.push({
      field: 'classes',
      problem: `are not those routing policy ${spec.policyName} version ${policy.version} declares (${policy.classes.join(', ')})`,
    });
  }
  if (problems.length > 0) throw new StreamError(problems);
}

interface StreamRow {
  id: string;
  classes: string[];
  input_kind: StreamInputKind;
  feature_width: number | null;
  model_id: string;
  policy_name: string;
  reviewers: string[];
  reviewer_groups: string[];
  all_reviewers: boolean;
  version: number;
  revision: string;
  created_by: string | null;
  created_at: Date;
  updated_by: string | null;
  updated_at: Date;
  reason: string | null;
}

const COLUMNS = `id, classes, input_kind, feature_width, model_id, policy_name, reviewers, reviewer_groups,
  all_reviewers, version, revision, created_by, created_at, updated_by, updated_at, reason`;

function toStream(r: StreamRow): Stream {
  return {
    id: r.id,
    classes: r.classes,
    inputKind: r.input_kind,
    featureWidth: r.feature_width,
    modelId: r.model_id,
    policyName: r.policy_name,
    reviewers: r.reviewers,
    reviewerGroups: r.reviewer_groups,
    allReviewers: r.all_reviewers,
    version: r.version,
    revision: Number(r.revision),
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedBy: r.updated_by,
    updatedAt: r.updated_at,
    reason: r.reason,
  };
}

const specOf = (s: StreamSpec): StreamSpec => ({
  classes: s.classes,
  inputKind: s.inputKind,
  featureWidth: s.featureWidth,
  modelId: s.modelId,
  policyName: s.policyName,
  reviewers: s.reviewers,
  reviewerGroups: s.reviewerGroups,
  allReviewers: s.allReviewers,
});

/**
 * Adds a stream (version 1). Refuses, storing nothing: a spec that does not validate, reviewers
 * that do not exist, classes or input that do not fit the promoted version of its model or the
 * classes its policy declares (HITL_ERR_STREAM_INVALID), an id already there
 * (HITL_ERR_STREAM_EXISTS). Given a PoolClient it works inside the caller's transaction.
 */
export async function addStream(db: Db, input: NewStream, opts: StreamChangeOptions = {}): Promise<Stream> {
  const problems: StreamProblem[] = [];
  checkId((input as { id?: unknown } | null)?.id, problems);
  const { id, ...rest } = input;
  if (problems.length === 0 && rest.modelId === undefined && /\s/.test(id)) {
    problems.push({
      field: 'modelId',
      problem: 'must be given: the stream id, which names the model by default, has whitespace',
    });
  }
  if (problems.length > 0) throw new StreamError(problems);
  checkChangeOptions(opts);
  const modelId = rest.modelId ?? id;
  const spec = validateStreamSpec({
    ...rest,
    featureWidth: rest.featureWidth ?? null,
    modelId,
    policyName: rest.policyName ?? modelId,
    reviewers: rest.reviewers ?? [],
    reviewerGroups: rest.reviewerGroups ?? [],
    allReviewers: rest.allReviewers ?? false,
  });
  return inTransaction(db, async (client) => {
    await checkAgainstRegistry(client, spec);
    const { rows } = await client.query<StreamRow>(
      `INSERT INTO streams (id, classes, input_kind, feature_width, model_id, policy_name, reviewers,
                            reviewer_groups, all_reviewers, updated_by, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
      [
        id,
        spec.classes,
        spec.inputKind,
        spec.featureWidth,
        spec.modelId,
        spec.policyName,
        spec.reviewers,
        spec.reviewerGroups,
        spec.allReviewers,
        opts.actor ?? null,
        opts.reason ?? null,
      ],
    );
    if (!rows[0]) throw new DbError(DbErrorCode.streamExists, `stream ${id} already exists`);
    return toStream(rows[0]);
  });
}

/**
 * Changes the fields `change` gives and stores the stream's next version; a change that changes
 * nothing stores nothing and returns the stream as it is. With `expectedVersion`, refuses
 * (HITL_ERR_STREAM_VERSION_CONFLICT) unless that is the stream's version. Refuses what addStream
 * refuses, and an unknown stream (HITL_ERR_STREAM_NOT_FOUND). Two changes at once are applied
 * one after the other, neither lost.
 */
export async function updateStream(
  db: Db,
  id: string,
  change: StreamChange,
  opts: StreamChangeOptions & { expectedVersion?: number } = {},
): Promise<Stream> {
  checkChangeOptions(opts);
  return inTransaction(db, async (client) => {
    const { rows } = await client.query<StreamRow>(
      `SELECT ${COLUMNS} FROM streams WHERE id = $1 FOR UPDATE`,
      [id],
    );
    if (!rows[0]) throw new DbError(DbErrorCode.streamNotFound, `no stream ${id}`);
    const current = toStream(rows[0]);
    if (opts.expectedVersion !== undefined && opts.expectedVersion !== current.version) {
      throw new DbError(
        DbErrorCode.streamVersionConflict,
        `stream ${id} is at version ${current.version}, not ${opts.expectedVersion}: read it again and redo the change`,
      );
    }
    const merged: Record<string, unknown> = { ...specOf(current) };
    for (const [key, value] of Object.entries(change)) if (value !== undefined) merged[key] = value;
    // Made text, it takes no width (made features, it needs one given).
    if (change.inputKind === 'text' && change.featureWidth === undefined) merged.featureWidth = null;
    const spec = validateStreamSpec(merged);
    if (JSON.stringify(spec) === JSON.stringify(specOf(current))) return current;
    await checkAgainstRegistry(client, spec);
    const updated = await client.query<StreamRow>(
      `UPDATE streams SET classes = $2, input_kind = $3, feature_width = $4, model_id = $5, policy_name = $6,
              reviewers = $7, reviewer_groups = $8, all_reviewers = $9, updated_by = $10, reason = $11
        WHERE id = $1 RETURNING ${COLUMNS}`,
      [
        id,
        spec.classes,
        spec.inputKind,
        spec.featureWidth,
        spec.modelId,
        spec.policyName,
        spec.reviewers,
        spec.reviewerGroups,
        spec.allReviewers,
        opts.actor ?? null,
        opts.reason ?? null,
      ],
    );
    return toStream(updated.rows[0]!);
  });
}

/** The stream, or null when there is none of that id. */
export async function getStream(db: Db, id: string): Promise<Stream | null> {
  const { rows } = await db.query<StreamRow>(`SELECT ${COLUMNS} FROM streams WHERE id = $1`, [id]);
  return rows[0] ? toStream(rows[0]) : null;
}

/** Every stream, by id. */
export async function listStreams(db: Db): Promise<Stream[]> {
  return (await loadStreamRegistry(db)).streams;
}

/**
 * Every stream and the registry revision they are at, read in one snapshot: a service keeps the
 * revision and loads again when streamsRevision() (or a notification on STREAMS_CHANNEL) is higher.
 */
export async function loadStreamRegistry(db: Db): Promise<{ revision: number; streams: Stream[] }> {
  // One statement, one snapshot: the revision is that of the rows read with it.
  const { rows } = await db.query<{ registry: string; stream: StreamRow | null }>(
    `SELECT r.revision AS registry, to_jsonb(s) AS stream
       FROM stream_registry r
       LEFT JOIN (SELECT ${COLUMNS} FROM streams) s ON true
      ORDER BY s.id`,
  );
  const revision = Number(rows[0]?.registry ?? 0);
  const streams = rows
    .filter((r) => r.stream !== null)
    .map((r) => {
      const s = r.stream!;
      return toStream({ ...s, created_at: new Date(s.created_at), updated_at: new Date(s.updated_at) });
    });
  return { revision, streams };
}

/** The registry's revision: higher after every committed change of any stream. A cheap poll. */
export async function streamsRevision(db: Db): Promise<number> {
  const { rows } = await db.query<{ revision: string }>('SELECT revision FROM stream_registry');
  return Number(rows[0]?.revision ?? 0);
}

/** Every version of a stream, oldest first (empty for an unknown stream). */
export async function listStreamVersions(db: Db, id: string): Promise<StreamVersion[]> {
  const { rows } = await db.query<{
    stream: string;
    version: number;
    revision: string;
    spec: StreamSpec;
    changed_by: string | null;
    reason: string | null;
    changed_at: Date;
  }>(
    `SELECT stream, version, revision, spec, changed_by, reason, changed_at
       FROM stream_versions WHERE stream = $1 ORDER BY version`,
    [id],
  );
  return rows.map((r) => ({
    stream: r.stream,
    version: r.version,
    revision: Number(r.revision),
    spec: specOf(r.spec),
    changedBy: r.changed_by,
    reason: r.reason,
    changedAt: r.changed_at,
  }));
}
