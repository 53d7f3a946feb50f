import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@hitl/service-kit';
import { describe, expect, it } from '@jest/globals';
import { loadKafkaConnectionConfig } from '../src/security';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadKafkaConnectionConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hitl-kafka-security-'));
  const ca = join(dir, 'ca.pem');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const empty = join(dir, 'empty.pem');
  writeFileSync(ca, 'CA');
  writeFileSync(cert, 'CERT');
  writeFileSync(key, 'KEY');
  writeFileSync(empty, '');

  it('is empty when nothing is set, or everything is set to empty strings (plaintext, as before)', () => {
    expect(loadKafkaConnectionConfig({})).toEqual({});
    expect(
      loadKafkaConnectionConfig({
        KAFKA_SSL: '',
        KAFKA_SSL_CA_FILE: '',
        KAFKA_SSL_CERT_FILE: ' ',
        KAFKA_SSL_KEY_FILE: '',
        KAFKA_SSL_REJECT_UNAUTHORIZED: '',
        KAFKA_SASL_MECHANISM: '',
        KAFKA_SASL_USERNAME: '',
        KAFKA_SASL_PASSWORD: '',
      }),
    ).toEqual({});
  });

  it('turns SCRAM credentials into kafkajs sasl options', () => {
    expect(
      loadKafkaConnectionConfig({
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'hitl-router',
        KAFKA_SASL_PASSWORD: 'p@ss word',
      }),
    ).toEqual({ sasl: { mechanism: 'scram-sha-512', username: 'hitl-router', password: 'p@ss word' } });
  });

  it('reads the PEM files at start-up and verifies the broker unless told not to', () => {
    expect(
      loadKafkaConnectionConfig({
        KAFKA_SSL: 'true',
        KAFKA_SSL_CA_FILE: ca,
        KAFKA_SSL_CERT_FILE: cert,
        KAFKA_SSL_KEY_FILE: key,
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
      }),
    ).toEqual({
      ssl: {
        rejectUnauthorized: true,
        ca: Buffer.from('CA'),
        cert: Buffer.from('CERT'),
        key: Buffer.from('KEY'),
      },
      sasl: { mechanism: 'plain', username: 'u', password: 'p' },
    });
    expect(loadKafkaConnectionConfig({ KAFKA_SSL: '1', KAFKA_SSL_REJECT_UNAUTHORIZED: '0' })).toEqual({
      ssl: { rejectUnauthorized: false },
    });
  });

  it('refuses an unknown mechanism or a boolean that is not one, naming the variable', () => {
    const error = configError(() =>
      loadKafkaConnectionConfig({ KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SSL: 'yes' }),
    );
    expect(error.code).toBe('HITL_ERR_CONFIG');
    expect(error.problems).toEqual([
      { variable: 'KAFKA_SSL', problem: 'must be one of true, false, 1, 0, got "yes"' },
      {
        variable: 'KAFKA_SASL_MECHANISM',
        problem: 'must be one of plain, scram-sha-256, scram-sha-512, got "SCRAM-SHA-512"',
      },
    ]);
  });

  it('refuses an incomplete SASL setting and never shows the password', () => {
    const password = 'hunter2-secret';
    const withoutUser = configError(() =>
      loadKafkaConnectionConfig({ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_PASSWORD: password }),
    );
    expect(withoutUser.problems).toEqual([
      { variable: 'KAFKA_SASL_USERNAME', problem: 'is required with KAFKA_SASL_MECHANISM=scram-sha-256' },
    ]);
    const withoutMechanism = configError(() =>
      loadKafkaConnectionConfig({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: password }),
    );
    expect(withoutMechanism.problems.map((p) => p.variable)).toEqual([
      'KAFKA_SASL_USERNAME',
      'KAFKA_SASL_PASSWORD',
    ]);
    // An empty password counts as unset: a user without one is not a half-configured login.
    const emptyPassword = configError(() =>
      loadKafkaConnectionConfig({
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: '',
      }),
    );
    expect(emptyPassword.problems).toEqual([
      { variable: 'KAFKA_SASL_PASSWORD', problem: 'is required with KAFKA_SASL_MECHANISM=plain' },
    ]);
    for (const error of [withoutUser, withoutMechanism, emptyPassword]) {
      expect(error.message).not.toContain(password);
    }
  });

  it('lists every missing or empty file at once, and files given without KAFKA_SSL', () => {
    const missing = join(dir, 'nope.pem');
    const unreadable = configError(() =>
      loadKafkaConnectionConfig({
        KAFKA_SSL: 'true',
        KAFKA_SSL_CA_FILE: missing,
        KAFKA_SSL_CERT_FILE: empty,
        KAFKA_SSL_KEY_FILE: dir,
      }),
    );
    expect(unreadable.code).toBe('HITL_ERR_CONFIG');
    expect(unreadable.problems).toEqual([
      { variable: 'KAFKA_SSL_CA_FILE', problem: `cannot be read (ENOENT): ${JSON.stringify(missing)}` },
      { variable: 'KAFKA_SSL_CERT_FILE', problem: `names an empty file, ${JSON.stringify(empty)}` },
      { variable: 'KAFKA_SSL_KEY_FILE', problem: `cannot be read (EISDIR): ${JSON.stringify(dir)}` },
    ]);
    expect(
      configError(() => loadKafkaConnectionConfig({ KAFKA_SSL_CA_FILE: ca, KAFKA_SSL_CERT_FILE: cert }))
        .problems,
    ).toEqual([
      {
        variable: 'KAFKA_SSL_KEY_FILE',
        problem: 'is required with KAFKA_SSL_CERT_FILE (a client certificate needs its key)',
      },
      { variable: 'KAFKA_SSL_CA_FILE', problem: 'is set but KAFKA_SSL is not true' },
      { variable: 'KAFKA_SSL_CERT_FILE', problem: 'is set but KAFKA_SSL is not true' },
    ]);
  });
});
