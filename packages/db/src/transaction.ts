import { sql, type Kysely, type Transaction } from 'kysely';
import { isSerializationFailure, pgErrorCode, SQLSTATE, TransactionConflictError } from './errors';

export { TransactionConflictError } from './errors';

export interface SerializableRetryOptions {
  /** Total attempts including the first. Default 5. */
  maxAttempts?: number;
  /** Backoff before retry n is a random delay in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))]. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Called before each retry (for metrics/logging). */
  onRetry?: (err: unknown, failedAttempt: number) => void;
}

/**
 * Runs `fn` in a SERIALIZABLE transaction and retries the whole transaction on serialization
 * failures (40001) and deadlocks (40P01), with jittered exponential backoff. `fn` must be safe to
 * re-run: no side effects outside the transaction. A failed attempt's result is never returned;
 * after `maxAttempts` failures a `TransactionConflictError` (cause: the last database error) is
 * thrown; map it to gRPC ABORTED. Any other error propagates immediately after rollback.
 *
 * If `fn` catches a database error and returns normally, Postgres would silently turn the COMMIT
 * into a ROLLBACK; this is detected (one `select 1` after `fn`) and thrown instead.
 */
export async function withSerializableRetry<DB, T>(
  db: Kysely<DB>,
  fn: (trx: Transaction<DB>, attempt: number) => Promise<T>,
  options: SerializableRetryOptions = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError('maxAttempts must be a positive integer');
  if (db.isTransaction) throw new Error('withSerializableRetry needs the root Kysely instance, not a transaction');
  const baseDelayMs = options.baseDelayMs ?? 10;
  const maxDelayMs = options.maxDelayMs ?? 200;

  let lastError: unknown;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    try {
      return await db
        .transaction()
        .setIsolationLevel('serializable')
        .execute(async (trx) => {
          const result = await fn(trx, attempt);
          await assertTransactionUsable(trx);
          return result;
        });
    } catch (err) {
      if (!isSerializationFailure(err)) throw err;
      lastError = err;
      if (attempt < maxAttempts) {
        options.onRetry?.(err, attempt);
        const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        await sleep(Math.random() * cap);
      }
    }
  }
  throw new TransactionConflictError(maxAttempts, { cause: lastError });
}

async function assertTransactionUsable(trx: Transaction<any>): Promise<void> {
  try {
    await sql`select 1`.execute(trx);
  } catch (err) {
    if (pgErrorCode(err) === SQLSTATE.IN_FAILED_SQL_TRANSACTION) {
      throw new Error(
        'the transaction was aborted by a database error that the transaction function caught; ' +
          'its result was discarded (rethrow database errors inside transactions, or use a savepoint)',
        { cause: err },
      );
    }
    throw err;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
