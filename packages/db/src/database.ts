/**
 * Opening the database: a pg Pool on `DATABASE_URL` (real mode) or one PGlite, on a worker thread
 * of this process (embedded default; pglite-thread.ts, ADR 0022). One handle per process; every
 * service gets its Kysely instance from it via `handle.kysely<ServiceDB>('<its schema>')`. All
 * those instances share the handle's pool (or the single PGlite connection), so close the handle,
 * never the Kysely instances.
 */
import { resolve as resolvePath } from 'node:path';
import { Kysely, PostgresDialect, type LogEvent, type PostgresPool, type PostgresPoolClient } from 'kysely';
import pg from 'pg';
import { asDatabaseUnavailable } from './errors';
import { PGliteDialect } from './pglite-dialect';
import { PGliteThread, takeEarlyPGliteThread } from './pglite-thread';
import { queryPrepared } from './prepared-statements';
import { OID, keepText, parseUnquotedArray } from './type-parsers';

/** Structural logger (pino-compatible: `(object, message)`). */
export interface DatabaseLogger {
  debug?(obj: Record<string, unknown>, msg?: string): void;
  warn?(obj: Record<string, unknown>, msg?: string): void;
  error?(obj: Record<string, unknown>, msg?: string): void;
}

export interface OpenDatabaseOptions {
  /** Postgres connection string. Empty/undefined selects the embedded PGlite. */
  databaseUrl?: string;
  /** PGlite only: persist in this directory (created if missing). Without it: in memory. */
  dataDir?: string;
  /** pg only: pool size. Default 10. */
  poolMax?: number;
  /** pg only: server-side `statement_timeout` for every connection. Default 30 s; 0 disables. */
  statementTimeoutMs?: number;
  /** pg only: `idle_in_transaction_session_timeout`. Default 60 s; 0 disables. */
  idleInTransactionTimeoutMs?: number;
  /**
   * pg only: run QueryTemplate SQL as named prepared statements (prepared-statements.ts).
   * Default true; false for a connection pooler that cannot carry them.
   */
  preparedStatements?: boolean;
  /** pg only: `application_name` shown in pg_stat_activity. Default 'kfrm-backend'. */
  applicationName?: string;
  /** Queries slower than this are logged at warn (when `log` is given). Default 500 ms. */
  slowQueryMs?: number;
  log?: DatabaseLogger;
}

export interface DatabaseHandle {
  readonly kind: 'postgres' | 'pglite';
  /**
   * A Kysely instance on the shared pool. With `schema`, unqualified table names in query
   * builders resolve to that schema (Kysely's `withSchema`); raw `sql` is not rewritten.
   * Do not call `destroy()` on it; close the handle.
   */
  kysely<DB = any>(schema?: string): Kysely<DB>;
  /**
   * pg only: the pool's connections right now (for metrics). Absent for PGlite, which has one
   * in-process connection and no pool.
   */
  readonly poolStats?: () => PoolStats;
  /** Drains the pool / closes PGlite. Idempotent. */
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface PoolStats {
  /** Open connections, idle or in use. */
  total: number;
  idle: number;
  /** Queries queued for a connection: sustained > 0 means the pool is too small or queries too slow. */
  waiting: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Service schemas are plain lower-case identifiers, so they never need quoting. */
export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema) || schema.startsWith('pg_')) {
    throw new Error(`invalid schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _`);
  }
}

/** pg per-pool type parsers: int8 stays a string even if some code changed pg's global parsers. */
const pgTypeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary') {
      if (oid === OID.INT8 || oid === OID.NUMERIC) return keepText;
      if (oid === OID.INT8_ARRAY || oid === OID.NUMERIC_ARRAY) return parseUnquotedArray;
    }
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** PGlite data directories opened by this process: two instances on one directory corrupt it. */
const openDataDirs = new Set<string>();

export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<DatabaseHandle> {
  return options.databaseUrl ? openPostgres(options.databaseUrl, options) : openPGlite(options);
}

function kyselyLog(options: OpenDatabaseOptions): ((event: LogEvent) => void) | undefined {
  const log = options.log;
  if (!log) return undefined;
  const slowMs = options.slowQueryMs ?? 500;
  return (event) => {
    const fields: Record<string, unknown> = {
      sql: event.query.sql,
      durationMs: Math.round(event.queryDurationMillis),
    };
    if (event.level === 'error') {
      // Constraint violations etc. are normal control flow for callers; they decide what to log.
      const err = event.error as { code?: unknown; message?: unknown };
      log.debug?.({ ...fields, code: err?.code, err: err?.message }, 'db query failed');
    } else if (event.queryDurationMillis >= slowMs) {
      log.warn?.(fields, 'slow db query');
    } else {
      log.debug?.(fields, 'db query');
    }
  };
}

function makeHandle(kind: DatabaseHandle['kind'], base: Kysely<any>, afterDestroy?: () => Promise<void> | void): DatabaseHandle {
  const bySchema = new Map<string, Kysely<any>>();
  let closing: Promise<void> | undefined;
  let closed = false;
  return {
    kind,
    get closed() {
      return closed;
    },
    kysely<DB = any>(schema?: string): Kysely<DB> {
      if (closed) throw new Error('database handle is closed');
      if (schema === undefined) return base as Kysely<DB>;
      let db = bySchema.get(schema);
      if (!db) {
        assertSchemaName(schema);
        db = base.withSchema(schema);
        bySchema.set(schema, db);
      }
      return db as Kysely<DB>;
    },
    close() {
      closed = true;
      closing ??= base.destroy().finally(() => afterDestroy?.());
      return closing;
    },
  };
}

async function openPostgres(databaseUrl: string, options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  const statementTimeout = options.statementTimeoutMs ?? 30_000;
  const idleInTxTimeout = options.idleInTransactionTimeoutMs ?? 60_000;
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolMax ?? 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: options.applicationName ?? 'kfrm-backend',
    ...(statementTimeout > 0 ? { statement_timeout: statementTimeout } : {}),
    ...(idleInTxTimeout > 0 ? { idle_in_transaction_session_timeout: idleInTxTimeout } : {}),
    types: pgTypeParsers,
  });
  const connectionLost = (err: Error & { code?: string }, state: string) => {
    const fields = { err: err.message, code: err.code, state };
    if (options.log?.warn) options.log.warn(fields, 'postgres connection lost');
    else console.error('[@kfrm/db] postgres connection lost:', err.message);
  };
  // An idle client losing its connection emits 'error' on the pool; unhandled, it kills the process.
  pool.on('error', (err) => connectionLost(err, 'idle'));
  // pool.end() resolves before the sockets are closed; track them so close() really drains.
  const socketsClosed = new Set<Promise<void>>();
  pool.on('connect', (client) => {
    // A checked-out client (inside a transaction, between two statements) has no pool listener:
    // when the server goes away (restart, failover, `pg_ctl stop -m fast` → 57P01) its 'error'
    // event would be unhandled and end the process. The statement in flight, if any, rejects on
    // its own; the pool drops the broken client when it is released.
    client.on('error', (err) => connectionLost(err, 'in use'));
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    socketsClosed.add(ended);
    void ended.then(() => socketsClosed.delete(ended));
  });
  try {
    // Fail at startup, not on the first request, when the URL is wrong.
    await pool.query('select 1');
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  const log = kyselyLog(options);
  const dialect = new PostgresDialect({ pool: outageTypedPool(pool, options.preparedStatements ?? true) });
  const base = new Kysely<any>({ dialect, ...(log ? { log } : {}) });
  const handle = makeHandle('postgres', base, async () => {
    // Kysely only ends the pool if its driver was initialised (i.e. a query went through it).
    if (!pool.ending) await pool.end();
    await Promise.all([...socketsClosed]);
  });
  return Object.assign(handle, {
    poolStats: (): PoolStats => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  });
}

/**
 * The pool as Kysely sees it, with connection failures turned into DatabaseUnavailableError (so
 * the server kit answers UNAVAILABLE, not INTERNAL): at checkout, and for each statement.
 */
function outageTypedPool(pool: pg.Pool, preparedStatements: boolean): PostgresPool {
  const wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const rethrow = (err: unknown): never => {
    throw asDatabaseUnavailable(err);
  };
  return {
    async connect() {
      const client = await pool.connect().catch(rethrow);
      let facade = wrapped.get(client);
      if (!facade) {
        facade = {
          query: ((...args: Parameters<pg.PoolClient['query']>) => {
            // Kysely calls query(sql, parameters), or query(cursor) to stream.
            const prepared =
              preparedStatements && typeof args[0] === 'string'
                ? queryPrepared(client, args[0], args[1] as unknown[] | undefined)
                : undefined;
            if (prepared) return prepared.catch(rethrow);
            const result = (client.query as (...a: unknown[]) => unknown)(...args);
            // A Cursor (streamed query) comes back as itself, not as a promise.
            return result instanceof Promise ? result.catch(rethrow) : result;
          }) as PostgresPoolClient['query'],
          release: () => client.release(),
        };
        // Kysely keys its connection objects by client: one facade per pg client.
        wrapped.set(client, facade);
      }
      return facade;
    },
    end: () => pool.end(),
  };
}

async function openPGlite(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  let dataDir: string | undefined;
  if (options.dataDir) {
    dataDir = resolvePath(options.dataDir);
    if (openDataDirs.has(dataDir)) {
      throw new Error(`PGlite data directory ${dataDir} is already open in this process; share the handle instead`);
    }
    openDataDirs.add(dataDir);
  }
  // PGlite runs on a worker thread of its own (pglite-thread.ts); the embedded default's entry
  // point may have started it already, before the services' code loaded.
  const pglite =
    (dataDir !== undefined ? takeEarlyPGliteThread(dataDir) : undefined) ?? new PGliteThread(dataDir !== undefined ? { dataDir } : {});
  try {
    await pglite.waitReady;
  } catch (err) {
    await pglite.close().catch(() => undefined);
    if (dataDir) openDataDirs.delete(dataDir);
    throw err;
  }
  const log = kyselyLog(options);
  const base = new Kysely<any>({
    dialect: new PGliteDialect({ pglite, closeOnDestroy: true }),
    ...(log ? { log } : {}),
  });
  return makeHandle('pglite', base, async () => {
    try {
      // Kysely only destroys an initialised driver; close an instance nobody queried, too.
      await pglite.close();
    } finally {
      if (dataDir) openDataDirs.delete(dataDir);
    }
  });
}
