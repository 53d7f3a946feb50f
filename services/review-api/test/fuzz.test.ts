// The API fuzzed against its own OpenAPI document (scripts/fuzz-api.sh, schemathesis from PyPI):
// no 5xx, every answer one the document gives, and no route that answers without a key. Here
// because this is where a review API with real Kafka, Postgres, keys and tasks is one call away,
// and `pnpm test` is what CI runs.
import { createPolicyVersion } from '@hitl/db';
import { uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import type { ReviewApi } from '../src';
import {
  person,
  reviewRequest,
  reviewTopics,
  sendReviewRequests,
  startApi,
  testDatabase,
  testKafka,
  type ReviewTopics,
} from './helpers';

const repoRoot = join(__dirname, '..', '..', '..');
const reportDir = join(__dirname, '..', '.test-results', 'fuzz');
/** Per keyed pass; the keyless pass gets a third. Three passes: about 2.5 minutes in all. */
const passSeconds = 60;

let db: TestDatabase;
let pool: Pool;
let topics: ReviewTopics;
let api: ReviewApi;

beforeAll(async () => {
  ({ db, pool } = await testDatabase());
  topics = await reviewTopics(1);
  const policyName = uniqueName('policy');
  await createPolicyVersion(pool, policyName, {
    classes: ['ham', 'spam'],
    threshold: 0.9,
    classThresholds: {},
    alwaysReview: [],
    auditRate: 0,
    requiredReviewers: 1,
  });
  // The fuzzer sends thousands of requests a minute, many with made-up keys; it checks the
  // answers against the document, not the limits (their 429 is documented on every route).
  api = await startApi(topics, db, {
    POLICY_NAME: policyName,
    RATE_LIMIT_PER_MINUTE: '1000000',
    AUTH_ATTEMPTS_PER_MINUTE: '1000000',
  });
}, 60_000);

afterAll(async () => {
  await api?.stop();
  await topics?.cleanup();
  await pool?.end();
  await db?.drop();
});

interface FuzzReport {
  test_cases: { generated: number };
  failures: unknown[];
  errors: unknown[];
}

/** Runs the script to its end; the API in this process keeps answering meanwhile. */
function runFuzzer(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(repoRoot, 'scripts', 'fuzz-api.sh'), 'run'], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('the review API under schemathesis', () => {
  it('answers as its OpenAPI document says, with an admin key, a reviewer key and none', async () => {
    const admin = await person(pool, 'admin');
    const reviewer = await person(pool, 'reviewer');
    // Tasks of both kinds (with a model's prediction and without), for claims and listings to return.
    const requests = Array.from({ length: 30 }, (_, i) =>
      reviewRequest(uniqueName('fuzz'), {
        label: i % 3 === 0 ? null : i % 2 === 0 ? 'ham' : 'spam',
        reason: i % 3 === 0 ? 'no_model' : i % 5 === 0 ? 'audit_sample' : 'low_confidence',
        requiredReviewers: 1 + (i % 3),
      }),
    );
    await sendReviewRequests(testKafka(), topics.reviewRequests, requests);
    await waitFor(async () => {
      const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM review_tasks');
      return Number(rows[0]!.n) === requests.length;
    });

    const { code, output } = await runFuzzer({
      FUZZ_URL: api.url(),
      FUZZ_ADMIN_KEY: admin.key,
      FUZZ_REVIEWER_KEY: reviewer.key,
      FUZZ_REPORT_DIR: reportDir,
      FUZZ_MAX_SECONDS: String(passSeconds),
    });
    // On failure, the script's output has each request to reproduce (curl) and the seed.
    if (code !== 0) process.stderr.write(output);
    const passes = ['admin', 'reviewer', 'anonymous'].map((name) => {
      const report = JSON.parse(readFileSync(join(reportDir, `${name}.json`), 'utf8')) as FuzzReport;
      return {
        name,
        generated: report.test_cases.generated,
        failures: report.failures,
        errors: report.errors,
      };
    });
    expect(passes.map(({ name, failures, errors }) => ({ name, failures, errors }))).toEqual([
      { name: 'admin', failures: [], errors: [] },
      { name: 'reviewer', failures: [], errors: [] },
      { name: 'anonymous', failures: [], errors: [] },
    ]);
    for (const pass of passes) expect(pass.generated).toBeGreaterThan(100);
    expect(code).toBe(0);
  }, 600_000);
});
