// The short version of `pnpm chaos`: a small replay on a local stack of its own while services are
// killed with SIGKILL every few seconds and the broker is killed and restarted once. Nothing may be
// lost or decided twice.
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

describe('pnpm chaos', () => {
  it('decides every event exactly once while services and the broker are killed', async () => {
    const out = await mkdtemp(join(tmpdir(), 'hitl-chaos-'));
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli.ts',
        '--chaos',
        '--limit',
        '150',
        '--kill-every',
        '4-8',
        '--broker-restarts',
        '1',
        '--seed',
        '7',
        '--out',
        out,
      ],
      { cwd: join(__dirname, '..'), maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LOG_LEVEL: 'warn' } },
    );
    const line = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>;
    expect(line).toMatchObject({ events: 150, decisions: 150, missing: 0, duplicates: 0, brokerRestarts: 1 });
    expect(line['kills']).toBeGreaterThanOrEqual(3);
    // Each kill is followed by a restart, but the last one may come after the replay ended.
    expect(line['serviceRestarts']).toBeGreaterThanOrEqual(line['kills']! - 1);
    expect(line['longestGapSeconds']).toBeGreaterThan(0);
  }, 900_000);
});
