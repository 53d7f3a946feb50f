// Cuts an image's node_modules (as `pnpm deploy --prod` with the hoisted linker lays it out) down
// to what the bundle can reach: the npm packages it requires and, transitively, theirs. Workspace
// packages are compiled into the bundle, and an image pulls in production dependencies of its
// workspace dependencies that it never loads (the trainer gets the SpamAssassin corpus through
// @hitl/datasets, of which it uses one hash function); they would only make the image bigger.
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

interface PackageJson {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/** Node's lookup: <dir>/node_modules/<name>, then each parent's, up to root. */
function resolvePackage(root: string, from: string, name: string): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dir === dirname(dir)) return null;
  }
}

/** Package folders directly in a node_modules folder (scoped ones one level down). */
function packagesIn(nodeModules: string): string[] {
  if (!existsSync(nodeModules)) return [];
  const found: string[] = [];
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(nodeModules, entry.name);
    if (entry.name.startsWith('@') && entry.isDirectory()) {
      for (const scoped of readdirSync(path)) found.push(join(path, scoped));
    } else {
      found.push(path);
    }
  }
  return found;
}

export interface PruneResult {
  kept: string[];
  removed: string[];
}

/**
 * Keeps the packages reachable from `entryPackages` (resolved from appDir/dist) and removes the
 * rest, with node_modules/.bin. Throws when a package the bundle or a kept package needs is absent.
 */
export function pruneNodeModules(appDir: string, entryPackages: readonly string[]): PruneResult {
  const needed = new Set<string>();
  const missing: string[] = [];
  const queue: string[] = [];
  const want = (from: string, name: string, required: boolean, by: string) => {
    const dir = resolvePackage(appDir, from, name);
    if (!dir) {
      if (required) missing.push(`${name} (needed by ${by})`);
      return;
    }
    if (!needed.has(dir)) {
      needed.add(dir);
      queue.push(dir);
    }
  };
  for (const name of entryPackages) want(join(appDir, 'dist'), name, true, 'the bundle');
  while (queue.length > 0) {
    const dir = queue.shift()!;
    const pkg = readPackage(dir);
    const by = relative(appDir, dir);
    for (const name of Object.keys(pkg.dependencies ?? {})) want(dir, name, true, by);
    // Optional and peer dependencies are kept when installed: the package may require them.
    for (const name of Object.keys(pkg.optionalDependencies ?? {})) want(dir, name, false, by);
    for (const name of Object.keys(pkg.peerDependencies ?? {})) want(dir, name, false, by);
  }
  if (missing.length > 0) {
    throw new Error(`node_modules in ${appDir} lacks packages the code needs:\n  ${missing.join('\n  ')}`);
  }

  const removed: string[] = [];
  const sweep = (nodeModules: string) => {
    for (const dir of packagesIn(nodeModules)) {
      if (needed.has(dir)) {
        sweep(join(dir, 'node_modules'));
      } else {
        rmSync(dir, { recursive: true, force: true });
        removed.push(relative(appDir, dir));
      }
    }
    for (const entry of existsSync(nodeModules) ? readdirSync(nodeModules) : []) {
      // Empty scope folders and the command links of removed packages.
      const path = join(nodeModules, entry);
      if (entry === '.bin' || (entry.startsWith('@') && readdirSync(path).length === 0)) {
        rmSync(path, { recursive: true, force: true });
      }
    }
  };
  sweep(join(appDir, 'node_modules'));
  return { kept: [...needed].map((dir) => relative(appDir, dir)).sort(), removed: removed.sort() };
}

/**
 * onnxruntime-node ships its native library for every platform (about 290 MB); an image runs on
 * one. Keeps bin/napi-v*\/<platform>/<arch> of this build only.
 */
export function pruneOnnxRuntimeBinaries(appDir: string, platform: string, arch: string): string[] {
  const removed: string[] = [];
  const bin = join(appDir, 'node_modules', 'onnxruntime-node', 'bin');
  if (!existsSync(bin)) return removed;
  for (const napi of readdirSync(bin)) {
    for (const os of readdirSync(join(bin, napi))) {
      for (const cpu of readdirSync(join(bin, napi, os))) {
        if (os === platform && cpu === arch) continue;
        rmSync(join(bin, napi, os, cpu), { recursive: true, force: true });
        removed.push(join(napi, os, cpu));
      }
    }
  }
  return removed;
}
