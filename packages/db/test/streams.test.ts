// The stream registry in Postgres: what any writer gets stamped (the API, the hitl command, plain
// SQL), the one-snapshot read services use, and changes in a caller's transaction.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { createTestDatabase, waitFor, type TestDatabase } from '@hitl/testkit';
import {
  addStream,
  createPool,
  getStream,
  listStreamVersions,
  loadStreamRegistry,
  migrate,
  STREAMS_CHANNEL,
  StreamError,
  streamsRevision,
  updateStream,
  validateStreamSpec,
  withTransaction,
  type NewStream,
} from '../src/index';

let db: TestDatabase | undefined;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('hitl_db_streams');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 4, applicationName: 'hitl-db-streams-test' });
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const text = { classes: ['ham', 'spam'], inputKind: 'text' as const };

describe('the stream registry', () => {
  it('reads every stream by id with the revision they are at', async () => {
    expect(await loadStreamRegistry(pool)).toEqual({ revision: 0, streams: [] });
    const b = await addStream(pool, { id: 'b-stream', ...text }, { actor: 'ops', reason: 'first' });
    const a = await addStream(pool, { id: 'a-stream', ...text, modelId: 'shared' });
    expect([b.revision, a.revision]).toEqual([1, 2]);
    expect(a).toMatchObject({ modelId: 'shared', policyName: 'shared', createdBy: null });
    expect(b).toMatchObject({ createdBy: 'ops', updatedBy: 'ops', reason: 'first' });
    const registry = await loadStreamRegistry(pool);
    expect(registry).toEqual({ revision: 2, streams: [a, b] });
    expect(await streamsRevision(pool)).toBe(2);
  });

  it('stamps and announces plain SQL changes too, and refuses a rename', async () => {
    const listener = await pool.connect();
    const seen: unknown[] = [];
    listener.on('notification', (n) => seen.push(JSON.parse(n.payload!)));
    await listener.query(`LISTEN ${STREAMS_CHANNEL}`);
    try {
      await addStream(pool, { id: 'sql-stream', ...text });
      const before = await streamsRevision(pool);
      // A writer that sets version and revision itself gets the registry's.
      await pool.query(
        `UPDATE streams SET all_reviewers = true, version = 99, revision = 99, updated_by = 'dba' WHERE id = 'sql-stream'`,
      );
      expect(await getStream(pool, 'sql-stream')).toMatchObject({
        allReviewers: true,
        version: 2,
        revision: before + 1,
        updatedBy: 'dba',
      });
      expect(
        (await listStreamVersions(pool, 'sql-stream')).map((v) => [v.version, v.spec.allReviewers]),
      ).toEqual([
        [1, false],
        [2, true],
      ]);
      await expect(pool.query(`UPDATE streams SET id = 'other' WHERE id = 'sql-stream'`)).rejects.toThrow(
        /cannot be renamed/,
      );
      await pool.query(`DELETE FROM streams WHERE id = 'sql-stream'`);
      expect(await streamsRevision(pool)).toBe(before + 2);
      // Its versions stay.
      expect(await listStreamVersions(pool, 'sql-stream')).toHaveLength(2);
      await waitFor(() => seen.length === 3, { message: 'three changes announced' });
      expect(seen).toEqual([
        { revision: before, stream: 'sql-stream' },
        { revision: before + 1, stream: 'sql-stream' },
        { revision: before + 2, stream: 'sql-stream' },
      ]);
    } finally {
      await listener.query(`UNLISTEN ${STREAMS_CHANNEL}`);
      listener.release();
    }
  });

  it('works in the caller’s transaction, and leaves nothing when it rolls back', async () => {
    const before = await streamsRevision(pool);
    await expect(
      withTransaction(pool, async (client) => {
        await addStream(client, { id: 'rolled-back', ...text });
        await updateStream(client, 'rolled-back', { allReviewers: true });
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await getStream(pool, 'rolled-back')).toBeNull();
    expect(await listStreamVersions(pool, 'rolled-back')).toEqual([]);
    expect(await streamsRevision(pool)).toBe(before);
  });

  it('lists every problem of a spec, and refuses unknown fields', () => {
    const problems = (input: unknown) => {
      try {
        validateStreamSpec(input);
        return [];
      } catch (error) {
        expect(error).toBeInstanceOf(StreamError);
        expect((error as StreamError).code).toBe('HITL_ERR_STREAM_INVALID');
        return (error as StreamError).problems.map((p) => p.field);
      }
    };
    expect(problems(null)).toEqual(['(stream)']);
    expect(
      problems({
        classes: ['a', 'a'],
        inputKind: 'text',
        featureWidth: 3,
        modelId: 'm m',
        policyName: '',
        reviewers: ['ok', 'not ok'],
        reviewerGroups: 'g',
        allReviewers: 'yes',
        colour: 'blue',
      }),
    ).toEqual([
      'colour',
      'classes',
      'featureWidth',
      'modelId',
      'policyName',
      'reviewers',
      'reviewerGroups',
      'allReviewers',
    ]);
    // An unknown field given to addStream is refused too, and the reason has a bound.
    return Promise.all([
      expect(addStream(pool, { id: 'x', ...text, actor: 'ops' } as NewStream)).rejects.toMatchObject({
        problems: [{ field: 'actor', problem: 'is not a stream field' }],
      }),
      expect(addStream(pool, { id: 'x', ...text }, { reason: 'r'.repeat(2_001) })).rejects.toBeInstanceOf(
        StreamError,
      ),
    ]);
  });
});
