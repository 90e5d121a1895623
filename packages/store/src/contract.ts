/**
 * The behaviour every Store implementation must have, as one vitest suite. The memory and the
 * Redis store both run it, which is what lets services develop and test against the in-process
 * store and run against Redis in production without surprises.
 *
 * Rules for the tests here: every test uses fresh random keys/channels (runs may share one Redis
 * and run concurrently), TTL tests use TTLs of ~100 ms with generous waits on either side, and
 * pub/sub tests wait for a sentinel message instead of sleeping.
 *
 * The stores under test should be created with a quiet `onError` (subscriber errors are
 * provoked on purpose).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from './errors';
import { prefixed, type Store } from './store';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` passes (it throws until then), up to `timeoutMs`. */
async function eventually(check: () => void, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(10);
    }
  }
}

export function describeStoreContract(name: string, makeStore: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    const run = randomUUID().slice(0, 8);
    let n = 0;
    /** A key nobody else uses. */
    const fresh = (label: string): string => `contract:${run}:${label}:${++n}:${randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      store = await makeStore();
    });
    afterAll(async () => {
      await store?.close();
    });

    describe('get / set / del', () => {
      it('round-trips values exactly, including empty and non-ASCII strings', async () => {
        const key = fresh('roundtrip');
        expect(await store.get(key)).toBeNull();
        for (const value of ['v1', '', 'ünïcödé ✓ {"json":[1,2]}', 'x'.repeat(10_000)]) {
          await store.set(key, value, { ttlMs: 10_000 });
          expect(await store.get(key)).toBe(value);
        }
      });

      it('del reports whether the key existed', async () => {
        const key = fresh('del');
        await store.set(key, 'v', { ttlMs: 10_000 });
        expect(await store.del(key)).toBe(true);
        expect(await store.get(key)).toBeNull();
        expect(await store.del(key)).toBe(false);
      });

      it('rejects writes without a valid TTL and stores nothing', async () => {
        const key = fresh('badttl');
        for (const ttlMs of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          await expect(store.set(key, 'v', { ttlMs })).rejects.toBeInstanceOf(RangeError);
          await expect(store.setIfAbsent(key, 'v', ttlMs)).rejects.toBeInstanceOf(RangeError);
          await expect(store.setIfAbsentThenSet(key, 'v', ttlMs, { key: `${key}:then`, value: 'w', ttlMs: 1000 })).rejects.toBeInstanceOf(
            RangeError,
          );
          await expect(store.setIfAbsentThenSet(key, 'v', 1000, { key: `${key}:then`, value: 'w', ttlMs })).rejects.toBeInstanceOf(
            RangeError,
          );
          await expect(store.incrWithTtl(key, ttlMs)).rejects.toBeInstanceOf(RangeError);
          await expect(store.incrWithTtlUnlessExists(key, `${key}:guard`, ttlMs)).rejects.toBeInstanceOf(RangeError);
          await expect(store.expireMs(key, ttlMs)).rejects.toBeInstanceOf(RangeError);
        }
        await expect(store.set(key, 'v', undefined as unknown as { ttlMs: number })).rejects.toBeInstanceOf(RangeError);
        await expect(store.set(key, 42 as unknown as string, { ttlMs: 1000 })).rejects.toBeInstanceOf(TypeError);
        expect(await store.get(key)).toBeNull();
      });
    });

    describe('expiry', () => {
      it('a key disappears after its TTL', async () => {
        const key = fresh('ttl');
        await store.set(key, 'v', { ttlMs: 100 });
        expect(await store.get(key)).toBe('v');
        const ttl = await store.ttlMs(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(100);
        await sleep(250);
        expect(await store.get(key)).toBeNull();
        expect(await store.ttlMs(key)).toBeNull();
        expect(await store.getDel(key)).toBeNull();
        expect(await store.del(key)).toBe(false);
      });

      it('ttlMs is null for a missing key and close to the TTL for a fresh one', async () => {
        const key = fresh('ttlms');
        expect(await store.ttlMs(key)).toBeNull();
        await store.set(key, 'v', { ttlMs: 60_000 });
        const ttl = await store.ttlMs(key);
        expect(ttl).toBeGreaterThan(55_000);
        expect(ttl).toBeLessThanOrEqual(60_000);
      });

      it('set replaces the TTL', async () => {
        const key = fresh('reset');
        await store.set(key, 'a', { ttlMs: 100 });
        await store.set(key, 'b', { ttlMs: 60_000 });
        await sleep(250);
        expect(await store.get(key)).toBe('b');
      });

      it('expireMs shortens and extends existing keys, and is false for missing ones', async () => {
        const missing = fresh('expire-missing');
        expect(await store.expireMs(missing, 1000)).toBe(false);
        expect(await store.get(missing)).toBeNull();

        const shorten = fresh('expire-shorten');
        await store.set(shorten, 'v', { ttlMs: 60_000 });
        expect(await store.expireMs(shorten, 100)).toBe(true);
        expect(await store.ttlMs(shorten)).toBeLessThanOrEqual(100);

        // A first TTL of seconds, not milliseconds: on a loaded machine a 100 ms key can expire
        // before the next command reaches the store. Extension shows in its TTL.
        const extend = fresh('expire-extend');
        await store.set(extend, 'v', { ttlMs: 5_000 });
        expect(await store.expireMs(extend, 60_000)).toBe(true);
        expect(await store.ttlMs(extend)).toBeGreaterThan(5_000);

        await sleep(250);
        expect(await store.get(shorten)).toBeNull();
        expect(await store.get(extend)).toBe('v');
      });
    });

    describe('setIfAbsent', () => {
      it('only the first write wins, until the key expires', async () => {
        const key = fresh('nx');
        expect(await store.setIfAbsent(key, 'first', 100)).toBe(true);
        expect(await store.setIfAbsent(key, 'second', 100)).toBe(false);
        expect(await store.get(key)).toBe('first');
        await sleep(250);
        expect(await store.setIfAbsent(key, 'third', 10_000)).toBe(true);
        expect(await store.get(key)).toBe('third');
        const ttl = await store.ttlMs(key);
        expect(ttl).toBeGreaterThan(5_000);
      });

      it('exactly one of 50 concurrent callers acquires the key', async () => {
        const key = fresh('nx-race');
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.setIfAbsent(key, `holder-${i}`, 10_000)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.get(key)).toBe(`holder-${results.indexOf(true)}`);
      });
    });

    describe('setIfAbsentThenSet', () => {
      it('writes both when the key is new, neither when it exists', async () => {
        const key = fresh('claim');
        const then = { key: `${key}:then`, value: 'first', ttlMs: 300 };
        expect(await store.setIfAbsentThenSet(key, '1', 10_000, then)).toBe(true);
        expect(await store.get(key)).toBe('1');
        expect(await store.get(then.key)).toBe('first');
        expect(await store.ttlMs(then.key)).toBeLessThanOrEqual(300);
        expect(await store.setIfAbsentThenSet(key, '2', 10_000, { ...then, value: 'second' })).toBe(false);
        expect(await store.get(key)).toBe('1');
        expect(await store.get(then.key)).toBe('first');
      });

      it('overwrites the second key whenever the claim succeeds', async () => {
        const key = fresh('claim-over');
        await store.set(`${key}:then`, 'old', { ttlMs: 10_000 });
        expect(await store.setIfAbsentThenSet(key, '1', 10_000, { key: `${key}:then`, value: 'new', ttlMs: 200 })).toBe(true);
        expect(await store.get(`${key}:then`)).toBe('new');
        expect(await store.ttlMs(`${key}:then`)).toBeLessThanOrEqual(200);
      });

      it("50 concurrent claims: exactly one wins, and the second key holds the winner's value", async () => {
        const key = fresh('claim-race');
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            store.setIfAbsentThenSet(key, String(i), 10_000, { key: `${key}:then`, value: String(i), ttlMs: 10_000 }),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect(await store.get(key)).toBe(String(winner));
        expect(await store.get(`${key}:then`)).toBe(String(winner));
      });
    });

    describe('getDel', () => {
      it('returns the value once, then null', async () => {
        const key = fresh('getdel');
        expect(await store.getDel(key)).toBeNull();
        await store.set(key, 'challenge', { ttlMs: 10_000 });
        expect(await store.getDel(key)).toBe('challenge');
        expect(await store.getDel(key)).toBeNull();
        expect(await store.get(key)).toBeNull();
      });

      it('exactly one of 50 concurrent consumers gets the value', async () => {
        const key = fresh('getdel-race');
        await store.set(key, 'one-time-code', { ttlMs: 10_000 });
        const results = await Promise.all(Array.from({ length: 50 }, () => store.getDel(key)));
        expect(results.filter((r) => r !== null)).toEqual(['one-time-code']);
      });
    });

    describe('incrWithTtl', () => {
      it('counts from 1 on a missing key', async () => {
        const key = fresh('incr');
        expect(await store.incrWithTtl(key, 10_000)).toBe(1);
        expect(await store.incrWithTtl(key, 10_000)).toBe(2);
        expect(await store.incrWithTtl(key, 10_000)).toBe(3);
        expect(await store.get(key)).toBe('3');
      });

      it('200 concurrent increments yield 1..200, each exactly once, and the key has a TTL', async () => {
        const key = fresh('incr-race');
        const results = await Promise.all(Array.from({ length: 200 }, () => store.incrWithTtl(key, 10_000)));
        expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
        expect(await store.get(key)).toBe('200');
        const ttl = await store.ttlMs(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(10_000);
      });

      it('sets the TTL when the key is created and never extends it (fixed window)', async () => {
        const key = fresh('incr-window');
        expect(await store.incrWithTtl(key, 300)).toBe(1);
        await sleep(150);
        expect(await store.incrWithTtl(key, 300)).toBe(2);
        // Had the second call refreshed the TTL it would be close to 300 again.
        expect(await store.ttlMs(key)).toBeLessThanOrEqual(200);
        await sleep(300);
        expect(await store.get(key)).toBeNull();
        expect(await store.incrWithTtl(key, 300)).toBe(1); // a new window
      });

      it('counts on from a stored integer, keeping its TTL', async () => {
        const key = fresh('incr-existing');
        await store.set(key, '41', { ttlMs: 100 });
        expect(await store.incrWithTtl(key, 60_000)).toBe(42);
        expect(await store.ttlMs(key)).toBeLessThanOrEqual(100);
      });

      it('rejects (as a usage error, not unavailability) when the value is not an integer', async () => {
        const key = fresh('incr-nan');
        await store.set(key, 'abc', { ttlMs: 10_000 });
        const error = await store.incrWithTtl(key, 10_000).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(Error);
        expect(error).not.toBeInstanceOf(StoreUnavailableError);
        expect(await store.get(key)).toBe('abc');
      });
    });

    describe('incrWithTtlUnlessExists', () => {
      it('counts like incrWithTtl while the guard is missing, with the TTL set at creation', async () => {
        const key = fresh('guarded');
        expect(await store.incrWithTtlUnlessExists(key, `${key}:guard`, 300)).toBe(1);
        await sleep(150);
        expect(await store.incrWithTtlUnlessExists(key, `${key}:guard`, 300)).toBe(2);
        expect(await store.ttlMs(key)).toBeLessThanOrEqual(200);
        expect(await store.get(key)).toBe('2');
      });

      it('answers null and writes nothing once the guard exists', async () => {
        const key = fresh('guarded-closed');
        await store.set(`${key}:guard`, '1', { ttlMs: 10_000 });
        expect(await store.incrWithTtlUnlessExists(key, `${key}:guard`, 10_000)).toBeNull();
        expect(await store.get(key)).toBeNull();
        await store.set(key, '3', { ttlMs: 10_000 });
        expect(await store.incrWithTtlUnlessExists(key, `${key}:guard`, 10_000)).toBeNull();
        expect(await store.get(key)).toBe('3');
        await store.del(`${key}:guard`);
        expect(await store.incrWithTtlUnlessExists(key, `${key}:guard`, 10_000)).toBe(4);
      });

      it('200 concurrent increments with the guard set midway: the counted ones are 1..n exactly once', async () => {
        const key = fresh('guarded-race');
        const results = await Promise.all(
          Array.from({ length: 200 }, async (_, i) => {
            if (i === 100) await store.set(`${key}:guard`, '1', { ttlMs: 10_000 });
            return store.incrWithTtlUnlessExists(key, `${key}:guard`, 10_000);
          }),
        );
        const counted = results.filter((r): r is number => r !== null).sort((a, b) => a - b);
        expect(counted).toEqual(Array.from({ length: counted.length }, (_, i) => i + 1));
        expect(await store.get(key)).toBe(counted.length === 0 ? null : String(counted.length));
      });

      it('rejects (as a usage error) when the counter is not an integer, leaving it', async () => {
        const key = fresh('guarded-nan');
        await store.set(key, 'abc', { ttlMs: 10_000 });
        const error = await store.incrWithTtlUnlessExists(key, `${key}:guard`, 10_000).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(Error);
        expect(error).not.toBeInstanceOf(StoreUnavailableError);
        expect(await store.get(key)).toBe('abc');
      });
    });

    describe('setFirstAbsent', () => {
      it('sets the first key that does not exist, in the order given, and says which', async () => {
        const keys = [fresh('slot-0'), fresh('slot-1'), fresh('slot-2')];
        await store.set(keys[0]!, 'taken', { ttlMs: 10_000 });
        expect(await store.setFirstAbsent(keys, 'mine', 10_000)).toBe(1);
        expect(await store.get(keys[1]!)).toBe('mine');
        expect(await store.get(keys[2]!)).toBeNull();
        expect(await store.ttlMs(keys[1]!)).toBeLessThanOrEqual(10_000);
        expect(await store.setFirstAbsent(keys, 'next', 10_000)).toBe(2);
        expect(await store.setFirstAbsent(keys, 'late', 10_000)).toBe(-1);
        expect(await store.get(keys[0]!)).toBe('taken');
      });

      it('gives each of many concurrent claimers a different key, and no more claims than keys', async () => {
        const keys = Array.from({ length: 4 }, (_, i) => fresh(`race-${i}`));
        const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => store.setFirstAbsent(keys, `c${i}`, 10_000)));
        const won = claims.filter((index) => index >= 0);
        expect(won.sort()).toEqual([0, 1, 2, 3]);
      });

      it('a repeated claim with the same value gets the key it already holds (an answer lost to a timeout), its TTL renewed', async () => {
        const keys = [fresh('again-0'), fresh('again-1'), fresh('again-2')];
        await store.set(keys[0]!, 'taken', { ttlMs: 10_000 });
        expect(await store.setFirstAbsent(keys, 'token-a', 1_000)).toBe(1);
        expect(await store.setFirstAbsent(keys, 'token-a', 10_000)).toBe(1);
        expect(await store.ttlMs(keys[1]!)).toBeGreaterThan(1_000);
        expect(await store.get(keys[2]!)).toBeNull();
        expect(await store.setFirstAbsent(keys, 'token-b', 10_000)).toBe(2);
      });

      it('refuses an empty key list', async () => {
        await expect(store.setFirstAbsent([], 'v', 1_000)).rejects.toThrow();
      });
    });

    describe('expireIfEquals', () => {
      it('renews the TTL only while the key holds the expected value', async () => {
        const key = fresh('lease');
        expect(await store.expireIfEquals(key, 'holder', 60_000)).toBe(false);
        await store.set(key, 'holder', { ttlMs: 5_000 });
        expect(await store.expireIfEquals(key, 'someone-else', 60_000)).toBe(false);
        expect(await store.ttlMs(key)).toBeLessThanOrEqual(5_000);
        expect(await store.expireIfEquals(key, 'holder', 60_000)).toBe(true);
        expect(await store.ttlMs(key)).toBeGreaterThan(5_000);
      });
    });

    describe('compareAndDelete', () => {
      it('deletes only when the value matches', async () => {
        const key = fresh('cad');
        expect(await store.compareAndDelete(key, 'token')).toBe(false);
        await store.set(key, 'token-a', { ttlMs: 10_000 });
        expect(await store.compareAndDelete(key, 'token-b')).toBe(false);
        expect(await store.get(key)).toBe('token-a');
        expect(await store.compareAndDelete(key, 'token-a')).toBe(true);
        expect(await store.get(key)).toBeNull();
        expect(await store.compareAndDelete(key, 'token-a')).toBe(false);
      });

      it('works as a lock: a stale holder cannot release the next holder', async () => {
        const lock = fresh('lock');
        expect(await store.setIfAbsent(lock, 'holder-1', 100)).toBe(true);
        await sleep(250); // holder-1's lease runs out
        expect(await store.setIfAbsent(lock, 'holder-2', 10_000)).toBe(true);
        expect(await store.compareAndDelete(lock, 'holder-1')).toBe(false);
        expect(await store.get(lock)).toBe('holder-2');
      });
    });

    describe('prefixed', () => {
      it('namespaces keys, and views with different prefixes are isolated', async () => {
        const ns = fresh('ns');
        const a = prefixed(store, `${ns}:a:`);
        const b = prefixed(store, `${ns}:b:`);
        await a.set('k', 'from-a', { ttlMs: 10_000 });
        expect(await a.get('k')).toBe('from-a');
        expect(await b.get('k')).toBeNull();
        expect(await store.get('k')).toBeNull();
        expect(await store.get(`${ns}:a:k`)).toBe('from-a');

        expect(await b.incrWithTtl('k', 10_000)).toBe(1);
        // Both keys of a guarded increment are the view's: a's 'k' does not guard b's counter.
        expect(await b.incrWithTtlUnlessExists('counter', 'k', 10_000)).toBeNull();
        expect(await a.incrWithTtlUnlessExists('counter', 'guard', 10_000)).toBe(1);
        expect(await store.get(`${ns}:a:counter`)).toBe('1');
        expect(await b.setIfAbsentThenSet('claim', '1', 10_000, { key: 'then', value: 'v', ttlMs: 10_000 })).toBe(true);
        expect(await store.get(`${ns}:b:then`)).toBe('v');
        expect(await a.get('k')).toBe('from-a');
        expect(await b.getDel('k')).toBe('1');
        expect(await a.compareAndDelete('k', 'from-a')).toBe(true);
        expect(await store.get(`${ns}:a:k`)).toBeNull();

        const nested = prefixed(a, 'inner:');
        await nested.set('k', 'deep', { ttlMs: 10_000 });
        expect(await store.get(`${ns}:a:inner:k`)).toBe('deep');
        expect(await a.ttlMs('inner:k')).toBeGreaterThan(0);
      });

      it('namespaces channels', async () => {
        const ns = fresh('ns-ch');
        const a = prefixed(store, `${ns}:a:`);
        const b = prefixed(store, `${ns}:b:`);
        const gotA: string[] = [];
        const gotRaw: string[] = [];
        const unsubA = await a.subscribe('events', (m) => void gotA.push(m));
        const unsubRaw = await store.subscribe(`${ns}:a:events`, (m) => void gotRaw.push(m));
        await b.publish('events', 'for-b');
        await a.publish('events', 'for-a');
        await store.publish(`${ns}:a:events`, 'raw');
        await eventually(() => expect(gotRaw).toEqual(['for-a', 'raw']));
        expect(gotA).toEqual(['for-a', 'raw']);
        await unsubA();
        await unsubRaw();
      });

      it('closing a view closes only the view', async () => {
        const view = prefixed(store, `${fresh('view')}:`);
        await view.set('k', 'v', { ttlMs: 10_000 });
        await view.close();
        await view.close();
        await expect(view.get('k')).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(view.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(view.subscribe('c', () => {})).rejects.toBeInstanceOf(StoreUnavailableError);
        await store.ping();
      });
    });

    describe('pub/sub', () => {
      it('delivers to every subscriber, in order, asynchronously', async () => {
        const channel = fresh('ch');
        const one: string[] = [];
        const two: string[] = [];
        const unsubOne = await store.subscribe(channel, (m) => void one.push(m));
        const unsubTwo = await store.subscribe(channel, (m) => void two.push(m));
        const publishing = store.publish(channel, 'm1');
        expect(one).toEqual([]); // never delivered inside publish()
        await publishing;
        await store.publish(channel, 'm2');
        await store.publish(channel, 'm3');
        await eventually(() => {
          expect(one).toEqual(['m1', 'm2', 'm3']);
          expect(two).toEqual(['m1', 'm2', 'm3']);
        });
        await unsubOne();
        await unsubTwo();
      });

      it('publishing to a channel nobody listens to is fine, and nothing is kept for later', async () => {
        const channel = fresh('ch-empty');
        await store.publish(channel, 'lost');
        const got: string[] = [];
        const unsub = await store.subscribe(channel, (m) => void got.push(m));
        await store.publish(channel, 'seen');
        await eventually(() => expect(got).toEqual(['seen']));
        await unsub();
      });

      it('after unsubscribe a handler receives nothing; others on the channel still do', async () => {
        const channel = fresh('ch-unsub');
        const leaving: string[] = [];
        const staying: string[] = [];
        const unsubLeaving = await store.subscribe(channel, (m) => void leaving.push(m));
        const unsubStaying = await store.subscribe(channel, (m) => void staying.push(m));
        await store.publish(channel, 'before');
        await eventually(() => expect(leaving).toEqual(['before']));
        await unsubLeaving();
        await unsubLeaving(); // idempotent
        await store.publish(channel, 'after');
        await eventually(() => expect(staying).toEqual(['before', 'after']));
        expect(leaving).toEqual(['before']);

        // Once the last handler leaves and comes back, delivery resumes (re-subscription works).
        await unsubStaying();
        const again: string[] = [];
        const unsubAgain = await store.subscribe(channel, (m) => void again.push(m));
        await store.publish(channel, 'again');
        await eventually(() => expect(again).toEqual(['again']));
        expect(staying).toEqual(['before', 'after']);
        await unsubAgain();
      });

      it('a subscriber that throws or rejects does not affect the others or the store', async () => {
        const channel = fresh('ch-err');
        const got: string[] = [];
        const unsubs = [
          await store.subscribe(channel, () => {
            throw new Error('subscriber bug (expected in this test)');
          }),
          await store.subscribe(channel, async () => {
            throw new Error('async subscriber bug (expected in this test)');
          }),
          await store.subscribe(channel, (m) => void got.push(m)),
        ];
        await store.publish(channel, 'a');
        await store.publish(channel, 'b');
        await eventually(() => expect(got).toEqual(['a', 'b']));
        const key = fresh('after-err');
        await store.set(key, 'still-works', { ttlMs: 10_000 });
        expect(await store.get(key)).toBe('still-works');
        for (const unsub of unsubs) await unsub();
      });
    });

    describe('lifecycle', () => {
      it('ping succeeds on an open store', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });

      it('after close every call rejects with StoreUnavailableError; close is idempotent', async () => {
        const closing = await makeStore();
        const channel = fresh('ch-close');
        const got: string[] = [];
        await closing.subscribe(channel, (m) => void got.push(m));
        await closing.close();
        await closing.close();
        const key = fresh('closed');
        const calls: Array<[string, () => Promise<unknown>]> = [
          ['get', () => closing.get(key)],
          ['set', () => closing.set(key, 'v', { ttlMs: 1000 })],
          ['setIfAbsent', () => closing.setIfAbsent(key, 'v', 1000)],
          ['setIfAbsentThenSet', () => closing.setIfAbsentThenSet(key, 'v', 1000, { key: `${key}:then`, value: 'w', ttlMs: 1000 })],
          ['getDel', () => closing.getDel(key)],
          ['del', () => closing.del(key)],
          ['expireMs', () => closing.expireMs(key, 1000)],
          ['ttlMs', () => closing.ttlMs(key)],
          ['incrWithTtl', () => closing.incrWithTtl(key, 1000)],
          ['incrWithTtlUnlessExists', () => closing.incrWithTtlUnlessExists(key, `${key}:guard`, 1000)],
          ['compareAndDelete', () => closing.compareAndDelete(key, 'v')],
          ['publish', () => closing.publish(channel, 'm')],
          ['subscribe', () => closing.subscribe(channel, () => {})],
          ['ping', () => closing.ping()],
        ];
        for (const [op, call] of calls) {
          const error = await call().then(
            () => new Error(`${op} resolved after close`),
            (e: unknown) => e,
          );
          expect(error, op).toBeInstanceOf(StoreUnavailableError);
        }
        // The open store can still publish on that channel; the closed one must not deliver.
        await store.publish(channel, 'after-close');
        await sleep(100);
        expect(got).toEqual([]);
      });
    });
  });
}
