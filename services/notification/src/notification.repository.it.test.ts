// The replay table and the relay cursor, on PGlite or Postgres (DATABASE_URL).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import type { TestDatabase } from '@kfrm/db/test-database';
import type { NotificationEvent } from './notification-event';
import { listUserEventsAfter, purgeEventsBefore, readCursor, saveRelayed } from './notification.repository';
import { NOTIFICATION_SCHEMA, type NotificationDatabase } from './notification.table';
import { openNotificationDatabase } from './testing/notification.harness';

const ev = (id: bigint, userId: string, createdAt = new Date()): NotificationEvent => ({
  id,
  userId,
  type: 'TRANSFER_SUCCEED',
  title: `t${id}`,
  content: 'c',
  createdAt,
});

describe('notification repository', () => {
  let database: TestDatabase;
  let db: Kysely<NotificationDatabase>;
  beforeEach(async () => {
    database = await openNotificationDatabase();
    db = database.kysely<NotificationDatabase>(NOTIFICATION_SCHEMA);
  });
  afterEach(async () => database.close());

  it('moves the cursor only from where the caller read it, and copies nothing otherwise', async () => {
    expect(await readCursor(db)).toBe(0n);
    expect(await saveRelayed(db, 0n, 2n, [ev(1n, 'a'), ev(2n, 'b')])).toBe(true);
    expect(await saveRelayed(db, 0n, 3n, [ev(3n, 'a')])).toBe(false);
    expect(await readCursor(db)).toBe(2n);
    expect((await listUserEventsAfter(db, 'a', 0n, 10)).map((e) => e.id)).toEqual([1n]);
  });

  it('lets exactly one of two writers racing from the same cursor copy its page', async () => {
    const [a, b] = await Promise.all([
      saveRelayed(db, 0n, 2n, [ev(1n, 'a'), ev(2n, 'a')]),
      saveRelayed(db, 0n, 3n, [ev(1n, 'b'), ev(2n, 'b'), ev(3n, 'b')]),
    ]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(await readCursor(db)).toBe(a ? 2n : 3n);
    expect(await listUserEventsAfter(db, a ? 'b' : 'a', 0n, 10)).toEqual([]);
    expect(await listUserEventsAfter(db, a ? 'a' : 'b', 0n, 10)).toHaveLength(a ? 2 : 3);
  });

  it("lists one user's events after an id, the newest ones when over the limit, oldest first", async () => {
    const events = Array.from({ length: 10 }, (_, i) => ev(BigInt(i + 1), i % 2 === 0 ? 'a' : 'b'));
    await saveRelayed(db, 0n, 10n, events);
    expect((await listUserEventsAfter(db, 'a', 3n, 10)).map((e) => e.id)).toEqual([5n, 7n, 9n]);
    expect((await listUserEventsAfter(db, 'a', 0n, 2)).map((e) => e.id)).toEqual([7n, 9n]);
    expect(await listUserEventsAfter(db, 'c', 0n, 10)).toEqual([]);
    expect((await listUserEventsAfter(db, 'b', 9n, 10))[0]).toMatchObject({ id: 10n, userId: 'b', title: 't10', type: 'TRANSFER_SUCCEED' });
  });

  it('purges events the ledger wrote before the cutoff', async () => {
    const old = new Date('2026-01-01T00:00:00Z');
    await saveRelayed(db, 0n, 3n, [ev(1n, 'a', old), ev(2n, 'a', old), ev(3n, 'a')]);
    expect(await purgeEventsBefore(db, new Date('2026-02-01T00:00:00Z'))).toBe(2n);
    expect((await listUserEventsAfter(db, 'a', 0n, 10)).map((e) => e.id)).toEqual([3n]);
  });
});
