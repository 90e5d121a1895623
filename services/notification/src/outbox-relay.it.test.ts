// The relay's round trips to PostgreSQL per poll, and its compare-and-set cursor when replicas
// race or one replica's remembered cursor is stale. Runs on PGlite or on Postgres (DATABASE_URL).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import type { TestDatabase } from '@kfrm/db/test-database';
import { createMemoryStore, type Store } from '@kfrm/store';
import { decodeEvents, EVENTS_CHANNEL, type NotificationEvent, type OutboxSource } from './notification-event';
import { listUserEventsAfter, readCursor } from './notification.repository';
import { NOTIFICATION_SCHEMA, type NotificationDatabase } from './notification.table';
import { OutboxRelay, type OutboxRelayOptions } from './outbox-relay';
import { openNotificationDatabase, silentLogger, until } from './testing/notification.harness';

const options: OutboxRelayOptions = { pollMs: 60_000, lockTtlMs: 1_000, batchSize: 5, retentionMs: 86_400_000, purgeEveryMs: 3_600_000 };

/**
 * The ledger's outbox as the relay sees it. Each read stands for one ListOutboxEvents call, which
 * the ledger answers with one statement (select ... from ledger.outbox where id > $1 ... limit $2).
 */
class TestOutbox implements OutboxSource {
  readonly events: NotificationEvent[] = [];
  reads = 0;
  failReads = false;

  append(userId = 'user-a'): bigint {
    const id = BigInt(this.events.length + 1);
    this.events.push({ id, userId, type: 'TRANSFER_SUCCEED', title: `t${id}`, content: 'c', createdAt: new Date() });
    return id;
  }

  async listAfter(afterId: bigint, limit: number): Promise<NotificationEvent[]> {
    this.reads++;
    if (this.failReads) throw new Error('ledger down (test)');
    return this.events.filter((e) => e.id > afterId).slice(0, limit);
  }
}

describe('outbox relay', () => {
  let database: TestDatabase;
  let db: Kysely<NotificationDatabase>;
  let store: Store;
  let outbox: TestOutbox;
  /** Every statement the service sent to its database, in order. */
  let statements: string[];
  /** Every event published, by any relay. */
  let published: bigint[];
  const relays: OutboxRelay[] = [];

  const newRelay = () => {
    const relay = new OutboxRelay(db, store, outbox, silentLogger, options);
    relays.push(relay);
    return relay;
  };

  /** One round of `relay`: what it returned, the SQL it sent, and how many outbox reads it made. */
  async function poll(relay: OutboxRelay): Promise<{ relayed: number; sql: string[]; outboxReads: number }> {
    const [sqlBefore, readsBefore] = [statements.length, outbox.reads];
    const relayed = await relay.relayOnce();
    return { relayed, sql: statements.slice(sqlBefore), outboxReads: outbox.reads - readsBefore };
  }

  beforeEach(async () => {
    statements = [];
    const record = (fields: Record<string, unknown>) => statements.push(String(fields.sql).replace(/\s+/g, ' ').trim());
    database = await openNotificationDatabase({ log: { debug: record, warn: record } });
    db = database.kysely<NotificationDatabase>(NOTIFICATION_SCHEMA);
    store = createMemoryStore();
    outbox = new TestOutbox();
    published = [];
    await store.subscribe(EVENTS_CHANNEL, (message) => {
      for (const e of decodeEvents(message)) published.push(e.id);
    });
  });

  afterEach(async () => {
    for (const relay of relays.splice(0)) await relay.stop();
    await store.close();
    await database.close();
  });

  it('reads its cursor once, then sends one statement per poll with events and none per poll without', async () => {
    const relay = newRelay();
    const first = [outbox.append('user-a'), outbox.append('user-b')];
    // The first poll reads the cursor (nothing remembered yet), then writes.
    const start = await poll(relay);
    expect(start).toMatchObject({ relayed: 2, outboxReads: 1 });
    expect(start.sql).toHaveLength(2);
    expect(start.sql[0]).toMatch(/^select .*relay_cursor/);

    // Steady state: the outbox read plus one write (events and cursor together, no BEGIN/COMMIT).
    const next = [outbox.append('user-a'), outbox.append('user-a'), outbox.append('user-b')];
    const busy = await poll(relay);
    expect(busy).toMatchObject({ relayed: 3, outboxReads: 1 });
    expect(busy.sql).toHaveLength(1);
    expect(busy.sql[0]).toMatch(/^with /);

    // Nothing new: the outbox read only.
    const idle = await poll(relay);
    expect(idle).toEqual({ relayed: 0, sql: [], outboxReads: 1 });

    expect(await readCursor(db)).toBe(5n);
    expect((await listUserEventsAfter(db, 'user-a', 0n, 10)).map((e) => e.id)).toEqual([first[0], next[0], next[1]]);
    expect((await listUserEventsAfter(db, 'user-b', 0n, 10)).map((e) => e.id)).toEqual([first[1], next[2]]);
  });

  it('moves the cursor past events delivered to nobody, in the same single statement', async () => {
    const relay = newRelay();
    await poll(relay);
    outbox.append('');
    outbox.append('');
    const round = await poll(relay);
    expect(round).toMatchObject({ relayed: 2, outboxReads: 1 });
    expect(round.sql).toHaveLength(1);
    expect(await readCursor(db)).toBe(2n);
    expect(published).toEqual([]);
  });

  it('recovers when another replica moved the cursor behind its back: the stale round writes and publishes nothing', async () => {
    const a = newRelay();
    const b = newRelay();
    outbox.append();
    expect(await a.relayOnce()).toBe(1);
    // Another replica relays while `a` still remembers cursor 1.
    const byB = [outbox.append(), outbox.append()];
    expect(await b.relayOnce()).toBe(2);
    const later = outbox.append();

    // `a` reads after its stale cursor and loses the compare-and-set: nothing is written or published.
    const stale = await poll(a);
    expect(stale.relayed).toBe(0);
    expect(stale.sql).toHaveLength(1);
    expect(await readCursor(db)).toBe(3n);
    // The next round re-reads the cursor and relays only what is new.
    const recovered = await poll(a);
    expect(recovered).toMatchObject({ relayed: 1, outboxReads: 1 });
    expect(recovered.sql).toHaveLength(2);
    expect(await readCursor(db)).toBe(later);

    await until(() => published.length >= 4, 'every event published');
    expect(published).toEqual([1n, ...byB, later]);
    expect((await listUserEventsAfter(db, 'user-a', 0n, 10)).map((e) => e.id)).toEqual([1n, ...byB, later]);
  });

  it('re-reads the cursor after a failed round', async () => {
    const relay = newRelay();
    outbox.append();
    await poll(relay);
    outbox.failReads = true;
    await expect(relay.relayOnce()).rejects.toThrow('ledger down');
    outbox.failReads = false;
    outbox.append();
    const round = await poll(relay);
    expect(round.relayed).toBe(1);
    expect(round.sql[0]).toMatch(/^select .*relay_cursor/);
    expect(round.sql).toHaveLength(2);
  });

  it('two relays racing over a growing outbox store and publish every event exactly once', async () => {
    const relayA = newRelay();
    const relayB = newRelay();
    const total = 120;
    let appending = true;
    const appender = (async () => {
      for (let i = 0; i < total; i++) {
        outbox.append(i % 3 === 0 ? 'user-b' : 'user-a');
        if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      appending = false;
    })();
    // Both poll as fast as they can until the cursor is at the end of the outbox. (Each yields to
    // the timers between rounds: on PGlite a round may never leave the microtask queue, and the
    // appender would then never run again.)
    const race = (relay: OutboxRelay) =>
      (async () => {
        while (appending || (await readCursor(db)) < BigInt(total)) {
          await relay.relayOnce();
          await new Promise((r) => setImmediate(r));
        }
      })();
    await Promise.all([appender, race(relayA), race(relayB)]);

    expect(await readCursor(db)).toBe(BigInt(total));
    const all = outbox.events.map((e) => e.id);
    await until(() => published.length >= total, 'every event published');
    expect([...published].sort((x, y) => Number(x - y))).toEqual(all);
    const stored = [...(await listUserEventsAfter(db, 'user-a', 0n, 1000)), ...(await listUserEventsAfter(db, 'user-b', 0n, 1000))];
    expect(stored.map((e) => e.id).sort((x, y) => Number(x - y))).toEqual(all);
    for (const e of stored) expect(e.userId).toBe(outbox.events[Number(e.id) - 1]!.userId);
  });
});
