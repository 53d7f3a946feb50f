// The routing policy in force: created with the defaults when none exists, then re-read every
// few seconds so that a change made through the review API or the CLI applies without restart.
import { ensurePolicy, getCurrentPolicy, type StoredPolicy } from '@hitl/db';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { RouterMetrics } from './metrics';

export class PolicyHolder {
  private policy: StoredPolicy | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly name: string,
    private readonly metrics: RouterMetrics,
    private readonly log: Logger,
  ) {}

  /** The policy in force (after start()). */
  get current(): StoredPolicy {
    if (!this.policy) throw new Error('policy not loaded yet');
    return this.policy;
  }

  get loaded(): boolean {
    return this.policy !== null;
  }

  async start(pollMs: number): Promise<void> {
    this.use(await ensurePolicy(this.pool, this.name));
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) =>
        this.log.warn({ err: error }, 'reading the routing policy failed; keeping the one in force'),
      );
    }, pollMs);
    this.timer.unref();
  }

  /** Reads the current version and switches to it when it is newer. */
  async refresh(): Promise<void> {
    const latest = await getCurrentPolicy(this.pool, this.name);
    if (latest && latest.version > (this.policy?.version ?? 0)) this.use(latest);
  }

  private use(policy: StoredPolicy): void {
    const previous = this.policy?.version ?? null;
    this.policy = policy;
    this.metrics.policyVersion.set({ policy: this.name }, policy.version);
    this.log.info(
      {
        policy: this.name,
        version: policy.version,
        previous,
        createdBy: policy.createdBy,
        reason: policy.reason,
      },
      'routing policy in force',
    );
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
