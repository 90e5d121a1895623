import type { Kysely } from 'kysely';
import { isSerializationFailure, pgErrorCode } from './errors';
import { perDatabase, StatementBatcher, type StatementBatcherOptions } from './statement-batcher';

export type WriteBatcherOptions = StatementBatcherOptions;

/**
 * Errors PostgreSQL reports for a statement's rows, not for its connection or server: data
 * exceptions (class 22: a value one request gave), integrity violations (23: a row one request
 * would write), and a deadlock or serialization failure (40P01, 40001: two batches that lock the
 * same rows in different orders); not 40003, "statement completion unknown". The statement was rolled back, nothing of it was written, so each
 * request can be sent again on its own and get its own outcome. Anything else (a lost
 * connection, where a COMMIT's outcome is unknown; a shutting-down server) fails the batch's
 * requests as it would have failed each alone, and is never retried here.
 */
export function failedOnItsRows(err: unknown): boolean {
  return isSerializationFailure(err) || /^2[23]...$/.test(pgErrorCode(err) ?? '');
}

/** The two statements of a batched write. */
export interface BatchedWriteStatements<Db, Request, Outcome> {
  /**
   * A write alone, as the one-row statement (`update … where id = $1 and …`). Batches of one,
   * writes inside a transaction and the retries one by one use it. PostgreSQL runs a lone write
   * faster this way than as a one-row `unnest`: the batched form's InitPlans and join cost it
   * 1.1–2× the execution time on the services' small tables (`bench/pg-statements.ts`,
   * docs/performance.md, twentieth session), so a server with no concurrent writes pays nothing.
   */
  one: (db: Db, request: Request) => Promise<Outcome>;
  /** Two or more writes in one statement, an outcome per request in the same order. */
  many: (db: Db, requests: readonly Request[]) => Promise<readonly Outcome[]>;
}

/**
 * A repository's write by key, batched per database handle (ADR 0027): two or more writes that
 * meet go to PostgreSQL as one statement (one transaction, one WAL flush), `statements.many`,
 * which answers an outcome per request in the same order (typically the row a guarded UPDATE
 * changed, or undefined where its guard did not hold); a write that meets none goes alone, as
 * `statements.one`.
 *
 * What {@link StatementBatcher} schedules, with two rules that keep each write's outcome the one it
 * would have had alone:
 * - **One write per key at a time.** Writes to the same key (`keyOf`) never share a statement nor
 *   run in two statements at once; a later one waits for the earlier, in arrival order. A
 *   compare-and-set therefore sees the state the write before it left, as it would alone.
 * - **A statement that fails on its rows** ({@link failedOnItsRows}) is sent again request by
 *   request, so a write that breaks a constraint fails alone and the others are written.
 *
 * Inside a transaction a write runs on its own, on the transaction's connection.
 */
export function batchedWrite<Db extends Kysely<any>, Request, Outcome>(
  statements: BatchedWriteStatements<Db, Request, Outcome>,
  keyOf: (request: Request) => string,
  options: WriteBatcherOptions = {},
): (db: Db, request: Request) => Promise<Outcome> {
  const { one, many } = statements;
  const batcherOf = perDatabase(
    (db: Db) =>
      new StatementBatcher(
        async (requests: readonly Request[]) => (requests.length === 1 ? [await one(db, requests[0] as Request)] : many(db, requests)),
        options,
        { keyOf, retryAloneAfter: failedOnItsRows },
      ),
  );
  return (db, request) => (db.isTransaction ? one(db, request) : batcherOf(db).run(request));
}
