// Compiles the entry points into plain JavaScript bundles in dist/, so production processes
// (containers, `pnpm start:compiled`, `start:split`) do not load and transpile hundreds of
// TypeScript modules through tsx at every start (about 3 s of a start). Development and tests
// keep running the TypeScript directly.
//
//   node --import tsx scripts/build.ts        → dist/<entry>.mjs (+ source maps)
//
// Packages are bundled except those that read files next to their own code at run time or ship
// native or WebAssembly parts; those stay in node_modules (root dependencies, so they resolve
// from dist/).
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const outdir = join(root, 'dist');

/** Resolved at run time from the root's node_modules. */
export const EXTERNAL_PACKAGES = [
  '@grpc/grpc-js', // one copy shared with the two below
  '@grpc/reflection', // loads its .proto files from disk
  '@grpc/proto-loader',
  'grpc-health-check', // loads health.proto from disk
  '@node-rs/argon2', // native addon
  '@electric-sql/pglite', // WebAssembly and data files
  'pg-native', // optional in pg, not installed
  // Test-only database and Redis containers: never loaded by a production entry point.
  'testcontainers',
  '@testcontainers/*',
];

/**
 * Bundles `entries` (name → TypeScript entry) into `dir` as the production build does; the
 * benches use it to measure the code as containers run it. `dir` must be inside the repository,
 * so the external packages resolve from its node_modules.
 */
export async function buildBundles(entries: Record<string, string>, dir: string): Promise<void> {
  await build({
    absWorkingDir: root,
    entryPoints: entries,
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true, // the entry points share one copy of the common code
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: EXTERNAL_PACKAGES,
    sourcemap: true,
    // Stack traces need the mappings, not a copy of every source file: without the sources the
    // maps are a fraction of the size, and Node reads and parses them at every start
    // (--enable-source-maps).
    sourcesContent: false,
    logLevel: 'warning',
    // Bundled CommonJS packages call require() for Node's built-ins.
    banner: {
      js: "import { createRequire as __kfrmCreateRequire } from 'node:module'; const require = __kfrmCreateRequire(import.meta.url);",
    },
  });
}

export async function entryPoints(): Promise<Record<string, string>> {
  const entries: Record<string, string> = {
    backend: 'packages/backend/src/main.ts',
    migrate: 'packages/backend/src/migrate.ts',
    'grpc-health-check': 'scripts/grpc-health-check.ts',
  };
  for (const service of await readdir(join(root, 'services'))) entries[`services/${service}`] = `services/${service}/src/main.ts`;
  return entries;
}

export async function buildDist(): Promise<void> {
  await rm(outdir, { recursive: true, force: true });
  await buildBundles(await entryPoints(), outdir);
  // @kfrm/proto finds its descriptor set next to the code: dist/gen/ once bundled.
  await mkdir(join(outdir, 'gen'), { recursive: true });
  await cp(join(root, 'packages/proto/src/gen/descriptor-set.binpb'), join(outdir, 'gen/descriptor-set.binpb'));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  await buildDist();
  console.log(`dist/ built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
