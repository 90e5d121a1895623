import { randomUUID } from 'node:crypto';
import { StoreUnavailableError, createMemoryStore } from '@kfrm/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rateLimit } from './rate-limit';
import { sleep, storeTargets, type OpenedStore } from './testing/stores.harness';

for (const target of storeTargets) {
  describe.skipIf(target.skip !== undefined)(`rateLimit on the ${target.name}${target.skip ? ` (skipped: ${target.skip})` : ''}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await target.open();
    });
    afterEach(async () => {
      await opened.close();
    });

    it('allows `limit` calls per window, then refuses with a retry hint within the window', async () => {
      const key = `register:device:${randomUUID()}`;
      for (let i = 1; i <= 3; i++) expect(await rateLimit(opened.store, key, 3, 60_000)).toEqual({ allowed: true, count: i, limit: 3 });
      const refused = await rateLimit(opened.store, key, 3, 60_000);
      expect(refused).toMatchObject({ allowed: false, count: 4, limit: 3 });
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
      // Refused calls count too, so hammering keeps the door shut.
      expect(await rateLimit(opened.store, key, 3, 60_000)).toMatchObject({ allowed: false, count: 5 });
    });

    it('keys are independent: per device and per user are separate budgets', async () => {
      const device = `pin:device:${randomUUID()}`;
      const user = `pin:user:${randomUUID()}`;
      expect((await rateLimit(opened.store, device, 1, 60_000)).allowed).toBe(true);
      expect((await rateLimit(opened.store, device, 1, 60_000)).allowed).toBe(false);
      expect((await rateLimit(opened.store, user, 1, 60_000)).allowed).toBe(true);
    });

    it('racing calls from two instances get exactly `limit` admissions', async () => {
      const peer = await opened.openPeer();
      const key = `cert-issue:user:${randomUUID()}`;
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => rateLimit(i % 2 ? peer : opened.store, key, 10, 60_000)));
      expect(results.filter((r) => r.allowed)).toHaveLength(10);
      expect(results.map((r) => r.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    });

    it('a new window opens after the old one ends', async () => {
      const key = `register:user:${randomUUID()}`;
      expect((await rateLimit(opened.store, key, 1, 150)).allowed).toBe(true);
      expect((await rateLimit(opened.store, key, 1, 150)).allowed).toBe(false);
      await sleep(300);
      expect(await rateLimit(opened.store, key, 1, 150)).toEqual({ allowed: true, count: 1, limit: 1 });
    });

    it('fails closed: a store that is down rejects instead of admitting', async () => {
      const down = await opened.openPeer();
      await down.close();
      await expect(rateLimit(down, `register:device:${randomUUID()}`, 3, 60_000)).rejects.toBeInstanceOf(StoreUnavailableError);
    });
  });
}

describe('rateLimit arguments', () => {
  it('rejects a bad key, limit or window before touching the store', async () => {
    const store = createMemoryStore();
    try {
      await expect(rateLimit(store, '', 1, 1000)).rejects.toThrow(TypeError);
      await expect(rateLimit(store, 'k', 0, 1000)).rejects.toThrow(RangeError);
      await expect(rateLimit(store, 'k', 1, 0)).rejects.toThrow(RangeError);
      await expect(rateLimit(store, 'k', 1, 1.5)).rejects.toThrow(RangeError);
    } finally {
      await store.close();
    }
  });
});
