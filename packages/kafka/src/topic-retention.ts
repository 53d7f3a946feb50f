import { allTopics } from '@hitl/contracts';
import { ConfigError } from '@hitl/service-kit';

export const TOPIC_RETENTION_VARIABLE = 'KAFKA_TOPIC_RETENTION_MS';

/**
 * KAFKA_TOPIC_RETENTION_MS: `topic=ms` pairs, comma-separated (`hitl.events.v1=259200000,
 * hitl.decisions.v1=-1`), over the catalog's retentionMs; -1 keeps records forever. Only catalog
 * topics may be named, so a typo fails instead of being ignored. Unset or blank: no overrides.
 */
export function loadTopicRetention(env: NodeJS.ProcessEnv): Record<string, number> {
  const raw = env[TOPIC_RETENTION_VARIABLE]?.trim() ?? '';
  const known = new Set(allTopics.map((t) => t.name));
  const retention: Record<string, number> = {};
  const problems: string[] = [];
  for (const item of raw.split(',').map((i) => i.trim())) {
    if (item === '') continue;
    const match = /^([^=\s]+)=(-1|\d+)$/.exec(item);
    if (!match) {
      problems.push(
        `must be topic=ms pairs (ms a whole number, or -1 for forever), got ${JSON.stringify(item)}`,
      );
      continue;
    }
    const [, topic, ms] = match as unknown as [string, string, string];
    if (!known.has(topic)) problems.push(`${topic} is not a catalog topic (${[...known].join(', ')})`);
    else if (!Number.isSafeInteger(Number(ms))) problems.push(`${topic}: ${ms} is too large`);
    else retention[topic] = Number(ms);
  }
  if (problems.length > 0) {
    throw new ConfigError(problems.map((problem) => ({ variable: TOPIC_RETENTION_VARIABLE, problem })));
  }
  return retention;
}
