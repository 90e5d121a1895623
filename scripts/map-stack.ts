// Maps the bundle positions in stack traces (`…/dist/chunk-ABC.mjs:1234:17`) back to the
// TypeScript, with the source maps the build writes beside each bundle. The services run without
// --enable-source-maps (ADR 0023), so their logged stacks name bundle positions; this turns them
// into source positions afterwards, on a copy of the same build.
//
//   node dist/map-stack.mjs [--dist <dir>] < log.txt           (in the image: /app/dist)
//   npx pnpm@10 -s map-stack [--dist dist] < log.txt            (in a checkout, after pnpm build)
//
// Reads standard input (stack traces, or log lines with the stack in a JSON string) and writes
// it with every position it can map replaced by `<source>:<line>:<column>`; the rest unchanged.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A position in a stack trace: `<path or file URL ending in .mjs>:<line>:<column>`, both 1-based. */
const FRAME_POSITION = /((?:file:\/\/)?[^\s()"'\\]*?\.mjs):(\d+):(\d+)/g;

/**
 * `text` with each bundle position that `mapFor` has a source map for replaced by the source
 * position; positions without a map, or that map to nothing, are left as they are.
 */
export function mapStackText(text: string, mapFor: (bundlePath: string) => { map: SourceMap; sourceRoot: string } | undefined): string {
  return text.replace(FRAME_POSITION, (whole, path: string, line: string, column: string) => {
    const found = mapFor(path);
    if (!found) return whole;
    // V8 prints 1-based lines and columns; SourceMap.findEntry takes 0-based offsets.
    const entry = found.map.findEntry(Number(line) - 1, Number(column) - 1);
    if (!entry || !('originalSource' in entry) || !entry.originalSource) return whole;
    const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : entry.originalSource;
    const shown = isAbsolute(source) ? relative(found.sourceRoot, source) : source;
    return `${shown}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

/**
 * Finds the map for a bundle path as a stack names it (absolute, a file URL, or under another
 * root such as the image's /app): the part after the last `dist/` (or the file name), looked up
 * in `distDir`. Sources are shown relative to the folder above `distDir` (the repository).
 */
export function sourceMapsIn(distDir: string): (bundlePath: string) => { map: SourceMap; sourceRoot: string } | undefined {
  const cache = new Map<string, { map: SourceMap; sourceRoot: string } | undefined>();
  const sourceRoot = dirname(resolve(distDir));
  return (bundlePath) => {
    const path = bundlePath.startsWith('file://') ? fileURLToPath(bundlePath) : bundlePath;
    const at = path.lastIndexOf('dist/');
    const inDist = at >= 0 ? path.slice(at + 'dist/'.length) : path.slice(path.lastIndexOf('/') + 1);
    if (cache.has(inDist)) return cache.get(inDist);
    const mapFile = join(distDir, `${inDist}.map`);
    let found: { map: SourceMap; sourceRoot: string } | undefined;
    if (existsSync(mapFile)) {
      const payload = JSON.parse(readFileSync(mapFile, 'utf8'));
      // The map's sources are relative to the map's own folder; make them absolute so they can be
      // shown relative to the repository whatever folder the bundle is in.
      const mapDir = dirname(mapFile);
      payload.sources = (payload.sources as string[]).map((s) => resolve(mapDir, payload.sourceRoot ?? '', s));
      delete payload.sourceRoot;
      found = { map: new SourceMap(payload), sourceRoot };
    }
    cache.set(inDist, found);
    return found;
  };
}

async function main(argv: string[]): Promise<void> {
  const at = argv.indexOf('--dist');
  const unknown = argv.filter((arg, i) => arg !== '--dist' && !(at >= 0 && i === at + 1));
  if ((at >= 0 && !argv[at + 1]) || unknown.length > 0) {
    process.stderr.write('usage: map-stack [--dist <dir>] < stack.txt\n');
    process.exit(2);
  }
  // Bundled, the script sits in dist/ itself; run from a checkout, dist/ is beside scripts/.
  const here = dirname(fileURLToPath(import.meta.url));
  const distDir = at >= 0 ? argv[at + 1]! : existsSync(join(here, 'backend.mjs')) ? here : join(here, '..', 'dist');
  if (!existsSync(distDir)) {
    process.stderr.write(`map-stack: no build at ${distDir} (run pnpm build, or pass --dist)\n`);
    process.exit(2);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  process.stdout.write(mapStackText(Buffer.concat(chunks).toString('utf8'), sourceMapsIn(distDir)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
