// Connection settings for integration tests. Tests use real servers: the local stack started by
// deploy/local/stack.sh (settings in the environment), or containers where Docker answers.

const HOW_TO_START =
  'Start the local stack with `bash deploy/local/stack.sh up` and load its settings with ' +
  '`eval "$(bash deploy/local/stack.sh env)"` before running the tests ' +
  '(or, where a Docker engine answers, call startContainers() from @hitl/testkit in a jest globalSetup).';

export function missingVariableError(variable: string): Error {
  return new Error(`${variable} is not set. ${HOW_TO_START}`);
}

export function kafkaBrokers(): string[] {
  const brokers = (process.env['KAFKA_BROKERS'] ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker.length > 0);
  if (brokers.length === 0) throw missingVariableError('KAFKA_BROKERS');
  return brokers;
}

export function databaseUrl(): string {
  const url = process.env['DATABASE_URL']?.trim();
  if (!url) throw missingVariableError('DATABASE_URL');
  return url;
}
