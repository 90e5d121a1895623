import { type Store, StoreUnavailableError } from '@kfrm/store';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamSlots } from './stream-slots';

const TTL_MS = 30_000;

/** The three store calls slots make, recorded; every key is free until claimed. */
function recordingStore() {
  const values = new Map<string, string>();
  const renewals: { key: string; token: string }[] = [];
  const deletions: { key: string; token: string }[] = [];
  const store = {
    async setFirstAbsent(keys: readonly string[], value: string) {
      // As the store contract: a key already holding the value is the claim.
      const held = keys.findIndex((key) => values.get(key) === value);
      if (held >= 0) return held;
      const index = keys.findIndex((key) => !values.has(key));
      if (index >= 0) values.set(keys[index]!, value);
      return index;
    },
    async expireIfEquals(key: string, token: string) {
      renewals.push({ key, token });
      return values.get(key) === token;
    },
    async compareAndDelete(key: string, token: string) {
      deletions.push({ key, token });
      if (values.get(key) !== token) return false;
      values.delete(key);
      return true;
    },
  };
  return { store: store as unknown as Store, values, renewals, deletions };
}

describe('StreamSlots', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('renews every held lease about every third of its TTL, with one timer for all streams (not one each)', async () => {
    const recorded = recordingStore();
    const slots = new StreamSlots(recorded.store, 10, TTL_MS);
    const held = await Promise.all([slots.acquire('u1'), slots.acquire('u1'), slots.acquire('u2')]);
    expect(held.every((slot) => slot !== undefined)).toBe(true);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(TTL_MS / 3 - 1_000);
    expect(recorded.renewals).toEqual([]);
    // Within a tenth of the TTL past its third: renewed, each with its own token.
    await vi.advanceTimersByTimeAsync(TTL_MS / 10 + 1_000);
    expect(recorded.renewals.map((r) => `${r.key}=${r.token}`).sort()).toEqual(
      [...recorded.values].map(([key, token]) => `${key}=${token}`).sort(),
    );
    // Not again before a third of the TTL has passed, and again within a tenth after that.
    await vi.advanceTimersByTimeAsync(TTL_MS / 3 - TTL_MS / 10);
    expect(recorded.renewals).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(TTL_MS / 10 + TTL_MS / 10);
    expect(recorded.renewals).toHaveLength(6);
  });

  it('stops renewing a released slot, gives it back with its token, and stops the timer with the last one', async () => {
    const recorded = recordingStore();
    const slots = new StreamSlots(recorded.store, 2, TTL_MS);
    const first = (await slots.acquire('u1'))!;
    const second = (await slots.acquire('u1'))!;
    expect(await slots.acquire('u1')).toBeUndefined();
    const [firstKey, firstToken] = [...recorded.values][0]!;
    await first.release();
    expect(recorded.deletions).toEqual([{ key: firstKey, token: firstToken }]);
    await vi.advanceTimersByTimeAsync(TTL_MS / 3 + TTL_MS / 10);
    expect(recorded.renewals.map((r) => r.key)).toEqual([...recorded.values.keys()]);
    expect(recorded.renewals.some((r) => r.token === firstToken)).toBe(false);
    // The freed slot is taken again.
    const third = (await slots.acquire('u1'))!;
    await second.release();
    await third.release();
    await third.release();
    expect(recorded.values.size).toBe(0);
    expect(recorded.deletions).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('repeats a claim that timed out with the same token: one slot, not two (bench/fanout.ts: 661 of 10,000 opens refused)', async () => {
    const recorded = recordingStore();
    const claim = recorded.store.setFirstAbsent.bind(recorded.store);
    let calls = 0;
    // The first claim is applied by Redis but its answer never arrives (a command timeout).
    recorded.store.setFirstAbsent = async (keys, value, ttlMs) => {
      calls += 1;
      const index = await claim(keys, value, ttlMs);
      if (calls === 1) throw new StoreUnavailableError('redis set-first-absent failed: Command timed out');
      return index;
    };
    const slots = new StreamSlots(recorded.store, 3, TTL_MS);
    const acquiring = slots.acquire('u1');
    await vi.advanceTimersByTimeAsync(1_000);
    const slot = await acquiring;
    expect(slot).toBeDefined();
    expect(calls).toBe(2);
    expect(recorded.values.size).toBe(1);
    await slot!.release();
    expect(recorded.values.size).toBe(0);
  });

  it('gives up after a few timed-out claims (UNAVAILABLE: the app reconnects later)', async () => {
    const recorded = recordingStore();
    recorded.store.setFirstAbsent = async () => {
      throw new StoreUnavailableError('redis set-first-absent failed: Command timed out');
    };
    const slots = new StreamSlots(recorded.store, 3, TTL_MS);
    const acquiring = slots.acquire('u1');
    const outcome = expect(acquiring).rejects.toBeInstanceOf(StoreUnavailableError);
    await vi.advanceTimersByTimeAsync(5_000);
    await outcome;
  });
});
