// Every metric that the Grafana dashboard and the Prometheus alerts in deploy/observability ask
// for is exported by one of the four services, started here as processes on their own topics and
// a fresh database, and scraped on /metrics.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { migrate } from '@hitl/db';
import {
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  freePort,
  kafkaBrokers,
  ProcessGroup,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '@hitl/testkit';
import { parse } from 'yaml';
import { exposedMetricNames, promqlMetricNames } from '../src';

const REPO_ROOT = join(__dirname, '..', '..', '..');
const OBSERVABILITY = join(REPO_ROOT, 'deploy', 'observability');
const SERVICES = ['inference', 'router', 'review-api', 'trainer'] as const;
type Service = (typeof SERVICES)[number];

interface Panel {
  title?: string;
  type?: string;
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query?: string } }[] };
}

interface RuleFile {
  groups: {
    name: string;
    rules: {
      alert?: string;
      record?: string;
      expr: string;
      for?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    }[];
  }[];
}

const dashboard = JSON.parse(
  readFileSync(join(OBSERVABILITY, 'grafana-dashboard.json'), 'utf8'),
) as Dashboard;
const rules = parse(readFileSync(join(OBSERVABILITY, 'alerts.yaml'), 'utf8')) as RuleFile;

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Where each metric is used: "dashboard: <panel>" or "alert: <name>". */
function usedMetrics(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  const use = (expr: string, where: string) => {
    for (const name of promqlMetricNames(expr)) used.set(name, [...(used.get(name) ?? []), where]);
  };
  for (const panel of allPanels(dashboard.panels)) {
    for (const target of panel.targets ?? []) use(target.expr ?? '', `dashboard: ${panel.title}`);
  }
  for (const variable of dashboard.templating.list) {
    const query = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
    // label_values(<selector>, <label>): only the selector names a metric.
    const selector = /^\s*label_values\((.*),\s*\w+\s*\)\s*$/.exec(query)?.[1];
    if (selector !== undefined) use(selector, `dashboard variable: ${variable.name}`);
  }
  const recorded = new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
  for (const group of rules.groups) {
    for (const rule of group.rules) use(rule.expr, `alert: ${rule.alert ?? rule.record}`);
  }
  for (const name of recorded) used.delete(name);
  return used;
}

describe('deploy/observability', () => {
  it('has a dashboard on a Prometheus datasource variable', () => {
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' });
    const queried = allPanels(dashboard.panels).filter((p) => p.type !== 'row');
    expect(queried.length).toBeGreaterThan(20);
    for (const panel of queried) {
      expect({ panel: panel.title, uid: panel.datasource?.uid }).toEqual({
        panel: panel.title,
        uid: '${datasource}',
      });
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.datasource?.uid).toBe('${datasource}');
    }
  });

  it('has alert rules in the shape promtool checks', () => {
    const alerts = rules.groups.flatMap((g) => g.rules);
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'HitlConsumerLagGrowing',
        'HitlReviewQueueOverSla',
        'HitlDeadLetterRateHigh',
        'HitlAuditAccuracyLow',
        'HitlAuditAccuracyFalling',
        'HitlNoModelPromoted',
      ]),
    );
    for (const alert of alerts) {
      expect(alert.alert).toMatch(/^Hitl[A-Za-z]+$/);
      expect(alert.expr.trim()).not.toBe('');
      if (alert.for !== undefined) expect(alert.for).toMatch(/^(\d+[smhdwy])+$/);
      expect(alert.labels?.['severity']).toMatch(/^(warning|critical)$/);
      expect(alert.annotations?.['summary']).toBeTruthy();
      expect(alert.annotations?.['description']).toBeTruthy();
    }
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
  });
});

describe('the services export every metric the dashboard and the alerts use', () => {
  const processes = new ProcessGroup();
  const topics = {
    events: uniqueName('events'),
    predictions: uniqueName('predictions'),
    reviewRequests: uniqueName('review-requests'),
    decisions: uniqueName('decisions'),
    corrections: uniqueName('corrections'),
    models: uniqueName('models'),
    rescoreRequests: uniqueName('rescore-requests'),
    rescored: uniqueName('rescored'),
    deadLetters: uniqueName('dlq'),
  };
  let db: TestDatabase | undefined;
  let ports: Record<Service, number>;
  const scraped = new Map<Service, Set<string>>();
  const groups = {
    inference: uniqueName('inference'),
    router: uniqueName('router'),
    'review-api': uniqueName('review-api'),
    trainer: uniqueName('trainer'),
  };

  async function scrape(service: Service): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${ports[service]}/metrics`);
    expect(response.status).toBe(200);
    return response.text();
  }

  beforeAll(async () => {
    db = await createTestDatabase('hitl_ops_metrics');
    await migrate({ databaseUrl: db.url });
    await createTestTopics(Object.values(topics).map((topic) => ({ topic, numPartitions: 1 })));
    ports = Object.fromEntries(
      await Promise.all(SERVICES.map(async (s) => [s, await freePort()] as const)),
    ) as Record<Service, number>;
    const common = {
      KAFKA_BROKERS: kafkaBrokers().join(','),
      DATABASE_URL: db.url,
      INSTANCE_ID: 'metrics-test-0',
      // The processes report readiness with the service kit's info line.
      LOG_LEVEL: 'info',
      DLQ_TOPIC: topics.deadLetters,
    };
    // The review API and the trainer relay the same database's outbox: one relay id.
    const outboxRelayId = uniqueName('relay');
    const env: Record<Service, Record<string, string>> = {
      inference: {
        MODEL_ID: 'metrics-test',
        GROUP_ID: groups.inference,
        EVENTS_TOPIC: topics.events,
        PREDICTIONS_TOPIC: topics.predictions,
        MODELS_TOPIC: topics.models,
        RESCORE_REQUESTS_TOPIC: topics.rescoreRequests,
        RESCORED_TOPIC: topics.rescored,
      },
      router: {
        POLICY_NAME: 'metrics-test',
        GROUP_ID: groups.router,
        PREDICTIONS_TOPIC: topics.predictions,
        DECISIONS_TOPIC: topics.decisions,
        REVIEW_REQUESTS_TOPIC: topics.reviewRequests,
      },
      'review-api': {
        API_PORT: String(await freePort()),
        API_HOST: '127.0.0.1',
        POLICY_NAME: 'metrics-test',
        GROUP_ID: groups['review-api'],
        OUTBOX_RELAY_ID: outboxRelayId,
        REVIEW_REQUESTS_TOPIC: topics.reviewRequests,
        DECISIONS_TOPIC: topics.decisions,
        CORRECTIONS_TOPIC: topics.corrections,
        MODELS_TOPIC: topics.models,
        RESCORE_REQUESTS_TOPIC: topics.rescoreRequests,
        RESCORED_TOPIC: topics.rescored,
      },
      trainer: {
        MODEL_ID: 'metrics-test',
        GROUP_ID: groups.trainer,
        OUTBOX_RELAY_ID: outboxRelayId,
        CORRECTIONS_TOPIC: topics.corrections,
        MODELS_TOPIC: topics.models,
      },
    };
    await Promise.all(
      SERVICES.map((service) => {
        const root = join(REPO_ROOT, 'services', service);
        return processes.start(join(root, 'src', 'main.ts'), {
          cwd: root,
          env: { ...common, ...env[service], HTTP_PORT: String(ports[service]) },
        });
      }),
    );
    for (const service of SERVICES) {
      const text = await scrape(service);
      // Every series carries the service's name (the dashboard's process panels group by it).
      expect(text).toContain(`service="${service}"`);
      scraped.set(service, exposedMetricNames(text));
    }
  }, 180_000);

  afterAll(async () => {
    await processes.stopAll('SIGTERM');
    await deleteTestTopics(Object.values(topics));
    await db?.drop();
  }, 60_000);

  it('finds each metric name of the dashboard and the alerts on some service', () => {
    const used = usedMetrics();
    // The parser found the metrics of every part: consumers, inference, router, review, trainer.
    for (const name of [
      'hitl_consumer_lag',
      'hitl_consumer_dead_letters_total',
      'hitl_consumer_batch_duration_seconds_bucket',
      'hitl_inference_model_version',
      'hitl_router_routed_total',
      'hitl_review_queue_depth',
      'hitl_review_queue_oldest_age_seconds',
      'hitl_review_decisions_total',
      'hitl_review_corrections_total',
      'hitl_trainer_trainings_total',
      'hitl_trainer_last_promotion_timestamp_seconds',
    ]) {
      expect(used.has(name)).toBe(true);
    }
    const missing = [...used]
      .filter(([name]) => ![...scraped.values()].some((names) => names.has(name)))
      .map(([name, where]) => `${name} (used by ${[...new Set(where)].join('; ')})`);
    expect(missing).toEqual([]);
  });

  it('exports the metrics of the issue from the service they belong to', () => {
    const owners: [Service, string][] = [
      ['inference', 'hitl_inference_model_version'],
      ['router', 'hitl_router_routed_total'],
      ['review-api', 'hitl_review_queue_depth'],
      ['review-api', 'hitl_review_queue_oldest_age_seconds'],
      ['review-api', 'hitl_review_decisions_total'],
      ['review-api', 'hitl_review_corrections_total'],
      ['trainer', 'hitl_trainer_trainings_total'],
      ['trainer', 'hitl_trainer_last_promotion_timestamp_seconds'],
    ];
    for (const service of SERVICES)
      owners.push([service, 'hitl_consumer_lag'], [service, 'hitl_consumer_dead_letters_total']);
    const missing = owners.filter(([service, name]) => !scraped.get(service)?.has(name));
    expect(missing).toEqual([]);
  });

  it('labels lag by topic, partition and group, and the review queue by status and reason', async () => {
    // Each consumer samples its group's lag every 10 s.
    let inference = '';
    await waitFor(
      async () => {
        inference = await scrape('inference');
        return /^hitl_consumer_lag\{/m.test(inference);
      },
      { timeoutMs: 30_000, message: 'a lag sample of the inference service' },
    );
    const lag = inference
      .split('\n')
      .find((line) => line.startsWith(`hitl_consumer_lag{`) && line.includes(topics.events));
    expect(lag).toBeDefined();
    expect(lag).toContain(`topic="${topics.events}"`);
    expect(lag).toContain('partition="0"');
    expect(lag).toContain(`group="${groups.inference}"`);

    // The review queue is read at each scrape: every status and reason has a series, empty here.
    const review = await scrape('review-api');
    for (const status of ['open', 'escalated']) {
      for (const reason of ['no_model', 'low_confidence', 'class_rule', 'audit_sample']) {
        for (const name of ['hitl_review_queue_depth', 'hitl_review_queue_oldest_age_seconds']) {
          expect(review).toMatch(
            new RegExp(`^${name}\\{status="${status}",reason="${reason}",service="review-api"\\} 0$`, 'm'),
          );
        }
      }
    }
  });
});
