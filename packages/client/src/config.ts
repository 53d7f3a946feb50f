// The hitl-review command's settings: the environment for where and who, arguments for which tasks.
import { parseArgs } from 'node:util';
import type { ClaimFilters } from './types';

export interface ReviewCommandConfig {
  baseUrl: string;
  apiKey: string;
  /** Must match the server's LEASE_SECONDS: the lease is extended every half of it. */
  leaseSeconds: number;
  filters: ClaimFilters;
  help: boolean;
}

/** A setting that is missing or wrong, named in the message. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export const USAGE = `Usage: hitl-review [--stream NAME] [--reason REASON] [--label LABEL]

Claims review tasks one at a time and shows each; press a label's number to answer, s to skip,
q to give the task back and quit.

  --stream NAME     only tasks of this stream
  --reason REASON   only tasks sent for this reason: no_model, low_confidence, class_rule, audit_sample
  --label LABEL     only tasks the model labelled LABEL

Environment:
  HITL_URL            the review API, e.g. http://127.0.0.1:8080
  HITL_API_KEY        your key, hitl_<id>_<secret> (an admin creates it)
  HITL_LEASE_SECONDS  the server's LEASE_SECONDS (default 300)
`;

export function loadReviewCommandConfig(
  env: Record<string, string | undefined>,
  argv: readonly string[],
): ReviewCommandConfig {
  let values: { stream?: string; reason?: string; label?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        stream: { type: 'string' },
        reason: { type: 'string' },
        label: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const filters: ClaimFilters = {
    ...(values.stream === undefined ? {} : { stream: values.stream }),
    // The server checks the reason against its list and answers HITL_ERR_VALIDATION otherwise.
    ...(values.reason === undefined ? {} : { reason: values.reason as ClaimFilters['reason'] }),
    ...(values.label === undefined ? {} : { label: values.label }),
  };
  if (values.help) return { baseUrl: '', apiKey: '', leaseSeconds: 300, filters, help: true };

  const baseUrl = env.HITL_URL?.trim();
  if (!baseUrl) throw new ConfigError('HITL_URL is required: the review API, e.g. http://127.0.0.1:8080');
  let protocol: string;
  try {
    protocol = new URL(baseUrl).protocol;
  } catch {
    throw new ConfigError(`HITL_URL is not a URL: ${baseUrl}`);
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new ConfigError(`HITL_URL must be http or https, not ${protocol}`);
  }
  const apiKey = env.HITL_API_KEY?.trim();
  if (!apiKey) throw new ConfigError('HITL_API_KEY is required: your key, hitl_<id>_<secret>');
  const lease = env.HITL_LEASE_SECONDS?.trim() || '300';
  const leaseSeconds = Number(lease);
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 1) {
    throw new ConfigError(`HITL_LEASE_SECONDS must be a whole number of seconds ≥ 1, not ${lease}`);
  }
  return { baseUrl, apiKey, leaseSeconds, filters, help: false };
}
