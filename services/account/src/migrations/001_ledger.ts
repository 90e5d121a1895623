import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types. Raw SQL here
// is unqualified and resolves to the service schema through the migration's search_path; the
// trigger functions keep that search_path (`set search_path from current`), because they run
// later in sessions whose search_path is the default one.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table accounts (
      id bigint generated always as identity primary key,
      account_number text not null unique,
      -- CUSTOMER accounts belong to a user; SYSTEM accounts (external settlement) to the bank.
      kind text not null check (kind in ('CUSTOMER', 'SYSTEM')),
      owner_user_id text,
      name text not null,
      color text not null default '#000000' check (color ~ '^#[0-9A-Fa-f]{6}$'),
      bookmarked boolean not null default false,
      currency text not null check (currency in ('KRW', 'USD', 'THB')),
      allow_overdraft boolean not null default false,
      -- null: no limit
      limit_per_transaction_minor bigint check (limit_per_transaction_minor > 0),
      limit_per_day_minor bigint check (limit_per_day_minor > 0),
      -- The running balance, equal to the sum of the account's postings (tests check it); kept
      -- here so a posting locks and updates one row instead of summing the journal.
      balance_minor bigint not null default 0,
      -- Number of postings so far: each posting's account_seq (stable paging, newest first).
      posting_count bigint not null default 0,
      -- Transfer debits on the business day day_debited_on (the daily limit).
      day_debited_on date,
      day_debited_minor bigint not null default 0 check (day_debited_minor >= 0),
      created_at timestamptz not null default now(),
      constraint accounts_no_negative_balance check (allow_overdraft or balance_minor >= 0),
      constraint accounts_owner_by_kind check ((kind = 'CUSTOMER') = (owner_user_id is not null)),
      -- Target of the postings' (account_id, currency) foreign key.
      constraint accounts_id_currency_key unique (id, currency)
    )`.execute(db);
  await sql`create index accounts_owner_idx on accounts (owner_user_id, id) where owner_user_id is not null`.execute(db);

  await sql`
    create table entries (
      id bigint generated always as identity primary key,
      -- Claimed with INSERT ... ON CONFLICT in the transaction that posts the entry.
      idempotency_key text not null unique check (length(idempotency_key) between 1 and 200),
      -- SHA-256 of the canonical request: the same key with another body is refused.
      request_hash text not null check (request_hash ~ '^[0-9a-f]{64}$'),
      kind text not null check (kind in ('TRANSFER', 'DEPOSIT')),
      memo text not null default '',
      created_at timestamptz not null default now()
    )`.execute(db);

  await sql`
    create table postings (
      entry_id bigint not null references entries (id),
      account_id bigint not null,
      currency text not null,
      amount_minor bigint not null check (amount_minor <> 0),
      balance_after_minor bigint not null,
      account_seq bigint not null check (account_seq > 0),
      memo text not null default '',
      primary key (entry_id, account_id),
      constraint postings_account_seq_key unique (account_id, account_seq),
      foreign key (account_id, currency) references accounts (id, currency)
    )`.execute(db);

  // Double entry: checked at COMMIT (deferred), when all postings of the entry are in. An entry
  // must have postings and they must sum to zero per currency; a posting added to an entry later
  // is checked again.
  await sql`
    create function entry_balances(p_entry_id bigint) returns void language plpgsql
    set search_path from current as $$
    begin
      if not exists (select 1 from postings where entry_id = p_entry_id) then
        raise exception 'journal entry % has no postings', p_entry_id using errcode = '23514';
      end if;
      if exists (select 1 from postings where entry_id = p_entry_id group by currency having sum(amount_minor) <> 0) then
        raise exception 'journal entry % does not balance', p_entry_id using errcode = '23514';
      end if;
    end $$`.execute(db);
  await sql`
    create function entries_check_balanced() returns trigger language plpgsql
    set search_path from current as $$
    begin
      perform entry_balances(new.id);
      return null;
    end $$`.execute(db);
  await sql`
    create function postings_check_balanced() returns trigger language plpgsql
    set search_path from current as $$
    begin
      perform entry_balances(new.entry_id);
      return null;
    end $$`.execute(db);
  await sql`
    create constraint trigger entries_balanced after insert on entries
    deferrable initially deferred for each row execute function entries_check_balanced()`.execute(db);
  await sql`
    create constraint trigger postings_balanced after insert on postings
    deferrable initially deferred for each row execute function postings_check_balanced()`.execute(db);

  // Outbox: events written in the entry's transaction. Ids are handed out from one locked row
  // (outbox_position), taken last in the transaction, so ids become visible in increasing order
  // and "after id N" is a cursor that never skips an event committed later with a smaller id
  // (an identity column would allow exactly that).
  await sql`
    create table outbox_position (
      singleton boolean primary key default true check (singleton),
      last_id bigint not null
    )`.execute(db);
  await sql`insert into outbox_position (singleton, last_id) values (true, 0)`.execute(db);
  await sql`
    create table outbox (
      id bigint primary key,
      entry_id bigint not null references entries (id),
      user_id text not null,
      type text not null check (type in ('TRANSFER_SUCCEED')),
      title text not null,
      content text not null,
      created_at timestamptz not null default now()
    )`.execute(db);

  // Append-only: journal and outbox rows are never changed or removed; a correction is a new entry.
  await sql`
    create function refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception '% is append-only', tg_table_name using errcode = '55000';
    end $$`.execute(db);
  for (const table of ['entries', 'postings', 'outbox']) {
    await sql`create trigger ${sql.id(`${table}_immutable`)} before update or delete on ${sql.id(table)}
      for each row execute function refuse_change()`.execute(db);
    await sql`create trigger ${sql.id(`${table}_no_truncate`)} before truncate on ${sql.id(table)}
      for each statement execute function refuse_change()`.execute(db);
  }

  // The external-settlement accounts: the other side of money coming from outside (deposits).
  // They may go negative: their balance is minus what came in.
  await sql`
    insert into accounts (account_number, kind, name, currency, allow_overdraft) values
      ('0000-SETTLEMENT-KRW', 'SYSTEM', 'External settlement (KRW)', 'KRW', true),
      ('0000-SETTLEMENT-USD', 'SYSTEM', 'External settlement (USD)', 'USD', true),
      ('0000-SETTLEMENT-THB', 'SYSTEM', 'External settlement (THB)', 'THB', true)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table outbox, outbox_position, postings, entries, accounts cascade`.execute(db);
  await sql`drop function entry_balances(bigint), entries_check_balanced(), postings_check_balanced(), refuse_change()`.execute(db);
}
