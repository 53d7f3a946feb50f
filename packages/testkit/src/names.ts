import { randomBytes } from 'node:crypto';

// Postgres truncates identifiers longer than this silently, which would make two names collide.
const MAX_PG_IDENTIFIER = 63;

function suffix(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A name unique to this run, valid as a Kafka topic, consumer group or transactional id. */
export function uniqueName(prefix: string): string {
  const safePrefix = prefix.replace(/[^A-Za-z0-9._-]/g, '-');
  return `${safePrefix}-${suffix()}`;
}

/** The same idea as uniqueName, shaped as an unquoted Postgres identifier: [a-z_][a-z0-9_]*, ≤ 63 chars. */
export function uniqueIdentifier(prefix: string): string {
  const tail = suffix().replace(/-/g, '_');
  let head = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (!/^[a-z_]/.test(head)) head = `_${head}`;
  head = head.slice(0, MAX_PG_IDENTIFIER - tail.length - 1);
  return `${head}_${tail}`;
}
