import { isStoreUnavailableError } from './errors';
import type { Store } from './store';

/** 'unavailable' = the store could not answer (fail-closed paths); 'error' = anything else. */
export type StoreOutcome = 'ok' | 'error' | 'unavailable';

/** Told once per operation; `op` is the Store method name, never a key. */
export type StoreObserver = (op: StoreOperation, outcome: StoreOutcome, seconds: number) => void;

export type StoreOperation = Exclude<keyof Store, 'close'>;

/**
 * A Store that reports every operation (name, outcome, duration) to `observe` and otherwise
 * behaves exactly like `store`: same results, same errors, and `close()` closes `store`.
 * Messages delivered to subscribers are not operations and are not counted.
 */
export function instrumentStore(store: Store, observe: StoreObserver): Store {
  const timed = async <T>(op: StoreOperation, fn: () => Promise<T>): Promise<T> => {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const result = await fn();
      observe(op, 'ok', seconds());
      return result;
    } catch (err) {
      observe(op, isStoreUnavailableError(err) ? 'unavailable' : 'error', seconds());
      throw err;
    }
  };
  return {
    get: (key) => timed('get', () => store.get(key)),
    set: (key, value, options) => timed('set', () => store.set(key, value, options)),
    setIfAbsent: (key, value, ttlMs) => timed('setIfAbsent', () => store.setIfAbsent(key, value, ttlMs)),
    setIfAbsentThenSet: (key, value, ttlMs, then) => timed('setIfAbsentThenSet', () => store.setIfAbsentThenSet(key, value, ttlMs, then)),
    setFirstAbsent: (keys, value, ttlMs) => timed('setFirstAbsent', () => store.setFirstAbsent(keys, value, ttlMs)),
    expireIfEquals: (key, expected, ttlMs) => timed('expireIfEquals', () => store.expireIfEquals(key, expected, ttlMs)),
    getDel: (key) => timed('getDel', () => store.getDel(key)),
    del: (key) => timed('del', () => store.del(key)),
    expireMs: (key, ttlMs) => timed('expireMs', () => store.expireMs(key, ttlMs)),
    ttlMs: (key) => timed('ttlMs', () => store.ttlMs(key)),
    incrWithTtl: (key, ttlMs) => timed('incrWithTtl', () => store.incrWithTtl(key, ttlMs)),
    incrWithTtlUnlessExists: (key, guardKey, ttlMs) =>
      timed('incrWithTtlUnlessExists', () => store.incrWithTtlUnlessExists(key, guardKey, ttlMs)),
    compareAndDelete: (key, expected) => timed('compareAndDelete', () => store.compareAndDelete(key, expected)),
    publish: (channel, message) => timed('publish', () => store.publish(channel, message)),
    subscribe: (channel, onMessage, options) => timed('subscribe', () => store.subscribe(channel, onMessage, options)),
    ping: () => timed('ping', () => store.ping()),
    close: () => store.close(),
  };
}
