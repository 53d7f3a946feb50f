// Chaos for a replay: a loop that kills the services with SIGKILL at random intervals (a
// supervisor started with restartOnExit starts them again) and kills and restarts the broker of a
// private local stack, while the replay checks that every event is still decided exactly once.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mulberry32 } from '@hitl/model/random';
import { SERVICE_NAMES, type ServiceName, type ServiceSupervisor } from './services';

const run = promisify(execFile);

/** A port nothing listens on now (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A local stack (deploy/local/stack.sh) of its own: its directory and ports, apart from any other. */
export class PrivateStack {
  private constructor(
    private readonly script: string,
    private readonly baseEnv: NodeJS.ProcessEnv,
    readonly env: Record<string, string>,
  ) {}

  /** baseEnv: the environment stack.sh runs in (PATH and the like), under the stack's own settings. */
  static async create(repoRoot: string, dir: string, baseEnv: NodeJS.ProcessEnv): Promise<PrivateStack> {
    const [kafka, controller, sasl, pg] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    return new PrivateStack(join(repoRoot, 'deploy/local/stack.sh'), baseEnv, {
      HITL_STACK_DIR: dir,
      HITL_CACHE_DIR: join(repoRoot, '.cache'),
      KAFKA_PORT: String(kafka),
      KAFKA_CONTROLLER_PORT: String(controller),
      KAFKA_SASL_PORT: String(sasl),
      HITL_PG_PORT: String(pg),
    });
  }

  private async stack(command: 'up' | 'down' | 'env'): Promise<string> {
    const { stdout } = await run('bash', [this.script, command], {
      env: { ...this.baseEnv, ...this.env },
      maxBuffer: 10 * 1024 * 1024,
    });
    return stdout;
  }

  /** Starts what is down (both at first, the broker after killBroker) and gives the connection. */
  async up(): Promise<{ kafkaBrokers: string; databaseUrl: string }> {
    const out = await this.stack('up');
    const value = (name: string) => new RegExp(`${name}=['"]?([^'"\\n]+)`).exec(out)?.[1];
    const kafkaBrokers = value('KAFKA_BROKERS');
    const databaseUrl = value('DATABASE_URL');
    if (!kafkaBrokers || !databaseUrl)
      throw new Error('stack.sh up printed no KAFKA_BROKERS or DATABASE_URL');
    return { kafkaBrokers, databaseUrl };
  }

  /** SIGKILL to the broker, as a crash of its machine would. */
  async killBroker(): Promise<void> {
    const pid = Number((await readFile(join(this.env.HITL_STACK_DIR!, 'kafka', 'kafka.pid'), 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no broker pid in ${this.env.HITL_STACK_DIR}`);
    process.kill(pid, 'SIGKILL');
    // Gone once signalling it fails.
    for (;;) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async down(): Promise<void> {
    await this.stack('down');
  }
}

export interface ChaosOptions {
  /** Each kill comes this many ms after the last, uniformly between the two. */
  killEveryMs: readonly [number, number];
  /** How many times to kill and restart the broker (after the third service kill, then every sixth). */
  brokerRestarts: number;
  /** How long the broker stays down before it is started again. */
  brokerDownMs?: number;
  seed: number;
}

export interface ChaosTally {
  kills: number;
  killed: Record<ServiceName, number>;
  brokerRestarts: number;
}

/** The loop that kills; stop() ends it and resolves once a broker restart under way is done. */
export class ChaosLoop {
  private readonly tally: ChaosTally = {
    kills: 0,
    killed: { inference: 0, router: 0, 'review-api': 0, trainer: 0 },
    brokerRestarts: 0,
  };
  private readonly stopped = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly supervisor: Pick<ServiceSupervisor, 'kill'>,
    private readonly broker: Pick<PrivateStack, 'killBroker' | 'up'> | null,
    private readonly opts: ChaosOptions,
    private readonly log: (line: string) => void,
  ) {}

  get figures(): ChaosTally {
    return { ...this.tally, killed: { ...this.tally.killed } };
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<ChaosTally> {
    this.stopped.abort();
    await this.loop;
    return this.figures;
  }

  private async pause(ms: number): Promise<boolean> {
    if (this.stopped.signal.aborted) return false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.stopped.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    return !this.stopped.signal.aborted;
  }

  private async run(): Promise<void> {
    const rand = mulberry32(this.opts.seed);
    const [low, high] = this.opts.killEveryMs;
    while (await this.pause(low + rand() * (high - low))) {
      const name = SERVICE_NAMES[Math.floor(rand() * SERVICE_NAMES.length)]!;
      if (this.supervisor.kill(name)) {
        this.tally.kills++;
        this.tally.killed[name]++;
        this.log(`[chaos] kill -9 ${name} (kill ${this.tally.kills})`);
      }
      const due = this.tally.kills >= 3 + 6 * this.tally.brokerRestarts;
      if (this.broker && this.tally.brokerRestarts < this.opts.brokerRestarts && due) {
        await this.restartBroker(this.broker);
      }
    }
  }

  private async restartBroker(broker: Pick<PrivateStack, 'killBroker' | 'up'>): Promise<void> {
    const started = performance.now();
    this.log('[chaos] kill -9 the broker');
    await broker.killBroker();
    await new Promise((resolve) => setTimeout(resolve, this.opts.brokerDownMs ?? 3_000));
    await broker.up();
    this.tally.brokerRestarts++;
    this.log(`[chaos] broker back after ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}
