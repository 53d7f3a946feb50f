import { EventEmitter } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { createLogger, createMetricsRegistry, runService } from '../src/index';

const logger = createLogger({ name: 'run-service-test', level: 'silent' });

describe('runService', () => {
  it('serves health, then on SIGTERM turns /readyz 503 before its steps and closes the server after them', async () => {
    const signals = new EventEmitter();
    const codes: number[] = [];
    let exited: () => void = () => undefined;
    const done = new Promise<void>((r) => (exited = r));
    const readyzDuringDrain: number[] = [];
    const { health } = await runService({
      logger,
      registry: createMetricsRegistry({ service: 'run-service-test', defaultMetrics: false }),
      health: { port: 0, host: '127.0.0.1' },
      start: () => Promise.resolve(),
      readiness: () => true,
      signalSource: signals,
      exit: (code) => {
        codes.push(code);
        exited();
      },
      steps: [
        {
          name: 'drain',
          run: async () => {
            const res = await fetch(`http://127.0.0.1:${port}/readyz`);
            readyzDuringDrain.push(res.status);
          },
        },
      ],
    });
    const port = health.port;
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);

    signals.emit('SIGTERM', 'SIGTERM');
    await done;
    expect(readyzDuringDrain).toEqual([503]);
    expect(codes).toEqual([143]);
    expect(() => health.port).toThrow();
  });

  it('runs the shutdown and exits 1 when start fails', async () => {
    const codes: number[] = [];
    const { shutdown } = await runService({
      logger,
      registry: createMetricsRegistry({ service: 'run-service-test', defaultMetrics: false }),
      health: { port: 0, host: '127.0.0.1' },
      start: () => Promise.reject(new Error('cannot reach broker')),
      readiness: () => false,
      signalSource: new EventEmitter(),
      exit: (code) => codes.push(code),
      steps: [],
    });
    expect(codes).toEqual([1]);
    shutdown.dispose();
  });
});
