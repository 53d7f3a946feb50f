import { afterEach, describe, expect, it } from '@jest/globals';
import {
  Counter,
  createHealthServer,
  createLogger,
  createMetricsRegistry,
  type HealthServer,
} from '../src/index';

const logger = createLogger({ name: 'health-test', level: 'silent' });
let server: HealthServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function get(path: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${server!.port}${path}`);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

describe('health server', () => {
  it('answers /healthz, /readyz and /metrics on a free port', async () => {
    const registry = createMetricsRegistry({ service: 'health-test' });
    const decisions = new Counter({
      name: 'hitl_decisions_total',
      help: 'Decisions made.',
      registers: [registry],
    });
    decisions.inc(3);
    let ready = false;
    server = createHealthServer({ port: 0, host: '127.0.0.1', registry, readiness: () => ready, logger });
    await server.start();
    expect(server.port).toBeGreaterThan(0);

    expect(await get('/healthz')).toMatchObject({ status: 200 });
    expect(await get('/readyz')).toMatchObject({ status: 503 });
    ready = true;
    expect(await get('/readyz')).toMatchObject({ status: 200 });

    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain');
    expect(metrics.body).toContain('hitl_decisions_total{service="health-test"} 3');
    expect(metrics.body).toContain('process_cpu_user_seconds_total');

    server.markNotReady();
    expect(await get('/readyz')).toMatchObject({ status: 503 });
    expect(await get('/healthz')).toMatchObject({ status: 200 });
    expect(await get('/nope')).toMatchObject({ status: 404 });
  });

  it('answers 503 when the readiness check throws or hangs', async () => {
    const registry = createMetricsRegistry({ service: 'health-test', defaultMetrics: false });
    let check: () => Promise<boolean> = () => Promise.reject(new Error('broker unreachable'));
    server = createHealthServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      readiness: () => check(),
      logger,
      readinessTimeoutMs: 50,
    });
    await server.start();
    expect((await get('/readyz')).status).toBe(503);
    check = () => new Promise<boolean>(() => undefined);
    expect((await get('/readyz')).status).toBe(503);
  });

  it('closes while a client holds a keep-alive connection', async () => {
    const registry = createMetricsRegistry({ service: 'health-test', defaultMetrics: false });
    server = createHealthServer({ port: 0, host: '127.0.0.1', registry, readiness: () => true, logger });
    await server.start();
    expect((await get('/healthz')).status).toBe(200);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(() => server!.port).toThrow(expect.objectContaining({ code: 'HITL_ERR_HEALTH_NOT_LISTENING' }));
  });
});
