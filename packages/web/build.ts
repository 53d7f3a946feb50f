// Builds the web app into dist/: index.html (served with no-cache) and assets/ named by content
// hash (served as immutable), so a deploy never mixes an old page with new scripts.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

const here = __dirname;
const dist = join(here, 'dist');

const ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#2a6"/></svg>';

async function main(): Promise<void> {
  const started = performance.now();
  await rm(dist, { recursive: true, force: true });
  const result = await build({
    entryPoints: { app: join(here, 'src/main.tsx') },
    tsconfig: join(here, 'src/tsconfig.json'),
    outdir: join(dist, 'assets'),
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
    minify: true,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const [script, meta] = outputs.find(([, o]) => o.entryPoint !== undefined) ?? [];
  if (!script || !meta) throw new Error('esbuild produced no entry script');
  const stylesheet = meta.cssBundle;
  // An icon of its own: without one the browser asks for /favicon.ico, an admin-only 404 here.
  const icon = `favicon-${createHash('sha256').update(ICON).digest('hex').slice(0, 8)}.svg`;
  await writeFile(join(dist, 'assets', icon), ICON);
  // No inline script or style: the page is served under a CSP with default-src 'self'.
  const html = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>hitl review</title>
    <link rel="icon" href="assets/${icon}" type="image/svg+xml" />
    ${stylesheet ? `<link rel="stylesheet" href="assets/${basename(stylesheet)}" />` : ''}
    <script type="module" src="assets/${basename(script)}"></script>
  </head>
  <body>
    <div id="app"></div>
    <noscript>The review app needs JavaScript.</noscript>
  </body>
</html>
`;
  await mkdir(dist, { recursive: true });
  await writeFile(join(dist, 'index.html'), html);
  const bytes = outputs.reduce((sum, [, o]) => sum + o.bytes, 0);
  console.log(
    `web app built in ${Math.round(performance.now() - started)} ms: ${outputs.length} assets, ${bytes} bytes`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
