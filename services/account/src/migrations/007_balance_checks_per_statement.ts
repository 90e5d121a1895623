import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
//
// The double-entry checks, cheaper (issue 17). Until now every entry was checked three times at
// COMMIT: by its own deferred trigger and by one per posting, each through a nested function
// with two queries. A batch of 16 postings spent about 1.1 ms of PostgreSQL's time on them, as
// much as on the batch's write itself (docs/performance.md, seventeenth session).
//
// - An entry is still checked at COMMIT (deferred, once per entry): it has postings and they sum
//   to zero per currency. One query instead of a nested function with two.
// - Postings are checked once per statement instead of once per row: at the end of every
//   statement that inserts postings, each entry it touched must balance. This is stricter than
//   before in one respect: an entry's postings can no longer balance only across two statements
//   of one transaction (the ledger writes an entry and its postings in one statement). It covers
//   what the per-row check was for, a posting added later to an entry, also when a session has
//   set its constraints immediate.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create or replace function entries_check_balanced() returns trigger language plpgsql
    set search_path from current as $$
    declare
      currencies bigint;
      unbalanced boolean;
    begin
      select count(*), coalesce(bool_or(total <> 0), false) into currencies, unbalanced
        from (select sum(amount_minor) as total from postings where entry_id = new.id group by currency) per_currency;
      if currencies = 0 then
        raise exception 'journal entry % has no postings', new.id using errcode = '23514';
      end if;
      if unbalanced then
        raise exception 'journal entry % does not balance', new.id using errcode = '23514';
      end if;
      return null;
    end $$`.execute(db);
  // A correlated subquery per entry, so each entry is read through the postings' primary key
  // whatever the planner guesses of the transition table's size (a join may pick a full scan).
  await sql`
    create function postings_check_balanced_statement() returns trigger language plpgsql
    set search_path from current as $$
    declare
      unbalanced_entry bigint;
    begin
      select touched.entry_id into unbalanced_entry
        from (select distinct entry_id from inserted) touched
       where exists (
         select 1 from postings p where p.entry_id = touched.entry_id
          group by p.currency having sum(p.amount_minor) <> 0)
       limit 1;
      if found then
        raise exception 'journal entry % does not balance', unbalanced_entry using errcode = '23514';
      end if;
      return null;
    end $$`.execute(db);
  await sql`drop trigger postings_balanced on postings`.execute(db);
  await sql`
    create trigger postings_balanced_statement after insert on postings referencing new table as inserted
    for each statement execute function postings_check_balanced_statement()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger postings_balanced_statement on postings`.execute(db);
  await sql`drop function postings_check_balanced_statement()`.execute(db);
  await sql`
    create constraint trigger postings_balanced after insert on postings
    deferrable initially deferred for each row execute function postings_check_balanced()`.execute(db);
  await sql`
    create or replace function entries_check_balanced() returns trigger language plpgsql
    set search_path from current as $$
    begin
      perform entry_balances(new.id);
      return null;
    end $$`.execute(db);
}
