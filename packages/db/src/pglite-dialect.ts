/**
 * A Kysely dialect over one PGlite instance (Postgres compiled to WASM, in-process).
 *
 * PGlite is a single connection. Kysely, like pg, assumes a pool: a transaction owns its
 * connection from BEGIN to COMMIT/ROLLBACK while other code keeps issuing queries. So the driver
 * hands the one connection out under an async FIFO mutex: a transaction (or `db.connection()`)
 * holds it for its whole life; a plain query takes it for that query only. Consequence: inside a
 * transaction, use `trx`, never the outer `db` — on PGlite the outer `db` waits for the
 * transaction to finish, i.e. forever (pg would hand out a second connection instead).
 *
 * Results are parsed like pg does by default: int8 and numeric (and their arrays) as strings,
 * bytea as Buffer, timestamptz as Date, json/jsonb parsed.
 */
import type { ParserOptions, PGliteInterface, Results } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { OID, parseBytea, keepText, parseUnquotedArray } from './type-parsers';

/** The part of PGlite the dialect uses (a `PGlite` instance satisfies it). */
export type PGliteLike = Pick<PGliteInterface, 'query' | 'exec' | 'close' | 'closed' | 'waitReady'>;

export interface PGliteDialectConfig {
  /** The instance, or a factory called once on first use. */
  pglite: PGliteLike | (() => Promise<PGliteLike>);
  /** Close the PGlite instance when the Kysely instance is destroyed. Default true. */
  closeOnDestroy?: boolean;
  /** Extra result parsers by type oid, applied on top of the pg-compatible defaults. */
  parsers?: ParserOptions;
}

/** Parsers that make PGlite return the same JS values as pg's defaults. */
export const PG_COMPATIBLE_PARSERS: ParserOptions = {
  // PGlite's default turns int8 into a number, or a bigint past 2^53: neither matches pg.
  [OID.INT8]: keepText,
  [OID.INT8_ARRAY]: parseUnquotedArray,
  [OID.NUMERIC]: keepText,
  [OID.NUMERIC_ARRAY]: parseUnquotedArray,
  [OID.BYTEA]: parseBytea,
};

export class PGliteDialect implements Dialect {
  readonly #config: PGliteDialectConfig;

  constructor(config: PGliteDialectConfig) {
    this.#config = config;
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  createDriver(): Driver {
    return new PGliteDriver(this.#config);
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
}

/** A FIFO async mutex. `lock()` resolves with an idempotent release function. */
export class AsyncMutex {
  #locked = false;
  readonly #waiters: Array<() => void> = [];

  get locked(): boolean {
    return this.#locked;
  }

  async lock(): Promise<() => void> {
    if (this.#locked) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    } else {
      this.#locked = true;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      // Hand the lock straight to the next waiter; it stays locked meanwhile.
      if (next) next();
      else this.#locked = false;
    };
  }
}

class PGliteDriver implements Driver {
  readonly #config: PGliteDialectConfig;
  readonly #mutex = new AsyncMutex();
  readonly #parsers: ParserOptions;
  #pglite: PGliteLike | undefined;
  #destroyed = false;

  constructor(config: PGliteDialectConfig) {
    this.#config = config;
    this.#parsers = { ...PG_COMPATIBLE_PARSERS, ...config.parsers };
  }

  async init(): Promise<void> {
    const source = this.#config.pglite;
    const pglite = typeof source === 'function' ? await source() : source;
    await pglite.waitReady;
    this.#pglite = pglite;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#destroyed || !this.#pglite) throw new Error('PGlite driver has already been destroyed');
    const pglite = this.#pglite;
    const release = await this.#mutex.lock();
    return new PGliteConnection(pglite, this.#parsers, release);
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let sql = 'start transaction';
    if (settings.isolationLevel) sql += ` isolation level ${settings.isolationLevel}`;
    if (settings.accessMode) sql += ` ${settings.accessMode}`;
    await connection.executeQuery(CompiledQuery.raw(sql));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdent(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quoteIdent(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoteIdent(name)}`));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as PGliteConnection).release();
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const pglite = this.#pglite;
    if (!pglite) return;
    // Connections queued before destroy() still run (FIFO); then close.
    const release = await this.#mutex.lock();
    try {
      if ((this.#config.closeOnDestroy ?? true) && !pglite.closed) await pglite.close();
    } finally {
      release();
    }
  }
}

const DML_NODE_KINDS = new Set(['InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode', 'MergeQueryNode']);

/** Leading keyword of a SQL text, skipping whitespace, comments and opening parentheses. */
function leadingKeyword(sqlText: string): string {
  const match = /^(?:\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/|\()*([A-Za-z]+)/.exec(sqlText);
  return match?.[1]?.toLowerCase() ?? '';
}

/**
 * pg reports `numAffectedRows` only for INSERT/UPDATE/DELETE/MERGE (from the command tag).
 * PGlite drops the command tag and reports `affectedRows: 0` for everything else, so decide from
 * the query node Kysely compiled, and for raw SQL from its leading keyword.
 */
function isDml(query: CompiledQuery, result: Results): boolean {
  if (DML_NODE_KINDS.has(query.query.kind)) return true;
  if (query.query.kind !== 'RawNode') return false;
  const keyword = leadingKeyword(query.sql);
  if (keyword === 'insert' || keyword === 'update' || keyword === 'delete' || keyword === 'merge') return true;
  // `with ... insert/update/delete`: only a DML statement can report affected rows.
  return keyword === 'with' && (result.affectedRows ?? 0) > 0;
}

class PGliteConnection implements DatabaseConnection {
  readonly #pglite: PGliteLike;
  readonly #parsers: ParserOptions;
  readonly #release: () => void;

  constructor(pglite: PGliteLike, parsers: ParserOptions, release: () => void) {
    this.#pglite = pglite;
    this.#parsers = parsers;
    this.#release = release;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const params = [...compiledQuery.parameters];
    let result: Results;
    try {
      if (params.length === 0) {
        // Like pg: without parameters use the simple protocol, which allows several statements
        // in one string (handy in migrations). The last statement's rows are returned.
        const results = await this.#pglite.exec(compiledQuery.sql, { parsers: this.#parsers });
        result = results[results.length - 1] ?? { rows: [], fields: [], affectedRows: 0 };
      } else {
        result = await this.#pglite.query(compiledQuery.sql, params, { parsers: this.#parsers });
      }
    } catch (err) {
      throw extendStackTrace(err, new Error());
    }
    return {
      rows: result.rows as R[],
      numAffectedRows: isDml(compiledQuery, result) ? BigInt(result.affectedRows ?? 0) : undefined,
    };
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSize = 100): AsyncIterableIterator<QueryResult<R>> {
    if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new Error('chunkSize must be a positive integer');
    // PGlite has no cursors over the wire protocol; it is in-process, so buffering is cheap.
    const { rows } = await this.executeQuery<R>(compiledQuery);
    for (let i = 0; i < rows.length; i += chunkSize) {
      yield { rows: rows.slice(i, i + chunkSize) };
    }
  }

  release(): void {
    this.#release();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Appends the caller's stack to the error's (PGlite errors originate deep inside its loop). */
function extendStackTrace(err: unknown, callSite: Error): unknown {
  if (err instanceof Error && callSite.stack) {
    const callerFrames = callSite.stack.split('\n').slice(1).join('\n');
    err.stack = `${err.stack ?? String(err)}\n${callerFrames}`;
  }
  return err;
}
