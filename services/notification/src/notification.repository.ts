import type { Kysely } from 'kysely';
import type { NotificationEvent } from './notification-event';
import type { NotificationDatabase } from './notification.table';

type Db = Kysely<NotificationDatabase>;

export async function readCursor(db: Db): Promise<bigint> {
  const row = await db.selectFrom('relay_cursor').select('last_id').where('singleton', '=', true).executeTakeFirstOrThrow();
  return BigInt(row.last_id);
}

/**
 * Copies a page of outbox events and moves the cursor from `from` to `to`, in one transaction.
 * Returns false (and copies nothing) when the cursor was no longer at `from`: another relayer got
 * there first and it, not this caller, publishes that range.
 */
export async function saveRelayed(db: Db, from: bigint, to: bigint, events: NotificationEvent[]): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const moved = await trx
      .updateTable('relay_cursor')
      .set({ last_id: to.toString() })
      .where('singleton', '=', true)
      .where('last_id', '=', from.toString())
      .executeTakeFirst();
    if (moved.numUpdatedRows !== 1n) return false;
    if (events.length > 0) {
      await trx
        .insertInto('events')
        .values(
          events.map((e) => ({
            user_id: e.userId,
            id: e.id.toString(),
            type: e.type,
            title: e.title,
            content: e.content,
            created_at: e.createdAt,
          })),
        )
        .onConflict((oc) => oc.columns(['user_id', 'id']).doNothing())
        .execute();
    }
    return true;
  });
}

/** The user's newest `limit` events after `afterId`, oldest first. */
export async function listUserEventsAfter(db: Db, userId: string, afterId: bigint, limit: number): Promise<NotificationEvent[]> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('user_id', '=', userId)
    .where('id', '>', afterId.toString())
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse().map((r) => ({
    id: BigInt(r.id),
    userId: r.user_id,
    type: 'TRANSFER_SUCCEED' as const,
    title: r.title,
    content: r.content,
    createdAt: r.created_at,
  }));
}

/** Forgets events the ledger wrote before `cutoff`; returns how many. */
export async function purgeEventsBefore(db: Db, cutoff: Date): Promise<bigint> {
  const result = await db.deleteFrom('events').where('created_at', '<', cutoff).executeTakeFirst();
  return result.numDeletedRows;
}
