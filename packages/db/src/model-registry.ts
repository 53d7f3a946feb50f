// The Postgres model registry: immutable model versions (ONNX bytes, classes, metrics, lineage)
// and their lifecycle, candidate → promoted → retired / rolled_back, one promoted per model.
// Promotions and rollbacks enqueue their hitl.models.v1 records in the outbox, in the same
// transaction; a relay (relayOutbox) publishes them.
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { createValidator, ModelLifecycle, topics, type ModelLifecycleType } from '@hitl/contracts';
import type { CertifiedThresholds, HeldOutDecisions } from '@hitl/policy';
import { DbError, DbErrorCode } from './errors';
import { enqueueOutbox } from './outbox';
import { withTransaction } from './pool';

/** Stable error codes of the model registry (a subset of DbErrorCode). */
export const RegistryErrorCode = {
  notFound: DbErrorCode.modelNotFound,
  noPrevious: DbErrorCode.modelNoPrevious,
  rolledBack: DbErrorCode.modelRolledBack,
  invalid: DbErrorCode.modelInvalid,
} as const;

export type RegistryErrorCode = (typeof RegistryErrorCode)[keyof typeof RegistryErrorCode];

export class RegistryError extends DbError {
  declare readonly code: RegistryErrorCode;

  constructor(code: RegistryErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RegistryError';
  }
}

export const MODEL_STATUSES = ['candidate', 'promoted', 'retired', 'rolled_back'] as const;
export type ModelStatus = (typeof MODEL_STATUSES)[number];
export type ModelInputKind = 'text' | 'features';
export type ModelEventKind = 'registered' | 'promoted' | 'retired' | 'rolled_back';

/** A registered model version without its ONNX bytes. */
export interface ModelVersionSummary {
  modelId: string;
  version: number;
  onnxSha256: string;
  /** Size of the ONNX bytes. */
  onnxBytes: number;
  classes: string[];
  inputKind: ModelInputKind;
  /** Set exactly when inputKind is 'features'. */
  featureWidth: number | null;
  metrics: Record<string, unknown>;
  modelCard: Record<string, unknown>;
  /**
   * The thresholds certified for it when it was trained, for the target accuracy and confidence
   * level they name; null when it was not certified (a version registered by hand, say).
   */
  thresholds: CertifiedThresholds | null;
  /**
   * A calibration temperature inference applies to what the ONNX file gives (softmax(log p / T));
   * null when the file is calibrated itself (the trainer folds its temperature into the weights).
   */
  temperature: number | null;
  parentVersion: number | null;
  status: ModelStatus;
  createdAt: Date;
  promotedAt: Date | null;
  retiredAt: Date | null;
  rolledBackAt: Date | null;
  createdBy: string | null;
}

export interface ModelVersion extends ModelVersionSummary {
  onnx: Buffer;
}

export interface ModelEvent {
  id: string;
  modelId: string;
  version: number;
  event: ModelEventKind;
  actor: string | null;
  reason: string | null;
  at: Date;
}

export interface RegisterModelVersionInput {
  modelId: string;
  onnx: Uint8Array;
  /** At least two distinct, non-empty labels, in the model's output order. */
  classes: readonly string[];
  inputKind: ModelInputKind;
  /** Required for 'features', forbidden for 'text'. */
  featureWidth?: number;
  metrics?: Record<string, unknown>;
  modelCard?: Record<string, unknown>;
  thresholds?: CertifiedThresholds;
  /** The held-out predictions the thresholds rest on (see HeldOutDecisions). */
  heldOut?: HeldOutDecisions;
  /** A calibration temperature for inference to apply (an imported model's), above 0. */
  temperature?: number;
  /** An existing version of the same model this one was derived from. */
  parentVersion?: number;
  createdBy?: string;
}

export interface LifecycleOptions {
  actor?: string;
  reason?: string;
  /** Where the lifecycle records go (default: the catalog's hitl.models.v1). */
  modelsTopic?: string;
}

/**
 * A Pool (each call runs its own transaction) or a PoolClient inside a transaction the caller
 * opened, for instance to register and promote a version in one step; the registry then works
 * under a savepoint, and fails if no transaction is open.
 */
export type RegistryDb = Pool | PoolClient;

interface ModelVersionRow {
  model_id: string;
  version: number;
  onnx?: Buffer;
  onnx_sha256: string;
  onnx_bytes: number;
  classes: string[];
  input_kind: ModelInputKind;
  feature_width: number | null;
  metrics: Record<string, unknown>;
  model_card: Record<string, unknown>;
  thresholds: CertifiedThresholds | null;
  temperature: number | null;
  parent_version: number | null;
  status: ModelStatus;
  created_at: Date;
  promoted_at: Date | null;
  retired_at: Date | null;
  rolled_back_at: Date | null;
  created_by: string | null;
}

const SUMMARY_COLUMNS = `model_id, version, onnx_sha256, octet_length(onnx) AS onnx_bytes, classes, input_kind,
  feature_width, metrics, model_card, thresholds, temperature, parent_version, status, created_at, promoted_at, retired_at,
  rolled_back_at, created_by`;
const ALL_COLUMNS = `${SUMMARY_COLUMNS}, onnx`;

function toSummary(row: ModelVersionRow): ModelVersionSummary {
  return {
    modelId: row.model_id,
    version: row.version,
    onnxSha256: row.onnx_sha256,
    onnxBytes: row.onnx_bytes,
    classes: row.classes,
    inputKind: row.input_kind,
    featureWidth: row.feature_width,
    metrics: row.metrics,
    modelCard: row.model_card,
    thresholds: row.thresholds,
    temperature: row.temperature,
    parentVersion: row.parent_version,
    status: row.status,
    createdAt: row.created_at,
    promotedAt: row.promoted_at,
    retiredAt: row.retired_at,
    rolledBackAt: row.rolled_back_at,
    createdBy: row.created_by,
  };
}

function toModelVersion(row: ModelVersionRow): ModelVersion {
  if (row.onnx === undefined) throw new Error('model version row without onnx bytes');
  return { ...toSummary(row), onnx: row.onnx };
}

function isClient(db: RegistryDb): db is PoolClient {
  return typeof (db as Partial<PoolClient>).release === 'function';
}

let savepointSeq = 0;

/**
 * Runs fn in a transaction of its own (given a Pool) or under a savepoint of the caller's open
 * transaction (given a PoolClient; refused with 25P01 when none is open). Other stores use it too.
 */
export async function inTransaction<T>(db: RegistryDb, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  if (!isClient(db)) return withTransaction(db, fn);
  // The caller's transaction: a savepoint undoes our half-done work on failure and, since
  // SAVEPOINT is refused outside a transaction block, also proves there is a transaction.
  const savepoint = `hitl_model_registry_${++savepointSeq}`;
  await db.query(`SAVEPOINT ${savepoint}`);
  try {
    const result = await fn(db);
    await db.query(`RELEASE SAVEPOINT ${savepoint}`);
    return result;
  } catch (error) {
    await db.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
    throw error;
  }
}

// Serialises version numbering and lifecycle changes of one model until the transaction ends.
async function lockModel(client: PoolClient, modelId: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('hitl.model_registry'), hashtext($1))`, [
    modelId,
  ]);
}

async function recordEvent(
  client: PoolClient,
  modelId: string,
  version: number,
  event: ModelEventKind,
  opts: LifecycleOptions,
): Promise<void> {
  await client.query(
    'INSERT INTO model_events (model_id, version, event, actor, reason) VALUES ($1, $2, $3, $4, $5)',
    [modelId, version, event, opts.actor ?? null, opts.reason ?? null],
  );
}

function invalid(message: string): RegistryError {
  return new RegistryError(RegistryErrorCode.invalid, message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validate(input: RegisterModelVersionInput): void {
  if (typeof input.modelId !== 'string' || input.modelId.trim() === '')
    throw invalid('modelId must be a non-empty string');
  if (!(input.onnx instanceof Uint8Array) || input.onnx.byteLength === 0)
    throw invalid('onnx must be non-empty bytes');
  const classes: readonly unknown[] = Array.isArray(input.classes) ? input.classes : [];
  if (classes.length < 2) throw invalid('a model needs at least 2 classes');
  if (!classes.every((c) => typeof c === 'string' && c !== ''))
    throw invalid('classes must be non-empty strings');
  if (new Set(classes).size !== classes.length) throw invalid('classes must be distinct');
  if (input.inputKind === 'features') {
    const width = input.featureWidth;
    if (width === undefined || !Number.isInteger(width) || width <= 0) {
      throw invalid('a features model needs featureWidth, a positive integer');
    }
  } else if (input.inputKind === 'text') {
    if (input.featureWidth !== undefined) throw invalid('a text model has no featureWidth');
  } else {
    throw invalid(`inputKind must be 'text' or 'features', not ${String(input.inputKind)}`);
  }
  if (input.metrics !== undefined && !isPlainObject(input.metrics))
    throw invalid('metrics must be an object');
  if (input.modelCard !== undefined && !isPlainObject(input.modelCard))
    throw invalid('modelCard must be an object');
  if (
    input.temperature !== undefined &&
    !(typeof input.temperature === 'number' && Number.isFinite(input.temperature) && input.temperature > 0)
  ) {
    throw invalid('temperature must be a finite number above 0');
  }
  if (
    input.parentVersion !== undefined &&
    !(Number.isInteger(input.parentVersion) && input.parentVersion > 0)
  ) {
    throw invalid('parentVersion must be a positive integer');
  }
}

/** Stores a new candidate version, numbered one past the model's latest (1 for a new model). */
export async function registerModelVersion(
  db: RegistryDb,
  input: RegisterModelVersionInput,
): Promise<ModelVersion> {
  validate(input);
  const onnx = Buffer.from(input.onnx.buffer, input.onnx.byteOffset, input.onnx.byteLength);
  const sha256 = createHash('sha256').update(onnx).digest('hex');
  return inTransaction(db, async (client) => {
    await lockModel(client, input.modelId);
    if (input.parentVersion !== undefined) {
      const parent = await client.query('SELECT 1 FROM model_versions WHERE model_id = $1 AND version = $2', [
        input.modelId,
        input.parentVersion,
      ]);
      if (parent.rowCount === 0) {
        throw invalid(`parent version ${input.parentVersion} of model ${input.modelId} does not exist`);
      }
    }
    const { rows } = await client.query<ModelVersionRow>(
      `INSERT INTO model_versions (model_id, version, onnx, onnx_sha256, classes, input_kind, feature_width,
                                   metrics, model_card, parent_version, status, created_by, thresholds,
                                   held_out, temperature)
       SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, 'candidate', $10, $11, $12,
              $13
         FROM model_versions WHERE model_id = $1
       RETURNING ${ALL_COLUMNS}`,
      [
        input.modelId,
        onnx,
        sha256,
        JSON.stringify(input.classes),
        input.inputKind,
        input.featureWidth ?? null,
        JSON.stringify(input.metrics ?? {}),
        JSON.stringify(input.modelCard ?? {}),
        input.parentVersion ?? null,
        input.createdBy ?? null,
        input.thresholds === undefined ? null : JSON.stringify(input.thresholds),
        input.heldOut === undefined ? null : JSON.stringify(input.heldOut),
        input.temperature ?? null,
      ],
    );
    const created = toModelVersion(rows[0]!);
    await recordEvent(client, created.modelId, created.version, 'registered', { actor: input.createdBy });
    return created;
  });
}

/** One version with its ONNX bytes, or null when there is no such version. */
export async function getModelVersion(
  db: RegistryDb,
  modelId: string,
  version: number,
): Promise<ModelVersion | null> {
  const { rows } = await db.query<ModelVersionRow>(
    `SELECT ${ALL_COLUMNS} FROM model_versions WHERE model_id = $1 AND version = $2`,
    [modelId, version],
  );
  return rows[0] ? toModelVersion(rows[0]) : null;
}

/** The model's promoted version with its ONNX bytes, or null when none is promoted. */
export async function getPromotedVersion(db: RegistryDb, modelId: string): Promise<ModelVersion | null> {
  const { rows } = await db.query<ModelVersionRow>(
    `SELECT ${ALL_COLUMNS} FROM model_versions WHERE model_id = $1 AND status = 'promoted'`,
    [modelId],
  );
  return rows[0] ? toModelVersion(rows[0]) : null;
}

/** What a version's thresholds rest on, and the thresholds; null when there is no such version. */
export async function getCertification(
  db: RegistryDb,
  modelId: string,
  version: number,
): Promise<{ thresholds: CertifiedThresholds | null; heldOut: HeldOutDecisions | null } | null> {
  const { rows } = await db.query<{
    thresholds: CertifiedThresholds | null;
    held_out: HeldOutDecisions | null;
  }>('SELECT thresholds, held_out FROM model_versions WHERE model_id = $1 AND version = $2', [
    modelId,
    version,
  ]);
  return rows[0] ? { thresholds: rows[0].thresholds, heldOut: rows[0].held_out } : null;
}

/** All versions of a model, oldest first, without their ONNX bytes. */
export async function listModelVersions(db: RegistryDb, modelId: string): Promise<ModelVersionSummary[]> {
  const { rows } = await db.query<ModelVersionRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM model_versions WHERE model_id = $1 ORDER BY version`,
    [modelId],
  );
  return rows.map(toSummary);
}

/** The model's lifecycle history, oldest first. */
export async function listModelEvents(db: RegistryDb, modelId: string): Promise<ModelEvent[]> {
  const { rows } = await db.query<{
    id: string;
    model_id: string;
    version: number;
    event: ModelEventKind;
    actor: string | null;
    reason: string | null;
    at: Date;
  }>(
    'SELECT id, model_id, version, event, actor, reason, at FROM model_events WHERE model_id = $1 ORDER BY id',
    [modelId],
  );
  return rows.map((r) => ({
    id: r.id,
    modelId: r.model_id,
    version: r.version,
    event: r.event,
    actor: r.actor,
    reason: r.reason,
    at: r.at,
  }));
}

const isModelLifecycle = createValidator(ModelLifecycle);

/**
 * The hitl.models.v1 record announcing a lifecycle step of one version, with its figures: the
 * topic carries finite numbers only; nested entries (per-class tables, notes) stay in the registry.
 */
export function lifecycleRecord(
  type: ModelLifecycleType,
  version: Pick<ModelVersionSummary, 'modelId' | 'version' | 'parentVersion' | 'classes' | 'inputKind'>,
  metrics: Record<string, unknown>,
  opts: { reason?: string; actor?: string } = {},
): ModelLifecycle {
  return {
    type,
    version: 1,
    producedAt: new Date().toISOString(),
    data: {
      model: { id: version.modelId, version: version.version },
      parentVersion: version.parentVersion,
      classes: version.classes,
      inputKind: version.inputKind,
      metrics: Object.fromEntries(
        Object.entries(metrics).filter(
          (entry): entry is [string, number] => typeof entry[1] === 'number' && Number.isFinite(entry[1]),
        ),
      ),
      ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      ...(opts.actor !== undefined ? { actor: opts.actor } : {}),
    },
  };
}

/**
 * Validates the records against the topic's schema and adds them to the outbox in the client's
 * transaction. A record the schema refuses (say, a reason longer than it allows) fails the whole
 * lifecycle step with HITL_ERR_MODEL_INVALID rather than storing a record every consumer would
 * dead-letter.
 */
export async function enqueueLifecycle(
  client: PoolClient,
  records: readonly ModelLifecycle[],
  topic: string = topics.models.name,
): Promise<void> {
  for (const record of records) {
    const issues = isModelLifecycle.issues(record);
    if (issues.length > 0) {
      const { type, data } = record;
      throw invalid(
        `${type} record of model ${data.model.id} version ${data.model.version} does not match ${topics.models.name}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      );
    }
  }
  await enqueueOutbox(
    client,
    records.map((value) => ({ topic, key: topics.models.key(value), value })),
  );
}

async function retirePromoted(client: PoolClient, modelId: string, opts: LifecycleOptions): Promise<void> {
  const { rows } = await client.query<{ version: number }>(
    `UPDATE model_versions SET status = 'retired', retired_at = now()
      WHERE model_id = $1 AND status = 'promoted' RETURNING version`,
    [modelId],
  );
  for (const row of rows) await recordEvent(client, modelId, row.version, 'retired', opts);
}

async function promoteLocked(
  client: PoolClient,
  modelId: string,
  version: number,
  opts: LifecycleOptions,
): Promise<ModelVersion> {
  const { rows } = await client.query<ModelVersionRow>(
    `UPDATE model_versions SET status = 'promoted', promoted_at = now()
      WHERE model_id = $1 AND version = $2 RETURNING ${ALL_COLUMNS}`,
    [modelId, version],
  );
  await recordEvent(client, modelId, version, 'promoted', opts);
  return toModelVersion(rows[0]!);
}

/**
 * Makes `version` the model's promoted one and retires the previously promoted version, in one
 * transaction that also enqueues a `model.promoted` record for hitl.models.v1 in the outbox.
 * Promoting the version already promoted changes (and enqueues) nothing. A rolled-back version
 * cannot be promoted again.
 */
export async function promoteModelVersion(
  db: RegistryDb,
  modelId: string,
  version: number,
  opts: LifecycleOptions = {},
): Promise<ModelVersion> {
  return inTransaction(db, async (client) => {
    await lockModel(client, modelId);
    const { rows } = await client.query<ModelVersionRow>(
      `SELECT ${ALL_COLUMNS} FROM model_versions WHERE model_id = $1 AND version = $2 FOR UPDATE`,
      [modelId, version],
    );
    const target = rows[0];
    if (!target) {
      throw new RegistryError(RegistryErrorCode.notFound, `model ${modelId} has no version ${version}`);
    }
    if (target.status === 'rolled_back') {
      throw new RegistryError(
        RegistryErrorCode.rolledBack,
        `model ${modelId} version ${version} was rolled back and cannot be promoted again`,
      );
    }
    if (target.status === 'promoted') return toModelVersion(target);
    // Lock the current promoted row too, so a concurrent promotion waits rather than racing.
    await client.query(
      `SELECT 1 FROM model_versions WHERE model_id = $1 AND status = 'promoted' FOR UPDATE`,
      [modelId],
    );
    await retirePromoted(client, modelId, opts);
    const promoted = await promoteLocked(client, modelId, version, opts);
    await enqueueLifecycle(
      client,
      [lifecycleRecord('model.promoted', promoted, promoted.metrics, opts)],
      opts.modelsTopic,
    );
    return promoted;
  });
}

/**
 * Marks the model's promoted version rolled_back and promotes again the most recently promoted
 * of its retired versions, enqueuing `model.rolled_back` then `model.promoted` records for
 * hitl.models.v1 in the outbox in the same transaction. Fails with HITL_ERR_MODEL_NOT_FOUND when
 * nothing is promoted and HITL_ERR_MODEL_NO_PREVIOUS when no earlier promoted version is left
 * (nothing is changed then). Returns the version now promoted.
 */
export async function rollbackModel(
  db: RegistryDb,
  modelId: string,
  opts: LifecycleOptions = {},
): Promise<ModelVersion> {
  return inTransaction(db, async (client) => {
    await lockModel(client, modelId);
    const current = await client.query<{ version: number }>(
      `SELECT version FROM model_versions WHERE model_id = $1 AND status = 'promoted' FOR UPDATE`,
      [modelId],
    );
    const currentVersion = current.rows[0]?.version;
    if (currentVersion === undefined) {
      throw new RegistryError(
        RegistryErrorCode.notFound,
        `model ${modelId} has no promoted version to roll back`,
      );
    }
    const previous = await client.query<{ version: number }>(
      `SELECT version FROM model_versions
        WHERE model_id = $1 AND status = 'retired' AND promoted_at IS NOT NULL
        ORDER BY promoted_at DESC, version DESC LIMIT 1 FOR UPDATE`,
      [modelId],
    );
    const previousVersion = previous.rows[0]?.version;
    if (previousVersion === undefined) {
      throw new RegistryError(
        RegistryErrorCode.noPrevious,
        `model ${modelId} has no previously promoted version to roll back to from version ${currentVersion}`,
      );
    }
    const rolledBack = await client.query<ModelVersionRow>(
      `UPDATE model_versions SET status = 'rolled_back', rolled_back_at = now()
        WHERE model_id = $1 AND version = $2 RETURNING ${SUMMARY_COLUMNS}`,
      [modelId, currentVersion],
    );
    const rolledBackVersion = toSummary(rolledBack.rows[0]!);
    await recordEvent(client, modelId, currentVersion, 'rolled_back', opts);
    const promoted = await promoteLocked(client, modelId, previousVersion, opts);
    await enqueueLifecycle(
      client,
      [
        lifecycleRecord('model.rolled_back', rolledBackVersion, rolledBackVersion.metrics, opts),
        lifecycleRecord('model.promoted', promoted, promoted.metrics, opts),
      ],
      opts.modelsTopic,
    );
    return promoted;
  });
}
