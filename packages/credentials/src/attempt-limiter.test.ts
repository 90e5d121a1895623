import { randomBytes, randomUUID } from 'node:crypto';
import { instrumentStore, StoreUnavailableError, type Store } from '@kfrm/store';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAttemptLimiter, type AttemptLimiter, type PersistedAttemptState } from './attempt-limiter';
import { createSecretHasher } from './secret-hasher';
import { sleep, storeTargets, type OpenedStore } from './testing/stores.harness';

const MAX_ATTEMPTS = 5;
// Short TTLs so a shared Redis does not keep test keys for the production defaults (30/365 days).
const TTLS = { counterTtlMs: 60_000, lockTtlMs: 60_000 };
const hasher = createSecretHasher({ pepper: randomBytes(32) });
const rightPin = '385170';
const wrongPin = '385171';
let stored: string;

beforeAll(async () => {
  stored = await hasher.hashSecret(rightPin);
});

type Outcome = 'ok' | 'wrong' | 'locked-now' | 'refused';

/**
 * What the identity service does for one PIN attempt: claim a slot, check the PIN only when
 * allowed, report back, and persist the result on the "row" monotonically. `checks` counts
 * real PIN evaluations.
 */
function makeCaller(limiter: AttemptLimiter) {
  const row: PersistedAttemptState = { failures: 0, locked: false };
  let checks = 0;
  const attempt = async (credentialId: string, pin: string, persisted: PersistedAttemptState | undefined = row): Promise<Outcome> => {
    const claim = await limiter.claim(credentialId, persisted);
    if (!claim.allowed) {
      await hasher.dummyVerify(); // same cost as a real check (no timing oracle)
      return 'refused';
    }
    checks++;
    if (await hasher.verifySecret(stored, pin)) {
      await limiter.recordSuccess(credentialId);
      row.failures = 0;
      return 'ok';
    }
    const failure = await limiter.recordFailure(credentialId, claim.attempt);
    row.failures = Math.max(row.failures, failure.failures);
    row.locked ||= failure.locked;
    return failure.locked ? 'locked-now' : 'wrong';
  };
  return { attempt, row, checks: () => checks };
}

for (const target of storeTargets) {
  describe.skipIf(target.skip !== undefined)(
    `attempt limiter on the ${target.name}${target.skip ? ` (skipped: ${target.skip})` : ''}`,
    () => {
      let opened: OpenedStore;
      let store: Store;
      let limiter: AttemptLimiter;
      let id: string;

      beforeEach(async () => {
        opened = await target.open();
        store = opened.store;
        limiter = createAttemptLimiter(store, { kind: 'pin', maxAttempts: MAX_ATTEMPTS, ...TTLS });
        id = randomUUID();
      });
      afterEach(async () => {
        await opened.close();
      });

      it('counts failures and locks when the last allowed attempt fails', async () => {
        const results = [];
        for (let i = 1; i <= MAX_ATTEMPTS; i++) {
          const claim = await limiter.claim(id);
          expect(claim).toEqual({ allowed: true, attempt: i });
          results.push(await limiter.recordFailure(id, i));
        }
        expect(results).toEqual([
          { failures: 1, locked: false },
          { failures: 2, locked: false },
          { failures: 3, locked: false },
          { failures: 4, locked: false },
          { failures: 5, locked: true },
        ]);
        expect(await limiter.isLocked(id)).toBe(true);
        expect(await limiter.claim(id)).toEqual({ allowed: false, reason: 'locked' });
      });

      it('after N wrong attempts the next correct one is refused too, without the PIN being checked', async () => {
        const caller = makeCaller(limiter);
        for (let i = 1; i < MAX_ATTEMPTS; i++) expect(await caller.attempt(id, wrongPin)).toBe('wrong');
        expect(await caller.attempt(id, wrongPin)).toBe('locked-now');
        expect(await caller.attempt(id, rightPin)).toBe('refused');
        expect(await caller.attempt(id, rightPin, undefined)).toBe('refused'); // even if the caller's row were lost
        expect(caller.checks()).toBe(MAX_ATTEMPTS);
        expect(caller.row).toEqual({ failures: MAX_ATTEMPTS, locked: true });
      });

      it('stays locked after the attempt counter has expired: only unlock opens it', async () => {
        const shortCounter = createAttemptLimiter(store, { kind: 'pin', maxAttempts: 2, counterTtlMs: 200, lockTtlMs: 60_000 });
        for (let i = 1; i <= 2; i++) {
          const claim = await shortCounter.claim(id);
          if (!claim.allowed) throw new Error('expected the claim to be allowed');
          await shortCounter.recordFailure(id, claim.attempt);
        }
        await sleep(400);
        expect(await shortCounter.claim(id)).toEqual({ allowed: false, reason: 'locked' });
        await shortCounter.unlock(id);
        expect(await shortCounter.isLocked(id)).toBe(false);
        expect(await shortCounter.claim(id)).toEqual({ allowed: true, attempt: 1 });
      });

      it('a success resets the count of failures', async () => {
        const caller = makeCaller(limiter);
        for (let i = 1; i < MAX_ATTEMPTS; i++) expect(await caller.attempt(id, wrongPin)).toBe('wrong');
        expect(await caller.attempt(id, rightPin)).toBe('ok');
        for (let i = 1; i < MAX_ATTEMPTS; i++) expect(await caller.attempt(id, wrongPin)).toBe('wrong');
        expect(await caller.attempt(id, rightPin)).toBe('ok');
        expect(caller.row).toEqual({ failures: 0, locked: false });
      });

      it('unlock clears the lock and the counter', async () => {
        const caller = makeCaller(limiter);
        for (let i = 1; i <= MAX_ATTEMPTS; i++) await caller.attempt(id, wrongPin);
        expect(await caller.attempt(id, rightPin)).toBe('refused');
        await limiter.unlock(id);
        // The caller clears its row too after re-verifying the user's identity.
        Object.assign(caller.row, { failures: 0, locked: false });
        expect(await caller.attempt(id, rightPin)).toBe('ok');
      });

      it(`N+50 racing wrong attempts from two instances evaluate exactly N, and the next correct one is refused`, async () => {
        const peer = await opened.openPeer();
        const instances = [limiter, createAttemptLimiter(peer, { kind: 'pin', maxAttempts: MAX_ATTEMPTS, ...TTLS })];
        const callers = instances.map(makeCaller);
        const outcomes = await Promise.all(
          Array.from({ length: MAX_ATTEMPTS + 50 }, (_, i) => callers[i % 2]!.attempt(id, wrongPin, undefined)),
        );
        const checks = callers.reduce((sum, c) => sum + c.checks(), 0);
        expect(checks).toBe(MAX_ATTEMPTS);
        expect(outcomes.filter((o) => o === 'refused')).toHaveLength(50);
        expect(outcomes.filter((o) => o === 'locked-now')).toHaveLength(1);
        expect(await callers[0]!.attempt(id, rightPin, undefined)).toBe('refused');
        expect(await callers[1]!.attempt(id, rightPin, undefined)).toBe('refused');
      });

      it('persisted failures survive a store that forgot them: racing attempts get only the remaining slots', async () => {
        // The row says 3 failures; this store (fresh, as after a Redis flush) knows nothing.
        const persisted = { failures: 3, locked: false };
        const caller = makeCaller(limiter);
        const outcomes = await Promise.all(Array.from({ length: 20 }, () => caller.attempt(id, wrongPin, persisted)));
        expect(caller.checks()).toBe(MAX_ATTEMPTS - 3);
        expect(outcomes.filter((o) => o === 'locked-now')).toHaveLength(1);
        expect(caller.row).toEqual({ failures: MAX_ATTEMPTS, locked: true });
      });

      it('a claim is one store call, and a claim on a locked credential takes no slot', async () => {
        // Every PIN check makes this claim: one round trip, the lock flag read in the same step.
        const calls: string[] = [];
        const counted = instrumentStore(store, (op) => calls.push(op));
        const countedLimiter = createAttemptLimiter(counted, { kind: 'pin', maxAttempts: MAX_ATTEMPTS, ...TTLS });
        expect(await countedLimiter.claim(id, { failures: 0, locked: false })).toEqual({ allowed: true, attempt: 1 });
        expect(calls).toHaveLength(1);
        await store.set(`locked:pin:${id}`, '1', { ttlMs: 60_000 });
        expect(await countedLimiter.claim(id, { failures: 0, locked: false })).toEqual({ allowed: false, reason: 'locked' });
        expect(await store.get(`attempts:pin:${id}`)).toBe('1');
      });

      it('a persisted lock refuses even when the store has no lock', async () => {
        expect(await limiter.claim(id, { failures: 0, locked: true })).toEqual({ allowed: false, reason: 'locked' });
      });

      it('persisted failures at the limit without a persisted lock refuse and restore the lock', async () => {
        expect(await limiter.claim(id, { failures: MAX_ATTEMPTS, locked: false })).toEqual({ allowed: false, reason: 'locked' });
        expect(await limiter.isLocked(id)).toBe(true);
        expect(await limiter.claim(id)).toEqual({ allowed: false, reason: 'locked' });
      });

      it('keeps credentials and kinds apart', async () => {
        const caller = makeCaller(limiter);
        for (let i = 1; i <= MAX_ATTEMPTS; i++) await caller.attempt(id, wrongPin, undefined);
        expect(await limiter.claim(id)).toEqual({ allowed: false, reason: 'locked' });
        expect(await limiter.claim(randomUUID())).toEqual({ allowed: true, attempt: 1 });
        const pattern = createAttemptLimiter(store, { kind: 'pattern', maxAttempts: MAX_ATTEMPTS, ...TTLS });
        expect(await pattern.claim(id)).toEqual({ allowed: true, attempt: 1 });
      });

      it('fails closed when the store is down: every call rejects, nothing is treated as zero attempts', async () => {
        const down = await opened.openPeer();
        const downLimiter = createAttemptLimiter(down, { kind: 'pin', maxAttempts: MAX_ATTEMPTS, ...TTLS });
        const caller = makeCaller(downLimiter);
        await down.close();
        await expect(caller.attempt(id, rightPin)).rejects.toBeInstanceOf(StoreUnavailableError);
        expect(caller.checks()).toBe(0);
        await expect(downLimiter.claim(id, { failures: 0, locked: false })).rejects.toBeInstanceOf(StoreUnavailableError);
        // Below the limit a failure needs no write (the claim's INCR already counted it); the
        // failure that must set the lock rejects when it cannot.
        await expect(downLimiter.recordFailure(id, MAX_ATTEMPTS)).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(downLimiter.recordSuccess(id)).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(downLimiter.isLocked(id)).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(downLimiter.unlock(id)).rejects.toBeInstanceOf(StoreUnavailableError);
      });
    },
  );
}

describe('attempt limiter arguments', () => {
  it('rejects bad options and ids', async () => {
    const { createMemoryStore } = await import('@kfrm/store');
    const store = createMemoryStore();
    try {
      expect(() => createAttemptLimiter(store, { kind: 'pin', maxAttempts: 0 })).toThrow(RangeError);
      expect(() => createAttemptLimiter(store, { kind: 'pin', maxAttempts: 1.5 })).toThrow(RangeError);
      expect(() => createAttemptLimiter(store, { kind: '', maxAttempts: 5 })).toThrow(RangeError);
      expect(() => createAttemptLimiter(store, { kind: 'a:b', maxAttempts: 5 })).toThrow(RangeError);
      expect(() => createAttemptLimiter(store, { kind: 'pin', maxAttempts: 5, lockTtlMs: 0 })).toThrow(RangeError);
      const limiter = createAttemptLimiter(store, { kind: 'pin', maxAttempts: 5 });
      await expect(limiter.claim('')).rejects.toThrow(TypeError);
      await expect(limiter.claim('u', { failures: -1, locked: false })).rejects.toThrow(RangeError);
      await expect(limiter.recordFailure('u', 0)).rejects.toThrow(RangeError);
    } finally {
      await store.close();
    }
  });
});
