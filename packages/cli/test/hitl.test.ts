import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createValidator, ModelLifecycle, topics } from '@hitl/contracts';
import { createPool, listModelVersions, migrate, promoteModelVersion, registerModelVersion } from '@hitl/db';
import { ensureTopics } from '@hitl/kafka';
import { createTestDatabase, kafkaBrokers, uniqueName, type TestDatabase } from '@hitl/testkit';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { pino } from 'pino';
import { OUTBOX_ID_HEADER } from '../src/index';
import {
  featuresModelOnnx,
  logitsModelOnnx,
  ModelsTopicTail,
  runCli,
  sklearnFixture,
  testKafka,
  textModelOnnx,
  unopenableTextModelOnnx,
  writeModel,
} from './helpers';

let db: TestDatabase | undefined;
let pool: Pool;
let kafka: Kafka;
let dir: string;
let env: NodeJS.ProcessEnv;
let textModel: string;
let textModel2: string;

beforeAll(async () => {
  db = await createTestDatabase('hitl_cli');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 2, applicationName: 'hitl-cli-test' });
  kafka = testKafka();
  await ensureTopics({ kafka, logger: pino({ level: 'silent' }), topics: [topics.models] });
  env = { DATABASE_URL: db.url, KAFKA_BROKERS: kafkaBrokers().join(','), LOG_LEVEL: 'silent' };
  dir = await mkdtemp(join(tmpdir(), 'hitl-cli-test-'));
  textModel = await writeModel(dir, 'text-1.onnx', textModelOnnx(1));
  textModel2 = await writeModel(dir, 'text-2.onnx', textModelOnnx(2));
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A model id of its own per test: hitl.models.v1 is shared by every run on the broker. */
function newModelId(): string {
  return uniqueName('cli-spam');
}

async function unpublishedOutboxRows(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL',
  );
  return rows[0]!.n;
}

async function outboxRowsOf(modelId: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE key = $1', [
    modelId,
  ]);
  return rows[0]!.n;
}

describe('hitl models import', () => {
  it('registers and promotes a model trained here, and publishes model.promoted', async () => {
    const modelId = newModelId();
    const tail = await ModelsTopicTail.open(kafka);
    const run = await runCli(
      [
        'models',
        'import',
        '--model',
        modelId,
        '--file',
        textModel,
        '--metrics',
        '{"macroF1":0.93,"perClass":{"spam":0.9}}',
        '--temperature',
        '2',
        '--promote',
        '--actor',
        'alice',
        '--reason',
        'first model',
      ],
      env,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]).toMatchObject({
      modelId,
      version: 1,
      sha256: createHash('sha256')
        .update(await readFile(textModel))
        .digest('hex'),
      classes: ['ham', 'spam'],
      inputKind: 'text',
      featureWidth: null,
      status: 'promoted',
      // Kept with the version, for inference to apply: the file carries no calibration.
      temperature: 2,
    });

    const records = await tail.read(modelId, 1);
    expect(records).toHaveLength(1);
    expect(records[0]!.value).toMatchObject({
      type: 'model.promoted',
      version: 1,
      data: {
        model: { id: modelId, version: 1 },
        parentVersion: null,
        classes: ['ham', 'spam'],
        inputKind: 'text',
        metrics: { macroF1: 0.93 },
        actor: 'alice',
        reason: 'first model',
      },
    });
    // Only the figures travel; the nested per-class entry stays in the registry.
    expect(records[0]!.value.data.metrics).toEqual({ macroF1: 0.93 });
    expect(createValidator(ModelLifecycle).check(records[0]!.value)).toBe(true);
    expect(records[0]!.headers[OUTBOX_ID_HEADER]).toMatch(/^\d+$/);
    expect(await unpublishedOutboxRows()).toBe(0);
  });

  it('registers a candidate without publishing; promoting it later publishes one record', async () => {
    const modelId = newModelId();
    const tail = await ModelsTopicTail.open(kafka);
    await writeModel(dir, 'features.onnx', featuresModelOnnx());
    // A relative --file is found from the directory the command was typed in.
    const imported = await runCli(
      ['models', 'import', '--model', modelId, '--file', 'features.onnx'],
      env,
      dir,
    );
    expect(imported.code).toBe(0);
    expect(imported.lines[0]).toMatchObject({
      version: 1,
      classes: ['high', 'low', 'mid'],
      inputKind: 'features',
      featureWidth: 3,
      status: 'candidate',
    });
    expect(await outboxRowsOf(modelId)).toBe(0);

    const promoted = await runCli(['models', 'promote', '--model', modelId, '--version', '1'], env);
    expect(promoted.code).toBe(0);
    expect(promoted.lines[0]).toMatchObject({ version: 1, status: 'promoted' });
    // Exactly one record after the tail: the import published none.
    const records = await tail.read(modelId, 1);
    expect(records.map((r) => [r.value.type, r.value.data.model.version])).toEqual([['model.promoted', 1]]);

    // Promoting the promoted version again changes and publishes nothing.
    const again = await runCli(['models', 'promote', '--model', modelId, '--version', '1'], env);
    expect(again.code).toBe(0);
    expect(await outboxRowsOf(modelId)).toBe(1);
  });

  it.each([
    ['sklearn-linear.onnx', 'features', 4],
    ['sklearn-text.onnx', 'text', null],
  ])('imports the scikit-learn model %s exported by skl2onnx', async (name, inputKind, featureWidth) => {
    const modelId = newModelId();
    const fixture = sklearnFixture(name);
    const run = await runCli(['models', 'import', '--model', modelId, '--file', fixture.path], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.lines[0]).toMatchObject({
      classes: fixture.classes,
      inputKind,
      featureWidth,
      status: 'candidate',
    });
    const [stored] = await listModelVersions(pool, modelId);
    expect(stored?.modelCard).toMatchObject({ importedFrom: name, classesSource: 'classifier' });
  });

  it.each([
    [
      'a ZipMap output',
      () => sklearnFixture('sklearn-zipmap.onnx').path,
      [],
      'HITL_ERR_MODEL_ZIPMAP',
      /zipmap off/,
    ],
    [
      'bytes that are no ONNX model',
      () => writeModel(dir, 'garbage.onnx', Buffer.from('definitely not a protobuf model')),
      [],
      'HITL_ERR_MODEL_DECODE',
      /not an ONNX model/,
    ],
    [
      'a model onnxruntime cannot open',
      () => writeModel(dir, 'bad-locale.onnx', unopenableTextModelOnnx()),
      [],
      'HITL_ERR_MODEL_SESSION',
      /could not load the model/,
    ],
    [
      'a model whose output is not probabilities',
      () => writeModel(dir, 'logits.onnx', logitsModelOnnx()),
      [],
      'HITL_ERR_MODEL_OUTPUT',
      /does not hold probabilities/,
    ],
    [
      'classes that do not fit the output',
      () => textModel,
      ['--classes', 'a,b,c'],
      'HITL_ERR_MODEL_OUTPUT',
      /has 2 columns but the model has 3 classes/,
    ],
    [
      'the wrong input kind',
      () => textModel,
      ['--input-kind', 'features'],
      'HITL_ERR_MODEL_INPUT',
      /said to take features input/,
    ],
  ])(
    'refuses %s with exit 65 and its code, registering nothing',
    async (_what, file, extra, code, message) => {
      const modelId = newModelId();
      const path = await file();
      const run = await runCli(
        ['models', 'import', '--model', modelId, '--file', path, '--promote', ...extra],
        env,
      );
      expect(run.code).toBe(65);
      expect(run.stderr).toMatch(new RegExp(`^error ${code}: \\S`));
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe('');
      expect(await listModelVersions(pool, modelId)).toEqual([]);
      expect(await outboxRowsOf(modelId)).toBe(0);
    },
  );

  it('refuses a file it cannot read with exit 66', async () => {
    const run = await runCli(
      ['models', 'import', '--model', newModelId(), '--file', join(dir, 'missing.onnx')],
      env,
    );
    expect(run.code).toBe(66);
    expect(run.stderr).toMatch(/^error HITL_ERR_FILE_UNREADABLE: cannot read .*missing\.onnx/);
  });

  it('refuses a parent version that does not exist with the registry code', async () => {
    const modelId = newModelId();
    const run = await runCli(
      ['models', 'import', '--model', modelId, '--file', textModel, '--parent', '3'],
      env,
    );
    expect(run.code).toBe(65);
    expect(run.stderr).toMatch(/^error HITL_ERR_MODEL_INVALID: parent version 3/);
    expect(await listModelVersions(pool, modelId)).toEqual([]);
  });
});

describe('hitl models promote, rollback, list', () => {
  it('rolls back: publishes model.rolled_back for the bad version, then model.promoted for the previous', async () => {
    const modelId = newModelId();
    const tail = await ModelsTopicTail.open(kafka);
    const imports = [
      ['--file', textModel, '--promote'],
      ['--file', textModel2, '--parent', '1', '--promote'],
    ];
    for (const extra of imports) {
      expect((await runCli(['models', 'import', '--model', modelId, ...extra], env)).code).toBe(0);
    }

    const run = await runCli(
      ['models', 'rollback', '--model', modelId, '--actor', 'oncall', '--reason', 'precision dropped'],
      env,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.lines).toEqual([expect.objectContaining({ modelId, version: 1, status: 'promoted' })]);

    const records = await tail.read(modelId, 4);
    expect(records.map((r) => [r.value.type, r.value.data.model.version])).toEqual([
      ['model.promoted', 1],
      ['model.promoted', 2],
      ['model.rolled_back', 2],
      ['model.promoted', 1],
    ]);
    expect(records[2]!.value.data).toMatchObject({
      parentVersion: 1,
      actor: 'oncall',
      reason: 'precision dropped',
    });
    const outboxIds = records.map((r) => Number(r.headers[OUTBOX_ID_HEADER]));
    expect(outboxIds).toEqual([...outboxIds].sort((a, b) => a - b));

    const list = await runCli(['models', 'list', '--model', modelId], env);
    expect(list.code).toBe(0);
    expect(list.lines.map((l) => [l.version, l.status, l.parentVersion])).toEqual([
      [1, 'promoted', null],
      [2, 'rolled_back', 1],
    ]);

    // Nothing earlier left to roll back to: the registry's code, exit 65, nothing published.
    const refused = await runCli(['models', 'rollback', '--model', modelId], env);
    expect(refused.code).toBe(65);
    expect(refused.stderr).toMatch(/^error HITL_ERR_MODEL_NO_PREVIOUS: /);
    expect(await outboxRowsOf(modelId)).toBe(4);
  });

  it('lists each version’s certified thresholds in short, null for a version without', async () => {
    const modelId = newModelId();
    const figures = { predicted: 300, correct: 0, decisions: 0, lowerBound: null, reason: 'r' };
    const model = { modelId, classes: ['spam', 'ham'], inputKind: 'text' as const };
    await registerModelVersion(pool, {
      ...model,
      onnx: textModelOnnx(1),
      thresholds: {
        targetAccuracy: 0.99,
        confidenceLevel: 0.95,
        examples: 900,
        perClass: {
          ham: { ...figures, threshold: 0.93, decisions: 412, correct: 412, lowerBound: 0.9928 },
          spam: { ...figures, threshold: null },
        },
      },
    });
    await registerModelVersion(pool, { ...model, onnx: textModelOnnx(2) });
    const list = await runCli(['models', 'list', '--model', modelId], env);
    expect(list).toMatchObject({ code: 0, stderr: '' });
    expect(list.lines.map((l) => [l.version, l.certified])).toEqual([
      // In the model's order of classes.
      [1, { targetAccuracy: 0.99, confidenceLevel: 0.95, thresholds: 'spam:people ham≥0.93' }],
      [2, null],
    ]);
  });

  it('reports registry errors with their code and exit 65', async () => {
    const modelId = newModelId();
    expect((await runCli(['models', 'import', '--model', modelId, '--file', textModel], env)).code).toBe(0);
    const cases: [string[], string][] = [
      [['models', 'promote', '--model', modelId, '--version', '9'], 'HITL_ERR_MODEL_NOT_FOUND'],
      [['models', 'rollback', '--model', modelId], 'HITL_ERR_MODEL_NOT_FOUND'],
      [['models', 'list', '--model', newModelId()], 'HITL_ERR_MODEL_NOT_FOUND'],
    ];
    for (const [argv, code] of cases) {
      const run = await runCli(argv, env);
      expect({ argv, code: run.code, stderr: run.stderr }).toEqual({
        argv,
        code: 65,
        stderr: expect.stringMatching(new RegExp(`^error ${code}: `)),
      });
    }
  });
});

describe('relaying the outbox', () => {
  it('keeps a committed change when Kafka is unreachable, exits 69, and `outbox relay` publishes it later', async () => {
    const modelId = newModelId();
    const tail = await ModelsTopicTail.open(kafka);
    // Nothing listens on port 1: the connection is refused at once.
    const offline = { ...env, KAFKA_BROKERS: '127.0.0.1:1' };
    // With nothing to publish, a command needs no broker.
    expect((await runCli(['models', 'import', '--model', modelId, '--file', textModel], offline)).code).toBe(
      0,
    );

    const run = await runCli(['models', 'promote', '--model', modelId, '--version', '1'], offline);
    expect(run.code).toBe(69);
    expect(run.lines[0]).toMatchObject({ version: 1, status: 'promoted' });
    expect(run.stderr).toMatch(
      /^error HITL_ERR_OUTBOX_RELAY: .*no registry change is undone: run `hitl outbox relay`/,
    );
    expect(await unpublishedOutboxRows()).toBe(1);

    const relay = await runCli(['outbox', 'relay'], env);
    expect(relay.code).toBe(0);
    expect(relay.lines).toEqual([{ published: 1 }]);
    const records = await tail.read(modelId, 1);
    expect(records.map((r) => r.value.type)).toEqual(['model.promoted']);
    expect(await unpublishedOutboxRows()).toBe(0);
  }, 120_000);

  it('publishes what the outbox holds exactly once when two `hitl outbox relay` run at once', async () => {
    const tail = await ModelsTopicTail.open(kafka);
    const modelIds = [newModelId(), newModelId(), newModelId()];
    // Promoted without relaying, as a run that could not reach Kafka leaves them: in the outbox.
    for (const modelId of modelIds) {
      await registerModelVersion(pool, {
        modelId,
        onnx: textModelOnnx(),
        classes: ['ham', 'spam'],
        inputKind: 'text',
      });
      await promoteModelVersion(pool, modelId, 1);
    }
    expect(await unpublishedOutboxRows()).toBe(3);

    const runs = await Promise.all([runCli(['outbox', 'relay'], env), runCli(['outbox', 'relay'], env)]);
    expect(runs.map((r) => [r.code, r.stderr])).toEqual([
      [0, ''],
      [0, ''],
    ]);
    // One relay leads and publishes; the other finds the lead taken and leaves the rows to it.
    expect(runs.map((r) => r.lines[0]!.published as number).reduce((a, b) => a + b)).toBe(3);
    for (const modelId of modelIds) {
      const records = await tail.read(modelId, 1);
      expect(records.map((r) => r.value.type)).toEqual(['model.promoted']);
    }
    expect(await unpublishedOutboxRows()).toBe(0);
  });
});

describe('usage and setup errors', () => {
  it.each([
    [[], 'no command given'],
    [['models'], 'hitl models needs one of: import, promote, rollback, list'],
    [['models', 'retrain'], 'unknown command: hitl models retrain'],
    [['models', 'promote', '--model', 'm'], '--version is required'],
    [['models', 'promote', '--model', 'm', '--version', 'two'], '--version must be a positive integer'],
    [['models', 'list', '--model', 'm', '--colour'], "Unknown option '--colour'"],
    [['models', 'import', '--file', 'x.onnx'], '--model is required'],
  ])('hitl %j exits 64 with the usage', async (argv, message) => {
    const run = await runCli(argv, env);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('usage: hitl');
    expect(run.stdout).toBe('');
  });

  it('prints the usage on stdout for --help, without needing any setting', async () => {
    const run = await runCli(['models', 'import', '--help'], {});
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('usage: hitl');
  });

  it('names the missing settings and exits 78', async () => {
    const run = await runCli(['models', 'list', '--model', 'm'], { LOG_LEVEL: 'silent' });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('DATABASE_URL: is required but not set');
    expect(run.stderr).toContain('KAFKA_BROKERS: is required but not set');
  });

  it('says so when the database was never migrated', async () => {
    const bare = await createTestDatabase('hitl_cli_bare');
    try {
      const run = await runCli(['models', 'list', '--model', 'm'], { ...env, DATABASE_URL: bare.url });
      expect(run.code).toBe(78);
      expect(run.stderr).toMatch(/^error HITL_ERR_SCHEMA_MISSING: .*run `pnpm migrate`/);
    } finally {
      await bare.drop();
    }
  });
});
