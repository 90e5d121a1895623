import type { Kysely } from 'kysely';

// Member withdrawal (MembershipService.Withdraw). The row stays (the ledger's entries and the
// statements of others name this user id for the retention period); what identifies the person
// is erased, or sealed until personal_data_retain_until (see docs/design.md, "Member withdrawal").
// The WITHDRAW_MEMBER policy: PIN, no fallback.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('withdrawal_requested_at', 'timestamptz')
    .addColumn('withdrawn_at', 'timestamptz')
    .addColumn('withdrawn_name_sealed', 'text')
    .addColumn('personal_data_retain_until', 'timestamptz')
    .addColumn('withdrawal_completed_at', 'timestamptz')
    .execute();
  await db
    .insertInto('authentication_policies')
    .values({
      transaction_type: 'WITHDRAW_MEMBER',
      priority: 10,
      condition: null,
      authentications: JSON.stringify([{ type: 'PIN', fallback: 'NONE' }]),
      description: 'member withdrawal: PIN',
    })
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('authentication_policies').where('transaction_type', '=', 'WITHDRAW_MEMBER').execute();
  await db.schema
    .alterTable('users')
    .dropColumn('withdrawal_requested_at')
    .dropColumn('withdrawn_at')
    .dropColumn('withdrawn_name_sealed')
    .dropColumn('personal_data_retain_until')
    .dropColumn('withdrawal_completed_at')
    .execute();
}
