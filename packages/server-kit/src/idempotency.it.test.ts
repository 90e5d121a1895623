// runIdempotent on the real store (Redis when REDIS_URL is set, else memory): what is stored, when
// a claim is released, whose keys are whose, and that nothing readable lands in the store.
import { randomUUID } from 'node:crypto';
import { DomainError, InvalidArgumentError, RateLimitedError } from '@kfrm/errors';
import { createStore, prefixed, type Store } from '@kfrm/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from './access';
import { type IdempotencyRecords, runIdempotent } from './idempotency';

const userA: Principal = { level: 'session', session: { userId: 'user-a', deviceId: 'd1', sessionToken: 't' } };
const userB: Principal = { level: 'session', session: { userId: 'user-b', deviceId: 'd2', sessionToken: 't' } };

describe('runIdempotent', () => {
  let root: Store;
  let store: Store;
  /** Every key written through `records`, to read back what the store holds. */
  const written = new Set<string>();
  let records: IdempotencyRecords;

  beforeAll(async () => {
    root = await createStore({ redisUrl: process.env.REDIS_URL });
    store = prefixed(root, `test-idempotency-${randomUUID()}:`);
    records = {
      get: (k) => store.get(k),
      set: (k, v, o) => (written.add(k), store.set(k, v, o)),
      setIfAbsent: (k, v, t) => (written.add(k), store.setIfAbsent(k, v, t)),
      compareAndDelete: (k, e) => store.compareAndDelete(k, e),
    };
  });
  afterAll(async () => {
    await store?.close();
    await root?.close();
  });

  function run(principal: Principal, key: string, body: string, execute: () => Promise<string>) {
    return runIdempotent(
      { records },
      {
        keys: [key],
        principal,
        method: '/test.Service/Do',
        requestBytes: Buffer.from(body),
        serialize: (r: string) => Buffer.from(r),
        deserialize: (b) => b.toString(),
        signal: new AbortController().signal,
      },
      execute,
    );
  }
  const counter = () => {
    let n = 0;
    return {
      next: async () => `answer-${++n}`,
      get count() {
        return n;
      },
    };
  };

  it('a final error is stored and answered again without running; a non-final one releases the key', async () => {
    const key = randomUUID();
    let runs = 0;
    const refuse = async (): Promise<string> => {
      runs++;
      throw new DomainError('INSUFFICIENT_BALANCE', 'not enough');
    };
    await expect(run(userA, key, 'b', refuse)).rejects.toMatchObject({ code: 'INSUFFICIENT_BALANCE', message: 'not enough' });
    await expect(run(userA, key, 'b', refuse)).rejects.toMatchObject({ code: 'INSUFFICIENT_BALANCE' });
    expect(runs).toBe(1);
    const bad = randomUUID();
    await expect(run(userA, bad, 'b', async () => Promise.reject(new InvalidArgumentError('x')))).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(run(userA, bad, 'b', async () => 'ran')).rejects.toBeInstanceOf(InvalidArgumentError);

    // Rate-limited, unavailable, a bug: not the request's fault; the retry runs.
    for (const transient of [new RateLimitedError('slow down'), new Error('bug'), new DomainError('UNAUTHENTICATED_USER')]) {
      const k = randomUUID();
      await expect(run(userA, k, 'b', async () => Promise.reject(transient))).rejects.toBe(transient);
      expect(await run(userA, k, 'b', async () => 'second try')).toBe('second try');
    }
  });

  it("keys are per caller: another user's same key runs on its own and is no reuse", async () => {
    const key = randomUUID();
    const c = counter();
    expect(await run(userA, key, 'body-a', c.next)).toBe('answer-1');
    expect(await run(userB, key, 'body-b', c.next)).toBe('answer-2');
    expect(await run(userA, key, 'body-a', c.next)).toBe('answer-1');
    await expect(run(userA, key, 'body-b', c.next)).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(c.count).toBe(2);
  });

  it('the store holds neither the key, nor the answer, nor the request in readable form', async () => {
    const key = `key-${randomUUID()}`;
    written.clear();
    await run(userA, key, 'request-secret-body', async () => 'session-token-SECRET');
    expect(written.size).toBe(1);
    const [name] = [...written];
    const raw = (await store.get(name!))!;
    for (const text of [key, 'SECRET', 'request-secret-body', 'user-a', Buffer.from('session-token-SECRET').toString('base64')]) {
      expect(name).not.toContain(text);
      expect(raw).not.toContain(text);
    }
  });

  it('concurrent duplicates run once and share the answer', async () => {
    const key = randomUUID();
    let runs = 0;
    const slow = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 100));
      return 'once';
    };
    const answers = await Promise.all(Array.from({ length: 20 }, () => run(userA, key, 'b', slow)));
    expect(new Set(answers)).toEqual(new Set(['once']));
    expect(runs).toBe(1);
  });

  it('an unreachable store fails the call (UNAVAILABLE upstream) and runs nothing', async () => {
    const closed = prefixed(root, 'closed-view:');
    await closed.close();
    let runs = 0;
    await expect(
      runIdempotent(
        { records: closed },
        {
          keys: [randomUUID()],
          principal: userA,
          method: '/test.Service/Do',
          requestBytes: Buffer.from('b'),
          serialize: (r: string) => Buffer.from(r),
          deserialize: (b) => b.toString(),
          signal: new AbortController().signal,
        },
        async () => `ran-${++runs}`,
      ),
    ).rejects.toMatchObject({ name: 'StoreUnavailableError' });
    expect(runs).toBe(0);
  });
});
