// What the deploy tests share: the tools (kustomize, docker-compose), rendering the overlays, the
// services' config specs, and the environment a container would really get.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { inferenceConfigSpec, loadInferenceConfig, type InferenceConfig } from '@hitl/inference';
import { loadReviewApiConfig, reviewApiConfigSpec } from '@hitl/review-api';
import { loadRouterConfig, routerConfigSpec } from '@hitl/router';
import type { ConfigSpec } from '@hitl/service-kit';
import { loadTrainerConfig, trainerConfigSpec } from '@hitl/trainer';
import type { IIoK8sApiCoreV1Container } from 'kubernetes-models/v1/Container';
import { parseAllDocuments, parse } from 'yaml';
import { fromRoot, type ServiceName } from '../scripts/images';

export type Container = IIoK8sApiCoreV1Container;

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

function run(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { cwd: fromRoot(), encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status}:\n${result.stderr}`);
  }
  return result.stdout;
}

const INSTALL_HINT = 'run `bash deploy/scripts/tools.sh` (what `pnpm --filter @hitl/deploy test` runs first)';

/** kustomize, as deploy/scripts/tools.sh installs it; a missing one fails the test that needs it. */
export function kustomizeBinary(): string {
  const path = fromRoot('.cache', 'bin', 'kustomize');
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`kustomize is missing at ${path}: ${INSTALL_HINT}`);
  }
  return path;
}

/** Debian's docker-compose (1.29): validates a compose file offline, without a Docker engine. */
export function dockerCompose(args: readonly string[]): {
  status: number | null;
  stdout: string;
  stderr: string;
} {
  const result = spawnSync('docker-compose', args, { cwd: fromRoot(), encoding: 'utf8' });
  if (result.error) throw new Error(`docker-compose is missing (${result.error.message}): ${INSTALL_HINT}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `kustomize build` of one folder under deploy/k8s, as objects. */
export function render(dir: string): K8sObject[] {
  const out = run(kustomizeBinary(), ['build', fromRoot('deploy', 'k8s', dir)]);
  return parseAllDocuments(out)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((obj): obj is K8sObject => obj !== null);
}

export const overlays = ['production', 'production-hpa', 'dev'] as const;

/** docker-compose.yml as `docker-compose config` resolves it (anchors merged, long forms). */
export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  ports?: string[];
  restart?: string;
  stop_grace_period?: string;
  read_only?: boolean;
}
export interface ComposeFile {
  services: Record<string, ComposeService>;
}

export function composeConfig(file = 'docker-compose.yml'): ComposeFile {
  const result = dockerCompose(['-f', file, 'config']);
  if (result.status !== 0) throw new Error(`docker-compose config failed:\n${result.stderr}`);
  return parse(result.stdout) as ComposeFile;
}

// ---- the services' settings ----------------------------------------------------------------

type Env = Record<string, string | undefined>;

/** What the deploy checks need of a service's parsed config. */
export interface LoadedConfig {
  httpPort: number;
  apiPort?: number;
  groupId: string;
  /** The topic whose consumer-group lag its autoscaler follows, for inference and router. */
  scaledTopic?: string;
}

export interface ServiceConfig {
  spec: ConfigSpec;
  /** The service's own loader: throws a ConfigError naming every bad variable. */
  load(env: Env): LoadedConfig;
}

export const serviceConfigs: Readonly<Record<ServiceName, ServiceConfig>> = {
  inference: {
    spec: inferenceConfigSpec,
    load: (env) => {
      const config: InferenceConfig = loadInferenceConfig(env);
      return { httpPort: config.httpPort, groupId: config.groupId, scaledTopic: config.eventsTopic };
    },
  },
  router: {
    spec: routerConfigSpec,
    load: (env) => {
      const config = loadRouterConfig(env);
      return { httpPort: config.httpPort, groupId: config.groupId, scaledTopic: config.predictionsTopic };
    },
  },
  'review-api': {
    spec: reviewApiConfigSpec,
    load: (env) => {
      const config = loadReviewApiConfig(env);
      return { httpPort: config.httpPort, apiPort: config.apiPort, groupId: config.groupId };
    },
  },
  trainer: {
    spec: trainerConfigSpec,
    load: (env) => {
      const config = loadTrainerConfig(env);
      return { httpPort: config.httpPort, groupId: config.groupId };
    },
  },
};

/** The variables a spec reads, and which of them have neither a default nor may be left unset. */
export function specVariables(spec: ConfigSpec): { all: Set<string>; required: Set<string> } {
  const all = new Set<string>();
  const required = new Set<string>();
  for (const field of Object.values(spec)) {
    all.add(field.variable);
    if (!field.read({}).ok) required.add(field.variable);
  }
  return { all, required };
}

/**
 * The one-shot commands of the tools image read the environment themselves, not through a spec:
 * packages/db/src/config.ts (migrate; prune's HITL_RETENTION_*), packages/kafka/src/cli.ts (topics)
 * and packages/cli/src/config.ts (prune).
 */
export const toolVariables: Readonly<Record<string, { all: string[]; required: string[] }>> = {
  migrate: { all: ['DATABASE_URL', 'LOG_LEVEL'], required: ['DATABASE_URL'] },
  topics: {
    all: ['KAFKA_BROKERS', 'KAFKA_REPLICATION_FACTOR', 'KAFKA_TOPIC_RETENTION_MS'],
    required: ['KAFKA_BROKERS'],
  },
  prune: {
    all: [
      'DATABASE_URL',
      'LOG_LEVEL',
      'HITL_RETENTION_OUTBOX_DAYS',
      'HITL_RETENTION_IDEMPOTENCY_DAYS',
      'HITL_RETENTION_LEASE_HOURS',
      'HITL_RETENTION_LEARNING_DAYS',
      'HITL_RETENTION_ROUTED_DAYS',
      'HITL_RETENTION_BATCH_SIZE',
    ],
    required: ['DATABASE_URL'],
  },
};

// ---- a container's environment ------------------------------------------------------------------

/** Stand-ins for secrets that the manifests reference but do not contain (production overlays). */
const SECRET_STAND_INS: Readonly<Record<string, string>> = {
  DATABASE_URL: 'postgres://hitl:secret@postgres.example:5432/hitl',
  ADMIN_KEY: 'hitl_admin_secret',
};

export interface ResolvedEnv {
  env: Record<string, string>;
  /** Variables a container is given, by the way it gets them (for messages). */
  sources: Record<string, string>;
  problems: string[];
}

function decodeSecret(secret: K8sObject): Record<string, string> {
  const values: Record<string, string> = { ...(secret.stringData ?? {}) };
  for (const [key, value] of Object.entries(secret.data ?? {})) {
    values[key] = Buffer.from(value, 'base64').toString('utf8');
  }
  return values;
}

/**
 * The environment a container gets: env entries over envFrom, ConfigMap and Secret keys looked up
 * in the rendered objects. A reference to a missing ConfigMap or key is a problem; a Secret that
 * is not rendered (production: created by the operator) gives a stand-in value.
 */
export function resolveEnv(
  container: Container,
  objects: readonly K8sObject[],
  podName: string,
): ResolvedEnv {
  const configMaps = new Map(objects.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, o]));
  const secrets = new Map(objects.filter((o) => o.kind === 'Secret').map((o) => [o.metadata.name, o]));
  const env: Record<string, string> = {};
  const sources: Record<string, string> = {};
  const problems: string[] = [];

  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) {
      const configMap = configMaps.get(from.configMapRef.name ?? '');
      if (!configMap) {
        if (!from.configMapRef.optional)
          problems.push(`envFrom ConfigMap ${from.configMapRef.name} is not rendered`);
        continue;
      }
      for (const [key, value] of Object.entries(configMap.data ?? {})) {
        env[`${from.prefix ?? ''}${key}`] = value;
        sources[`${from.prefix ?? ''}${key}`] = `ConfigMap ${configMap.metadata.name}`;
      }
    } else {
      // A secretRef gives keys nobody can see here; containers name their secret keys one by one.
      problems.push('envFrom other than a configMapRef');
    }
  }
  for (const entry of container.env ?? []) {
    const ref = entry.valueFrom;
    let value: string | undefined;
    if (!ref) {
      value = entry.value ?? '';
      sources[entry.name] = 'value';
    } else if (ref.configMapKeyRef) {
      const { name = '', key, optional } = ref.configMapKeyRef;
      value = configMaps.get(name)?.data?.[key];
      if (value === undefined && !optional)
        problems.push(`${entry.name}: ConfigMap ${name} has no key ${key}`);
      sources[entry.name] = `ConfigMap ${name}/${key}`;
    } else if (ref.secretKeyRef) {
      const { name = '', key, optional } = ref.secretKeyRef;
      const secret = secrets.get(name);
      value = secret ? decodeSecret(secret)[key] : SECRET_STAND_INS[key];
      if (value === undefined && !optional) problems.push(`${entry.name}: Secret ${name} has no key ${key}`);
      sources[entry.name] = `Secret ${name}/${key}`;
    } else if (ref.fieldRef) {
      value = ref.fieldRef.fieldPath === 'metadata.name' ? podName : `<${ref.fieldRef.fieldPath}>`;
      sources[entry.name] = `field ${ref.fieldRef.fieldPath}`;
    } else {
      problems.push(`${entry.name}: unsupported valueFrom`);
    }
    if (value !== undefined) env[entry.name] = value;
  }
  return { env, sources, problems };
}

/** A container port's number, by number or by name. */
export function portNumber(container: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}
