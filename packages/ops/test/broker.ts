// The broker's own figures, from Kafka's Java Admin client in the broker's jars: the same calls
// as Kafka's consumer-group tool (kafka-consumer-groups.sh --describe) makes.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { kafkaBrokers } from '@hitl/testkit';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** The broker's jars where deploy/local/stack.sh keeps them (it honours HITL_CACHE_DIR and KAFKA_VERSION). */
export function kafkaLibs(): string {
  const cache = process.env['HITL_CACHE_DIR'] ?? join(REPO_ROOT, '.cache');
  const version = process.env['KAFKA_VERSION'] ?? '4.4.0';
  const libs = join(isAbsolute(cache) ? cache : resolve(REPO_ROOT, cache), `kafka-${version}`, 'libs');
  if (!existsSync(join(libs, `kafka-clients-${version}.jar`))) {
    throw new Error(`no Kafka jars in ${libs}: start the stack with deploy/local/stack.sh up first`);
  }
  return libs;
}

export interface BrokerLagRow {
  group: string;
  topic: string;
  partition: number;
  committed: number;
  logEnd: number;
  lag: number;
}

/** Each committed partition of the groups with its log end and lag, as the broker reports them. */
export async function brokerLag(groups: readonly string[]): Promise<BrokerLagRow[]> {
  const { stdout } = await promisify(execFile)(
    'java',
    [
      '-cp',
      `${kafkaLibs()}/*`,
      join(__dirname, 'fixtures', 'BrokerLag.java'),
      kafkaBrokers().join(','),
      ...groups,
    ],
    { timeout: 60_000 },
  );
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('LAG '))
    .map((line) => {
      const [, group, topic, partition, committed, logEnd, lag] = line.split(' ');
      return {
        group: group!,
        topic: topic!,
        partition: Number(partition),
        committed: Number(committed),
        logEnd: Number(logEnd),
        lag: Number(lag),
      };
    });
}
