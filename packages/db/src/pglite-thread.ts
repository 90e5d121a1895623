/**
 * The embedded PGlite on a worker thread of its own (pglite-worker.mjs), seen from the main thread
 * as the `PGliteLike` the Kysely dialect drives.
 *
 * Why a thread: PGlite runs PostgreSQL as WebAssembly on whichever thread calls it. On the main
 * thread its open (≈ 0.6 s for an existing data directory, ≈ 2 s for a new one) could only start
 * once the services' code had loaded, and each query's execution took the event loop from the
 * gRPC servers. On its own thread it opens while the rest loads (`startPGliteThreadEarly`, called
 * first thing by the embedded default's entry point) and runs queries on the other core
 * (ADR 0022, with what each statement's hop between the threads costs).
 *
 * What crosses the threads is plain data: the SQL and its parameters one way, rows the other.
 * Parsers are functions and cannot cross, so the worker returns the text of the types the caller
 * has parsers for and they run here; a PostgreSQL error's fields travel as data and come back on
 * an Error, where `findDatabaseError` finds them as it does on pg's.
 */
import { resolve as resolvePath } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ParserOptions, QueryOptions, Results } from '@electric-sql/pglite';
import type { PGliteLike } from './pglite-dialect';

interface ErrorData {
  name: string;
  message: string;
  stack?: string;
  fields: Record<string, string | number | boolean>;
}

type Answer = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ErrorData };
type Notice = { kind: 'ready' } | { kind: 'open-failed'; error: ErrorData };

/** The worker's file: next to this module in the sources, next to the bundle's chunks in dist/. */
const workerUrl = new URL('./pglite-worker.mjs', import.meta.url);

function errorFrom(data: ErrorData): Error {
  const err = new Error(data.message);
  err.name = data.name;
  Object.assign(err, data.fields);
  // The worker's frames say where PostgreSQL failed; the caller's are appended by the dialect.
  if (data.stack) err.stack = data.stack;
  return err;
}

/** Applies the caller's parsers to the values the worker returned as text. */
function parseRows(result: Results, parsers: ParserOptions | undefined): Results {
  if (!parsers) return result;
  const parsed = result.fields.filter((f) => parsers[f.dataTypeID] !== undefined);
  if (parsed.length === 0) return result;
  for (const row of result.rows as Record<string, unknown>[]) {
    for (const field of parsed) {
      const value = row[field.name];
      if (typeof value === 'string') row[field.name] = parsers[field.dataTypeID]!(value);
    }
  }
  return result;
}

function oidsOf(parsers: ParserOptions | undefined): number[] {
  return parsers ? Object.keys(parsers).map(Number) : [];
}

export class PGliteThread implements PGliteLike {
  readonly waitReady: Promise<void>;
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  #nextId = 1;
  #opening = true;
  /** Why nothing can run any more (closed, or the thread ended); undefined while usable. */
  #ended: Error | undefined;
  /** What ended the thread, when an uncaught exception did. */
  #threadError: Error | undefined;
  #closing: Promise<void> | undefined;
  /** The oid list sent with each request, per parser set the dialect passes (it passes one). */
  #oidsCache = new WeakMap<ParserOptions, number[]>();

  constructor(options: { dataDir?: string } = {}) {
    this.#worker = new Worker(workerUrl, {
      workerData: options.dataDir !== undefined ? { dataDir: options.dataDir } : {},
      // Not the main thread's flags: its file is plain JavaScript (no tsx loader to load again),
      // and flags such as --input-type would stop it from starting at all.
      execArgv: [],
    });
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    this.waitReady = new Promise<void>((resolve, reject) => {
      const onNotice = (message: Notice | Answer) => {
        if (!('kind' in message)) return;
        this.#worker.off('message', onNotice);
        this.#opening = false;
        this.#holdProcess();
        if (message.kind === 'ready') resolve();
        else reject(errorFrom(message.error));
      };
      this.#worker.on('message', onNotice);
      void this.#exited.then(() =>
        reject(new Error('the PGlite worker thread ended before it opened the database', { cause: this.#threadError })),
      );
    });
    // Nobody may be waiting for the open yet (a thread started early): not an unhandled rejection.
    this.waitReady.catch(() => undefined);
    this.#worker.on('message', (message: Notice | Answer) => {
      if ('kind' in message) return;
      const waiter = this.#pending.get(message.id);
      if (!waiter) return;
      this.#pending.delete(message.id);
      this.#holdProcess();
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(errorFrom(message.error));
    });
    this.#worker.on('error', (err) => {
      // An exception the worker did not catch; its 'exit' follows.
      this.#threadError = err;
      this.#end(err);
    });
    this.#worker.once('exit', (code) => this.#end(new Error(`the PGlite worker thread ended (exit code ${code})`)));
  }

  get closed(): boolean {
    return this.#ended !== undefined;
  }

  /** The worker itself, for tests that end it as a crash would. */
  get worker(): Worker {
    return this.#worker;
  }

  async query<T>(sql: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>> {
    const result = (await this.#send({ kind: 'query', sql, params: params ?? [], textOids: this.#oids(options?.parsers) })) as Results;
    return parseRows(result, options?.parsers) as Results<T>;
  }

  async exec(sql: string, options?: QueryOptions): Promise<Results[]> {
    const results = (await this.#send({ kind: 'exec', sql, textOids: this.#oids(options?.parsers) })) as Results[];
    return results.map((r) => parseRows(r, options?.parsers));
  }

  /** Closes PGlite (a clean shutdown of its data directory) and ends the thread. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        if (!this.#ended) {
          await this.waitReady;
          await this.#send({ kind: 'close' });
        }
      } finally {
        this.#end(new Error('PGlite is closed'));
        await this.#worker.terminate();
        await this.#exited;
      }
    })();
    return this.#closing;
  }

  /**
   * Only an open in progress or an answer still owed keeps the process alive (as a socket does
   * for pg): an idle embedded database must not hold a finished CLI open.
   */
  #holdProcess(): void {
    if (this.#opening || this.#pending.size > 0) this.#worker.ref();
    else this.#worker.unref();
  }

  #oids(parsers: ParserOptions | undefined): number[] {
    if (!parsers) return [];
    let oids = this.#oidsCache.get(parsers);
    if (!oids) {
      oids = oidsOf(parsers);
      this.#oidsCache.set(parsers, oids);
    }
    return oids;
  }

  #send(
    request:
      | { kind: 'query'; sql: string; params: unknown[]; textOids: number[] }
      | { kind: 'exec'; sql: string; textOids: number[] }
      | { kind: 'close' },
  ): Promise<unknown> {
    if (this.#ended) return Promise.reject(this.#ended);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      try {
        // Throws for what cannot be copied to another thread (a function, a class's own
        // methods): nothing was sent, so nothing is owed.
        this.#worker.postMessage({ id, ...request });
      } catch (err) {
        reject(err);
        return;
      }
      this.#pending.set(id, { resolve, reject });
      this.#holdProcess();
    });
  }

  #end(reason: Error): void {
    this.#ended ??= reason;
    this.#opening = false;
    for (const waiter of this.#pending.values()) waiter.reject(this.#ended);
    this.#pending.clear();
    this.#holdProcess();
  }
}

/**
 * Threads started before anyone asked for them (`startPGliteThreadEarly`), by resolved data
 * directory: `openDatabase` takes one over instead of starting its own.
 */
const startedEarly = new Map<string, PGliteThread>();

/**
 * Starts the embedded database's thread now, for the `openDatabase` call that will come for the
 * same data directory. The embedded default calls it before loading the services' code, so
 * PGlite's open runs alongside. It holds the process open only while it opens, like any thread.
 */
export function startPGliteThreadEarly(dataDir: string): PGliteThread {
  const key = resolvePath(dataDir);
  let thread = startedEarly.get(key);
  if (!thread) {
    thread = new PGliteThread({ dataDir: key });
    startedEarly.set(key, thread);
  }
  return thread;
}

/** The thread started early for `dataDir`, handed over once; undefined when there is none. */
export function takeEarlyPGliteThread(dataDir: string): PGliteThread | undefined {
  const key = resolvePath(dataDir);
  const thread = startedEarly.get(key);
  startedEarly.delete(key);
  return thread;
}
