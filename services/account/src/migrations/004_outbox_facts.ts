import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
// Outbox events carry facts (what happened, how much, on which account, with whom, the memo)
// instead of sentences: the notification service owns the wording. Rows written before keep
// their title and content and are relayed as they are; a row is either facts or text, never both.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table outbox
      add column kind text check (kind in ('TRANSFER_OUT', 'TRANSFER_IN')),
      add column account_number text,
      add column currency text,
      add column amount_minor bigint check (amount_minor > 0),
      add column counterparty_name text,
      add column memo text,
      alter column title drop not null,
      alter column content drop not null,
      add constraint outbox_facts_or_text check (
        (kind is not null and account_number is not null and currency is not null and amount_minor is not null
          and counterparty_name is not null and memo is not null and title is null and content is null)
        or (kind is null and account_number is null and currency is null and amount_minor is null
          and counterparty_name is null and memo is null and title is not null and content is not null))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Fails on facts rows by design: they have no text to keep.
  await sql`
    alter table outbox
      drop constraint outbox_facts_or_text,
      alter column title set not null,
      alter column content set not null,
      drop column kind, drop column account_number, drop column currency, drop column amount_minor,
      drop column counterparty_name, drop column memo`.execute(db);
}
