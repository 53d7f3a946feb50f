// The reviewer's screen: one task at a time, answered with 1–9, s (skip) and g or Escape (give
// back), or the buttons. The session (review-session.ts) holds the queue and the leases.
import type { Me, ReviewClient } from '@hitl/client/browser';
import { useEffect, useRef, useState } from 'preact/hooks';
import { labelsOf } from '../describe';
import { keyAction } from '../keys';
import { ReviewSession, type SessionState } from '../review-session';
import { TaskView } from './task-view';

export interface ReviewScreenProps {
  client: ReviewClient;
  me: Me;
  onSignOut: () => void;
}

export function ReviewScreen({ client, me, onSignOut }: ReviewScreenProps) {
  const [state, setState] = useState<SessionState | null>(null);
  // Shown by default; a later version takes the default from the routing policy.
  const [showSuggestion, setShowSuggestion] = useState(true);
  const session = useRef<ReviewSession | null>(null);

  useEffect(() => {
    const started = new ReviewSession({ client, onChange: setState });
    session.current = started;
    return () => void started.stop();
  }, [client]);

  const current = state?.current ?? null;
  const labels = current ? labelsOf(current.task) : [];

  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      const active = session.current;
      if (!active || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
      if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
      active.touch();
      if (state?.paused) {
        if (event.key === 'Enter') active.resume();
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
  }, [current, labels, state?.paused]);

  async function signOut() {
    await session.current?.stop();
    onSignOut();
  }

  return (
    <div class="review">
      <header class="bar">
        <span class="who">
          {me.name} <span class="role">({me.role})</span>
        </span>
        <span class="counts" id="counts">
          {state?.answered ?? 0} answered · {state?.skipped ?? 0} skipped
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
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      {state?.notice && (
        <div class={`notice ${state.notice.tone}`} role="alert" id="notice">
          <span>{state.notice.text}</span>
          <button type="button" class="link" onClick={() => session.current?.dismissNotice()}>
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
        <section class="empty" id="paused">
          <p>You gave your tasks back.</p>
          <button type="button" onClick={() => session.current?.resume()}>
            Go on reviewing <kbd>Enter</kbd>
          </button>
        </section>
      ) : current ? (
        <TaskView
          held={current}
          labels={labels}
          showSuggestion={showSuggestion}
          onAnswer={(label) => session.current?.answer(label)}
          onSkip={() => session.current?.skip()}
          onGiveBack={() => session.current?.giveBack()}
        />
      ) : (
        <section class="empty" id={state?.idle ? 'no-tasks' : 'loading'} aria-live="polite">
          {state?.idle
            ? 'No task is waiting for you. This page looks again every few seconds.'
            : 'Fetching a task…'}
        </section>
      )}
    </div>
  );
}
