import type { Kysely } from 'kysely';
import { pgErrorCode } from './errors';
import { StatementBatcher, type StatementBatcherOptions } from './statement-batcher';

export type WriteBatcherOptions = StatementBatcherOptions;

/**
 * Errors PostgreSQL reports for a statement's rows, not for its connection or server: data
 * exceptions (class 22: a value one request gave), integrity violations (23: a row one request
 * would write) and transaction rollbacks (40: a deadlock between two batches that lock the same
 * rows in different orders). The statement was rolled back, nothing of it was written, so each
 * request can be sent again on its own and get its own outcome. Anything else (a lost
 * connection, where a COMMIT's outcome is unknown; a shutting-down server) fails the batch's
 * requests as it would have failed each alone, and is never retried here.
 */
export function failedOnItsRows(err: unknown): boolean {
  const code = pgErrorCode(err);
  return code !== undefined && /^(22|23|40)/.test(code);
}

/**
 * A repository's write by key, batched per database handle (ADR 0027): `writeMany` writes a list
 * of requests in one statement (one transaction, one WAL flush) and answers an outcome per request
 * in the same order (typically the row a guarded UPDATE changed, or undefined where its guard did
 * not hold).
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
  writeMany: (db: Db, requests: readonly Request[]) => Promise<readonly Outcome[]>,
  keyOf: (request: Request) => string,
  options: WriteBatcherOptions = {},
): (db: Db, request: Request) => Promise<Outcome> {
  const batchers = new WeakMap<Db, StatementBatcher<Request, Outcome>>();
  return async (db, request) => {
    if (db.isTransaction) {
      const outcomes = await writeMany(db, [request]);
      if (outcomes.length !== 1) throw new Error(`a batched write answered ${outcomes.length} outcomes for 1 request`);
      return outcomes[0] as Outcome;
    }
    let batcher = batchers.get(db);
    if (!batcher) {
      batcher = new StatementBatcher((requests) => writeMany(db, requests), options, { keyOf, retryAloneAfter: failedOnItsRows });
      batchers.set(db, batcher);
    }
    return batcher.run(request);
  };
}
