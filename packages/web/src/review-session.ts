// One reviewer's session: the task on screen, the next one claimed ahead, and their leases.
//
// The next task is claimed (with a claim key of its own) while the reviewer reads this one, and an
// answer is sent in the background as the next task appears, so the reviewer never waits for the
// network. The price: an answer can fail after the screen moved on (the lease had ended), and the
// session says so in a notice. Leases are extended only while the reviewer is active, so a task
// left on an unattended screen goes back to the queue when its lease ends. No DOM here: the screen
// subscribes to the state.
import { ReviewApiError, type ClaimFilters, type ReviewClient, type Task } from '@hitl/client/browser';

export type SessionClient = Pick<ReviewClient, 'claim' | 'answer' | 'skip' | 'releaseLease' | 'extendLease'>;

export interface HeldTask {
  task: Task;
  /** When the lease ends, by this browser's clock (Date.now() ms). */
  leaseEndsAt: number;
  /** The lease's length as last granted, to extend it half-way through. */
  leaseMs: number;
}

export interface Notice {
  tone: 'warning' | 'error';
  text: string;
}

export interface SessionState {
  /** The task on screen; null while none is held. */
  current: HeldTask | null;
  /** No task is waiting for this reviewer (looked again every pollMs). */
  idle: boolean;
  /** The reviewer gave the task back and stopped. */
  paused: boolean;
  notice: Notice | null;
  /** The last answer given, to compare with the model's label when the suggestion was hidden. */
  lastAnswer: { eventId: string; label: string; modelLabel: string | null } | null;
  answered: number;
  skipped: number;
}

export interface ReviewSessionOptions {
  client: SessionClient;
  filters?: ClaimFilters;
  onChange: (state: SessionState) => void;
  /** How often to look for a task while none is waiting (default 2 s). */
  pollMs?: number;
  /** How long after the last key press or pointer move the reviewer still counts as active (default 2 min). */
  activeForMs?: number;
  /** A fresh claim key (default: random, 128 bits). */
  newKey?: () => string;
  now?: () => number;
}

/** Tasks claimed ahead of the one on screen. */
const AHEAD = 1;
const TICK_MS = 1_000;

export class ReviewSession {
  private readonly client: SessionClient;
  private readonly filters: ClaimFilters;
  private readonly pollMs: number;
  private readonly activeForMs: number;
  private readonly newKey: () => string;
  private readonly now: () => number;
  private readonly onChange: (state: SessionState) => void;
  /** Held tasks: the first is on screen, the rest claimed ahead. */
  private held: HeldTask[] = [];
  private state: SessionState = {
    current: null,
    idle: false,
    paused: false,
    notice: null,
    lastAnswer: null,
    answered: 0,
    skipped: 0,
  };
  private claiming: Promise<void> | undefined;
  /** Answers, skips and releases sent and not yet settled. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly extending = new Set<string>();
  /** The first claim goes without a key: it resumes a task held from an earlier visit. */
  private resumed = false;
  private lastActive: number;
  private stopped = false;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly tickTimer: ReturnType<typeof setInterval>;

  constructor(opts: ReviewSessionOptions) {
    this.client = opts.client;
    this.filters = opts.filters ?? {};
    this.onChange = opts.onChange;
    this.pollMs = opts.pollMs ?? 2_000;
    this.activeForMs = opts.activeForMs ?? 120_000;
    this.newKey = opts.newKey ?? randomKey;
    this.now = opts.now ?? Date.now;
    this.lastActive = this.now();
    this.tickTimer = setInterval(() => this.tick(), TICK_MS);
    this.fill();
  }

  /** The reviewer did something: their leases are kept. */
  touch(): void {
    this.lastActive = this.now();
  }

  answer(label: string): void {
    const done = this.advance();
    if (!done) return;
    const { task } = done;
    this.update({
      answered: this.state.answered + 1,
      lastAnswer: { eventId: task.eventId, label, modelLabel: task.prediction.label },
    });
    // One key per answer, generated here so a retry by the client repeats it rather than answering twice.
    this.track(
      this.client.answer(task.eventId, { label }, { idempotencyKey: this.newKey() }),
      task,
      'your answer was not recorded',
    );
  }

  skip(): void {
    const done = this.advance();
    if (!done) return;
    this.update({ skipped: this.state.skipped + 1 });
    this.track(this.client.skip(done.task.eventId), done.task, 'the skip was not recorded');
  }

  /** Gives back every held task and stops until resume(). */
  giveBack(): void {
    this.update({ paused: true, current: null, idle: false });
    this.releaseAll();
  }

  resume(): void {
    this.touch();
    this.update({ paused: false, notice: null });
    this.fill();
  }

  dismissNotice(): void {
    this.update({ notice: null });
  }

  /** Gives back every held task and stops every timer; waits for what was sent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.tickTimer);
    clearTimeout(this.pollTimer);
    await this.claiming;
    this.releaseAll();
    await Promise.allSettled([...this.inFlight]);
  }

  // ---- the queue -----------------------------------------------------------------------------

  /** Takes the task on screen off it and shows the next; the caller sends what was done with it. */
  private advance(): HeldTask | undefined {
    const done = this.held.shift();
    this.touch();
    this.show();
    this.fill();
    return done;
  }

  private show(): void {
    const current = this.held[0] ?? null;
    this.update({ current, idle: current === null && this.state.idle });
  }

  /** Claims until the task on screen and AHEAD more are held, or none is waiting. */
  private fill(): void {
    if (this.stopped || this.state.paused || this.claiming || this.held.length > AHEAD) return;
    clearTimeout(this.pollTimer);
    this.claiming = this.claimOne().then(
      (task) => {
        this.claiming = undefined;
        this.claimed(task);
      },
      (error: unknown) => {
        this.claiming = undefined;
        this.update({ notice: { tone: 'error', text: `Could not fetch a task: ${errorText(error)}` } });
        this.pollLater();
      },
    );
  }

  private claimed(task: Task | null | 'busy'): void {
    // Busy: the lease allowance is full; the next answer or skip makes room and fills again.
    if (task === 'busy') return;
    if (task === null) {
      if (this.held.length === 0) this.update({ idle: true });
      this.pollLater();
      return;
    }
    if (this.stopped || this.state.paused) {
      this.track(this.client.releaseLease(task.eventId), task, 'it could not be given back');
      return;
    }
    if (!this.held.some((h) => h.task.eventId === task.eventId)) this.held.push(this.leased(task));
    this.update({ idle: false });
    this.show();
    this.fill();
  }

  private pollLater(): void {
    if (!this.stopped) this.pollTimer = setTimeout(() => this.fill(), this.pollMs);
  }

  private async claimOne(): Promise<Task | null | 'busy'> {
    if (!this.resumed) {
      this.resumed = true;
      return this.client.claim(this.filters);
    }
    try {
      return await this.client.claim(this.filters, { claimKey: this.newKey() });
    } catch (error) {
      if (!(error instanceof ReviewApiError) || error.code !== 'HITL_ERR_LEASE_LIMIT') throw error;
      // Leases held from an earlier visit fill the allowance: take them up one by one, without a
      // key, once what was sent has settled (a claim without a key returns a held task, and one
      // being answered is still held).
      if (this.held.length > 0) return 'busy';
      await Promise.allSettled([...this.inFlight]);
      return this.client.claim(this.filters);
    }
  }

  private leased(task: Task): HeldTask {
    const leaseEndsAt = task.lease ? Date.parse(task.lease.expiresAt) : this.now();
    return { task, leaseEndsAt, leaseMs: Math.max(leaseEndsAt - this.now(), TICK_MS) };
  }

  private releaseAll(): void {
    const held = this.held;
    this.held = [];
    for (const { task } of held) {
      this.track(this.client.releaseLease(task.eventId), task, 'it could not be given back');
    }
  }

  // ---- leases --------------------------------------------------------------------------------

  /** Every second: extend leases half-way through while the reviewer is active; drop lost ones. */
  private tick(): void {
    const now = this.now();
    const active = now - this.lastActive < this.activeForMs;
    for (const held of this.held) {
      const left = held.leaseEndsAt - now;
      if (this.extending.has(held.task.eventId)) continue;
      if ((active && left < held.leaseMs / 2) || left <= 0) this.extend(held);
    }
    // The countdown on screen.
    if (this.state.current) this.onChange(this.state);
  }

  private extend(held: HeldTask): void {
    const { eventId } = held.task;
    this.extending.add(eventId);
    this.client
      .extendLease(eventId)
      .then((lease) => {
        held.leaseEndsAt = Date.parse(lease.expiresAt);
        held.leaseMs = Math.max(held.leaseEndsAt - this.now(), TICK_MS);
      })
      .catch((error: unknown) => {
        if (isLeaseLost(error)) this.lost(held);
        // HITL_ERR_LEASE_EXTENSION_LIMIT and the like: the lease runs out, and the next try says so.
      })
      .finally(() => this.extending.delete(eventId));
  }

  /** A held task whose lease ended: off the screen, with a notice if it was on it. */
  private lost(held: HeldTask): void {
    const wasCurrent = this.held[0] === held;
    this.held = this.held.filter((h) => h !== held);
    if (wasCurrent) {
      this.update({
        notice: {
          tone: 'warning',
          text: `Your time on task ${held.task.eventId} ran out and it went back to the queue. Here is the next one.`,
        },
      });
    }
    this.show();
    this.fill();
  }

  /** Follows what was sent about a task that is off the screen; a failure becomes a notice. */
  private track(sent: Promise<unknown>, task: Task, whatFailed: string): void {
    const tracked = sent.then(
      () => undefined,
      (error: unknown) => {
        const text = isLeaseLost(error)
          ? `Your lease on task ${task.eventId} had ended (someone else may have it, or it was decided), so ${whatFailed}.`
          : `Task ${task.eventId}: ${whatFailed}: ${errorText(error)}`;
        this.update({ notice: { tone: isLeaseLost(error) ? 'warning' : 'error', text } });
      },
    );
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private update(change: Partial<SessionState>): void {
    this.state = { ...this.state, ...change };
    this.onChange(this.state);
  }
}

/** The lease is gone: another reviewer may have the task, or it was decided. */
export function isLeaseLost(error: unknown): boolean {
  return (
    error instanceof ReviewApiError &&
    (error.code === 'HITL_ERR_LEASE_NOT_HELD' || error.code === 'HITL_ERR_TASK_DECIDED')
  );
}

export function errorText(error: unknown): string {
  if (error instanceof ReviewApiError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

/** 128 random bits as hex: getRandomValues works outside secure contexts, unlike randomUUID. */
function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
