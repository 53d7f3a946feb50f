// `tsx deploy/scripts/bundle.ts <image> <appdir>`: compiles an image's entry points and the
// workspace packages they import (TypeScript source) into CommonJS files in <appdir>/dist, with
// source maps, and copies the image's assets into <appdir>. npm packages stay external: they run
// from the node_modules that `pnpm deploy --prod` put in <appdir>, as their authors shipped them
// (native addons, files read beside their code, worker scripts). When that node_modules is there,
// it is then cut down to what the bundle can reach (see prune.ts).
import { builtinModules } from 'node:module';
import { existsSync } from 'node:fs';
import { cp, mkdir, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { build, type Metafile, type Plugin } from 'esbuild';
import { fromRoot, imageSpec, type ImageSpec } from './images';
import { pruneNodeModules, pruneOnnxRuntimeBinaries } from './prune';

const builtins = new Set(builtinModules);

/** The package an import names: `pg`, `@fastify/swagger`; null for `node:fs` and other built-ins. */
export function packageOf(specifier: string): string | null {
  if (specifier.startsWith('node:') || builtins.has(specifier.split('/')[0]!)) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

// Workspace packages (@hitl/*) are compiled in; every other bare import is left to node_modules.
const npmPackagesExternal: Plugin = {
  name: 'npm-packages-external',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@hitl/') ? undefined : { path: args.path, external: true },
    );
  },
};

export interface BundleResult {
  /** Files written to <appdir>/dist. */
  outputs: string[];
  /** npm packages the bundle requires at run time (built-ins left out). */
  externalPackages: string[];
}

function externalsOf(metafile: Metafile): string[] {
  const found = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) {
      if (!imported.external) continue;
      const name = packageOf(imported.path);
      if (name) found.add(name);
    }
  }
  return [...found].sort();
}

/** Bundles one image's entry points into <appDir>/dist (emptied first) and copies its assets. */
export async function bundleImage(spec: ImageSpec, appDir: string): Promise<BundleResult> {
  const outdir = join(appDir, 'dist');
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: fromRoot(),
    entryPoints: Object.fromEntries(Object.entries(spec.entries).map(([name, src]) => [name, fromRoot(src)])),
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'linked',
    // Readable stack traces and class names in logs; size is not what matters in a server image.
    minify: false,
    plugins: [npmPackagesExternal],
    metafile: true,
    logLevel: 'silent',
  });
  for (const [from, to] of Object.entries(spec.assets ?? {})) {
    await rm(join(appDir, to), { recursive: true, force: true });
    await cp(fromRoot(from), join(appDir, to), { recursive: true });
  }
  return {
    outputs: Object.keys(result.metafile.outputs)
      .map((file) => relative(outdir, fromRoot(file)))
      .sort(),
    externalPackages: externalsOf(result.metafile),
  };
}

async function main(argv: readonly string[]): Promise<number> {
  const [image, appDirArg] = argv;
  if (!image || !appDirArg) {
    process.stderr.write(
      'usage: bundle <image> <appdir>   (image: inference, router, review-api, trainer, tools)\n',
    );
    return 64;
  }
  const spec = imageSpec(image);
  const appDir = resolve(appDirArg);
  const { outputs, externalPackages } = await bundleImage(spec, appDir);
  process.stdout.write(`${spec.image}: dist/{${outputs.join(',')}}\n`);
  process.stdout.write(`  npm packages required at run time: ${externalPackages.join(', ')}\n`);
  if (existsSync(join(appDir, 'node_modules'))) {
    const { kept, removed } = pruneNodeModules(appDir, externalPackages);
    const binaries = pruneOnnxRuntimeBinaries(appDir, process.platform, process.arch);
    process.stdout.write(`  node_modules: kept ${kept.length} packages, removed ${removed.length}`);
    process.stdout.write(`${binaries.length > 0 ? ` and onnxruntime-node's ${binaries.join(', ')}` : ''}\n`);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
