import { describe, expect, it } from 'vitest';
import { describeStoreContract } from './contract';
import { createMemoryStore } from './memory-store';
import { instrumentStore, type StoreOperation, type StoreOutcome } from './instrumented-store';
import { StoreUnavailableError } from './errors';

const quiet = { onError: () => {} };

// The decorator must not change behaviour: the whole store contract runs through it.
describeStoreContract('instrumented memory store', async () => instrumentStore(createMemoryStore(quiet), () => {}));

describe('instrumentStore', () => {
  it('reports each operation with its outcome, and never a key', async () => {
    const seen: Array<[StoreOperation, StoreOutcome]> = [];
    const store = instrumentStore(createMemoryStore(quiet), (op, outcome, seconds) => {
      expect(seconds).toBeGreaterThanOrEqual(0);
      seen.push([op, outcome]);
    });
    await store.set('secret-key-name', 'v', { ttlMs: 1_000 });
    expect(await store.getDel('secret-key-name')).toBe('v');
    await expect(store.incrWithTtl('k', 0)).rejects.toBeInstanceOf(RangeError);
    await store.close();
    await expect(store.get('k')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(seen).toEqual([
      ['set', 'ok'],
      ['getDel', 'ok'],
      ['incrWithTtl', 'error'],
      ['get', 'unavailable'],
    ]);
    expect(JSON.stringify(seen)).not.toContain('secret-key-name');
  });
});
