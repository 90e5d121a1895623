/**
 * Lockout of a credential (a user's PIN, pattern, ...) after too many wrong attempts, enforced
 * across instances through the shared {@link Store}.
 *
 * The protocol, per attempt:
 *   1. `claim(credentialId, persisted)` BEFORE checking the secret. It atomically takes a
 *      numbered attempt slot (INCR on a per-credential counter, unless the lock flag is set:
 *      one script) and refuses, without the secret being checked at all, when the credential
 *      is locked or the slot number exceeds `maxAttempts`. Because the slot is taken before
 *      the (slow) hash is checked, N+50 racing wrong attempts get slots 1..N+50 and only the
 *      first N are evaluated; a read-check-then-increment design would let all of them through.
 *   2. Check the secret (only when the claim was allowed).
 *   3. Wrong: `recordFailure(credentialId, claim.attempt)` → `{ failures, locked }`. The call that
 *      reaches `maxAttempts` sets the lock flag. Right: `recordSuccess(credentialId)` resets
 *      the counter (but not a lock: see below).
 *
 * Locked stays locked: the lock is a separate key that only {@link AttemptLimiter.unlock}
 * removes (after the caller re-verified the user's identity), so after N wrong attempts the
 * next correct one is refused too, however long the caller waits. The store demands a TTL on
 * every key; the lock's (`lockTtlMs`, default one year) only bounds memory.
 *
 * The database is the durable record. Redis may be flushed or fail over and lose keys, so:
 *   - the caller persists what `recordFailure` returns on the credential's row, monotonically:
 *     `failures = GREATEST(failures, :failures), locked = locked OR :locked` (attempts racing
 *     each other may finish out of order);
 *   - the caller passes that row into `claim` as `persisted`. A persisted lock refuses at once;
 *     persisted failures re-seed the counter when the store no longer has it (SET NX before the
 *     INCR, so concurrent claims still get distinct slots above the persisted count);
 *   - on success the caller resets its row's failures to 0 (`recordSuccess` does the store).
 * Failures are counted since the last success and do not decay with time, as banks do for
 * PINs; the counter's TTL (`counterTtlMs`) only bounds memory when no row seeds it again.
 *
 * Store down: every method rejects with the store's StoreUnavailableError. Nothing here treats
 * "cannot read the counter" as zero: callers must refuse the attempt (fail closed, UNAVAILABLE).
 *
 * Slots of attempts that are refused, or that never report back (a crashed request), stay
 * counted; that errs on the side of locking sooner, never later.
 */
import type { Store } from '@kfrm/store';

export interface AttemptLimiterOptions {
  /** Wrong attempts allowed; the credential is locked when the last of them fails. */
  maxAttempts: number;
  /**
   * Separates kinds of credential in the store ('pin', 'pattern'); part of every key, so use a
   * short constant, e.g. with a service prefix from `prefixed(store, 'auth:')`.
   */
  kind: string;
  /** TTL of the attempt counter. Default 30 days. */
  counterTtlMs?: number;
  /** TTL of the lock flag (the store has no keys without one). Default 365 days. */
  lockTtlMs?: number;
}

/** What the caller keeps on the credential's database row. */
export interface PersistedAttemptState {
  /** Failures since the last success, as last returned by recordFailure. */
  failures: number;
  locked: boolean;
}

export type AttemptClaim =
  /** Check the secret, then report with recordFailure(id, attempt) or recordSuccess(id). */
  | { allowed: true; attempt: number }
  /** Do not check the secret. `locked`: lock flag set; `exhausted`: all slots taken by earlier attempts. */
  | { allowed: false; reason: 'locked' | 'exhausted' };

export interface FailureRecord {
  /** Failures since the last success, including this one: persist it (monotonically). */
  failures: number;
  /** True when the credential is now locked: persist it; refuse until unlock. */
  locked: boolean;
}

export interface AttemptLimiter {
  readonly maxAttempts: number;
  claim(credentialId: string, persisted?: PersistedAttemptState): Promise<AttemptClaim>;
  /**
   * Reports that the secret checked under `attempt` (from the claim) was wrong. Below the limit
   * this writes nothing (the claim's INCR already counted the attempt); at the limit it sets the
   * lock, and rejects when the store cannot take it. Persist `{ failures: attempt }` on the row
   * even then: `claim` turns a row with failures >= maxAttempts back into a lock.
   */
  recordFailure(credentialId: string, attempt: number): Promise<FailureRecord>;
  recordSuccess(credentialId: string): Promise<void>;
  /** Whether the lock flag is set in the store (the caller's row may say so too). */
  isLocked(credentialId: string): Promise<boolean>;
  /** Clears the lock and the counter. Only after the user's identity was verified again. */
  unlock(credentialId: string): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function createAttemptLimiter(store: Store, options: AttemptLimiterOptions): AttemptLimiter {
  const { maxAttempts, kind } = options;
  const counterTtlMs = options.counterTtlMs ?? 30 * DAY_MS;
  const lockTtlMs = options.lockTtlMs ?? 365 * DAY_MS;
  assertPositiveInteger(maxAttempts, 'maxAttempts');
  assertPositiveInteger(counterTtlMs, 'counterTtlMs');
  assertPositiveInteger(lockTtlMs, 'lockTtlMs');
  if (typeof kind !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(kind)) {
    throw new RangeError('kind must be a non-empty [A-Za-z0-9_.-] string');
  }

  const counterKey = (id: string): string => `attempts:${kind}:${checkId(id)}`;
  const lockKey = (id: string): string => `locked:${kind}:${checkId(id)}`;

  const setLock = (id: string): Promise<void> => store.set(lockKey(id), '1', { ttlMs: lockTtlMs });

  return {
    maxAttempts,

    async claim(credentialId, persisted) {
      if (persisted !== undefined) assertPersisted(persisted);
      if (persisted?.locked) return { allowed: false, reason: 'locked' };
      if (persisted !== undefined && persisted.failures >= maxAttempts) {
        // The row says the limit was reached but the lock never got persisted (or the store
        // lost it): restore the lock rather than offer fresh attempts.
        await setLock(credentialId);
        return { allowed: false, reason: 'locked' };
      }
      if (persisted !== undefined && persisted.failures > 0) {
        await store.setIfAbsent(counterKey(credentialId), String(persisted.failures), counterTtlMs);
      }
      // The lock flag closes the counter in the same step: a locked credential takes no slot, and
      // the common attempt is one round trip (a read of the flag and then the increment were two).
      const attempt = await store.incrWithTtlUnlessExists(counterKey(credentialId), lockKey(credentialId), counterTtlMs);
      if (attempt === null) return { allowed: false, reason: 'locked' };
      if (attempt > maxAttempts) return { allowed: false, reason: 'exhausted' };
      return { allowed: true, attempt };
    },

    async recordFailure(credentialId, attempt) {
      checkId(credentialId);
      assertPositiveInteger(attempt, 'attempt');
      const locked = attempt >= maxAttempts;
      if (locked) await setLock(credentialId);
      return { failures: attempt, locked };
    },

    async recordSuccess(credentialId) {
      await store.del(counterKey(credentialId));
    },

    async isLocked(credentialId) {
      return (await store.get(lockKey(credentialId))) !== null;
    },

    async unlock(credentialId) {
      await store.del(lockKey(credentialId));
      await store.del(counterKey(credentialId));
    },
  };
}

function checkId(id: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('credentialId must be a non-empty string');
  return id;
}

function assertPositiveInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${what} must be a positive integer, got ${String(value)}`);
}

function assertPersisted(persisted: PersistedAttemptState): void {
  if (!Number.isSafeInteger(persisted.failures) || persisted.failures < 0 || typeof persisted.locked !== 'boolean') {
    throw new RangeError('persisted must be { failures: non-negative integer, locked: boolean }');
  }
}
