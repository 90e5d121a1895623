import { sql, type Kysely } from 'kysely';
import type { NotificationEvent } from './notification-event';
import { NOTIFICATION_SCHEMA, type NotificationDatabase } from './notification.table';

type Db = Kysely<NotificationDatabase>;

export async function readCursor(db: Db): Promise<bigint> {
  const row = await db.selectFrom('relay_cursor').select('last_id').where('singleton', '=', true).executeTakeFirstOrThrow();
  return BigInt(row.last_id);
}

/**
 * Copies a page of outbox events and moves the cursor from `from` to `to`, in one statement: it is
 * atomic on its own, so there is no transaction and it costs one round trip. Returns false, having
 * copied nothing, when the cursor was no longer at `from`: another relayer got there first and it,
 * not this caller, publishes that range.
 *
 * All parts of a statement see one snapshot, so the insert could not see the update's effect on
 * relay_cursor; it depends instead on what the update returned (`moved`), which it does see. A
 * compare-and-set that fails returns no row, and then the insert selects nothing. Two relayers
 * racing from the same `from`: the second update waits on the row lock, re-checks `last_id` against
 * the committed value, matches nothing, and so copies nothing either.
 */
export async function saveRelayed(db: Db, from: bigint, to: bigint, events: NotificationEvent[]): Promise<boolean> {
  // Raw SQL is not schema-rewritten: tables are qualified with the (constant) schema name. The
  // values travel as arrays, so the statement's text is the same for every page.
  const t = (name: keyof NotificationDatabase) => sql.table(`${NOTIFICATION_SCHEMA}.${name}`);
  const { rows } = await sql<{ moved: boolean }>`
    with moved as (
      update ${t('relay_cursor')} set last_id = ${to.toString()}::bigint
      where singleton and last_id = ${from.toString()}::bigint
      returning last_id
    ),
    copied as (
      insert into ${t('events')} (user_id, id, type, title, content, created_at)
      select v.user_id, v.id, v.type, v.title, v.content, v.created_at
      from unnest(${events.map((e) => e.userId)}::text[], ${events.map((e) => e.id.toString())}::bigint[],
                  ${events.map((e) => e.type)}::text[], ${events.map((e) => e.title)}::text[],
                  ${events.map((e) => e.content)}::text[], ${events.map((e) => e.createdAt.toISOString())}::timestamptz[])
        as v(user_id, id, type, title, content, created_at)
      where exists (select 1 from moved)
      on conflict (user_id, id) do nothing
    )
    select exists (select 1 from moved) as moved`.execute(db);
  return rows[0]?.moved === true;
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
