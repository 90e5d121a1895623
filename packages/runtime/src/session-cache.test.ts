import { describe, expect, it } from 'vitest';
import type { DeviceIdentity } from '@kfrm/server-kit';
import { cacheSessions, type ResolvedSession } from './session-cache';

const device = (deviceId: string): DeviceIdentity => ({ deviceId, certificateDer: new Uint8Array() });

/** A user service stand-in: a table of live sessions, counting its lookups. */
function sessionTable() {
  const live = new Map<string, { userId: string; deviceId: string; expiresAt?: Date }>();
  let lookups = 0;
  const pending: (() => void)[] = [];
  let hold = false;
  return {
    live,
    get lookups() {
      return lookups;
    },
    /** While held, lookups read the table at once but answer only on release (a slow answer). */
    hold() {
      hold = true;
    },
    release() {
      hold = false;
      for (const answer of pending.splice(0)) answer();
    },
    async resolve(token: string, d: DeviceIdentity): Promise<ResolvedSession | undefined> {
      lookups++;
      const row = live.get(token);
      const answer = row && row.deviceId === d.deviceId ? { ...row, sessionToken: token } : undefined;
      if (hold) await new Promise<void>((resolve) => pending.push(resolve));
      return answer;
    },
  };
}

describe('cacheSessions', () => {
  it('asks once within the staleness bound, then again', async () => {
    let now = 0;
    const table = sessionTable();
    table.live.set('t1', { userId: '1', deviceId: 'd1' });
    const cache = cacheSessions((t, d) => table.resolve(t, d), { maxStalenessMs: 1_000, now: () => now });
    expect(await cache.resolve('t1', device('d1'))).toEqual({ userId: '1', deviceId: 'd1', sessionToken: 't1' });
    now = 999;
    await cache.resolve('t1', device('d1'));
    expect(table.lookups).toBe(1);
    // Ended meanwhile and nobody said so: the bound is when it shows.
    table.live.delete('t1');
    now = 1_000;
    expect(await cache.resolve('t1', device('d1'))).toBeUndefined();
    expect(table.lookups).toBe(2);
  });

  it('never remembers a refusal, and never serves a session to another device', async () => {
    const table = sessionTable();
    const cache = cacheSessions((t, d) => table.resolve(t, d), { maxStalenessMs: 60_000 });
    expect(await cache.resolve('t1', device('d1'))).toBeUndefined();
    table.live.set('t1', { userId: '1', deviceId: 'd1' });
    expect(await cache.resolve('t1', device('d1'))).toBeDefined();
    expect(await cache.resolve('t1', device('d2'))).toBeUndefined();
  });

  it('does not keep a session past its expiry', async () => {
    let now = Date.parse('2026-12-05T08:00:00Z');
    const table = sessionTable();
    table.live.set('t1', { userId: '1', deviceId: 'd1', expiresAt: new Date(now + 100) });
    const cache = cacheSessions((t, d) => table.resolve(t, d), { maxStalenessMs: 60_000, now: () => now });
    await cache.resolve('t1', device('d1'));
    now += 100;
    table.live.delete('t1');
    expect(await cache.resolve('t1', device('d1'))).toBeUndefined();
  });

  it("forgets the user's sessions on a fact about them (one device or all), and every session on a gap", async () => {
    const table = sessionTable();
    for (const [token, userId, deviceId] of [
      ['a1', '1', 'd1'],
      ['a2', '1', 'd2'],
      ['b1', '2', 'd3'],
    ] as const)
      table.live.set(token, { userId, deviceId });
    const cache = cacheSessions((t, d) => table.resolve(t, d), { maxStalenessMs: 60_000 });
    const all = async () => {
      await cache.resolve('a1', device('d1'));
      await cache.resolve('a2', device('d2'));
      await cache.resolve('b1', device('d3'));
    };
    await all();
    expect(table.lookups).toBe(3);
    cache.onRevocationFact({ kind: 'sessions', userId: '1', deviceId: 'd2' });
    await all();
    expect(table.lookups).toBe(4); // a2 asked again
    cache.onRevocationFact({ kind: 'sessions', userId: '1', deviceId: null });
    await all();
    expect(table.lookups).toBe(6); // a1, a2
    cache.onRevocationFact({ kind: 'device', deviceId: 'd3' });
    await all();
    expect(table.lookups).toBe(7); // b1
    cache.onRevocationFact('gap');
    await all();
    expect(table.lookups).toBe(10);
  });

  it('does not remember an answer that was in flight when a fact arrived (it may predate the revocation)', async () => {
    const table = sessionTable();
    table.live.set('t1', { userId: '1', deviceId: 'd1' });
    const cache = cacheSessions((t, d) => table.resolve(t, d), { maxStalenessMs: 60_000 });
    table.hold();
    const inFlight = cache.resolve('t1', device('d1'));
    // The session ends after the lookup read it, and the fact arrives before its answer.
    table.live.delete('t1');
    cache.onRevocationFact({ kind: 'sessions', userId: '1', deviceId: null });
    table.release();
    expect(await inFlight).toBeDefined(); // that call was authorised before the revocation
    expect(await cache.resolve('t1', device('d1'))).toBeUndefined();
  });

  it('keeps at most maxEntries sessions', async () => {
    const table = sessionTable();
    for (let i = 0; i < 5; i++) table.live.set(`t${i}`, { userId: String(i), deviceId: 'd' });
    const cache = cacheSessions((t, d) => table.resolve(t, d), { maxStalenessMs: 60_000, maxEntries: 2 });
    for (let i = 0; i < 5; i++) await cache.resolve(`t${i}`, device('d'));
    expect(cache.size).toBe(2);
    await cache.resolve('t4', device('d'));
    expect(table.lookups).toBe(5);
  });

  it('passes lookup failures through (an unanswered lookup is never a session)', async () => {
    const cache = cacheSessions(
      async () => {
        throw new Error('user service down');
      },
      { maxStalenessMs: 60_000 },
    );
    await expect(cache.resolve('t1', device('d1'))).rejects.toThrow('user service down');
  });
});
