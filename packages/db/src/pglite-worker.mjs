// @ts-check
/**
 * The worker thread that runs the embedded PGlite (pglite-thread.ts is the other end).
 *
 * PGlite is PostgreSQL compiled to WebAssembly, and it runs on whichever thread calls it: on the
 * main thread its open (≈ 0.6 s for an existing data directory, ≈ 2 s for a new one) could only
 * follow the loading of the services' code, and every query's execution shared the event loop
 * with the gRPC servers. Here it opens while the main thread loads the rest, and runs queries on
 * the machine's other core.
 *
 * Plain JavaScript (type-checked through JSDoc): a worker thread loads its file with Node's own
 * loader, with neither tsx (development, tests) nor the bundle (dist/) around it. The build copies
 * it next to the bundle's chunks (scripts/build.ts).
 *
 * Protocol (messages on the worker's port): the main side sends `{ id, kind: 'query', sql,
 * params, textOids }`, `{ id, kind: 'exec', sql, textOids }` or `{ id, kind: 'close' }`; the worker
 * answers `{ id, ok: true, value }` or `{ id, ok: false, error }`, once `{ kind: 'ready' }` or
 * `{ kind: 'open-failed', error }` after opening. Requests run one at a time, in arrival order.
 * Values of the types in `textOids` come back as PostgreSQL's text: the main side parses them
 * (its parsers are functions, which cannot cross threads).
 */
import { mkdirSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';

/** @typedef {{ dataDir?: string }} PGliteWorkerData */
/** @typedef {{ id: number, kind: 'query', sql: string, params: unknown[], textOids: number[] } | { id: number, kind: 'exec', sql: string, textOids: number[] } | { id: number, kind: 'close' }} PGliteRequest */

if (!parentPort) throw new Error('pglite-worker.mjs runs as a worker thread (pglite-thread.ts starts it)');
const port = parentPort;

/**
 * V8 compiles WebAssembly first with its baseline compiler (Liftoff) and then recompiles hot
 * functions with TurboFan on background threads. On two cores that recompilation competed with
 * the start itself (PGlite's open took ≈ 2.3 s instead of ≈ 1.6 s), and small queries ran no
 * faster with it (docs/performance.md). The flag is process-wide; PGlite is the only WebAssembly
 * the backend runs.
 */
setFlagsFromString('--liftoff-only');

/**
 * An error as plain data: its own fields (a PostgreSQL error's `code`, `severity`, `constraint`,
 * `detail`, …) survive the copy to the main thread, which an Error's structured clone drops.
 * @param {unknown} err
 */
function errorData(err) {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), fields: {} };
  /** @type {Record<string, string | number | boolean>} */
  const fields = {};
  for (const [key, value] of Object.entries(err)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = value;
  }
  return { name: err.name, message: err.message, stack: err.stack, fields };
}

/** @type {Map<string, Record<number, (text: string) => string>>} */
const textParsersByOids = new Map();
/** @param {number[]} oids */
function textParsers(oids) {
  const key = oids.join(',');
  let parsers = textParsersByOids.get(key);
  if (!parsers) {
    parsers = {};
    for (const oid of oids) parsers[oid] = (text) => text;
    textParsersByOids.set(key, parsers);
  }
  return parsers;
}

/** @type {PGliteWorkerData} */
const options = workerData ?? {};
/** @type {import('@electric-sql/pglite').PGlite} */
let pglite;
try {
  if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  pglite = await PGlite.create(options.dataDir !== undefined ? { dataDir: options.dataDir } : {});
} catch (err) {
  port.postMessage({ kind: 'open-failed', error: errorData(err) });
  port.close();
  throw err;
}

/** @type {PGliteRequest[]} */
const queue = [];
let running = false;

/** @param {PGliteRequest} request */
async function run(request) {
  switch (request.kind) {
    case 'query':
      return pglite.query(request.sql, request.params, { parsers: textParsers(request.textOids) });
    case 'exec':
      return pglite.exec(request.sql, { parsers: textParsers(request.textOids) });
    case 'close':
      if (!pglite.closed) await pglite.close();
      return undefined;
  }
}

async function drain() {
  running = true;
  for (let request = queue.shift(); request; request = queue.shift()) {
    try {
      const value = await run(request);
      port.postMessage({ id: request.id, ok: true, value });
    } catch (err) {
      port.postMessage({ id: request.id, ok: false, error: errorData(err) });
    }
    // After the close's answer nothing else runs; the main side ends the thread.
    if (request.kind === 'close') {
      port.close();
      return;
    }
  }
  running = false;
}

port.on('message', (/** @type {PGliteRequest} */ request) => {
  queue.push(request);
  if (!running) void drain();
});
port.postMessage({ kind: 'ready' });
