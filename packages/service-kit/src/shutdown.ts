import { constants } from 'node:os';
import type { Logger } from './logger';

export interface ShutdownStep {
  /** Shown in the logs, e.g. 'pause consumers', 'drain in-flight', 'flush producer', 'close pool'. */
  name: string;
  run: () => void | Promise<void>;
}

/** What delivers signals: `process` in a service, an EventEmitter in a test. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface CreateShutdownOptions {
  logger: Logger;
  /** Run in order, each after the previous one settles; a failing step is logged and the rest still run. */
  steps: readonly ShutdownStep[];
  /** Time for all steps together before exit is forced with code 1. Default 25 s, inside Kubernetes' 30 s grace period. */
  deadlineMs?: number;
  signals?: readonly NodeJS.Signals[];
  signalSource?: SignalSource;
  exit?: (code: number) => void;
}

export interface Shutdown {
  /**
   * Runs the sequence once and exits with exitCode; later calls return the same promise. Use it
   * for a fatal error (exitCode 1); signals call it with 128 + the signal number.
   */
  trigger(reason: string, exitCode: number): Promise<void>;
  readonly inProgress: boolean;
  /** Removes the signal listeners (tests, or a process that hands signals to someone else). */
  dispose(): void;
}

/** The exit code a shell reports for a process killed by the signal: 143 for SIGTERM, 130 for SIGINT. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** Installs signal listeners at once and runs steps on the first signal; a second signal forces exit 1. */
export function createShutdown(opts: CreateShutdownOptions): Shutdown {
  const { logger, steps } = opts;
  const deadlineMs = opts.deadlineMs ?? 25_000;
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT'];
  const source: SignalSource = opts.signalSource ?? process;
  const exitProcess = opts.exit ?? ((code: number) => process.exit(code));

  let running: Promise<void> | undefined;
  let exited = false;
  let currentStep = '';

  function exit(code: number): void {
    if (exited) return;
    exited = true;
    logger.flush();
    exitProcess(code);
  }

  async function runSteps(reason: string, exitCode: number): Promise<void> {
    logger.info({ reason, steps: steps.map((s) => s.name), deadlineMs }, 'shutdown started');
    // Deliberately not unref'd: if a step hangs on a promise nothing else keeps alive, Node would
    // otherwise run out of work and exit 0 as if the shutdown had succeeded.
    const deadline = setTimeout(() => {
      logger.error({ step: currentStep, deadlineMs }, 'shutdown deadline passed; forcing exit');
      exit(1);
    }, deadlineMs);
    try {
      for (const step of steps) {
        if (exited) return;
        currentStep = step.name;
        const started = Date.now();
        try {
          await step.run();
          logger.info({ step: step.name, ms: Date.now() - started }, 'shutdown step done');
        } catch (error) {
          logger.error({ err: error, step: step.name, ms: Date.now() - started }, 'shutdown step failed');
        }
      }
      logger.info({ reason, exitCode }, 'shutdown complete');
      exit(exitCode);
    } finally {
      clearTimeout(deadline);
    }
  }

  function trigger(reason: string, exitCode: number): Promise<void> {
    running ??= runSteps(reason, exitCode);
    return running;
  }

  function onSignal(signal: NodeJS.Signals): void {
    if (running) {
      logger.error({ signal, step: currentStep }, 'second signal during shutdown; forcing exit');
      exit(1);
      return;
    }
    // runSteps catches each step's error itself, so this promise does not reject.
    void trigger(signal, signalExitCode(signal));
  }

  for (const signal of signals) source.on(signal, onSignal);

  return {
    trigger,
    get inProgress() {
      return running !== undefined && !exited;
    },
    dispose() {
      for (const signal of signals) source.off(signal, onSignal);
    },
  };
}
