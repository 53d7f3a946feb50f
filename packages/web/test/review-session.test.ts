// The review session on its own (src/review-session.ts): no browser, no API. A fake client hands
// out tasks from a list and records what the session sends; jest's fake timers drive the lease
// ticks and the idle polling.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { ReviewApiError, type AnswerResult, type Lease, type Task } from '@hitl/client/browser';
import { ReviewSession, type SessionClient, type SessionState } from '../src/review-session';

const LEASE_MS = 60_000;

function task(eventId: string): Task {
  return {
    eventId,
    stream: 'email',
    status: 'open',
    reason: 'low_confidence',
    priority: 0.5,
    policyVersion: 1,
    classes: ['ham', 'spam'],
    requiredReviewers: 1,
    needed: 1,
    answers: 0,
    input: { text: `message ${eventId}` },
    attributes: {},
    prediction: {
      model: { id: 'spam', version: 1 },
      label: 'spam',
      confidence: 0.6,
      probabilities: { ham: 0.4, spam: 0.6 },
    },
    requestedAt: new Date().toISOString(),
    lease: { owner: 'alice', expiresAt: new Date(Date.now() + LEASE_MS).toISOString() },
    finalLabel: null,
    decidedAt: null,
  };
}

interface Sent {
  claims: Array<{ claimKey: string | undefined }>;
  answers: Array<{ eventId: string; label: string; idempotencyKey: string | undefined }>;
  skips: string[];
  releases: string[];
  extensions: string[];
}

/** A client with a queue of tasks; `answerError` makes the next answers fail with it. */
class FakeClient implements SessionClient {
  readonly waiting: Task[];
  readonly sent: Sent = { claims: [], answers: [], skips: [], releases: [], extensions: [] };
  answerError: Error | null = null;
  /** Extending the lease of these tasks fails with the error. */
  extendErrors = new Map<string, Error>();

  constructor(ids: string[]) {
    this.waiting = ids.map(task);
  }

  add(...ids: string[]): void {
    this.waiting.push(...ids.map(task));
  }

  async claim(_filters?: unknown, opts: { claimKey?: string } = {}): Promise<Task | null> {
    this.sent.claims.push({ claimKey: opts.claimKey });
    return this.waiting.shift() ?? null;
  }

  async answer(
    eventId: string,
    body: { label: string },
    opts: { idempotencyKey?: string } = {},
  ): Promise<AnswerResult> {
    this.sent.answers.push({ eventId, label: body.label, idempotencyKey: opts.idempotencyKey });
    if (this.answerError) throw this.answerError;
    return { eventId, status: 'decided', finalLabel: body.label, answers: 1, needed: 1 };
  }

  async skip(eventId: string): Promise<void> {
    this.sent.skips.push(eventId);
  }

  async releaseLease(eventId: string): Promise<void> {
    this.sent.releases.push(eventId);
  }

  async extendLease(eventId: string): Promise<Lease> {
    this.sent.extensions.push(eventId);
    const error = this.extendErrors.get(eventId);
    if (error) throw error;
    return { eventId, owner: 'alice', expiresAt: new Date(Date.now() + LEASE_MS).toISOString() };
  }
}

let sessions: ReviewSession[] = [];

function start(client: FakeClient, opts: { pollMs?: number; activeForMs?: number } = {}) {
  let state: SessionState | null = null;
  let keys = 0;
  const session = new ReviewSession({
    client,
    onChange: (s) => (state = s),
    newKey: () => `key-${++keys}`,
    ...opts,
  });
  sessions.push(session);
  return { session, state: () => state! };
}

/** Lets every settled promise run its callbacks (and timers due by then). */
async function settle(ms = 0): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
}

beforeEach(() => {
  jest.useFakeTimers();
});

afterEach(async () => {
  const stopping = sessions.map((s) => s.stop());
  sessions = [];
  await jest.advanceTimersByTimeAsync(0);
  await Promise.all(stopping);
  jest.useRealTimers();
});

describe('the review session', () => {
  it('shows a task and claims the next one ahead, the first claim without a key', async () => {
    const client = new FakeClient(['t1', 't2', 't3']);
    const { state } = start(client);
    await settle();

    expect(state().current?.task.eventId).toBe('t1');
    expect(state().idle).toBe(false);
    // One on screen and one ahead: two claims, no more.
    expect(client.sent.claims).toEqual([{ claimKey: undefined }, { claimKey: 'key-1' }]);
    expect(client.waiting.map((t) => t.eventId)).toEqual(['t3']);
  });

  it('sends an answer with a key of its own and moves on to the task claimed ahead', async () => {
    const client = new FakeClient(['t1', 't2', 't3']);
    const { session, state } = start(client);
    await settle();

    session.answer('ham');
    // The next task is on screen at once, before the answer has settled.
    expect(state().current?.task.eventId).toBe('t2');
    expect(state().answered).toBe(1);
    expect(state().lastAnswer).toEqual({ eventId: 't1', label: 'ham', modelLabel: 'spam' });
    await settle();

    expect(client.sent.answers).toEqual([
      { eventId: 't1', label: 'ham', idempotencyKey: expect.any(String) },
    ]);
    // The one after is claimed ahead again.
    expect(client.sent.claims).toHaveLength(3);
    expect(client.waiting).toEqual([]);
    expect(state().notice).toBeNull();

    session.skip();
    expect(state().current?.task.eventId).toBe('t3');
    expect(state().skipped).toBe(1);
    await settle();
    expect(client.sent.skips).toEqual(['t2']);
  });

  it('says so when an answer comes back with the lease lost, and stays on the next task', async () => {
    const client = new FakeClient(['t1', 't2']);
    const { session, state } = start(client);
    await settle();

    client.answerError = new ReviewApiError(409, 'HITL_ERR_LEASE_NOT_HELD', 'you do not hold the lease');
    session.answer('spam');
    await settle();

    expect(state().current?.task.eventId).toBe('t2');
    expect(state().notice?.tone).toBe('warning');
    expect(state().notice?.text).toContain('Your lease on task t1 had ended');

    session.dismissNotice();
    expect(state().notice).toBeNull();
  });

  it('reports any other failure of an answer as an error', async () => {
    const client = new FakeClient(['t1', 't2']);
    const { session, state } = start(client);
    await settle();

    client.answerError = new ReviewApiError(422, 'HITL_ERR_LABEL_UNKNOWN', 'no such label');
    session.answer('eggs');
    await settle();

    expect(state().notice?.tone).toBe('error');
    expect(state().notice?.text).toContain('HITL_ERR_LABEL_UNKNOWN');
    expect(state().current?.task.eventId).toBe('t2');
  });

  it('gives every held task back and claims nothing until resumed', async () => {
    const client = new FakeClient(['t1', 't2', 't3']);
    const { session, state } = start(client);
    await settle();

    session.giveBack();
    await settle();
    expect(state().paused).toBe(true);
    expect(state().current).toBeNull();
    expect(client.sent.releases.sort()).toEqual(['t1', 't2']);

    const claims = client.sent.claims.length;
    await settle(30_000);
    expect(client.sent.claims).toHaveLength(claims);

    session.resume();
    await settle();
    expect(state().paused).toBe(false);
    expect(state().current?.task.eventId).toBe('t3');
  });

  it('looks again every pollMs while no task is waiting, and shows one when it comes', async () => {
    const client = new FakeClient([]);
    const { state } = start(client, { pollMs: 2_000 });
    await settle();

    expect(state().idle).toBe(true);
    expect(state().current).toBeNull();
    expect(client.sent.claims).toHaveLength(1);

    await settle(2_000);
    expect(client.sent.claims).toHaveLength(2);
    await settle(2_000);
    expect(client.sent.claims).toHaveLength(3);

    client.add('late');
    await settle(2_000);
    expect(state().idle).toBe(false);
    expect(state().current?.task.eventId).toBe('late');
  });

  it('extends leases half-way through while the reviewer is active, and not while away', async () => {
    const client = new FakeClient(['t1']);
    const { session } = start(client, { activeForMs: 10_000 });
    await settle();

    // Away since the start: half the lease passes with no extension.
    await settle(LEASE_MS / 2 + 1_000);
    expect(client.sent.extensions).toEqual([]);

    // Back: the lease, past its half-way point, is extended within a tick.
    session.touch();
    await settle(1_000);
    expect(client.sent.extensions).toEqual(['t1']);
  });

  it('drops a task whose lease could not be extended because it was lost, with a notice', async () => {
    const client = new FakeClient(['t1', 't2']);
    const { state } = start(client);
    await settle();

    client.extendErrors.set(
      't1',
      new ReviewApiError(409, 'HITL_ERR_LEASE_NOT_HELD', 'you do not hold the lease'),
    );
    await settle(LEASE_MS / 2 + 1_000);

    expect(state().current?.task.eventId).toBe('t2');
    expect(state().notice?.text).toContain('Your time on task t1 ran out');
  });

  it('gives back what it holds when stopped', async () => {
    const client = new FakeClient(['t1', 't2']);
    const { session } = start(client);
    await settle();

    const stopped = session.stop();
    await settle();
    await stopped;
    expect(client.sent.releases.sort()).toEqual(['t1', 't2']);
  });
});
