import { isSerializationFailure, TransactionConflictError } from '@kfrm/db';
import type { Kysely, Transaction } from 'kysely';

/**
 * Thrown inside a ledger transaction when an idempotency key it claims is already taken (a
 * replay, a reused key, or another transaction that committed it first): the work is rolled
 * back and redone, and the redo reads the committed entry.
 */
export class ClaimRaceError extends Error {
  override readonly name = 'ClaimRaceError';
}

export interface LedgerRetryOptions {
  /** Total attempts including the first. Default 5. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: (err: unknown, failedAttempt: number) => void;
}

/**
 * Runs `fn` in a READ COMMITTED transaction and redoes it on serialization failures (40001),
 * deadlocks (40P01) and lost idempotency claims, like `withSerializableRetry` from @kfrm/db;
 * after the last attempt a `TransactionConflictError` (gRPC ABORTED).
 *
 * Why not SERIALIZABLE: every posting locks its accounts (SELECT ... FOR UPDATE, in id order)
 * before reading balances, so READ COMMITTED already reads the latest committed balance and no
 * update is lost. Under SERIALIZABLE, a transaction that waited for a hot account's lock fails
 * with 40001 as soon as the holder commits, so a hot account would spend its time in retries.
 * The result of a failed attempt is never returned.
 */
export async function withLedgerTransaction<DB, T>(
  db: Kysely<DB>,
  fn: (trx: Transaction<DB>, attempt: number) => Promise<T>,
  options: LedgerRetryOptions = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError('maxAttempts must be a positive integer');
  const baseDelayMs = options.baseDelayMs ?? 5;
  const maxDelayMs = options.maxDelayMs ?? 100;
  let lastError: unknown;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    try {
      return await db
        .transaction()
        .setIsolationLevel('read committed')
        .execute((trx) => fn(trx, attempt));
    } catch (err) {
      if (!(err instanceof ClaimRaceError) && !isSerializationFailure(err)) throw err;
      lastError = err;
      // A lost claim is not contention: redo at once (the redo reads the committed entry).
      if (attempt < maxAttempts && err instanceof ClaimRaceError) continue;
      if (attempt < maxAttempts) {
        options.onRetry?.(err, attempt);
        const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * cap));
      }
    }
  }
  throw new TransactionConflictError(maxAttempts, { cause: lastError });
}
