import { execFile } from 'node:child_process';
import { missingVariableError } from './env';

// Images for machines with a Docker engine; the local stack runs the same major versions natively.
const POSTGRES_IMAGE = 'postgres:15-alpine';
const KAFKA_IMAGE = 'confluentinc/cp-kafka:7.9.0';

interface Stoppable {
  stop(): Promise<unknown>;
}

// globalSetup and globalTeardown are loaded as separate modules; a global survives between them.
const STARTED = Symbol.for('hitl.testkit.containers');
type GlobalWithContainers = typeof globalThis & { [STARTED]?: Stoppable[] };

/** True when `docker info` answers within timeoutMs. */
export function dockerAvailable(timeoutMs = 3_000): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('docker', ['info'], { timeout: timeoutMs }, (error) => resolve(error === null));
  });
}

/**
 * For a jest globalSetup: starts Postgres and Kafka containers for whichever of DATABASE_URL and
 * KAFKA_BROKERS is unset, and sets those variables. Without Docker it throws the same error that
 * kafkaBrokers()/databaseUrl() do, naming the local-stack commands.
 */
export async function startContainers(): Promise<void> {
  const needPostgres = !process.env['DATABASE_URL'];
  const needKafka = !process.env['KAFKA_BROKERS'];
  if (!needPostgres && !needKafka) return;
  if (!(await dockerAvailable())) throw missingVariableError(needPostgres ? 'DATABASE_URL' : 'KAFKA_BROKERS');

  const started = ((globalThis as GlobalWithContainers)[STARTED] ??= []);
  if (needPostgres) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const postgres = await new PostgreSqlContainer(POSTGRES_IMAGE).start();
    started.push(postgres);
    process.env['DATABASE_URL'] = postgres.getConnectionUri();
  }
  if (needKafka) {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    const kafka = await new KafkaContainer(KAFKA_IMAGE).withKraft().start();
    started.push(kafka);
    // 9093 is the listener KafkaContainer advertises to the host.
    process.env['KAFKA_BROKERS'] = `${kafka.getHost()}:${kafka.getMappedPort(9093)}`;
  }
}

/** For a jest globalTeardown: stops what startContainers started. */
export async function stopContainers(): Promise<void> {
  const holder = globalThis as GlobalWithContainers;
  const started = holder[STARTED] ?? [];
  delete holder[STARTED];
  await Promise.all(started.map((container) => container.stop()));
}
