import { ConcurrentUpdateError, DependencyUnavailableError } from '@kfrm/errors';

/**
 * Helpers to classify database errors. They work for errors thrown by `pg` and by PGlite: both
 * throw pg-protocol `DatabaseError`s that carry the five-character SQLSTATE in `code` (plus
 * `constraint`, `table`, `schema`, `detail`, ...).
 */

export const SQLSTATE = {
  UNIQUE_VIOLATION: '23505',
  FOREIGN_KEY_VIOLATION: '23503',
  NOT_NULL_VIOLATION: '23502',
  CHECK_VIOLATION: '23514',
  SERIALIZATION_FAILURE: '40001',
  DEADLOCK_DETECTED: '40P01',
  IN_FAILED_SQL_TRANSACTION: '25P02',
  QUERY_CANCELED: '57014',
  UNDEFINED_TABLE: '42P01',
  INVALID_SCHEMA_NAME: '3F000',
} as const;

/** Thrown by `withSerializableRetry` when every attempt hit a serialization failure or deadlock. */
export class TransactionConflictError extends ConcurrentUpdateError {
  override readonly name = 'TransactionConflictError';
  constructor(
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(`transaction aborted after ${attempts} attempt(s) because of concurrent updates (serialization failure)`, options);
  }
}

interface DatabaseErrorLike {
  code: string;
  severity?: string;
  constraint?: string;
  table?: string;
  schema?: string;
  detail?: string;
}

function asDatabaseError(err: unknown): DatabaseErrorLike | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  // Node system errors also have a `code` ('ECONNREFUSED'); a SQLSTATE is exactly five characters
  // and pg-protocol errors always carry a severity.
  if (typeof code === 'string' && code.length === 5 && 'severity' in err) {
    return err as DatabaseErrorLike;
  }
  return undefined;
}

/**
 * Finds the Postgres error behind `err`: `err` itself or an error in its `cause` chain (so a
 * wrapped error, e.g. a `MigrationError`, still classifies). A `TransactionConflictError` is
 * deliberately not looked through: it means "retries exhausted", not "retry me".
 */
export function findDatabaseError(err: unknown): DatabaseErrorLike | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current != null; depth++) {
    if (current instanceof TransactionConflictError) return undefined;
    const dbErr = asDatabaseError(current);
    if (dbErr) return dbErr;
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
  return undefined;
}

/** The SQLSTATE of a Postgres error (pg or PGlite), or undefined for anything else. */
export function pgErrorCode(err: unknown): string | undefined {
  return findDatabaseError(err)?.code;
}

/** True for a unique violation (23505); optionally only for the given constraint name. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const dbErr = findDatabaseError(err);
  if (dbErr?.code !== SQLSTATE.UNIQUE_VIOLATION) return false;
  return constraint === undefined || dbErr.constraint === constraint;
}

/** True for a foreign key violation (23503). */
export function isForeignKeyViolation(err: unknown): boolean {
  return pgErrorCode(err) === SQLSTATE.FOREIGN_KEY_VIOLATION;
}

/** True for errors after which the whole transaction should be retried: 40001 and 40P01. */
export function isSerializationFailure(err: unknown): boolean {
  const code = pgErrorCode(err);
  return code === SQLSTATE.SERIALIZATION_FAILURE || code === SQLSTATE.DEADLOCK_DETECTED;
}

/**
 * The database could not be reached, or it dropped the connection (a restart, a failover, an
 * administrator's shutdown). The statement's outcome may be unknown (a COMMIT in flight): the
 * caller answers UNAVAILABLE and the client retries with the same idempotency key.
 */
export class DatabaseUnavailableError extends DependencyUnavailableError {
  override readonly name = 'DatabaseUnavailableError';
}

/**
 * SQLSTATEs that mean "this connection or server cannot serve you now": connection exceptions
 * (class 08), admin/crash shutdown and "cannot connect now" (57P01–57P03, what a restarting
 * server answers), and too many connections (53300).
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/;
/** Node's socket errors, and what pg says when its connection is gone or never came. */
const UNAVAILABLE_SYSTEM_CODE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const UNAVAILABLE_MESSAGE =
  /Connection terminated|is not queryable|timeout exceeded when trying to connect|Connection ended unexpectedly|the database system is (shutting down|starting up|in recovery mode)/i;

/** True when `err` says the database was unreachable, not that the statement was wrong. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_SQLSTATE.test(code) && 'severity' in err) return true;
  if (typeof code === 'string' && UNAVAILABLE_SYSTEM_CODE.has(code)) return true;
  const message = (err as { message?: unknown }).message;
  return err instanceof Error && typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message);
}

/** `err` as a DatabaseUnavailableError when it is an outage; otherwise `err` itself. */
export function asDatabaseUnavailable(err: unknown): unknown {
  if (err instanceof DatabaseUnavailableError || !isDatabaseUnavailable(err)) return err;
  return new DatabaseUnavailableError(`database unavailable: ${(err as Error).message}`, { cause: err });
}
