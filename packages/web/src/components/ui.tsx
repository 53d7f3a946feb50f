// Small pieces the operator's pages share: loading with polling, tables that scroll on narrow
// screens, and messages read out by screen readers.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../review-session';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  /** The first load has not answered yet. */
  loading: boolean;
  /** Loads again now (and, when polling, goes on at the same pace). */
  reload: () => Promise<void>;
}

/**
 * Calls `load` now, whenever `deps` change, and every `everyMs` while the component is mounted
 * (no polling without it). A call never overlaps the one before; unmounting stops the timer, and
 * an answer arriving after it is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  /** Bumped when deps change and on unmount: an answer to an older load is dropped. */
  const generation = useRef(0);
  const running = useRef<Promise<void> | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;

  /** One load, unless one is under way (a poll skips a beat rather than pile up). */
  const poll = useCallback(async () => {
    if (running.current) return running.current;
    const current = generation.current;
    const run = loadRef.current().then(
      (value) => {
        if (current !== generation.current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (current !== generation.current) return;
        setError(errorText(e));
        setLoading(false);
      },
    );
    const tracked: Promise<void> = run.finally(() => {
      if (running.current === tracked) running.current = null;
    });
    running.current = tracked;
    return tracked;
  }, []);

  /** A fresh load: after a change, one that began before it may miss it. */
  const reload = useCallback(async () => {
    if (running.current) await running.current;
    await poll();
  }, [poll]);

  useEffect(() => {
    generation.current++;
    running.current = null;
    setLoading(true);
    void poll();
    const timer = everyMs === undefined ? undefined : setInterval(() => void poll(), everyMs);
    return () => {
      generation.current++;
      clearInterval(timer);
    };
  }, [...deps, everyMs]);

  return { data, error, loading, reload };
}

/** A table's frame: scrolls sideways within the page on a narrow screen, by keyboard too. */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={`${label} (table)`} tabIndex={0}>
      {children}
    </div>
  );
}

/** Polite news (saved, loaded): read out when it changes. Always in the page, so it is announced. */
export function Status({ id, text }: { id: string; text: string | null }) {
  return (
    <p id={id} class="status" role="status" aria-live="polite">
      {text ?? ''}
    </p>
  );
}

/** A failure: read out at once. */
export function Alert({ id, text }: { id: string; text: string | null }) {
  if (!text) return null;
  return (
    <p id={id} class="error" role="alert">
      {text}
    </p>
  );
}

/** The page's heading, focused when the page is opened from the navigation. */
export function PageTitle({ children }: { children: ComponentChildren }) {
  return (
    <h1 id="page-title" tabIndex={-1}>
      {children}
    </h1>
  );
}

/**
 * An in-page confirmation step (never window.confirm): a group with what will happen, optional
 * fields (a reason), and the two buttons. The first field, or the confirm button, takes the focus.
 */
export function Confirm({
  id,
  question,
  confirmText,
  busy,
  onConfirm,
  onCancel,
  children,
}: {
  id: string;
  question: string;
  confirmText: string;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
  children?: ComponentChildren;
}) {
  const box = useRef<HTMLDivElement>(null);
  // At once, not after paint: the button that opened it is gone, and the focus with it.
  useLayoutEffect(() => {
    const first = box.current?.querySelector<HTMLElement>('input, textarea, select, button');
    first?.focus();
  }, []);
  return (
    <div
      id={id}
      class="confirm"
      role="group"
      aria-labelledby={`${id}-question`}
      ref={box}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          onCancel();
        }
      }}
    >
      <p id={`${id}-question`}>{question}</p>
      {children}
      <div class="buttons">
        <button type="button" id={`${id}-yes`} class="danger" disabled={busy} onClick={onConfirm}>
          {confirmText}
        </button>
        <button type="button" id={`${id}-cancel`} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
