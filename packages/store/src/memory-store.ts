import { StoreUnavailableError } from './errors';
import { assertKeys, assertString, assertTtl, type MessageHandler, type SetOptions, type Store, type Unsubscribe } from './store';

export interface MemoryStoreOptions {
  /**
   * How often expired keys that nobody reads are swept out, in ms (default 5000). Expiry is
   * exact without it (reads check the deadline); the sweep only keeps memory bounded.
   */
  sweepIntervalMs?: number;
  /**
   * Monotonic clock in ms (default `performance.now()`), injectable for tests. Wall-clock time
   * is not used so a clock adjustment cannot expire or resurrect keys.
   */
  now?: () => number;
  /** Receives errors thrown by subscribers (default: console.error). */
  onError?: (error: unknown, context: string) => void;
}

interface Entry {
  value: string;
  /** Deadline on the `now()` clock. Every entry has one: the Store cannot create a key without a TTL. */
  expiresAt: number;
}

interface Subscription {
  handler: MessageHandler;
  active: boolean;
}

const NOT_AN_INTEGER = 'ERR value is not an integer or out of range';
const INTEGER_RE = /^-?(0|[1-9][0-9]*)$/;

/**
 * In-process Store for the embedded (single-instance) mode and for tests. Same semantics as the
 * Redis implementation — the shared contract suite runs against both — but state lives in this
 * process only, so it is not shared between instances and does not survive a restart.
 *
 * Atomicity comes for free: every operation does its work synchronously on the event loop
 * before its promise settles, so no two operations interleave.
 */
export class MemoryStore implements Store {
  private readonly data = new Map<string, Entry>();
  private readonly channels = new Map<string, Set<Subscription>>();
  private readonly now: () => number;
  private readonly onError: (error: unknown, context: string) => void;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.onError = options.onError ?? ((error, context) => console.error(`[store] ${context}`, error));
    const sweepIntervalMs = options.sweepIntervalMs ?? 5000;
    assertTtl(sweepIntervalMs, 'sweepIntervalMs');
    this.sweepTimer = setInterval(() => this.sweep(), sweepIntervalMs);
    // The sweep is housekeeping; it must never keep the process (or a test run) alive.
    this.sweepTimer.unref?.();
  }

  /**
   * Entries currently held in memory, including expired ones the sweep has not removed yet;
   * for diagnostics and tests (this is the number that must stay bounded).
   */
  get size(): number {
    return this.data.size;
  }

  async get(key: string): Promise<string | null> {
    this.assertOpen();
    return this.live(key)?.value ?? null;
  }

  async set(key: string, value: string, options: SetOptions): Promise<void> {
    this.assertOpen();
    assertString(value, 'value');
    assertTtl(options?.ttlMs);
    this.data.set(key, { value, expiresAt: this.now() + options.ttlMs });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    assertString(value, 'value');
    assertTtl(ttlMs);
    if (this.live(key)) return false;
    this.data.set(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }

  async setIfAbsentThenSet(
    key: string,
    value: string,
    ttlMs: number,
    then: { key: string; value: string; ttlMs: number },
  ): Promise<boolean> {
    this.assertOpen();
    assertString(then.value, 'value');
    assertTtl(then.ttlMs);
    if (!(await this.setIfAbsent(key, value, ttlMs))) return false;
    this.data.set(then.key, { value: then.value, expiresAt: this.now() + then.ttlMs });
    return true;
  }

  async setFirstAbsent(keys: readonly string[], value: string, ttlMs: number): Promise<number> {
    this.assertOpen();
    assertKeys(keys);
    assertString(value, 'value');
    assertTtl(ttlMs);
    // As the Redis script: a key already holding the value is the claim, renewed.
    const held = keys.findIndex((key) => this.live(key)?.value === value);
    const index = held >= 0 ? held : keys.findIndex((key) => !this.live(key));
    if (index >= 0) this.data.set(keys[index]!, { value, expiresAt: this.now() + ttlMs });
    return index;
  }

  async expireIfEquals(key: string, expected: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    assertString(expected, 'expected');
    assertTtl(ttlMs);
    const entry = this.live(key);
    if (!entry || entry.value !== expected) return false;
    entry.expiresAt = this.now() + ttlMs;
    return true;
  }

  async getDel(key: string): Promise<string | null> {
    this.assertOpen();
    const entry = this.live(key);
    if (!entry) return null;
    this.data.delete(key);
    return entry.value;
  }

  async del(key: string): Promise<boolean> {
    this.assertOpen();
    const existed = this.live(key) !== undefined;
    this.data.delete(key);
    return existed;
  }

  async expireMs(key: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    assertTtl(ttlMs);
    const entry = this.live(key);
    if (!entry) return false;
    entry.expiresAt = this.now() + ttlMs;
    return true;
  }

  async ttlMs(key: string): Promise<number | null> {
    this.assertOpen();
    const entry = this.live(key);
    if (!entry) return null;
    return Math.max(1, Math.ceil(entry.expiresAt - this.now()));
  }

  async incrWithTtl(key: string, ttlMs: number): Promise<number> {
    this.assertOpen();
    assertTtl(ttlMs);
    const entry = this.live(key);
    if (!entry) {
      this.data.set(key, { value: '1', expiresAt: this.now() + ttlMs });
      return 1;
    }
    // Same rule as Redis INCR: the stored string must be a canonical integer.
    const current = INTEGER_RE.test(entry.value) ? Number(entry.value) : Number.NaN;
    const next = current + 1;
    if (!Number.isSafeInteger(current) || !Number.isSafeInteger(next)) throw new Error(NOT_AN_INTEGER);
    entry.value = String(next); // the deadline is deliberately left alone: fixed window
    return next;
  }

  async incrWithTtlUnlessExists(key: string, guardKey: string, ttlMs: number): Promise<number | null> {
    this.assertOpen();
    assertTtl(ttlMs);
    if (this.live(guardKey)) return null;
    return this.incrWithTtl(key, ttlMs);
  }

  async compareAndDelete(key: string, expected: string): Promise<boolean> {
    this.assertOpen();
    assertString(expected, 'expected');
    const entry = this.live(key);
    if (!entry || entry.value !== expected) return false;
    this.data.delete(key);
    return true;
  }

  async publish(channel: string, message: string): Promise<void> {
    this.assertOpen();
    assertString(message, 'message');
    const subscribers = this.channels.get(channel);
    if (!subscribers || subscribers.size === 0) return;
    // Snapshot now (who is subscribed at publish time receives it, as in Redis), deliver later:
    // Redis never calls a subscriber from inside publish, and code must not come to rely on it.
    // A microtask (not a timer) keeps per-channel order and still works under fake timers.
    const snapshot = [...subscribers];
    queueMicrotask(() => {
      for (const subscription of snapshot) {
        if (!subscription.active || this.closed) continue; // unsubscribed since publish
        this.deliver(subscription.handler, channel, message);
      }
    });
  }

  async subscribe(channel: string, onMessage: MessageHandler): Promise<Unsubscribe> {
    this.assertOpen();
    assertString(channel, 'channel');
    if (typeof onMessage !== 'function') throw new TypeError('onMessage must be a function');
    const subscription: Subscription = { handler: onMessage, active: true };
    let subscribers = this.channels.get(channel);
    if (!subscribers) {
      subscribers = new Set();
      this.channels.set(channel, subscribers);
    }
    subscribers.add(subscription);
    return async () => {
      if (!subscription.active) return;
      subscription.active = false;
      const current = this.channels.get(channel);
      if (!current) return;
      current.delete(subscription);
      if (current.size === 0) this.channels.delete(channel);
    };
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const subscribers of this.channels.values()) {
      for (const subscription of subscribers) subscription.active = false;
    }
    this.channels.clear();
    this.data.clear();
  }

  /** Removes every expired entry. O(keys); runs on the timer. */
  sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.data) {
      if (entry.expiresAt <= now) this.data.delete(key);
    }
  }

  /** The entry if present and unexpired; expired entries are deleted on the way (lazy expiry). */
  private live(key: string): Entry | undefined {
    assertString(key, 'key');
    const entry = this.data.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.data.delete(key);
      return undefined;
    }
    return entry;
  }

  private deliver(handler: MessageHandler, channel: string, message: string): void {
    try {
      const result = handler(message);
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (error: unknown) => this.onError(error, `subscriber on channel '${channel}' rejected`));
      }
    } catch (error) {
      this.onError(error, `subscriber on channel '${channel}' threw`);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('memory store is closed');
  }
}

/** Creates an in-process store. Synchronous: there is nothing to connect to. */
export function createMemoryStore(options?: MemoryStoreOptions): MemoryStore {
  return new MemoryStore(options);
}
