// When to train, and that only one replica does: every CHECK_INTERVAL_MS a replica looks whether a
// training is due (schedule.ts says when); if so it takes the model's training lock (a session advisory lock on a
// connection of its own, so that it goes when the replica dies), looks again under the lock (a
// replica that just trained on the same labels has recorded its run by then), and runs a round.
import { backoffDelay, sleep } from '@hitl/kafka';
import { Client, type Pool } from 'pg';
import type { Logger } from 'pino';
import { notReadyBecause, scheduledStart, type ScheduleOptions, type TrainingStart } from './schedule';
import { abandonRuns, labelCounts, trainingDue, type TrainingDue } from './store';
import type { RoundResult } from './training-round';

export interface TrainingSchedulerOptions {
  pool: Pool;
  modelId: string;
  schedule: ScheduleOptions;
  checkIntervalMs: number;
  logger: Logger;
  runRound: (due: TrainingDue, start: TrainingStart, signal: AbortSignal) => Promise<RoundResult>;
  /** Called with the due state at every check (for the gauges). */
  onCheck?: (due: TrainingDue) => Promise<void> | void;
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

export class TrainingScheduler {
  private lockClient: Client | undefined;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private checking: Promise<CheckResult> | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: TrainingSchedulerOptions) {
    this.log = opts.logger.child({ component: 'training-scheduler' });
  }

  /** The training the counts call for, once the labels are ready for it (requests need not wait). */
  private async startFor(due: TrainingDue): Promise<TrainingStart | { notReady: string } | null> {
    const start = scheduledStart(due, this.opts.schedule);
    if (start === null || start.trigger === 'request') return start;
    const notReady = notReadyBecause(
      await labelCounts(this.opts.pool, this.opts.modelId),
      this.opts.schedule,
    );
    return notReady === null ? start : { notReady };
  }

  /** Starts checking every checkIntervalMs (backing off after failed rounds) until stop(). */
  start(): void {
    if (this.loop) throw new Error('the training scheduler was started already');
    this.loop = this.run();
  }

  /** One check now (tests, and the loop); checks never overlap. */
  check(): Promise<CheckResult> {
    this.checking ??= this.checkOnce().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /** Stops checking; a round in progress is aborted (its run is marked failed). */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.checking?.catch(() => undefined);
    await this.closeLockClient();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      const waitMs =
        failures === 0
          ? this.opts.checkIntervalMs
          : backoffDelay(failures, { initialMs: this.opts.checkIntervalMs, maxMs: MAX_FAILURE_BACKOFF_MS });
      await sleep(waitMs, this.abort.signal);
      if (this.abort.signal.aborted) break;
      try {
        await this.check();
        failures = 0;
      } catch (error) {
        if (this.abort.signal.aborted) break;
        failures++;
        this.log.error({ err: error, failures }, 'training check failed');
      }
    }
  }

  private async checkOnce(): Promise<CheckResult> {
    const { pool, modelId } = this.opts;
    const due = await trainingDue(pool, modelId);
    await this.opts.onCheck?.(due);
    const start = await this.startFor(due);
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
      if (abandoned.length > 0) this.log.warn({ runs: abandoned }, 'marked abandoned training runs failed');
      const again = await trainingDue(pool, modelId);
      const startAgain = await this.startFor(again);
      if (startAgain === null) return { kind: 'not_due', due: again };
      if ('notReady' in startAgain) return { kind: 'not_ready', due: again, because: startAgain.notReady };
      return { kind: 'trained', round: await this.opts.runRound(again, startAgain, this.abort.signal) };
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
