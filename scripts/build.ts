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
import { cp, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
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
    // Mapping a stack needs the mappings, not a copy of every source file: without the sources
    // the maps are a fraction of the size. They are read by map-stack, and by Node only when a
    // process is started with --enable-source-maps (ADR 0023).
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
    // Logged stacks name bundle positions (no --enable-source-maps, ADR 0023): this maps them back.
    'map-stack': 'scripts/map-stack.ts',
  };
  for (const service of await readdir(join(root, 'services'))) entries[`services/${service}`] = `services/${service}/src/main.ts`;
  return entries;
}

/** The production build into `dir` (default dist/; another folder must be inside the repository). */
export async function buildDist(dir: string = outdir): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await buildBundles(await entryPoints(), dir);
  await copyRuntimeFiles(dir);
}

/** The files bundled code reads beside itself at run time: the descriptor set and the PGlite worker. */
export async function copyRuntimeFiles(dir: string): Promise<void> {
  // @kfrm/proto finds its descriptor set next to the code: dist/gen/ once bundled.
  await mkdir(join(dir, 'gen'), { recursive: true });
  await cp(join(root, 'packages/proto/src/gen/descriptor-set.binpb'), join(dir, 'gen/descriptor-set.binpb'));
  await copyPGliteWorker(dir);
}

/**
 * The embedded PGlite's worker thread runs a file of its own, which @kfrm/db finds next to its
 * code (`new URL('./pglite-worker.mjs', import.meta.url)`): next to the bundle's chunks once
 * bundled. Every entry point opens the database, so that code is in a shared chunk at the top of
 * `dir`; a bundle that put it anywhere else would start no embedded database, so that fails the
 * build, as does a bundle where the reference is not found at all (this check would then be blind).
 */
export async function copyPGliteWorker(dir: string): Promise<void> {
  await cp(join(root, 'packages/db/src/pglite-worker.mjs'), join(dir, 'pglite-worker.mjs'));
  const reference = /new URL\(["'`]\.\/pglite-worker\.mjs["'`], import\.meta\.url\)/;
  const referencing: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.mjs') || entry.name === 'pglite-worker.mjs') continue;
    const path = join(entry.parentPath, entry.name);
    if (reference.test(await readFile(path, 'utf8'))) referencing.push(path);
  }
  if (referencing.length === 0)
    throw new Error(`no bundle in ${dir} starts the PGlite worker: the check for where it looks is out of date`);
  const misplaced = referencing.filter((path) => dirname(path) !== dir);
  if (misplaced.length > 0)
    throw new Error(`${misplaced.join(', ')} look for the PGlite worker in their own folder; only files at the top of ${dir} find it`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  await buildDist();
  console.log(`dist/ built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
