#!/usr/bin/env tsx
// `hitl-review`: review tasks from a terminal. The entry point, the one place that reads the
// environment and touches the process.
import { runReviewCommand } from './command';

const stop = new AbortController();
// In raw mode Ctrl-C arrives as a key; these come from outside (kill, a closed terminal). Either
// way the task in hand is given back before the process ends.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => stop.abort());

runReviewCommand(process.argv.slice(2), {
  env: process.env,
  input: process.stdin,
  output: process.stdout,
  errors: process.stderr,
  signal: stop.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
