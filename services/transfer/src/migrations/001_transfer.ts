import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table transfers (
      id text primary key,
      user_id text not null,
      source_account_number text not null,
      target_institution_code text not null,
      target_account_number text not null,
      target_holder_name text not null,
      target_owner_user_id text,
      currency text not null check (currency in ('KRW')),
      amount_minor bigint not null check (amount_minor > 0),
      debit_memo text not null default '',
      credit_memo text not null default '',
      -- one transfer per authentication process: the process is this transfer's authorisation
      process_id text not null unique,
      process_context text not null,
      signed_content text not null,
      state text not null check (state in ('PENDING', 'EXECUTING', 'SUCCEEDED', 'FAILED')),
      signature_sha256 text check (signature_sha256 ~ '^[0-9a-f]{64}$'),
      failure_code text,
      entry_id bigint,
      lease_owner text,
      lease_until timestamptz,
      created_at timestamptz not null,
      executing_at timestamptz,
      finished_at timestamptz,
      constraint transfers_signed_once check ((state = 'PENDING') = (signature_sha256 is null)),
      constraint transfers_outcome check (
        (state = 'SUCCEEDED') = (entry_id is not null) and (state = 'FAILED') = (failure_code is not null)
      )
    )`.execute(db);
  // ListLatestTargets and the daily-limit pre-check read a user's recent transfers.
  await sql`create index transfers_user_recent_idx on transfers (user_id, created_at desc)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table transfers`.execute(db);
}
