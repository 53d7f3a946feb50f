// Reviewing from a terminal: claim a task, show it, read one key (a label's number, s to skip, q
// to quit), and keep the lease alive while the person reads.
import type { ReviewClient } from './client';
import { ClientErrorCode, ReviewApiError } from './errors';
import { KeyReader } from './keys';
import type { ClaimFilters, Task } from './types';

/** What the terminal reviewer needs of a client. */
export type TerminalClient = Pick<ReviewClient, 'claim' | 'extendLease' | 'releaseLease' | 'skip' | 'answer'>;

export interface TerminalReviewerOptions {
  client: TerminalClient;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** The server's lease (its LEASE_SECONDS, default 300); it is extended every half of it. */
  leaseSeconds?: number;
  /** How often to look again while no task is waiting (default 2 s). */
  pollMs?: number;
  filters?: ClaimFilters;
  /** Ends the session as q does (the entry point aborts it on SIGTERM). */
  signal?: AbortSignal;
}

export interface ReviewSummary {
  answered: number;
  skipped: number;
}

/** One key chooses a label, so only the first nine are offered. */
const MAX_LABELS = 9;
/** Longer texts are cut; the rest is counted. */
const MAX_TEXT_CHARS = 4_000;
const MAX_FEATURES = 20;

type Outcome = 'answered' | 'skipped' | 'released' | 'quit';

export async function runTerminalReviewer(opts: TerminalReviewerOptions): Promise<ReviewSummary> {
  const { client, output, filters = {} } = opts;
  const leaseSeconds = opts.leaseSeconds ?? 300;
  const pollMs = opts.pollMs ?? 2_000;
  const keys = new KeyReader(opts.input, opts.signal);
  const say = (text: string) => void output.write(`${text}\n`);
  const summary: ReviewSummary = { answered: 0, skipped: 0 };

  /** Extends the lease every half lease until stopped; says so once if the lease is lost. */
  function keepLease(eventId: string): () => Promise<void> {
    let inflight: Promise<void> | undefined;
    let lost = false;
    const timer = setInterval(
      () => {
        if (inflight || lost) return;
        inflight = client
          .extendLease(eventId)
          .then(
            () => undefined,
            (error: unknown) => {
              if (error instanceof ReviewApiError && error.status === 409) {
                lost = true;
                say(`Your lease on this task has ended (${error.code}); an answer now may be refused.`);
              } else {
                say(`Could not extend the lease (${errorText(error)}); trying again.`);
              }
            },
          )
          .finally(() => (inflight = undefined));
      },
      (leaseSeconds * 1_000) / 2,
    );
    return async () => {
      clearInterval(timer);
      await inflight;
    };
  }

  async function review(task: Task): Promise<Outcome> {
    const labels = labelsOf(task).slice(0, MAX_LABELS);
    if (keys.interactive) keys.discard((key) => key === 'q');
    say(render(task, labels));
    const stopLease = keepLease(task.eventId);
    let stopped = false;
    const stop = async () => {
      if (!stopped) await stopLease();
      stopped = true;
    };
    try {
      for (;;) {
        const event = await keys.next();
        const key = event.kind === 'key' ? event.key : 'q';
        if (key === 'q') {
          await stop();
          await attempt('give the task back', () => client.releaseLease(task.eventId));
          return 'quit';
        }
        if (key === 's') {
          await stop();
          if (!(await attempt('skip', () => client.skip(task.eventId)))) return giveBack(task);
          say('Skipped.');
          return 'skipped';
        }
        const label = /^[1-9]$/.test(key) ? labels[Number(key) - 1] : undefined;
        if (label === undefined) {
          say(labels.length > 0 ? `Press 1–${labels.length}, s or q.` : 'Press s or q.');
          continue;
        }
        await stop();
        let result: Awaited<ReturnType<TerminalClient['answer']>> | undefined;
        const ok = await attempt('answer', async () => {
          result = await client.answer(task.eventId, { label });
        });
        if (!ok || !result) return giveBack(task);
        say(`Answered ${label}: ${resultText(result)}.`);
        return 'answered';
      }
    } finally {
      await stop();
    }
  }

  /** After a refused answer or skip: the lease, if still held, should not keep the task from others. */
  async function giveBack(task: Task): Promise<Outcome> {
    await client.releaseLease(task.eventId).catch(() => undefined);
    return 'released';
  }

  /** Runs a task action; a refusal (say, a lease that ran out) is shown and the session goes on. */
  async function attempt(what: string, action: () => Promise<void>): Promise<boolean> {
    try {
      await action();
      return true;
    } catch (error) {
      if (!(error instanceof ReviewApiError)) throw error;
      say(`Could not ${what}: ${errorText(error)}`);
      return false;
    }
  }

  try {
    let waiting = false;
    for (;;) {
      let task: Task | null = null;
      let reached = true;
      try {
        task = await client.claim(filters);
      } catch (error) {
        if (!isTransient(error)) throw error;
        say(`Cannot reach the review API (${errorText(error)}); trying again.`);
        reached = false;
      }
      if (!task) {
        if (reached && !waiting)
          say(`No task is waiting; looking again every ${pollMs / 1_000} s. Press q to quit.`);
        waiting = reached;
        const event = await keys.next(pollMs);
        if (event.kind === 'end' || (event.kind === 'key' && event.key === 'q')) break;
        continue;
      }
      waiting = false;
      const outcome = await review(task);
      if (outcome === 'answered') summary.answered++;
      if (outcome === 'skipped') summary.skipped++;
      if (outcome === 'quit') break;
    }
    say(`Answered ${summary.answered}, skipped ${summary.skipped}.`);
    return summary;
  } finally {
    keys.close();
  }
}

/** The labels to choose from: the task's classes, or the model's when the task names none. */
function labelsOf(task: Task): string[] {
  return task.classes.length > 0 ? task.classes : Object.keys(task.prediction.probabilities);
}

function render(task: Task, labels: string[]): string {
  const { prediction, input } = task;
  const lines = ['', '─'.repeat(72)];
  lines.push(
    `Task ${clean(task.eventId)} · stream ${clean(task.stream)} · ${task.reason.replace(/_/g, ' ')}`,
  );
  if (task.needed > 1) lines.push(`Answers: ${task.answers} of ${task.needed}`);
  lines.push('');
  if (input.text !== undefined) {
    const text = clean(input.text, true);
    lines.push(
      text.length > MAX_TEXT_CHARS
        ? `${text.slice(0, MAX_TEXT_CHARS)}\n… (${text.length - MAX_TEXT_CHARS} more characters)`
        : text,
    );
  }
  if (input.features !== undefined) {
    const shown = input.features.slice(0, MAX_FEATURES).join(', ');
    const more = input.features.length > MAX_FEATURES ? `, … (${input.features.length} in all)` : '';
    lines.push(`Features: ${shown}${more}`);
  }
  for (const [name, value] of Object.entries(task.attributes ?? {}))
    lines.push(`${clean(name)}: ${clean(value)}`);
  lines.push('');
  lines.push(
    prediction.model && prediction.label !== null
      ? `Model ${clean(prediction.model.id)} v${prediction.model.version}: ${clean(prediction.label)} (confidence ${prediction.confidence.toFixed(2)})`
      : 'Model: no model',
  );
  lines.push('');
  labels.forEach((label, i) => lines.push(`  ${i + 1}  ${clean(label)}`));
  const all = labelsOf(task).length;
  if (all > labels.length) lines.push(`  (${all - labels.length} more labels cannot be chosen here)`);
  lines.push(labels.length > 0 ? `1–${labels.length} answers · s skips · q quits` : 's skips · q quits');
  return lines.join('\n');
}

/** Drops control characters, so an event's text cannot move the cursor or recolour the terminal. */
function clean(text: string, multiline = false): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
  return multiline ? cleaned : cleaned.replace(/[\n\t]/g, ' ');
}

function resultText(result: { status: string; finalLabel: string | null; answers: number; needed: number }) {
  if (result.status === 'decided') return `decided, ${clean(result.finalLabel ?? '')}`;
  if (result.status === 'escalated') return 'the reviewers disagree; it goes to an admin';
  return `${result.answers} of ${result.needed} answers so far`;
}

function isTransient(error: unknown): boolean {
  return (
    error instanceof ReviewApiError &&
    (error.code === ClientErrorCode.unreachable ||
      error.code === ClientErrorCode.timeout ||
      error.status === 503 ||
      error.status === 429)
  );
}

function errorText(error: unknown): string {
  return error instanceof ReviewApiError ? `${error.code}: ${error.message}` : String(error);
}
