// Duplicate groups: tasks whose inputs are the same after normalisation share a group key, and
// one human decision of the group decides its unanswered copies (tasks.ts). Where the routing
// policy opts in (nearDuplicates), a text whose MinHash signature is close enough to an open
// group's first text joins that group's key at ingest, and the same machinery decides it.
import type { ReviewReason, ReviewRequestData } from '@hitl/contracts';
import {
  MIN_NEAR_DUPLICATE_SIMILARITY,
  estimatedSimilarity,
  lshBands,
  minHashSignature,
  signatureBytes,
  signatureFromBytes,
  type NearDuplicatesSetting,
} from '@hitl/policy';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';

/**
 * Reasons whose tasks join groups. An audit-sample task measures the model on that very event,
 * and a class rule says every item of the class needs a person: both always stay on their own.
 */
export const GROUPED_REASONS: readonly ReviewReason[] = ['low_confidence', 'no_model'];

/** Text as the group compares it: NFKC, lower case, whitespace runs as one space, trimmed. */
export function normaliseText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * The group key of a request (SHA-256 hex), or null when its task stays alone. It covers the
 * stream and the set of classes offered, so a label one copy takes is one every copy can take, and
 * the input: the normalised text and the numeric features as their exact JSON array.
 */
export function groupKey(request: ReviewRequestData, classes: readonly string[]): string | null {
  if (!GROUPED_REASONS.includes(request.reason)) return null;
  return contentKey(request, classes);
}

/**
 * What groupKey would be for any reason: the identity of the item itself. Tasks that never join a
 * group (audit sample, class rules) still use it to spread a reviewer's claims (familyOf).
 */
export function contentKey(request: ReviewRequestData, classes: readonly string[]): string {
  const { text, features } = request.prediction.input;
  const kind = [text !== undefined && 'text', features !== undefined && 'features'].filter(Boolean).join('+');
  const identity = JSON.stringify([
    'hitl-group-v1',
    kind,
    request.prediction.stream,
    [...new Set(classes)].sort(),
    text === undefined ? null : normaliseText(text),
    features ?? null,
  ]);
  return createHash('sha256').update(identity).digest('hex');
}

/**
 * The family of a task for the claim order, as a Postgres bigint (decimal): the first 64 bits of
 * its group key, or of its content key when it has none. Copies and near-duplicates of one group
 * share it, and so do identical audit and class-rule items, which never group: claims prefer a
 * family the reviewer was not just given (tasks.ts).
 */
export function familyOf(key: string): string {
  return BigInt.asIntN(64, BigInt(`0x${key.slice(0, 16)}`)).toString();
}

/** Where a new task goes: its group key and family, and, for a group's first text, what finds it. */
export interface GroupPlan {
  groupKey: string | null;
  family: string;
  /** The MinHash signature (bytes) and LSH band keys of a near-duplicate group's first text. */
  signature: Buffer | null;
  bands: string[] | null;
}

/** Candidates read per near-duplicate text: a bound on the lookup, whatever the bands match. */
export const NEAR_CANDIDATES_PER_TEXT = 32;

interface Founder {
  groupKey: string;
  scope: string;
  signature: Uint32Array;
}

// The stream and class set a group covers: only texts of the same scope are compared.
function scopeOf(stream: string, classes: readonly string[]): string {
  return JSON.stringify([stream, [...new Set(classes)].sort()]);
}

/**
 * Plans the group of each request of a batch. Without a near-duplicate setting (the policy's, per
 * request), a task's group is its exact group key, as always. With one, a text with an exact key
 * no open task has yet is compared with the first texts of open groups of its scope that share an
 * LSH band with it (an index probe, at most NEAR_CANDIDATES_PER_TEXT each) and with earlier texts
 * of the batch, and joins the most similar group at or above the setting's minSimilarity; else it
 * starts a group of its own, and its signature and bands are stored to find it by. Only a group's
 * first text is compared, so a group never drifts: every member is within the setting of it.
 *
 * This reads before the insert commits, so two near-duplicates ingested at the same moment may
 * start two groups: a missed grouping, never a wrong one. Deciding a group stays as it is (one
 * key, its advisory lock, its rows locked in order), so every event keeps exactly one decision.
 */
export async function planGroups(
  db: Pool,
  requests: readonly ReviewRequestData[],
  classes: readonly (readonly string[])[],
  settings: readonly (NearDuplicatesSetting | null)[],
): Promise<GroupPlan[]> {
  const exact = requests.map((r, i) => contentKey(r, classes[i]!));
  const plans: GroupPlan[] = requests.map((r, i) => {
    const key = GROUPED_REASONS.includes(r.reason) ? exact[i]! : null;
    return { groupKey: key, family: familyOf(key ?? exact[i]!), signature: null, bands: null };
  });
  const near = requests.flatMap((r, i) => {
    const setting = settings[i];
    const text = r.prediction.input.text;
    if (plans[i]!.groupKey === null || !setting || text === undefined) return [];
    const signature = minHashSignature(normaliseText(text));
    if (signature === null) return [];
    const scope = scopeOf(r.prediction.stream, classes[i]!);
    const bands = lshBands(signature, scope).map(String);
    return [{ i, setting, signature, scope, bands }];
  });
  if (near.length === 0) return plans;

  const keys = [...new Set(near.map((n) => exact[n.i]!))];
  const { rows: open } = await db.query<{ k: string }>(
    `SELECT k FROM unnest($1::text[]) AS k
      WHERE EXISTS (SELECT 1 FROM review_tasks t WHERE t.group_key = k AND t.status <> 'decided')`,
    [keys],
  );
  // One probe of the GIN index per text (its 16 bands), at most NEAR_CANDIDATES_PER_TEXT rows
  // each: one probe with every band of the batch would be planned as a scan of the table.
  const { rows: found } = await db.query<{
    n: string;
    group_key: string;
    stream: string;
    classes: string[];
    near_signature: Buffer;
  }>(
    `SELECT r.n, c.group_key, c.stream, c.classes, c.near_signature
       FROM unnest($1::text[]) WITH ORDINALITY AS r(bands, n)
       CROSS JOIN LATERAL (
         SELECT t.group_key, t.stream, t.classes, t.near_signature FROM review_tasks t
          WHERE t.near_bands && r.bands::bigint[] AND t.near_bands IS NOT NULL
            AND t.status <> 'decided' AND t.group_key IS NOT NULL
          LIMIT $2) c`,
    [near.map((n) => `{${n.bands.join(',')}}`), NEAR_CANDIDATES_PER_TEXT],
  );
  const candidates = new Map<number, Founder[]>();
  for (const row of found) {
    const signature = signatureFromBytes(row.near_signature);
    if (signature === null) continue;
    const at = Number(row.n) - 1;
    const founder = { groupKey: row.group_key, scope: scopeOf(row.stream, row.classes), signature };
    candidates.set(at, [...(candidates.get(at) ?? []), founder]);
  }
  // The first texts of groups started earlier in this batch, by band.
  const byBand = new Map<string, Founder[]>();
  // Exact keys already placed: an open group in the table, or a text earlier in this batch.
  const placed = new Map<string, string>(open.map(({ k }) => [k, k]));
  for (const [at, { i, setting, signature, scope, bands }] of near.entries()) {
    const plan = plans[i]!;
    const key = exact[i]!;
    const already = placed.get(key);
    if (already !== undefined) {
      plan.groupKey = already;
      plan.family = familyOf(already);
      continue;
    }
    const min = Math.max(setting.minSimilarity, MIN_NEAR_DUPLICATE_SIMILARITY);
    let best: { key: string; similarity: number } | null = null;
    const compared = new Set<Founder>([
      ...(candidates.get(at) ?? []),
      ...bands.flatMap((band) => byBand.get(band) ?? []),
    ]);
    for (const founder of compared) {
      if (founder.scope !== scope) continue;
      const similarity = estimatedSimilarity(signature, founder.signature);
      if (similarity >= min && (best === null || similarity > best.similarity)) {
        best = { key: founder.groupKey, similarity };
      }
    }
    if (best !== null) {
      plan.groupKey = best.key;
      plan.family = familyOf(best.key);
      placed.set(key, best.key);
      continue;
    }
    // The first text of a group of its own: stored with what finds it.
    plan.signature = signatureBytes(signature);
    plan.bands = bands;
    placed.set(key, key);
    const founder = { groupKey: key, scope, signature };
    for (const band of bands) byBand.set(band, [...(byBand.get(band) ?? []), founder]);
  }
  return plans;
}

/**
 * The near-duplicate setting of each policy version, read from routing_policies (versions never
 * change, so each is read once). Without a policy name there is none: near-duplicates stay apart.
 */
export class NearDuplicatePolicies {
  private readonly cache = new Map<number, NearDuplicatesSetting | null>();

  constructor(
    private readonly pool: Pool,
    private readonly policyName: string | undefined,
  ) {}

  /** The setting for each version (null: off, including a version not found). */
  async settings(versions: readonly number[]): Promise<Map<number, NearDuplicatesSetting | null>> {
    const out = new Map<number, NearDuplicatesSetting | null>();
    if (this.policyName === undefined) return out;
    const missing = [...new Set(versions)].filter((v) => !this.cache.has(v));
    if (missing.length > 0) {
      const { rows } = await this.pool.query<{ version: number; near: unknown }>(
        `SELECT version, spec->'nearDuplicates' AS near FROM routing_policies
          WHERE name = $1 AND version = ANY($2::integer[])`,
        [this.policyName, missing],
      );
      // A bound on the cache: a policy has few versions, but a process may live long.
      if (this.cache.size + rows.length > 10_000) this.cache.clear();
      for (const { version, near } of rows) this.cache.set(version, settingOf(near));
    }
    for (const v of versions) out.set(v, this.cache.get(v) ?? null);
    return out;
  }
}

// A stored setting, checked again: the spec was validated when stored, but this is what groups.
function settingOf(near: unknown): NearDuplicatesSetting | null {
  if (typeof near !== 'object' || near === null) return null;
  const min = (near as { minSimilarity?: unknown }).minSimilarity;
  return typeof min === 'number' && min >= MIN_NEAR_DUPLICATE_SIMILARITY && min <= 1
    ? { minSimilarity: min }
    : null;
}
