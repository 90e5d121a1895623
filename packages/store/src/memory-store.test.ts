import { afterAll, describe, expect, it } from 'vitest';
import { describeStoreContract } from './contract';
import { createStore, MemoryStore, prefixed, StoreUnavailableError } from './index';
import { createMemoryStore } from './memory-store';

const quiet = { onError: () => {} };

describeStoreContract('memory', async () => createMemoryStore(quiet));
describe('prefixed view', () => {
  // A view does not own its store, so the underlying stores are closed here.
  const bases: MemoryStore[] = [];
  afterAll(async () => {
    await Promise.all(bases.map((base) => base.close()));
  });
  describeStoreContract('prefixed view over memory', async () => {
    const base = createMemoryStore(quiet);
    bases.push(base);
    return prefixed(base, 'view:');
  });
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('MemoryStore specifics', () => {
  it('expires on read exactly at the deadline of its clock', async () => {
    let now = 1_000;
    const store = createMemoryStore({ now: () => now, ...quiet });
    await store.set('k', 'v', { ttlMs: 100 });
    now += 99;
    expect(await store.get('k')).toBe('v');
    expect(await store.ttlMs('k')).toBe(1);
    now += 1;
    expect(await store.get('k')).toBeNull();
    expect(store.size).toBe(0); // removed by the read
    await store.close();
  });

  it('sweeps expired keys nobody reads, on an unref-ed timer', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 20, ...quiet });
    for (let i = 0; i < 100; i++) await store.set(`k${i}`, 'v', { ttlMs: 30 });
    await store.set('keep', 'v', { ttlMs: 60_000 });
    expect(store.size).toBe(101);
    await sleep(150);
    expect(store.size).toBe(1);
    await store.close();
  });

  it('reports subscriber failures to onError without stopping delivery', async () => {
    const errors: Array<[unknown, string]> = [];
    const store = createMemoryStore({ onError: (error, context) => void errors.push([error, context]) });
    const got: string[] = [];
    await store.subscribe('c', () => {
      throw new Error('sync boom');
    });
    await store.subscribe('c', async () => {
      throw new Error('async boom');
    });
    await store.subscribe('c', (m) => void got.push(m));
    await store.publish('c', 'm');
    await sleep(10);
    expect(got).toEqual(['m']);
    expect(errors.map(([e]) => (e as Error).message).sort()).toEqual(['async boom', 'sync boom']);
    expect(errors.every(([, context]) => context.includes("'c'"))).toBe(true);
    await store.close();
  });

  it('does not deliver a message to a handler unsubscribed between publish and delivery', async () => {
    const store = createMemoryStore(quiet);
    const got: string[] = [];
    const unsubscribe = await store.subscribe('c', (m) => void got.push(m));
    const publishing = store.publish('c', 'm');
    await unsubscribe();
    await publishing;
    await sleep(10);
    expect(got).toEqual([]);
    await store.close();
  });

  it('rejects the Redis way on integer overflow', async () => {
    const store = createMemoryStore(quiet);
    await store.set('big', String(Number.MAX_SAFE_INTEGER), { ttlMs: 1000 });
    await expect(store.incrWithTtl('big', 1000)).rejects.toThrow(/not an integer or out of range/);
    await store.set('padded', '007', { ttlMs: 1000 });
    await expect(store.incrWithTtl('padded', 1000)).rejects.toThrow(/not an integer/);
    await store.set('neg', '-5', { ttlMs: 1000 });
    expect(await store.incrWithTtl('neg', 1000)).toBe(-4);
    await store.close();
  });

  it('close clears data and subscriptions', async () => {
    const store = createMemoryStore(quiet);
    await store.set('k', 'v', { ttlMs: 1000 });
    await store.close();
    expect(store.size).toBe(0);
    await expect(store.get('k')).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

describe('createStore', () => {
  it('uses the in-process store without a Redis URL (absent or empty)', async () => {
    for (const config of [{}, { redisUrl: undefined }, { redisUrl: '' }, { redisUrl: '  ' }]) {
      const store = await createStore(config);
      expect(store).toBeInstanceOf(MemoryStore);
      await store.close();
    }
  });
});
