// Every overlay under deploy/k8s/overlays, rendered with kustomize: each object valid against its
// Kubernetes (or KEDA) API schema, and the workloads held to what the services actually read.
import { describe, expect, test, beforeAll } from '@jest/globals';
import { allTopics } from '@hitl/contracts';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { IIoK8sApiCoreV1PodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { IIoK8sApiNetworkingV1NetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';
import { images, serviceNames, type ServiceName } from '../scripts/images';
import {
  overlays,
  portNumber,
  render,
  resolveEnv,
  serviceConfigs,
  specVariables,
  toolVariables,
  type Container,
  type K8sObject,
} from './helpers';

// The kinds the manifests may use, each with its schema. Anything else fails: a kind nobody
// validates (a typo in apiVersion, a CRD this list does not know) must not slip through.
interface Validatable {
  validate(): void;
}
const models: Record<string, new (data: never) => Validatable> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'batch/v1/CronJob': CronJob,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

const autoscalerOf: Record<(typeof overlays)[number], 'keda' | 'hpa' | 'none'> = {
  production: 'keda',
  'production-hpa': 'hpa',
  dev: 'none',
};

// Inference and router derive their Kafka transactional id from INSTANCE_ID, which must stay the
// same across a replica's restarts: StatefulSet pod names do (see deploy/k8s/base/inference.yaml).
const workloadKind: Record<ServiceName, 'StatefulSet' | 'Deployment'> = {
  inference: 'StatefulSet',
  router: 'StatefulSet',
  'review-api': 'Deployment',
  trainer: 'Deployment',
};

// runService's shutdown deadline (packages/service-kit/src/shutdown.ts): the pod must get longer.
const SHUTDOWN_DEADLINE_SECONDS = 25;

interface Workload {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: { replicas?: number; template: IIoK8sApiCoreV1PodTemplateSpec };
}

const byKind = <T>(objects: readonly K8sObject[], kind: string): T[] =>
  objects.filter((o) => o.kind === kind) as unknown as T[];

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> = {}): boolean {
  return Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value);
}

function allContainers(template: IIoK8sApiCoreV1PodTemplateSpec): Container[] {
  return [...(template.spec?.initContainers ?? []), ...(template.spec?.containers ?? [])];
}

describe.each(overlays)('overlay %s', (overlay) => {
  let objects: K8sObject[];
  let workloads: Workload[];

  beforeAll(() => {
    objects = render(`overlays/${overlay}`);
    workloads = objects.filter((o) =>
      ['Deployment', 'StatefulSet'].includes(o.kind),
    ) as unknown as Workload[];
  });

  const workload = (service: string): Workload => {
    const found = workloads.find((w) => w.metadata.name === service);
    if (!found) throw new Error(`no Deployment or StatefulSet named ${service}`);
    return found;
  };
  const serviceContainer = (service: ServiceName): Container => {
    const container = workload(service).spec.template.spec?.containers.find((c) => c.name === service);
    if (!container) throw new Error(`${service} has no container named ${service}`);
    return container;
  };
  /** The pod template of a Job or a CronJob, by name. */
  const jobTemplate = (name: string): IIoK8sApiCoreV1PodTemplateSpec | undefined =>
    byKind<Job>(objects, 'Job').find((j) => j.metadata?.name === name)?.spec?.template ??
    byKind<CronJob>(objects, 'CronJob').find((j) => j.metadata?.name === name)?.spec?.jobTemplate.spec
      ?.template;
  const podLabels = (name: string): Record<string, string> =>
    (jobTemplate(name) ?? workload(name).spec.template).metadata?.labels ?? {};

  test('every object is of a known kind and valid against its API schema', () => {
    expect(objects.length).toBeGreaterThan(10);
    const unknown: string[] = [];
    const invalid: string[] = [];
    for (const object of objects) {
      const model = models[`${object.apiVersion}/${object.kind}`];
      if (!model) {
        unknown.push(`${object.apiVersion} ${object.kind} ${object.metadata.name}`);
        continue;
      }
      try {
        new model(object as never).validate();
      } catch (error) {
        invalid.push(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
      }
    }
    expect(unknown).toEqual([]);
    expect(invalid).toEqual([]);
  });

  test.each(serviceNames)(
    '%s gets only variables its config reads, all it requires, and they load',
    (service) => {
      const w = workload(service);
      expect(w.kind).toBe(workloadKind[service]);
      const podName = `${service}-${w.kind === 'StatefulSet' ? '0' : '7c9d8-x2x4z'}`;
      const { env, sources, problems } = resolveEnv(serviceContainer(service), objects, podName);
      expect(problems).toEqual([]);
      const { all, required } = specVariables(serviceConfigs[service].spec);
      const unread = Object.keys(env)
        .filter((name) => !all.has(name))
        .map((name) => `${name} (from ${sources[name]})`);
      expect(unread).toEqual([]);
      expect([...required].filter((name) => !(name in env))).toEqual([]);
      // The service's own loader: a value out of range or of the wrong type fails here as at start.
      expect(() => serviceConfigs[service].load(env)).not.toThrow();
      // A stable, unique id per replica: the pod name.
      expect(sources.INSTANCE_ID).toBe('field metadata.name');
    },
  );

  test.each(serviceNames)(
    '%s: probes on /healthz and /readyz at HTTP_PORT, ports as configured',
    (service) => {
      const container = serviceContainer(service);
      const config = serviceConfigs[service].load(resolveEnv(container, objects, `${service}-0`).env);
      const liveness = container.livenessProbe?.httpGet;
      const readiness = container.readinessProbe?.httpGet;
      expect(liveness?.path).toBe('/healthz');
      expect(readiness?.path).toBe('/readyz');
      expect(portNumber(container, liveness?.port)).toBe(config.httpPort);
      expect(portNumber(container, readiness?.port)).toBe(config.httpPort);
      const expectedPorts = [config.httpPort, ...(config.apiPort === undefined ? [] : [config.apiPort])];
      expect((container.ports ?? []).map((p) => p.containerPort).sort()).toEqual(expectedPorts.sort());
      const annotations = workload(service).spec.template.metadata?.annotations ?? {};
      expect(annotations['prometheus.io/port']).toBe(String(config.httpPort));
      expect(container.image?.split(':')[0]).toMatch(new RegExp(`(^|/)${images[service].image}$`));
    },
  );

  test('settings that must agree between services do', () => {
    // The value a service ends up with: the one it is given, else its default.
    const value = (service: ServiceName, variable: string) => {
      const env = resolveEnv(serviceContainer(service), objects, `${service}-0`).env;
      const field = Object.values(serviceConfigs[service].spec).find((f) => f.variable === variable)!;
      const read = field.read(env);
      return read.ok ? read.value : undefined;
    };
    expect(value('inference', 'MODEL_ID')).toBe(value('trainer', 'MODEL_ID'));
    expect(value('router', 'POLICY_NAME')).toBe(value('review-api', 'POLICY_NAME'));
    expect(value('review-api', 'OUTBOX_RELAY_ID')).toBe(value('trainer', 'OUTBOX_RELAY_ID'));
    for (const service of serviceNames) {
      expect(value(service, 'KAFKA_BROKERS')).toEqual(value('inference', 'KAFKA_BROKERS'));
      expect(value(service, 'DATABASE_URL')).toEqual(value('inference', 'DATABASE_URL'));
    }
  });

  test('every container has resource requests and limits and runs locked down', () => {
    const templates: [string, IIoK8sApiCoreV1PodTemplateSpec][] = [
      ...workloads
        .filter((w) => (serviceNames as readonly string[]).includes(w.metadata.name))
        .map((w): [string, IIoK8sApiCoreV1PodTemplateSpec] => [w.metadata.name, w.spec.template]),
      ...byKind<Job>(objects, 'Job').map((j): [string, IIoK8sApiCoreV1PodTemplateSpec] => [
        j.metadata!.name!,
        j.spec!.template,
      ]),
      ...byKind<CronJob>(objects, 'CronJob').map((j): [string, IIoK8sApiCoreV1PodTemplateSpec] => [
        j.metadata!.name!,
        j.spec!.jobTemplate.spec!.template,
      ]),
    ];
    expect(templates.length).toBe(serviceNames.length + 2);
    const problems: string[] = [];
    for (const [name, template] of templates) {
      const pod = template.spec?.securityContext;
      if (pod?.runAsNonRoot !== true) problems.push(`${name}: runAsNonRoot`);
      if (template.spec?.automountServiceAccountToken !== false)
        problems.push(`${name}: service account token`);
      for (const c of allContainers(template)) {
        for (const kind of ['requests', 'limits'] as const) {
          for (const resource of ['cpu', 'memory']) {
            if (c.resources?.[kind]?.[resource] === undefined)
              problems.push(`${name}/${c.name}: ${kind}.${resource}`);
          }
        }
        if (c.securityContext?.readOnlyRootFilesystem !== true)
          problems.push(`${name}/${c.name}: read-only root`);
        if (c.securityContext?.allowPrivilegeEscalation !== false)
          problems.push(`${name}/${c.name}: escalation`);
        if (!c.securityContext?.capabilities?.drop?.includes('ALL'))
          problems.push(`${name}/${c.name}: capabilities`);
      }
    }
    expect(problems).toEqual([]);
  });

  test.each(serviceNames)('%s has a PodDisruptionBudget and outlives its shutdown deadline', (service) => {
    const labels = podLabels(service);
    const budgets = byKind<PodDisruptionBudget>(objects, 'PodDisruptionBudget').filter((pdb) =>
      selects(pdb.spec?.selector?.matchLabels, labels),
    );
    expect(budgets.map((b) => b.metadata?.name)).toEqual([service]);
    const grace = workload(service).spec.template.spec?.terminationGracePeriodSeconds ?? 30;
    expect(grace).toBeGreaterThan(SHUTDOWN_DEADLINE_SECONDS);
  });

  test.each([...serviceNames, 'hitl-init', 'hitl-prune'])(
    '%s: network policies let in its ports only and out its servers',
    (name) => {
      const policies = byKind<NetworkPolicy>(objects, 'NetworkPolicy');
      const labels = podLabels(name);
      const selecting = policies.filter((p) => selects(p.spec?.podSelector.matchLabels, labels));
      // Default deny for the namespace: whatever a policy does not allow is refused.
      const denyAll = policies.find(
        (p) =>
          Object.keys(p.spec?.podSelector.matchLabels ?? {}).length === 0 &&
          p.spec?.ingress === undefined &&
          p.spec?.egress === undefined,
      );
      expect(denyAll?.spec?.policyTypes?.sort()).toEqual(['Egress', 'Ingress']);

      const isService = (serviceNames as readonly string[]).includes(name);
      const containers = isService
        ? [serviceContainer(name as ServiceName)]
        : allContainers(jobTemplate(name)!);
      const ingressPorts = selecting
        .filter((p) => p.spec?.policyTypes?.includes('Ingress'))
        .flatMap((p) => p.spec?.ingress ?? [])
        .flatMap((rule) => rule.ports ?? []);
      const resolved = ingressPorts.map((p) => portNumber(containers[0]!, p.port));
      if (isService) {
        const config = serviceConfigs[name as ServiceName].load(
          resolveEnv(containers[0]!, objects, `${name}-0`).env,
        );
        // Prometheus reaches /metrics; the review API is reachable on API_PORT; nothing else.
        expect(resolved.sort()).toEqual(
          [config.httpPort, ...(config.apiPort === undefined ? [] : [config.apiPort])].sort(),
        );
      } else {
        expect(resolved).toEqual([]);
      }

      // Out: DNS, and the ports of the brokers and the database the container is given.
      const egress: IIoK8sApiNetworkingV1NetworkPolicyPort[] = selecting
        .filter((p) => p.spec?.policyTypes?.includes('Egress'))
        .flatMap((p) => p.spec?.egress ?? [])
        .flatMap((rule) => rule.ports ?? []);
      const allowed = new Set(egress.map((p) => `${p.protocol ?? 'TCP'}/${p.port}`));
      const needed = new Set(['UDP/53']);
      for (const container of containers) {
        const { env } = resolveEnv(container, objects, `${name}-0`);
        for (const broker of (env.KAFKA_BROKERS ?? '').split(',').filter(Boolean)) {
          needed.add(`TCP/${broker.trim().split(':').pop()}`);
        }
        if (env.DATABASE_URL) needed.add(`TCP/${new URL(env.DATABASE_URL).port || '5432'}`);
      }
      expect([...needed].filter((port) => !allowed.has(port))).toEqual([]);
    },
  );

  test('the review API has a Service on its API port (and an Ingress onto it where there is one)', () => {
    const container = serviceContainer('review-api');
    const config = serviceConfigs['review-api'].load(resolveEnv(container, objects, 'review-api-0').env);
    const services = byKind<Service>(objects, 'Service').filter((s) =>
      selects(s.spec?.selector, podLabels('review-api')),
    );
    expect(services).toHaveLength(1);
    const ports = services[0]!.spec!.ports!;
    expect(ports.map((p) => portNumber(container, p.targetPort))).toEqual([config.apiPort]);
    for (const ingress of byKind<Ingress>(objects, 'Ingress')) {
      for (const path of ingress.spec?.rules?.flatMap((r) => r.http?.paths ?? []) ?? []) {
        const backend = path.backend.service!;
        expect(backend.name).toBe(services[0]!.metadata!.name);
        expect(ports.some((p) => p.name === backend.port?.name || p.port === backend.port?.number)).toBe(
          true,
        );
      }
    }
  });

  test('the init job migrates, then creates the topics, from the tools image', () => {
    const jobs = byKind<Job>(objects, 'Job');
    expect(jobs.map((j) => j.metadata?.name)).toEqual(['hitl-init']);
    const pod = jobs[0]!.spec!.template.spec!;
    expect(['Never', 'OnFailure']).toContain(pod.restartPolicy);
    // Init containers run to completion, in order, before the containers start.
    const steps = [...(pod.initContainers ?? []), ...pod.containers];
    expect(steps.map((c) => c.name)).toEqual(['migrate', 'topics']);
    expect(steps[0]!.args).toEqual(expect.arrayContaining(['dist/migrate.js', 'up']));
    expect(steps[1]!.args).toEqual(expect.arrayContaining(['dist/topics.js', 'create']));
    for (const step of steps) {
      // args, not command: the image's entrypoint (tini) stays PID 1.
      expect(step.command).toBeUndefined();
      expect(step.image?.split(':')[0]).toMatch(new RegExp(`(^|/)${images.tools.image}$`));
      const { env, problems } = resolveEnv(step, objects, 'hitl-init-x2x4z');
      expect(problems).toEqual([]);
      const variables = toolVariables[step.name]!;
      expect(Object.keys(env).filter((name) => !variables.all.includes(name))).toEqual([]);
      expect(variables.required.filter((name) => !(name in env))).toEqual([]);
    }
  });

  test('the prune CronJob runs hitl prune from the tools image, one run at a time', () => {
    const cronJobs = byKind<CronJob>(objects, 'CronJob');
    expect(cronJobs.map((j) => j.metadata?.name)).toEqual(['hitl-prune']);
    const spec = cronJobs[0]!.spec!;
    expect(spec.concurrencyPolicy).toBe('Forbid');
    const pod = spec.jobTemplate.spec!.template.spec!;
    expect(['Never', 'OnFailure']).toContain(pod.restartPolicy);
    expect(pod.containers).toHaveLength(1);
    const container = pod.containers[0]!;
    expect(container.command).toBeUndefined();
    expect(container.args).toEqual(expect.arrayContaining(['dist/hitl.js', 'prune']));
    expect(container.image?.split(':')[0]).toMatch(new RegExp(`(^|/)${images.tools.image}$`));
    const { env, problems } = resolveEnv(container, objects, 'hitl-prune-29000000-x2x4z');
    expect(problems).toEqual([]);
    const variables = toolVariables.prune!;
    expect(Object.keys(env).filter((name) => !variables.all.includes(name))).toEqual([]);
    expect(variables.required.filter((name) => !(name in env))).toEqual([]);
    // Each HITL_RETENTION_* setting is a whole number of at least 1 (loadRetentionConfig's rule).
    const retention = Object.entries(env).filter(([name]) => name.startsWith('HITL_RETENTION_'));
    expect(retention.length).toBeGreaterThan(0);
    expect(retention.filter(([, value]) => !/^[1-9]\d*$/.test(value))).toEqual([]);
  });

  test('inference and router scale with the overlay autoscaler, up to their topic partitions', () => {
    const scaledObjects = byKind<ScaledObject>(objects, 'ScaledObject');
    const hpas = byKind<HorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');
    const kind = autoscalerOf[overlay];
    expect(scaledObjects).toHaveLength(kind === 'keda' ? 2 : 0);
    expect(hpas).toHaveLength(kind === 'hpa' ? 2 : 0);
    for (const service of ['inference', 'router'] as const) {
      const w = workload(service);
      const container = serviceContainer(service);
      const { env } = resolveEnv(container, objects, `${service}-0`);
      const config = serviceConfigs[service].load(env);
      const partitions = allTopics.find((t) => t.name === config.scaledTopic)!.partitions;
      if (kind === 'none') continue;
      // A replicas field would be set back at every apply, fighting the autoscaler.
      expect(w.spec.replicas).toBeUndefined();
      if (kind === 'keda') {
        const so = scaledObjects.find((s) => s.metadata?.name === service)!;
        expect(so.spec.scaleTargetRef).toMatchObject({ kind: w.kind, name: service });
        expect(so.spec.maxReplicaCount).toBeLessThanOrEqual(partitions);
        expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
        const trigger = so.spec.triggers.find((t) => t.type === 'kafka')!;
        expect(trigger.metadata.consumerGroup).toBe(config.groupId);
        expect(trigger.metadata.topic).toBe(config.scaledTopic);
        const fromEnv = trigger.metadata.bootstrapServersFromEnv;
        expect(fromEnv ? env[fromEnv] : trigger.metadata.bootstrapServers).toBe(env.KAFKA_BROKERS);
      } else {
        const hpa = hpas.find((h) => h.metadata?.name === service)!;
        expect(hpa.spec?.scaleTargetRef).toMatchObject({ kind: w.kind, name: service });
        expect(hpa.spec?.maxReplicas).toBeLessThanOrEqual(partitions);
      }
    }
  });

  test('secrets: production overlays contain none, dev generates its own', () => {
    const secrets = byKind<Secret>(objects, 'Secret');
    if (overlay === 'dev') {
      expect(secrets.map((s) => s.metadata?.name)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^hitl-secrets-/)]),
      );
    } else {
      expect(secrets).toEqual([]);
    }
  });
});
