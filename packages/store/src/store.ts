import { StoreUnavailableError } from './errors';

/**
 * Called for every message published on a channel the caller subscribed to.
 *
 * May be async; a throw or a rejected promise is reported to the store's `onError` hook and
 * never reaches other subscribers or the connection (one broken listener must not silence
 * the others).
 */
export type MessageHandler = (message: string) => void | Promise<void>;

/**
 * Stops one subscription. Idempotent and never rejects: once it resolves the handler is not
 * called again, even for messages already in flight. Tearing down the server-side
 * subscription is best effort (if Redis is down it is dropped on reconnect instead).
 */
export type Unsubscribe = () => Promise<void>;

export interface SubscribeOptions {
  /** Messages may have been lost before this call (the subscription was re-established); see Store.subscribe. */
  onGap?: () => void;
}

export interface SetOptions {
  /** Time to live in milliseconds; a positive integer. Required: see {@link Store}. */
  ttlMs: number;
}

/**
 * The key/value store services use for short-lived shared state: login challenges, OTP and
 * failed-attempt counters, rate-limit windows, locks, and cross-instance notifications.
 *
 * Design rules, and why:
 * - Values are strings. Callers serialise (JSON, base64, ...) so the store never guesses at
 *   types and both implementations behave byte-for-byte the same.
 * - Every write carries a TTL and there is no way to create a key without one. Everything we keep
 *   here is transient; a forgotten key (a lock whose holder crashed, a counter that never
 *   resets) would otherwise lock a customer out forever or grow memory without bound.
 * - Operations that must be atomic across instances (consume once, count, release a lock you
 *   own) are single operations here, not get-then-set sequences the caller would race on.
 * - Keys and channels are flat strings; namespacing is the caller's job, usually through
 *   {@link prefixed}, so two services cannot collide by accident.
 * - When the backend cannot answer, calls reject with {@link StoreUnavailableError} quickly
 *   instead of queueing: services must fail closed, and a hung call is worse than an error.
 *   Argument mistakes (a non-positive TTL, a non-string value) reject with TypeError/RangeError.
 */
export interface Store {
  /** The value, or null when the key is absent or expired. */
  get(key: string): Promise<string | null>;

  /** Unconditionally stores the value with a fresh TTL (Redis `SET key value PX ttl`). */
  set(key: string, value: string, options: SetOptions): Promise<void>;

  /**
   * Stores the value only when the key does not exist (`SET NX PX`). Returns true when this call
   * created it. Use for idempotency keys and acquiring locks.
   */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;

  /**
   * {@link setIfAbsent} on `key`, and only when that created it, a plain {@link set} of `then`:
   * one atomic step, one round trip. True when `key` was created (and `then` written). Use to
   * claim something once and record what goes with the claim.
   */
  setIfAbsentThenSet(key: string, value: string, ttlMs: number, then: { key: string; value: string; ttlMs: number }): Promise<boolean>;

  /**
   * Sets the first of `keys` that does not exist (`SET NX PX` on each in order, in one atomic
   * step) and returns its index, or -1 when every key exists. One round trip for what would
   * otherwise be one per key: claiming one of N slots (a user's notification streams).
   * A key that already holds `value` counts as the claim (its TTL is renewed and its index
   * returned), so a claim whose answer was lost (a timeout) can be repeated with the same value
   * without taking a second key. The keys should share a Redis Cluster hash tag (`{…}`).
   */
  setFirstAbsent(keys: readonly string[], value: string, ttlMs: number): Promise<number>;

  /**
   * Replaces the TTL only while the key holds `expected`, atomically; true when renewed. A lease
   * holder renewing its lease never extends someone else's after its own ran out.
   */
  expireIfEquals(key: string, expected: string, ttlMs: number): Promise<boolean>;

  /**
   * Returns the value and deletes the key in one step (`GETDEL`), so among any number of
   * concurrent callers exactly one sees the value. Use to consume a challenge or one-time code:
   * a get followed by a del would let two requests redeem the same challenge.
   */
  getDel(key: string): Promise<string | null>;

  /** Deletes the key; true when it existed. */
  del(key: string): Promise<boolean>;

  /** Replaces the TTL of an existing key (`PEXPIRE`); false when the key does not exist. */
  expireMs(key: string, ttlMs: number): Promise<boolean>;

  /**
   * Remaining time to live in milliseconds, or null when the key does not exist.
   * Keys written through a Store always have a TTL; a key created by some other Redis client
   * without one reports `Infinity`.
   */
  ttlMs(key: string): Promise<number | null>;

  /**
   * Atomically increments an integer counter and returns the new value. When the key is
   * created (the result is 1) its TTL is set to `ttlMs`; later increments do NOT extend it, so
   * the counter describes a fixed window and is guaranteed to disappear. (If the key somehow
   * exists without a TTL, one is set too, so a counter can never live forever.)
   * Rejects with a plain Error when the existing value is not an integer.
   * Use for rate limiting and failed-attempt counters.
   */
  incrWithTtl(key: string, ttlMs: number): Promise<number>;

  /**
   * {@link incrWithTtl}, unless `guardKey` exists: then nothing is incremented and the answer is
   * null. One atomic step, one round trip: an attempt counter that a lock flag closes (a locked
   * credential takes no slot), where a read of the flag and then an increment were two.
   */
  incrWithTtlUnlessExists(key: string, guardKey: string, ttlMs: number): Promise<number | null>;

  /**
   * Deletes the key only if its value equals `expected`, atomically; true when deleted.
   * Use to release a lock: only the holder (who knows the random token it stored) can release
   * it, even if the lock expired and someone else took it in between.
   */
  compareAndDelete(key: string, expected: string): Promise<boolean>;

  /**
   * Fire-and-forget broadcast to everyone currently subscribed to the channel, on any instance.
   * At-most-once: nobody subscribed means nobody receives, and nothing is stored.
   * Delivery is asynchronous (never inside this call), in publish order per channel.
   */
  publish(channel: string, message: string): Promise<void>;

  /**
   * Registers a handler for the channel. Resolves once the subscription is active, so a message
   * published after that point is delivered. Several handlers may share a channel.
   *
   * Pub/sub is at-most-once: while the connection to the store is lost, messages are lost.
   * `options.onGap` is called once the subscription is active again after such a loss, so a
   * subscriber that must miss nothing re-reads its source of truth from there.
   */
  subscribe(channel: string, onMessage: MessageHandler, options?: SubscribeOptions): Promise<Unsubscribe>;

  /** Round-trip to the backend; rejects with StoreUnavailableError when it is not reachable. For readiness probes. */
  ping(): Promise<void>;

  /**
   * Releases connections, timers and subscriptions. Idempotent. Afterwards every other call
   * rejects with StoreUnavailableError (a late request during shutdown must fail, not hang).
   */
  close(): Promise<void>;
}

/** Throws RangeError unless `ttlMs` is a positive safe integer (Redis PX rejects anything else). */
export function assertTtl(ttlMs: number, what = 'ttlMs'): void {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`${what} must be a positive integer number of milliseconds, got ${String(ttlMs)}`);
  }
}

/** Throws RangeError unless `keys` is a non-empty list of strings (a claim over nothing is a bug). */
export function assertKeys(keys: readonly string[]): void {
  if (!Array.isArray(keys) || keys.length === 0) throw new RangeError('keys must be a non-empty list');
  for (const key of keys) assertString(key, 'key');
}

/** Throws TypeError unless `value` is a string (callers serialise; nothing is coerced). */
export function assertString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') {
    throw new TypeError(`${what} must be a string, got ${typeof value}`);
  }
}

/**
 * A view of `store` in which every key and channel is prefixed with `prefix` (include your own
 * separator, e.g. `'auth:'`). Views nest: `prefixed(prefixed(s, 'a:'), 'b:')` uses `a:b:`.
 *
 * The view does not own the underlying store: its `close()` drops the view's own subscriptions
 * and makes further calls through the view reject with StoreUnavailableError, but leaves the
 * shared store (and other views) running. Close the underlying store where it was created.
 */
export function prefixed(store: Store, prefix: string): Store {
  assertString(prefix, 'prefix');
  if (prefix.length === 0) throw new RangeError('prefix must not be empty');

  let closed = false;
  const liveSubscriptions = new Set<Unsubscribe>();
  const assertOpen = (): void => {
    if (closed) throw new StoreUnavailableError(`store view '${prefix}' is closed`);
  };
  const k = (key: string): string => {
    assertOpen();
    assertString(key, 'key');
    return prefix + key;
  };
  // Wrapping in an async function turns the synchronous throws of k() into rejections.
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => fn();

  return {
    get: (key) => guard(() => store.get(k(key))),
    set: (key, value, options) => guard(() => store.set(k(key), value, options)),
    setIfAbsent: (key, value, ttlMs) => guard(() => store.setIfAbsent(k(key), value, ttlMs)),
    setIfAbsentThenSet: (key, value, ttlMs, then) =>
      guard(() => store.setIfAbsentThenSet(k(key), value, ttlMs, { key: k(then.key), value: then.value, ttlMs: then.ttlMs })),
    setFirstAbsent: (keys, value, ttlMs) => guard(() => store.setFirstAbsent(keys.map(k), value, ttlMs)),
    expireIfEquals: (key, expected, ttlMs) => guard(() => store.expireIfEquals(k(key), expected, ttlMs)),
    getDel: (key) => guard(() => store.getDel(k(key))),
    del: (key) => guard(() => store.del(k(key))),
    expireMs: (key, ttlMs) => guard(() => store.expireMs(k(key), ttlMs)),
    ttlMs: (key) => guard(() => store.ttlMs(k(key))),
    incrWithTtl: (key, ttlMs) => guard(() => store.incrWithTtl(k(key), ttlMs)),
    incrWithTtlUnlessExists: (key, guardKey, ttlMs) => guard(() => store.incrWithTtlUnlessExists(k(key), k(guardKey), ttlMs)),
    compareAndDelete: (key, expected) => guard(() => store.compareAndDelete(k(key), expected)),
    publish: (channel, message) => guard(() => store.publish(k(channel), message)),
    subscribe: (channel, onMessage, options) =>
      guard(async () => {
        const inner = await store.subscribe(k(channel), onMessage, options);
        if (closed) {
          // The view was closed while the subscription was being set up.
          await inner();
          throw new StoreUnavailableError(`store view '${prefix}' is closed`);
        }
        const unsubscribe: Unsubscribe = async () => {
          liveSubscriptions.delete(unsubscribe);
          await inner();
        };
        liveSubscriptions.add(unsubscribe);
        return unsubscribe;
      }),
    ping: () =>
      guard(() => {
        assertOpen();
        return store.ping();
      }),
    close: async () => {
      if (closed) return;
      closed = true;
      const subs = [...liveSubscriptions];
      liveSubscriptions.clear();
      await Promise.all(subs.map((unsubscribe) => unsubscribe()));
    },
  };
}
