// hitl streams add|list|set against the real database: the registry's versions and revisions, and
// every refusal with its code and exit status.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, listStreamVersions, migrate, streamsRevision } from '@hitl/db';
import { createTestDatabase, uniqueName, type TestDatabase } from '@hitl/testkit';
import type { Pool } from 'pg';
import { parseHitlArgs, UsageError } from '../src/args';
import { runCli } from './helpers';

let db: TestDatabase | undefined;
let pool: Pool;
// No KAFKA_BROKERS: streams need only the database.
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase('hitl_cli_streams');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 2, applicationName: 'hitl-cli-streams-test' });
  env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent' };
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('hitl streams arguments', () => {
  it('parses add and set, giving only the fields named', () => {
    expect(parseHitlArgs(['streams', 'add', '--id', 'mail', '--classes', 'ham, spam'])).toEqual({
      name: 'streams add',
      stream: { id: 'mail', classes: ['ham', 'spam'], inputKind: 'text' },
      actor: undefined,
      reason: undefined,
    });
    expect(
      parseHitlArgs([
        'streams',
        'add',
        '--id',
        'wine',
        '--classes',
        'a,b,c',
        '--input-kind',
        'features',
        '--feature-width',
        '13',
        '--model',
        'wine-model',
        '--policy',
        'wine-policy',
        '--reviewers',
        'alice,bob',
        '--groups',
        'lab',
        '--all-reviewers',
        '--actor',
        'ops',
      ]),
    ).toMatchObject({
      stream: {
        id: 'wine',
        classes: ['a', 'b', 'c'],
        inputKind: 'features',
        featureWidth: 13,
        modelId: 'wine-model',
        policyName: 'wine-policy',
        reviewers: ['alice', 'bob'],
        reviewerGroups: ['lab'],
        allReviewers: true,
      },
      actor: 'ops',
    });
    expect(
      parseHitlArgs(['streams', 'set', '--id', 'mail', '--reviewers', '', '--all-reviewers', 'false']),
    ).toEqual({
      name: 'streams set',
      streamId: 'mail',
      change: { reviewers: [], allReviewers: false },
      actor: undefined,
      reason: undefined,
    });
    expect(parseHitlArgs(['streams', 'set', '--id', 'mail', '--expected-version', '3'])).toMatchObject({
      change: {},
      expectedVersion: 3,
    });
  });

  it.each([
    [['streams', 'add', '--classes', 'a,b'], '--id is required'],
    [['streams', 'add', '--id', 'mail'], '--classes is required'],
    [['streams', 'add', '--id', 'm', '--classes', 'a,b', '--input-kind', 'image'], '--input-kind must be'],
    [['streams', 'add', '--id', 'm', '--classes', 'a,b', '--feature-width', '0'], '--feature-width must be'],
    [['streams', 'set', '--all-reviewers', 'true'], '--id is required'],
    [['streams', 'set', '--id', 'm', '--all-reviewers', 'yes'], '--all-reviewers must be true or false'],
    [['streams', 'set', '--id', 'm', '--expected-version', 'x'], '--expected-version must be'],
    [['streams', 'set', '--id', 'm', '--colour', 'blue'], 'colour'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseHitlArgs(argv)).toThrow(UsageError);
    expect(() => parseHitlArgs(argv)).toThrow(message);
  });
});

describe('hitl streams', () => {
  it('adds, lists and changes streams as versions, and refuses what does not fit with its code', async () => {
    const stream = uniqueName('mail');
    const reviewer = uniqueName('rev');
    expect((await runCli(['reviewers', 'add', '--id', reviewer], env)).code).toBe(0);
    const before = await streamsRevision(pool);

    const added = await runCli(
      ['streams', 'add', '--id', stream, '--classes', 'ham,spam', '--reviewers', reviewer, '--actor', 'ops'],
      env,
    );
    expect(added).toMatchObject({
      code: 0,
      lines: [
        {
          id: stream,
          classes: ['ham', 'spam'],
          inputKind: 'text',
          featureWidth: null,
          modelId: stream,
          policyName: stream,
          reviewers: [reviewer],
          reviewerGroups: [],
          allReviewers: false,
          version: 1,
          revision: before + 1,
          createdBy: 'ops',
        },
      ],
    });
    const numeric = uniqueName('wine');
    expect(
      await runCli(
        [
          'streams',
          'add',
          '--id',
          numeric,
          '--classes',
          'a,b,c',
          '--input-kind',
          'features',
          '--feature-width',
          '13',
          '--model',
          'wine',
          '--groups',
          'lab',
        ],
        env,
      ),
    ).toMatchObject({
      code: 0,
      lines: [{ id: numeric, featureWidth: 13, modelId: 'wine', policyName: 'wine' }],
    });

    const listed = await runCli(['streams', 'list'], env);
    expect(listed.code).toBe(0);
    expect(listed.lines.map((s) => s.id)).toEqual(expect.arrayContaining([stream, numeric]));

    const set = await runCli(
      [
        'streams',
        'set',
        '--id',
        stream,
        '--reviewers',
        '',
        '--all-reviewers',
        'true',
        '--reason',
        'all hands',
      ],
      env,
    );
    expect(set).toMatchObject({
      code: 0,
      lines: [{ id: stream, reviewers: [], allReviewers: true, version: 2, reason: 'all hands' }],
    });
    // Nothing to change: no version.
    expect(
      (await runCli(['streams', 'set', '--id', stream, '--all-reviewers', 'true'], env)).lines,
    ).toMatchObject([{ version: 2 }]);
    expect((await listStreamVersions(pool, stream)).map((v) => v.version)).toEqual([1, 2]);

    // Refused: exit 65 with the registry's code on stderr, nothing stored.
    const revision = await streamsRevision(pool);
    const refusals: [string[], string, string][] = [
      [
        ['streams', 'add', '--id', stream, '--classes', 'a,b'],
        'HITL_ERR_STREAM_EXISTS',
        `stream ${stream} already exists`,
      ],
      [
        ['streams', 'add', '--id', uniqueName('x'), '--classes', 'a,b', '--reviewers', 'nobody-at-all'],
        'HITL_ERR_STREAM_INVALID',
        'reviewers names no reviewer nobody-at-all',
      ],
      [
        ['streams', 'add', '--id', uniqueName('x'), '--classes', 'a,b', '--input-kind', 'features'],
        'HITL_ERR_STREAM_INVALID',
        'featureWidth must be an integer',
      ],
      [
        ['streams', 'add', '--id', 'x'.repeat(201), '--classes', 'a,b'],
        'HITL_ERR_STREAM_INVALID',
        'id must be 1 to 200 characters',
      ],
      [
        ['streams', 'set', '--id', 'no-such-stream', '--all-reviewers', 'true'],
        'HITL_ERR_STREAM_NOT_FOUND',
        'no stream',
      ],
      [
        ['streams', 'set', '--id', stream, '--classes', 'ham', '--expected-version', '2'],
        'HITL_ERR_STREAM_INVALID',
        'classes must have 2 to 1000 classes',
      ],
      [
        ['streams', 'set', '--id', stream, '--all-reviewers', 'false', '--expected-version', '1'],
        'HITL_ERR_STREAM_VERSION_CONFLICT',
        'is at version 2, not 1',
      ],
    ];
    for (const [argv, code, message] of refusals) {
      const run = await runCli(argv, env);
      expect([run.code, run.stdout]).toEqual([65, '']);
      expect(run.stderr).toContain(`error ${code}: `);
      expect(run.stderr).toContain(message);
    }
    expect(await streamsRevision(pool)).toBe(revision);
    expect((await runCli(['streams', 'add', '--id', 'x'], env)).code).toBe(64);
  });
});
