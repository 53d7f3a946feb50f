// The four services for a replay: each one found answering on its health port is used as it is;
// each one not running is started here as a child process (node with tsx, from the workspace),
// its output going to a log file, and stopped again with SIGTERM when the replay ends.
import { SERVICE_NODE_FLAGS } from '@hitl/service-kit';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const SERVICE_NAMES = ['inference', 'router', 'review-api', 'trainer'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const PACKAGES: Record<ServiceName, string> = {
  inference: '@hitl/inference',
  router: '@hitl/router',
  'review-api': '@hitl/review-api',
  trainer: '@hitl/trainer',
};

/** Each service's health port when nothing else is said (its HTTP_PORT default). */
export const DEFAULT_HEALTH_PORTS: Record<ServiceName, number> = {
  inference: 8081,
  router: 8082,
  'review-api': 8083,
  trainer: 8084,
};

export const ServiceErrorCode = {
  /** A service started here exited or never became ready. */
  start: 'HITL_ERR_REPLAY_SERVICE_START',
} as const;

export class ServiceStartError extends Error {
  override readonly name = 'ServiceStartError';
  readonly code = ServiceErrorCode.start;
}

/** The directory of a service's package, found through the workspace's dependency on it. */
export function serviceDir(name: ServiceName): string {
  return dirname(dirname(require.resolve(PACKAGES[name])));
}

/** True when GET http://host:port/path answers 200 within the timeout. */
export async function answers(port: number, path: string, timeoutMs = 1_000): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

export interface EnsureServiceOptions {
  /** The health port (HTTP_PORT) it is looked for on and, when started here, given. */
  healthPort: number;
  /** The environment of a service started here, on top of this process's. */
  env: Record<string, string>;
  /** How long a started service may take to answer /readyz (default 120 s). */
  readyTimeoutMs?: number;
}

export class ServiceSupervisor {
  private readonly started = new Map<ServiceName, ChildProcess>();
  private stopping = false;
  private restartCount = 0;

  constructor(
    /** Where the logs of services started here go: <logDir>/<name>.log. */
    private readonly logDir: string,
    private readonly baseEnv: NodeJS.ProcessEnv,
    /** Start a service started here again whenever it exits after it was ready (until stopAll). */
    private readonly restartOnExit = false,
  ) {}

  /** How many times a service started here was started again after it exited. */
  get restarts(): number {
    return this.restartCount;
  }

  /** 'running' when the service already answers on its health port, else 'started' once ready. */
  async ensure(name: ServiceName, opts: EnsureServiceOptions): Promise<'running' | 'started'> {
    if (await answers(opts.healthPort, '/healthz')) return 'running';
    await mkdir(this.logDir, { recursive: true });
    const logPath = join(this.logDir, `${name}.log`);
    const child = await this.spawn(name, opts, logPath);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => {
        void tail(logPath).then((lines) =>
          reject(
            new ServiceStartError(
              `${name} exited with ${code ?? signal} before it was ready; the end of ${logPath}:\n${lines}`,
            ),
          ),
        );
      }),
    );
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
    const ready = (async () => {
      while (Date.now() < deadline) {
        if (await answers(opts.healthPort, '/readyz')) return;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      throw new ServiceStartError(
        `${name} was not ready within ${opts.readyTimeoutMs ?? 120_000} ms (see ${logPath})`,
      );
    })();
    await Promise.race([ready, exited]);
    // From here on an exit is not a start failure; a later one shows in the replay's progress.
    exited.catch(() => undefined);
    if (this.restartOnExit) this.keepRunning(name, opts, logPath, child);
    return 'started';
  }

  /** SIGKILL to a service started here, as a crash would; false when it is not running. */
  kill(name: ServiceName): boolean {
    const child = this.started.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return false;
    return child.kill('SIGKILL');
  }

  private async spawn(name: ServiceName, opts: EnsureServiceOptions, logPath: string): Promise<ChildProcess> {
    const log = createWriteStream(logPath, { flags: 'a' });
    await new Promise<void>((resolve, reject) => {
      log.once('open', () => resolve());
      log.once('error', reject);
    });
    const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, '--import', 'tsx', 'src/main.ts'], {
      cwd: serviceDir(name),
      env: { ...this.baseEnv, ...opts.env, HTTP_PORT: String(opts.healthPort) },
      stdio: ['ignore', log, log],
    });
    this.started.set(name, child);
    child.once('exit', () => log.end());
    return child;
  }

  /** Starts the service again, a second after each exit, as a process supervisor would. */
  private keepRunning(
    name: ServiceName,
    opts: EnsureServiceOptions,
    logPath: string,
    child: ChildProcess,
  ): void {
    child.once('exit', () => {
      if (this.stopping) return;
      setTimeout(() => {
        if (this.stopping) return;
        this.restartCount++;
        this.spawn(name, opts, logPath).then(
          (next) => {
            if (this.stopping) next.kill('SIGTERM');
            else this.keepRunning(name, opts, logPath, next);
          },
          () => undefined,
        );
      }, 1_000);
    });
  }

  /** The services started here that have exited since. */
  exited(): ServiceName[] {
    return [...this.started].filter(([, c]) => c.exitCode !== null || c.signalCode !== null).map(([n]) => n);
  }

  /** SIGTERM to every service started here, then waits for each to exit (SIGKILL after the grace). */
  async stopAll(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    const children = [...this.started.values()];
    this.started.clear();
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await gone;
        clearTimeout(timer);
      }),
    );
  }
}

async function tail(path: string, lines = 20): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
