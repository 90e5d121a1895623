import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
// Funding's top-ups and withdrawals (issue 15): a withdrawal to the owner's own bank account is
// its own entry kind (the statement shows it as 출금, not as a transfer), and the outbox gains the
// facts the notification service words for them.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table entries drop constraint entries_kind_check`.execute(db);
  await sql`alter table entries add constraint entries_kind_check check (kind in ('TRANSFER', 'DEPOSIT', 'WITHDRAWAL'))`.execute(db);
  await sql`alter table outbox drop constraint outbox_kind_check`.execute(db);
  await sql`alter table outbox add constraint outbox_kind_check check (kind in ('TRANSFER_OUT', 'TRANSFER_IN', 'TOP_UP', 'WITHDRAWAL', 'WITHDRAWAL_RETURNED'))`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table outbox drop constraint outbox_kind_check`.execute(db);
  await sql`alter table outbox add constraint outbox_kind_check check (kind in ('TRANSFER_OUT', 'TRANSFER_IN'))`.execute(db);
  await sql`alter table entries drop constraint entries_kind_check`.execute(db);
  await sql`alter table entries add constraint entries_kind_check check (kind in ('TRANSFER', 'DEPOSIT'))`.execute(db);
}
