import { hostname } from 'node:os';
import { pino, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger } from 'pino';
export type LogLevel = Level | 'silent';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface CreateLoggerOptions {
  /** The service name, on every line as `service`. */
  name: string;
  level?: LogLevel;
  /** Defaults to stdout; tests pass a stream to read the lines back. */
  destination?: DestinationStream;
}

/** JSON lines to stdout with ISO timestamps and the level as a word, as log collectors index them. */
export function createLogger(opts: CreateLoggerOptions): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.name, pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
