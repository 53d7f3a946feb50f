import { topics } from '@hitl/contracts';
import {
  kafkaConnectionConfig,
  kafkaSecurityConfigSpec,
  kafkaSecurityProblems,
  type KafkaConnectionConfig,
} from '@hitl/kafka';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import {
  LOG_LEVELS,
  type ConfigProblem,
  bool,
  int,
  num,
  list,
  oneOf,
  parseConfig,
  str,
  url,
  type ConfigOf,
} from '@hitl/service-kit';

export const reviewApiConfigSpec = {
  kafkaBrokers: list('KAFKA_BROKERS'),
  /** KAFKA_SSL*, KAFKA_SASL_*: how to reach a secured listener (see @hitl/kafka security.ts). */
  ...kafkaSecurityConfigSpec,
  databaseUrl: url('DATABASE_URL', { protocols: ['postgres:', 'postgresql:'], secret: true }),
  /** The HTTP API. */
  apiPort: int('API_PORT', { default: 8080, min: 0, max: 65_535 }),
  apiHost: str('API_HOST', { default: '0.0.0.0' }),
  /** /healthz, /readyz and /metrics. */
  httpPort: int('HTTP_PORT', { default: 8083, min: 0, max: 65_535 }),
  /** The routing policy whose classes tasks without a model offer (the router's POLICY_NAME). */
  policyName: str('POLICY_NAME', { default: 'default' }),
  groupId: str('GROUP_ID', { default: 'hitl-review-api' }),
  /**
   * Count the model's decisions on DECISIONS_TOPIC per minute for GET /v1/admin/learning (false:
   * no consumer; the route then shows none).
   */
  learningCounts: bool('LEARNING_COUNTS', { default: true }),
  /** The consumer group of those counts (default: GROUP_ID with -learning). */
  learningGroupId: str('LEARNING_GROUP_ID', { optional: true }),
  instanceId: str('INSTANCE_ID', { default: hostname() }),
  /** How long a claimed task stays with its reviewer unless extended. */
  leaseSeconds: int('LEASE_SECONDS', { default: 300, min: 1, max: 86_400 }),
  /** The longest a lease can be extended to, counted from its claim. */
  maxLeaseSeconds: int('MAX_LEASE_SECONDS', { default: 3_600, min: 1, max: 604_800 }),
  /** Tasks one reviewer may hold at once (a client that fetches ahead holds two). */
  maxLeasesPerReviewer: int('MAX_LEASES_PER_REVIEWER', { default: 5, min: 1, max: 1_000 }),
  /** Extra reviewers a split task gets before it goes to an admin. */
  maxExtraRounds: int('MAX_EXTRA_ROUNDS', { default: 2, min: 0, max: 20 }),
  /** Requests per minute per API key (or per address without one). */
  rateLimitPerMinute: int('RATE_LIMIT_PER_MINUTE', { default: 6_000, min: 1 }),
  /**
   * Requests per minute per client address with a key this replica has not yet seen work (a
   * wrong or made-up key, or a good key's first use): the limit on guessing keys.
   */
  authAttemptsPerMinute: int('AUTH_ATTEMPTS_PER_MINUTE', { default: 120, min: 1 }),
  /**
   * Which proxies' X-Forwarded-For to believe for the client address that limits count by:
   * false (none, the default), true (any: only when nothing but the proxy can reach the API), or
   * a comma-separated list of addresses and CIDR ranges (the Ingress controller's pods).
   */
  trustProxy: str('TRUST_PROXY', { default: 'false' }),
  /** Postgres cancels an API query that runs longer; the request is answered 503. */
  statementTimeoutMs: int('STATEMENT_TIMEOUT_MS', { default: 10_000, min: 100, max: 600_000 }),
  bodyLimitBytes: int('BODY_LIMIT_BYTES', { default: 1_048_576, min: 1_024 }),
  /** An admin key (hitl_<id>_<secret>) that is made to work at start: the first admin. */
  adminKey: str('ADMIN_KEY', { optional: true, secret: true }),
  /**
   * The outbox relay's Kafka transactional id and marker group: the same for every replica on
   * one database, different for every database (a second deployment on the same cluster).
   */
  outboxRelayId: str('OUTBOX_RELAY_ID', { default: 'hitl-outbox-relay' }),
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { default: 'info' }),
  /** The web app's build (index.html and assets/), served at /app/; by default the workspace's. */
  webAppDir: str('WEB_APP_DIR', { default: resolve(__dirname, '../../../packages/web/dist') }),
  reviewRequestsTopic: str('REVIEW_REQUESTS_TOPIC', { default: topics.reviewRequests.name }),
  decisionsTopic: str('DECISIONS_TOPIC', { default: topics.decisions.name }),
  correctionsTopic: str('CORRECTIONS_TOPIC', { default: topics.corrections.name }),
  deadLetterTopic: str('DLQ_TOPIC', { default: topics.deadLetters.name }),
  /**
   * After a promotion or rollback on MODELS_TOPIC, send the waiting tasks nobody answered to
   * inference to be scored again, and close those the version in force is sure of (false: tasks
   * keep the prediction they came with).
   */
  rescoreOnPromotion: bool('RESCORE_ON_PROMOTION', { default: true }),
  /** How often reviewers' reliability is estimated again from their answers, when there are new ones. */
  reliabilityIntervalMs: int('RELIABILITY_INTERVAL_MS', { default: 60_000, min: 100, max: 86_400_000 }),
  /** The most recent answers an estimate reads (its cost grows with them). */
  reliabilityMaxAnswers: int('RELIABILITY_MAX_ANSWERS', { default: 100_000, min: 100, max: 5_000_000 }),
  /** A reviewer's accuracy before any evidence, and how many answers that belief weighs. */
  reliabilityPriorAccuracy: num('RELIABILITY_PRIOR_ACCURACY', { default: 0.9, min: 0.01, max: 0.99 }),
  reliabilityPriorStrength: num('RELIABILITY_PRIOR_STRENGTH', { default: 4, min: 0, max: 10_000 }),
  /** A reviewer estimated less accurate than this (on any stream) is flagged. */
  reliabilityFlagBelow: num('RELIABILITY_FLAG_BELOW', { default: 0.8, min: 0, max: 1 }),
  /**
   * A flagged reviewer gets, of the streams they are flagged on, only tasks that others answer too
   * (more than one answer required, or answered already) and gold tasks, until an estimate clears
   * them; their answers then never decide alone. Admins are never held back.
   */
  restrictFlaggedReviewers: bool('RESTRICT_FLAGGED_REVIEWERS', { default: false }),
  /** Most tasks one promotion sends back, the most urgent first. */
  rescoreMaxTasks: int('RESCORE_MAX_TASKS', { default: 100_000, min: 1, max: 10_000_000 }),
  // Model promotions and rollbacks go to hitl.models.v1 through the registry's outbox rows.
  modelsTopic: str('MODELS_TOPIC', { default: topics.models.name }),
  rescoreRequestsTopic: str('RESCORE_REQUESTS_TOPIC', { default: topics.rescoreRequests.name }),
  rescoredTopic: str('RESCORED_TOPIC', { default: topics.rescored.name }),
};

export type ReviewApiConfig = Omit<ConfigOf<typeof reviewApiConfigSpec>, 'trustProxy'> & {
  /** createKafka's ssl and sasl options, its PEM files read at start-up. */
  readonly kafkaConnection: KafkaConnectionConfig;
  readonly trustProxy: boolean | string[];
};

/** TRUST_PROXY as fastify takes it: true, false, or addresses and CIDR ranges. */
export function parseTrustProxy(value: string): boolean | string[] | undefined {
  const v = value.trim();
  if (v === 'true' || v === 'false') return v === 'true';
  const list = v.split(',').map((s) => s.trim());
  return list.every((s) => /^[0-9A-Fa-f.:]+(\/[0-9]{1,3})?$/.test(s)) ? list : undefined;
}

function trustProxyProblems(config: { trustProxy: string }): ConfigProblem[] {
  return parseTrustProxy(config.trustProxy) === undefined
    ? [
        {
          variable: 'TRUST_PROXY',
          problem: `must be true, false or comma-separated addresses and CIDR ranges, got "${config.trustProxy}"`,
        },
      ]
    : [];
}

/** The review API's settings, from the environment. */
export function loadReviewApiConfig(env: NodeJS.ProcessEnv): ReviewApiConfig {
  const config = parseConfig(reviewApiConfigSpec, env, {
    check: (c) => [...kafkaSecurityProblems(c), ...trustProxyProblems(c)],
  });
  return Object.freeze({
    ...config,
    kafkaConnection: kafkaConnectionConfig(config),
    trustProxy: parseTrustProxy(config.trustProxy)!,
  });
}
