import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { createLogger, createShutdown, type ShutdownStep } from '../src/index';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ name: 'shutdown-test', destination }) };
}

function exitRecorder() {
  const codes: number[] = [];
  let resolve: (code: number) => void = () => undefined;
  const first = new Promise<number>((r) => (resolve = r));
  return {
    codes,
    first,
    exit: (code: number) => {
      codes.push(code);
      resolve(code);
    },
  };
}

describe('shutdown', () => {
  it('runs the steps in order on SIGTERM, continues past a failing step and exits 143', async () => {
    const { lines, logger } = capture();
    const signals = new EventEmitter();
    const order: string[] = [];
    const steps: ShutdownStep[] = [
      { name: 'stop intake', run: () => void order.push('stop intake') },
      {
        name: 'drain',
        run: async () => {
          await new Promise((r) => setTimeout(r, 20));
          order.push('drain');
        },
      },
      {
        name: 'flush producer',
        run: () => {
          order.push('flush producer');
          throw new Error('broker gone');
        },
      },
      { name: 'close pool', run: () => Promise.resolve(void order.push('close pool')) },
    ];
    const recorder = exitRecorder();
    const shutdown = createShutdown({ logger, steps, signalSource: signals, exit: recorder.exit });

    signals.emit('SIGTERM', 'SIGTERM');
    expect(shutdown.inProgress).toBe(true);
    expect(await recorder.first).toBe(143);
    expect(order).toEqual(['stop intake', 'drain', 'flush producer', 'close pool']);
    expect(lines.find((l) => l['msg'] === 'shutdown step failed')).toMatchObject({
      step: 'flush producer',
      level: 'error',
    });
    expect(recorder.codes).toEqual([143]);
    shutdown.dispose();
    expect(signals.listenerCount('SIGTERM')).toBe(0);
  });

  it('exits 130 on SIGINT', async () => {
    const { logger } = capture();
    const signals = new EventEmitter();
    const recorder = exitRecorder();
    const shutdown = createShutdown({ logger, steps: [], signalSource: signals, exit: recorder.exit });
    signals.emit('SIGINT', 'SIGINT');
    expect(await recorder.first).toBe(130);
    shutdown.dispose();
  });

  it('forces exit 1 on a second signal and skips the remaining steps', async () => {
    const { lines, logger } = capture();
    const signals = new EventEmitter();
    const recorder = exitRecorder();
    let releaseDrain: () => void = () => undefined;
    const ran: string[] = [];
    const shutdown = createShutdown({
      logger,
      signalSource: signals,
      exit: recorder.exit,
      steps: [
        { name: 'drain', run: () => new Promise<void>((r) => (releaseDrain = r)) },
        { name: 'close pool', run: () => void ran.push('close pool') },
      ],
    });
    signals.emit('SIGTERM', 'SIGTERM');
    signals.emit('SIGINT', 'SIGINT');
    expect(await recorder.first).toBe(1);
    expect(lines.some((l) => l['msg'] === 'second signal during shutdown; forcing exit')).toBe(true);
    releaseDrain();
    await shutdown.trigger('again', 0);
    expect(ran).toEqual([]);
    expect(recorder.codes).toEqual([1]);
    shutdown.dispose();
  });

  it('forces exit 1 when the deadline passes, naming the stuck step', async () => {
    const { lines, logger } = capture();
    const signals = new EventEmitter();
    const recorder = exitRecorder();
    let releaseDrain: () => void = () => undefined;
    const shutdown = createShutdown({
      logger,
      deadlineMs: 50,
      signalSource: signals,
      exit: recorder.exit,
      steps: [{ name: 'drain', run: () => new Promise<void>((r) => (releaseDrain = r)) }],
    });
    signals.emit('SIGTERM', 'SIGTERM');
    expect(await recorder.first).toBe(1);
    expect(lines.find((l) => l['msg'] === 'shutdown deadline passed; forcing exit')).toMatchObject({
      step: 'drain',
      level: 'error',
    });
    releaseDrain();
    shutdown.dispose();
  });

  it('runs once when triggered programmatically, with the given exit code', async () => {
    const { logger } = capture();
    const recorder = exitRecorder();
    let runs = 0;
    const shutdown = createShutdown({
      logger,
      signalSource: new EventEmitter(),
      exit: recorder.exit,
      steps: [{ name: 'count', run: () => void (runs += 1) }],
    });
    await Promise.all([shutdown.trigger('consumer crashed', 1), shutdown.trigger('again', 0)]);
    expect(runs).toBe(1);
    expect(recorder.codes).toEqual([1]);
    shutdown.dispose();
  });
});
