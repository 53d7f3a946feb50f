import type { RecordOf, TopicSpec } from '@hitl/contracts';

/** A record a handler wants produced, to any catalog topic. */
export interface Output {
  readonly topic: TopicSpec;
  readonly value: unknown;
  readonly headers?: Record<string, string>;
}

/** A typed Output: the value must be a record of that topic. */
export function output<T extends TopicSpec>(
  topic: T,
  value: RecordOf<T>,
  headers?: Record<string, string>,
): Output {
  return headers ? { topic, value, headers } : { topic, value };
}
