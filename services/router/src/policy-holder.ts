// The routing policies in force: POLICY_NAME's, and the policy of every stream of the stream
// registry (packages/db streams.ts). Each is created with the defaults when it does not exist yet,
// and every POLICY_POLL_MS the holder reads the registry's revision and the newest version of each
// policy in use, so that a stream added or changed, or a policy changed through the review API or
// the CLI, applies from the next batch without restart.
//
// Which policy routes a prediction: the policy its stream names in the registry. A prediction whose
// stream is not registered (all of them while the registry is empty, as in a deployment without
// streams) is routed by POLICY_NAME, exactly as before streams existed.
import {
  ensurePolicy,
  getCurrentPolicy,
  loadStreamRegistry,
  streamsRevision,
  type StoredPolicy,
} from '@hitl/db';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { streamLabels, UNREGISTERED_STREAM_LABEL, type RouterMetrics } from './metrics';

/**
 * One consistent view of the registry and the policies, never changed once made: a batch is
 * routed under one view, so all its outputs of one stream name the same policy version.
 */
export class RoutingTable {
  constructor(
    /** The registry revision the streams were read at (0: no stream was ever added). */
    readonly revision: number,
    /** Each registered stream's policy name. */
    readonly streams: ReadonlyMap<string, string>,
    /** The newest version of each policy in use, POLICY_NAME's included. */
    readonly policies: ReadonlyMap<string, StoredPolicy>,
    /** POLICY_NAME: the policy of predictions of unregistered streams. */
    readonly defaultName: string,
    /** Each registered stream's `stream` label value (see streamLabels). */
    readonly labels: ReadonlyMap<string, string>,
  ) {}

  /** The name of the policy that routes a prediction of this stream. */
  policyNameOf(stream: string): string {
    return this.streams.get(stream) ?? this.defaultName;
  }

  /** The policy that routes a prediction of this stream. */
  policyOf(stream: string): StoredPolicy {
    return this.policies.get(this.policyNameOf(stream))!;
  }

  /** The `stream` label of its routing metrics: bounded, see streamLabels. */
  labelOf(stream: string): string {
    return this.labels.get(stream) ?? UNREGISTERED_STREAM_LABEL;
  }
}

/** The newest version number of each named policy that has one. */
async function newestVersions(pool: Pool, names: readonly string[]): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ name: string; version: number }>(
    `SELECT name, max(version) AS version FROM routing_policies WHERE name = ANY($1::text[]) GROUP BY name`,
    [names],
  );
  return new Map(rows.map((r) => [r.name, Number(r.version)]));
}

export class PolicyHolder {
  private table: RoutingTable | null = null;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly name: string,
    private readonly metrics: RouterMetrics,
    private readonly log: Logger,
  ) {}

  /** The routing in force (after start()): take it once per batch. */
  get routing(): RoutingTable {
    if (!this.table) throw new Error('policy not loaded yet');
    return this.table;
  }

  /** POLICY_NAME's version in force (after start()). */
  get current(): StoredPolicy {
    return this.routing.policies.get(this.name)!;
  }

  /** The version in force of the policy of that name, if the router uses it. */
  policy(name: string): StoredPolicy | undefined {
    return this.table?.policies.get(name);
  }

  get loaded(): boolean {
    return this.table !== null;
  }

  async start(pollMs: number): Promise<void> {
    this.stopped = false;
    await this.refresh();
    const tick = () => {
      this.timer = setTimeout(() => {
        this.refresh()
          .catch((error: unknown) =>
            this.log.warn(
              { err: error },
              'reading the stream registry or the routing policies failed; keeping those in force',
            ),
          )
          .finally(() => {
            if (!this.stopped) tick();
          });
      }, pollMs);
      this.timer.unref();
    };
    tick();
  }

  /**
   * Reads the registry again when its revision has moved, and every policy in use whose newest
   * version is newer than the one held (creating with the defaults any that has none), then puts
   * the result in force at once. On an error nothing changes: the next poll tries again.
   */
  async refresh(): Promise<void> {
    const held = this.table;
    let revision = held?.revision ?? -1;
    let streams = held?.streams ?? new Map<string, string>();
    let labels = held?.labels ?? new Map<string, string>();
    const registryChanged = held === null || (await streamsRevision(this.pool)) !== held.revision;
    if (registryChanged) {
      const registry = await loadStreamRegistry(this.pool);
      revision = registry.revision;
      streams = new Map(registry.streams.map((s) => [s.id, s.policyName]));
      labels = streamLabels(registry.streams.map((s) => s.id));
    }
    const names = [...new Set([this.name, ...streams.values()])].sort();
    const newest = await newestVersions(this.pool, names);
    const policies = new Map<string, StoredPolicy>();
    const changed: StoredPolicy[] = [];
    for (const name of names) {
      const version = newest.get(name);
      const current = held?.policies.get(name);
      if (current && version !== undefined && current.version >= version) {
        policies.set(name, current);
        continue;
      }
      // A policy with no version yet (POLICY_NAME on a fresh database, or a stream's policy nobody
      // wrote) starts from the defaults, as the router always did for POLICY_NAME.
      const latest =
        version === undefined
          ? await ensurePolicy(this.pool, name)
          : ((await getCurrentPolicy(this.pool, name)) ?? (await ensurePolicy(this.pool, name)));
      policies.set(name, latest);
      if (latest.version !== current?.version) changed.push(latest);
    }
    const dropped = [...(held?.policies.keys() ?? [])].filter((name) => !policies.has(name));
    if (!registryChanged && changed.length === 0 && dropped.length === 0) return;
    if (this.stopped && held !== null) return;
    this.table = new RoutingTable(revision, streams, policies, this.name, labels);
    for (const policy of changed) this.announce(policy, held?.policies.get(policy.name)?.version ?? null);
    for (const name of dropped) {
      this.metrics.policyVersion.remove({ policy: name });
      this.log.info({ policy: name }, 'routing policy no longer in use: no stream names it');
    }
    if (registryChanged) {
      this.log.info(
        {
          revision,
          streams: streams.size,
          policies: policies.size,
          previousRevision: held?.revision ?? null,
        },
        'stream registry in force',
      );
    }
  }

  private announce(policy: StoredPolicy, previous: number | null): void {
    this.metrics.policyVersion.set({ policy: policy.name }, policy.version);
    this.log.info(
      {
        policy: policy.name,
        version: policy.version,
        previous,
        createdBy: policy.createdBy,
        reason: policy.reason,
      },
      'routing policy in force',
    );
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
