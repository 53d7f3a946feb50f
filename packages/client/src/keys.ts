// Single key presses from a stream: a terminal in raw mode (no Enter needed), or any other stream
// (a pipe, a test's PassThrough) read character by character.
import { emitKeypressEvents } from 'node:readline';

export type KeyEvent = { kind: 'key'; key: string } | { kind: 'timeout' } | { kind: 'end' };

interface RawModeStream {
  isTTY?: boolean;
  setRawMode?: (mode: boolean) => unknown;
}

export class KeyReader {
  /** A person at a terminal (raw mode), rather than a script writing to a pipe. */
  readonly interactive: boolean;
  private readonly pending: KeyEvent[] = [];
  private waiter: ((event: KeyEvent) => void) | undefined;
  private ended = false;
  private readonly detach: () => void;

  constructor(
    private readonly input: NodeJS.ReadableStream,
    signal?: AbortSignal,
  ) {
    const tty = input as NodeJS.ReadableStream & RawModeStream;
    this.interactive = tty.isTTY === true && typeof tty.setRawMode === 'function';
    const onEnd = () => this.push({ kind: 'end' });
    let detachKeys: () => void;
    if (this.interactive) {
      const onKeypress = (text: string | undefined, key: { ctrl?: boolean; name?: string } | undefined) => {
        // Raw mode turns Ctrl-C and Ctrl-D into key presses: both end the session as q does.
        if (key?.ctrl && (key.name === 'c' || key.name === 'd')) onEnd();
        else if (text) this.pushText(text);
      };
      emitKeypressEvents(input);
      tty.setRawMode!(true);
      input.on('keypress', onKeypress);
      input.resume();
      detachKeys = () => {
        input.off('keypress', onKeypress);
        tty.setRawMode!(false);
      };
    } else {
      const onData = (chunk: string | Buffer) => this.pushText(chunk.toString());
      input.on('data', onData);
      detachKeys = () => input.off('data', onData);
    }
    input.on('end', onEnd);
    input.on('error', onEnd);
    signal?.addEventListener('abort', onEnd, { once: true });
    if (signal?.aborted) onEnd();
    this.detach = () => {
      detachKeys();
      input.off('end', onEnd);
      input.off('error', onEnd);
      signal?.removeEventListener('abort', onEnd);
    };
  }

  /** The next key (lower-cased), or timeout after timeoutMs, or end once the input is over. */
  next(timeoutMs?: number): Promise<KeyEvent> {
    const ready = this.pending.shift();
    if (ready) return Promise.resolve(ready);
    if (this.ended) return Promise.resolve({ kind: 'end' });
    return new Promise((resolve) => {
      const timer =
        timeoutMs === undefined ? undefined : setTimeout(() => this.settle({ kind: 'timeout' }), timeoutMs);
      this.waiter = (event) => {
        clearTimeout(timer);
        resolve(event);
      };
    });
  }

  /**
   * Forgets keys typed ahead, so that no key meant for one task answers the next one; keeps the
   * end of input and the keys `keep` says to (a quit should not be lost).
   */
  discard(keep: (key: string) => boolean = () => false): void {
    const kept = this.pending.filter((e) => e.kind !== 'key' || keep(e.key));
    this.pending.length = 0;
    this.pending.push(...kept);
  }

  close(): void {
    this.detach();
    this.input.pause();
  }

  private pushText(text: string): void {
    // Enter and spaces carry no choice; everything else is one key per character.
    for (const key of text) if (key.trim() !== '') this.push({ kind: 'key', key: key.toLowerCase() });
  }

  private push(event: KeyEvent): void {
    if (this.ended) return;
    if (event.kind === 'end') this.ended = true;
    if (this.waiter) this.settle(event);
    else this.pending.push(event);
  }

  private settle(event: KeyEvent): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(event);
  }
}
