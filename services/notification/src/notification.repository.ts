import { QueryTemplate } from '@kfrm/db';
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
  const rows = await saveRelayedTemplate.execute(db, {
    from: from.toString(),
    to: to.toString(),
    userIds: events.map((e) => e.userId),
    ids: events.map((e) => e.id.toString()),
    types: events.map((e) => e.type),
    titles: events.map((e) => e.title),
    contents: events.map((e) => e.content),
    createdAts: events.map((e) => e.createdAt.toISOString()),
  });
  return rows[0]?.moved === true;
}

interface SaveRelayedParams extends Record<string, unknown> {
  from: string;
  to: string;
  userIds: string[];
  ids: string[];
  types: string[];
  titles: string[];
  contents: string[];
  createdAts: string[];
}

// Raw SQL is not schema-rewritten: tables are qualified with the (constant) schema name. The
// values travel as arrays, so the statement's text is the same for every page: a QueryTemplate
// (one named statement on PostgreSQL).
const t = (name: keyof NotificationDatabase) => sql.table(`${NOTIFICATION_SCHEMA}.${name}`);
const saveRelayedTemplate = new QueryTemplate<SaveRelayedParams, { moved: boolean }>(
  (_db, param) => sql<{ moved: boolean }>`
    with moved as (
      update ${t('relay_cursor')} set last_id = ${param('to')}::bigint
      where singleton and last_id = ${param('from')}::bigint
      returning last_id
    ),
    copied as (
      insert into ${t('events')} (user_id, id, type, title, content, created_at)
      select v.user_id, v.id, v.type, v.title, v.content, v.created_at
      from unnest(${param('userIds')}::text[], ${param('ids')}::bigint[],
                  ${param('types')}::text[], ${param('titles')}::text[],
                  ${param('contents')}::text[], ${param('createdAts')}::timestamptz[])
        as v(user_id, id, type, title, content, created_at)
      where exists (select 1 from moved)
      on conflict (user_id, id) do nothing
    )
    select exists (select 1 from moved) as moved`,
);

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
