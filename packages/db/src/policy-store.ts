// Versioned routing policies in Postgres. A change never edits a policy: it stores the next
// version (the table's trigger refuses UPDATE and DELETE), so every decision's policy version
// names the exact rules that made it.
import type { Pool, PoolClient } from 'pg';
import { DEFAULT_POLICY_SPEC, validatePolicySpec, type Policy, type PolicySpec } from '@hitl/policy';
import { DbError, DbErrorCode } from './errors';
import { inTransaction } from './model-registry';

/** A policy version as stored, with who made it, why and when. */
export type StoredPolicy = Policy & { createdBy: string | null; reason: string | null; createdAt: Date };

export interface PolicyChangeOptions {
  actor?: string;
  reason?: string;
}

export const MAX_POLICY_NAME_LENGTH = 200;

interface PolicyRow {
  name: string;
  version: number;
  spec: PolicySpec;
  created_by: string | null;
  reason: string | null;
  created_at: Date;
}

const COLUMNS = 'name, version, spec, created_by, reason, created_at';

// Field by field rather than spreading, so a stray key in a row can never shadow a stored policy's
// name or version, and a new PolicySpec field fails to compile here until it is read.
// A version stored before targetAccuracy and confidenceLevel existed has neither, and one stored
// before hideSuggestion and featureNames (or goldRate and consensusConfidence) neither of those:
// the defaults. The spec is JSONB, so
// fields added to PolicySpec need no migration.
function specOf(spec: PolicySpec): PolicySpec {
  const { classes, threshold, classThresholds, alwaysReview, auditRate, requiredReviewers } = spec;
  const { targetAccuracy = null, confidenceLevel = DEFAULT_POLICY_SPEC.confidenceLevel } = spec;
  const { hideSuggestion = false, featureNames = [], nearDuplicates, consensusUsesModel } = spec;
  const { goldRate = 0, consensusConfidence = null } = spec;
  return {
    classes,
    threshold,
    classThresholds,
    alwaysReview,
    auditRate,
    requiredReviewers,
    targetAccuracy,
    confidenceLevel,
    hideSuggestion,
    featureNames,
    goldRate,
    consensusConfidence,
    ...(consensusUsesModel ? { consensusUsesModel } : {}),
    // Optional, and absent (off) in versions stored before it existed.
    ...(nearDuplicates ? { nearDuplicates } : {}),
  };
}

function toStoredPolicy(row: PolicyRow): StoredPolicy {
  return {
    name: row.name,
    version: row.version,
    ...specOf(row.spec),
    createdBy: row.created_by,
    reason: row.reason,
    createdAt: row.created_at,
  };
}

function checkPolicyName(name: unknown): asserts name is string {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > MAX_POLICY_NAME_LENGTH ||
    /\s/.test(name)
  ) {
    throw new DbError(
      DbErrorCode.policyName,
      `a policy name is 1 to ${MAX_POLICY_NAME_LENGTH} characters without whitespace, got ${JSON.stringify(name)}`,
    );
  }
}

// Serialises version numbering of one policy until the transaction ends.
async function lockPolicy(client: PoolClient, name: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('hitl.policy:' || $1))`, [name]);
}

async function insertNextVersion(
  client: PoolClient,
  name: string,
  spec: PolicySpec,
  opts: PolicyChangeOptions,
): Promise<StoredPolicy> {
  const { rows } = await client.query<PolicyRow>(
    `INSERT INTO routing_policies (name, version, spec, created_by, reason)
     SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM routing_policies WHERE name = $1
     RETURNING ${COLUMNS}`,
    [name, JSON.stringify(spec), opts.actor ?? null, opts.reason ?? null],
  );
  return toStoredPolicy(rows[0]!);
}

/**
 * Stores `spec` as the policy's next version (1 for a new name) and returns it. An invalid spec
 * throws @hitl/policy's PolicyError (HITL_ERR_POLICY_INVALID) and a bad name a DbError
 * (HITL_ERR_POLICY_NAME), storing nothing. Given a PoolClient it works inside the caller's
 * transaction, which must be open.
 */
export async function createPolicyVersion(
  db: Pool | PoolClient,
  name: string,
  spec: unknown,
  opts: PolicyChangeOptions = {},
): Promise<StoredPolicy> {
  checkPolicyName(name);
  const valid = validatePolicySpec(spec);
  return inTransaction(db, async (client) => {
    await lockPolicy(client, name);
    return insertNextVersion(client, name, valid, opts);
  });
}

/**
 * Stores the policy's next version as `change` makes it from the current version's spec (from
 * DEFAULT_POLICY_SPEC when the policy has none), reading and writing under the policy's lock: of
 * two edits made at once, the second starts from the first's version, so neither is lost.
 * Refuses what createPolicyVersion refuses, storing nothing.
 */
export async function updatePolicy(
  db: Pool | PoolClient,
  name: string,
  change: (current: PolicySpec) => unknown,
  opts: PolicyChangeOptions = {},
): Promise<StoredPolicy> {
  checkPolicyName(name);
  return inTransaction(db, async (client) => {
    await lockPolicy(client, name);
    const current = await getCurrentPolicy(client, name);
    // A deep copy: DEFAULT_POLICY_SPEC is frozen only at its top level, and change may mutate.
    const base = current ? specOf(current) : structuredClone<PolicySpec>(DEFAULT_POLICY_SPEC);
    const spec = validatePolicySpec(change(base));
    return insertNextVersion(client, name, spec, opts);
  });
}

/** The policy's highest version, or null when it has none. */
export async function getCurrentPolicy(db: Pool | PoolClient, name: string): Promise<StoredPolicy | null> {
  const { rows } = await db.query<PolicyRow>(
    `SELECT ${COLUMNS} FROM routing_policies WHERE name = $1 ORDER BY version DESC LIMIT 1`,
    [name],
  );
  return rows[0] ? toStoredPolicy(rows[0]) : null;
}

/** One version of the policy, or null when there is no such version. */
export async function getPolicyVersion(
  db: Pool | PoolClient,
  name: string,
  version: number,
): Promise<StoredPolicy | null> {
  const { rows } = await db.query<PolicyRow>(
    `SELECT ${COLUMNS} FROM routing_policies WHERE name = $1 AND version = $2`,
    [name, version],
  );
  return rows[0] ? toStoredPolicy(rows[0]) : null;
}

/** Every version of the policy, oldest first; empty when it has none. */
export async function listPolicyVersions(db: Pool | PoolClient, name: string): Promise<StoredPolicy[]> {
  const { rows } = await db.query<PolicyRow>(
    `SELECT ${COLUMNS} FROM routing_policies WHERE name = $1 ORDER BY version`,
    [name],
  );
  return rows.map(toStoredPolicy);
}

/**
 * The policy's current version, or version 1 made from `spec` when it has none yet: what a
 * router replica calls at start. Replicas starting together create one version between them.
 */
export async function ensurePolicy(
  db: Pool | PoolClient,
  name: string,
  spec: unknown = DEFAULT_POLICY_SPEC,
  opts: PolicyChangeOptions = {},
): Promise<StoredPolicy> {
  checkPolicyName(name);
  const valid = validatePolicySpec(spec);
  return inTransaction(db, async (client) => {
    await lockPolicy(client, name);
    return (await getCurrentPolicy(client, name)) ?? insertNextVersion(client, name, valid, opts);
  });
}
