import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import {
  ConfigError,
  bool,
  oneOf,
  parseConfig,
  str,
  type ConfigOf,
  type ConfigProblem,
} from '@hitl/service-kit';
import type { SASLOptions } from 'kafkajs';

// How every client of the cluster (the four services and the command-line tools) authenticates and
// encrypts: one list of variables, spread into each service's config spec, so a deployment sets
// the same names everywhere. Unset, a client connects in plaintext without a principal, as before.

export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

export const kafkaSecurityConfigSpec = {
  kafkaSsl: bool('KAFKA_SSL', { default: false }),
  /** PEM; without it the system's trusted CAs verify the broker. */
  kafkaSslCaFile: str('KAFKA_SSL_CA_FILE', { optional: true }),
  /** PEM client certificate and key, for brokers that authenticate clients by TLS (mTLS). */
  kafkaSslCertFile: str('KAFKA_SSL_CERT_FILE', { optional: true }),
  kafkaSslKeyFile: str('KAFKA_SSL_KEY_FILE', { optional: true }),
  /** false accepts any broker certificate: for a test cluster with a self-signed one only. */
  kafkaSslRejectUnauthorized: bool('KAFKA_SSL_REJECT_UNAUTHORIZED', { default: true }),
  kafkaSaslMechanism: oneOf('KAFKA_SASL_MECHANISM', KAFKA_SASL_MECHANISMS, { optional: true }),
  kafkaSaslUsername: str('KAFKA_SASL_USERNAME', { optional: true }),
  kafkaSaslPassword: str('KAFKA_SASL_PASSWORD', { optional: true, secret: true }),
};

export type KafkaSecuritySettings = ConfigOf<typeof kafkaSecurityConfigSpec>;

/** What createKafka's `config` takes to reach a secured listener; empty for a plaintext one. */
export interface KafkaConnectionConfig {
  ssl?: ConnectionOptions;
  sasl?: SASLOptions;
}

/** Settings that cannot work together, each naming its variable (no I/O: files are read later). */
export function kafkaSecurityProblems(settings: KafkaSecuritySettings): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const {
    kafkaSaslMechanism: mechanism,
    kafkaSaslUsername: username,
    kafkaSaslPassword: password,
  } = settings;
  if (mechanism === undefined) {
    // Credentials without a mechanism would otherwise be ignored and the client connect anonymously.
    if (username !== undefined)
      problems.push({ variable: 'KAFKA_SASL_USERNAME', problem: 'is set but KAFKA_SASL_MECHANISM is not' });
    if (password !== undefined)
      problems.push({ variable: 'KAFKA_SASL_PASSWORD', problem: 'is set but KAFKA_SASL_MECHANISM is not' });
  } else {
    if (username === undefined)
      problems.push({
        variable: 'KAFKA_SASL_USERNAME',
        problem: `is required with KAFKA_SASL_MECHANISM=${mechanism}`,
      });
    if (password === undefined)
      problems.push({
        variable: 'KAFKA_SASL_PASSWORD',
        problem: `is required with KAFKA_SASL_MECHANISM=${mechanism}`,
      });
  }
  if ((settings.kafkaSslCertFile === undefined) !== (settings.kafkaSslKeyFile === undefined)) {
    const [set, missing] =
      settings.kafkaSslCertFile === undefined
        ? ['KAFKA_SSL_KEY_FILE', 'KAFKA_SSL_CERT_FILE']
        : ['KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'];
    problems.push({
      variable: missing,
      problem: `is required with ${set} (a client certificate needs its key)`,
    });
  }
  if (!settings.kafkaSsl) {
    // A CA or certificate given for a plaintext connection means TLS was meant and forgotten.
    for (const [variable, value] of [
      ['KAFKA_SSL_CA_FILE', settings.kafkaSslCaFile],
      ['KAFKA_SSL_CERT_FILE', settings.kafkaSslCertFile],
      ['KAFKA_SSL_KEY_FILE', settings.kafkaSslKeyFile],
    ] as const) {
      if (value !== undefined) problems.push({ variable, problem: 'is set but KAFKA_SSL is not true' });
    }
  }
  return problems;
}

export type ReadFile = (path: string) => Buffer;

/**
 * The kafkajs `ssl` and `sasl` options for these settings, with the PEM files read now, at start-up:
 * a missing or unreadable file is a ConfigError (HITL_ERR_CONFIG) naming its variable, every one
 * listed, rather than a TLS failure on the first connection. Call after kafkaSecurityProblems.
 */
export function kafkaConnectionConfig(
  settings: KafkaSecuritySettings,
  readFile: ReadFile = readFileSync,
): KafkaConnectionConfig {
  const problems: ConfigProblem[] = [];
  const read = (variable: string, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      const content = readFile(path);
      if (content.length > 0) return content;
      problems.push({ variable, problem: `names an empty file, ${JSON.stringify(path)}` });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      problems.push({ variable, problem: `cannot be read (${code}): ${JSON.stringify(path)}` });
    }
    return undefined;
  };
  const connection: KafkaConnectionConfig = {};
  if (settings.kafkaSsl) {
    const ca = read('KAFKA_SSL_CA_FILE', settings.kafkaSslCaFile);
    const cert = read('KAFKA_SSL_CERT_FILE', settings.kafkaSslCertFile);
    const key = read('KAFKA_SSL_KEY_FILE', settings.kafkaSslKeyFile);
    connection.ssl = {
      rejectUnauthorized: settings.kafkaSslRejectUnauthorized,
      ...(ca && { ca }),
      ...(cert && { cert }),
      ...(key && { key }),
    };
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const {
    kafkaSaslMechanism: mechanism,
    kafkaSaslUsername: username,
    kafkaSaslPassword: password,
  } = settings;
  if (mechanism !== undefined) {
    if (username === undefined || password === undefined) {
      throw new ConfigError(kafkaSecurityProblems(settings));
    }
    connection.sasl = { mechanism, username, password };
  }
  return connection;
}

/** For a command-line tool: reads the variables from env and returns createKafka's `config`. */
export function loadKafkaConnectionConfig(
  env: NodeJS.ProcessEnv,
  readFile: ReadFile = readFileSync,
): KafkaConnectionConfig {
  const settings = parseConfig(kafkaSecurityConfigSpec, env, { check: kafkaSecurityProblems });
  return kafkaConnectionConfig(settings, readFile);
}
