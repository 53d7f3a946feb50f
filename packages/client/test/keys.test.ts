import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { KeyReader } from '../src/keys';

/** A stream that looks like a terminal: isTTY and setRawMode, with the modes it was set to. */
function fakeTty() {
  const modes: boolean[] = [];
  const stream = Object.assign(new PassThrough(), {
    isTTY: true,
    setRawMode: (mode: boolean) => modes.push(mode),
  });
  return { stream, modes };
}

describe('KeyReader', () => {
  it('reads a pipe one character at a time, lower-cased, ignoring Enter and spaces', async () => {
    const input = new PassThrough();
    const keys = new KeyReader(input);
    expect(keys.interactive).toBe(false);
    input.write('1 S\nq');
    expect(await keys.next()).toEqual({ kind: 'key', key: '1' });
    expect(await keys.next()).toEqual({ kind: 'key', key: 's' });
    expect(await keys.next()).toEqual({ kind: 'key', key: 'q' });
    expect(await keys.next(50)).toEqual({ kind: 'timeout' });
    input.end();
    expect(await keys.next()).toEqual({ kind: 'end' });
    expect(await keys.next()).toEqual({ kind: 'end' });
    keys.close();
    expect(input.listenerCount('data')).toBe(0);
  });

  it('puts a terminal in raw mode, ends on Ctrl-C, and restores the mode when closed', async () => {
    const { stream, modes } = fakeTty();
    const keys = new KeyReader(stream);
    expect(keys.interactive).toBe(true);
    expect(modes).toEqual([true]);
    stream.write('2');
    expect(await keys.next()).toEqual({ kind: 'key', key: '2' });
    stream.write('\u0003');
    expect(await keys.next()).toEqual({ kind: 'end' });
    keys.close();
    expect(modes).toEqual([true, false]);
    expect(stream.listenerCount('keypress')).toBe(0);
  });

  it('forgets keys typed ahead, but not the ones asked for or the end of input', async () => {
    const input = new PassThrough();
    const keys = new KeyReader(input);
    input.write('1q2');
    input.end();
    await new Promise((resolve) => setImmediate(resolve));
    keys.discard((key) => key === 'q');
    expect(await keys.next()).toEqual({ kind: 'key', key: 'q' });
    expect(await keys.next()).toEqual({ kind: 'end' });
    keys.close();
  });

  it('ends when its signal is aborted', async () => {
    const stop = new AbortController();
    const keys = new KeyReader(new PassThrough(), stop.signal);
    const next = keys.next();
    stop.abort();
    expect(await next).toEqual({ kind: 'end' });
    keys.close();
  });
});
