// deploy/local/stack.sh status against a broker that is slow to answer: it must wait for it, not
// call it dead. A stack of its own (its own directory and free ports), so that freezing its
// broker touches no other test.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fromRoot } from '../scripts/images';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let env: NodeJS.ProcessEnv;
const stack = (command: string, extra: NodeJS.ProcessEnv = {}) =>
  run('bash', [fromRoot('deploy/local/stack.sh'), command], { env: { ...env, ...extra }, timeout: 240_000 });

beforeAll(async () => {
  env = {
    ...process.env,
    HITL_STACK_DIR: await mkdtemp(join(tmpdir(), 'hitl-status-stack-')),
    HITL_CACHE_DIR: process.env['HITL_CACHE_DIR'] ?? fromRoot('.cache'),
    KAFKA_PORT: String(await freePort()),
    KAFKA_CONTROLLER_PORT: String(await freePort()),
    KAFKA_SASL_PORT: String(await freePort()),
    HITL_PG_PORT: String(await freePort()),
  };
  await stack('up');
}, 300_000);

afterAll(async () => {
  if (env) await stack('down').catch(() => undefined);
}, 120_000);

describe('stack.sh status', () => {
  it('waits for a broker that answers only after a few seconds, and calls it ready', async () => {
    const pid = Number((await readFile(join(env['HITL_STACK_DIR']!, 'kafka', 'kafka.pid'), 'utf8')).trim());
    // Frozen for 6 s: longer than the 3 s the probe used to give it.
    process.kill(pid, 'SIGSTOP');
    const thaw = setTimeout(() => process.kill(pid, 'SIGCONT'), 6_000);
    try {
      const { stdout } = await stack('status');
      expect(stdout).toMatch(/^kafka: +running, pid \d+, .*ready/m);
      expect(stdout).toMatch(/^postgres: +running/m);
    } finally {
      clearTimeout(thaw);
      process.kill(pid, 'SIGCONT');
    }
    // A broker that stays frozen past the timeout is reported, with the wait.
    process.kill(pid, 'SIGSTOP');
    try {
      const failed = await stack('status', { HITL_STATUS_TIMEOUT: '2' }).then(
        () => null,
        (error: { code: number; stdout: string }) => error,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stdout).toMatch(
        /^kafka: +process running \(pid \d+\) but not answering on .* within 2 s$/m,
      );
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }, 120_000);
});
