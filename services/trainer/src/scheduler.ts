// When to train, and that only one replica does: every CHECK_INTERVAL_MS a replica looks, for each
// model it trains (the stream registry's, see streams.ts), whether a training is due (schedule.ts
// says when); if so it takes the model's training lock (a session advisory lock on a connection of
// its own, so that it goes when the replica dies), looks again under the lock (a replica that just
// trained on the same labels has recorded its run by then), and runs a round.
import { backoffDelay, sleep } from '@hitl/kafka';
import { Client, type Pool } from 'pg';
import type { Logger } from 'pino';
import { notReadyBecause, scheduledStart, type ScheduleOptions, type TrainingStart } from './schedule';
import { abandonRuns, labelCounts, trainingDue, type TrainingDue } from './store';
import type { RoundResult } from './training-round';

export interface TrainingSchedulerOptions {
  pool: Pool;
  /** The models to check at each tick (read at every tick: the stream registry may change). */
  models: () => readonly string[];
  schedule: ScheduleOptions;
  checkIntervalMs: number;
  logger: Logger;
  /** Called before each tick's checks (to follow the stream registry); an error is logged. */
  beforeTick?: () => Promise<void>;
  runRound: (
    modelId: string,
    due: TrainingDue,
    start: TrainingStart,
    signal: AbortSignal,
  ) => Promise<RoundResult>;
  /** Called with the model's due state at every check (for the gauges). */
  onCheck?: (modelId: string, due: TrainingDue) => Promise<void> | void;
}

/** What one check did. */
export type CheckResult =
  | { kind: 'not_due'; due: TrainingDue }
  /** Due by the schedule, but the labels cannot support a model yet. */
  | { kind: 'not_ready'; due: TrainingDue; because: string }
  | { kind: 'busy' }
  | { kind: 'trained'; round: RoundResult };

// The two-key form keeps clear of the one-key hashtext locks taken elsewhere; the second key is
// the model, so trainers of different models train side by side.
const LOCK = `hashtext('hitl.trainer'), hashtext($1)`;
const MAX_FAILURE_BACKOFF_MS = 300_000;
const QUERY_TIMEOUT_MS = 30_000;

/**
 * Checks every model's schedule and trains it when due: single-flight per model (its own lock), and
 * one check at a time in this replica (the worker has the cores). Each tick checks every model
 * once, in round-robin order (a model that just trained goes to the back), so a model whose labels
 * never stop trains at most once per tick and never starves a quiet one. A model whose check fails
 * backs off on its own; the others go on.
 */
export class TrainingScheduler {
  private lockClient: Client | undefined;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();
  /** The check of each model in flight: concurrent checks of a model share it. */
  private readonly checking = new Map<string, Promise<CheckResult>>();
  /** Checks run one after the other: the tail of that chain. */
  private tail: Promise<unknown> = Promise.resolve();
  /** The round-robin order of the models (a model that trained moves to the back). */
  private order: string[] = [];
  private readonly failures = new Map<string, { count: number; retryAt: number }>();
  private readonly log: Logger;

  constructor(private readonly opts: TrainingSchedulerOptions) {
    this.log = opts.logger.child({ component: 'training-scheduler' });
  }

  /** The training the counts call for, once the labels are ready for it (requests need not wait). */
  private async startFor(
    modelId: string,
    due: TrainingDue,
  ): Promise<TrainingStart | { notReady: string } | null> {
    const start = scheduledStart(due, this.opts.schedule);
    if (start === null || start.trigger === 'request') return start;
    const notReady = notReadyBecause(await labelCounts(this.opts.pool, modelId), this.opts.schedule);
    return notReady === null ? start : { notReady };
  }

  /** Starts checking every checkIntervalMs until stop(). */
  start(): void {
    if (this.loop) throw new Error('the training scheduler was started already');
    this.loop = this.run();
  }

  /** One check of a model now (tests, and the loop); checks never overlap. */
  check(modelId: string): Promise<CheckResult> {
    let checking = this.checking.get(modelId);
    if (!checking) {
      const run = this.tail.then(() => this.checkOnce(modelId));
      this.tail = run.catch(() => undefined);
      checking = run.finally(() => this.checking.delete(modelId));
      this.checking.set(modelId, checking);
    }
    return checking;
  }

  /**
   * One tick: follows the registry, then checks every model once in round-robin order (skipping
   * those backing off after a failure). Returns what each check did.
   */
  async tick(): Promise<Map<string, CheckResult>> {
    if (this.opts.beforeTick) {
      await this.opts.beforeTick().catch((error: unknown) => {
        this.log.error({ err: error }, 'could not read the stream registry; checking the models known');
      });
    }
    const models = new Set(this.opts.models());
    this.order = [
      ...this.order.filter((m) => models.has(m)),
      ...[...models].filter((m) => !this.order.includes(m)),
    ];
    const results = new Map<string, CheckResult>();
    const trained: string[] = [];
    for (const modelId of [...this.order]) {
      if (this.abort.signal.aborted) break;
      const failure = this.failures.get(modelId);
      if (failure && performance.now() < failure.retryAt) continue;
      try {
        const result = await this.check(modelId);
        this.failures.delete(modelId);
        results.set(modelId, result);
        if (result.kind === 'trained') trained.push(modelId);
      } catch (error) {
        if (this.abort.signal.aborted) break;
        const count = (failure?.count ?? 0) + 1;
        const delay = backoffDelay(count, {
          initialMs: this.opts.checkIntervalMs,
          maxMs: MAX_FAILURE_BACKOFF_MS,
        });
        this.failures.set(modelId, { count, retryAt: performance.now() + delay });
        this.log.error({ err: error, modelId, failures: count }, 'training check failed');
      }
    }
    // Round robin: the models that trained go to the back, in the order they trained.
    this.order = [...this.order.filter((m) => !trained.includes(m)), ...trained];
    return results;
  }

  /** Stops checking; a round in progress is aborted (its run is marked failed). */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await Promise.all([...this.checking.values()].map((c) => c.catch(() => undefined)));
    await this.tail;
    await this.closeLockClient();
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      await sleep(this.opts.checkIntervalMs, this.abort.signal);
      if (this.abort.signal.aborted) break;
      try {
        await this.tick();
      } catch (error) {
        if (this.abort.signal.aborted) break;
        this.log.error({ err: error }, 'training tick failed');
      }
    }
  }

  private async checkOnce(modelId: string): Promise<CheckResult> {
    const { pool } = this.opts;
    const due = await trainingDue(pool, modelId);
    await this.opts.onCheck?.(modelId, due);
    const start = await this.startFor(modelId, due);
    if (start === null) return { kind: 'not_due', due };
    if ('notReady' in start) return { kind: 'not_ready', due, because: start.notReady };
    const client = await this.connectLockClient();
    let locked = false;
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        `SELECT pg_try_advisory_lock(${LOCK}) AS locked`,
        [modelId],
      );
      locked = rows[0]?.locked === true;
      if (!locked) return { kind: 'busy' };
      // A run left 'running' belongs to a trainer that lost the lock: it died or its connection did.
      const abandoned = await abandonRuns(
        pool,
        modelId,
        'abandoned: its trainer stopped holding the training lock',
      );
      if (abandoned.length > 0)
        this.log.warn({ runs: abandoned, modelId }, 'marked abandoned training runs failed');
      const again = await trainingDue(pool, modelId);
      const startAgain = await this.startFor(modelId, again);
      if (startAgain === null) return { kind: 'not_due', due: again };
      if ('notReady' in startAgain) return { kind: 'not_ready', due: again, because: startAgain.notReady };
      return {
        kind: 'trained',
        round: await this.opts.runRound(modelId, again, startAgain, this.abort.signal),
      };
    } catch (error) {
      // The lock's connection may be the broken part: start the next check on a new one.
      await this.closeLockClient();
      locked = false;
      throw error;
    } finally {
      if (locked) {
        await client.query(`SELECT pg_advisory_unlock(${LOCK})`, [modelId]).catch(async (error: unknown) => {
          this.log.warn({ err: error }, 'could not release the training lock; closing its connection');
          await this.closeLockClient();
        });
      }
    }
  }

  private async connectLockClient(): Promise<Client> {
    if (this.lockClient) return this.lockClient;
    const settings = this.opts.pool.options;
    const client = new Client({
      ...settings,
      // pg keeps the password off the enumerable options.
      password: settings.password,
      keepAlive: true,
      query_timeout: QUERY_TIMEOUT_MS,
      application_name: settings.application_name ?? 'hitl-trainer-lock',
    });
    // Without a listener a dropped idle connection would crash the process; the next query fails.
    client.on('error', (error) => this.log.warn({ err: error }, 'training lock connection failed'));
    await client.connect();
    this.lockClient = client;
    return client;
  }

  private async closeLockClient(): Promise<void> {
    const client = this.lockClient;
    this.lockClient = undefined;
    if (!client) return;
    // end() waits for the server's goodbye, which a dead connection never sends.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.end().catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000))),
    ]);
    clearTimeout(timer);
  }
}
