// The container images: which workspace package each one ships, which entry points are bundled
// into its dist/ folder, and the ports its Dockerfile exposes. The bundle script (which the
// Dockerfiles run) and the deploy tests read this one list; the tests hold the Dockerfiles to it.
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..');

export interface ImageSpec {
  /** Image name, e.g. hitl/inference. */
  image: string;
  /** Its Dockerfile, from the repository root (the build context). */
  dockerfile: string;
  /** The workspace package whose production dependencies go into the image's node_modules. */
  workspacePackage: string;
  /** Its folder, from the repository root. */
  packageDir: string;
  /** dist/<name>.js ← the TypeScript entry point (from the repository root). */
  entries: Readonly<Record<string, string>>;
  /** Ports the image exposes (health first). Empty for the tools image. */
  ports: readonly number[];
  /** Folders copied into the image as they are, from the repository root → under /app. */
  assets?: Readonly<Record<string, string>>;
}

export const serviceNames = ['inference', 'router', 'review-api', 'trainer'] as const;
export type ServiceName = (typeof serviceNames)[number];
export type ImageName = ServiceName | 'tools';

export const images: Readonly<Record<ImageName, ImageSpec>> = {
  inference: {
    image: 'hitl/inference',
    dockerfile: 'services/inference/Dockerfile',
    workspacePackage: '@hitl/inference',
    packageDir: 'services/inference',
    entries: { main: 'services/inference/src/main.ts' },
    ports: [8081],
  },
  router: {
    image: 'hitl/router',
    dockerfile: 'services/router/Dockerfile',
    workspacePackage: '@hitl/router',
    packageDir: 'services/router',
    entries: { main: 'services/router/src/main.ts' },
    ports: [8082],
  },
  'review-api': {
    image: 'hitl/review-api',
    dockerfile: 'services/review-api/Dockerfile',
    workspacePackage: '@hitl/review-api',
    packageDir: 'services/review-api',
    entries: { main: 'services/review-api/src/main.ts' },
    ports: [8083, 8080],
  },
  trainer: {
    image: 'hitl/trainer',
    dockerfile: 'services/trainer/Dockerfile',
    workspacePackage: '@hitl/trainer',
    packageDir: 'services/trainer',
    // train-in-worker.ts starts dist/training-worker.js beside the bundle (its __dirname).
    entries: {
      main: 'services/trainer/src/main.ts',
      'training-worker': 'services/trainer/src/training-worker.ts',
    },
    ports: [8084],
  },
  tools: {
    image: 'hitl/tools',
    dockerfile: 'deploy/docker/tools.Dockerfile',
    // The `hitl` command's package depends on everything migrate and topics need.
    workspacePackage: '@hitl/cli',
    packageDir: 'packages/cli',
    entries: {
      hitl: 'packages/cli/src/main.ts',
      migrate: 'packages/db/src/cli.ts',
      topics: 'packages/kafka/src/cli.ts',
    },
    ports: [],
    // packages/db's migrationsDir is `<dir of the code>/../migrations`: dist/../migrations.
    assets: { 'packages/db/migrations': 'migrations' },
  },
};

export function imageSpec(name: string): ImageSpec {
  const spec = (images as Record<string, ImageSpec | undefined>)[name];
  if (!spec) throw new Error(`unknown image "${name}": one of ${Object.keys(images).join(', ')}`);
  return spec;
}

export const fromRoot = (...parts: string[]): string => join(repoRoot, ...parts);

/**
 * The Node.js major the images run: the Active LTS (nodejs/Release schedule.json: 26 from
 * 2026-10-28, Maintenance from 2027-10-20). The workspace itself is still built and tested on
 * Node 20 (the CI machines'), which is why the root engines range starts there.
 */
export const nodeMajor = 26;

/**
 * Images we build from or run without building that are not pinned by digest yet, each with
 * the reason. Every other one is `name:tag@sha256:…` (deploy/test/images.test.ts holds both
 * ways); `bash deploy/scripts/pin-images.sh`, run online, pins them all: then empty this list.
 */
export const unpinnedImages: Readonly<Record<string, string>> = {
  'apache/kafka:4.4.0':
    'not an official image (no docker-library/repo-info record) and no digest found from a source we trust',
};
