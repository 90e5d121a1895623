import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  // One row: the last outbox id copied into `events`. Moved with a compare-and-set in the same
  // transaction as the copy, so two relayers that overlap (a lock lost during a pause) cannot
  // both publish the same range.
  await sql`
    create table relay_cursor (
      singleton boolean primary key default true check (singleton),
      last_id bigint not null check (last_id >= 0)
    )`.execute(db);
  await sql`insert into relay_cursor (singleton, last_id) values (true, 0)`.execute(db);

  // The user's events for replay: read by (user_id, id) only.
  await sql`
    create table events (
      user_id text not null,
      id bigint not null,
      type text not null,
      title text not null,
      content text not null,
      created_at timestamptz not null,
      primary key (user_id, id)
    )`.execute(db);
  await sql`create index events_created_at_idx on events (created_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table events, relay_cursor`.execute(db);
}
