// hitl-review: who you are, then tasks until you press q. main.ts gives it the process.
import { ReviewClient } from './client';
import { ConfigError, loadReviewCommandConfig, USAGE } from './config';
import { ReviewApiError } from './errors';
import { runTerminalReviewer } from './terminal';

export interface ReviewCommandIo {
  env: Record<string, string | undefined>;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Where errors go. */
  errors: NodeJS.WritableStream;
  /** Ends the session as q does. */
  signal?: AbortSignal;
  /** For tests: the client's transport settings. */
  fetch?: typeof fetch;
}

/** Runs the command; resolves to its exit code (0 done, 1 the API refused, 2 bad usage). */
export async function runReviewCommand(argv: readonly string[], io: ReviewCommandIo): Promise<number> {
  let config;
  try {
    config = loadReviewCommandConfig(io.env, argv);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.errors.write(`hitl-review: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (config.help) {
    io.output.write(USAGE);
    return 0;
  }
  const client = new ReviewClient({
    baseUrl: config.baseUrl,
    apiKey: config.apiKey,
    ...(io.fetch ? { fetch: io.fetch } : {}),
  });
  try {
    const me = await client.me();
    io.output.write(`Reviewing as ${me.name} (${me.id}, ${me.role}) at ${config.baseUrl}\n`);
    await runTerminalReviewer({
      client,
      input: io.input,
      output: io.output,
      leaseSeconds: config.leaseSeconds,
      filters: config.filters,
      ...(io.signal ? { signal: io.signal } : {}),
    });
    return 0;
  } catch (error) {
    if (!(error instanceof ReviewApiError)) throw error;
    io.errors.write(`hitl-review: ${error.code}: ${error.message}\n`);
    return 1;
  }
}
