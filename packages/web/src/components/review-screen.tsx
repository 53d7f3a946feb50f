// The reviewer's screen: one task at a time, answered with 1–9, s (skip) and g or Escape (give
// back), or the buttons. The session (review-session.ts) holds the queue and the leases. The
// single-key shortcuts listen only while this screen is shown, and never while typing in a field.
import type { Me, ReviewClient } from '@hitl/client/browser';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { labelsOf } from '../describe';
import { percentText } from '../format';
import { keyAction } from '../keys';
import { ReviewSession, type SessionState } from '../review-session';
import { TaskView } from './task-view';

export interface ReviewScreenProps {
  client: ReviewClient;
  me: Me;
}

/** The reviewer's own figures are looked up this often, and shortly after each answer. */
const FIGURES_EVERY_MS = 30_000;
const FIGURES_AFTER_ANSWER_MS = 1_500;

interface Figures {
  answersToday: number;
  agreementWithFinal: number | null;
}

export function ReviewScreen({ client, me }: ReviewScreenProps) {
  const [state, setState] = useState<SessionState | null>(null);
  // The routing policy says whether reviewers see the model's label before answering; h toggles it.
  const [showSuggestion, setShowSuggestion] = useState(() => !(me.settings?.hideSuggestion ?? false));
  const featureNames = me.settings?.featureNames ?? [];
  const session = useRef<ReviewSession | null>(null);
  const figures = useFigures(client, me, state?.answered ?? 0);

  useEffect(() => {
    const started = new ReviewSession({ client, onChange: setState });
    session.current = started;
    return () => void started.stop();
  }, [client]);

  const current = state?.current ?? null;
  const labels = current ? labelsOf(current.task) : [];

  // What the key handler acts on, as last rendered. One handler, attached before the first task can
  // show: a key pressed the moment a task appears is never lost, nor read against an older task.
  const latest = useRef({ current, labels, paused: state?.paused ?? false });
  latest.current = { current, labels, paused: state?.paused ?? false };

  useLayoutEffect(() => {
    function onKey(event: KeyboardEvent) {
      const { current, labels, paused } = latest.current;
      const active = session.current;
      if (!active || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
      if (isTyping(event.target)) return;
      active.touch();
      if (paused) {
        // Enter on a button or link does what that one says (its own click).
        if (event.key === 'Enter' && !isControl(event.target)) active.resume();
        return;
      }
      const action = keyAction(event.key, labels);
      if (!action) return;
      event.preventDefault();
      if (action.kind === 'toggle-suggestion') setShowSuggestion((shown) => !shown);
      else if (!current) return;
      else if (action.kind === 'answer') active.answer(action.label);
      else if (action.kind === 'skip') active.skip();
      else active.giveBack();
    }
    const onActivity = () => session.current?.touch();
    document.addEventListener('keydown', onKey);
    document.addEventListener('pointermove', onActivity, { passive: true });
    document.addEventListener('scroll', onActivity, { passive: true });
    return () => {
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('pointermove', onActivity);
      document.removeEventListener('scroll', onActivity);
    };
  }, []);

  return (
    <div class="review">
      <h1 id="page-title" class="visually-hidden" tabIndex={-1}>
        Review
      </h1>
      <div class="toolbar" id="review-toolbar">
        <span class="counts" id="counts">
          {state?.answered ?? 0} answered · {state?.skipped ?? 0} skipped
        </span>
        <span class="figures" id="my-figures">
          Today: <span id="my-answers-today">{figures ? figures.answersToday : '–'}</span> answers · agreement
          with final labels:{' '}
          <span id="my-agreement">{figures ? percentText(figures.agreementWithFinal) : '–'}</span>
        </span>
        <label class="toggle">
          <input
            type="checkbox"
            id="show-suggestion"
            checked={showSuggestion}
            onChange={(e) => setShowSuggestion(e.currentTarget.checked)}
          />
          Show the model’s suggestion <kbd>h</kbd>
        </label>
      </div>
      {state?.notice && (
        <div class={`notice ${state.notice.tone}`} role="alert" id="notice">
          <span>{state.notice.text}</span>
          <button
            type="button"
            class="link"
            id="dismiss-notice"
            onClick={() => session.current?.dismissNotice()}
          >
            Dismiss
          </button>
        </div>
      )}
      {state?.lastAnswer && !showSuggestion && (
        <p class="last-answer" id="last-answer">
          You answered “{state.lastAnswer.label}” on {state.lastAnswer.eventId}; the model said{' '}
          {state.lastAnswer.modelLabel === null ? 'nothing' : `“${state.lastAnswer.modelLabel}”`}.
        </p>
      )}
      {state?.paused ? (
        <section class="empty" id="paused" aria-label="Paused">
          <p>You gave your tasks back.</p>
          <button type="button" id="resume" onClick={() => session.current?.resume()}>
            Go on reviewing <kbd>Enter</kbd>
          </button>
        </section>
      ) : current ? (
        <TaskView
          held={current}
          labels={labels}
          featureNames={featureNames}
          showSuggestion={showSuggestion}
          onAnswer={(label) => session.current?.answer(label)}
          onSkip={() => session.current?.skip()}
          onGiveBack={() => session.current?.giveBack()}
        />
      ) : (
        <p class="empty" id={state?.idle ? 'no-tasks' : 'loading'} role="status" aria-live="polite">
          {state?.idle
            ? 'No task is waiting for you. This page looks again every few seconds.'
            : 'Fetching a task…'}
        </p>
      )}
    </div>
  );
}

/** The reviewer's row of the stats: every 30 s, and shortly after each answer. */
function useFigures(client: ReviewClient, me: Me, answered: number): Figures | null {
  const [figures, setFigures] = useState<Figures | null>(null);
  const live = useRef(true);

  async function refresh() {
    try {
      const stats = await client.stats();
      const row = stats.reviewers.find((r) => r.reviewerId === me.id);
      if (live.current) {
        setFigures({
          answersToday: row?.answersToday ?? 0,
          agreementWithFinal: row?.agreementWithFinal ?? null,
        });
      }
    } catch {
      // The figures are a courtesy: the review goes on without them, and the next refresh may work.
    }
  }

  useEffect(() => {
    live.current = true;
    void refresh();
    const timer = setInterval(() => void refresh(), FIGURES_EVERY_MS);
    return () => {
      live.current = false;
      clearInterval(timer);
    };
    // Once per client: refresh reads the client and the reviewer from this render.
  }, [client, me.id]);

  useEffect(() => {
    if (answered === 0) return;
    // The answer is sent in the background as the next task shows: look a little later.
    const timer = setTimeout(() => void refresh(), FIGURES_AFTER_ANSWER_MS);
    return () => clearTimeout(timer);
  }, [answered]);

  return figures;
}

/** A field that takes typing: keys there are text, not shortcuts. */
function isTyping(target: EventTarget | null): boolean {
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(target.type);
  }
  return target instanceof HTMLElement && target.isContentEditable;
}

function isControl(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLButtonElement ||
    target instanceof HTMLAnchorElement ||
    (target instanceof HTMLInputElement && !isTyping(target)) ||
    (target instanceof HTMLElement && target.tagName === 'SUMMARY')
  );
}
