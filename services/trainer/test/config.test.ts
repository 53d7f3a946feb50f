import { describe, expect, it } from '@jest/globals';
import { loadTrainerConfig } from '../src';

const required = { KAFKA_BROKERS: 'localhost:9092', DATABASE_URL: 'postgres://u:p@localhost/db' };

describe('loadTrainerConfig', () => {
  it('has the documented defaults', () => {
    expect(loadTrainerConfig(required)).toMatchObject({
      modelId: 'default',
      groupId: 'hitl-trainer',
      outboxRelayId: 'hitl-outbox-relay',
      evalShare: 0.2,
      retrainEvery: 200,
      minLabelsPerClass: 5,
      retrainAfterMs: 900_000,
      checkIntervalMs: 500,
      gateAlpha: 0.05,
      minEvalExamples: 5,
      maxFeatures: 20_000,
      regularizationC: 10,
      calibrationMinTemperature: 1,
      trainingWorker: true,
      httpPort: 8084,
      correctionsTopic: 'hitl.corrections.v1',
      modelsTopic: 'hitl.models.v1',
      deadLetterTopic: 'hitl.dlq.v1',
    });
  });

  it('names every variable that is wrong', () => {
    expect(() =>
      loadTrainerConfig({ ...required, EVAL_SHARE: '1', RETRAIN_EVERY: '0', TRAINING_WORKER: 'yes' }),
    ).toThrow(/RETRAIN_EVERY[\s\S]*TRAINING_WORKER/);
    expect(() => loadTrainerConfig({ ...required, EVAL_SHARE: '1' })).toThrow(
      /EVAL_SHARE: must be above 0 and below 1/,
    );
    expect(() => loadTrainerConfig({ ...required, EVAL_SHARE: '0', GATE_ALPHA: '0' })).toThrow(
      /EVAL_SHARE: must be above 0 and below 1[\s\S]*GATE_ALPHA: must be above 0 and below 1/,
    );
    expect(() => loadTrainerConfig({ ...required, GATE_ALPHA: '1.5' })).toThrow(/GATE_ALPHA/);
    expect(() => loadTrainerConfig({})).toThrow(/KAFKA_BROKERS[\s\S]*DATABASE_URL/);
  });

  it('passes KAFKA_SASL_* on to createKafka, and lists a half-set login with the other problems', () => {
    expect(loadTrainerConfig(required).kafkaConnection).toEqual({});
    const sasl = { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'hitl-trainer' };
    expect(
      loadTrainerConfig({ ...required, ...sasl, KAFKA_SASL_PASSWORD: 's3cret' }).kafkaConnection,
    ).toEqual({
      sasl: { mechanism: 'scram-sha-512', username: 'hitl-trainer', password: 's3cret' },
    });
    expect(() => loadTrainerConfig({ ...required, ...sasl, GATE_ALPHA: '1' })).toThrow(
      /GATE_ALPHA[\s\S]*KAFKA_SASL_PASSWORD: is required with KAFKA_SASL_MECHANISM=scram-sha-512/,
    );
    expect(() =>
      loadTrainerConfig({ ...required, KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' }),
    ).toThrow(/KAFKA_SSL_CA_FILE: cannot be read \(ENOENT\)/);
  });
});
