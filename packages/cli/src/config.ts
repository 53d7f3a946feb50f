import { list, LOG_LEVELS, oneOf, parseConfig, str, url, type ConfigOf } from '@hitl/service-kit';

const hitlConfigSpec = {
  databaseUrl: url('DATABASE_URL', { protocols: ['postgres:', 'postgresql:'], secret: true }),
  kafkaBrokers: list('KAFKA_BROKERS'),
  kafkaClientId: str('KAFKA_CLIENT_ID', { default: 'hitl-cli' }),
  // A command's output is its stdout lines; logs (on stderr) stay quiet unless asked for.
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { default: 'warn' }),
};

export type HitlConfig = ConfigOf<typeof hitlConfigSpec>;

/** Settings of the hitl command. */
export function loadHitlConfig(env: NodeJS.ProcessEnv): HitlConfig {
  return parseConfig(hitlConfigSpec, env);
}
