import { LOG_LEVELS, oneOf, parseConfig, url, type ConfigOf } from '@hitl/service-kit';

const migrateConfigSpec = {
  databaseUrl: url('DATABASE_URL', { protocols: ['postgres:', 'postgresql:'], secret: true }),
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { default: 'info' }),
};

export type MigrateConfig = ConfigOf<typeof migrateConfigSpec>;

/** Settings of the migrate command. */
export function loadMigrateConfig(env: NodeJS.ProcessEnv): MigrateConfig {
  return parseConfig(migrateConfigSpec, env);
}
