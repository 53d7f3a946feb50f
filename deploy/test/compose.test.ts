// docker-compose.yml: valid for docker-compose (checked offline, no engine), the whole system in
// start order, and each service given only settings it reads, which its own loader accepts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { fromRoot, images, serviceNames } from '../scripts/images';
import {
  composeConfig,
  dockerCompose,
  render,
  serviceConfigs,
  specVariables,
  toolVariables,
  type ComposeFile,
  type ComposeService,
} from './helpers';

const SHUTDOWN_DEADLINE_SECONDS = 25;

const envOf = (service: ComposeService): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, v ?? '']));

/** Published container ports: '127.0.0.1:8080:8080/tcp' → 8080. */
const containerPorts = (service: ComposeService): number[] =>
  (service.ports ?? []).map((p) => Number(p.split('/')[0]!.split(':').pop())).sort();

const seconds = (duration: string | undefined): number => {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration ?? '');
  return match ? Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0) : 10; // Docker's default: 10 s
};

describe('docker-compose.yml', () => {
  let compose: ComposeFile;
  let scratch: string;

  beforeAll(() => {
    compose = composeConfig();
    scratch = mkdtempSync(join(tmpdir(), 'hitl-compose-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('docker-compose config -q accepts it, and rejects a broken copy', () => {
    const valid = dockerCompose(['-f', 'docker-compose.yml', 'config', '-q']);
    expect(valid.stderr).toBe('');
    expect(valid.status).toBe(0);
    // The validator validates: an unknown depends_on condition is refused.
    const broken = join(scratch, 'docker-compose.yml');
    writeFileSync(
      broken,
      readFileSync(fromRoot('docker-compose.yml'), 'utf8').replace(
        'condition: service_completed_successfully',
        'condition: service_finished',
      ),
    );
    expect(dockerCompose(['-f', broken, 'config', '-q']).status).not.toBe(0);
  });

  test('Kafka and Postgres keep the development ports and start on their own', () => {
    const { kafka, postgres } = compose.services;
    expect(kafka?.ports).toEqual(['127.0.0.1:9092:9092/tcp']);
    expect(postgres?.ports).toEqual(['127.0.0.1:55432:5432/tcp']);
    // `docker compose up -d kafka postgres` then starts exactly these two.
    expect(kafka?.depends_on).toBeUndefined();
    expect(postgres?.depends_on).toBeUndefined();
    expect(kafka?.healthcheck?.test?.length).toBeGreaterThan(0);
    expect(postgres?.healthcheck?.test?.length).toBeGreaterThan(0);
    // Two listeners: the host's, and the one containers use.
    expect(kafka?.environment?.KAFKA_ADVERTISED_LISTENERS).toContain('127.0.0.1:9092');
  });

  test('runs the Kafka version that the local stack and the dev overlay run', () => {
    const stack = readFileSync(fromRoot('deploy', 'local', 'stack.sh'), 'utf8');
    const version = /^KAFKA_VERSION="\$\{KAFKA_VERSION:-([^}]+)\}"/m.exec(stack)?.[1];
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    // A digest, once pinned (deploy/scripts/pin-images.sh), goes after the tag.
    const tagged = (image: string) => image.replace(/@sha256:[0-9a-f]{64}$/, '');
    expect(tagged(compose.services.kafka?.image ?? '')).toBe(`apache/kafka:${version}`);
    type WithPods = { spec?: { template?: { spec?: { containers?: { image?: string }[] } } } };
    const devImages = render('overlays/dev')
      .flatMap((obj) => (obj as WithPods).spec?.template?.spec?.containers ?? [])
      .map((c) => tagged(c.image ?? ''))
      .filter((image) => image.startsWith('apache/kafka:'));
    expect(devImages).toEqual([`apache/kafka:${version}`]);
  });

  test('the init job runs once the servers are healthy, migrating and creating topics', () => {
    const init = compose.services.init!;
    expect(init.build?.dockerfile).toBe(images.tools.dockerfile);
    expect(init.restart).toBe('no');
    expect(init.depends_on).toEqual({
      kafka: { condition: 'service_healthy' },
      postgres: { condition: 'service_healthy' },
    });
    const script = (init.command ?? []).join(' ');
    expect(script).toMatch(/dist\/migrate\.js up\b.*&&.*dist\/topics\.js create\b/);
    const env = envOf(init);
    const allowed = [...toolVariables.migrate!.all, ...toolVariables.topics!.all];
    expect(Object.keys(env).filter((name) => !allowed.includes(name))).toEqual([]);
    const required = [...toolVariables.migrate!.required, ...toolVariables.topics!.required];
    expect(required.filter((name) => !env[name])).toEqual([]);
  });

  test.each(serviceNames)('%s starts after the init job and healthy servers', (name) => {
    const service = compose.services[name]!;
    expect(service.build?.dockerfile).toBe(images[name].dockerfile);
    expect(service.depends_on).toEqual({
      init: { condition: 'service_completed_successfully' },
      kafka: { condition: 'service_healthy' },
      postgres: { condition: 'service_healthy' },
    });
    expect(service.restart).toBe('unless-stopped');
    expect(seconds(service.stop_grace_period)).toBeGreaterThan(SHUTDOWN_DEADLINE_SECONDS);
    expect(service.read_only).toBe(true);
  });

  test.each(serviceNames)(
    '%s gets only settings it reads, they load, and its health check and ports match',
    (name) => {
      const service = compose.services[name]!;
      const env = envOf(service);
      const { all, required } = specVariables(serviceConfigs[name].spec);
      expect(Object.keys(env).filter((variable) => !all.has(variable))).toEqual([]);
      expect([...required].filter((variable) => !env[variable])).toEqual([]);
      const config = serviceConfigs[name].load(env);
      // The image's health check script, on the port the service listens on.
      const check = service.healthcheck?.test ?? [];
      expect(service.healthcheck?.disable).toBeFalsy();
      expect(check.slice(0, 3)).toEqual(['CMD', 'node', '/app/healthcheck.js']);
      expect(Number(check[3])).toBe(config.httpPort);
      const expected = [config.httpPort, ...(config.apiPort === undefined ? [] : [config.apiPort])].sort();
      expect(containerPorts(service)).toEqual(expected);
      // The brokers and database it is pointed at are the compose servers, at their container addresses.
      const advertised = compose.services.kafka?.environment?.KAFKA_ADVERTISED_LISTENERS ?? '';
      for (const broker of env.KAFKA_BROKERS!.split(',')) expect(advertised).toContain(`//${broker}`);
      expect(new URL(env.DATABASE_URL!).host).toBe('postgres:5432');
    },
  );
});
